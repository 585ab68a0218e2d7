"""Finding input files and reading their rows (canonical JSONL, CSV, Parquet); every row keeps its file and line."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medprefs.corpus import igakuqa
from medprefs.corpus.rows import ParseFailure, Row, read_jsonl
from medprefs.errors import InputError, MedprefsError

Format = Literal["auto", "igakuqa", "jsonl", "csv", "parquet"]
FORMATS = ("auto", "igakuqa", "jsonl", "csv", "parquet")
EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # how surrogateescape decodes a byte that is not UTF-8
# CSV cells holding lists: a JSON array (`["肺炎", "結核"]`) or text separated by '|' (`肺炎|結核`).
LIST_CELLS = frozenset({"choices", "answer", "prohibited", "original_choices", "accepted"})


@dataclass(frozen=True)
class Source:
    path: Path
    format: str


def resolve_sources(paths: list[str | Path], fmt: str) -> list[Source]:
    """Every question file named by `paths` (files or folders) with its format; sidecars are never question files."""
    if fmt not in FORMATS:
        raise MedprefsError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not paths:
        raise MedprefsError("no input paths given")
    sources: dict[Path, Source] = {}
    for given in map(Path, paths):
        if not given.exists():
            raise MedprefsError(f"{given}: not found")
        for source in _sources_of(given, fmt):
            sources.setdefault(source.path.resolve(), source)
    return list(sources.values())


def _sources_of(path: Path, fmt: str) -> list[Source]:
    if fmt == "igakuqa" or (fmt == "auto" and igakuqa.looks_like(path)):
        return [Source(file, "igakuqa") for file in igakuqa.question_files(path)]
    if path.is_file():
        if igakuqa.is_sidecar(path):
            raise MedprefsError(f"{path}: an IgakuQA sidecar (metadata/translation), not a question file")
        kind = fmt if fmt != "auto" else EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            known = ", ".join(EXTENSIONS)
            raise MedprefsError(f"{path}: cannot tell the format from the extension ({known}); pass --format")
        return [Source(path, kind)]
    files = sorted(
        file
        for file in path.rglob("*")
        if file.is_file()
        and not any(part.startswith(".") for part in file.relative_to(path).parts)
        and EXTENSIONS.get(file.suffix.lower()) in ((fmt,) if fmt != "auto" else tuple(EXTENSIONS.values()))
        and not igakuqa.is_sidecar(file)
    )
    if not files:
        raise MedprefsError(f"{path}: no question files found (looked for {', '.join(EXTENSIONS)})")
    return [Source(file, fmt if fmt != "auto" else EXTENSIONS[file.suffix.lower()]) for file in files]


def read_rows(source: Source, column_map: dict[str, str]) -> Iterator[Row]:
    if source.format == "igakuqa":
        return igakuqa.read_rows(source.path)
    if source.format == "jsonl":
        return read_jsonl(source.path, column_map)
    if source.format == "csv":
        return read_csv(source.path, column_map)
    return read_parquet(source.path, column_map)


def _header(path: Path, names: list[str], column_map: dict[str, str]) -> list[str]:
    header = [column_map.get(name.strip(), name.strip()) for name in names]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InputError(f"column(s) {', '.join(duplicates)} appear twice (after --map)", file=str(path), line=1)
    return header


def _list_cell(name: str, cell: str) -> Any:
    cell = cell.strip()
    if cell.startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError as error:
            return ParseFailure(f"malformed JSON array: {error.msg}", name)
    if name == "accepted":
        return ParseFailure("expected a JSON array of answer lists", name)
    return [part.strip() for part in cell.split("|")] if cell else []


def _csv_row(header: list[str], record: list[str]) -> dict[str, Any] | ParseFailure:
    row: dict[str, Any] = {}
    for name, cell in zip(header, record, strict=True):
        if name in LIST_CELLS:
            value = _list_cell(name, cell)
            if isinstance(value, ParseFailure):
                return value
            # An empty answer/prohibited cell means "not given"; an empty choices cell means a numeric question.
            row[name] = value if value or name == "choices" else None
        else:
            row[name] = cell if cell.strip() else None
    return row


def _swallowed(start: int, end: int) -> str:
    """For a bad record over several lines: which lines went in (a quote left open swallows the records after it)."""
    return f" (the record runs from line {start} to line {end - 1}: a quote left open?)" if end - start > 1 else ""


def read_csv(path: Path, column_map: dict[str, str] | None = None) -> Iterator[Row]:
    """CSV with a header row. The stdlib reader (not polars) because it reports the line of each record and lets a
    ragged record be rejected on its own instead of failing or silently truncating the whole file."""
    data = path.read_bytes()
    try:
        text, damaged = data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        # Keep reading: only the records holding the undecodable bytes are rejected.
        text, damaged = data.decode("utf-8-sig", errors="surrogateescape"), True
    # Lines end at \n only, as in JSONL and editors. strict: a quote left open can pair with a later field's quote and
    # swallow whole records into one cell with the right field count; strict mode refuses the stray quote instead.
    reader = csv.reader(io.StringIO(text, newline="\n"), strict=True)
    try:
        names = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise InputError(f"unreadable CSV header: {error}", file=str(path), line=1) from None
    header = _header(path, names, column_map or {})
    line = reader.line_num + 1
    physical: list[str] = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            start, line = line, reader.line_num + 1
            physical = physical or text.split("\n")  # the raw lines, kept with the reject (split once, if ever)
            raw = "\n".join(physical[start - 1 : line - 1])
            yield start, ParseFailure(f"malformed CSV: {error}{_swallowed(start, line)}"), raw
            continue
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if damaged and any(_ESCAPED_BYTE.search(cell) for cell in record):
            yield start, ParseFailure("not valid UTF-8"), record
        elif len(record) != len(header):
            reason = f"expected {len(header)} fields as in the header, got {len(record)}"
            yield start, ParseFailure(reason + _swallowed(start, line)), record
        else:
            yield start, _csv_row(header, record), record


def read_parquet(path: Path, column_map: dict[str, str] | None = None) -> Iterator[Row]:
    """Parquet via polars; the `line` of a row is its 1-based row number."""
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except Exception as error:  # polars raises several error types for a damaged or foreign file
        raise InputError(
            f"cannot read as Parquet: {type(error).__name__}: {str(error)[:200]}", file=str(path)
        ) from None
    header = _header(path, frame.columns, column_map or {})
    columns = [frame.get_column(name).to_list() for name in frame.columns]
    for number, values in enumerate(zip(*columns, strict=True), 1):
        row = dict(zip(header, values, strict=True))
        yield number, row, row
