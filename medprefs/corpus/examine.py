"""Looking at stored versions: field-level diffs between two versions and re-hashing to detect corruption."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.corpus.content import CONTENT_FIELDS, counts, frame_sha256, version_id
from medprefs.corpus.question import QUESTION_SCHEMA
from medprefs.corpus.store import QUESTIONS_FILE, CorpusStore, CorpusVersion, parse_ref
from medprefs.manifest import MANIFEST, read_manifest, sha256_file


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class QuestionChange:
    qid: str
    changes: list[FieldChange]

    @property
    def fields(self) -> list[str]:
        return [change.field for change in self.changes]


@dataclass(frozen=True)
class CorpusDiff:
    old: str
    new: str
    added: list[str]
    removed: list[str]
    changed: list[QuestionChange]

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        changed = [
            {"qid": item.qid, "fields": {c.field: {"old": c.old, "new": c.new} for c in item.changes}}
            for item in self.changed
        ]
        return {"old": self.old, "new": self.new, "added": self.added, "removed": self.removed, "changed": changed}


def diff_versions(old: CorpusVersion, new: CorpusVersion) -> CorpusDiff:
    """Questions added, removed and changed (with the fields that differ) going from `old` to `new`."""
    old_qids = set(old.frame.get_column("qid").to_list())
    new_qids = set(new.frame.get_column("qid").to_list())
    fields = [name for name in CONTENT_FIELDS if name != "qid"]
    joined = old.frame.select(CONTENT_FIELDS).join(new.frame.select(CONTENT_FIELDS), on="qid", suffix="__new")
    differs = [pl.col(name).ne_missing(pl.col(f"{name}__new")).alias(name) for name in fields]
    flags = joined.select("qid", *differs)
    changed_rows = flags.filter(pl.any_horizontal(fields)).sort("qid")
    values = {row["qid"]: row for row in joined.filter(pl.col("qid").is_in(changed_rows["qid"])).iter_rows(named=True)}
    changed = [
        QuestionChange(
            row["qid"],
            [
                FieldChange(name, values[row["qid"]][name], values[row["qid"]][f"{name}__new"])
                for name in fields
                if row[name]
            ],
        )
        for row in changed_rows.iter_rows(named=True)
    ]
    return CorpusDiff(old.ref, new.ref, sorted(new_qids - old_qids), sorted(old_qids - new_qids), changed)


@dataclass
class VersionCheck:
    name: str
    version_id: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_files(folder: Path, manifest: dict[str, Any], check: VersionCheck) -> pl.DataFrame | None:
    parquet = folder / QUESTIONS_FILE
    if not parquet.is_file():
        check.problems.append(f"{parquet}: missing")
        return None
    recorded = manifest.get("files", {}).get(QUESTIONS_FILE, {}).get("sha256")
    if sha256_file(parquet) != recorded:
        check.problems.append(f"{parquet}: sha256 differs from the manifest (file changed or damaged)")
    try:
        frame = pl.read_parquet(parquet)
    except Exception as error:  # any polars/arrow read error means the file is unusable
        check.problems.append(f"{parquet}: unreadable ({type(error).__name__})")
        return None
    if frame.schema != pl.Schema(QUESTION_SCHEMA):
        check.problems.append(f"{parquet}: columns differ from the question schema")
        return None
    return frame


def verify_version(store: CorpusStore, name: str, version: str) -> VersionCheck:
    """Re-hash one stored version: file checksum, content hash against the id, counts against the manifest."""
    check = VersionCheck(name, version)
    folder = store.version_dir(name, version)
    try:
        manifest = read_manifest(folder)
    except Exception as error:  # read_json raises MedprefsError; a mangled file may raise anything json does
        check.problems.append(f"{folder / MANIFEST}: {error}")
        return check
    if manifest.get("id") != version:
        check.problems.append(f"{folder / MANIFEST}: names id {manifest.get('id')!r}, folder is {version}")
    frame = _check_files(folder, manifest, check)
    if frame is None:
        return check
    sha = frame_sha256(frame)
    if sha != manifest.get("content_sha256") or version_id(sha) != version:
        check.problems.append(f"{folder / QUESTIONS_FILE}: content hash {version_id(sha)} does not match id {version}")
    if counts(frame) != manifest.get("counts"):
        check.problems.append(f"{folder / MANIFEST}: counts do not match the stored questions")
    return check


def verify_store(store: CorpusStore, ref: str | None = None) -> list[VersionCheck]:
    """Check one version (`NAME@X`), every version of a corpus (`NAME`), or the whole store (None); tags too."""
    if ref is not None and "@" in ref:
        name, version = store.resolve(ref)
        return [verify_version(store, name, version)]
    names = [parse_ref(ref)[0]] if ref else store.names()
    checks = []
    for name in names:
        store.existing_dir(name)
        versions = store.versions(name)
        checks.extend(verify_version(store, name, version) for version in versions)
        dangling = {tag: target for tag, target in store.tags(name).items() if target not in versions}
        if dangling:
            tags = store.corpus_dir(name) / "tags.json"
            problems = [f"{tags}: tag {tag!r} points at missing version {target}" for tag, target in dangling.items()]
            checks.append(VersionCheck(name, "(tags)", problems))
    return checks
