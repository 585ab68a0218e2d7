"""Small, real dataset folders (pairs folder, corpus version) built with polars, for tests of anything that reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from medprefs.manifest import MANIFEST, sha256_bytes, sha256_file, write_manifest, write_parquet

PAIR_TYPES = ("gt>chosen", "gt>rejected", "chosen>rejected")


def leakage_record(verdict: str = "pass", *, flagged: int = 0, cutoff_year: int = 2017) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "report_sha256": sha256_bytes(f"report-{verdict}-{flagged}".encode()),
        "cutoff_year": cutoff_year,
        "flagged": flagged,
        "override": None,
    }


def pairs_frame(variant: str, years: tuple[int, ...], per_year: int) -> pl.DataFrame:
    rows = []
    for year in years:
        for i in range(per_year):
            qid = f"{year - 1906}A{i + 1:02d}"
            rows.append(
                {
                    "prompt": f"問題: {variant} {qid} の症状で最も考えられるのはどれか。\n解説:",
                    "chosen": f" {variant} 正しい解説 {i}。\n答え: a",
                    "rejected": f" {variant} 誤った解説 {i}。\n答え: c",
                    "qid": qid,
                    "pair_type": PAIR_TYPES[i % len(PAIR_TYPES)],
                    "year": year,
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "prompt": pl.String,
            "chosen": pl.String,
            "rejected": pl.String,
            "qid": pl.String,
            "pair_type": pl.String,
            "year": pl.Int64,
        },
    )


def write_pairs_dataset(
    folder: str | Path,
    *,
    variant: str = "v1",
    leakage: dict[str, Any] | None = None,
    years: tuple[int, ...] = (2015, 2016, 2017),
    per_year: int = 4,
) -> Path:
    """A pairs folder as `pairs build` writes it: data/train.parquet, data/validation.parquet, manifest.json."""
    folder = Path(folder)
    frame = pairs_frame(variant, years, per_year)
    validation = frame.filter(pl.col("qid").str.ends_with("01"))
    train = frame.join(validation, on=["qid", "pair_type"], how="anti")
    write_parquet(folder / "data" / "train.parquet", train)
    write_parquet(folder / "data" / "validation.parquet", validation)
    responses = write_responses_manifest(folder.parent / f"{folder.name}-responses", variant)
    # the shape `pairs build` writes (medprefs.pairs.io): sources point at the corpus, responses and labels used
    write_manifest(
        folder,
        {
            "kind": "pairs",
            "format": "standard",
            "counts": {"train": train.height, "validation": validation.height},
            "sources": {
                "corpus": {"name": "sample", "version_id": sha256_bytes(variant.encode())[:12]},
                "responses": {"path": str(responses.resolve()), "manifest_sha256": sha256_file(responses / MANIFEST)},
                "labels": {"path": str(folder.parent / "labels"), "sha256": sha256_bytes(f"labels-{variant}".encode())},
            },
            "leakage": leakage_record() if leakage is None else leakage,
        },
    )
    return folder


def write_responses_manifest(folder: Path, variant: str) -> Path:
    """The manifest of a sampling run (medprefs.sampling), where the generator model and sampling params live."""
    write_manifest(
        folder,
        {
            "kind": "responses",
            "model": {"source": "local", "path": "tiny-qwen2", "revision": None, "weights_sha256": "0" * 64},
            "identity": {
                "sampling": {"n": 4, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 256, "seed": 0},
                "template": {"name": "explain", "sha256": sha256_bytes(variant.encode())},
            },
        },
    )
    return folder


def write_corpus_version(folder: str | Path, *, leakage: dict[str, Any] | None = None) -> Path:
    """A corpus version folder: questions.parquet (the Question contract's main fields) + manifest.json."""
    folder = Path(folder)
    frame = pl.DataFrame(
        {
            "qid": ["111A01", "111A02", "110B03"],
            "year": [2017, 2017, 2016],
            "stem": ["発熱を主訴に来院した。", "咳嗽を主訴に来院した。", "腹痛を主訴に来院した。"],
            "choices": [["肺炎", "胃炎", "腸炎", "膀胱炎", "髄膜炎"]] * 3,
            "answer": [["a"], ["b"], ["c"]],
            "answer_kind": ["choice"] * 3,
            "explanation": ["肺炎が最も考えられる。", "胃炎ではない。", "腸炎が考えられる。"],
        }
    )
    write_parquet(folder / "questions.parquet", frame)
    manifest: dict[str, Any] = {"kind": "corpus", "name": "sample", "version_id": "c0ffee12", "rows": frame.height}
    if leakage is not None:
        manifest["leakage"] = leakage
    write_manifest(folder, manifest)
    return folder
