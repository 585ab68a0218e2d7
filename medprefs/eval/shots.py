"""Few-shot demonstrations for evaluation: our default three, or any JSONL file (IgakuQA's prompt.jsonl too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medprefs.corpus.question import Question
from medprefs.errors import InputError, MedprefsError
from medprefs.sample_data import default_shots_path
from medprefs.text import normalize_text


def load_shots(path: str | Path | None, k: int, *, need_explanations: bool) -> list[Question]:
    """The first `k` demonstrations of `path` (default: the project's own); fields `stem` or IgakuQA's
    `problem_text`, `choices`, `answer` (a list, or a string like "a,c"), `explanation`."""
    path = Path(path) if path else default_shots_path()
    if not path.is_file():
        raise MedprefsError(f"{path}: shots file not found")
    shots = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and len(shots) < k:
            shots.append(_shot_from_line(line, str(path), number))
    if len(shots) < k:
        raise MedprefsError(f"{path}: {k} demonstrations asked for, the file holds {len(shots)}")
    if need_explanations:
        for shot in shots:
            if not shot.explanation:
                raise MedprefsError(f"{path}: demonstration {shot.qid} has no explanation, which explain mode needs")
    return shots


def _shot_from_line(line: str, file: str, number: int) -> Question:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON ({error.msg})", file=file, line=number) from None
    stem = row.get("stem", row.get("problem_text"))
    if not isinstance(stem, str) or not stem.strip():
        raise InputError("missing ('problem_text' is accepted too)", file=file, line=number, field="stem")
    choices = row.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise InputError("expected a list of strings", file=file, line=number, field="choices")
    answer = _answer_list(row.get("answer"), file, number)
    explanation = row.get("explanation")
    return Question(
        qid=str(row.get("qid") or row.get("problem_id") or f"shot-{number}"),
        year=int(row.get("year") or 0),
        stem=normalize_text(stem),
        choices=[normalize_text(c) for c in choices],
        answer=answer,
        answer_kind="choice" if choices else "numeric",
        explanation=normalize_text(explanation) if isinstance(explanation, str) and explanation.strip() else None,
    )


def _answer_list(value: Any, file: str, number: int) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise InputError(
            'expected a list like ["a", "c"] or a string like "a,c"', file=file, line=number, field="answer"
        )
    return [normalize_text(v).lower() for v in value]
