"""The release layout shared by Hub repos and local release folders: README.md, manifest.json, data/<split>.parquet."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from medprefs import __version__
from medprefs.errors import InputError, MedprefsError
from medprefs.manifest import MANIFEST, canonical_json, now_iso, read_manifest, sha256_bytes, sha256_file, write_json

CARD = "README.md"
KINDS = ("pairs", "corpus")
PAIR_COLUMNS = ("prompt", "chosen", "rejected", "qid", "pair_type", "year")
CORPUS_COLUMNS = ("qid", "year", "stem", "choices", "answer")


@dataclass(frozen=True)
class DatasetLayout:
    """A publishable folder: a pairs folder, a corpus version, or a release made from either."""

    root: Path
    kind: str
    manifest: dict[str, Any]  # as found, without the "release" section a previous publish added
    splits: dict[str, Path]  # split name -> Parquet file
    release: dict[str, Any] | None = None  # the "release" section, when the folder is a release

    def release_path(self, split: str) -> str:
        """Where a split lives in a release; a corpus's questions.parquet becomes data/train.parquet."""
        return f"data/{split}.parquet"


def read_layout(folder: str | Path) -> DatasetLayout:
    """Read and check a pairs folder, a corpus version folder or a release folder."""
    root = Path(folder)
    if not (root / MANIFEST).is_file():
        raise MedprefsError(f"{root}: not a dataset folder (no {MANIFEST})")
    manifest = dict(read_manifest(root))
    release = manifest.pop("release", None)
    if manifest.get("kind") == "corpus-version":
        manifest = _as_corpus_release(root, manifest)
    kind = manifest.get("kind")
    if kind not in KINDS:
        # also reached from `pull` and training, so the message must not speak of publishing only
        raise MedprefsError(
            f"{root / MANIFEST}: kind {kind!r} is not a dataset medprefs publishes or trains on; "
            "expected 'pairs' or 'corpus'"
        )
    splits = _pairs_splits(root) if kind == "pairs" else _corpus_splits(root)
    required = PAIR_COLUMNS if kind == "pairs" else CORPUS_COLUMNS
    for path in splits.values():
        missing = [name for name in required if name not in pl.read_parquet_schema(path)]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", file=str(path), field=missing[0])
    return DatasetLayout(root=root, kind=kind, manifest=manifest, splits=splits, release=release)


def _pairs_splits(root: Path) -> dict[str, Path]:
    train = root / "data" / "train.parquet"
    if not train.is_file():
        raise MedprefsError(f"{root}: pairs folder without data/train.parquet")
    validation = root / "data" / "validation.parquet"
    return {"train": train, **({"validation": validation} if validation.is_file() else {})}


def _as_corpus_release(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """A stored corpus version publishes as a "corpus" release: its version id under the release's name for it, and
    its gate record, from its manifest or, for a version the leakage filter found clean, from beside it."""
    from medprefs.leakage import version_gate

    return {**manifest, "kind": "corpus", "version_id": manifest.get("id"), "leakage": version_gate(root, manifest)}


def _corpus_splits(root: Path) -> dict[str, Path]:
    # A corpus version keeps questions.parquet; its release keeps it as data/train.parquet so that the Hub's
    # dataset viewer and `load_dataset` see an ordinary train split.
    for candidate in (root / "data" / "train.parquet", root / "questions.parquet"):
        if candidate.is_file():
            return {"train": candidate}
    raise MedprefsError(f"{root}: corpus folder without questions.parquet or data/train.parquet")


def content_id(layout: DatasetLayout) -> str:
    """sha256 over the data files' hashes per split: the same rows give the same id, wherever they are stored."""
    return sha256_bytes(canonical_json({split: sha256_file(path) for split, path in layout.splits.items()}).encode())


def file_records(layout: DatasetLayout) -> dict[str, dict[str, Any]]:
    """Per release file: sha256, size and row count (written into the release manifest, checked on pull)."""
    return {
        layout.release_path(split): {
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "rows": pl.scan_parquet(path).select(pl.len()).collect().item(),
        }
        for split, path in layout.splits.items()
    }


def generator_record(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The model and sampling parameters that wrote the responses behind a pairs dataset.

    Taken from the manifest's `generator` if the pairs stage recorded one; otherwise from the responses manifest its
    `sources.responses` points at, but only while that file still has the sha256 recorded (else nothing is claimed).
    """
    if isinstance(manifest.get("generator"), dict):
        return manifest["generator"]
    responses = (manifest.get("sources") or {}).get("responses") or {}
    if not isinstance(responses, dict) or not responses.get("path"):
        return None
    path = Path(responses["path"]) / MANIFEST
    expected = responses.get("manifest_sha256")
    if not path.is_file() or (expected and sha256_file(path) != expected):
        return None
    run = read_manifest(path.parent)
    identity = run.get("identity") or {}
    return {
        "model": run.get("model") or identity.get("model"),
        "sampling": identity.get("sampling") or run.get("sampling"),
        "template": identity.get("template"),
    }


def release_manifest(layout: DatasetLayout, leakage: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The source manifest, with the leakage record as the gate returned it, the generator, and a `release` section."""
    manifest = dict(layout.manifest)
    manifest["leakage"] = leakage
    generator = generator_record(layout.manifest) if layout.kind == "pairs" else None
    if generator:
        manifest["generator"] = generator
    manifest["release"] = {
        "format": 1,
        "release_id": uuid.uuid4().hex,  # tells our own commit from a concurrent one when a response was lost
        "content_id": content_id(layout),
        "files": file_records(layout),
        "source_manifest_sha256": sha256_bytes(canonical_json(layout.manifest).encode()),
        "published_at": now_iso(),
        "medprefs_version": __version__,
        **target,
    }
    return manifest


def stage_release(layout: DatasetLayout, manifest: dict[str, Any], card_text: str, folder: Path) -> list[str]:
    """Write the release files into `folder`; returns their paths relative to it."""
    for split, source in layout.splits.items():
        target = folder / layout.release_path(split)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    write_json(folder / MANIFEST, manifest)
    (folder / CARD).write_text(card_text, encoding="utf-8")
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def verify_release(layout: DatasetLayout) -> None:
    """Check downloaded or copied data files against the hashes the release manifest recorded."""
    if not layout.release:
        return
    # a file the release recorded but the folder lacks (a partial copy) would quietly drop a split
    missing = sorted(set(layout.release.get("files", {})) - {layout.release_path(split) for split in layout.splits})
    if missing:
        raise MedprefsError(f"{layout.root}: {', '.join(missing)} missing, though the release manifest lists it; "
                            "re-download or re-copy the release")
    for split, path in layout.splits.items():
        expected = layout.release.get("files", {}).get(layout.release_path(split), {}).get("sha256")
        if expected and sha256_file(path) != expected:
            raise MedprefsError(f"{path}: content does not match the release manifest (sha256 differs); re-download it")
