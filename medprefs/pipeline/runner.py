"""Runs the stages in order, records each one's status, output, version and time in OUT/summary.json."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from medprefs.config import to_dict
from medprefs.console import console
from medprefs.errors import MedprefsError
from medprefs.manifest import now_iso, write_json
from medprefs.pipeline import stages
from medprefs.pipeline.config import PipelineConfig

# summary.json keys, in the order of the data flow (docs/architecture.md)
STAGES = ("ingest", "leakage", "sample", "label", "pairs", "publish", "cpt", "rpo", "eval")
# The order they run in: CPT comes before sampling because the responses are the CPT model's own explanations
RUN_ORDER = ("ingest", "leakage", "cpt", "sample", "label", "pairs", "publish", "rpo", "eval")
STAGE_FUNCTIONS: dict[str, Callable[[stages.RunState], stages.StageOutput]] = {
    "ingest": stages.ingest,
    "leakage": stages.leakage,
    "cpt": stages.cpt,
    "sample": stages.sample,
    "label": stages.label,
    "pairs": stages.pairs,
    "publish": stages.publish,
    "rpo": stages.rpo,
    "eval": stages.evaluate,
}


@dataclass
class PipelineSummary:
    out: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: dict[str, Any] | None = None  # the base every stage starts from; a pinned Hub revision as its commit sha

    @property
    def ok(self) -> bool:
        return all(entry["status"] in ("ok", "not run") for entry in self.stages.values())

    def to_json(self, config: PipelineConfig, pipeline_file: str) -> dict[str, Any]:
        return {
            **({"model": self.model} if self.model is not None else {}),
            **{name: self.stages[name] for name in STAGES if name in self.stages},
            "run": {"pipeline": pipeline_file, "out": str(self.out), "finished": now_iso(), "ok": self.ok,
                    "config": to_dict(config)},
        }


def run_pipeline(config: PipelineConfig, out: str | Path, pipeline_file: str = "", debug: bool = False
                 ) -> PipelineSummary:
    """Run every configured stage; a failed stage stops the run and the later ones are marked as skipped."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = stages.RunState(config=config, out=out)
    summary = PipelineSummary(out=out)
    started = time.perf_counter()
    model = stages.prepare_model(state)
    summary.model = _entry("ok", model, time.perf_counter() - started)
    console.print(f"[bold]model[/bold] {model.path}{' @ ' + model.version if model.version else ''} "
                  f"({time.perf_counter() - started:.1f}s)")
    failed: str | None = None
    for name in RUN_ORDER:
        if not config.runs(name):
            summary.stages[name] = _entry("not run", None, 0.0)
            continue
        if failed:
            summary.stages[name] = _entry(f"skipped: {failed} failed", None, 0.0)
            continue
        console.rule(f"[bold]{name}")
        began = time.perf_counter()
        try:
            output = STAGE_FUNCTIONS[name](state)
            summary.stages[name] = _entry("ok", output, time.perf_counter() - began)
        except MedprefsError as error:
            failed = name
            summary.stages[name] = _entry(f"error: {error}", None, time.perf_counter() - began)
            console.print(f"[red]{name} failed:[/red] {error}")
        except Exception as error:  # a bug, not bad input: keep the traceback for the report
            if debug:
                raise
            failed = name
            summary.stages[name] = _entry(f"error: {type(error).__name__}: {error}", None, time.perf_counter() - began)
            console.print(traceback.format_exc())
        write_json(out / "summary.json", summary.to_json(config, pipeline_file))
    write_json(out / "summary.json", summary.to_json(config, pipeline_file))
    console.print(summary_table(summary, time.perf_counter() - started))
    return summary


def summary_table(summary: PipelineSummary, seconds: float) -> Table:
    table = Table(title=f"medprefs run -> {summary.out} ({seconds:.0f}s)")
    for column in ("stage", "status", "rows", "version / revision", "time"):
        table.add_column(column, justify="right" if column in ("rows", "time") else "left")
    for name in ("model", *RUN_ORDER):
        entry = summary.model if name == "model" else summary.stages.get(name)
        if entry is None:
            continue
        status = entry["status"]
        style = "green" if status == "ok" else "dim" if status == "not run" else "red"
        version = entry.get("version") or ""
        table.add_row(name, f"[{style}]{status}[/{style}]", "" if entry.get("rows") is None else str(entry["rows"]),
                      version[:40], f"{entry['seconds']:.1f}s")
    return table


def _entry(status: str, output: stages.StageOutput | None, seconds: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": status, "seconds": round(seconds, 2)}
    if output is not None:
        entry.update(path=output.path, version=output.version, rows=output.rows, detail=output.detail)
    else:
        entry.update(path=None, version=None, rows=None)
    return entry
