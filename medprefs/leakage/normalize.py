"""Leakage keys: text with NFKC, case, width, punctuation and whitespace folded, as code-point arrays, fast in bulk."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import numpy as np

_WIDTH = 4  # a character folds to at most this many key characters; longer expansions take the exact (slow) path
_DROPPED = ("P", "Z", "C", "S")  # punctuation, spaces, controls/format, symbols: formatting, not content
_LAST_DECOMPOSABLE = 0x2FA1F  # no code point above the CJK compatibility supplement has a decomposition
# Blocks where every code point is its own key and context-free: skipped when building the tables (load time).
_IDENTITY_BLOCKS = ((0x4E00, 0x9FFF), (0xAC00, 0xD7A3))


def _fold_char(char: str) -> str:
    """The key of one character of NFKC text: nothing for punctuation/space/symbols, else its lower case."""
    if unicodedata.category(char)[0] in _DROPPED:
        return ""
    return char.lower()


def leak_key(text: str) -> str:
    """The reference definition of a leakage key: NFKC, then every character folded on its own."""
    return "".join(_fold_char(char) for char in unicodedata.normalize("NFKC", text))


@dataclass(frozen=True)
class FoldTables:
    """Per-code-point tables for the Basic Multilingual Plane.

    `length[c]`/`chars[c]` give fold(NFKC(c)); `unsafe[c]` marks characters whose NFKC depends on their
    neighbours (combining marks, characters that compose with the one before): text holding one takes the exact path.
    """

    length: np.ndarray  # uint8[65536]
    first: np.ndarray  # uint32[65536]: the first key character (0 when none)
    chars: np.ndarray  # uint32[65536, _WIDTH]
    unsafe: np.ndarray  # bool[65536]


def _composition_seconds() -> set[int]:
    """Code points that can be the second half of a canonical composition (they may merge with the one before)."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul vowel and trailing jamo
    for code in range(_LAST_DECOMPOSABLE + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return seconds


def _is_starter(char: str, seconds: set[int]) -> bool:
    return unicodedata.combining(char) == 0 and ord(char) not in seconds


@functools.cache
def fold_tables() -> FoldTables:
    seconds = _composition_seconds()
    length = np.zeros(65536, dtype=np.uint8)
    chars = np.zeros((65536, _WIDTH), dtype=np.uint32)
    unsafe = np.zeros(65536, dtype=np.bool_)
    skipped = np.zeros(65536, dtype=np.bool_)
    for low, high in _IDENTITY_BLOCKS:
        skipped[low : high + 1] = True
        length[low : high + 1] = 1
        chars[low : high + 1, 0] = np.arange(low, high + 1)
    for code in np.flatnonzero(~skipped).tolist():
        char = chr(code)
        composed = unicodedata.normalize("NFKC", char)
        decomposed = unicodedata.normalize("NFKD", char)
        key = "".join(_fold_char(c) for c in composed)
        # Context-free only when the character begins with a starter nothing before it can absorb, and what it
        # becomes can absorb nothing after it: then NFKC(text) is the concatenation of NFKC(char).
        context_free = _is_starter(decomposed[0], seconds) and all(_is_starter(c, seconds) for c in composed)
        if not context_free or len(key) > _WIDTH:
            unsafe[code] = True
            key = _fold_char(char) if len(_fold_char(char)) <= _WIDTH else ""
        length[code] = len(key)
        chars[code, : len(key)] = [ord(c) for c in key]
    return FoldTables(length=length, first=chars[:, 0].copy(), chars=chars, unsafe=unsafe)


def _encode(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _with_astral(codes: np.ndarray, tables: FoldTables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows into a table extended by the few astral code points present (folded one by one, as `leak_key` does)."""
    astral = np.unique(codes[codes > 0xFFFF])
    extra = np.zeros((len(astral), _WIDTH), dtype=np.uint32)
    extra_length = np.zeros(len(astral), dtype=np.uint8)
    for row, code in enumerate(astral.tolist()):
        key = _fold_char(chr(code))[:_WIDTH]
        extra_length[row] = len(key)
        extra[row, : len(key)] = [ord(c) for c in key]
    rows = np.where(codes > 0xFFFF, 65536 + np.searchsorted(astral, codes), codes)
    return rows, np.concatenate((tables.length, extra_length)), np.vstack((tables.chars, extra))


def _apply_tables(codes: np.ndarray, tables: FoldTables) -> tuple[np.ndarray, np.ndarray]:
    """Fold code points (already safe or NFKC) -> (key code points, key length contributed by each input point)."""
    if len(codes) and int(codes.max()) > 0xFFFF:
        rows, length_table, char_table = _with_astral(codes, tables)
    else:
        rows, length_table, char_table = codes, tables.length, tables.chars
    lengths = length_table[rows]
    if int(lengths.max(initial=0)) <= 1:  # the usual case: no character expands
        first = tables.first if char_table is tables.chars else char_table[:, 0]
        return first[rows][lengths == 1], lengths
    owner = np.repeat(np.arange(len(codes)), lengths)
    starts = np.cumsum(lengths, dtype=np.int64) - lengths
    offset = np.arange(len(owner)) - starts[owner]
    return char_table[rows[owner], offset], lengths


def fold_segments(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fold many texts at once -> (concatenated key code points uint32, key length of each text int64).

    Equal to `leak_key` applied to each text. Texts holding a context-dependent character are NFKC-normalised
    one by one first (exact, slower); all others go through the per-code-point tables.
    """
    tables = fold_tables()
    if not texts:
        return np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int64)
    text_lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    codes = _encode("".join(texts))
    unsafe = tables.unsafe[np.minimum(codes, 0xFFFF)] | (codes > 0xFFFF)
    if unsafe.any():
        owner = np.repeat(np.arange(len(texts)), text_lengths)
        dirty = np.flatnonzero(np.bincount(owner[unsafe], minlength=len(texts)))
        texts = list(texts)
        for index in dirty.tolist():
            texts[index] = unicodedata.normalize("NFKC", texts[index])
            text_lengths[index] = len(texts[index])
        codes = _encode("".join(texts))
    keys, lengths = _apply_tables(codes, tables)
    bounds = np.concatenate(([0], np.cumsum(text_lengths)))
    cumulative = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    return keys, np.diff(cumulative[bounds])


def key_positions(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """For display: (NFKC text, its key code points, index in the NFKC text of each key character)."""
    composed = unicodedata.normalize("NFKC", text)
    codes = _encode(composed)
    keys, lengths = _apply_tables(codes, fold_tables())
    return composed, keys, np.repeat(np.arange(len(codes)), lengths)
