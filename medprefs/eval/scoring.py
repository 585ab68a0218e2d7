"""IgakuQA-style scoring: strict (the official scorer's rule) or robust (shared answer extraction), per year."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from medprefs.console import announce
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.eval.rulings import RULINGS, Ruling

ScoreMode = Literal["strict", "robust"]
SCORE_MODES: tuple[ScoreMode, ...] = ("strict", "robust")

# IgakuQA's scorer converts full width to half width (mojimoji.zen_to_han): U+FF01..U+FF5E -> ASCII, and the
# ideographic space -> space. Kana folding is left out: it cannot turn a wrong answer into a letter or digit.
_FULL_TO_HALF = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@dataclass
class Tally:
    """Points earned / possible and questions correct / counted, for one year or overall; and how many answers picked
    a prohibited choice (禁忌肢) out of the questions that have one."""

    points: int = 0
    possible: int = 0
    correct: int = 0
    count: int = 0
    prohibited_picked: int = 0
    prohibited_questions: int = 0

    def add(self, row: QuestionResult) -> None:
        self.points += row.points
        self.possible += row.possible
        self.correct += int(row.correct)
        self.count += 1
        self.prohibited_picked += int(bool(row.prohibited_picked))
        self.prohibited_questions += int(row.has_prohibited)

    @property
    def score(self) -> float | None:
        """Points earned / points possible; None when nothing here carries points."""
        return self.points / self.possible if self.possible else None

    @property
    def accuracy(self) -> float | None:
        """Correct / questions, 0-point questions included (as IgakuQA reports it)."""
        return self.correct / self.count if self.count else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "possible": self.possible,
            "score": self.score,
            "correct": self.correct,
            "count": self.count,
            "accuracy": self.accuracy,
            "prohibited_picked": self.prohibited_picked,
            "prohibited_questions": self.prohibited_questions,
        }


@dataclass(frozen=True)
class AnswerTexts:
    """What each rule reads of one `eval run` completion (see answer_text.py). A plain prediction is one string that
    both rules read; a completion is read per its prompt format, so `eval score` on a run's file matches the run."""

    strict: str
    robust: str


Prediction = str | AnswerTexts


@dataclass(frozen=True)
class QuestionResult:
    qid: str
    year: int
    extracted: str | None
    correct: bool
    points: int  # earned: the question's points when correct, else 0
    possible: int
    ruling: str | None = None
    # the prohibited choices (禁忌肢) among the letters read as the answer; a real candidate fails the exam on a few
    prohibited_picked: tuple[str, ...] = ()
    has_prohibited: bool = False

    def to_dict(self) -> dict[str, Any]:
        row = {
            "qid": self.qid,
            "year": self.year,
            "extracted": self.extracted,
            "correct": self.correct,
            "points": self.points,
            "possible": self.possible,
        }
        if self.ruling:
            row["ruling"] = self.ruling
        if self.has_prohibited:
            row["prohibited_picked"] = list(self.prohibited_picked)
        return row


@dataclass
class ScoreReport:
    mode: ScoreMode
    overall: Tally
    per_year: dict[int, Tally]
    rows: list[QuestionResult]
    missing: list[str] = field(default_factory=list)  # benchmark questions without a prediction (counted wrong)
    unknown: list[str] = field(default_factory=list)  # predictions naming no benchmark question (ignored)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "per_year": {str(year): tally.to_dict() for year, tally in sorted(self.per_year.items())},
        }


def to_half_width(text: str) -> str:
    return text.translate(_FULL_TO_HALF)


def strict_items(prediction: str) -> list[str]:
    """The official rule: half width, lower case, split on ',' and sorted; nothing stripped."""
    return sorted(to_half_width(prediction).lower().split(","))


def strict_match(prediction: str | None, question: Question) -> bool:
    if prediction is None:
        return False
    items = strict_items(prediction)
    return any(items == sorted(option) for option in question.accepted)


def robust_match(text: str | None, question: Question) -> tuple[bool, str | None]:
    """Shared answer extraction (any width, case, separator; the final answer statement) graded against `accepted`."""
    if text is None:
        return False, None
    from medprefs.answers import extract_answer, grade

    extraction = extract_answer(text, question)
    return grade(extraction, question), extraction.value


def grade_question(
    question: Question,
    strict_text: str | None,
    robust_text: str | None,
    mode: ScoreMode,
    rulings: Mapping[str, Ruling] = RULINGS,
) -> QuestionResult:
    """Grade one prediction. `strict_text` is what the official rule sees; robust mode accepts whatever strict
    accepts (by construction) plus what the shared extraction reads from `robust_text`."""
    correct = strict_match(strict_text, question)
    extracted = to_half_width(strict_text).lower() if strict_text else None
    if mode == "robust":
        robust_ok, value = robust_match(robust_text, question)
        correct = correct or robust_ok
        extracted = value if value is not None else (extracted if correct else None)
    ruling = rulings.get(question.qid)
    if ruling is not None and ruling.kind == "all_correct":
        correct = True
    # Counted from the letters read, spaces stripped even under the strict rule: "a, e" names a prohibited e as
    # plainly as "a,e" does, and a safety count should not miss it on a formatting technicality.
    picked = {item.strip() for item in extracted.split(",")} if extracted else set()
    return QuestionResult(
        qid=question.qid,
        year=question.year,
        extracted=extracted,
        correct=correct,
        points=question.points if correct else 0,
        possible=question.points,
        ruling=ruling.kind if ruling else None,
        prohibited_picked=tuple(sorted(picked & set(question.prohibited))),
        has_prohibited=bool(question.prohibited),
    )


def require_unique_qids(questions: list[Question]) -> None:
    duplicates = [qid for qid, n in Counter(q.qid for q in questions).items() if n > 1]
    if duplicates:
        raise MedprefsError(f"the benchmark holds question {duplicates[0]} more than once")


def without_images(questions: list[Question]) -> list[Question]:
    """The questions whose text does not refer to an image (IgakuQA ships none), saying how many were left out."""
    kept = [q for q in questions if not q.has_image]
    if len(kept) < len(questions):
        announce(f"skipped {len(questions) - len(kept)} question(s) that refer to an image the benchmark lacks")
    return kept


def tally(mode: ScoreMode, rows: list[QuestionResult]) -> ScoreReport:
    overall = Tally()
    per_year: dict[int, Tally] = {}
    for row in rows:
        overall.add(row)
        per_year.setdefault(row.year, Tally()).add(row)
    return ScoreReport(mode=mode, overall=overall, per_year=dict(sorted(per_year.items())), rows=rows)


def _texts(prediction: Prediction | None) -> tuple[str | None, str | None]:
    if isinstance(prediction, AnswerTexts):
        return prediction.strict, prediction.robust
    return prediction, prediction


def score_predictions(
    questions: list[Question],
    predictions: Mapping[str, Prediction],
    mode: ScoreMode = "strict",
    rulings: Mapping[str, Ruling] = RULINGS,
) -> ScoreReport:
    """Score `predictions` (qid -> the model's answer text, or a run completion's AnswerTexts) on `questions`; a
    missing prediction counts wrong."""
    if mode not in SCORE_MODES:
        raise MedprefsError(f"score mode {mode!r} is not one of {', '.join(SCORE_MODES)}")
    require_unique_qids(questions)
    qids = [q.qid for q in questions]
    rows = [grade_question(q, *_texts(predictions.get(q.qid)), mode, rulings) for q in questions]
    report = tally(mode, rows)
    report.missing = [qid for qid in qids if qid not in predictions]
    known = set(qids)
    report.unknown = [qid for qid in predictions if qid not in known]
    return report
