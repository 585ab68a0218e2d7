"""The column-wise paths agree exactly with the per-row reference: normalisation, the fast path and the row key."""

from __future__ import annotations

import json
import sys
import tempfile
import unicodedata
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medprefs.corpus import collector, normalize, read_questions
from medprefs.corpus.content import CONTENT_FIELDS, CONTENT_SCHEMA, QUESTION_SCHEMA, build_frame, frame_keys, row_key
from medprefs.corpus.validate import ParsedRow
from medprefs.text import normalize_text

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Exam-like text plus everything normalisation must handle: full-width forms, circled digits, ideographic and other
# Unicode spaces, tabs, line breaks, combining marks, half-width katakana, characters newer than Python's Unicode.
SPECIAL = "　 \t\n\r\x0b\x0c\x1c\x1f\x85\u2028\u2029\u2003ＡＣ０９（）％①②℃ｶﾞか\u3099e\u0301\ua7f1\U0001ccd6"
TEXT = st.text(alphabet=st.one_of(st.sampled_from(SPECIAL), st.sampled_from("肺炎歳の男性。ab 1.")), max_size=25)


def test_content_fields_follow_the_shared_schema():
    assert list(CONTENT_FIELDS) == [name for name in QUESTION_SCHEMA if name != "source"]
    assert list(ParsedRow.__dataclass_fields__) == list(CONTENT_FIELDS)


@SETTINGS
@given(st.lists(st.one_of(st.none(), TEXT, st.text(max_size=20)), min_size=1, max_size=30))
def test_bulk_normalisation_equals_normalize_text(texts):
    previous, normalize._SMALL = normalize._SMALL, 0  # force the polars path
    try:
        result = normalize.normalize_series(pl.Series(texts, dtype=pl.String)).to_list()
    finally:
        normalize._SMALL = previous
    assert result == [None if text is None else normalize_text(text) for text in texts]


def test_bulk_normalisation_equals_normalize_text_for_every_bmp_character():
    characters = [chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF][:0x10000]
    texts = [f"a{character}b" for character in characters] + characters
    result = normalize.normalize_series(pl.Series(texts, dtype=pl.String)).to_list()
    mismatches = [text for text, got in zip(texts, result, strict=True) if got != normalize_text(text)]
    assert mismatches == []
    assert unicodedata.category("\U0001ccd6") == "Cn"  # the check above covers the newer-Unicode case only if so


ROW_VALUES = st.fixed_dictionaries(
    {
        "qid": st.sampled_from(["111A{}", " 111a{} ", "Ｑ{}", "q-{}", "112A{}"]),
        "year": st.sampled_from([2017, "2017", 2018, None]),
        "exam": st.sampled_from([111, None, 112]),
        "stem": TEXT,
        "choices": st.one_of(st.just([]), st.lists(TEXT, min_size=2, max_size=8)),
        "answer": st.sampled_from([["a"], ["c", "a"], ["A"], ["a or b"], ["ａ"], ["12"], ["b", "b"], ["z"]]),
        "points": st.sampled_from([1, "3", None, 0, 2.0]),
        "explanation": st.one_of(st.none(), TEXT),
        "has_image": st.sampled_from([True, False, None, 1]),
    },
    optional={"category": st.one_of(st.none(), TEXT), "prohibited": st.sampled_from([None, ["a"], "b", []])},
)


def _read(path: Path, fast_min: int):
    previous, collector.FAST_MIN = collector.FAST_MIN, fast_min
    try:
        return read_questions([path])
    finally:
        collector.FAST_MIN = previous


@SETTINGS
@given(st.lists(ROW_VALUES, min_size=1, max_size=25))
def test_fast_path_and_validator_agree(rows):
    lines = []
    for index, row in enumerate(rows):
        row = {key: value for key, value in row.items() if value is not None or index % 3}  # absent vs null
        if "qid" in row:
            row["qid"] = row["qid"].format(index % 7)  # some qids repeat: duplicates on both paths
        lines.append(json.dumps(row, ensure_ascii=False))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        fast, reference = _read(path, 1), _read(path, 10**9)
    assert fast.frame.equals(reference.frame)
    assert fast.rejects == reference.rejects
    assert fast.content_sha256 == reference.content_sha256


CONTENT_ROWS = st.tuples(
    TEXT,
    st.integers(-(2**40), 2**40),
    TEXT,
    st.lists(TEXT, max_size=4),
    st.lists(TEXT, max_size=3),
    TEXT,
    st.lists(st.lists(TEXT, max_size=3), max_size=3),
    st.integers(0, 10),
    st.one_of(st.none(), TEXT),
    st.one_of(st.none(), st.integers(0, 200)),
    st.booleans(),
    st.one_of(st.none(), TEXT),
    st.lists(TEXT, max_size=3),
    TEXT,
    st.lists(TEXT, max_size=4),
    st.one_of(st.none(), TEXT),
)


@SETTINGS
@given(st.lists(CONTENT_ROWS, min_size=1, max_size=10))
def test_frame_keys_follow_the_reference_encoding(rows):
    columns = {name: [row[i] for row in rows] for i, name in enumerate(CONTENT_FIELDS)}
    frame = build_frame(columns, CONTENT_SCHEMA)
    assert frame_keys(frame).to_list() == [row_key(row) for row in rows]


def test_row_key_is_unambiguous():
    # Length prefixes keep field boundaries: moving a character between fields changes the key.
    assert row_key(("ab", "c")) != row_key(("a", "bc"))
    assert row_key((["a", "b"],)) != row_key((["ab"],))
    assert row_key((None,)) != row_key(("",)) != row_key(([],))
    assert row_key((True,)) != row_key((1,))


def test_plain_rows_take_the_fast_path_and_others_go_to_the_validator():
    from medprefs.corpus.fastpath import accept_plain

    def row(index: int) -> dict:
        return {
            "qid": f"111A{index}",
            "year": 2017,
            "stem": f"２{index}歳。どれか。",
            "choices": ["甲", "乙"],
            "answer": ["b"],
        }

    rows = [row(index) for index in range(1, 6)]
    frame, slow = accept_plain(rows)
    assert (frame.height, slow) == (5, [])
    assert frame.get_column("stem").to_list()[0] == "21歳。どれか。"
    rows[1]["year"] = "2017"  # a digit string: accepted, but by the validator
    rows[3]["answer"] = ["B"]  # upper case: the validator folds it
    frame, slow = accept_plain(rows)
    assert (frame.height, slow) == (3, [1, 3])


@SETTINGS
@given(st.lists(CONTENT_ROWS, min_size=1, max_size=10, unique_by=lambda row: row[0]))
def test_content_hash_follows_the_reference_spec(rows):
    import hashlib

    from medprefs.corpus import content
    from medprefs.corpus.content import _HASH_SLICE, HASH_SPEC, frame_sha256

    columns = {name: [row[i] for row in rows] for i, name in enumerate(CONTENT_FIELDS)}
    frame = build_frame(columns, CONTENT_SCHEMA)
    keys = "".join(row_key(row) for row in sorted(rows, key=lambda row: row[0]))
    reference = hashlib.sha256(f"{HASH_SPEC}\n{keys}".encode()).hexdigest()
    assert frame_sha256(frame) == reference
    previous, content._HASH_SLICE = _HASH_SLICE, 3  # keys made in slices hash the same as all at once
    try:
        assert frame_sha256(frame) == reference
    finally:
        content._HASH_SLICE = previous
