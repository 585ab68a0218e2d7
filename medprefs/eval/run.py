"""`eval run`: greedy completions for the plain and explain prompts, scored, with the explanation-stability gap."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medprefs.config import to_dict
from medprefs.console import progress
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.eval.answer_text import robust_text, strict_text
from medprefs.eval.config import EvalConfig, PromptMode
from medprefs.eval.predictions import write_jsonl
from medprefs.eval.report import render_markdown
from medprefs.eval.scoring import ScoreReport, grade_question, require_unique_qids, tally, without_images
from medprefs.eval.shots import load_shots
from medprefs.manifest import (
    canonical_json,
    now_iso,
    read_json,
    require_own_folder,
    sha256_bytes,
    write_json,
    write_manifest,
)
from medprefs.prompts import STOP_STRINGS, build_prompt, load_template
from medprefs.sample_data import default_shots_path
from medprefs.sampling import Completion, folder_weights_sha256

Generator = Callable[[list[str], list[str]], list[Completion]]  # (prompts, stop strings) -> completions
# Plain answers are one line (IgakuQA's format), so stopping at the newline saves generating what is never read.
STOPS: dict[PromptMode, list[str]] = {"plain": ["\n", *STOP_STRINGS], "explain": list(STOP_STRINGS)}


@dataclass
class EvalResult:
    out_dir: Path
    reports: dict[PromptMode, ScoreReport]
    summary: dict[str, Any]
    skipped_images: int = 0
    files: list[Path] = field(default_factory=list)

    @property
    def gap(self) -> dict[str, Any] | None:
        """explain - plain score, overall and per year (None unless both modes ran)."""
        return self.summary["gap"]


def predictions_path(out_dir: Path, mode: PromptMode) -> Path:
    return out_dir / f"predictions-{mode}.jsonl"


def run_eval(
    model_path: str,
    questions: list[Question],
    config: EvalConfig,
    out_dir: Path,
    adapter: str | None = None,
    *,
    benchmark: dict[str, Any] | None = None,
) -> EvalResult:
    """Generate (greedy) and score every prompt mode of `config`; completions already in `out_dir` for the same
    model, adapter, backend and prompt are reused, so a killed run resumes where it stopped."""
    out_dir = Path(out_dir)
    kept = without_images(questions) if config.skip_images else questions
    skipped = len(questions) - len(kept)
    if not kept:
        raise MedprefsError("no questions left to evaluate")
    require_unique_qids(kept)
    shots = load_shots(config.shots_file, config.shots, need_explanations="explain" in config.prompt_modes)
    _refuse_shot_in_benchmark(shots, kept)
    identity = {
        "model": str(Path(model_path).resolve()),
        "adapter": str(Path(adapter).resolve()) if adapter else None,
        # a model retrained in the same folder must not be scored with the previous weights' completions
        "weights_sha256": {"model": folder_weights_sha256(model_path), "adapter": folder_weights_sha256(adapter)},
        "backend": config.backend,
        "max_new_tokens": config.max_new_tokens,
    }
    # a rerun deletes and rewrites manifest.json, summary.json and report.md: never in another stage's folder (a
    # responses folder lost its manifest, a pipeline run folder its summary.json)
    require_own_folder(out_dir, "eval", run="an eval run")
    resumable = _previous_identity(out_dir) == identity
    if not resumable:  # another model's outputs must not sit beside this run's
        for stale in ("predictions-plain.jsonl", "predictions-explain.jsonl", "summary.json", "report.md"):
            (out_dir / stale).unlink(missing_ok=True)
    manifest = {
        "kind": "eval",
        "status": "running",
        "generation": identity,
        "config": to_dict(config),
        "benchmark": benchmark,
        "shots": {"file": str(config.shots_file or default_shots_path()), "qids": [s.qid for s in shots]},
        "templates": _template_shas(config),
        "created": now_iso(),
    }
    write_manifest(out_dir, manifest)
    generator = _LazyGenerator(model_path, adapter, config)
    reports: dict[PromptMode, ScoreReport] = {}
    files = []
    for mode in config.prompt_modes:
        path = predictions_path(out_dir, mode)
        rows = _generate_mode(mode, kept, shots, path, resumable, generator, config.batch_size)
        reports[mode], scored = _score_mode(mode, kept, rows, config)
        write_jsonl(path, scored)
        files.append(path)
    summary = build_summary(reports, config, identity, len(kept), skipped) | {"scored_sha256": scored_sha256(kept)}
    write_json(out_dir / "summary.json", summary)
    (out_dir / "report.md").write_text(render_markdown(summary, out_dir.name), encoding="utf-8")
    write_manifest(out_dir, manifest | {"status": "complete"})
    files += [out_dir / "summary.json", out_dir / "report.md", out_dir / "manifest.json"]
    return EvalResult(out_dir=out_dir, reports=reports, summary=summary, skipped_images=skipped, files=files)


def _refuse_shot_in_benchmark(shots: list[Question], questions: list[Question]) -> None:
    """A demonstration that is also a benchmark question hands the model its answer."""
    stems = {q.stem: q.qid for q in questions}
    for shot in shots:
        if shot.stem in stems:
            raise MedprefsError(f"demonstration {shot.qid} is benchmark question {stems[shot.stem]}; use other shots")


def _previous_identity(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / "manifest.json"
    return read_json(path).get("generation") if path.is_file() else None


def _template_shas(config: EvalConfig) -> dict[str, str]:
    return {mode: load_template(mode).sha256 for mode in config.prompt_modes}


def _generate_mode(
    mode: PromptMode,
    questions: list[Question],
    shots: list[Question],
    path: Path,
    resumable: bool,
    generator: _LazyGenerator,
    batch_size: int,
) -> list[dict[str, Any]]:
    template = load_template(mode)
    prompts = {q.qid: build_prompt(template, q, shots) for q in questions}
    hashes = {qid: sha256_bytes(prompt.encode("utf-8")) for qid, prompt in prompts.items()}
    done = {row["qid"]: row for row in _read_rows(path) if hashes.get(row["qid"]) == row.get("prompt_sha256")}
    done = done if resumable else {}
    write_jsonl(path, done.values())  # drops a half-written last line and rows of other prompts
    # Longest prompts first: similar lengths share a batch, so less padding.
    pending = sorted((q for q in questions if q.qid not in done), key=lambda q: -len(prompts[q.qid]))
    with progress() as bar, path.open("a", encoding="utf-8") as handle:
        task = bar.add_task(f"eval {mode}", total=len(questions), completed=len(done))
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            completions = generator([prompts[q.qid] for q in batch], STOPS[mode])
            for question, completion in zip(batch, completions, strict=True):
                done[question.qid] = _generation_row(mode, question, hashes[question.qid], completion)
                handle.write(json.dumps(done[question.qid], ensure_ascii=False) + "\n")
            handle.flush()
            bar.advance(task, len(batch))
    return [done[q.qid] for q in questions]


def _generation_row(mode: PromptMode, question: Question, prompt_sha: str, completion: Completion) -> dict[str, Any]:
    return {
        "qid": question.qid,
        "year": question.year,
        "mode": mode,
        "prompt_sha256": prompt_sha,
        "raw": completion.text,
        "finish_reason": completion.finish_reason,
        "n_tokens": completion.n_tokens,
    }


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line a killed run was writing
        if isinstance(row, dict) and isinstance(row.get("qid"), str) and isinstance(row.get("raw"), str):
            rows.append(row)
    return rows


def _score_mode(
    mode: PromptMode, questions: list[Question], rows: list[dict[str, Any]], config: EvalConfig
) -> tuple[ScoreReport, list[dict[str, Any]]]:
    graded = [
        grade_question(q, strict_text(row["raw"], mode), robust_text(row["raw"], mode), config.score_mode)
        for q, row in zip(questions, rows, strict=True)
    ]
    scored = [
        row | {"answer_text": strict_text(row["raw"], mode)} | result.to_dict()
        for row, result in zip(rows, graded, strict=True)
    ]
    return tally(config.score_mode, graded), scored


def scored_sha256(questions: list[Question]) -> str:
    """What a score is out of (qids, accepted answers, points, and the prohibited choices where a question has any):
    runs compare only when this matches. A benchmark without prohibited choices hashes as it did before they were
    counted, so older runs stay comparable."""
    rows = sorted([q.qid, q.accepted, q.points, *([q.prohibited] if q.prohibited else [])] for q in questions)
    return sha256_bytes(canonical_json(rows).encode("utf-8"))


def stability_gap(plain: ScoreReport, explain: ScoreReport) -> dict[str, Any]:
    """explain - plain, on the score (points earned / possible): negative when explaining first hurts."""

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else b - a

    per_year = {
        str(year): diff(tally_.score, explain.per_year[year].score)
        for year, tally_ in plain.per_year.items()
        if year in explain.per_year
    }
    return {"overall": diff(plain.overall.score, explain.overall.score), "per_year": per_year}


def build_summary(
    reports: dict[PromptMode, ScoreReport], config: EvalConfig, identity: dict[str, Any], count: int, skipped: int
) -> dict[str, Any]:
    gap = stability_gap(reports["plain"], reports["explain"]) if len(reports) == 2 else None
    return {
        "kind": "eval",
        **identity,
        "score_mode": config.score_mode,
        "shots": config.shots,
        "shots_file": config.shots_file,
        "questions": count,
        "skipped_images": skipped,
        "modes": {mode: report.to_dict() for mode, report in reports.items()},
        "gap": gap,
    }


class _LazyGenerator:
    """Loads the model on the first call, so a fully resumed run never loads it."""

    def __init__(self, model_path: str, adapter: str | None, config: EvalConfig) -> None:
        self.model_path, self.adapter, self.config = model_path, adapter, config
        self._generate: Generator | None = None

    def __call__(self, prompts: list[str], stop_strings: list[str]) -> list[Completion]:
        if self._generate is None:
            from medprefs.eval.backends import make_generator

            self._generate = make_generator(self.model_path, self.adapter, self.config)
        return self._generate(prompts, stop_strings)
