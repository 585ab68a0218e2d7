"""The guard itself: split questions by exam year, then scan training material against the evaluation set."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.progress import TaskProgressColumn

from medprefs.config import to_dict
from medprefs.console import announce, progress
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.leakage.config import LeakageConfig
from medprefs.leakage.findings import Finding, content_findings, is_undated, year_findings
from medprefs.leakage.highlight import PairView, pair_view
from medprefs.leakage.index import EvalIndex, unique_grams
from medprefs.leakage.items import Passage, TrainSet, segments
from medprefs.leakage.matcher import Candidates, MatchOptions, chunk_bounds, find_candidates, resolve_workers
from medprefs.leakage.report import LeakageReport

_PROGRESS_MIN_ITEMS = 20_000  # below this a scan takes about a second: no bar
_EXECUTION_ONLY = {"workers", "batch_chars", "max_report_pairs"}  # not part of the (hashed) result


def split_by_year(
    questions: Sequence[Question], config: LeakageConfig
) -> tuple[list[Question], list[Question], list[Question]]:
    """(train: year <= cut-off, eval: year in eval_years, undated). Years after the cut-off outside eval_years
    belong to neither side; they are announced, never silently counted as training."""
    train, evaluation, undated, neither = [], [], [], []
    eval_years = set(config.eval_years)
    for question in questions:
        if is_undated(question.year):
            undated.append(question)
        elif question.year <= config.cutoff_year:
            train.append(question)
        elif question.year in eval_years:
            evaluation.append(question)
        else:
            neither.append(question)
    if neither:
        years = sorted({q.year for q in neither})
        announce(f"{len(neither)} question(s) from {years} are after the cut-off but not evaluation years: left out")
    return train, evaluation, undated


def evaluation_side(questions: Sequence[Question], config: LeakageConfig) -> list[Question]:
    """The questions of an evaluation input that can be evaluation questions: those dated up to the cut-off are
    training material (a whole corpus may be given as the evaluation input) and are left out; undated and later ones
    are all kept, the strict side."""
    return [q for q in questions if is_undated(q.year) or q.year > config.cutoff_year]


def _candidates(train: TrainSet, index: EvalIndex, config: LeakageConfig, show: bool) -> Candidates:
    options = MatchOptions(
        floor=min(config.threshold, config.containment_threshold),
        min_shared=config.min_shared_ngrams,
        small_items=train.count(Question) > 0,
    )
    bounds = chunk_bounds(train.chars(), config.batch_chars)
    workers = resolve_workers(config.workers)
    if not show or len(train) < _PROGRESS_MIN_ITEMS:
        return find_candidates(index, train.segments, bounds, options, workers)
    with progress(TaskProgressColumn()) as bar:
        task = bar.add_task("leakage scan", total=len(train))
        return find_candidates(index, train.segments, bounds, options, workers, lambda done: bar.advance(task, done))


def _views(
    findings: list[Finding], train: TrainSet, evaluation: list[Question], index: EvalIndex, limit: int
) -> dict[tuple[str, str], PairView]:
    """Highlighted side-by-side texts of the first `limit` flagged pairs."""
    shown = [f for f in findings if f.eval_qid][:limit]
    by_id = train.find({f.train_qid for f in shown})
    eval_position = {q.qid: i for i, q in enumerate(evaluation)}
    views = {}
    for finding in shown:
        item, position = by_id[finding.train_qid], eval_position[finding.eval_qid]
        shared = np.intersect1d(unique_grams(segments(item), index.ngram), index.item_keys[position])
        views[(finding.train_qid, finding.eval_qid)] = pair_view(item, evaluation[position], shared, index.ngram)
    return views


def _counts(train: TrainSet, index: EvalIndex, findings: list[Finding], config: LeakageConfig) -> dict[str, Any]:
    rules = Counter(f.rule for f in findings)
    return {
        "train_items": len(train),
        "train_questions": train.count(Question),
        "train_passages": train.count(Passage),
        "eval_items": len(index.qids),
        "flagged": len(findings),
        "flagged_train_items": len({f.train_qid for f in findings}),
        "flagged_eval_items": len({f.eval_qid for f in findings if f.eval_qid}),
        **{f"rule_{rule}": rules.get(rule, 0) for rule in ("year", "undated", "near_duplicate", "containment")},
        "eval_ngrams": int(index.sizes.sum()),
        "boilerplate_ngrams": len(index.boilerplate),
        # Eval items with less distinctive text than min_shared_ngrams: only the near-duplicate rule can catch them.
        "eval_items_short": int(((index.sizes > 0) & (index.sizes < config.min_shared_ngrams)).sum()),
        "eval_items_without_content": int((index.sizes == 0).sum()),
    }


def scan(
    train: Sequence[Question | Passage | str],
    eval: Sequence[Question],
    config: LeakageConfig | None = None,
    *,
    sources: dict[str, Any] | None = None,
    show_progress: bool = True,
) -> LeakageReport:
    """Check every training item against every evaluation question, by exam year and by content.

    `train` is exam questions (stem, choices and explanation are all checked), passages of text (CPT documents),
    or plain strings (passages named p0, p1, ... by position).
    """
    config = config or LeakageConfig()
    items = TrainSet(train)
    evaluation = list(eval)
    if not evaluation:
        raise MedprefsError("the evaluation set is empty: a scan against nothing proves nothing")
    if not all(isinstance(q, Question) for q in evaluation):
        raise MedprefsError("evaluation items must be Questions")
    if len({q.qid for q in evaluation}) != len(evaluation):
        raise MedprefsError("evaluation set: duplicate qids")
    index = EvalIndex.build(evaluation, config)
    candidates = _candidates(items, index, config, show_progress)
    findings = year_findings(items, config) + content_findings(items, index, evaluation, candidates, config)
    return LeakageReport(
        verdict="fail" if findings else "pass",
        flagged=findings,
        counts=_counts(items, index, findings, config),
        config={k: v for k, v in to_dict(config).items() if k not in _EXECUTION_ONLY},
        sources=dict(sources or {}),
        views=_views(findings, items, evaluation, index, config.max_report_pairs),
    )
