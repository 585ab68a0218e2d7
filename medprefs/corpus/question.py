"""The Question record every stage reads: fields, Parquet schema, and the exam-number / year rule."""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import polars as pl

SCHEMA_VERSION = 1
LETTERS = string.ascii_lowercase
FIRST_EXAM_YEAR_OFFSET = 1906  # the n-th JMLE was held in year n + 1906: exam 111 -> 2017, 112 -> 2018

AnswerKind = Literal["choice", "numeric"]


def exam_to_year(exam: int) -> int:
    return exam + FIRST_EXAM_YEAR_OFFSET


def year_to_exam(year: int) -> int:
    return year - FIRST_EXAM_YEAR_OFFSET


@dataclass(frozen=True)
class Question:
    """One exam question after validation and NFKC normalisation.

    `answer` is the gold answer as letters (or one digit string for numeric questions); `accepted` lists every answer
    set that is graded correct: usually just `[answer]`, but IgakuQA's `["a or d"]` becomes `[["a"], ["d"]]`.
    `points == 0` means the exam authority excluded the question from scoring.
    """

    qid: str
    year: int
    stem: str
    choices: list[str]
    answer: list[str]
    answer_kind: AnswerKind = "choice"
    accepted: list[list[str]] = field(default_factory=list)
    points: int = 1
    explanation: str | None = None
    exam: int | None = None
    has_image: bool = False
    category: str | None = None
    prohibited: list[str] = field(default_factory=list)  # IgakuQA "kinki": choices a candidate must never pick
    original_stem: str = ""  # the text before normalisation, kept for audit
    original_choices: list[str] = field(default_factory=list)
    original_explanation: str | None = None
    source: str = ""  # file:line it was read from; not part of the content hash

    def __post_init__(self) -> None:
        if not self.accepted:
            object.__setattr__(self, "accepted", [list(self.answer)])

    @property
    def letters(self) -> str:
        """The choice letters this question offers, e.g. 'abcde'."""
        return LETTERS[: len(self.choices)]

    @property
    def excluded(self) -> bool:
        return self.points == 0

    def gold_text(self) -> str:
        """The answer as the model is asked to write it (`a,b`): one accepted option, the key's first where it accepts
        alternatives. Writing them all ("a or d") would teach the model a hedge, which grading reads as no answer
        and IgakuQA's strict rule scores wrong."""
        return ",".join(self.accepted[0])

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Question:
        known = {name: row[name] for name in cls.__dataclass_fields__ if name in row}
        for name in ("choices", "answer", "prohibited", "original_choices"):
            if name in known and known[name] is not None:
                known[name] = list(known[name])
        if known.get("accepted") is not None:
            known["accepted"] = [list(option) for option in known["accepted"]]
        return cls(**known)


QUESTION_SCHEMA: dict[str, pl.DataType] = {
    "qid": pl.String(),
    "year": pl.Int64(),
    "stem": pl.String(),
    "choices": pl.List(pl.String()),
    "answer": pl.List(pl.String()),
    "answer_kind": pl.String(),
    "accepted": pl.List(pl.List(pl.String())),
    "points": pl.Int64(),
    "explanation": pl.String(),
    "exam": pl.Int64(),
    "has_image": pl.Boolean(),
    "category": pl.String(),
    "prohibited": pl.List(pl.String()),
    "original_stem": pl.String(),
    "original_choices": pl.List(pl.String()),
    "original_explanation": pl.String(),
    "source": pl.String(),
}


def questions_to_frame(questions: list[Question]) -> pl.DataFrame:
    return pl.DataFrame([q.to_row() for q in questions], schema=QUESTION_SCHEMA)


def frame_to_questions(frame: pl.DataFrame) -> list[Question]:
    return [Question.from_row(row) for row in frame.iter_rows(named=True)]
