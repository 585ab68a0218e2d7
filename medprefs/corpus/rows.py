"""What every reader yields: one row with its line, parsed or with the reason it could not be; and the JSONL reader."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ParseFailure:
    """A row that could not even be parsed into fields (malformed JSON, a ragged CSV record, a bad list cell)."""

    reason: str
    field: str | None = None


# (line, canonical-keyed dict | ParseFailure | other JSON value, raw text or value for the rejects file)
Row = tuple[int, Any, Any]


def _renamed(row: dict[str, Any], column_map: dict[str, str]) -> dict[str, Any] | ParseFailure:
    renamed = {column_map.get(key, key): value for key, value in row.items()}
    if len(renamed) != len(row):
        clash = sorted(dst for src, dst in column_map.items() if src in row and dst in row)
        return ParseFailure(f"both a column and the column mapped onto it are present: {', '.join(clash)}")
    return renamed


_DECODER = json.JSONDecoder()
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    """json accepts "\\ud800" alone and returns a string no UTF-8 file (or polars) can hold."""
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value) if not value.isascii() else False
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(item) for item in value.values()) or _has_lone_surrogate(list(value))
    return False


def _loads(line: str) -> Any:
    """json.loads(line), minus the per-call encoding detection and wrapping (a third of its cost on short rows)."""
    try:
        value, end = _DECODER.raw_decode(line)
    except json.JSONDecodeError:
        return json.loads(line)  # leading whitespace, or a real error: json.loads decides and words it
    if end != len(line) and not line[end:].isspace():
        return json.loads(line)  # raises "Extra data" with its column
    return value


def _json_failure(error: Exception) -> ParseFailure:
    if isinstance(error, json.JSONDecodeError):
        return ParseFailure(f"malformed JSON: {error.msg} (column {error.colno})")
    return ParseFailure(f"unreadable JSON: {str(error)[:120] or type(error).__name__}")


def jsonl_row(number: int, raw: bytes) -> Row:
    """One non-blank JSONL line (`raw`, as bytes) as the reader yields it: parsed, or with why it could not be."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return number, ParseFailure(f"not valid UTF-8 ({error.reason} at byte {error.start})"), raw.rstrip(b"\r\n")
    try:
        row = _loads(line)
    except (ValueError, RecursionError) as error:  # also: a 5000-digit number, nesting 1000 levels deep
        return number, _json_failure(error), line.rstrip("\r\n")
    if "\\u" in line and _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(row):
        return number, ParseFailure("an unpaired UTF-16 surrogate escape is not text"), line.rstrip("\r\n")
    return number, row, line


def read_jsonl(path: Path, column_map: dict[str, str] | None = None) -> Iterator[Row]:
    """One JSON object a line; blank lines are skipped (not rows); lines count from 1 like an editor does.
    Read line by line, so memory holds one line, not the file."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw or raw.isspace():
                continue
            number, row, line = jsonl_row(number, raw)
            if column_map and isinstance(row, dict):
                row = _renamed(row, column_map)
            yield number, row, line
