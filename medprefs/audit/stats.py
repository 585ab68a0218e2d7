"""The figures of the audit: composition, labels, length bias, duplicates, leakage, examples (plain data, no HTML)."""

from __future__ import annotations

from typing import Any

import polars as pl

from medprefs.pairs import PAIR_TYPES

# DPO learns a length shortcut when one side is systematically longer; flag a pair type whose chosen side is longer
# in more than this share of pairs (or shorter in more than it), or whose median length ratio leaves the band.
LENGTH_BIAS_SHARE = 0.65
LENGTH_RATIO_BAND = (0.8, 1.25)
LENGTH_BINS = 20
ACCURACY_BINS = 10
EXAMPLE_CHARS = 700


def _as_text(column: str) -> pl.Expr:
    """The text of a column in either format (conversational rows hold a list of messages: take the last one)."""
    return pl.col(column).list.last().struct.field("content").alias(column)


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Standard-format columns whatever the dataset's format."""
    columns = [c for c in ("prompt", "chosen", "rejected") if isinstance(frame.schema[c], pl.List)]
    return frame.with_columns(*(_as_text(c) for c in columns)) if columns else frame


def compute(train: pl.DataFrame, validation: pl.DataFrame, manifest: dict[str, Any],
            labels: pl.DataFrame | None) -> dict[str, Any]:
    rows = pl.concat([flatten(train).with_columns(pl.lit("train").alias("split")),
                      flatten(validation).with_columns(pl.lit("validation").alias("split"))])
    rows = rows.with_columns(
        pl.col("chosen").str.len_chars().alias("chosen_len"), pl.col("rejected").str.len_chars().alias("rejected_len")
    )
    return {
        "overview": _overview(rows, manifest),
        "composition": _composition(rows),
        "lengths": {t: _lengths(rows.filter(pl.col("pair_type") == t)) for t in PAIR_TYPES},
        "duplicates": _duplicates(rows),
        "leakage": manifest.get("leakage"),
        "labels": _labels(labels) if labels is not None else None,
        "examples": _examples(rows),
    }


def _overview(rows: pl.DataFrame, manifest: dict[str, Any]) -> dict[str, Any]:
    by_split = {s: rows.filter(pl.col("split") == s) for s in ("train", "validation")}
    return {
        "rows": {s: len(f) for s, f in by_split.items()},
        "questions": {s: f["qid"].n_unique() for s, f in by_split.items()},
        "split_overlap_questions": len(set(by_split["train"]["qid"]) & set(by_split["validation"]["qid"])),
        "format": manifest.get("format", "standard"),
        "created": manifest.get("created"),
        "config": manifest.get("config"),
        "sources": manifest.get("sources"),
        "skipped": (manifest.get("counts") or {}).get("skipped"),
    }


def _composition(rows: pl.DataFrame) -> dict[str, Any]:
    years = sorted(rows["year"].unique().to_list())
    table = {str(y): {t: 0 for t in PAIR_TYPES} for y in years}
    for year, pair_type, n in rows.group_by("year", "pair_type").len().iter_rows():
        table[str(year)][pair_type] = n
    per_split = {s: {t: 0 for t in PAIR_TYPES} for s in ("train", "validation")}
    for split, pair_type, n in rows.group_by("split", "pair_type").len().iter_rows():
        per_split[split][pair_type] = n
    per_question = rows.group_by("qid").len()["len"]
    return {
        "by_year": table,
        "by_split": per_split,
        "pairs_per_question": {"mean": _round(per_question.mean()), "max": int(per_question.max() or 0)},
    }


def _lengths(rows: pl.DataFrame) -> dict[str, Any]:
    if rows.is_empty():
        return {"pairs": 0, "flag": None}
    chosen, rejected = rows["chosen_len"], rows["rejected_len"]
    longer = float((chosen > rejected).mean() or 0.0)
    shorter = float((chosen < rejected).mean() or 0.0)  # not 1 - longer: equal lengths are no bias either way
    ratio = float((chosen.cast(pl.Float64) / rejected.cast(pl.Float64).clip(lower_bound=1)).median() or 0.0)
    top = max(int(chosen.max() or 0), int(rejected.max() or 0), 1)
    edges = [round(top * i / LENGTH_BINS) for i in range(LENGTH_BINS + 1)]
    flag = None
    if longer > LENGTH_BIAS_SHARE or shorter > LENGTH_BIAS_SHARE or not LENGTH_RATIO_BAND[0] <= ratio <= LENGTH_RATIO_BAND[1]:
        side, share = ("longer", longer) if ratio > 1 or longer > shorter else ("shorter", shorter)
        flag = f"chosen is {side} than rejected in {share:.0%} of pairs (median ratio {ratio:.2f})"
    return {
        "pairs": len(rows),
        "chosen": _summary(chosen),
        "rejected": _summary(rejected),
        "chosen_longer_share": round(longer, 4),
        "median_ratio": round(ratio, 4),
        "edges": edges,
        "chosen_hist": _histogram(chosen, edges),
        "rejected_hist": _histogram(rejected, edges),
        "flag": flag,
    }


def _summary(values: pl.Series) -> dict[str, float]:
    return {"mean": _round(values.mean()), "median": _round(values.median()), "p90": _round(values.quantile(0.9))}


def _histogram(values: pl.Series, edges: list[int]) -> list[int]:
    top = edges[-1]
    bins = (values.cast(pl.Float64) * len(edges[:-1]) / max(top, 1)).floor().cast(pl.Int64).clip(0, len(edges) - 2)
    counts = bins.value_counts().sort(bins.name)
    result = [0] * (len(edges) - 1)
    for index, n in counts.iter_rows():
        result[index] = n
    return result


def _duplicates(rows: pl.DataFrame) -> dict[str, Any]:
    prompts = rows.group_by("prompt").agg(pl.col("qid").unique().sort().alias("qids"), pl.col("split").unique())
    shared = prompts.filter(pl.col("qids").list.len() > 1)
    across = prompts.filter(pl.col("split").list.len() > 1)
    extra_copies = len(rows) - rows.select("prompt", "chosen", "rejected").n_unique()
    return {
        "distinct_prompts": len(prompts),
        "prompts_shared_by_questions": len(shared),
        "prompts_in_both_splits": len(across),
        "duplicate_rows": extra_copies,
        "examples": [qids for qids in shared["qids"].head(5).to_list()],
    }


def _labels(labels: pl.DataFrame) -> dict[str, Any]:
    from medprefs.labeling import label_counts

    counts = label_counts(labels)
    scored = labels.filter(~pl.col("excluded"))
    per_question = scored.group_by("qid").agg(pl.col("correct").mean().alias("accuracy"))["accuracy"]
    edges = [i / ACCURACY_BINS for i in range(ACCURACY_BINS + 1)]
    return {
        **counts,
        "accuracy_edges": edges,
        "accuracy_hist": _histogram(per_question * ACCURACY_BINS, list(range(ACCURACY_BINS + 1))),
        "questions_all_correct": int((per_question == 1).sum()),
        "questions_all_wrong": int((per_question == 0).sum()),
    }


def _examples(rows: pl.DataFrame, per_type: int = 2) -> list[dict[str, Any]]:
    """A few pairs per type, picked by a hash of the row (stable, and not just the first questions)."""
    key = pl.concat_str("qid", "chosen", "rejected").hash(seed=0)
    picked = rows.sort(key).group_by("pair_type", maintain_order=True).head(per_type)
    order = {t: i for i, t in enumerate(PAIR_TYPES)}
    return [
        {
            "pair_type": row["pair_type"], "qid": row["qid"], "year": row["year"], "split": row["split"],
            "prompt_tail": _clip(row["prompt"], EXAMPLE_CHARS, tail=True),
            "chosen": _clip(row["chosen"], EXAMPLE_CHARS), "rejected": _clip(row["rejected"], EXAMPLE_CHARS),
        }
        for row in sorted(picked.iter_rows(named=True), key=lambda r: (order.get(r["pair_type"], 9), r["qid"]))
    ]


def _clip(text: str, limit: int, tail: bool = False) -> str:
    if len(text) <= limit:
        return text
    return "…" + text[-limit:] if tail else text[:limit] + "…"


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)
