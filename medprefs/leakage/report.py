"""The leakage report: verdict, findings and counts; its JSON is hashed into the gate record of whatever is built."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from medprefs.leakage.findings import Finding
from medprefs.leakage.highlight import PairView
from medprefs.manifest import atomic_write_bytes, sha256_bytes

REPORT_SCHEMA = 1


class ReportPaths(NamedTuple):
    markdown: Path
    html: Path
    json: Path


@dataclass
class LeakageReport:
    """Result of `scan`. `views` (the highlighted pairs) are for the Markdown/HTML pages and are not hashed."""

    verdict: Literal["pass", "fail"]
    flagged: list[Finding]
    counts: dict[str, Any]
    config: dict[str, Any]
    sources: dict[str, Any] = field(default_factory=dict)
    views: dict[tuple[str, str], PairView] = field(default_factory=dict, repr=False, compare=False)

    @property
    def cutoff_year(self) -> int:
        return int(self.config["cutoff_year"])

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "verdict": self.verdict,
            "counts": self.counts,
            "flagged": [asdict(finding) for finding in self.flagged],
            "config": self.config,
            "sources": self.sources,
        }

    def summary(self) -> dict[str, Any]:
        """What `leakage scan --json` prints."""
        return {"verdict": self.verdict, "flagged": [f.brief() for f in self.flagged], "counts": self.counts}

    def json_bytes(self) -> bytes:
        """The exact bytes of report.json (sorted keys), so `sha256sum report.json` equals `report_sha256`."""
        return (json.dumps(self.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @property
    def report_sha256(self) -> str:
        return sha256_bytes(self.json_bytes())

    def gate_record(self) -> dict[str, Any]:
        """The record that goes under "leakage" in the manifest of anything built from the training side."""
        return {
            "verdict": self.verdict,
            "report_sha256": self.report_sha256,
            "cutoff_year": self.cutoff_year,
            "flagged": self.counts["flagged_train_items"],
            "override": None,
        }

    def write(self, out_dir: str | Path) -> ReportPaths:
        """Write report.md, report.html and report.json into `out_dir`."""
        from medprefs.leakage.render import render_html, render_markdown

        out = Path(out_dir)
        paths = ReportPaths(out / "report.md", out / "report.html", out / "report.json")
        atomic_write_bytes(paths.json, self.json_bytes())
        atomic_write_bytes(paths.markdown, render_markdown(self).encode("utf-8"))
        atomic_write_bytes(paths.html, render_html(self).encode("utf-8"))
        return paths
