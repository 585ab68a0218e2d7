"""Run records beside the data: atomic JSON/Parquet writes, content hashes and the manifest every output carries."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from medprefs.errors import MedprefsError

MANIFEST = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace: the form that is hashed."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a killed writer never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); outputs are shared with collaborators like any file written here
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@cache
def _file_mode() -> int:
    """The mode `open()` would give a new file under the process umask (0644 with the usual 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8"))


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise MedprefsError(f"{path}: not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MedprefsError(f"{path}: invalid JSON: {error}") from None


def write_parquet(path: str | Path, frame: Any) -> None:
    """Atomically write a polars DataFrame as Parquet."""
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_parquet(path: str | Path) -> Any:
    """`path` as a polars DataFrame; a file that is not Parquet is an error naming it, not a polars traceback."""
    import polars as pl

    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise MedprefsError(f"{path}: not a readable Parquet file ({error})") from None


def read_manifest(folder: str | Path) -> dict[str, Any]:
    return read_json(Path(folder) / MANIFEST)


def require_own_folder(
    folder: str | Path, kind: str, *, run: str | None = None, ignore: frozenset[str] = frozenset()
) -> None:
    """Refuse to write a `kind` output into a folder another stage made: its manifest.json would be replaced. A stage
    that deletes or rewrites files of its own on a rerun names itself (`run`, e.g. "an eval run"): then a non-empty
    folder without a manifest (files named in `ignore` aside) is refused too."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        if (found := read_manifest(folder).get("kind")) != kind:
            raise MedprefsError(f"{folder}: holds a {found!r} manifest, not {kind}; choose a new --out")
    elif run and folder.is_dir() and any(path.name not in ignore for path in folder.iterdir()):
        raise MedprefsError(f"{folder}: exists and is not {run}; choose a new --out")


def write_manifest(folder: str | Path, data: dict[str, Any]) -> None:
    write_json(Path(folder) / MANIFEST, data)
