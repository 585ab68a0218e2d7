"""Writing versions: questions.parquet + manifest.json in a fresh folder renamed into place, never rewritten."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from medprefs import __version__
from medprefs.corpus.collector import Reject
from medprefs.corpus.content import HASH_SPEC, counts
from medprefs.corpus.question import SCHEMA_VERSION
from medprefs.corpus.reading import IngestResult
from medprefs.corpus.store import QUESTIONS_FILE, CorpusStore
from medprefs.errors import MedprefsError
from medprefs.manifest import atomic_write_bytes, now_iso, read_manifest, sha256_file, write_manifest, write_parquet

READ_ONLY = 0o444


@dataclass(frozen=True)
class SavedVersion:
    version_id: str
    created: bool  # False: the same content was already stored under this id
    parent: str | None  # the latest version before this ingest
    path: Path


def write_rejects(store: CorpusStore, name: str, rejects: list[Reject]) -> Path:
    """`<name>/rejects/<UTC time>-<pid>.jsonl`: one JSON object per rejected row (file, line, field, reason, raw)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = store.corpus_dir(name) / "rejects" / f"{stamp}-{os.getpid()}.jsonl"
    lines = (json.dumps(reject.to_dict(), ensure_ascii=False) for reject in rejects)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def version_manifest(name: str, result: IngestResult, parent: str | None, rejects: str | None) -> dict[str, Any]:
    return {
        "kind": "corpus-version",
        "id": result.version_id,
        "name": name,
        "parent": parent,
        "created": now_iso(),
        "schema_version": SCHEMA_VERSION,
        "hash_spec": HASH_SPEC,
        "content_sha256": result.content_sha256,
        "counts": counts(result.frame),
        "ingest": {
            "read": result.read,
            "accepted": result.accepted,
            "rejected": result.rejected,
            "rejects_file": rejects,
            "inputs": [item.to_dict() for item in result.input_files],
            "ignored_fields": result.ignored_fields,
        },
        "medprefs_version": __version__,
    }


def _write_version(folder: Path, result: IngestResult, manifest: dict[str, Any]) -> None:
    staging = folder.parent / f".staging-{folder.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write_parquet(staging / QUESTIONS_FILE, result.frame)
        parquet = staging / QUESTIONS_FILE
        files = {QUESTIONS_FILE: {"sha256": sha256_file(parquet), "bytes": parquet.stat().st_size}}
        write_manifest(staging, {**manifest, "files": files})
        for path in staging.iterdir():
            path.chmod(READ_ONLY)  # a version is immutable; verify catches what chmod cannot prevent
        os.rename(staging, folder)  # atomic: readers see no version or a complete one
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save_version(
    store: CorpusStore, name: str, result: IngestResult, *, tag: str | None, rejects_file: Path | None
) -> SavedVersion:
    """Store `result` as a version of `name` unless that content is already stored; record the ingest; tag it."""
    version_id = result.version_id
    with store.locked(name) as corpus_dir:
        parent = store.latest(name)
        folder = store.version_dir(name, version_id)
        rejects = _relative(rejects_file, corpus_dir)
        created = not folder.exists()
        if created:
            _write_version(folder, result, version_manifest(name, result, parent, rejects))
        else:
            stored = read_manifest(folder)
            if stored.get("content_sha256") != result.content_sha256:
                raise MedprefsError(f"{folder}: holds different content under the same id; run `medprefs corpus verify`")
            parent = stored.get("parent")  # the same content again: its parent stays the one it was stored with
        store.append_history(
            name,
            {
                "event": "ingest",
                "version": version_id,
                "parent": parent,
                "created": created,
                "tag": tag,
                "read": result.read,
                "accepted": result.accepted,
                "rejected": result.rejected,
                "rejects_file": rejects,
                "inputs": [item.to_dict() for item in result.input_files],
            },
        )
        if tag:
            store.tag_locked(name, tag, version_id)
    return SavedVersion(version_id, created, parent, folder)


def content_identity(frame: pl.DataFrame) -> tuple[str, str]:
    """The content hash of a QUESTION_SCHEMA frame and the version id it is (or would be) stored under."""
    from medprefs.corpus.content import frame_sha256, version_id

    sha256 = frame_sha256(frame.sort("qid"))
    return sha256, version_id(sha256)


def store_derived_version(
    store: CorpusStore,
    name: str,
    frame: pl.DataFrame,
    *,
    parent: str,
    event: str,
    manifest_extra: dict[str, Any] | None = None,
    history_extra: dict[str, Any] | None = None,
    tag: str | None = None,
) -> SavedVersion:
    """Store a QUESTION_SCHEMA frame derived from version `parent` (e.g. leakage filtering) as a version of `name`,
    with extra manifest keys (a gate record, its origin) and a history event named `event`."""
    from medprefs.corpus.question import QUESTION_SCHEMA

    if frame.schema != pl.Schema(QUESTION_SCHEMA):
        raise MedprefsError("a derived version must have exactly the question schema")
    frame = frame.sort("qid")
    result = IngestResult(frame, [], [], frame.height, content_identity(frame)[0])
    with store.locked(name):
        folder = store.version_dir(name, result.version_id)
        created = not folder.exists()
        if created:
            manifest = version_manifest(name, result, parent, None) | {"ingest": None, **(manifest_extra or {})}
            _write_version(folder, result, manifest)
        history = {"event": event, "version": result.version_id, "parent": parent, "created": created, "tag": tag}
        store.append_history(name, history | (history_extra or {}))
        if tag:
            store.tag_locked(name, tag, result.version_id)
    return SavedVersion(result.version_id, created, parent, folder)
