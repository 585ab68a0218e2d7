"""Join the folders of `--shard I/N` runs into one responses folder, refusing overlaps, gaps and mismatched settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medprefs.errors import MedprefsError
from medprefs.manifest import now_iso, read_manifest, sha256_file, write_manifest
from medprefs.sampling.provenance import identity_diff
from medprefs.sampling.store import KIND, copy_file, has_manifest


def merge_shards(dirs: list[str | Path], out_dir: str | Path) -> dict[str, Any]:
    """Copy every shard file of the N part folders into `out_dir` with one manifest; returns that manifest."""
    out_dir = Path(out_dir)
    folders = [Path(d) for d in dirs]
    if not folders:
        raise MedprefsError("sample-merge: no folders given")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise MedprefsError(f"{out_dir}: exists and is not empty; choose a new --out")
    manifests = [_part_manifest(folder) for folder in folders]
    _check_same_settings(folders, manifests)
    _check_partition(folders, manifests)
    sources = _checked_sources(folders, manifests)
    completed: dict[str, Any] = {}
    for key, (source, record) in sources.items():
        copy_file(source, out_dir / record["file"])
        completed[key] = record
    first = manifests[0]
    merged = {
        **{k: first[k] for k in ("kind", "schema_version", "identity", "model", "layout")},
        "shard": {"index": 0, "count": 1},
        "assigned": list(range(first["identity"]["shards_total"])),
        "completed": dict(sorted(completed.items())),
        "complete": True,
        "merged_from": [
            {"path": str(f), "shard": m["shard"], "model_path": m["model"]["path"]}
            for f, m in zip(folders, manifests, strict=True)
        ],
        "created": now_iso(),
        "updated": now_iso(),
    }
    write_manifest(out_dir, merged)
    return merged


def _checked_sources(folders: list[Path], manifests: list[dict[str, Any]]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every part's shard files, each checked against its recorded hash before any is copied: a bad file found
    half-way left `--out` holding some shards and no manifest, which a rerun then refused as not empty."""
    sources = {}
    for folder, manifest in zip(folders, manifests, strict=True):
        for key, record in manifest["completed"].items():
            source = folder / record["file"]
            if not source.is_file() or sha256_file(source) != record["sha256"]:
                raise MedprefsError(f"{source}: missing or changed since it was written")
            sources[key] = (source, record)
    return sources


def _part_manifest(folder: Path) -> dict[str, Any]:
    if not has_manifest(folder):
        raise MedprefsError(f"{folder}: no manifest.json; not a sampling run")
    manifest = read_manifest(folder)
    if manifest.get("kind") != KIND:
        raise MedprefsError(f"{folder}: not a responses folder (kind={manifest.get('kind')!r})")
    if not manifest.get("complete"):
        done, total = len(manifest["completed"]), len(manifest["assigned"])
        raise MedprefsError(f"{folder}: incomplete ({done}/{total} shards); finish it by rerunning its command")
    return manifest


def _check_same_settings(folders: list[Path], manifests: list[dict[str, Any]]) -> None:
    for folder, manifest in zip(folders[1:], manifests[1:], strict=True):
        diffs = identity_diff(manifests[0]["identity"], manifest["identity"])
        if diffs:
            raise MedprefsError(f"{folder}: sampled with other settings than {folders[0]}: {'; '.join(diffs)}")


def _check_partition(folders: list[Path], manifests: list[dict[str, Any]]) -> None:
    """Each part I of N exactly once, and together every shard file exactly once."""
    counts = {m["shard"]["count"] for m in manifests}
    if len(counts) != 1:
        raise MedprefsError(f"parts were split differently (N = {', '.join(map(str, sorted(counts)))})")
    count = counts.pop()
    seen: dict[int, Path] = {}
    for folder, manifest in zip(folders, manifests, strict=True):
        index = manifest["shard"]["index"]
        if index in seen:
            raise MedprefsError(f"overlap: {seen[index]} and {folder} both hold shard {index}/{count}")
        seen[index] = folder
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise MedprefsError(f"gap: no folder holds shard(s) {', '.join(f'{i}/{count}' for i in missing)}")
    files = [int(key) for m in manifests for key in m["completed"]]
    total = manifests[0]["identity"]["shards_total"]
    if sorted(files) != list(range(total)):
        raise MedprefsError(f"the parts hold shard files {sorted(files)}, expected each of 0..{total - 1} once")
