"""Vectorised search for training items that share many eval n-grams: batches of text, numpy, optionally 2+ processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from medprefs.leakage.index import EvalIndex
from medprefs.leakage.lookup import find_hits
from medprefs.leakage.ngrams import distinct, distinct_counts
from medprefs.leakage.normalize import fold_segments

# Training items as the matcher sees them: a function giving the text segments of items [start, stop).
Segmenter = Callable[[int, int], tuple[list[str], np.ndarray]]
REACH_STEP = 8  # granularity (in n-grams) of the table saying which eval items a training item can still reach


@dataclass(frozen=True)
class Candidates:
    """(training item, eval item) pairs with `shared` distinct informative n-grams, sorted by item then eval item."""

    train: np.ndarray  # int64 training item indices
    eval: np.ndarray  # int64 eval item indices
    shared: np.ndarray  # int64

    @classmethod
    def empty(cls) -> Candidates:
        nothing = np.zeros(0, dtype=np.int64)
        return cls(nothing, nothing, nothing)


@dataclass(frozen=True)
class MatchOptions:
    floor: float  # smallest containment worth returning
    min_shared: int  # fewest shared n-grams worth returning...
    small_items: bool  # ...or, when True, all of a small eval item's n-grams (item-vs-item near-duplicates)


@dataclass(frozen=True)
class MatchPlan:
    """The eval postings re-ordered for one set of options.

    An eval item needs `required[e]` shared n-grams. A training item with H distinct hits cannot reach items that
    need more, so within each key the postings are sorted by `required` and `reach[key, ceil(H / STEP)]` says how
    many of them to count. The choice depends only on (training item, eval item), so every count kept is exact.
    """

    index: EvalIndex
    required: np.ndarray  # int64 per eval item
    items: np.ndarray  # postings, sorted by key then required
    reach: np.ndarray  # [n_keys, n_steps]: postings of the key with required <= step * REACH_STEP

    @classmethod
    def build(cls, index: EvalIndex, options: MatchOptions) -> MatchPlan:
        sizes = index.sizes
        minimum = (
            np.minimum(options.min_shared, sizes) if options.small_items else np.full_like(sizes, options.min_shared)
        )
        required = np.maximum(np.maximum(minimum, np.ceil(options.floor * sizes - 1e-9).astype(np.int64)), 1)
        owner = np.repeat(np.arange(len(index.keys)), np.diff(index.starts))
        items = index.items[np.lexsort((required[index.items], owner))]
        steps = int(required.max(initial=0)) // REACH_STEP + 2
        levels = np.minimum(np.ceil(required[items] / REACH_STEP).astype(np.int64), steps - 1)
        dtype = np.uint16 if len(index.qids) < 1 << 16 else np.int64
        reach = np.zeros((len(index.keys), steps), dtype=dtype)
        np.add.at(reach, (owner, levels), 1)
        return cls(index, required, items, np.cumsum(reach, axis=1, dtype=dtype))


def match_batch(plan: MatchPlan, texts: list[str], owner: np.ndarray) -> Candidates:
    """Candidates among a batch of segments; `owner[s]` is the (batch-local) training item of segment s."""
    index = plan.index
    codes, lengths = fold_segments(texts)
    segments, keys = find_hits(index, codes, lengths)
    n_keys, n_eval = max(len(index.keys), 1), max(len(index.qids), 1)
    pairs = distinct(owner[segments].astype(np.int64) * n_keys + keys)  # each distinct n-gram once per item
    items, keys = pairs // n_keys, pairs % n_keys
    hits = np.bincount(items)[items]
    level = np.minimum((hits + REACH_STEP - 1) // REACH_STEP, plan.reach.shape[1] - 1) if len(items) else hits
    fan_out = plan.reach[keys, level].astype(np.int64) if len(items) else hits
    offsets = np.arange(int(fan_out.sum())) - np.repeat(np.cumsum(fan_out) - fan_out, fan_out)
    evals = plan.items[np.repeat(index.starts[keys], fan_out) + offsets].astype(np.int64)
    combined, shared = distinct_counts(np.repeat(items, fan_out) * n_eval + evals)
    items, evals = combined // n_eval, combined % n_eval
    keep = shared >= plan.required[evals]
    return Candidates(items[keep], evals[keep], shared[keep])


def chunk_bounds(item_chars: np.ndarray, batch_chars: int) -> list[tuple[int, int]]:
    """Split items into consecutive ranges of about `batch_chars` characters each."""
    if not len(item_chars):
        return []
    totals = np.cumsum(item_chars)
    marks = np.searchsorted(totals, np.arange(batch_chars, int(totals[-1]), batch_chars), side="left") + 1
    bounds = distinct(np.concatenate(([0], marks, [len(item_chars)])))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


_STATE: tuple[MatchPlan, Segmenter] | None = None  # inherited by forked workers, never pickled


def _match_range(bounds: tuple[int, int]) -> tuple[int, Candidates]:
    assert _STATE is not None
    plan, segmenter = _STATE
    start, stop = bounds
    texts, owner = segmenter(start, stop)
    found = match_batch(plan, texts, owner)
    return stop - start, Candidates(found.train + start, found.eval, found.shared)


def resolve_workers(requested: int) -> int:
    if requested:
        return requested
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def find_candidates(
    index: EvalIndex,
    segmenter: Segmenter,
    bounds: Sequence[tuple[int, int]],
    options: MatchOptions,
    workers: int,
    advance: Callable[[int], None] = lambda done: None,
) -> Candidates:
    """Run every range through `match_batch`, in `workers` forked processes when there is more than one range."""
    global _STATE
    _STATE = (MatchPlan.build(index, options), segmenter)
    parts: list[Candidates] = []
    try:
        parallel = workers > 1 and len(bounds) > 1 and "fork" in multiprocessing.get_all_start_methods()
        if parallel:
            with multiprocessing.get_context("fork").Pool(min(workers, len(bounds))) as pool:
                for done, found in pool.imap_unordered(_match_range, bounds):
                    parts.append(found)
                    advance(done)
        else:
            for chunk in bounds:
                done, found = _match_range(chunk)
                parts.append(found)
                advance(done)
    finally:
        _STATE = None
    if not parts:
        return Candidates.empty()
    train = np.concatenate([p.train for p in parts])
    evals = np.concatenate([p.eval for p in parts])
    shared = np.concatenate([p.shared for p in parts])
    order = np.lexsort((evals, train))
    return Candidates(train[order], evals[order], shared[order])
