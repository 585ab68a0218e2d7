"""Exam-authority rulings that override grading for single questions, applied in both score modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RulingKind = Literal["all_correct"]


@dataclass(frozen=True)
class Ruling:
    kind: RulingKind
    reason: str


# Kept as data, not as branches in the scorer, so a new ruling (or another benchmark's) is one line here or a
# `rulings=` argument. "a or d"-style alternatives are not rulings: the corpus stores them in Question.accepted.
RULINGS: dict[str, Ruling] = {
    "116A71": Ruling(
        "all_correct",
        "the exam authority counted every answer correct; IgakuQA's official scorer marks it correct for any prediction",
    ),
}
