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


def write_corpus_version(store: str | Path, *, checked: bool = True) -> Path:
    """A stored corpus version folder (STORE/sample/versions/ID), made by the real ingest and leakage filter.

    Three training questions (2016-2017) and one evaluation question (2019) are ingested; `checked` runs the leakage
    filter, whose derived version (the three, its manifest holding the passing gate record) is returned; otherwise
    the unchecked ingested version (all four, no gate record)."""
    import json

    from medprefs.corpus import IngestConfig, ingest, load_corpus
    from medprefs.leakage import LeakageConfig, filter_and_store, split_by_year

    store = Path(store)
    rows = [
        ("111A01", "発熱を主訴に来院した。最も考えられるのはどれか。", "a", "肺炎が最も考えられる。"),
        ("111A02", "咳嗽を主訴に来院した。誤っているのはどれか。", "b", "胃炎ではない。"),
        ("110B03", "腹痛を主訴に来院した。適切なのはどれか。", "c", "腸炎が考えられる。"),
        ("113C04", "頭痛と項部硬直で来院した。診断はどれか。", "e", "髄膜炎を考える。"),
    ]
    source = store / "source.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(
        "".join(
            json.dumps({"qid": qid, "stem": stem, "choices": ["肺炎", "胃炎", "腸炎", "膀胱炎", "髄膜炎"],
                        "answer": [answer], "explanation": explanation}, ensure_ascii=False) + "\n"
            for qid, stem, answer, explanation in rows
        ),
        encoding="utf-8",
    )
    outcome = ingest(IngestConfig(paths=[str(source)], name="sample", store=str(store / "store")))
    if not checked:
        return outcome.version_dir
    config = LeakageConfig()
    _, evaluation, _ = split_by_year(load_corpus(f"sample@{outcome.version_id}", store / "store").questions, config)
    filtered = filter_and_store(f"sample@{outcome.version_id}", evaluation, config, store=store / "store")
    return load_corpus(f"sample@{filtered.version_id}", store / "store").path
