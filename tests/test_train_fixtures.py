"""Builders the trainer tests share (no tests here): sample questions, a pairs folder, small training configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from medprefs.corpus.question import Question, questions_to_frame
from medprefs.manifest import write_json, write_parquet
from medprefs.prompts import completion_text, load_template
from medprefs.sample_data import sample_questions
from medprefs.train import CPTConfig, RPOConfig

PASSING = {"verdict": "pass", "report_sha256": "0" * 64, "cutoff_year": 2017, "flagged": 0, "override": None}


def corpus_lineage(leakage: dict[str, Any] | None = PASSING) -> list[dict[str, Any]]:
    return [{"role": "cpt-corpus", "kind": "corpus", "repo": None, "revision": "local", "sha": "c" * 64,
             "ref": "sample@test", "leakage": leakage}]


def write_pairs(folder: Path, questions: list[Question], leakage: dict[str, Any] | None = PASSING,
                train_rows: int | None = None) -> Path:
    """A pairs folder in the `pairs build` layout: zero-shot explain prompts, the gold explanation + answer chosen,
    another question's explanation + a wrong letter rejected; the last 4 pairs are the validation split."""
    template = load_template("explain")
    train = [q for q in questions if q.year <= 2017 and q.choices]
    rows = []
    for i, question in enumerate(train):
        other = train[(i + 1) % len(train)]
        wrong = next(letter for letter in question.letters if letter not in question.answer)
        rows.append({
            "prompt": template.render(question, explanation=None, answer=None),
            "chosen": completion_text(question.explanation or "", question.gold_text()),
            "rejected": completion_text(other.explanation or "", wrong),
            "qid": question.qid, "pair_type": "gt>rejected", "year": question.year,
        })
    frame = pl.DataFrame(rows)
    train = frame.slice(0, min(train_rows or len(rows), len(rows) - 4))
    write_parquet(folder / "data" / "train.parquet", train)
    write_parquet(folder / "data" / "validation.parquet", frame.slice(len(rows) - 4))
    write_json(folder / "manifest.json", {"kind": "pairs", "counts": {"train": train.height, "validation": 4},
                                          "sources": {}, "leakage": leakage})
    return folder


def write_corpus_folder(folder: Path, leakage: dict[str, Any] | None = PASSING) -> Path:
    """A corpus folder (kind "corpus") holding the whole sample, every exam year."""
    questions = sample_questions()
    write_parquet(folder / "questions.parquet", questions_to_frame(questions))
    write_json(folder / "manifest.json", {"kind": "corpus", "version_id": "v1", "leakage": leakage})
    return folder


def tiny_cpt(output_dir: Path, **overrides: Any) -> CPTConfig:
    """Settings that train the tiny model in seconds on 2 CPU cores."""
    settings = dict(output_dir=str(output_dir), max_steps=12, learning_rate=5e-3, warmup_ratio=0.1,
                    per_device_batch_size=2, max_length=128, gradient_checkpointing=False, eval_fraction=0.1,
                    save_steps=6, logging_steps=1, seed=0, use_cpu=True)
    settings.update(overrides)
    return CPTConfig(**settings)


def tiny_rpo(output_dir: Path, **overrides: Any) -> RPOConfig:
    settings = dict(output_dir=str(output_dir), max_steps=10, learning_rate=5e-3, warmup_ratio=0.0,
                    per_device_batch_size=2, max_length=192, gradient_checkpointing=False, save_steps=5,
                    logging_steps=1, seed=0, use_cpu=True, alpha=10.0, beta=0.1)
    settings.update(overrides)
    return RPOConfig(**settings)
