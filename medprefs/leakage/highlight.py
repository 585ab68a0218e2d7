"""Side-by-side views of a flagged pair: both texts (NFKC) with the n-grams they share marked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medprefs.corpus.question import LETTERS, Question
from medprefs.leakage.items import Passage
from medprefs.leakage.ngrams import padded_hashes, rolling_hashes
from medprefs.leakage.normalize import key_positions

Run = tuple[str, bool]  # a piece of text and whether it is shared
CONTEXT = 60  # characters kept around the shared part of a long training text


@dataclass(frozen=True)
class PairView:
    train: list[Run]
    eval: list[Run]


def _covered(text: str, shared: np.ndarray, n: int) -> tuple[str, np.ndarray]:
    """The NFKC text and, per character, whether a shared n-gram covers it (punctuation inside a match included)."""
    composed, keys, where = key_positions(text)
    marked = np.zeros(len(composed), dtype=bool)
    if 0 < len(keys) < n:
        if np.isin(padded_hashes(keys, np.array([0]), np.array([len(keys)]), n), shared).all():
            marked[where] = True
        return composed, marked
    hits = np.flatnonzero(np.isin(rolling_hashes(keys, n), shared))
    for start in hits.tolist():
        marked[where[start] : where[start + n - 1] + 1] = True
    return composed, marked


def _runs(text: str, marked: np.ndarray) -> list[Run]:
    runs: list[Run] = []
    for char, flag in zip(text, marked.tolist(), strict=True):
        if runs and runs[-1][1] == flag:
            runs[-1] = (runs[-1][0] + char, flag)
        else:
            runs.append((char, flag))
    return runs


def _trim(text: str, marked: np.ndarray) -> tuple[str, np.ndarray]:
    """Keep a long text's shared stretch with some context around it."""
    if len(text) <= 4 * CONTEXT or not marked.any():
        return text, marked
    hits = np.flatnonzero(marked)
    low, high = max(0, int(hits[0]) - CONTEXT), min(len(text), int(hits[-1]) + 1 + CONTEXT)
    prefix, suffix = ("…" if low else ""), ("…" if high < len(text) else "")
    return prefix + text[low:high] + suffix, np.concatenate(
        ([False] * len(prefix), marked[low:high], [False] * len(suffix))
    )


def labelled_parts(item: Question | Passage, with_explanation: bool) -> list[tuple[str, str]]:
    """(label, text) pieces of an item as shown in the report."""
    if isinstance(item, Passage):
        return [("", item.text)]
    parts = [("", item.stem)] + [(f"{LETTERS[i]}. ", choice) for i, choice in enumerate(item.choices)]
    if with_explanation and item.explanation:
        parts.append(("解説: ", item.explanation))
    return parts


def view(item: Question | Passage, shared: np.ndarray, n: int, with_explanation: bool) -> list[Run]:
    runs: list[Run] = []
    for label, text in labelled_parts(item, with_explanation):
        composed, marked = _trim(*_covered(text, shared, n))
        if runs:
            runs.append(("\n", False))
        if label:
            runs.append((label, False))
        runs.extend(_runs(composed, marked))
    return runs


def pair_view(train: Question | Passage, evaluated: Question, shared: np.ndarray, n: int) -> PairView:
    return PairView(view(train, shared, n, with_explanation=True), view(evaluated, shared, n, with_explanation=False))
