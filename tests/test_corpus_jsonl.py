"""The bulk JSONL reader (polars) agrees exactly with the per-line reader and validator on raw lines of every shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medprefs.corpus import collector, ndjson, read_questions

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain(index: int, **changes) -> dict:
    row = {
        "qid": f"111A{index}",
        "year": 2017,
        "stem": f"{index}歳の男性。最も考えられるのはどれか。",
        "choices": ["肺炎", "結核", "心不全"],
        "answer": ["b"],
        "explanation": "所見から判断する。",
    }
    return {**row, **changes}


def line(index: int, **changes) -> bytes:
    return json.dumps(plain(index, **changes), ensure_ascii=False).encode()


def _read(path: Path, fast_min: int):
    previous, collector.FAST_MIN = collector.FAST_MIN, fast_min
    try:
        return read_questions([path])
    finally:
        collector.FAST_MIN = previous


def assert_same_as_reference(tmp_path: Path, data: bytes):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(data)
    fast, reference = _read(path, 1), _read(path, 10**9)
    assert fast.frame.equals(reference.frame)
    assert fast.rejects == reference.rejects
    assert fast.content_sha256 == reference.content_sha256
    assert fast.ignored_fields == reference.ignored_fields
    assert fast.read == reference.read
    return fast


ODD_LINES = {
    "repeated key": b'{"qid": "111A90", "year": 2017, "stem": "A", "stem": "B", "choices": ["x", "y"], "answer": ["a"]}',
    "repeated key, other type": b'{"qid": "111A90", "year": 2017, "year": "x", "stem": "A", "choices": [], "answer": ["1"]}',
    "number as text": b'{"qid": "111A90", "year": 2017, "stem": 5, "choices": [], "answer": ["1"]}',
    "list as text": b'{"qid": "111A90", "year": 2017, "stem": ["A"], "choices": [], "answer": ["1"]}',
    "object as text": b'{"qid": "111A90", "year": 2017, "stem": {"a": 1}, "choices": [], "answer": ["1"]}',
    "bool as explanation": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "explanation": true}',
    "number as qid": b'{"qid": 111, "year": 2017, "stem": "A", "choices": [], "answer": ["1"]}',
    "numbers as choices": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [1, 2], "answer": ["a"]}',
    "null choice": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": ["x", null], "answer": ["a"]}',
    "escaped key": b'{"qid": "111A90", "year": 2017, "st\\u0065m": "A", "choices": [], "answer": ["1"]}',
    "escaped repeat": b'{"qid": "111A90", "year": 2017, "stem": "A", "st\\u0065m": "B", "choices": [], "answer": ["1"]}',
    "unknown key": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "extra": {"stem": 1}}',
    "key with a quote": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "x\\"stem": 1}',
    "category": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "category": "x"}',
    "answer kind": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "answer_kind": "choice"}',
    "lone surrogate": b'{"qid": "111A90", "year": 2017, "stem": "A\\ud800", "choices": [], "answer": ["1"]}',
    "surrogate pair": b'{"qid": "111A90", "year": 2017, "stem": "A\\ud83d\\ude00", "choices": [], "answer": ["1"]}',
    "escaped quotes": b'{"qid": "111A90", "year": 2017, "stem": "\\"stem\\": 5, \\"x\\":", "choices": [], "answer": ["1"]}',
    "malformed": b'{"qid": "111A90", "year": 2017,',
    "trailing data": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"]} x',
    "two objects": b'{"qid": "111A90"}{"qid": "111A91"}',
    "array": b"[1, 2]",
    "null": b"null",
    "invalid UTF-8": b'{"qid": "111A90", "year": 2017, "stem": "\xff", "choices": [], "answer": ["1"]}',
    "control character": b'{"qid": "111A90", "year": 2017, "stem": "A\tB", "choices": [], "answer": ["1"]}',
    "vertical tab outside": b'\x0b{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"]}',
    "float year": b'{"qid": "111A90", "year": 2017.0, "stem": "A", "choices": [], "answer": ["1"]}',
    "string year": b'{"qid": "111A90", "year": "2017", "stem": "A", "choices": [], "answer": ["1"]}',
    "huge year": b'{"qid": "111A90", "year": 99999999999999999999, "stem": "A", "choices": [], "answer": ["1"]}',
    "int64 exam": b'{"qid": "q90", "exam": 9223372036854775807, "stem": "A", "choices": [], "answer": ["1"]}',
    "has_image 1": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "has_image": 1}',
    "NaN points": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": [], "answer": ["1"], "points": NaN}',
    "null stem": b'{"qid": "111A90", "year": 2017, "stem": null, "choices": [], "answer": ["1"]}',
    "missing answer": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": []}',
    "answer outside": b'{"qid": "111A90", "year": 2017, "stem": "A", "choices": ["x", "y"], "answer": ["c"]}',
    "year vs exam": b'{"qid": "111A90", "year": 2018, "stem": "A", "choices": [], "answer": ["1"]}',
    "blank stem": '{"qid": "111A90", "year": 2017, "stem": "\u3000", "choices": [], "answer": ["1"]}'.encode(),
    "answer slot": '{"qid": "111A90", "year": 2017, "stem": "\u2460+\u2461", "choices": [], "answer": ["1"]}'.encode(),
    "duplicate qid": b'{"qid": "111A1", "year": 2017, "stem": "other", "choices": [], "answer": ["1"]}',
    "spaced keys": b'{ "qid" :"111A90" ,\t"year":2017,\r"stem" : "A" , "choices":[ ], "answer" :[ "1" ] }',
}


@pytest.mark.parametrize("name", sorted(ODD_LINES))
def test_odd_lines_read_as_the_per_line_reader_reads_them(tmp_path, name):
    lines = [line(1), line(2), ODD_LINES[name], line(3)]
    result = assert_same_as_reference(tmp_path, b"\n".join(lines) + b"\n")
    assert result.read == 4


def test_line_numbers_survive_blank_lines_crlf_a_bom_and_a_missing_last_newline(tmp_path):
    data = (
        b"\xef\xbb\xbf" + line(1) + b"\r\n\r\n  \n" + line(2) + b"\n\x0c\n" + ODD_LINES["malformed"] + b"\n" + line(3)
    )
    result = assert_same_as_reference(tmp_path, data)
    assert [reject.line for reject in result.rejects] == [6]
    assert sorted(result.frame.get_column("source").to_list())[0].endswith(":1")
    assert result.frame.get_column("source").to_list()[-1].endswith(":7")


def test_blocks_split_at_line_ends_and_one_bad_line_costs_only_its_piece(tmp_path, monkeypatch):
    monkeypatch.setattr(ndjson, "BLOCK_BYTES", 300)
    lines = [line(index) for index in range(1, 40)]
    lines[17] = ODD_LINES["malformed"]
    result = assert_same_as_reference(tmp_path, b"\n".join(lines) + b"\n")
    assert (result.accepted, [reject.line for reject in result.rejects]) == (38, [18])
    monkeypatch.setattr(ndjson, "RETRY_LINES", 4)
    _, odd = ndjson.tabulate_lines(lines, b"\n".join(lines))
    assert odd == {16, 17, 18, 19}


def test_plain_lines_are_proven_and_odd_ones_are_not():
    lines = [line(1), ODD_LINES["repeated key"], ODD_LINES["number as text"], ODD_LINES["unknown key"], line(2)]
    lines += [ODD_LINES["escaped key"], ODD_LINES["lone surrogate"], ODD_LINES["null stem"]]
    frame, odd = ndjson.tabulate_lines(lines, b"\n".join(lines))
    assert odd == {1, 2, 3, 5, 6, 7}
    assert frame.height == len(lines)


JSON_TEXT = st.text(alphabet=st.sampled_from('肺炎 "\\:,{}①ＡＢa1\u3000\t\n\ud800'), max_size=12)
FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 3000), JSON_TEXT, st.lists(JSON_TEXT, max_size=4))


@st.composite
def raw_lines(draw) -> bytes:
    """A line as some other program might write it: any spacing, escaped or raw text, repeated or extra keys."""
    row = plain(draw(st.integers(0, 5)))
    for name in draw(st.lists(st.sampled_from([*row, "exam", "points", "has_image", "extra"]), max_size=3)):
        row[name] = draw(FIELD_VALUES)
    items = list(row.items())
    if draw(st.booleans()):
        items.append((draw(st.sampled_from(list(row))), draw(FIELD_VALUES)))  # a repeated key
    separator = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    ascii_only = draw(st.booleans())

    def encode(value) -> str:
        return json.dumps(value, ensure_ascii=ascii_only, separators=separator)

    keys = [encode(key) if not draw(st.booleans()) else json.dumps(key, ensure_ascii=True) for key, _ in items]
    if draw(st.integers(0, 9)) == 0:
        keys[0] = '"' + "".join(f"\\u{ord(char):04x}" for char in items[0][0]) + '"'  # an escaped key
    body = separator[0].join(f"{key}{separator[1]}{encode(value)}" for key, (_, value) in zip(keys, items, strict=True))
    return ("{" + body + "}").encode("utf-8", "surrogatepass")


@SETTINGS
@given(st.lists(st.one_of(raw_lines(), st.sampled_from([b"", b"  ", b"{", b"[]"])), min_size=1, max_size=20))
def test_any_raw_lines_read_as_the_per_line_reader_reads_them(tmp_path_factory, lines):
    assert_same_as_reference(tmp_path_factory.mktemp("jsonl"), b"\n".join(lines) + b"\n")
