"""The corpus store: per name, immutable content-addressed versions, tags that point at them, and an ingest history."""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.corpus.question import QUESTION_SCHEMA, Question, frame_to_questions
from medprefs.errors import MedprefsError
from medprefs.manifest import MANIFEST, now_iso, read_json, read_manifest, sha256_file, write_json

DEFAULT_STORE = "corpora"
STORE_ENV = "MEDPREFS_STORE"
QUESTIONS_FILE = "questions.parquet"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def default_store() -> Path:
    """$MEDPREFS_STORE, else ./corpora."""
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise MedprefsError(
            f"{what} {value!r}: use letters, digits, '.', '_' or '-' (at most 64, not starting with a symbol)"
        )
    return value


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`NAME@TAG` / `NAME@ID` / `NAME` -> (name, selector or None for the latest)."""
    name, _, selector = ref.partition("@")
    check_name(name, "corpus name")
    if "@" in ref and not selector:
        raise MedprefsError(f"{ref!r}: expected NAME@TAG or NAME@ID after '@'")
    return name, selector or None


@dataclass(frozen=True)
class CorpusVersion:
    """One stored version: its questions as a QUESTION_SCHEMA frame (sorted by qid) and its manifest."""

    name: str
    version_id: str
    path: Path
    manifest: dict[str, Any]
    frame: pl.DataFrame

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version_id}"

    @cached_property
    def questions(self) -> list[Question]:
        return frame_to_questions(self.frame)

    def to_dataset(self) -> Any:
        """The questions as a `datasets.Dataset` (imported only when asked for)."""
        import datasets

        return datasets.Dataset.from_polars(self.frame)


class CorpusStore:
    """A folder of corpora: `ROOT/<name>/versions/<id>/`, `tags.json`, `history.jsonl`, `rejects/`."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_store()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(path.name for path in self.root.iterdir() if (path / "versions").is_dir())

    def corpus_dir(self, name: str) -> Path:
        return self.root / check_name(name, "corpus name")

    def existing_dir(self, name: str) -> Path:
        folder = self.corpus_dir(name)
        if not (folder / "versions").is_dir():
            known = ", ".join(self.names()) or "none"
            raise MedprefsError(f"no corpus named {name!r} in {self.root} (corpora: {known})")
        return folder

    def version_dir(self, name: str, version_id: str) -> Path:
        return self.corpus_dir(name) / "versions" / version_id

    def versions(self, name: str) -> list[str]:
        folder = self.corpus_dir(name) / "versions"
        if not folder.is_dir():
            return []
        return sorted(path.name for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))

    def tags(self, name: str) -> dict[str, str]:
        path = self.corpus_dir(name) / "tags.json"
        return dict(read_json(path)) if path.is_file() else {}

    def tags_of(self, name: str, version_id: str) -> list[str]:
        return sorted(tag for tag, target in self.tags(name).items() if target == version_id)

    def history(self, name: str) -> list[dict[str, Any]]:
        path = self.corpus_dir(name) / "history.jsonl"
        if not path.is_file():
            return []
        events = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    raise MedprefsError(f"{path}:{number}: damaged history line") from None
        return events

    def latest(self, name: str) -> str | None:
        """The version the most recent ingest produced or matched (what a bare `NAME` means)."""
        ingests = [event for event in self.history(name) if event.get("event") == "ingest"]
        if ingests:
            return str(ingests[-1]["version"])
        versions = self.versions(name)
        return versions[-1] if len(versions) == 1 else None

    def resolve(self, ref: str) -> tuple[str, str]:
        """(name, full version id) for `NAME`, `NAME@TAG` or `NAME@ID-PREFIX`; a clear error listing what exists."""
        name, selector = parse_ref(ref)
        self.existing_dir(name)
        versions, tags = self.versions(name), self.tags(name)
        if selector is None:
            latest = self.latest(name)
            if latest is None:
                raise MedprefsError(f"corpus {name!r} has no ingest history; name a version: {', '.join(versions)}")
            return name, latest
        if selector in tags:
            return name, tags[selector]
        matches = [version for version in versions if version.startswith(selector)]
        if len(matches) == 1:
            return name, matches[0]
        known_tags = ", ".join(f"{tag} -> {target}" for tag, target in sorted(tags.items())) or "none"
        if matches:
            raise MedprefsError(f"{ref!r} is ambiguous: versions {', '.join(matches)} all start with {selector!r}")
        raise MedprefsError(
            f"corpus {name!r} has no tag or version {selector!r}; tags: {known_tags}; versions: {', '.join(versions)}"
        )

    def load(self, ref: str) -> CorpusVersion:
        name, version_id = self.resolve(ref)
        folder = self.version_dir(name, version_id)
        if not folder.is_dir():
            raise MedprefsError(f"{folder}: version {version_id} of {name!r} is named by a tag but missing")
        manifest = read_manifest(folder)
        parquet = folder / QUESTIONS_FILE
        if not parquet.is_file():
            raise MedprefsError(f"{parquet}: missing; run `medprefs corpus verify {name}`")
        expected = manifest.get("files", {}).get(QUESTIONS_FILE, {}).get("sha256")
        if sha256_file(parquet) != expected:  # cheap next to reading it; never train on a damaged version
            raise MedprefsError(
                f"{parquet}: content does not match its manifest (damaged or edited); run corpus verify"
            )
        frame = pl.read_parquet(parquet)
        if frame.schema != pl.Schema(QUESTION_SCHEMA):
            raise MedprefsError(f"{parquet}: columns do not match the question schema")
        return CorpusVersion(name, version_id, folder, manifest, frame)

    @contextmanager
    def locked(self, name: str) -> Iterator[Path]:
        """Serialise writers of one corpus (versions, tags, history) across processes."""
        folder = self.corpus_dir(name)
        (folder / "versions").mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def append_history(self, name: str, event: dict[str, Any]) -> None:
        with open(self.corpus_dir(name) / "history.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": now_iso(), **event}, ensure_ascii=False) + "\n")

    def set_tag(self, name: str, tag: str, version_id: str) -> str | None:
        """Point `tag` at `version_id` (moving it if it pointed elsewhere); returns the previous target."""
        with self.locked(name):
            return self.tag_locked(name, tag, version_id)

    def tag_locked(self, name: str, tag: str, version_id: str) -> str | None:
        """`set_tag` for a caller that already holds `locked(name)` (flock is not re-entrant)."""
        check_name(tag, "tag")
        if version_id not in self.versions(name):
            raise MedprefsError(f"corpus {name!r} has no version {version_id}")
        tags = self.tags(name)
        previous = tags.get(tag)
        tags[tag] = version_id
        write_json(self.corpus_dir(name) / "tags.json", dict(sorted(tags.items())))
        if previous != version_id:
            self.append_history(name, {"event": "tag", "tag": tag, "version": version_id, "previous": previous})
        return previous


def load_corpus(ref: str, store: str | Path | None = None) -> CorpusVersion:
    """The stored version `NAME@TAG`, `NAME@ID` (unique prefix) or `NAME` (latest ingest) from `store`."""
    return CorpusStore(store).load(ref)


__all__ = ["MANIFEST", "CorpusStore", "CorpusVersion", "load_corpus"]
