"""Labeling: read each response's final answer, grade it against the ground truth, write the Label table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.answers import (
    ANSWER_LINES,
    BARE_MAX_CHARS,
    LABELLED_LINES,
    Extraction,
    accepted_values,
    read_bare,
    read_labelled,
    read_prose,
)
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.manifest import (
    MANIFEST,
    now_iso,
    read_manifest,
    read_parquet,
    require_own_folder,
    sha256_file,
    write_manifest,
    write_parquet,
)

LABELS_FILE = "labels.parquet"
LABEL_SCHEMA: dict[str, pl.DataType] = {
    "qid": pl.String(),
    "sample_idx": pl.Int64(),
    "extracted": pl.String(),
    "status": pl.String(),
    "correct": pl.Boolean(),
    "excluded": pl.Boolean(),
}
_PROGRESS_FROM = 20_000  # distinct answer texts; below this a bar is noise


def question_table(questions: list[Question]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(qid, kind, excluded) per question, and (qid, extracted) for every normalised answer graded correct."""
    table = pl.DataFrame(
        {"qid": [q.qid for q in questions], "kind": [q.answer_kind for q in questions],
         "excluded": [q.excluded for q in questions]},
        schema={"qid": pl.String(), "kind": pl.String(), "excluded": pl.Boolean()},
    )
    pairs = [(q.qid, value) for q in questions for value in accepted_values(q)]
    accepted = pl.DataFrame(pairs, schema={"qid": pl.String(), "extracted": pl.String()}, orient="row").unique()
    return table, accepted.with_columns(pl.lit(True).alias("correct"))


def label_responses(responses: pl.DataFrame, questions: list[Question], *, show_progress: bool = True) -> pl.DataFrame:
    """One Label row per response (sorted by qid, sample_idx); the same result as `extract_answer` + `grade` per row.

    The lines that can hold the answer are cut out in polars, in the order `extract_answer` tries them (labelled
    lines, then any keyword line, then the bare text); Python reads each distinct cut-out once (samples mostly end
    in the same few answer lines), and grading is a vectorised membership test.
    """
    require_columns(responses, ["qid", "sample_idx", "text"], "responses")
    table, accepted = question_table(questions)
    frame = responses.select("qid", pl.col("sample_idx").cast(pl.Int64), pl.col("text").fill_null(""))
    if not strictly_sorted(frame):  # load_responses returns sorted rows; anything else is sorted here once
        if frame.select(pl.struct("qid", "sample_idx").is_duplicated().any()).item():
            raise MedprefsError("responses: (qid, sample_idx) is not unique")
        frame = frame.sort("qid", "sample_idx")
    frame = frame.with_row_index("row")
    frame = frame.join(table, on="qid", how="left")
    missing = frame.filter(pl.col("kind").is_null())["qid"].unique().sort()
    if len(missing):
        raise MedprefsError(f"{len(missing)} response qid(s) are not in the corpus, e.g. {missing[0]!r}")
    labelled = _read_answers(frame, show_progress)
    labelled = labelled.join(accepted, on=["qid", "extracted"], how="left")  # extracted is null unless status is ok
    return (
        labelled.sort("row")  # back to (qid, sample_idx) order
        .select("qid", "sample_idx", "extracted", "status", pl.col("correct").fill_null(False), "excluded")
        .cast(LABEL_SCHEMA)  # type: ignore[arg-type]
    )


def _read_answers(frame: pl.DataFrame, show_progress: bool) -> pl.DataFrame:
    """`frame` with extracted/status: each stage reads the rows the previous one left (labelled lines, then any
    keyword line, then a short bare text); whatever is left has nothing to read and is unparseable."""
    stages = [
        (read_labelled, pl.col("text").str.extract_all(LABELLED_LINES).list.join("\n")),
        (read_prose, pl.col("text").str.extract_all(ANSWER_LINES).list.join("\n")),
        (read_bare, pl.when(pl.col("text").str.len_chars() <= BARE_MAX_CHARS).then("text").otherwise(pl.lit(""))),
    ]
    done, rest = [], frame
    for reader, key in stages:
        rest = rest.with_columns(key.alias("key"))
        candidates = rest.filter(pl.col("key") != "")
        read = candidates.join(_read_keys(candidates.select("key", "kind").unique(), reader, show_progress),
                               on=["key", "kind"], how="left")
        done.append(read.filter(pl.col("status").is_not_null()))
        rest = pl.concat([rest.filter(pl.col("key") == ""), read.filter(pl.col("status").is_null()).select(rest.columns)])
    done.append(rest.with_columns(pl.lit(None, pl.String()).alias("extracted"), pl.lit("unparseable").alias("status")))
    labelled = pl.concat([d.select(done[0].columns) for d in done])
    if len(labelled) != len(frame):  # every response is read exactly once
        raise AssertionError(f"labeling lost rows: {len(labelled)} of {len(frame)}")
    return labelled


def strictly_sorted(frame: pl.DataFrame) -> bool:
    """Sorted by (qid, sample_idx) with no pair repeated: cheap to check, and it makes sorting and dedup checks moot."""
    qid, idx = pl.col("qid"), pl.col("sample_idx")
    ascending = (qid > qid.shift(1)) | ((qid == qid.shift(1)) & (idx > idx.shift(1)))
    return bool(frame.select(ascending.slice(1).all()).item()) if len(frame) > 1 else True


def _read_keys(keys: pl.DataFrame, reader: Callable[[str, Any], Extraction | None], show_progress: bool) -> pl.DataFrame:
    """`reader` on each distinct (key, kind); a None result leaves status null (the next reader's turn)."""
    results: list[Extraction | None] = []
    rows = keys.iter_rows()
    if show_progress and len(keys) >= _PROGRESS_FROM:
        from medprefs.console import progress

        with progress() as bar:
            task = bar.add_task("reading answers", total=len(keys))
            for index, (key, kind) in enumerate(rows):
                results.append(reader(key, kind))
                if index % 10_000 == 0:
                    bar.update(task, completed=index)
            bar.update(task, completed=len(keys))
    else:
        results = [reader(key, kind) for key, kind in rows]
    return keys.with_columns(
        pl.Series("extracted", [r.value if r else None for r in results], dtype=pl.String()),
        pl.Series("status", [r.status if r else None for r in results], dtype=pl.String()),
    )


def label_counts(labels: pl.DataFrame) -> dict[str, Any]:
    """Counts for the manifest and the console: statuses, correct, excluded, accuracy over scored responses."""
    scored = labels.filter(~pl.col("excluded"))
    n = len(labels)
    status = {name: int((labels["status"] == name).sum()) for name in ("ok", "unparseable", "ambiguous")}
    correct = int(scored["correct"].sum()) if len(scored) else 0
    return {
        "responses": n,
        "questions": labels["qid"].n_unique() if n else 0,
        "status": status,
        "correct": correct,
        "incorrect": len(scored) - correct,
        "excluded": n - len(scored),
        "accuracy": round(correct / len(scored), 6) if len(scored) else None,
        "unparseable_rate": round(status["unparseable"] / n, 6) if n else None,
    }


def write_labels(frame: pl.DataFrame, out_dir: str | Path, provenance: dict[str, Any]) -> Path:
    """Write `labels.parquet` and a manifest with counts and `provenance` (responses and corpus it was made from)."""
    require_columns(frame, list(LABEL_SCHEMA), "labels")
    out = Path(out_dir)
    require_own_folder(out, "labels")
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(out / LABELS_FILE, frame.select(list(LABEL_SCHEMA)))
    manifest = {
        "kind": "labels",
        "created": now_iso(),
        "counts": label_counts(frame),
        "files": {LABELS_FILE: sha256_file(out / LABELS_FILE)},
        "extractor": {"labelled_lines": LABELLED_LINES, "answer_lines": ANSWER_LINES},
        **provenance,
    }
    write_manifest(out, manifest)
    return out


def labels_provenance(responses_dir: str | Path, corpus_ref: str, corpus: Any) -> dict[str, Any]:
    """What a labels folder was made from: the responses folder (its manifest hash) and the corpus version."""
    responses_dir = Path(responses_dir)
    return {
        "responses": {"path": str(responses_dir.resolve()), "manifest_sha256": sha256_file(responses_dir / MANIFEST)},
        "corpus": {"ref": corpus_ref, "name": corpus.name, "version_id": corpus.version_id},
    }


def read_labels(folder: str | Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """A labels folder's table and manifest; a missing or malformed folder is one clear error."""
    folder = Path(folder)
    path = folder / LABELS_FILE
    if not path.is_file():
        raise MedprefsError(f"{folder}: not a labels folder (no {LABELS_FILE})")
    frame = read_parquet(path)
    require_columns(frame, list(LABEL_SCHEMA), str(path))
    _check_labels(frame, path)
    return frame, read_manifest(folder)


def _check_labels(frame: pl.DataFrame, path: Path) -> None:
    """Types and values pairs rely on: a null `correct` or `excluded` would silently make a response rejected or
    drop it as excluded."""
    for column, dtype in LABEL_SCHEMA.items():
        actual = frame.schema[column]
        if actual != dtype and not (column == "sample_idx" and actual.is_integer()):
            raise MedprefsError(f"{path}: column {column} is {actual}, expected {dtype}")
    required = ["qid", "sample_idx", "status", "correct", "excluded"]
    bad = frame.with_row_index("row").filter(
        pl.any_horizontal(pl.col(required).is_null()) | ~pl.col("status").is_in(["ok", "unparseable", "ambiguous"])
        | (pl.col("correct") & (pl.col("status") != "ok"))
    )
    if len(bad):
        row = bad.row(0, named=True)
        raise MedprefsError(
            f"{path}: {len(bad)} row(s) with a null {'/'.join(required)}, an unknown status or correct without status "
            f"ok, first at row {row['row']} (qid {row['qid']!r}, sample_idx {row['sample_idx']}, status {row['status']!r})"
        )


def require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MedprefsError(f"{what}: missing column(s) {', '.join(missing)}")
