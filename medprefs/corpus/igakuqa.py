"""The public IgakuQA layout: data/<year>/<exam>-<block>.jsonl question files with their metadata sidecars joined in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.corpus.rows import ParseFailure, Row, read_jsonl
from medprefs.corpus.validate import describe
from medprefs.errors import InputError, MedprefsError

QUESTION_FILE = re.compile(r"(?P<exam>\d{2,3})-(?P<block>[A-Za-z]+)\.jsonl")
SIDECAR = re.compile(r".+_(metadata|translate)\.jsonl")
PROBLEM_ID = re.compile(r"(?P<exam>\d{2,3})(?P<block>[A-Za-z]+)\d+")
YEAR_FOLDER = re.compile(r"\d{4}")
# Canonical field -> the IgakuQA name, so a reject names the field as it appears in the user's file.
FIELD_NAMES = {"qid": "problem_id", "stem": "problem_text", "has_image": "text_only", "prohibited": "kinki"}
_RENAMES = {"problem_id": "qid", "problem_text": "stem", "choices": "choices", "answer": "answer", "points": "points"}
_LAYOUT_FIELDS = frozenset({*_RENAMES, "text_only"})


def is_sidecar(path: Path) -> bool:
    return bool(SIDECAR.fullmatch(path.name))


def _question_files_under(path: Path) -> list[Path]:
    root = path / "data" if (path / "data").is_dir() else path  # the repository root also holds baseline results
    return sorted(file for file in root.rglob("*.jsonl") if QUESTION_FILE.fullmatch(file.name) and file.is_file())


def looks_like(path: Path) -> bool:
    """Whether `--format auto` should read `path` as IgakuQA: its file names follow the layout and rows have
    `problem_id` rather than the canonical `qid`."""
    if path.is_dir():
        return bool(_question_files_under(path))
    if not QUESTION_FILE.fullmatch(path.name):
        return False
    with open(path, "rb") as handle:
        first = next((line for line in handle if line.strip()), b"")
    try:
        row = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return True  # named like the layout; the row itself will be rejected with its reason
    return not (isinstance(row, dict) and "qid" in row)


def question_files(path: Path) -> list[Path]:
    """The question files of a layout folder (or the file itself); sidecars are never taken for questions."""
    if path.is_file():
        if is_sidecar(path):
            raise MedprefsError(f"{path}: an IgakuQA sidecar (metadata/translation), not a question file")
        return [path]
    files = _question_files_under(path)
    if not files:
        raise MedprefsError(f"{path}: no IgakuQA question files (data/<year>/<exam>-<block>.jsonl) found")
    return files


def _metadata(path: Path) -> dict[str, dict[str, Any]]:
    """`<exam>-<block>_metadata.jsonl` keyed by problem_id. A broken sidecar stops the ingest: joining it partly would
    silently drop category and prohibited choices from some questions."""
    sidecar = path.with_name(f"{path.stem}_metadata.jsonl")
    if not sidecar.is_file():
        return {}
    rows: dict[str, dict[str, Any]] = {}
    for line, row, _ in read_jsonl(sidecar):
        if isinstance(row, ParseFailure):
            raise InputError(row.reason, file=str(sidecar), line=line)
        if not isinstance(row, dict) or not isinstance(row.get("problem_id"), str):
            raise InputError("expected an object with a string problem_id", file=str(sidecar), line=line)
        problem_id = row["problem_id"].strip()
        if problem_id in rows:
            raise InputError(f"problem_id {problem_id} appears twice", file=str(sidecar), line=line)
        rows[problem_id] = row | {"_line": line}
    return rows


def _join_metadata(row: dict[str, Any], meta: dict[str, Any], sidecar: str, flags: list[str]) -> ParseFailure | None:
    where = f"{sidecar}:{meta['_line']}"
    category = meta.get("category")
    if isinstance(category, list) and all(isinstance(item, str) for item in category):
        category = ", ".join(category)
    if category not in (None, "") and not isinstance(category, str):
        return ParseFailure(f"{where}: expected text, got {describe(category)}", "category")
    if category:
        row["category"] = category
    kinki = meta.get("kinki")
    if isinstance(kinki, bool):
        if kinki:
            flags.append(where)  # a yes/no flag names no choice: nothing to record as prohibited
    elif isinstance(kinki, str | list):
        row["prohibited"] = kinki
    elif kinki is not None:
        return ParseFailure(f"{where}: expected prohibited choice letters, got {describe(kinki)}", "kinki")
    return None


def to_canonical(row: dict[str, Any], file: Path, meta: dict[str, Any] | None, flags: list[str]) -> Any:
    """One IgakuQA row as a canonical row: exam (and year, from a data/<year>/ folder) from where the file sits,
    `text_only: false` as `has_image`, points kept as given (validation reads "0" as excluded)."""
    # Other fields pass on as given: a canonical one (an added `explanation`) is used, any other is reported as
    # ignored, as in the other formats; none is dropped unseen.
    canonical = {key: value for key, value in row.items() if key not in _LAYOUT_FIELDS}
    canonical |= {dst: row[src] for src, dst in _RENAMES.items() if src in row}
    problem_id = row.get("problem_id")
    name = QUESTION_FILE.fullmatch(file.name)
    if name and isinstance(problem_id, str):
        parsed = PROBLEM_ID.fullmatch(problem_id.strip())
        if not parsed or (int(parsed["exam"]), parsed["block"].upper()) != (int(name["exam"]), name["block"].upper()):
            return ParseFailure(f"{problem_id!r} is not a question of {file.name}", "problem_id")
        canonical.setdefault("exam", int(name["exam"]))  # a row's own exam/year is kept, and checked against these
    if YEAR_FOLDER.fullmatch(file.parent.name):
        canonical.setdefault("year", int(file.parent.name))
    if "text_only" in row:
        if not isinstance(row["text_only"], bool):
            return ParseFailure(f"expected true or false, got {describe(row['text_only'])}", "text_only")
        canonical["has_image"] = not row["text_only"]
    if meta is not None:
        failure = _join_metadata(canonical, meta, f"{file.stem}_metadata.jsonl", flags)
        if failure:
            return failure
    return canonical


def read_rows(path: Path) -> Iterator[Row]:
    """Rows of one question file, as canonical rows with metadata joined in."""
    metadata = _metadata(path)
    flags: list[str] = []
    joined: set[str] = set()
    for line, row, raw in read_jsonl(path):
        if isinstance(row, dict):
            problem_id = row.get("problem_id")
            key = problem_id.strip() if isinstance(problem_id, str) else None
            meta = metadata.get(key) if key is not None else None
            if meta is not None:
                joined.add(key)
            yield line, to_canonical(row, path, meta, flags), raw
        else:
            yield line, row, raw
    if flags:
        announce(f"{path.name}: {len(flags)} metadata row(s) flag kinki without naming the choices; none recorded")
    unmatched = sorted(set(metadata) - joined)
    if unmatched:  # a mistyped problem_id would otherwise drop a question's category and kinki unseen
        shown = ", ".join(f"{key} (line {metadata[key]['_line']})" for key in unmatched[:5])
        announce(f"{path.stem}_metadata.jsonl: {len(unmatched)} row(s) match no question of {path.name}, not used: {shown}")
