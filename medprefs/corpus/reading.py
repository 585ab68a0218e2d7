"""read_questions: every row of every input either becomes a normalised Question or a reject with file, line, field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.console import announce, progress
from medprefs.corpus.collector import Collector, Reject
from medprefs.corpus.content import version_id
from medprefs.corpus.question import Question, frame_to_questions
from medprefs.corpus.readers import resolve_sources
from medprefs.errors import MedprefsError
from medprefs.manifest import sha256_file

__all__ = ["InputFile", "IngestResult", "Reject", "read_questions"]


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str
    format: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "format": self.format, "rows": self.rows}


@dataclass
class IngestResult:
    """What reading produced: the accepted questions as a QUESTION_SCHEMA frame (sorted by qid) and every reject."""

    frame: pl.DataFrame
    rejects: list[Reject]
    input_files: list[InputFile]
    read: int
    content_sha256: str
    ignored_fields: dict[str, list[str]] = field(default_factory=dict)  # file -> columns outside the schema

    @property
    def accepted(self) -> int:
        return self.frame.height

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def version_id(self) -> str:
        """The id these questions get when stored (content hash; independent of order, layout and name)."""
        return version_id(self.content_sha256)

    @property
    def per_year(self) -> dict[int, int]:
        return {year: n for year, n in sorted(self.frame.group_by("year").len().iter_rows())}

    @cached_property
    def questions(self) -> list[Question]:
        return frame_to_questions(self.frame)


def read_questions(
    paths: Iterable[str | Path], fmt: str | None = "auto", column_map: dict[str, str] | None = None
) -> IngestResult:
    """Read, validate and normalise every question in `paths` (files or folders) without storing anything.

    `fmt` is auto|igakuqa|jsonl|csv|parquet; `column_map` renames source columns to canonical ones ({"q": "stem"}).
    Always `read == accepted + rejected`.
    """
    column_map = dict(column_map or {})
    sources = resolve_sources(list(paths), fmt or "auto")
    collector = Collector()
    inputs: list[InputFile] = []
    ignored_by_file: dict[str, list[str]] = {}
    with progress() as bar:
        task = bar.add_task("reading questions", total=len(sources))

        def tick(rows: int) -> None:
            bar.update(task, description=f"reading questions ({rows:,} rows)")

        for source in sources:
            rows, ignored = collector.add_file(source, column_map, tick)
            inputs.append(InputFile(str(source.path), sha256_file(source.path), source.format, rows))
            if ignored:
                ignored_by_file[str(source.path)] = sorted(ignored)
                announce(f"{source.path}: ignored column(s) not in the question schema: {', '.join(sorted(ignored))}")
            tick(collector.read)
            bar.advance(task)
    frame, rejects, sha = collector.finish()
    if collector.read != frame.height + len(rejects):  # the promise every caller relies on
        raise MedprefsError(f"internal: read {collector.read} != accepted {frame.height} + rejected {len(rejects)}")
    return IngestResult(frame, rejects, inputs, collector.read, sha, ignored_by_file)
