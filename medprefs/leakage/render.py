"""Markdown and HTML pages of a leakage report: counts, every finding, and flagged pairs side by side."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from medprefs.leakage.highlight import Run

if TYPE_CHECKING:
    from medprefs.leakage.report import LeakageReport

_CSS = """body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
td.text{white-space:pre-wrap;width:50%}mark{background:#ffd54f}.fail{color:#b00020}.pass{color:#1b5e20}"""


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _settings(report: LeakageReport) -> list[tuple[str, str]]:
    config = report.config
    rows = [(f"{side} source", str(report.sources.get(side, "(in memory)"))) for side in ("train", "eval")]
    rows += [
        ("cut-off year", str(config["cutoff_year"])),
        ("eval years", ", ".join(map(str, config["eval_years"]))),
        ("n-gram (characters)", str(config["ngram"])),
        ("near-duplicate threshold (Jaccard)", str(config["threshold"])),
        (
            "containment threshold",
            f"{config['containment_threshold']} (at least {config['min_shared_ngrams']} n-grams)",
        ),
        ("stem coverage needed", f"{config['stem_threshold']} (when the eval stem is distinctive)"),
    ]
    return rows


def _finding_rows(report: LeakageReport) -> list[list[str]]:
    return [
        [
            f.train_qid,
            f.eval_qid or "–",
            f.rule,
            _fmt(f.similarity),
            _fmt(f.containment),
            _fmt(f.stem_coverage),
            _fmt(f.shared_ngrams),
            f.detail,
        ]
        for f in report.flagged
    ]


_FINDING_HEADER = [
    "train item",
    "eval item",
    "rule",
    "similarity",
    "containment",
    "stem coverage",
    "shared n-grams",
    "detail",
]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_runs(runs: list[Run]) -> str:
    # <mark> rather than **bold**: CommonMark emphasis next to CJK punctuation often fails to render.
    return "".join(f"<mark>{html.escape(text)}</mark>" if shared else html.escape(text) for text, shared in runs)


def _findings_by_pair(report: LeakageReport) -> dict:
    return {(f.train_qid, f.eval_qid): f for f in report.flagged if f.eval_qid}


def render_markdown(report: LeakageReport) -> str:
    lines = [f"# Leakage report: {report.verdict.upper()}", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {key} | {_md_cell(value)} |" for key, value in _settings(report)]
    lines += ["", "## Counts", "", "| count | value |", "| --- | --- |"]
    lines += [f"| {key} | {_md_cell(str(value))} |" for key, value in report.counts.items()]
    lines += ["", f"## Flagged ({len(report.flagged)})", ""]
    if report.flagged:
        lines += ["| " + " | ".join(_FINDING_HEADER) + " |", "|" + " --- |" * len(_FINDING_HEADER)]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in _finding_rows(report)]
    else:
        lines.append("No training item collides with the evaluation set.")
    if report.views:
        lines += ["", "## Flagged pairs side by side", "", "Shared text is <mark>highlighted</mark> (NFKC text)."]
    by_pair = _findings_by_pair(report)
    for number, ((train_id, eval_id), pair) in enumerate(report.views.items(), start=1):
        finding = by_pair[(train_id, eval_id)]
        lines += [
            "",
            f"### {number}. {train_id} ↔ {eval_id}: {finding.rule}, similarity {_fmt(finding.similarity)}",
            "",
        ]
        lines += [f"| training: {_md_cell(train_id)} | evaluation: {_md_cell(eval_id)} |", "| --- | --- |"]
        lines.append(f"| {_md_cell(_md_runs(pair.train))} | {_md_cell(_md_runs(pair.eval))} |")
    hidden = sum(1 for f in report.flagged if f.eval_qid) - len(report.views)
    if hidden > 0:
        lines += ["", f"{hidden} more flagged pairs are listed above and in report.json without a side-by-side view."]
    return "\n".join(lines) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: LeakageReport) -> str:
    verdict = report.verdict
    parts = [
        f"<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>Leakage report: {verdict}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Leakage report: <span class='{verdict}'>{verdict.upper()}</span></h1>",
        _html_table(["setting", "value"], [list(row) for row in _settings(report)]),
        "<h2>Counts</h2>",
        _html_table(["count", "value"], [[k, str(v)] for k, v in report.counts.items()]),
        f"<h2>Flagged ({len(report.flagged)})</h2>",
        _html_table(_FINDING_HEADER, _finding_rows(report)) if report.flagged else "<p>No training item collides.</p>",
    ]
    if report.views:
        parts.append("<h2>Flagged pairs side by side</h2><p>Shared text is <mark>highlighted</mark>.</p>")
    by_pair = _findings_by_pair(report)
    for number, ((train_id, eval_id), pair) in enumerate(report.views.items(), start=1):
        finding = by_pair[(train_id, eval_id)]
        title = f"{number}. {train_id} ↔ {eval_id}: {finding.rule}, similarity {_fmt(finding.similarity)}"
        parts += [
            f"<h3>{html.escape(title)}</h3><table><tr><th>training: {html.escape(train_id)}</th>",
            f"<th>evaluation: {html.escape(eval_id)}</th></tr><tr><td class='text'>{_md_runs(pair.train)}</td>",
            f"<td class='text'>{_md_runs(pair.eval)}</td></tr></table>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
