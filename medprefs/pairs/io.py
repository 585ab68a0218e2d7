"""The preference dataset folder: data/train.parquet, data/validation.parquet and a manifest of what made them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from medprefs.config import to_dict
from medprefs.errors import MedprefsError
from medprefs.manifest import (
    now_iso,
    read_manifest,
    read_parquet,
    require_own_folder,
    sha256_file,
    write_manifest,
    write_parquet,
)
from medprefs.pairs.build import PairsResult

SPLITS = ("train", "validation")
COLUMNS = ["prompt", "chosen", "rejected", "qid", "pair_type", "year"]


def write_pairs(result: PairsResult, out_dir: str | Path, sources: dict[str, Any], leakage: dict[str, Any] | None) -> Path:
    """Write both splits and the manifest; `leakage` is the gate record carried through as given (None if unknown)."""
    out = Path(out_dir)
    require_own_folder(out, "pairs")
    files = {}
    for split, frame in zip(SPLITS, (result.train, result.validation), strict=True):
        path = out / "data" / f"{split}.parquet"
        write_parquet(path, frame.select(COLUMNS))
        files[f"data/{split}.parquet"] = sha256_file(path)
    write_manifest(
        out,
        {
            "kind": "pairs",
            "created": now_iso(),
            "format": "conversational" if result.config.conversational else "standard",
            "columns": COLUMNS,
            "config": to_dict(result.config),
            "counts": result.counts,
            "sources": sources,
            "leakage": leakage,
            "files": files,
        },
    )
    return out


def read_pairs(folder: str | Path) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """(train, validation, manifest) of a preference dataset folder (a pairs folder or a release of one)."""
    folder = Path(folder)
    frames = []
    for split in SPLITS:
        path = folder / "data" / f"{split}.parquet"
        if not path.is_file():
            raise MedprefsError(f"{folder}: not a preference dataset folder (no data/{split}.parquet)")
        frame = read_parquet(path)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise MedprefsError(f"{path}: missing column(s) {', '.join(missing)}")
        frames.append(frame)
    manifest = read_manifest(folder) if (folder / "manifest.json").is_file() else {}
    return frames[0], frames[1], manifest


def pairs_sources(corpus: Any, labels_dir: str | Path, labels_manifest: dict[str, Any]) -> dict[str, Any]:
    """The `sources` of a pairs manifest: corpus version, responses manifest hash, labels hash (all as used)."""
    from medprefs.labeling import LABELS_FILE

    labels_dir = Path(labels_dir)
    return {
        "corpus": {"name": corpus.name, "version_id": corpus.version_id},
        "responses": labels_manifest.get("responses"),
        "labels": {"path": str(labels_dir.resolve()), "sha256": sha256_file(labels_dir / LABELS_FILE)},
    }


def leakage_record_from_file(path: str | Path, corpus_sha256: str | None = None) -> dict[str, Any]:
    """The gate record from a leakage `report.json` (hashed as written), a corpus manifest holding one, the filter's
    gate.json of a clean version, or a bare record.

    With `corpus_sha256` (the content of the corpus the pairs are built from), a report or manifest that names
    other content is refused: a passing verdict on another corpus says nothing about this one."""
    from medprefs.manifest import read_json

    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise MedprefsError(f"{path}: neither a leakage report.json nor a manifest with a 'leakage' record")
    if isinstance(data.get("config"), dict) and "verdict" in data:
        train = (data.get("sources") or {}).get("train")
        if corpus_sha256 is not None and not isinstance(train, dict):
            raise MedprefsError(f"{path}: this report checked no question corpus (only text passages, if anything)")
        _require_same_content(path, train, corpus_sha256)
        try:
            return {
                "verdict": data["verdict"],
                "report_sha256": sha256_file(path),
                "cutoff_year": int(data["config"]["cutoff_year"]),
                "flagged": int(data["counts"]["flagged_train_items"]),
                "override": None,
            }
        except (KeyError, TypeError, ValueError):
            raise MedprefsError(f"{path}: a leakage report without config.cutoff_year / counts.flagged_train_items") from None
    for key in ("leakage", "gate"):  # a corpus version's manifest, or the gate.json of a version found clean
        if isinstance(data.get(key), dict):
            _require_same_content(path, data, corpus_sha256)
            return data[key]
    if "verdict" in data and "report_sha256" in data:
        return data
    raise MedprefsError(f"{path}: neither a leakage report.json nor a manifest with a 'leakage' record")


def _require_same_content(path: Path, checked: dict[str, Any] | None, corpus_sha256: str | None) -> None:
    recorded = (checked or {}).get("content_sha256")
    if corpus_sha256 is None or recorded is None or recorded == corpus_sha256:
        return
    name = (checked or {}).get("name") or (checked or {}).get("path") or "another corpus"
    raise MedprefsError(
        f"{path}: this leakage record is for {name} (content {str(recorded)[:12]}), not for the corpus the pairs are "
        f"built from (content {corpus_sha256[:12]}); scan or filter that corpus and pass its report"
    )
