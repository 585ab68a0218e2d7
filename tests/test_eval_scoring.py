"""IgakuQA-style scoring: the official strict rule, robust extraction, rulings, points and per-year tallies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medprefs.corpus.question import Question
from medprefs.errors import InputError, MedprefsError
from medprefs.eval import RULINGS, Ruling, grade_question, read_predictions, score_predictions, strict_match

CHOICES = ["甲", "乙", "丙", "丁", "戊"]


def _q(qid: str, answer: list[str], *, year: int = 2018, points: int = 1, **kw) -> Question:
    kw.setdefault("choices", CHOICES)
    return Question(qid=qid, year=year, stem=f"{qid}の問題文。", answer=answer, points=points, **kw)


TWO = _q("112A2", ["a", "c"])
NUMERIC = _q("112A3", ["2100"], choices=[], answer_kind="numeric")
EITHER = _q("112B2", ["a"], accepted=[["a"], ["d"]], points=3)  # the corpus reads ["a or d"] so


@pytest.mark.parametrize(
    ("question", "prediction", "strict", "robust"),
    [
        (TWO, "a,c", True, True),
        (TWO, "c,a", True, True),  # compared as sorted lists
        (TWO, "A,C", True, True),  # lower-cased
        (TWO, "ａ，ｃ", True, True),  # full width (letters and comma) -> half width
        (TWO, "a, c", False, True),  # the official rule strips nothing
        (TWO, "a,c ", False, True),
        (TWO, "答え: a,c", False, True),  # an answer statement is read in robust mode only
        (TWO, "a、c", False, True),  # a Japanese comma is a separator only for the extraction
        (TWO, "a", False, False),  # one of two correct letters is wrong
        (TWO, "a,c,d", False, False),
        (TWO, "a,c,", False, False),
        (TWO, "", False, False),
        (NUMERIC, "2100", True, True),
        (NUMERIC, "２１００", True, True),
        (NUMERIC, "2101", False, False),
        (EITHER, "a", True, True),  # ["a or d"] accepts either letter...
        (EITHER, "d", True, True),
        (EITHER, "a,d", False, False),  # ...but not both
        (EITHER, "a or d", False, False),
    ],
)
def test_each_rule_in_both_modes(question: Question, prediction: str, strict: bool, robust: bool):
    for mode, expected in (("strict", strict), ("robust", robust)):
        result = grade_question(question, prediction, prediction, mode)
        assert result.correct is expected, (mode, prediction)
        assert result.points == (question.points if expected else 0)


def test_all_correct_ruling_is_data_applied_in_both_modes_even_without_a_prediction():
    ruled = _q("116A71", ["d"], year=2022)
    assert RULINGS["116A71"].kind == "all_correct"
    for mode in ("strict", "robust"):
        assert grade_question(ruled, "b", "b", mode).correct
        assert grade_question(ruled, None, None, mode).ruling == "all_correct"
        report = score_predictions([ruled], {}, mode)
        assert (report.overall.points, report.overall.correct) == (1, 1)
        assert not grade_question(ruled, "b", "b", mode, rulings={}).correct  # the table is what decides
    other = _q("113C9", ["a"])
    assert grade_question(other, "e", "e", "strict", rulings={"113C9": Ruling("all_correct", "test")}).correct


# The tests/fixtures/eval/igakuqa questions and predictions.jsonl, written out by hand:
# qid     year gold    points prediction  strict robust
# 112A1   2018 c       1      "c"         1      1
# 112A2   2018 a,c     1      "c,a"       1      1
# 112A3   2018 2100    1      "２１００"   1      1
# 112A4   2018 b       0      "b"         0 (correct, excluded)
# 112B1   2018 e       3      "E"         3      3   (prohibited b: not picked)
# 112B2   2018 a|d     3      "d"         3      3
# 112B3   2018 b       3      "a"         0      0   (image question; prohibited a: picked)
# 116A1   2022 a       1      "a "        0      1
# 116A2   2022 c,e     1      "c, e"      0      1
# 116A71  2022 d       1      "b"         1      1   (ruling: all correct)
FIXTURE = [
    _q("112A1", ["c"]),
    TWO,
    NUMERIC,
    _q("112A4", ["b"], points=0),
    _q("112B1", ["e"], points=3, prohibited=["b"]),
    EITHER,
    _q("112B3", ["b"], points=3, has_image=True, prohibited=["a"]),
    _q("116A1", ["a"], year=2022),
    _q("116A2", ["c", "e"], year=2022),
    _q("116A71", ["d"], year=2022),
]
PREDICTIONS = {
    "112A1": "c",
    "112A2": "c,a",
    "112A3": "２１００",
    "112A4": "b",
    "112B1": "E",
    "112B2": "d",
    "112B3": "a",
    "116A1": "a ",
    "116A2": "c, e",
    "116A71": "b",
}


def test_fixture_strict_scores_by_hand():
    report = score_predictions(FIXTURE, PREDICTIONS, "strict")
    prohibited = {"prohibited_picked": 1, "prohibited_questions": 2}
    assert report.to_dict() == {
        "overall": {"points": 10, "possible": 15, "score": 10 / 15, "correct": 7, "count": 10, "accuracy": 0.7}
        | prohibited,
        "per_year": {
            "2018": {"points": 9, "possible": 12, "score": 0.75, "correct": 6, "count": 7, "accuracy": 6 / 7}
            | prohibited,
            "2022": {"points": 1, "possible": 3, "score": 1 / 3, "correct": 1, "count": 3, "accuracy": 1 / 3}
            | {"prohibited_picked": 0, "prohibited_questions": 0},
        },
    }
    excluded = next(row for row in report.rows if row.qid == "112A4")
    assert (excluded.correct, excluded.points, excluded.possible) == (True, 0, 0)  # in accuracy, not in points


def test_fixture_robust_scores_by_hand():
    report = score_predictions(FIXTURE, PREDICTIONS, "robust")
    assert report.overall.to_dict() == {
        "points": 12,
        "possible": 15,
        "score": 0.8,
        "correct": 9,
        "count": 10,
        "accuracy": 0.9,
        "prohibited_picked": 1,
        "prohibited_questions": 2,
    }
    assert report.per_year[2022].to_dict()["score"] == 1.0
    assert {row.qid: row.extracted for row in report.rows}["116A2"] == "c,e"


def test_per_question_rows_say_what_was_compared():
    rows = {row.qid: row.to_dict() for row in score_predictions(FIXTURE, PREDICTIONS, "strict").rows}
    assert rows["112A3"] == {
        "qid": "112A3",
        "year": 2018,
        "extracted": "2100",
        "correct": True,
        "points": 1,
        "possible": 1,
    }
    assert rows["116A2"]["extracted"] == "c, e" and rows["116A2"]["correct"] is False
    assert rows["116A71"]["ruling"] == "all_correct"
    assert rows["112B3"]["prohibited_picked"] == ["a"] and rows["112B1"]["prohibited_picked"] == []
    assert "prohibited_picked" not in rows["112A1"]  # a question without prohibited choices says nothing of them


@pytest.mark.parametrize(
    ("prediction", "strict_picked", "robust_picked"),
    [
        ("a,e", ("e",), ("e",)),  # wrong and prohibited: counted whatever the score
        ("ｅ", ("e",), ("e",)),  # full width
        ("a, e", ("e",), ("e",)),  # not an answer under the strict rule, still a prohibited choice named
        ("答え: e", (), ("e",)),  # an answer statement is read by the robust rule only
        ("a,c", (), ()),
        ("", (), ()),
    ],
)
def test_a_prohibited_choice_in_the_answer_read_is_counted(prediction, strict_picked, robust_picked):
    question = _q("113A9", ["a", "c"], prohibited=["d", "e"])
    for mode, expected in (("strict", strict_picked), ("robust", robust_picked)):
        result = grade_question(question, prediction, prediction, mode)
        assert result.prohibited_picked == expected, mode
        report = score_predictions([question], {"113A9": prediction}, mode)
        assert (report.overall.prohibited_picked, report.overall.prohibited_questions) == (len(expected) > 0, 1)


def test_missing_predictions_count_wrong_and_unknown_ones_are_listed():
    predictions = {"112A1": "c", "999Z1": "a"}
    report = score_predictions(FIXTURE[:2], predictions, "strict")
    assert report.missing == ["112A2"] and report.unknown == ["999Z1"]
    assert (report.overall.points, report.overall.possible, report.overall.count) == (1, 2, 2)


def test_a_benchmark_with_a_repeated_qid_is_refused():
    with pytest.raises(MedprefsError, match="112A1 more than once"):
        score_predictions([FIXTURE[0], FIXTURE[0]], {}, "strict")


def test_read_predictions_accepts_problem_id_null_and_numbers(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"problem_id": "112A1", "prediction": "c"},
        {"qid": "112A3", "prediction": 2100},
        {"qid": "x", "prediction": None},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert read_predictions(path) == {"112A1": "c", "112A3": "2100", "x": ""}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"p.jsonl:2: not valid JSON"),
        ('{"prediction": "a"}', r"p.jsonl:2: field 'qid'"),
        ('{"qid": "112A1"}', r"p.jsonl:2: field 'prediction': missing"),
        ('{"qid": "112A2", "prediction": ["a"]}', r"p.jsonl:2: field 'prediction': expected a string"),
        ('{"qid": "112A1", "prediction": "b"}', r"p.jsonl:2: field 'qid': second prediction for 112A1"),
        ('{"qid": "112A2", "raw": "a"}', r"p.jsonl:2: field 'mode': expected plain or explain"),
    ],
)
def test_read_predictions_names_file_line_and_field(tmp_path, line: str, message: str):
    path = tmp_path / "p.jsonl"
    path.write_text('{"qid": "112A1", "prediction": "a"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_predictions(path)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abcdeABＡｂ,，、 :答え\n2１0", max_size=12), st.sampled_from([TWO, NUMERIC, EITHER]))
def test_robust_accepts_whatever_strict_accepts(prediction: str, question: Question):
    if strict_match(prediction, question):
        assert grade_question(question, prediction, prediction, "robust").correct
