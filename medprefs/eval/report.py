"""Score tables from eval summaries: rich for the terminal, Markdown for report files and `eval compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from medprefs.errors import MedprefsError
from medprefs.manifest import read_json

Row = list[str]
SCORE_NOTE = "score = points earned / points possible; accuracy = correct / questions"
PROHIBITED_NOTE = "prohibited = answers that picked a prohibited choice (禁忌肢) / questions that have one"
SCORE_HEADERS = ["overall", "points", "accuracy"]
GAP_NOTE = "gap = explain − plain (score)"


def fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def summary_years(summaries: list[dict[str, Any]]) -> list[str]:
    years = {year for s in summaries for mode in s["modes"].values() for year in mode["per_year"]}
    return sorted(years)


def prohibited_cell(tally: dict[str, Any]) -> str:
    """picked/questions; "-" where no question has a prohibited choice (or the summary predates the count)."""
    if not tally.get("prohibited_questions"):
        return "-"
    return f"{tally['prohibited_picked']}/{tally['prohibited_questions']}"


def with_prohibited(summaries: list[dict[str, Any]]) -> bool:
    """Whether any benchmark here marks prohibited choices: only then do tables carry the column."""
    return any(mode["overall"].get("prohibited_questions") for s in summaries for mode in s["modes"].values())


def summary_rows(summary: dict[str, Any], years: list[str], prohibited: bool) -> list[Row]:
    """[mode, score per year..., overall score, points/possible, accuracy(, prohibited)] per mode, then the gap row."""
    rows = []
    for mode, report in summary["modes"].items():
        per_year = [fmt(report["per_year"][y]["score"]) if y in report["per_year"] else "-" for y in years]
        overall = report["overall"]
        points = f"{overall['points']}/{overall['possible']}"
        rows.append([mode, *per_year, fmt(overall["score"]), points, fmt(overall["accuracy"])]
                    + ([prohibited_cell(overall)] if prohibited else []))
    gap = summary.get("gap")
    if gap:
        per_year = [fmt(gap["per_year"].get(y), signed=True) for y in years]
        rows.append(["gap", *per_year, fmt(gap["overall"], signed=True), "", ""] + ([""] if prohibited else []))
    return rows


def _notes(summaries: list[dict[str, Any]]) -> str:
    notes = [SCORE_NOTE]
    notes += [PROHIBITED_NOTE] if with_prohibited(summaries) else []
    notes += [GAP_NOTE] if any(s.get("gap") for s in summaries) else []
    return "; ".join(notes)


def score_table(summary: dict[str, Any], title: str, first: str = "prompt") -> Table:
    """One run (or one scored predictions file, `first` naming its row-label column)."""
    years, prohibited = summary_years([summary]), with_prohibited([summary])
    table = Table(title=f"{title}  ({summary['score_mode']} scoring, {summary['questions']} questions)")
    table.caption = _notes([summary])
    for header in [first, *years, *SCORE_HEADERS, *(["prohibited"] if prohibited else [])]:
        table.add_column(header, justify="left" if header == first else "right")
    for row in summary_rows(summary, years, prohibited):
        table.add_row(*row)
    return table


def markdown(headers: list[str], rows: list[Row]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_markdown(summary: dict[str, Any], title: str) -> str:
    """The report file of one run: what was evaluated, then the score table."""
    years, prohibited = summary_years([summary]), with_prohibited([summary])
    adapter = f" + adapter `{summary['adapter']}`" if summary.get("adapter") else ""
    head = (
        f"# Evaluation: {title}\n\n"
        f"Model `{summary['model']}`{adapter}; {summary['shots']}-shot, greedy, {summary['score_mode']} scoring; "
        f"{summary['questions']} questions ({summary['skipped_images']} skipped for missing images).\n"
    )
    headers = ["prompt", *years, *SCORE_HEADERS, *(["prohibited"] if prohibited else [])]
    table = markdown(headers, summary_rows(summary, years, prohibited))
    return f"{head}{_notes([summary])}.\n\n{table}"


def load_run(path: str | Path) -> tuple[str, dict[str, Any]]:
    """(label, summary) of a run folder or its summary.json; the label is the folder's name (a summary saved under
    another name: its file name without the suffix)."""
    file = _summary_file(path)
    summary = read_json(file)
    if not isinstance(summary, dict) or not isinstance(summary.get("modes"), dict) or "score_mode" not in summary:
        raise MedprefsError(f"{file}: not an eval summary (no 'modes' and 'score_mode'); give an eval run folder")
    return _run_id(file).name, summary


def _summary_file(path: str | Path) -> Path:
    path = Path(path)
    return path / "summary.json" if path.is_dir() else path


def _run_id(file: Path) -> Path:
    # Resolved: `summary.json` given from inside its folder has the parent name "" (an empty run label).
    file = file.resolve()
    return file.parent if file.name == "summary.json" else file.with_suffix("")


def load_runs(paths: list[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """`load_run` of each, labelled by as many trailing path parts as tell them apart (two `eval` folders become
    `demo/eval` and `cli/eval`)."""
    runs = [load_run(path) for path in paths]
    folders = [_run_id(_summary_file(path)) for path in paths]
    depth = 1
    labels = [label for label, _ in runs]
    while len(set(labels)) < len(labels) and depth < max(len(f.parts) for f in folders):
        depth += 1
        labels = ["/".join(folder.parts[-depth:]) for folder in folders]
    return [(label, summary) for label, (_, summary) in zip(labels, runs, strict=True)]


def compare_rows(runs: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Row]]:
    """Runs side by side, one row per run and prompt mode plus each run's gap: the paper's table shape, with the
    prohibited-choice count beside the score (a model can gain points and pick more 禁忌肢)."""
    summaries = [summary for _, summary in runs]
    years, prohibited = summary_years(summaries), with_prohibited(summaries)
    rows = []
    for label, summary in runs:
        for row in summary_rows(summary, years, prohibited):
            rows.append([label, *row[: len(years) + 2], *row[len(years) + 4:]])  # without points and accuracy
    return ["run", "prompt", *years, "overall", *(["prohibited"] if prohibited else [])], rows


def compare_table(runs: list[tuple[str, dict[str, Any]]]) -> Table:
    headers, rows = compare_rows(runs)
    table = Table(title="IgakuQA-style scores", caption=_notes([summary for _, summary in runs]))
    for header in headers:
        table.add_column(header, justify="left" if header in ("run", "prompt") else "right")
    for row in rows:
        table.add_row(*row)
    return table
