"""Audit a preference dataset before training: composition, labels, length bias, duplicates, leakage, examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from medprefs.manifest import atomic_write_bytes, sha256_file


class AuditPaths(NamedTuple):
    html: Path
    markdown: Path
    json: Path


def audit(dataset_dir: str | Path, out_dir: str | Path, labels_dir: str | Path | None = None) -> AuditPaths:
    """Write report.html (self-contained), report.md and audit.json for the dataset folder into `out_dir`.

    Label figures come from `labels_dir`, or else from the labels folder the dataset's manifest names, if it exists.
    """
    from medprefs.audit.render import render_html, render_markdown
    from medprefs.audit.stats import compute
    from medprefs.labeling import LABELS_FILE, read_labels
    from medprefs.pairs import read_pairs

    train, validation, manifest = read_pairs(dataset_dir)
    recorded = (manifest.get("sources") or {}).get("labels") or {}
    labels_path = labels_dir or recorded.get("path")
    labels, labels_source = None, None
    if labels_path and (labels_dir or Path(labels_path).is_dir()):
        labels, _ = read_labels(labels_path)
        # labels re-made in the same folder after the pairs were built describe other responses than the pairs'
        current = sha256_file(Path(labels_path) / LABELS_FILE)
        labels_source = {"path": str(labels_path), "sha256": current, "dataset_built_from": recorded.get("sha256"),
                         "matches_dataset": recorded.get("sha256") in (None, current)}
    data = compute(train, validation, manifest, labels) | {"labels_source": labels_source}
    title = f"Preference dataset audit: {Path(dataset_dir).resolve().name}"
    out = Path(out_dir)
    paths = AuditPaths(out / "report.html", out / "report.md", out / "audit.json")
    atomic_write_bytes(paths.html, render_html(data, title).encode("utf-8"))
    atomic_write_bytes(paths.markdown, render_markdown(data, title).encode("utf-8"))
    atomic_write_bytes(paths.json, (json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n").encode())
    return paths


__all__ = ["AuditPaths", "audit"]
