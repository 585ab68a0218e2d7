"""Rich tables for the corpus commands (ingest summary, history, one version, a diff, verify results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from medprefs.corpus.collector import Reject
from medprefs.corpus.examine import CorpusDiff, VersionCheck
from medprefs.corpus.ingest import IngestOutcome
from medprefs.corpus.store import CorpusVersion

_SHOWN_REJECTS = 10
_SHOWN_VALUE = 80


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 1] + "…"


def per_year_table(per_year: dict[Any, int], title: str) -> Table:
    table = Table(title=title)
    table.add_column("year", justify="right")
    table.add_column("questions", justify="right")
    for year, n in per_year.items():
        table.add_row(str(year), f"{n:,}")
    table.add_row("[bold]total", f"[bold]{sum(per_year.values()):,}")
    return table


def ingest_lines(outcome: IngestOutcome) -> list[str]:
    state = "new version" if outcome.created else "already stored (same content), nothing written"
    lines = [f"[bold]{outcome.name}@{outcome.version_id}[/bold]: {state}"]
    if outcome.tag:
        lines.append(f"tag {outcome.tag} -> {outcome.version_id}")
    lines.append(f"read {outcome.read:,} = accepted {outcome.accepted:,} + rejected {outcome.rejected:,}")
    if outcome.rejects_file:
        lines.append(f"rejected rows and reasons: {outcome.rejects_file}")
    return lines


def read_rejects(path: Path, limit: int = _SHOWN_REJECTS) -> tuple[list[Reject], int]:
    """The first `limit` rejects of a rejects file, and how many it holds."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Reject(**json.loads(line)) for line in lines[:limit]], len(lines)


def rejects_table(rejects: list[Reject], total: int) -> Table:
    table = Table(title=f"first {min(len(rejects), _SHOWN_REJECTS)} of {total:,} rejected rows")
    table.add_column("file:line", no_wrap=True)  # the line number must survive a narrow terminal
    table.add_column("field", no_wrap=True)
    table.add_column("reason")
    for reject in rejects[:_SHOWN_REJECTS]:
        table.add_row(f"{Path(reject.file).name}:{reject.line}", reject.field or "", _short(reject.reason))
    return table


def history_table(name: str, events: list[dict[str, Any]], tags: dict[str, str]) -> Table:
    table = Table(title=f"history of {name} (newest first)")
    for column in ("time", "event", "version", "detail"):
        table.add_column(column)
    for event in reversed(events):
        version = str(event.get("version"))
        labels = ", ".join(tag for tag, target in tags.items() if target == version)
        if event.get("event") == "ingest":
            state = "new" if event.get("created") else "same content"
            detail = f"{state}; read {event.get('read')} = {event.get('accepted')} + {event.get('rejected')} rejected"
            detail += f"; parent {event.get('parent')}" if event.get("created") else ""
        elif event.get("event") == "tag":
            detail = f"tag {event.get('tag')} (was {event.get('previous')})"
        else:  # events written by other stages, e.g. a leakage filter
            skip = {"time", "event", "version"}
            detail = ", ".join(f"{key} {value}" for key, value in event.items() if key not in skip)
        table.add_row(
            str(event.get("time")), str(event.get("event")), version + (f" [{labels}]" if labels else ""), detail
        )
    return table


def _derivation(manifest: dict[str, Any]) -> str:
    """A version made from another one (leakage filter) was not ingested: say what it was made from."""
    derived = manifest.get("derived_from") or {}
    gate = manifest.get("leakage") or {}
    return (
        f"none: {derived.get('operation', 'derived')} of {derived.get('parent')}, dropped {derived.get('dropped')}; "
        f"leakage {gate.get('verdict', 'not recorded')}"
    )


def version_table(version: CorpusVersion, tags: list[str]) -> Table:
    manifest = version.manifest
    counts = manifest.get("counts", {})
    ingest = manifest.get("ingest") or {}
    table = Table(title=f"{version.ref}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    rows = {
        "tags": ", ".join(tags) or "-",
        "parent": manifest.get("parent") or "-",
        "created": manifest.get("created"),
        "questions": counts.get("rows"),
        "per year": ", ".join(f"{year}: {n}" for year, n in counts.get("per_year", {}).items()),
        "answer kinds": ", ".join(f"{kind}: {n}" for kind, n in counts.get("per_answer_kind", {}).items()),
        "shapes": ", ".join(f"{key}: {counts.get(key)}" for key in ("single", "multiple", "alternatives", "excluded")),
        "with image / explanation": f"{counts.get('with_image')} / {counts.get('with_explanation')}",
        "ingest": f"read {ingest.get('read')} = {ingest.get('accepted')} + {ingest.get('rejected')} rejected"
        if ingest
        else _derivation(manifest),
        "inputs": "\n".join(
            f"{item['path']} ({item['format']}, {item['sha256'][:12]})" for item in ingest.get("inputs", [])
        ),
        "path": str(version.path),
    }
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def diff_table(diff: CorpusDiff) -> Table:
    table = Table(title=f"{diff.old} -> {diff.new}")
    for column in ("qid", "change", "field", "old", "new"):
        table.add_column(column)
    for qid in diff.added:
        table.add_row(qid, "[green]added", "", "", "")
    for qid in diff.removed:
        table.add_row(qid, "[red]removed", "", "", "")
    for item in diff.changed:
        for change in item.changes:
            table.add_row(item.qid, "[yellow]changed", change.field, _short(change.old), _short(change.new))
    return table


def verify_table(checks: list[VersionCheck]) -> Table:
    table = Table(title="verify")
    for column in ("corpus", "version", "status"):
        table.add_column(column)
    for check in checks:
        status = "[green]ok" if check.ok else "[red]" + "\n".join(check.problems)
        table.add_row(check.name, check.version_id, status)
    return table
