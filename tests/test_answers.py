"""Answer extraction over a table of varied model outputs, and grading by set equality / digit strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medprefs.answers import (
    UNPARSEABLE,
    Extraction,
    accepted_values,
    extract_answer,
    grade,
    normalize_value,
)
from medprefs.corpus.question import Question

CASES = [json.loads(line) for line in (Path(__file__).parent / "fixtures/labeling/extraction_cases.jsonl").open()]


def make_question(kind: str | None = "choice", answer=("c",), accepted=None, points: int = 1) -> Question | None:
    if kind is None:
        return None
    choices = ["選択肢"] * 5 if kind == "choice" else []
    return Question(
        qid="100A1", year=2006, stem="問題文", choices=choices, answer=list(answer), answer_kind=kind,
        accepted=accepted or [], points=points,
    )


def test_the_table_is_large_and_varied():
    assert len(CASES) >= 80
    statuses = {case["status"] for case in CASES}
    assert statuses == {"ok", "unparseable", "ambiguous"}
    assert sum(case["kind"] == "numeric" for case in CASES) >= 5
    assert sum("," in (case["value"] or "") for case in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['note']}" for i, c in enumerate(CASES)])
def test_extraction_table(case):
    result = extract_answer(case["text"], make_question(case["kind"]))
    assert (result.value, result.status) == (case["value"], case["status"])
    if result.status == "ok" and case["kind"] != "numeric" and result.value and result.value[0].isalpha():
        assert ",".join(result.letters) == result.value


def test_ambiguous_keeps_the_letters_it_saw_but_no_value():
    result = extract_answer(" 説明。\n答え: aまたはc", make_question())
    assert result == Extraction(None, ("a", "c"), "ambiguous")


def test_letters_in_the_explanation_never_become_the_answer():
    text = " aは誤り、bは誤り、cは正しい、dは誤り、eは誤り。"
    assert extract_answer(text, make_question()) == UNPARSEABLE


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a,c", True), ("c,a", True), ("C, A", True), ("ａ，ｃ", True), ("a", False), ("a,c,e", False), ("b,d", False)],
)
def test_grade_multi_answer_by_set_equality(value, expected):
    question = make_question(answer=("a", "c"))
    assert grade(value, question) is expected


def test_grade_numeric_compares_digit_strings():
    question = make_question("numeric", answer=("21",))
    assert grade("21", question)
    assert grade("2.1", question)
    assert grade(extract_answer(" 2.1となる。\n答え: 2.1", question), question)
    assert not grade("12", question)
    assert not grade("210", question)


def test_grade_accepts_either_alternative():
    question = make_question(answer=("a",), accepted=[["a"], ["d"]])
    assert accepted_values(question) == ["a", "d"]
    assert grade("a", question) and grade("d", question)
    assert not grade("a,d", question)
    assert not grade("a or d", question)  # a hedge is not an answer, even when both are accepted


def test_grade_never_counts_an_unread_answer():
    question = make_question(answer=("c",))
    assert not grade(None, question)
    assert not grade(UNPARSEABLE, question)
    assert not grade(Extraction("c", ("c",), "unparseable"), question)
    assert not grade(Extraction(None, ("c",), "ambiguous"), question)
    assert not grade("わかりません", question)


def test_zero_point_questions_are_still_graded():
    # exclusion is the labeller's decision; the grader answers only "does it match"
    question = make_question(answer=("b",), points=0)
    assert question.excluded and grade("b", question)


def test_normalize_value():
    assert normalize_value("C, A") == "a,c"
    assert normalize_value("２.１", "numeric") == "21"
    assert normalize_value("a or c") is None
    assert normalize_value("pneumonia") is None


@given(
    letters=st.sets(st.sampled_from("abcde"), min_size=1, max_size=3),
    separator=st.sampled_from([",", ", ", "、", "，", " ", "と", " および ", " and "]),
    keyword=st.sampled_from(["答え: ", "答え：", "答えは", "正解: ", "解答: ", "Answer: ", "**答え:** "]),
    decorate=st.sampled_from(["{}", "({})", "**{}**", "{}です。", "「{}」"]),
    width=st.booleans(),
    upper=st.booleans(),
    explanation=st.text(alphabet="abcdeあいう。、 は誤り", max_size=40),
)
def test_any_formatted_answer_line_reads_back(letters, separator, keyword, decorate, width, upper, explanation):
    ordered = sorted(letters, reverse=True)
    written = [x.upper() if upper else x for x in ordered]
    if width:
        written = [chr(ord(x) + 0xFEE0) for x in written]  # full-width forms
    text = f" {explanation}\n{keyword}{decorate.format(separator.join(written))}"
    result = extract_answer(text, make_question(answer=tuple(sorted(letters))))
    assert result.status == "ok" and result.value == ",".join(sorted(letters))
