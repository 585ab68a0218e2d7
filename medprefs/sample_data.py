"""Where the embedded sample corpus and the default few-shot demonstrations live inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medprefs.corpus.question import Question


def sample_corpus_path() -> Path:
    """Original JMLE-style questions written for this project (years on both sides of 2017); see data/README.md."""
    return Path(str(resources.files("medprefs").joinpath("data", "sample_jmle.jsonl")))


def default_shots_path() -> Path:
    """Three original questions with explanations, the default demonstrations for evaluation."""
    return Path(str(resources.files("medprefs").joinpath("data", "default_shots.jsonl")))


def corpus_texts(path: Path | None = None) -> list[str]:
    """Every stem, choice and explanation of the sample: the text the tiny tokenizer is trained on."""
    import json

    texts = []
    for line in (path or sample_corpus_path()).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            texts.extend([row["stem"], *row["choices"], row.get("explanation") or ""])
    return texts


def sample_questions(max_year: int | None = None) -> list[Question]:
    """The sample's questions in file order, those up to `max_year` only when it is given (2017: the training side).
    They are read and validated as `medprefs corpus ingest` reads them (normalised text, answer kinds, accepted
    answers), so tests and benchmarks see exactly the questions the pipeline stores."""
    from medprefs.corpus import read_questions
    from medprefs.errors import MedprefsError

    result = read_questions([sample_corpus_path()])
    if result.rejects:
        raise MedprefsError(f"the embedded sample has rejected rows (first: {result.rejects[0]})")
    questions = sorted(result.questions, key=lambda q: int(str(q.source).rpartition(":")[2]))
    return [q for q in questions if max_year is None or q.year <= max_year]
