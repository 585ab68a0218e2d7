"""Prediction files: read `{"qid"|"problem_id", "prediction"}` JSONL (or an `eval run` predictions-<mode>.jsonl),
write per-question result JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medprefs.errors import InputError, MedprefsError
from medprefs.eval.answer_text import robust_text, strict_text
from medprefs.eval.scoring import AnswerTexts, Prediction
from medprefs.manifest import atomic_write_bytes


def read_predictions(path: str | Path) -> dict[str, Prediction]:
    """qid -> prediction text; `problem_id` (IgakuQA's name) is accepted for `qid`, a null prediction reads as ''.
    A row of an `eval run` predictions file (`raw` completion and prompt `mode`, no `prediction`) is read as the run
    read it, so scoring the file gives the run's numbers."""
    path = Path(path)
    if not path.is_file():
        raise MedprefsError(f"{path}: predictions file not found")
    predictions: dict[str, Prediction] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                qid, prediction = _parse_line(line, str(path), number)
                if qid in predictions:
                    raise InputError(f"second prediction for {qid}", file=str(path), line=number, field="qid")
                predictions[qid] = prediction
    return predictions


def _parse_line(line: str, file: str, number: int) -> tuple[str, Prediction]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(f"not valid JSON ({error.msg})", file=file, line=number) from None
    if not isinstance(row, dict):
        raise InputError("expected a JSON object", file=file, line=number)
    qid = row.get("qid", row.get("problem_id"))
    if not isinstance(qid, str) or not qid:
        raise InputError("missing (or not a string); 'problem_id' is accepted too", file=file, line=number, field="qid")
    if "prediction" not in row and isinstance(row.get("raw"), str):
        return qid, _run_completion(row["raw"], row.get("mode"), file, number)
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


def _run_completion(raw: str, mode: Any, file: str, number: int) -> AnswerTexts:
    # The official rule reads only the answer line (after the last `答え:` in explain), the shared extraction the
    # whole explain completion: one string could not give both, and `eval score` would disagree with `eval run`.
    if mode not in ("plain", "explain"):
        raise InputError(
            f"expected plain or explain beside a raw completion, got {mode!r}", file=file, line=number, field="mode"
        )
    return AnswerTexts(strict=strict_text(raw, mode), robust=robust_text(raw, mode))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_bytes(path, text.encode("utf-8"))
