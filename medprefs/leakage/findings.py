"""What the guard flags: one Finding per (training item, evaluation item, rule), by exam year or by content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from medprefs.corpus.question import Question
from medprefs.leakage.config import LeakageConfig
from medprefs.leakage.index import EvalIndex, question_segments, unique_grams
from medprefs.leakage.items import Passage, TrainSet, item_id, segments
from medprefs.leakage.matcher import Candidates
from medprefs.leakage.ngrams import member, rolling_hashes
from medprefs.leakage.normalize import fold_segments

Rule = Literal["year", "undated", "near_duplicate", "containment"]


@dataclass(frozen=True)
class Finding:
    """A flagged training item. Content rules name the eval item; `similarity` is the figure the rule judged by
    (Jaccard for near_duplicate, containment for containment; None for the year rules)."""

    train_qid: str
    eval_qid: str | None
    rule: Rule
    similarity: float | None
    containment: float | None = None
    stem_coverage: float | None = None
    jaccard: float | None = None
    shared_ngrams: int | None = None
    eval_ngrams: int | None = None
    detail: str = ""

    def brief(self) -> dict:
        """The four fields `leakage scan --json` prints."""
        return {
            "train_qid": self.train_qid,
            "eval_qid": self.eval_qid,
            "rule": self.rule,
            "similarity": self.similarity,
        }


def is_undated(year: int | None) -> bool:
    return year is None or year <= 0


def year_findings(train: TrainSet, config: LeakageConfig) -> list[Finding]:
    """Every exam question must be from a year <= the cut-off; passages only when they carry a year."""
    found: list[Finding] = []
    if train.plain:
        return found  # bare strings carry no year
    for item in train.raw:
        if isinstance(item, Question) and is_undated(item.year):
            found.append(Finding(item.qid, None, "undated", None, detail="no exam year"))
        elif item.year is not None and item.year > config.cutoff_year:
            found.append(Finding(item_id(item), None, "year", None, detail=f"year {item.year} > {config.cutoff_year}"))
    return found


def _round(value: float) -> float:
    return round(float(value), 4)


@dataclass(frozen=True)
class _Evidence:
    """The figures of one (training item, eval item) pair."""

    shared: int
    containment: float
    stem_coverage: float | None  # None when the eval stem is too short to say anything by itself
    jaccard: float | None  # questions only: stem + choices against stem + choices


def _spread(starts: np.ndarray, n: int) -> np.ndarray:
    """Per character: whether an n-gram starting at a marked position covers it."""
    running = np.concatenate(([0], np.cumsum(starts)))
    chars = np.arange(len(starts) + n - 1)
    return running[np.minimum(chars + 1, len(starts))] > running[np.maximum(chars - n + 1, 0)]


class _Judge:
    """Computes a pair's evidence from exact n-gram sets; a training item's sets are built once."""

    def __init__(self, train: TrainSet, index: EvalIndex, evaluation: list[Question], config: LeakageConfig):
        self.train, self.index, self.evaluation, self.config = train, index, evaluation, config
        self._full: dict[int, np.ndarray] = {}
        self._own: dict[int, np.ndarray] = {}
        self._stems: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _stem(self, evaluated: int) -> tuple[np.ndarray, np.ndarray]:
        """The eval stem's n-gram at every position, and which of them are informative."""
        if evaluated not in self._stems:
            codes, _ = fold_segments([self.evaluation[evaluated].stem])
            hashes = rolling_hashes(codes, self.index.ngram)
            self._stems[evaluated] = hashes, ~member(hashes, self.index.boilerplate)
        return self._stems[evaluated]

    def stem_coverage(self, train_grams: np.ndarray, evaluated: int) -> float | None:
        """Share of the eval stem's distinctive characters inside n-grams the training text shares with it.

        Characters, not n-grams: one changed character costs one character here but n n-grams, so a lightly
        edited short stem still reads as the same stem, while a different vignette does not.
        """
        hashes, informative = self._stem(evaluated)
        if informative.sum() < self.config.min_shared_ngrams:
            return None
        shared = informative & member(hashes, train_grams)
        n = self.index.ngram
        return float(_spread(shared, n).sum() / _spread(informative, n).sum())

    def _grams(self, cache: dict[int, np.ndarray], position: int, parts: list[str]) -> np.ndarray:
        if position not in cache:
            cache[position] = self.index.informative(unique_grams(parts, self.index.ngram))
        return cache[position]

    def evidence(self, position: int, evaluated: int, shared: int) -> _Evidence:
        item, index = self.train.item(position), self.index
        stem_coverage = self.stem_coverage(self._grams(self._full, position, segments(item)), evaluated)
        jaccard = None
        if isinstance(item, Question):
            mine, theirs = self._grams(self._own, position, question_segments(item)), index.item_keys[evaluated]
            common = len(np.intersect1d(mine, theirs, assume_unique=True))
            jaccard = common / (len(mine) + len(theirs) - common) if common else 0.0
        return _Evidence(shared, shared / max(int(index.sizes[evaluated]), 1), stem_coverage, jaccard)

    def rule(self, evidence: _Evidence) -> Rule | None:
        config = self.config
        if evidence.stem_coverage is not None and evidence.stem_coverage < config.stem_threshold:
            return None
        if evidence.jaccard is not None and evidence.jaccard >= config.threshold:
            return "near_duplicate"
        if evidence.containment >= config.containment_threshold and evidence.shared >= config.min_shared_ngrams:
            return "containment"
        return None


def content_findings(
    train: TrainSet, index: EvalIndex, evaluation: list[Question], candidates: Candidates, config: LeakageConfig
) -> list[Finding]:
    """Judge each candidate pair: near-duplicate (questions: stem + choices) first, then containment."""
    judge = _Judge(train, index, evaluation, config)
    found = []
    for position, evaluated, shared in zip(
        candidates.train.tolist(), candidates.eval.tolist(), candidates.shared.tolist(), strict=True
    ):
        evidence = judge.evidence(position, evaluated, shared)
        rule = judge.rule(evidence)
        if rule is not None:
            found.append(_finding(train.item(position), index, evaluated, rule, evidence))
    return found


def _finding(item: Question | Passage, index: EvalIndex, evaluated: int, rule: Rule, evidence: _Evidence) -> Finding:
    similarity = evidence.jaccard if rule == "near_duplicate" else evidence.containment
    return Finding(
        train_qid=item_id(item),
        eval_qid=index.qids[evaluated],
        rule=rule,
        similarity=_round(similarity),
        containment=_round(evidence.containment),
        stem_coverage=None if evidence.stem_coverage is None else _round(evidence.stem_coverage),
        jaccard=None if evidence.jaccard is None else _round(evidence.jaccard),
        shared_ngrams=evidence.shared,
        eval_ngrams=int(index.sizes[evaluated]),
    )
