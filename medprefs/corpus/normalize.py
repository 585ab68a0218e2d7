"""Bulk text normalisation for ingest: exactly `medprefs.text.normalize_text`, with the costly NFKC done by polars."""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

import polars as pl
import pyarrow as pa

from medprefs.text import ANSWER_SLOTS, normalize_text

# After NFKC, text is already what normalize_text returns unless it has a line break, a tab, a doubled space, other
# control whitespace (Python's str.strip also strips \x1c-\x1f, which regex \s does not) or whitespace at either end.
_SMALL = 256  # below this many values, polars' per-call overhead outweighs its parallel NFKC
_NOT_CLEAN = r"[\n\r\t\x0B\x0C\x1C-\x1F\x85\u2028\u2029]|  |^\s|\s$"


def is_clean(text: str) -> bool:
    """True when an NFKC-normalised `text` is already what `normalize_text` returns (one line, nothing to squeeze
    or strip). Most exam text is, and checking is far cheaper than normalising."""
    return "\n" not in text and "\r" not in text and "\t" not in text and "  " not in text and text == text.strip()


def normalize_one(text: str) -> str:
    """`normalize_text(text)`, skipping the work when the text is already normal."""
    if unicodedata.is_normalized("NFKC", text) and is_clean(text):
        return text
    return normalize_text(text)


_SCANNED = 0x40000  # planes 0-3; nothing above is assigned except tags, variation selectors and private use


@cache
def _unassigned_in_python() -> str:
    """A regex class of code points Python's Unicode database does not know. polars may use a newer Unicode, which
    maps some of them (e.g. U+1CCD6 -> 'A'); assigned characters never change their NFKC (Unicode's stability
    policy), so text without these characters normalises identically in both. Everything from plane 4 up is listed
    too: a listed character only sends its text to `normalize_text` itself, and scanning planes 4-16 would cost
    ~0.15 s per process for characters exam text does not use."""
    # Categories are two letters, upper then lower case, so "Cn" runs in the joined string start at even offsets.
    categories = "".join(map(unicodedata.category, map(chr, range(_SCANNED))))
    ranges = [(match.start() // 2, match.end() // 2 - 1) for match in re.finditer("(?:Cn)+", categories)]
    ranges.append((_SCANNED, sys.maxunicode))
    return "[" + "".join(rf"\x{{{low:X}}}-\x{{{high:X}}}" for low, high in ranges) + "]"


@cache
def _needs_python() -> str:
    """Characters polars' NFKC cannot be trusted with: unknown to Python, or answer slots (①), which NFKC would
    turn into digits and normalize_text keeps. One pattern, so one pass over the text."""
    return f"{_unassigned_in_python()}|{ANSWER_SLOTS.pattern}"


def normalize_series(texts: pl.Series) -> pl.Series:
    """`normalize_text` of every value of a String series (nulls stay null): NFKC by polars on all cores, and the
    Python function itself for the few values that need whitespace work or hold characters Python does not know."""
    if texts.len() < _SMALL:
        values = [None if text is None else normalize_one(text) for text in texts.to_list()]
        return pl.Series(texts.name, values, dtype=pl.String)
    nfkc = texts.str.normalize("NFKC")
    redo = (texts.str.contains(_needs_python()) | nfkc.str.contains(_NOT_CLEAN)).arg_true()
    if redo.len():
        fixed = [normalize_text(text) for text in texts.gather(redo).to_list()]
        nfkc = nfkc.scatter(redo, pl.Series(values=fixed, dtype=pl.String))
    return nfkc


def normalize_list_series(lists: pl.Series) -> pl.Series:
    """`normalize_series` applied to every item of a list<string> series, keeping the list shapes."""
    array = lists.rechunk().to_arrow()
    lengths = lists.list.len().fill_null(0).cast(pl.Int64)
    offsets = pl.concat([pl.Series([0], dtype=pl.Int64), lengths.cum_sum()]).to_arrow()
    flat = pl.Series(values=array.flatten()).cast(pl.String)
    normalised = normalize_series(flat).to_arrow().cast(pa.large_string())
    return pl.Series(lists.name, pa.LargeListArray.from_arrays(offsets, normalised)).cast(pl.List(pl.String))
