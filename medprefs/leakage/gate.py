"""The gate: stages that publish or train refuse inputs without a passing leakage verdict unless a reason is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.errors import LeakageError
from medprefs.leakage.config import IGAKUQA_YEARS, PAPER_CUTOFF_YEAR
from medprefs.manifest import read_json

CLEAN_GATE_FILE = "gate.json"


def clean_gate_path(version_folder: str | Path) -> Path:
    """Where `leakage filter` records the gate of a stored corpus version it found clean. The passing version is the
    input itself (a version id is its content hash), whose manifest is immutable, so the record sits beside it:
    STORE/NAME/leakage/ID/gate.json for STORE/NAME/versions/ID."""
    folder = Path(version_folder)
    return folder.parents[1] / "leakage" / folder.name / CLEAN_GATE_FILE


def version_gate(version_folder: str | Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The gate record of a corpus version: its manifest's (the filter made it), else the record the filter wrote for
    it as found clean, provided that record names this very content; None when it was never checked."""
    if isinstance(manifest.get("leakage"), dict):
        return manifest["leakage"]
    path = clean_gate_path(version_folder)
    if manifest.get("kind") != "corpus-version" or not path.is_file():
        return None
    data = read_json(path)
    same = data.get("version") == manifest.get("id") and data.get("content_sha256") == manifest.get("content_sha256")
    return data.get("gate") if same and isinstance(data.get("gate"), dict) else None


def _problem(record: Any, what: str) -> str | None:
    """Why `record` does not let `what` through, or None when it passes."""
    if not isinstance(record, dict) or "verdict" not in record:
        return (
            f"{what} has no leakage verdict (none was recorded: `medprefs leakage filter` records one for a stored "
            "corpus, `medprefs pairs build` carries it (or --leakage-report) into a pairs dataset; for a text folder "
            "see docs/training.md)"
        )
    if record["verdict"] != "pass":
        flagged = record.get("flagged", "?")
        digest = str(record.get("report_sha256") or "")[:12] or "no report"
        return f"{what} failed the leakage check ({flagged} training item(s) flagged; report {digest})"
    cutoff = record.get("cutoff_year")
    if isinstance(cutoff, int) and cutoff > PAPER_CUTOFF_YEAR:
        # A pass under a later cut-off means IgakuQA questions were allowed into training, not that none got there.
        reached = [year for year in IGAKUQA_YEARS if year <= cutoff]
        return (
            f"{what} was checked with cut-off year {cutoff}, which puts IgakuQA evaluation years "
            f"{', '.join(map(str, reached))} on its training side (the paper's cut-off is {PAPER_CUTOFF_YEAR})"
        )
    return None


def require_passing(record: dict[str, Any] | None, allow_leakage: str | None, what: str) -> dict[str, Any]:
    """Return the gate record to carry forward; raise LeakageError unless it passes or `allow_leakage` gives a reason.

    With a reason, the returned copy has `override` set to it: the caller writes it into the dataset or model card.
    """
    problem = _problem(record, what)
    if problem is None:
        return dict(record)  # type: ignore[arg-type]
    reason = (allow_leakage or "").strip()
    if not reason:
        raise LeakageError(f"{problem}; to use it anyway pass --allow-leakage REASON (the reason goes into the card)")
    announce(f"{problem}; used anyway because --allow-leakage {reason!r} (recorded in the card)")
    base = dict(record) if isinstance(record, dict) else {}
    return {
        "verdict": base.get("verdict", "missing"),
        "report_sha256": base.get("report_sha256"),
        "cutoff_year": base.get("cutoff_year"),
        "flagged": base.get("flagged"),
        **{
            k: v for k, v in base.items() if k not in ("verdict", "report_sha256", "cutoff_year", "flagged", "override")
        },
        "override": reason,
    }
