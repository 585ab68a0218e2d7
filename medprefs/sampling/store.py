"""The responses folder: shard files written atomically, checked on resume, loaded, and merged across processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from medprefs.errors import MedprefsError
from medprefs.manifest import MANIFEST, atomic_write_bytes, read_manifest, sha256_file, write_parquet

KIND = "responses"
SHARDS = "shards"
LOCK_FILE = ".lock"
RESPONSE_SCHEMA: dict[str, pl.DataType] = {
    "qid": pl.String(),
    "sample_idx": pl.Int64(),
    "prompt": pl.String(),
    "text": pl.String(),
    "finish_reason": pl.String(),
    "n_tokens": pl.Int64(),
}


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def shard_path(out_dir: Path, index: int) -> Path:
    return out_dir / SHARDS / shard_name(index)


def write_shard(out_dir: Path, index: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write one shard (temporary file, then rename) and return its completion record."""
    frame = pl.DataFrame(rows, schema=RESPONSE_SCHEMA).sort("qid", "sample_idx")
    path = shard_path(out_dir, index)
    write_parquet(path, frame)
    return shard_record(path, frame)


def shard_record(path: Path, frame: pl.DataFrame) -> dict[str, Any]:
    return {
        "file": f"{SHARDS}/{path.name}",
        "sha256": sha256_file(path),
        "rows": frame.height,
        "questions": frame["qid"].n_unique(),
        "tokens": int(frame["n_tokens"].sum()),
    }


def check_shard_file(path: Path, qids: list[str], n: int) -> pl.DataFrame:
    """Read a shard found on disk and check it holds exactly `n` responses for each of `qids`."""
    try:
        frame = pl.read_parquet(path)
    except Exception as error:  # a foreign or damaged file: name it rather than overwrite it silently
        raise MedprefsError(f"{path}: unreadable shard ({error}); delete it to sample it again") from None
    expected = pl.DataFrame({"qid": sorted(qids)}).join(pl.DataFrame({"sample_idx": list(range(n))}), how="cross")
    if frame.schema != pl.Schema(RESPONSE_SCHEMA) or not frame.select("qid", "sample_idx").sort(
        "qid", "sample_idx"
    ).equals(expected.sort("qid", "sample_idx")):
        raise MedprefsError(f"{path}: does not hold {n} responses for each of its {len(qids)} questions; delete it")
    return frame


def remove_temporary_files(out_dir: Path) -> None:
    """Drop the temporary files of writes that a kill interrupted (never a finished shard)."""
    for leftover in (out_dir / SHARDS).glob(".shard-*.tmp"):
        leftover.unlink(missing_ok=True)


def load_responses(folder: str | Path, *, allow_partial: bool = False) -> tuple[pl.DataFrame, dict[str, Any]]:
    """All responses of a finished run, sorted by (qid, sample_idx), with its manifest.

    A run still in progress, or one process's part of a sharded run, is refused unless `allow_partial`."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("kind") != KIND:
        raise MedprefsError(f"{folder}: not a responses folder (kind={manifest.get('kind')!r})")
    if not allow_partial:
        _require_whole(folder, manifest)
    frames = []
    for key in sorted(manifest["completed"]):
        record = manifest["completed"][key]
        path = folder / record["file"]
        if not path.is_file() or sha256_file(path) != record["sha256"]:
            raise MedprefsError(f"{path}: missing or changed since it was written")
        frames.append(pl.read_parquet(path))
    frame = pl.concat(frames) if frames else pl.DataFrame(schema=RESPONSE_SCHEMA)
    frame = frame.sort("qid", "sample_idx")
    if frame.select("qid", "sample_idx").is_duplicated().any():
        raise MedprefsError(f"{folder}: duplicate (qid, sample_idx) rows across shards")
    return frame, manifest


def _require_whole(folder: Path, manifest: dict[str, Any]) -> None:
    index, count = manifest["shard"]["index"], manifest["shard"]["count"]
    if count > 1:
        raise MedprefsError(
            f"{folder}: holds only shard {index}/{count} of the run; join the shard folders with `medprefs sample-merge`"
        )
    if not manifest.get("complete"):
        done, total = len(manifest["completed"]), len(manifest["assigned"])
        raise MedprefsError(f"{folder}: sampling incomplete ({done}/{total} shards); rerun the same command to resume")


def copy_file(source: Path, target: Path) -> None:
    atomic_write_bytes(target, source.read_bytes())


def has_manifest(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()
