"""Answer extraction over a table of varied model outputs, and grading by set equality / digit strings."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
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
    slot_layout,
)
from medprefs.corpus.question import Question

CASES = [json.loads(line) for line in (Path(__file__).parent / "fixtures/labeling/extraction_cases.jsonl").open()]


def make_question(
    kind: str | None = "choice", answer=("c",), accepted=None, points: int = 1, qid: str = "100A1", stem: str = "問題文"
) -> Question | None:
    if kind is None:
        return None
    choices = ["選択肢"] * 5 if kind == "choice" else []
    return Question(
        qid=qid, year=2006, stem=stem, choices=choices, answer=list(answer), answer_kind=kind,
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


@pytest.mark.parametrize(
    ("boxes", "gold", "right", "wrong"),
    [
        # slot digits or the number they make; the decimal point must sit where the boxes put it
        ("①.②", "21", ["21", "2.1", "2.10", "２．１"], ["12", "210", "21.0", "0.21", "2"]),
        ("①②", "60", ["60", "60.0", "060"], ["6.0", "6", "600"]),
        ("①②.③", "529", ["529", "52.9", "52.90"], ["5.29", "529.0", "53"]),
        ("①.②", "30", ["30", "3.0", "3"], ["0.3", "30.0"]),
        (None, "1200", ["1200", "1,200", "1200.0"], ["1.2", "120.0"]),  # no boxes in the stem: a whole number
    ],
)
def test_grade_numeric_by_the_answer_boxes(boxes, gold, right, wrong):
    stem = f"計算せよ。解答: {boxes}" if boxes else "計算せよ。"
    question = make_question("numeric", answer=(gold,), stem=stem)
    assert [value for value in right if not grade(value, question)] == []
    assert [value for value in wrong if grade(value, question)] == []


def test_grade_numeric_reads_the_answer_line():
    question = make_question("numeric", answer=("21",), stem="解答: ①.②")
    assert grade(extract_answer(" 2.1となる。\n答え: 2.1", question), question)
    assert slot_layout("解答: ①②.③") == (2, 1) and slot_layout("解答: ①②") == (2, 0) and slot_layout("なし") is None


@pytest.mark.parametrize(
    "line",
    ["答え: 52.9", "答え: ①②.③ = 52.9", "答え: ①②.③ → 52.9 mg/dL", "答えは①②.③は52.9", "答え: 52.9 (①②.③)",
     "答え: ①5 ②2 ③9", "答え: ①=5, ②=2, ③=9"],
)
def test_answer_boxes_written_in_the_answer_are_not_read_as_digits(line):
    # NFKC turns ① into 1: "①②.③ = 52.9" read as 12.3, "①=5, ②=2, ③=9" as 1
    question = make_question("numeric", answer=("529",), stem="計算せよ。解答: ①②.③")
    result = extract_answer(f" 説明。\n{line}", question)
    assert result.status == "ok" and grade(result, question)


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
    assert normalize_value("２.１", "numeric") == "2.1" and normalize_value("02.10", "numeric") == "2.1"
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


REALISTIC = [
    # options written together: the product promises "ac" as well as "a,c" and "a、c"
    (" 説明。\n答え: ac", "choice", "a,c", "ok"),
    (" 説明。\n答え: ａｃ", "choice", "a,c", "ok"),
    (" 説明。\n答えはbdeである。", "choice", "b,d,e", "ok"),
    (" ac", "choice", "a,c", "ok"),
    (" 説明。\n答え: ca", "choice", None, "unparseable"),  # only in order: not a word that happens to be letters
    # the nakaguro is a Japanese list separator; "又は" a hedge written in kanji
    (" 説明。\n答え: a・c", "choice", "a,c", "ok"),
    (" 説明。\n答え: a及びc", "choice", "a,c", "ok"),
    (" 説明。\n答え: a又はc", "choice", None, "ambiguous"),
    # a letter glued to katakana or kanji is a term of the explanation, not an option
    (" 正解はB型肝炎ウイルスの再活性化である。", "choice", None, "unparseable"),
    (" 説明。\n答え: X線", "choice", None, "unparseable"),
    (" 説明。\n答えはTリンパ球", "choice", None, "unparseable"),
    (" 説明。\n答えはAB型", "choice", None, "unparseable"),
    (" 説明。\n答え: cが正しい。", "choice", "c", "ok"),
    # numeric answers with units, full-width digits, thousands separators
    (" 説明。\n答え: 12 mL", "numeric", "12", "ok"),
    (" 説明。\n答え: １２ｍＬ", "numeric", "12", "ok"),
    (" 説明。\n答え: 2.1 mg/dL", "numeric", "2.1", "ok"),
    (" 説明。\n答えは12 mLである。", "numeric", "12", "ok"),
    (" 12 ml", "numeric", "12", "ok"),
    (" 説明。\n答え: 1,200 mL", "numeric", "1200", "ok"),
    (" 説明。\n答え: 21 (2.1)", "numeric", None, "ambiguous"),  # slot digits or twenty-one: not read without boxes
    # two different numbers are a hedge, not the first of them
    (" 説明。\n答え: 12と13", "numeric", None, "ambiguous"),
    (" 説明。\n答え: 12、13", "numeric", None, "ambiguous"),
    (" 説明。\n答え: 12 or 13", "numeric", None, "ambiguous"),
    (" 説明。\n答え: 12～13 mL", "numeric", None, "ambiguous"),
    # a comma before the joining word: the last option must not be lost, nor a hedge read as its first option
    (" 説明。\nAnswer: a, c, and e", "choice", "a,c,e", "ok"),
    (" 説明。\n答え: a、およびc", "choice", "a,c", "ok"),
    (" 説明。\nAnswer: a, c, or e", "choice", None, "ambiguous"),
    (" 説明。\n答え: a、または c", "choice", None, "ambiguous"),
    # a denied option is not the answer; "one of c and d" is a hedge; "ではないか" (probably c) is not a denial
    (" 説明。\n答えは c ではなく d。", "choice", None, "unparseable"),
    (" 説明。\n答え: c, d ではない", "choice", None, "unparseable"),
    (" 説明。\n答えは 12 ではなく 13 mL", "numeric", None, "unparseable"),
    (" 説明。\n答え: c ではないかと考える", "choice", "c", "ok"),
    (" 説明。\n答え: cとdのどちらか", "choice", None, "ambiguous"),
    (" 説明。\n答え: c, d のいずれか", "choice", None, "ambiguous"),
    # LaTeX's answer box, as instruction-tuned models write it
    (" 説明。\n答え: $\\boxed{c}$", "choice", "c", "ok"),
    (" 説明。\n**Final answer:** \\boxed{a, c}", "choice", "a,c", "ok"),
    (" 説明。よって正解は \\boxed{c} である。", "choice", "c", "ok"),
    (" 説明。\n答え: \\boxed{52.9}", "numeric", "52.9", "ok"),
    ("\\boxed{e}", "choice", "e", "ok"),
]


@pytest.mark.parametrize(("text", "kind", "value", "status"), REALISTIC, ids=[r[0].split("\n")[-1] for r in REALISTIC])
def test_realistic_answers(text, kind, value, status):
    result = extract_answer(text, make_question(kind))
    assert (result.value, result.status) == (value, status)


def test_realistic_answers_are_graded_right():
    assert grade(extract_answer(" 説明。\n答え: ac", make_question()), make_question(answer=("a", "c")))
    assert grade(extract_answer(" 説明。\n答え: a・c", make_question()), make_question(answer=("a", "c")))
    assert not grade(extract_answer(" 正解はB型肝炎である。", make_question()), make_question(answer=("b",)))
    numeric = make_question("numeric", answer=("12",))
    assert grade(extract_answer(" 説明。\n答え: 12 mL", numeric), numeric)
    assert not grade(extract_answer(" 説明。\n答え: 12と13", numeric), numeric)  # a hedge never counts as correct
    assert grade("１２ｍＬ", numeric)
    assert normalize_value("a・c") == "a,c" and normalize_value("12と13", "numeric") is None


def test_realistic_answers_label_the_same_through_polars():
    from medprefs.labeling import label_responses

    questions = [make_question(kind, qid=f"Q{i}") for i, (_, kind, _, _) in enumerate(REALISTIC)]
    frame = pl.DataFrame({"qid": [q.qid for q in questions], "sample_idx": [0] * len(questions),
                          "text": [text for text, *_ in REALISTIC]})
    labels = label_responses(frame, questions, show_progress=False)
    by_qid = dict(zip(labels["qid"], zip(labels["extracted"], labels["status"], strict=True), strict=True))
    assert [by_qid[q.qid] for q in questions] == [(value, status) for _, _, value, status in REALISTIC]
