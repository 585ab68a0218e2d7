"""Bad rows: every one rejected with file, line, field and reason; counts always reconcile; nothing crashes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medprefs.corpus import collector, read_questions
from medprefs.corpus.validate import RowError, parse_answer

MESSY = Path(__file__).parent / "fixtures" / "corpus" / "messy"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_messy_jsonl_every_bad_row_named():
    result = read_questions([MESSY / "messy.jsonl"])
    # 17 lines, one blank (not a row): 16 read.
    assert (result.read, result.accepted, result.rejected) == (16, 3, 13)
    assert sorted(q.qid for q in result.questions) == ["114A1", "114A11", "114A17"]
    found = {reject.line: (reject.field, reject.reason) for reject in result.rejects}
    assert found[2][0] is None and found[2][1].startswith("malformed JSON")
    assert found[3] == ("answer", "missing")
    assert found[4] == ("answer", "'f' is not among the choices a-e")
    assert found[5][0] == "year" and "contradicts exam 114" in found[5][1]
    assert found[6] == ("year", "expected an integer, got str 'twenty'")
    assert found[7][0] == "choices" and "expected a list of strings" in found[7][1]
    assert found[8] == ("stem", "is empty")
    assert found[10] == (None, "expected an object, got list")
    assert found[12][0] == "qid" and "identical content" in found[12][1] and "messy.jsonl:11" in found[12][1]
    assert found[13][0] == found[14][0] == "qid" and "different stem" in found[13][1]
    assert found[15] == ("points", "expected an integer, got float 1.5")
    assert found[16][0] == "answer" and "repeats a letter" in found[16][1]
    assert all(reject.file.endswith("messy.jsonl") and reject.raw for reject in result.rejects)


def test_messy_csv_rejects_name_the_physical_line():
    result = read_questions([MESSY / "messy.csv"])
    assert (result.read, result.accepted, result.rejected) == (6, 2, 4)
    multi_line = next(q for q in result.questions if q.qid == "115C2")
    assert multi_line.stem == "改行を含む\n問題文。" and multi_line.answer == ["a", "c"] and multi_line.points == 1
    found = {reject.line: (reject.field, reject.reason) for reject in result.rejects}
    assert found[5] == (None, "expected 7 fields as in the header, got 4")  # the record after a 2-line record
    assert found[6][0] == "choices" and "malformed JSON array" in found[6][1]
    assert found[7] == ("answer", "'d' is not among the choices a-c")
    assert found[8] == ("points", "expected an integer, got str 'one'")


def test_csv_quote_left_open_names_the_lines_it_swallowed(tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('qid,year,stem,choices,answer\n111A1,2017,"問題,甲|乙,a\n111A2,2017,問2,甲|乙,b\n', encoding="utf-8")
    result = read_questions([path])
    (reject,) = result.rejects
    assert (result.read, reject.line) == (1, 2) and "runs from line 2 to line 3: a quote left open?" in reject.reason


def test_csv_quote_left_open_cannot_hide_records_in_a_cell_of_the_right_count(tmp_path):
    # The open quote pairs with the quote of a later field: the record has 5 fields, its stem two other questions.
    path = tmp_path / "open.csv"
    path.write_text(
        'qid,year,stem,choices,answer\n111A1,2017,"開いたまま,甲|乙,a\n111A2,2017,問2,甲|乙,a\n111A3,2017,"問3",甲|乙,b\n'
        "111A4,2017,問4,甲|乙,b\n",
        encoding="utf-8",
    )
    result = read_questions([path])
    assert [q.qid for q in result.questions] == ["111A4"]
    (reject,) = result.rejects
    assert reject.line == 2 and "runs from line 2 to line 4: a quote left open?" in reject.reason
    assert "111A2,2017,問2" in reject.raw and "111A3" in reject.raw  # the swallowed rows are kept with the reject


def test_invalid_utf8_line_is_one_reject(tmp_path):
    good = json.dumps({"qid": "111A1", "year": 2017, "stem": "問", "choices": ["甲", "乙"], "answer": ["a"]})
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(good.encode() + b"\n" + b'{"qid": "\xff\xfe"}\n')
    result = read_questions([path])
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.rejects[0].line == 2 and "UTF-8" in result.rejects[0].reason


@pytest.mark.parametrize(
    ("answer", "n_choices", "expected"),
    [
        (["a"], 5, (["a"], "choice", [["a"]])),
        (["Ｃ", "a"], 5, (["a", "c"], "choice", [["a", "c"]])),
        (["a,c"], 5, (["a", "c"], "choice", [["a", "c"]])),
        (["ａ，ｃ"], 5, (["a", "c"], "choice", [["a", "c"]])),  # full-width comma: NFKC makes it "a,c"
        (["A or D"], 5, (["a"], "choice", [["a"], ["d"]])),
        (["２１"], 0, (["21"], "numeric", [["21"]])),
        (["h"], 8, (["h"], "choice", [["h"]])),
    ],
)
def test_answer_forms(answer, n_choices, expected):
    assert parse_answer(answer, n_choices) == expected


@pytest.mark.parametrize(
    ("answer", "n_choices"),
    [(["f"], 5), (["a"], 0), (["2a"], 0), ([], 5), ("a", 5), ([1], 5), (["a or a"], 5), (["a,c or c,a"], 5)],
)
def test_bad_answers(answer, n_choices):
    with pytest.raises(RowError) as error:
        parse_answer(answer, n_choices)
    assert error.value.field == "answer"


def test_an_accepted_list_that_repeats_an_option_is_rejected():
    from medprefs.corpus.validate import parse_row

    row = {"qid": "111A1", "year": 2017, "stem": "問", "choices": ["甲", "乙", "丙"], "answer": ["a"]}
    assert parse_row(row | {"accepted": [["a"], ["c"]]}).accepted == [["a"], ["c"]]
    with pytest.raises(RowError) as error:
        parse_row(row | {"accepted": [["a"], ["A"]]})
    assert error.value.field == "accepted" and "repeats" in error.value.reason


# --- property tests ------------------------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


def valid_row(index: int, draw_text: str) -> dict:
    return {
        "qid": f"113C{index}",
        "year": 2019,
        "stem": f"問{index} {draw_text}",
        "choices": ["甲", "乙", "丙"],
        "answer": ["b"],
        "points": 1,
        "explanation": None,
    }


BREAKERS = {
    "drop stem": lambda row: {k: v for k, v in row.items() if k != "stem"},
    "answer out of range": lambda row: row | {"answer": ["z"]},
    "year as list": lambda row: row | {"year": [2019]},
    "exam contradicts year": lambda row: row | {"exam": 100},
    "choices hold a number": lambda row: row | {"choices": ["甲", 2]},
    "one choice": lambda row: row | {"choices": ["甲"]},
    "negative points": lambda row: row | {"points": -1},
    "stem is a number": lambda row: row | {"stem": 5},
    "has_image is text": lambda row: row | {"has_image": "maybe"},
}
KINDS = st.sampled_from(["good", "garbage", "array", *BREAKERS])


def render(kind: str, index: int, text: str) -> str:
    if kind == "garbage":
        return "{" + json.dumps(text)[:-1]  # an unterminated object: never valid JSON
    if kind == "array":
        return json.dumps([text])
    row = valid_row(index, text)
    return json.dumps(row if kind == "good" else BREAKERS[kind](row), ensure_ascii=False)


@SETTINGS
@given(st.lists(st.tuples(KINDS, TEXT), min_size=1, max_size=40), st.booleans())
def test_malformed_rows_never_crash_and_each_is_named(rows, fast):
    lines = [render(kind, index, text) for index, (kind, text) in enumerate(rows)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        previous, collector.FAST_MIN = collector.FAST_MIN, 1 if fast else 10**9
        try:
            result = read_questions([path])
        finally:
            collector.FAST_MIN = previous
    assert result.read == len(rows) == result.accepted + result.rejected
    bad_lines = {number for number, (kind, _) in enumerate(rows, 1) if kind != "good"}
    assert {reject.line for reject in result.rejects} == bad_lines
    assert sorted(q.qid for q in result.questions) == sorted(f"113C{i}" for i, (k, _) in enumerate(rows) if k == "good")
    for reject in result.rejects:
        assert reject.file == str(path) and reject.reason and reject.raw == lines[reject.line - 1]


@SETTINGS
@given(st.lists(st.lists(TEXT, min_size=1, max_size=7), min_size=1, max_size=12))
def test_random_csv_never_crashes_and_counts_reconcile(records):
    header = "qid,year,stem,choices,answer,points\n"
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(records)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.csv"
        path.write_text(header + out.getvalue(), encoding="utf-8")
        result = read_questions([path])
        total_lines = (header + out.getvalue()).count("\n")
    assert result.read == result.accepted + result.rejected
    assert all(2 <= reject.line <= total_lines + 1 and reject.reason for reject in result.rejects)


def test_json_that_python_accepts_but_no_text_file_can_hold_is_rejected(tmp_path):
    row = {"qid": "111A1", "year": 2017, "stem": "問", "choices": ["甲", "乙"], "answer": ["a"]}
    lines = [
        json.dumps(row | {"stem": "x\ud800y"}),  # a lone surrogate escape
        json.dumps(row | {"qid": "111A2", "explanation": "\U0001f600"}),  # a proper pair (ensure_ascii escapes it)
        "[" * 5000 + "]" * 5000,  # deeper than the parser's recursion limit
        '{"qid": "111A4", "year": ' + "9" * 5000 + "}",  # beyond Python's int-from-text limit
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_questions([path])
    assert (result.read, result.accepted) == (4, 1) and result.questions[0].explanation == "\U0001f600"
    assert [reject.line for reject in result.rejects] == [1, 3, 4]
    assert "surrogate" in result.rejects[0].reason


def test_a_prohibited_choice_that_the_key_accepts_is_rejected_by_line_and_field(tmp_path):
    base = {"qid": "112A1", "stem": "治療はどれか。", "choices": ["甲", "乙", "丙", "丁", "戊"], "answer": ["b"]}
    rows = [base | {"prohibited": ["a", "e"]}, base | {"qid": "112A2", "prohibited": ["b"]},
            base | {"qid": "112A3", "answer": ["a or b"], "prohibited": "a"}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    result = read_questions([path])
    assert [q.prohibited for q in result.questions] == [["a", "e"]]
    found = {reject.line: (reject.field, reject.reason) for reject in result.rejects}
    assert found == {2: ("prohibited", "choice b is also an accepted answer"),
                     3: ("prohibited", "choice a is also an accepted answer")}
