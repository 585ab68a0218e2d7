"""The guard's judgement: planted near-duplicates of every kind are caught, distinct same-topic questions are not."""

from __future__ import annotations

import dataclasses
import json
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.leakage import LeakageConfig, Passage, read_passages, scan, split_by_year
from medprefs.leakage.index import EvalIndex, question_segments, unique_grams
from medprefs.leakage.items import TrainSet, segments
from medprefs.leakage.matcher import MatchOptions, chunk_bounds, find_candidates
from medprefs.sample_data import sample_corpus_path

FIXTURES = Path(__file__).parent / "fixtures" / "leakage"


def load(path: Path) -> list[Question]:
    return [Question(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def evaluation() -> list[Question]:
    return load(FIXTURES / "eval.jsonl")


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    planted = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["planted"]
    return {row["train"]: row["eval"] for row in planted}


def pairs(report) -> set[tuple[str, str | None]]:
    return {(f.train_qid, f.eval_qid) for f in report.flagged}


def test_every_planted_near_duplicate_is_caught_and_nothing_else(evaluation, expected):
    planted = load(FIXTURES / "planted.jsonl") + read_passages(FIXTURES / "passages.jsonl")
    report = scan(planted, evaluation, show_progress=False)
    assert pairs(report) == set(expected.items())
    assert report.verdict == "fail"
    rules = {f.train_qid: f.rule for f in report.flagged}
    assert rules["111C8"] == "near_duplicate"  # choices reordered: the same question
    assert rules["106A3"] == "containment"  # its explanation quotes the eval question
    assert rules["cpt-pneumonia-verbatim"] == "containment"


def test_distinct_questions_on_the_same_topic_pass(evaluation):
    distinct = load(FIXTURES / "distinct.jsonl") + read_passages(FIXTURES / "distinct_passages.jsonl")
    report = scan(distinct, evaluation, show_progress=False)
    assert report.verdict == "pass", report.flagged
    assert report.gate_record()["flagged"] == 0


def test_same_choices_under_a_different_vignette_is_held_back_by_the_stem(evaluation):
    # 111E20 lists the same five organisms as 116C60 under another vignette: 52% of 116C60's n-grams, but little
    # of its stem.
    distinct = {q.qid: q for q in load(FIXTURES / "distinct.jsonl")}
    loose = LeakageConfig(stem_threshold=0.01)
    assert ("111E20", "116C60") in pairs(scan([distinct["111E20"]], evaluation, loose, show_progress=False))
    assert scan([distinct["111E20"]], evaluation, show_progress=False).verdict == "pass"


def test_the_sample_corpus_planted_pairs_are_the_only_findings():
    questions = load(sample_corpus_path())
    train, evaluation, undated = split_by_year(questions, LeakageConfig())
    assert len(train) == 54 and len(evaluation) == 22 and undated == []
    report = scan(train, evaluation, show_progress=False)
    assert pairs(report) == {("111A23", "112C15"), ("111B12", "112D8")}
    assert {f.rule for f in report.flagged} == {"near_duplicate"}


def _edited(question: Question, changes: int, rng: np.random.Generator, qid: str) -> Question:
    chars = list(question.stem)
    for position in rng.choice(len(chars), changes, replace=False):
        chars[position] = "鬱" if chars[position] != "鬱" else "龍"
    order = rng.permutation(len(question.choices))
    return Question(qid=qid, year=2010, stem="".join(chars), choices=[question.choices[i] for i in order], answer=["a"])


def test_one_or_two_changed_characters_and_shuffled_choices_are_caught(evaluation):
    sample_eval = split_by_year(load(sample_corpus_path()), LeakageConfig())[1]
    targets = evaluation + [dataclasses.replace(q, qid="S" + q.qid) for q in sample_eval]
    rng = np.random.default_rng(0)
    variants = [
        (_edited(q, k, rng, f"V{k}-{i}-{r}"), q, k) for i, q in enumerate(targets) for k in (1, 2) for r in range(5)
    ]
    report = scan([v for v, _, _ in variants], targets, show_progress=False)
    found = pairs(report)
    assert {(f.train_qid, f.eval_qid) for f in report.flagged} <= {(v.qid, q.qid) for v, q, _ in variants}
    missed = [(q, k) for v, q, k in variants if (v.qid, q.qid) not in found]
    assert [k for _, k in missed if k == 1] == []  # every single-character edit
    # Two random edits can land inside the only content word of a very short stem (Parkinson病で... 2つ選べ):
    # with 5-grams that destroys most of what identifies the item. Allowed only there, and rarely.
    assert len(missed) <= len(variants) // 100
    assert all(len(q.stem) < 30 for q, _ in missed)


def test_any_choice_order_gives_the_same_similarity(evaluation):
    target = next(q for q in evaluation if q.qid == "115D30")
    similarities = set()
    for order in list(permutations(range(5)))[::17]:
        shuffled = Question(
            qid="X1", year=2015, stem=target.stem, choices=[target.choices[i] for i in order], answer=["a"]
        )
        (finding,) = scan([shuffled], [target], show_progress=False).flagged
        similarities.add(finding.similarity)
    assert similarities == {1.0}


def test_year_rule_flags_late_and_undated_questions(evaluation):
    late = Question(qid="113Z1", year=2019, stem="無関係な設問である。", choices=["甲", "乙"], answer=["a"])
    undated = Question(qid="Z2", year=0, stem="年の分からない設問である。", choices=["丙", "丁"], answer=["a"])
    dated_passage = Passage("notes-2020", "無関係な文章である。", year=2020)
    report = scan([late, undated, dated_passage], evaluation, show_progress=False)
    assert {(f.train_qid, f.rule) for f in report.flagged} == {
        ("113Z1", "year"),
        ("Z2", "undated"),
        ("notes-2020", "year"),
    }
    assert report.counts["rule_year"] == 2 and report.counts["rule_undated"] == 1


def test_split_by_year_keeps_the_cutoff_and_announces_unknown_years():
    def question(qid: str, year: int) -> Question:
        return Question(qid=qid, year=year, stem="s", choices=["a"], answer=["a"])

    config = LeakageConfig(cutoff_year=2017, eval_years=[2018, 2019])
    train, evaluation, undated = split_by_year(
        [question("a", 2017), question("b", 2018), question("c", 2020), question("d", 0), question("e", 2010)], config
    )
    assert (
        [q.qid for q in train] == ["a", "e"]
        and [q.qid for q in evaluation] == ["b"]
        and [q.qid for q in undated] == ["d"]
    )


def test_config_rejects_a_split_that_would_leak():
    with pytest.raises(MedprefsError, match="not after cutoff_year"):
        LeakageConfig(cutoff_year=2018, eval_years=[2018, 2019])
    with pytest.raises(MedprefsError, match="threshold"):
        LeakageConfig(threshold=0.0)


def test_plain_strings_are_passages_named_by_position(evaluation):
    quote = evaluation[0].stem + " " + " ".join(evaluation[0].choices)
    report = scan(["全く関係のない文章。" * 20, "前置き。" + quote + "後書き。"], evaluation, show_progress=False)
    assert pairs(report) == {("p1", evaluation[0].qid)}


def test_bad_inputs_are_one_line_errors(evaluation):
    with pytest.raises(MedprefsError, match="expected a Question, Passage or str"):
        scan([1234], evaluation, show_progress=False)
    with pytest.raises(MedprefsError, match="duplicate"):
        scan([Passage("a", "x"), Passage("a", "y")], evaluation, show_progress=False)
    with pytest.raises(MedprefsError, match="evaluation set is empty"):
        scan(["x"], [], show_progress=False)
    with pytest.raises(MedprefsError, match="duplicate qids"):
        scan(["x"], evaluation + evaluation[:1], show_progress=False)


def _brute_force(train: TrainSet, index: EvalIndex, floor: float, min_shared: int) -> set[tuple[int, int, int]]:
    found = set()
    for position in range(len(train)):
        grams = index.informative(unique_grams(segments(train.item(position)), index.ngram))
        for evaluated, keys in enumerate(index.item_keys):
            shared = len(np.intersect1d(grams, keys))
            if shared and shared >= max(min_shared, floor * len(keys) - 1e-9):
                found.add((position, evaluated, shared))
    return found


@pytest.mark.parametrize("workers", [1, 2])
def test_vectorised_candidates_equal_brute_force_counts(evaluation, workers):
    rng = np.random.default_rng(7)
    texts = []
    for _ in range(60):  # pieces of eval questions glued into random order: many partial overlaps
        picks = rng.choice(len(evaluation), 3)
        pieces = [part for i in picks for part in question_segments(evaluation[i])]
        texts.append("".join(pieces[j] for j in rng.permutation(len(pieces))[: int(rng.integers(2, 9))]))
    train = TrainSet(texts)
    index = EvalIndex.build(evaluation, LeakageConfig())
    options = MatchOptions(floor=0.2, min_shared=3, small_items=False)
    bounds = chunk_bounds(train.chars(), 2000)
    assert len(bounds) > 3
    found = find_candidates(index, train.segments, bounds, options, workers)
    got = set(zip(found.train.tolist(), found.eval.tolist(), found.shared.tolist(), strict=True))
    assert got == _brute_force(train, index, 0.2, 3)
    assert len(got) > 20
