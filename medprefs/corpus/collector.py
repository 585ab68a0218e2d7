"""Turns the rows of many files into one normalised frame plus rejects: fast path or validator per row, then the
checks that need every row (text empty after normalisation, duplicate qids) and the content hash."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.corpus import igakuqa
from medprefs.corpus.content import CONTENT_FIELDS, CONTENT_SCHEMA, build_frame, frame_keys, frame_sha256
from medprefs.corpus.fastpath import accept_plain, accept_table
from medprefs.corpus.ndjson import Block, line_blocks, tabulate_lines
from medprefs.corpus.normalize import normalize_list_series, normalize_series
from medprefs.corpus.question import LETTERS, QUESTION_SCHEMA
from medprefs.corpus.readers import Source, read_rows
from medprefs.corpus.rows import ParseFailure, Row, jsonl_row
from medprefs.corpus.threads import ordered_map
from medprefs.corpus.validate import CANONICAL_FIELDS, ParsedRow, RowError, parse_row

FAST_MIN = 256  # rows in a chunk before the column-wise path pays for its fixed cost
CHUNK_ROWS = 16384
_PROGRESS_EVERY = 4096
_WORK_SCHEMA = CONTENT_SCHEMA | {"__file": pl.Int64(), "__line": pl.Int64()}


@dataclass(frozen=True)
class Reject:
    """A row that was not accepted: where it is, which field, why, and the row as read."""

    file: str
    line: int | None
    field: str | None
    reason: str
    raw: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason, "raw": self.raw}

    def __str__(self) -> str:
        field_part = f" field '{self.field}':" if self.field else ""
        return f"{self.file}:{self.line}:{field_part} {self.reason}"


def _raw_text(raw: Any) -> str:
    """The row as read, for the rejects file (readers pass JSONL lines as bytes and CSV records as lists)."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").rstrip("\r\n")
    return raw.rstrip("\r\n") if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)


def _field_names(source: Source, column_map: dict[str, str]) -> dict[str, str]:
    """Canonical field -> the name in the user's file, so a reject names a column the user can find."""
    if source.format == "igakuqa":
        return igakuqa.FIELD_NAMES
    return {dst: src for src, dst in column_map.items()}


class Collector:
    def __init__(self, fast_min: int | None = None) -> None:
        self.fast_min = FAST_MIN if fast_min is None else fast_min
        self.files: list[str] = []
        self.names: list[dict[str, str]] = []  # per file: canonical field -> the user's column name
        self.parsed: list[ParsedRow] = []  # rows the validator accepted
        self.where: list[tuple[int, int]] = []  # (file index, line) of each parsed row
        self.frames: list[pl.DataFrame] = []  # rows the fast path accepted, already normalised
        self.rejects: list[Reject] = []
        self.read = 0

    def reject(self, index: int, line: int, field: str | None, reason: str, raw: Any) -> None:
        shown = self.names[index].get(field, field) if field else None
        self.rejects.append(Reject(self.files[index], line, shown, reason, _raw_text(raw)))

    def add_file(self, source: Source, column_map: dict[str, str], tick: Callable[[int], None]) -> tuple[int, set[str]]:
        """Read one file; returns (rows read, columns ignored because they are not part of a question)."""
        index, start = len(self.files), self.read
        self.files.append(str(source.path))
        self.names.append(_field_names(source, column_map))
        if source.format == "jsonl" and not column_map:
            ignored = self._add_jsonl(index, source.path, tick)
        else:
            ignored = self._add_rows(index, read_rows(source, column_map if source.format != "igakuqa" else {}), tick)
        return self.read - start, ignored

    def _add_jsonl(self, index: int, path: Path, tick: Callable[[int], None]) -> set[str]:
        """Lines polars proves plain go column-wise a block at a time (blocks in parallel); the rest are parsed one by
        one, as any reader's rows."""
        ignored: set[str] = set()
        for (numbers, lines, _), bulk in ordered_map(self._bulk, line_blocks(path)):
            slow: Iterable[int] = range(len(lines))
            if bulk is not None:
                accepted, slow = bulk
                self._keep(index, accepted, numbers)
                self.read += accepted.height
            ignored |= self._add_rows(index, (jsonl_row(numbers[p], lines[p]) for p in slow), tick)
            tick(self.read)
        return ignored

    def _bulk(self, block: Block) -> tuple[Block, tuple[pl.DataFrame, list[int]] | None]:
        """(block, (rows accepted column-wise, positions left)) or (block, None) when it is too small to pay off."""
        _, lines, data = block
        if len(lines) < self.fast_min:
            return block, None
        frame, odd = tabulate_lines(lines, data)
        return block, accept_table(frame, odd, len(lines))

    def _add_rows(self, index: int, rows: Iterable[Row], tick: Callable[[int], None]) -> set[str]:
        """Reject what did not parse, validate the rest; returns the columns ignored as not part of a question."""
        ignored: set[str] = set()
        parsed: list[dict[str, Any]] = []
        lines: list[int] = []
        raws: list[Any] = []
        for line, row, raw in rows:
            self.read += 1
            if self.read % _PROGRESS_EVERY == 0:
                tick(self.read)
            if isinstance(row, ParseFailure):
                self.reject(index, line, row.field, row.reason, raw)
            elif not isinstance(row, dict):
                self.reject(index, line, None, f"expected an object, got {type(row).__name__}", raw)
            else:
                parsed.append(row)
                lines.append(line)
                raws.append(raw)
                if len(parsed) == CHUNK_ROWS:  # bounded memory: parsed rows never pile up for a whole file
                    ignored |= self._take(index, parsed, lines, raws)
                    parsed, lines, raws = [], [], []
        return ignored | self._take(index, parsed, lines, raws)

    def _take(self, index: int, rows: list[dict[str, Any]], lines: list[int], raws: list[Any]) -> set[str]:
        """Plain rows through the column-wise path, the rest through the validator; returns unknown column names."""
        slow: list[int] | range = range(len(rows))
        if rows and len(rows) >= self.fast_min:
            frame, slow = accept_plain(rows)
            self._keep(index, frame, lines)
        for position in slow:
            self._validate(index, lines[position], rows[position], raws[position])
        return set(itertools.chain.from_iterable(rows)) - CANONICAL_FIELDS

    def _keep(self, index: int, frame: pl.DataFrame, lines: Sequence[int]) -> None:
        """Rows the column-wise path accepted (`__pos` indexes `lines`), with their file and line."""
        line_numbers = pl.Series(lines, dtype=pl.Int64).gather(frame.get_column("__pos"))
        self.frames.append(frame.select(*CONTENT_FIELDS, __file=pl.lit(index, pl.Int64), __line=line_numbers))

    def _validate(self, index: int, line: int, row: dict[str, Any], raw: Any) -> None:
        try:
            self.parsed.append(parse_row(row))
        except RowError as error:
            self.reject(index, line, error.field, error.reason, raw)
        else:
            self.where.append((index, line))

    def _validated_frame(self) -> pl.DataFrame:
        transposed = list(map(list, zip(*(row.content() for row in self.parsed), strict=True)))
        columns = {name: transposed[i] if transposed else [] for i, name in enumerate(CONTENT_FIELDS)}
        columns["__file"] = [index for index, _ in self.where]
        columns["__line"] = [line for _, line in self.where]
        frame = build_frame(columns, _WORK_SCHEMA)
        explanation = normalize_series(frame.get_column("explanation"))
        category = normalize_series(frame.get_column("category"))
        return frame.with_columns(
            stem=normalize_series(frame.get_column("stem")),
            choices=normalize_list_series(frame.get_column("choices")),
            explanation=pl.when(explanation == "").then(None).otherwise(explanation),
            category=pl.when(category == "").then(None).otherwise(category),
        )

    def _reject_empty_text(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Text made only of characters that normalise to spaces passes the parse-time emptiness check."""
        empty = (pl.col("stem") == "") | pl.col("choices").list.contains("")
        for row in frame.filter(empty).iter_rows(named=True):
            field = "stem" if row["stem"] == "" else "choices"
            reason = "is empty" if field == "stem" else f"choice {LETTERS[row['choices'].index('')]} is empty"
            raw = {"qid": row["qid"], "stem": row["original_stem"], "choices": row["original_choices"]}
            self.reject(row["__file"], row["__line"], field, reason, raw)
        return frame.filter(~empty)

    def _settle_duplicates(self, frame: pl.DataFrame) -> pl.DataFrame:
        """An identical repeat is dropped in favour of the first copy; copies that differ are all rejected, since
        nothing says which one is right (and keeping the first would make the result depend on input order)."""
        repeated = frame.filter(pl.col("qid").is_duplicated()).sort("__file", "__line")
        if repeated.is_empty():
            return frame
        repeated = repeated.with_columns(__key=frame_keys(repeated))
        dropped = []
        for (qid,), group in repeated.group_by("qid", maintain_order=True):
            rows = list(group.iter_rows(named=True))
            where = [f"{self.files[row['__file']]}:{row['__line']}" for row in rows]
            identical = group.get_column("__key").n_unique() == 1
            for position, row in enumerate(rows):
                if identical and position == 0:
                    continue
                others = ", ".join(place for other, place in enumerate(where) if other != position)
                reference = rows[1] if position == 0 else rows[0]
                differing = ", ".join(name for name in CONTENT_FIELDS if row[name] != reference[name])
                reason = (
                    f"duplicate of {where[0]} (identical content)"
                    if identical
                    else f"qid {qid} also appears at {others} with different {differing}; all copies rejected"
                )
                self.reject(row["__file"], row["__line"], "qid", reason, {name: row[name] for name in CONTENT_FIELDS})
                dropped.append((row["__file"], row["__line"]))
        gone = pl.DataFrame(dropped, schema={"__file": pl.Int64, "__line": pl.Int64}, orient="row")
        return frame.join(gone, on=["__file", "__line"], how="anti")

    def finish(self) -> tuple[pl.DataFrame, list[Reject], str]:
        """(QUESTION_SCHEMA frame sorted by qid, rejects in file/line order, content sha256)."""
        frame = pl.concat([*self.frames, self._validated_frame()], how="vertical")
        frame = self._settle_duplicates(self._reject_empty_text(frame))
        names = pl.Series(self.files, dtype=pl.String)
        frame = frame.with_columns(source=pl.format("{}:{}", names.gather(frame.get_column("__file")), "__line"))
        frame = frame.sort("qid").select(list(QUESTION_SCHEMA))
        order = {file: position for position, file in enumerate(self.files)}
        rejects = sorted(self.rejects, key=lambda reject: (order[reject.file], reject.line or 0))
        return frame, rejects, frame_sha256(frame)
