"""Filter mode on a stored corpus: a new version without the flagged items, the dropped ones kept beside it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.leakage.config import LeakageConfig
from medprefs.leakage.filter import FilteredCorpus, filter_corpus
from medprefs.leakage.gate import clean_gate_path
from medprefs.leakage.report import LeakageReport, ReportPaths
from medprefs.leakage.scan import scan
from medprefs.manifest import read_json, write_json, write_parquet

DROPPED_FILE = "dropped.parquet"


@dataclass(frozen=True)
class FilterOutcome:
    report: LeakageReport  # the scan that decided what to drop
    rescan: LeakageReport  # the kept questions scanned again: must pass
    filtered: FilteredCorpus
    version_id: str  # the new version (the same as the input when nothing was flagged)
    where: Path  # the folder holding dropped.parquet and both reports
    report_paths: ReportPaths


def _store_version(
    store: Any, version: Any, kept: pl.DataFrame, gate: dict[str, Any], derived: dict[str, Any], tag: str | None
) -> str:
    """Write `kept` as a version of the same corpus whose manifest carries the gate record and its origin."""
    from medprefs.corpus import store_derived_version

    saved = store_derived_version(
        store,
        version.name,
        kept,
        parent=version.version_id,
        event="leakage-filter",
        manifest_extra={"leakage": gate, "derived_from": derived},
        history_extra={"dropped": derived["dropped"]},
        tag=tag,
    )
    return saved.version_id


def _record_dir(folder: Path, derived: dict[str, Any]) -> Path:
    """`folder`, unless it holds the record of another filter run (the one that made this version, which its manifest
    names): that record, its dropped rows included, is never overwritten; this run goes to a folder of its own."""
    previous = folder / "filter.json"
    if previous.is_file():
        old = read_json(previous)
        if (old.get("parent"), old.get("scan_report_sha256")) != (derived["parent"], derived["scan_report_sha256"]):
            return folder / "runs" / f"{derived['parent']}-{derived['scan_report_sha256'][:12]}"
    return folder


def filter_and_store(
    ref: str,
    evaluation: list[Question],
    config: LeakageConfig,
    *,
    store: str | Path | None = None,
    tag: str | None = None,
    sources: dict[str, Any] | None = None,
    report_dir: Path | None = None,
) -> FilterOutcome:
    """Scan the stored corpus `ref`, drop every flagged question, rescan, and store the rest as a new version.

    The dropped questions (full rows + reasons) and both reports go to `STORE/<name>/leakage/<new id>/` (or
    `report_dir`); the new version's manifest records the passing gate of the rescan.
    """
    from medprefs.corpus import CorpusStore, content_identity

    corpora = CorpusStore(store)
    version = corpora.load(ref)
    origin = {
        "kind": "corpus",
        "ref": ref,
        "name": version.name,
        "version": version.version_id,
        "content_sha256": version.manifest.get("content_sha256"),
    }
    sources = {**(sources or {}), "train": origin}
    report = scan(version.questions, evaluation, config, sources=sources)
    filtered = filter_corpus(version.questions, report)
    kept = version.frame.filter(~pl.col("qid").is_in(list(filtered.reasons)))
    # The rescan checked the kept questions: its report names their content (the id they are stored under), so a
    # stage given this report can tell it belongs to the corpus it builds from.
    kept_sha256, kept_id = content_identity(kept)
    checked = {"kind": "corpus", "name": version.name, "version": kept_id,
               "content_sha256": kept_sha256, "filtered_from": version.ref}
    rescan = scan(filtered.kept, evaluation, config, sources={**sources, "train": checked})
    if rescan.verdict != "pass":  # removing every flagged item must leave nothing flagged
        raise MedprefsError(f"internal: the filtered corpus still fails ({rescan.counts['flagged']} findings)")
    derived = {
        "operation": "leakage-filter",
        "parent": version.version_id,
        "dropped": len(filtered.dropped),
        "scan_report_sha256": report.report_sha256,
    }
    gate = rescan.gate_record()
    if filtered.dropped:
        new_id = _store_version(corpora, version, kept, gate, derived, tag)
    else:  # nothing to drop: the input is the result; its gate record goes beside it, the tag asked for points at it
        new_id = version.version_id
        record = {"version": new_id, "content_sha256": version.manifest.get("content_sha256"), "gate": gate}
        write_json(clean_gate_path(version.path), record)
        with corpora.locked(version.name):
            corpora.append_history(version.name, {"event": "leakage-filter", "version": new_id, "parent": new_id,
                                                  "created": False, "tag": tag, "dropped": 0})
            if tag:
                corpora.tag_locked(version.name, tag, new_id)
    where = Path(report_dir) if report_dir else _record_dir(version.path.parents[1] / "leakage" / new_id, derived)
    paths = report.write(where / "scan")
    rescan.write(where / "rescan")
    write_parquet(where / DROPPED_FILE, filtered.dropped_frame())
    write_json(where / "filter.json", {**derived, "version": new_id, "kept": len(filtered.kept), "gate": gate})
    return FilterOutcome(report, rescan, filtered, new_id, where, paths)
