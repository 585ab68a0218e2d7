"""Leakage keys: the fast table path equals the NFKC reference, and the n-gram machinery is exact."""

from __future__ import annotations

import unicodedata

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medprefs.leakage import leak_key
from medprefs.leakage.ngrams import distinct, distinct_counts, hashes_at, member, rolling_hashes, segment_grams
from medprefs.leakage.normalize import fold_segments, fold_tables


def _keys(texts: list[str]) -> list[str]:
    codes, lengths = fold_segments(texts)
    joined = codes.tobytes().decode("utf-32-le")
    ends = np.cumsum(lengths)
    return [joined[a:b] for a, b in zip((ends - lengths).tolist(), ends.tolist(), strict=True)]


def test_folding_removes_width_case_punctuation_and_space():
    assert leak_key("２８歳の女性。ＣＲＰ 8.6 mg/dL、") == "28歳の女性crp86mgdl"
    assert leak_key("ｶﾞｽ ﾄﾛﾎﾟﾆﾝ") == "ガストロポニン"  # half-width katakana with sound marks compose
    assert leak_key("①　㎎／ｄＬ") == "1mgdl"
    assert _keys(["２８歳の女性。ＣＲＰ 8.6 mg/dL、", "ｶﾞｽ ﾄﾛﾎﾟﾆﾝ", ""]) == ["28歳の女性crp86mgdl", "ガストロポニン", ""]


def test_every_bmp_character_folds_like_the_reference():
    # One call over all of the BMP, each character its own text: the table path (and the NFKC fallback for
    # context-dependent characters) must agree with leak_key everywhere.
    texts = [chr(code) for code in range(0xD800)] + [chr(code) for code in range(0xE000, 0x10000)]
    keys = _keys(texts)
    assert [i for i, (text, key) in enumerate(zip(texts, keys, strict=True)) if key != leak_key(text)] == []


def test_characters_that_compose_with_their_neighbour_take_the_exact_path():
    tables = fold_tables()
    assert tables.unsafe[0x3099] and tables.unsafe[0xFF9E]  # combining / half-width voiced sound marks
    assert not tables.unsafe[ord("が")] and not tables.unsafe[ord("Ａ")]
    assert _keys(["か\u3099", "ﾊﾟ", "e\u0301"]) == ["が", "パ", unicodedata.normalize("NFKC", "e\u0301")]


_JAPANESE = st.text(
    alphabet=st.sampled_from(
        list("あいうかがきぎアイウカガｶﾞｷﾞﾊﾟ゛゜\u3099\u309a漢字検査所見、。・「」（）ＡＢａｂ０１２ 　\t\n①㎎Σσ")
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_JAPANESE, st.text(max_size=20)), max_size=8))
def test_batch_folding_equals_reference_on_any_text(texts):
    assert _keys(texts) == [leak_key(text) for text in texts]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0x10FFFF), max_size=60), st.integers(2, 7))
def test_rolling_hashes_match_pointwise_hashes(codes, n):
    array = np.array(codes, dtype=np.uint32)
    full = rolling_hashes(array, n)
    assert len(full) == max(0, len(codes) - n + 1)
    assert np.array_equal(full, hashes_at(array, np.arange(len(full)), n))
    low = rolling_hashes(array, n, np.uint32)
    assert np.array_equal(low, (full & np.uint64(0xFFFFFFFF)).astype(np.uint32))


def test_segment_grams_never_cross_a_boundary_and_pad_short_segments():
    codes, lengths = fold_segments(["肺炎", "急性腎盂腎炎", "", "肺炎"])
    hashes, segment = segment_grams(codes, lengths, 5)
    assert sorted(segment.tolist()) == [0, 1, 1, 3]  # 6 characters -> 2 grams; 2 characters -> one padded gram
    assert hashes[segment == 0][0] == hashes[segment == 3][0]
    alone, _ = segment_grams(*fold_segments(["急性腎盂腎炎"]), 5)
    assert set(hashes[segment == 1].tolist()) == set(alone.tolist())


def test_sort_based_set_helpers():
    values = np.array([5, 3, 5, 9, 3, 3], dtype=np.int64)
    assert distinct(values).tolist() == [3, 5, 9]
    keys, counts = distinct_counts(values)
    assert keys.tolist() == [3, 5, 9] and counts.tolist() == [3, 2, 1]
    assert member(np.array([1, 5, 9, 10]), np.array([3, 5, 9])).tolist() == [False, True, True, False]
    assert member(np.array([1]), np.array([], dtype=np.int64)).tolist() == [False]
