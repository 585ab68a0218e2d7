"""Build the pair rows: pool each question's responses by label, draw capped pairs, split by question."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import polars as pl

from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.labeling import require_columns, strictly_sorted
from medprefs.pairs.config import CHOSEN_OVER_REJECTED, GT_OVER_CHOSEN, GT_OVER_REJECTED, PAIR_TYPES, PairsConfig
from medprefs.prompts import completion_text

GT_ROW = -1  # a side that is the ground-truth response rather than a sampled one
# Characters NFKC leaves alone and never composes (ASCII, kana, common CJK, 、。「」『』); with full-width ASCII and the
# ideographic space, which NFKC maps one to one onto ASCII, they make up most Japanese text. Texts of these characters
# get that mapping (fast); only the rest go through polars' NFKC (slow).
_SIMPLE = "\\x00-\\x7F\\u3000-\\u3002\\u300C-\\u300F\\u3041-\\u3096\\u30A1-\\u30FA\\u30FC\\u4E00-\\u9FFF\\uFF01-\\uFF5E"
_NEEDS_NFKC = f"[^{_SIMPLE}]"
_FULL_WIDTH = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF_WIDTH = [chr(c) for c in range(0x21, 0x7F)] + [" "]


@dataclass(frozen=True)
class PairsResult:
    train: pl.DataFrame
    validation: pl.DataFrame
    counts: dict[str, Any]
    config: PairsConfig


def dedup_keys(texts: pl.Series) -> pl.Series:
    """A 64-bit key per text, equal for texts identical after NFKC and whitespace collapsing (line breaks too)."""
    texts = texts.fill_null("").str.replace_many(_FULL_WIDTH, _HALF_WIDTH)
    needs = texts.str.contains(_NEEDS_NFKC).arg_true()
    if len(needs):
        texts = texts.scatter(needs, texts.gather(needs).str.normalize("NFKC"))
    return texts.str.replace_all(r"\s+", " ").str.strip_chars().hash(seed=0).alias("key")


def build_pairs(
    questions: list[Question], responses: pl.DataFrame, labels: pl.DataFrame, config: PairsConfig
) -> PairsResult:
    """Pairs of the hierarchy GT > chosen > rejected, at most `max_per_type` per question and type."""
    table = _question_table(questions)
    pool, prompts, skipped = _pool(responses, labels, table, config)
    plan = _plan(pool, table, config)
    rows = _materialise(plan, pool, table, prompts)
    validation_qids = _validation_qids(rows["qid"].unique().to_list(), config)
    is_validation = pl.col("qid").is_in(list(validation_qids))
    train, validation = rows.filter(~is_validation), rows.filter(is_validation)
    counts = _counts(train, validation, table, set(responses["qid"].unique().to_list()), skipped)
    # read = pooled + excluded + duplicate + dropped unreadable: every response is accounted for
    counts["responses"] = {"read": len(responses), "pooled": len(pool)}
    if config.conversational:
        train, validation = to_conversational(train), to_conversational(validation)
    return PairsResult(train, validation, counts, config)


def _question_table(questions: list[Question]) -> pl.DataFrame:
    gt = [completion_text(q.explanation.strip(), q.gold_text()) if (q.explanation or "").strip() else None
          for q in questions]
    frame = pl.DataFrame(
        {"qid": [q.qid for q in questions], "year": [q.year for q in questions], "gt": gt,
         "excluded": [q.excluded for q in questions]},
        schema={"qid": pl.String(), "year": pl.Int64(), "gt": pl.String(), "excluded": pl.Boolean()},
    )
    gt_key = pl.when(pl.col("gt").is_not_null()).then(dedup_keys(frame["gt"]))
    return frame.with_columns(gt_key.alias("gt_key"))


def _pool(
    responses: pl.DataFrame, labels: pl.DataFrame, table: pl.DataFrame, config: PairsConfig
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Labelled responses of scored questions, one per distinct text, each with a role; plus one prompt per qid."""
    keys = ["qid", "sample_idx"]
    require_columns(responses, [*keys, "prompt", "text"], "responses")
    require_columns(labels, [*keys, "status", "correct", "excluded"], "labels")
    left = responses.select("qid", pl.col("sample_idx").cast(pl.Int64), "text")
    right = labels.select("qid", pl.col("sample_idx").cast(pl.Int64), "status", "correct", "excluded")
    if len(left) == len(right) and left["qid"].equals(right["qid"]) and left["sample_idx"].equals(right["sample_idx"]):
        joined = left.hstack(right.drop(keys))  # same rows in the same order (both sorted): no join needed
    else:
        joined = left.join(right, on=keys, how="left")
    unlabelled = int(joined["status"].null_count())
    if unlabelled or len(labels) != len(responses):
        raise MedprefsError(
            f"labels do not match responses: {unlabelled} of {len(responses)} responses have no label "
            f"({len(labels)} labels); label these responses again"
        )
    unknown = joined.join(table, on="qid", how="anti")["qid"].unique().sort()
    if len(unknown):
        raise MedprefsError(f"{len(unknown)} response qid(s) are not in the corpus, e.g. {unknown[0]!r}")
    # every prompt of a question must be equal, so whichever comes first is the one
    prompts = responses.group_by("qid").agg(
        pl.col("prompt").first(), (pl.col("prompt") != pl.col("prompt").first()).any().alias("differs")
    )
    if prompts["differs"].any():
        raise MedprefsError("responses of one question have different prompts; pairs need one prompt per question")
    prompts = prompts.drop("differs")
    scored = joined.filter(~pl.col("excluded"))
    if not strictly_sorted(scored):  # "first" of duplicates means lowest sample_idx
        scored = scored.sort(keys)
    scored = scored.with_columns(dedup_keys(scored["text"]))
    pool = scored.unique(subset=["qid", "key"], keep="first", maintain_order=True)
    readable = (pl.col("status") == "ok") | pl.lit(config.unparseable == "rejected")
    role = pl.when(pl.col("correct")).then(pl.lit("chosen")).when(readable).then(pl.lit("rejected"))
    pool = pool.with_columns(role.alias("role"))
    skipped = {
        "excluded_responses": len(joined) - len(scored),
        "duplicate_responses": len(scored) - len(pool),
        "dropped_unreadable": int(pool["role"].null_count()),
    }
    pool = pool.filter(pl.col("role").is_not_null()).select("qid", "sample_idx", "text", "key", "role")
    return pool.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64)), prompts, skipped


def _plan(pool: pl.DataFrame, table: pl.DataFrame, config: PairsConfig) -> pl.DataFrame:
    """(qid, pair_type, chosen_row, rejected_row) for every pair; rows index the pool, GT_ROW is the GT response."""
    is_chosen, is_rejected = pl.col("role") == "chosen", pl.col("role") == "rejected"
    differs_from_gt = pl.col("gt_key").is_null() | (pl.col("key") != pl.col("gt_key"))
    groups = (
        pool.join(table.select("qid", pl.col("gt").is_not_null().alias("has_gt"), "gt_key"), on="qid", how="left")
        .group_by("qid")
        .agg(
            pl.col("has_gt").first(),
            pl.col("row").filter(is_chosen).alias("chosen"),
            pl.col("row").filter(is_rejected).alias("rejected"),
            pl.col("row").filter(is_chosen & differs_from_gt).alias("chosen_gt"),
            pl.col("row").filter(is_rejected & differs_from_gt).alias("rejected_gt"),
        )
        .sort("qid")
    )
    qids: list[str] = []
    types: list[str] = []
    chosen_rows: list[int] = []
    rejected_rows: list[int] = []
    k = config.max_per_type
    for qid, has_gt, chosen, rejected, chosen_gt, rejected_gt in groups.iter_rows():
        rng = random.Random(f"{config.seed}:{qid}")
        drawn = [(CHOSEN_OVER_REJECTED, c, r) for c, r in cross_pairs(chosen, rejected, k, rng)]
        if has_gt:
            drawn += [(GT_OVER_CHOSEN, GT_ROW, r) for r in _sample(chosen_gt, k, rng)]
            drawn += [(GT_OVER_REJECTED, GT_ROW, r) for r in _sample(rejected_gt, k, rng)]
        for pair_type, c, r in drawn:
            qids.append(qid)
            types.append(pair_type)
            chosen_rows.append(c)
            rejected_rows.append(r)
    return pl.DataFrame(
        {"qid": qids, "pair_type": types, "chosen_row": chosen_rows, "rejected_row": rejected_rows},
        schema={"qid": pl.String(), "pair_type": pl.String(), "chosen_row": pl.Int64(), "rejected_row": pl.Int64()},
    )


def _sample(rows: list[int], k: int, rng: random.Random) -> list[int]:
    return rng.sample(rows, min(k, len(rows)))  # rows come in pool order, so the draw depends only on the seed


def cross_pairs(chosen: list[int], rejected: list[int], k: int, rng: random.Random) -> list[tuple[int, int]]:
    """Up to k distinct (chosen, rejected) pairs, spread so each side repeats as little as possible."""
    if not chosen or not rejected:
        return []
    n_chosen, n_rejected = len(chosen), len(rejected)
    # p -> (p mod nc, (p mod nc + p div nc) mod nr) is a bijection on range(nc * nr) that walks the diagonals; for
    # p < k both indices stay below k, so a random ordered k-subset of each side is all that is needed
    chosen, rejected = rng.sample(chosen, min(k, n_chosen)), rng.sample(rejected, min(k, n_rejected))
    return [
        (chosen[p % n_chosen], rejected[(p % n_chosen + p // n_chosen) % n_rejected])
        for p in range(min(k, n_chosen * n_rejected))
    ]


def _materialise(plan: pl.DataFrame, pool: pl.DataFrame, table: pl.DataFrame, prompts: pl.DataFrame) -> pl.DataFrame:
    columns = {"prompt": pl.String(), "chosen": pl.String(), "rejected": pl.String(), "qid": pl.String(),
               "pair_type": pl.String(), "year": pl.Int64()}
    if plan.is_empty():
        return pl.DataFrame(schema=columns)
    texts = pool["text"]
    chosen = texts.gather(plan["chosen_row"].clip(lower_bound=0)).alias("chosen_text")
    rejected = texts.gather(plan["rejected_row"]).alias("rejected")
    frame = plan.with_columns(chosen, rejected).join(table.select("qid", "year", "gt"), on="qid", how="left")
    frame = frame.join(prompts, on="qid", how="left").with_columns(
        pl.when(pl.col("chosen_row") == GT_ROW).then(pl.col("gt")).otherwise(pl.col("chosen_text")).alias("chosen")
    )
    order = pl.col("pair_type").replace_strict({t: i for i, t in enumerate(PAIR_TYPES)}, return_dtype=pl.Int8)
    return frame.sort(["qid", order, "chosen_row", "rejected_row"]).select(list(columns)).cast(columns)  # type: ignore[arg-type]


def _validation_qids(qids: list[str], config: PairsConfig) -> set[str]:
    """A fixed share of questions, chosen by a seeded hash of the qid: stable when other questions come and go."""
    order = sorted(qids, key=lambda q: hashlib.blake2b(f"{config.seed}:{q}".encode(), digest_size=8).digest())
    n = int(config.validation_fraction * len(order) + 0.5)
    if config.validation_fraction > 0 and len(order) >= 2:
        n = max(n, 1)  # both splits non-empty whenever that is possible
    return set(order[: min(n, len(order) - 1)])  # training never left empty (one question stays in train)


def to_conversational(frame: pl.DataFrame) -> pl.DataFrame:
    """TRL's conversational preference format: prompt is a user turn, chosen/rejected are assistant turns."""

    def turn(role: str, column: str) -> pl.Expr:
        message = pl.struct(pl.lit(role).alias("role"), pl.col(column).alias("content"))
        return pl.concat_list(message).alias(column)

    return frame.with_columns(turn("user", "prompt"), turn("assistant", "chosen"), turn("assistant", "rejected"))


def _counts(
    train: pl.DataFrame, validation: pl.DataFrame, table: pl.DataFrame, answered: set[str], skipped: dict[str, int]
) -> dict[str, Any]:
    both = pl.concat([train, validation])
    by_year: dict[str, dict[str, int]] = {}
    for year, pair_type, n in both.group_by("year", "pair_type").len().sort("year", "pair_type").iter_rows():
        by_year.setdefault(str(year), {})[pair_type] = n
    scored = table.filter(~pl.col("excluded"))
    # questions with responses, whether or not any survived the pool: all dropped as unreadable is "without pairs"
    sampled = answered & set(scored["qid"].to_list())
    return {
        "pairs": len(both),
        "train": len(train),
        "validation": len(validation),
        "by_type": {t: int((both["pair_type"] == t).sum()) for t in PAIR_TYPES},
        "by_year": by_year,
        "by_split": {name: {t: int((f["pair_type"] == t).sum()) for t in PAIR_TYPES}
                     for name, f in (("train", train), ("validation", validation))},
        "questions": {"train": train["qid"].n_unique(), "validation": validation["qid"].n_unique(),
                      "without_pairs": len(sampled - set(both["qid"].unique().to_list()))},
        "skipped": {
            **skipped,
            "excluded_questions": int(table["excluded"].sum()),
            "questions_without_responses": scored.filter(~pl.col("qid").is_in(list(sampled))).height,
            "questions_without_explanation": scored.filter(pl.col("gt").is_null() & pl.col("qid").is_in(list(sampled))).height,
        },
    }
