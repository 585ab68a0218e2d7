"""Evaluation: IgakuQA-style scoring (strict = the official rule, robust = shared extraction) and the stability gap."""

from medprefs.eval.config import EvalConfig
from medprefs.eval.predictions import read_predictions
from medprefs.eval.rulings import RULINGS, Ruling
from medprefs.eval.run import EvalResult, run_eval, stability_gap
from medprefs.eval.scoring import QuestionResult, ScoreReport, Tally, grade_question, score_predictions, strict_match

__all__ = [
    "RULINGS",
    "EvalConfig",
    "EvalResult",
    "QuestionResult",
    "Ruling",
    "ScoreReport",
    "Tally",
    "grade_question",
    "read_predictions",
    "run_eval",
    "score_predictions",
    "stability_gap",
    "strict_match",
]
