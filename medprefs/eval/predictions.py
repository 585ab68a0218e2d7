"""Prediction files: read `{"qid"|"problem_id", "prediction"}` JSONL, write per-question result JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medprefs.errors import InputError, MedprefsError
from medprefs.manifest import atomic_write_bytes


def read_predictions(path: str | Path) -> dict[str, str]:
    """qid -> prediction text; `problem_id` (IgakuQA's name) is accepted for `qid`, a null prediction reads as ''."""
    path = Path(path)
    if not path.is_file():
        raise MedprefsError(f"{path}: predictions file not found")
    predictions: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                qid, prediction = _parse_line(line, str(path), number)
                if qid in predictions:
                    raise InputError(f"second prediction for {qid}", file=str(path), line=number, field="qid")
                predictions[qid] = prediction
    return predictions


def _parse_line(line: str, file: str, number: int) -> tuple[str, str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON ({error.msg})", file=file, line=number) from None
    if not isinstance(row, dict):
        raise InputError("expected a JSON object", file=file, line=number)
    qid = row.get("qid", row.get("problem_id"))
    if not isinstance(qid, str) or not qid:
        raise InputError("missing (or not a string); 'problem_id' is accepted too", file=file, line=number, field="qid")
    if "prediction" not in row:
        raise InputError("missing", file=file, line=number, field="prediction")
    prediction = row["prediction"]
    if prediction is None:
        return qid, ""
    if isinstance(prediction, int) and not isinstance(prediction, bool):
        return qid, str(prediction)  # a numeric answer written as a JSON number
    if not isinstance(prediction, str):
        raise InputError(f"expected a string, got {prediction!r}", file=file, line=number, field="prediction")
    return qid, prediction


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_bytes(path, text.encode("utf-8"))
