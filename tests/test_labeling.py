"""Labeling: the vectorised path agrees with extract_answer + grade row by row; counts, exclusion, files, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medprefs.answers import ANSWER_LINES, LABELLED_LINES, answer_lines, extract_answer, grade, labelled_lines
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.labeling import label_counts, label_responses, read_labels, write_labels
from medprefs.manifest import read_manifest, sha256_file

FIXTURES = Path(__file__).parent / "fixtures/labeling"
CASES = [json.loads(line) for line in (FIXTURES / "extraction_cases.jsonl").open()]


def question(qid: str, kind: str = "choice", answer=("c",), points: int = 1, accepted=None) -> Question:
    choices = ["x"] * 5 if kind == "choice" else []
    stem = "s 解答: ①.②" if kind == "numeric" else "s"  # a numeric answer's boxes: one digit, a point, one digit
    return Question(qid=qid, year=2010, stem=stem, choices=choices, answer=list(answer), answer_kind=kind,
                    points=points, accepted=accepted or [])


def responses_frame(rows: list[tuple[str, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"qid": [r[0] for r in rows], "sample_idx": [r[1] for r in rows], "prompt": ["p"] * len(rows),
         "text": [r[2] for r in rows], "finish_reason": ["stop"] * len(rows), "n_tokens": [1] * len(rows)}
    )


@pytest.fixture
def table_questions() -> list[Question]:
    return [
        question("C1", answer=("c",)),
        question("C2", answer=("a", "c")),
        question("C3", answer=("a",), accepted=[["a"], ["d"]]),
        question("N1", kind="numeric", answer=("21",)),
        question("Z0", answer=("b",), points=0),
    ]


def test_vectorised_labels_equal_the_row_by_row_reference(table_questions):
    by_qid = {q.qid: q for q in table_questions}
    rows = []
    for i, case in enumerate(CASES):
        qids = ["N1"] if case["kind"] == "numeric" else ["C1", "C2", "C3", "Z0"]
        rows.extend((qid, i, case["text"]) for qid in qids)
    labels = label_responses(responses_frame(rows), table_questions, show_progress=False)
    assert labels.columns == ["qid", "sample_idx", "extracted", "status", "correct", "excluded"]
    assert labels.select("qid", "sample_idx").rows() == sorted((qid, idx) for qid, idx, _ in rows)  # input unsorted
    expected = {}
    for qid, idx, text in rows:
        extraction = extract_answer(text, by_qid[qid])
        expected[(qid, idx)] = (extraction.value, extraction.status, grade(extraction, by_qid[qid]), qid == "Z0")
    got = {(r[0], r[1]): r[2:] for r in labels.iter_rows()}
    assert got == expected
    assert labels["correct"].sum() > 10 and (labels["status"] == "ambiguous").sum() > 5


def test_grading_and_exclusion(table_questions):
    rows = [("C1", 0, " 説明\n答え: c"), ("C1", 1, " 説明\n答え: a"), ("C2", 0, " x\n答え: c, a"),
            ("C2", 1, " x\n答え: a"), ("C3", 0, " x\n答え: d"), ("N1", 0, " x\n答え: 2.1"), ("Z0", 0, " x\n答え: b"),
            ("C1", 2, " わかりません")]
    labels = label_responses(responses_frame(rows), table_questions, show_progress=False)
    table = {(r["qid"], r["sample_idx"]): r for r in labels.iter_rows(named=True)}
    assert [table[("C1", i)]["correct"] for i in range(3)] == [True, False, False]
    assert table[("C1", 2)]["status"] == "unparseable" and table[("C1", 2)]["extracted"] is None
    assert table[("C2", 0)]["correct"] and not table[("C2", 1)]["correct"]
    assert table[("C3", 0)]["correct"] and table[("N1", 0)]["extracted"] == "2.1" and table[("N1", 0)]["correct"]
    assert table[("Z0", 0)]["excluded"] and table[("Z0", 0)]["correct"]
    counts = label_counts(labels)
    assert counts["responses"] == 8 and counts["excluded"] == 1
    assert counts["correct"] == 4 and counts["incorrect"] == 3  # the excluded row is not scored
    assert counts["status"] == {"ok": 7, "unparseable": 1, "ambiguous": 0}


def test_unknown_qid_and_duplicate_rows_are_one_line_errors(table_questions):
    with pytest.raises(MedprefsError, match="not in the corpus.*'X9'"):
        label_responses(responses_frame([("X9", 0, "c")]), table_questions, show_progress=False)
    with pytest.raises(MedprefsError, match="not unique"):
        label_responses(responses_frame([("C1", 0, "c"), ("C1", 0, "d")]), table_questions, show_progress=False)
    with pytest.raises(MedprefsError, match="missing column"):
        label_responses(pl.DataFrame({"qid": ["C1"]}), table_questions)


def test_write_and_read_labels(tmp_path, table_questions):
    labels = label_responses(responses_frame([("C1", 0, "答え: c"), ("C1", 1, "答え: b")]), table_questions,
                             show_progress=False)
    out = write_labels(labels, tmp_path / "labels", {"responses": {"path": "r", "manifest_sha256": "abc"}})
    frame, manifest = read_labels(out)
    assert frame.equals(labels)
    assert manifest == read_manifest(out)
    assert manifest["kind"] == "labels" and manifest["responses"]["manifest_sha256"] == "abc"
    assert manifest["counts"]["correct"] == 1 and manifest["counts"]["accuracy"] == 0.5
    assert manifest["files"]["labels.parquet"] == sha256_file(out / "labels.parquet")
    with pytest.raises(MedprefsError, match="not a labels folder"):
        read_labels(tmp_path)


@settings(max_examples=400)
@given(st.text(alphabet="答え正解解答aAnswerTHEFinalＡＮＳＷＥＲａｎｓｗｅｒſK最終的な\n\r :*＊#【（ 　c", max_size=40))
def test_polars_line_selections_equal_the_python_ones(text):
    for pattern, python in ((ANSWER_LINES, answer_lines), (LABELLED_LINES, labelled_lines)):
        polars_lines = pl.Series([text]).str.extract_all(pattern).list.join("\n")[0]
        assert python(text) == polars_lines == "\n".join(re.findall(pattern, text))


FRAGMENTS = ["答え: c", "答え:", "正解はaである。", "説明。", "\n", "\n", " ", "c", "a, b", "**", "Answer: B", "答えはdです",
             "aまたはc", "【正解】e", "不正解はb", "ｃ", "21", "解答: 2.1", "the answer is a", "\r\n"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join), min_size=1, max_size=25))
def test_vectorised_labels_equal_extract_answer_on_random_texts(texts):
    questions = [question("C1", answer=("c",)), question("N1", kind="numeric", answer=("21",))]
    rows = [(qid, i, text) for i, text in enumerate(texts) for qid in ("C1", "N1")]
    labels = label_responses(responses_frame(rows), questions, show_progress=False)
    by_qid = {q.qid: q for q in questions}
    for qid, idx, extracted, status, correct, _ in labels.iter_rows():
        expected = extract_answer(texts[idx], by_qid[qid])
        assert (extracted, status, correct) == (expected.value, expected.status, grade(expected, by_qid[qid]))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.with_columns(pl.col("correct").cast(pl.String)), "column correct is String, expected Boolean"),
        # a null `correct` would make the response rejected, a null `excluded` drop it: both silently
        (lambda f: f.with_columns(pl.lit(None, pl.Boolean).alias("correct")), "2 row.*first at row 0 .*'C1'"),
        (lambda f: f.with_columns(pl.lit(None, pl.Boolean).alias("excluded")), "2 row"),
        (lambda f: f.with_columns(pl.lit("weird").alias("status")), "status 'weird'"),
        (lambda f: f.with_columns(pl.lit(True).alias("correct")), r"1 row.*row 1 .*sample_idx 1, status 'unparseable'"),
    ],
)
def test_malformed_labels_are_refused_naming_the_file(tmp_path, table_questions, edit, message):
    labels = label_responses(responses_frame([("C1", 0, "答え: c"), ("C1", 1, "わかりません")]), table_questions,
                             show_progress=False)
    out = write_labels(labels, tmp_path / "labels", {})
    edit(labels).write_parquet(out / "labels.parquet")
    with pytest.raises(MedprefsError, match=f"labels.parquet: .*{message}"):
        read_labels(out)


def test_a_corrupt_labels_file_is_an_error_naming_it(tmp_path, table_questions):
    labels = label_responses(responses_frame([("C1", 0, "答え: c")]), table_questions, show_progress=False)
    out = write_labels(labels, tmp_path / "labels", {})
    (out / "labels.parquet").write_bytes(b"not parquet")
    with pytest.raises(MedprefsError, match="labels.parquet: not a readable Parquet file"):
        read_labels(out)


def test_labels_are_never_written_over_another_stage_folder(tmp_path, table_questions):
    labels = label_responses(responses_frame([("C1", 0, "答え: c")]), table_questions, show_progress=False)
    responses = tmp_path / "responses"
    responses.mkdir()
    (responses / "manifest.json").write_text('{"kind": "responses"}')
    with pytest.raises(MedprefsError, match="holds a 'responses' manifest"):
        write_labels(labels, responses, {})  # `medprefs label R --out R` replaced the responses manifest
    assert read_manifest(responses) == {"kind": "responses"} and not (responses / "labels.parquet").exists()
    write_labels(labels, tmp_path / "labels", {})
    write_labels(labels, tmp_path / "labels", {})  # labelling again into its own folder is fine
