"""The audit as one self-contained HTML page (inline CSS and SVG) and a Markdown summary."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from medprefs.audit import svg
from medprefs.pairs import PAIR_TYPES

_CSS = """
body{font-family:system-ui,'Hiragino Sans','Noto Sans CJK JP','IPAGothic','Yu Gothic',sans-serif;margin:24px auto;max-width:1000px;color:#1a202c;line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #e2e8f0;padding:4px 10px;text-align:right}
th{background:#f7fafc}td:first-child,th:first-child{text-align:left}
.flag{background:#fff5f5;border-left:4px solid #c53030;padding:6px 10px;margin:6px 0}
.ok{background:#f0fff4;border-left:4px solid #2f855a;padding:6px 10px;margin:6px 0}
.muted{color:#718096}.charts{display:flex;flex-wrap:wrap;gap:12px}
pre{white-space:pre-wrap;background:#f7fafc;padding:8px;border-radius:4px;font-size:12px;margin:4px 0}
.example{border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px;margin:12px 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}
"""


def flags(data: dict[str, Any]) -> list[str]:
    """Everything a reviewer should look at before training, one line each."""
    found = []
    leakage = data["leakage"]
    if not leakage:
        found.append("no leakage verdict recorded: publish and train will refuse this dataset")
    elif leakage.get("verdict") != "pass":
        found.append(f"leakage verdict is {leakage.get('verdict')!r} ({leakage.get('flagged')} flagged)")
    if leakage and leakage.get("override"):
        found.append(f"leakage check overridden: {leakage['override']}")
    cutoff = (leakage or {}).get("cutoff_year")
    late = {y: sum(c.values()) for y, c in data["composition"]["by_year"].items() if cutoff and int(y) > int(cutoff)}
    if late:
        found.append(f"{sum(late.values())} pair(s) come from exam years after the leakage cutoff {cutoff}: "
                     f"{', '.join(sorted(late))}")
    for pair_type, lengths in data["lengths"].items():
        if lengths.get("flag"):
            found.append(f"length bias in {pair_type}: {lengths['flag']}")
    overview, duplicates = data["overview"], data["duplicates"]
    if overview["split_overlap_questions"]:
        found.append(f"{overview['split_overlap_questions']} question(s) appear in both train and validation")
    if duplicates["prompts_in_both_splits"]:
        found.append(f"{duplicates['prompts_in_both_splits']} prompt(s) appear in both splits")
    if duplicates["prompts_shared_by_questions"]:
        found.append(f"{duplicates['prompts_shared_by_questions']} prompt(s) are shared by different questions")
    if duplicates["duplicate_rows"]:
        found.append(f"{duplicates['duplicate_rows']} row(s) are exact duplicates")
    labels = data["labels"]
    source = data.get("labels_source")
    if source and not source["matches_dataset"]:
        found.append(f"labels in {source['path']} changed since the dataset was built from them: the label figures "
                     "are not those of its pairs")
    if labels and (labels["unparseable_rate"] or 0) > 0.1:
        found.append(f"unparseable rate is {labels['unparseable_rate']:.1%} (answers the extractor could not read)")
    return found


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


def _composition_rows(data: dict[str, Any]) -> list[list[Any]]:
    by_year = data["composition"]["by_year"]
    rows = [[year, *(counts[t] for t in PAIR_TYPES), sum(counts.values())] for year, counts in by_year.items()]
    totals = [sum(r[i] for r in rows) for i in range(1, len(PAIR_TYPES) + 2)]
    return [*rows, ["all", *totals]]


def _length_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for pair_type, d in data["lengths"].items():
        if d["pairs"]:
            rows.append([pair_type, d["pairs"], d["chosen"]["mean"], d["rejected"]["mean"], d["chosen"]["median"],
                         d["rejected"]["median"], d["median_ratio"], f"{d['chosen_longer_share']:.0%}",
                         "⚠ bias" if d["flag"] else "ok"])
    return rows


LENGTH_HEADER = ["pair type", "pairs", "chosen mean", "rejected mean", "chosen median", "rejected median",
                 "median ratio", "chosen longer", "verdict"]


def render_html(data: dict[str, Any], title: str) -> str:
    overview, comp = data["overview"], data["composition"]
    parts = [f"<h1>{escape(title)}</h1>",
             f"<p class='muted'>format {escape(str(overview['format']))} · created {escape(str(overview['created']))}</p>"]
    found = flags(data)
    parts.append("<h2>Findings</h2>")
    parts += [f"<div class='flag'>{escape(f)}</div>" for f in found] or ["<div class='ok'>nothing flagged</div>"]
    parts.append("<h2>Overview</h2>")
    parts.append(_table(["split", "rows", "questions"], [[s, overview["rows"][s], overview["questions"][s]]
                                                         for s in ("train", "validation")]))
    parts.append(_leakage_html(data["leakage"]))
    parts.append("<h2>Rows per year and pair type</h2>")
    years = list(comp["by_year"])
    parts.append(svg.bar_chart("rows per year and pair type", years,
                               {t: [comp["by_year"][y][t] for y in years] for t in PAIR_TYPES}))
    parts.append(_table(["year", *PAIR_TYPES, "all"], _composition_rows(data)))
    parts.append(_table(["split", *PAIR_TYPES], [[s, *(c[t] for t in PAIR_TYPES)] for s, c in comp["by_split"].items()]))
    parts.append(_labels_html(data["labels"]))
    parts.append("<h2>Length of chosen vs rejected (characters)</h2>")
    parts.append(_table(LENGTH_HEADER, _length_rows(data)))
    charts = [svg.histogram(t, d["edges"], {"chosen": d["chosen_hist"], "rejected": d["rejected_hist"]},
                            x_label=f"{t}: characters") for t, d in data["lengths"].items() if d["pairs"]]
    parts.append(f"<div class='charts'>{''.join(charts)}</div>")
    parts.append(_duplicates_html(data["duplicates"]))
    parts.append("<h2>Examples</h2>" + "".join(_example_html(e) for e in data["examples"]))
    parts.append("<h2>Sources and configuration</h2>")
    provenance = {k: overview[k] for k in ("sources", "config", "skipped")}
    parts.append(f"<pre>{escape(json.dumps(provenance, ensure_ascii=False, indent=2))}</pre>")
    return (f"<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def _leakage_html(leakage: dict[str, Any] | None) -> str:
    if not leakage:
        return "<h2>Leakage verdict</h2><div class='flag'>none recorded</div>"
    css = "ok" if leakage.get("verdict") == "pass" and not leakage.get("override") else "flag"
    rows = [[k, str(leakage.get(k))] for k in ("verdict", "cutoff_year", "flagged", "report_sha256", "override")]
    return f"<h2>Leakage verdict</h2><div class='{css}'>{escape(str(leakage.get('verdict')))}</div>" + _table(
        ["field", "value"], rows)


def _labels_html(labels: dict[str, Any] | None) -> str:
    if labels is None:
        return "<h2>Labels</h2><p class='muted'>no labels folder given (use --labels DIR)</p>"
    status = labels["status"]
    hist = labels["accuracy_hist"]
    return (
        "<h2>Labels</h2>"
        + svg.share_bar("label distribution", {"correct": labels["correct"], "incorrect": labels["incorrect"],
                                                "excluded (0 points)": labels["excluded"]})
        + svg.share_bar("answer status", status)
        + _table(["responses", "questions", "accuracy", "unparseable rate", "ambiguous", "all correct",
                  "all wrong"],
                 [[labels["responses"], labels["questions"], labels["accuracy"], labels["unparseable_rate"],
                   status["ambiguous"], labels["questions_all_correct"], labels["questions_all_wrong"]]])
        + svg.histogram("per-question accuracy", labels["accuracy_edges"], {"questions": hist},
                        width=720, x_label="share of a question's responses graded correct")
    )


def _duplicates_html(d: dict[str, Any]) -> str:
    rows = [["distinct prompts", d["distinct_prompts"]], ["prompts shared by several questions",
                                                           d["prompts_shared_by_questions"]],
            ["prompts in both splits", d["prompts_in_both_splits"]], ["duplicate rows", d["duplicate_rows"]]]
    shown = "".join(f"<li>{escape(', '.join(q))}</li>" for q in d["examples"])
    return "<h2>Duplicates</h2>" + _table(["check", "count"], rows) + (f"<ul>{shown}</ul>" if shown else "")


_SIDE = {"gt": "ground truth", "chosen": "correct sample", "rejected": "wrong or unreadable sample"}


def _example_html(e: dict[str, Any]) -> str:
    upper, lower = (_SIDE.get(side, side) for side in e["pair_type"].split(">"))
    return (f"<div class='example'><b>{escape(e['pair_type'])}</b> · {escape(e['qid'])} · {e['year']} · "
            f"{escape(e['split'])}<pre>{escape(e['prompt_tail'])}</pre><div class='pair'>"
            f"<div>chosen <span class='muted'>({upper})</span><pre>{escape(e['chosen'])}</pre></div>"
            f"<div>rejected <span class='muted'>({lower})</span><pre>{escape(e['rejected'])}</pre></div></div></div>")


def render_markdown(data: dict[str, Any], title: str) -> str:
    overview = data["overview"]
    lines = [f"# {title}", "", "## Findings", ""]
    lines += [f"- ⚠ {f}" for f in flags(data)] or ["- nothing flagged"]
    lines += ["", "## Overview", "", _md(["split", "rows", "questions"],
                                         [[s, overview["rows"][s], overview["questions"][s]] for s in ("train", "validation")])]
    leakage = data["leakage"] or {}
    lines += ["", f"Leakage verdict: **{leakage.get('verdict', 'none recorded')}**"
              + (f" (override: {leakage['override']})" if leakage.get("override") else ""), ""]
    lines += ["## Rows per year and pair type", "", _md(["year", *PAIR_TYPES, "all"], _composition_rows(data)), ""]
    labels = data["labels"]
    if labels:
        lines += ["## Labels", "", _md(["responses", "correct", "incorrect", "excluded", "accuracy", "unparseable rate"],
                                       [[labels["responses"], labels["correct"], labels["incorrect"],
                                         labels["excluded"], labels["accuracy"], labels["unparseable_rate"]]]), ""]
    lines += ["## Lengths (characters)", "", _md(LENGTH_HEADER, _length_rows(data)), ""]
    d = data["duplicates"]
    lines += ["## Duplicates", "", f"- prompts shared by several questions: {d['prompts_shared_by_questions']}",
              f"- prompts in both splits: {d['prompts_in_both_splits']}", f"- duplicate rows: {d['duplicate_rows']}", ""]
    return "\n".join(lines)


def _md(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(out)
