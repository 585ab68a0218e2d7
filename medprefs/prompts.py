"""Few-shot prompt templates shared by sampling and evaluation: the paper's explain format and IgakuQA's plain format."""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from medprefs.corpus.question import Question
from medprefs.manifest import sha256_bytes

TemplateName = Literal["explain", "plain"]
EXAMPLE_SEPARATOR = "\n"
# The model continues after the target's "解説:" (explain) or "答え:" (plain); the next exemplar would start with
# "問題:", so that is where a completion ends.
STOP_STRINGS = ["\n問題:", "問題:"]


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.text.encode("utf-8"))

    def render(self, question: Question, *, explanation: str | None, answer: str | None) -> str:
        """One example; with `answer=None` the text stops right after the field the model must write next."""
        filled = self.text.format(
            stem=question.stem,
            options=format_options(question),
            instruction=format_instruction(question),
            explanation="\x00EXPLANATION\x00",
            answer="\x00ANSWER\x00",
        )
        if explanation is None and "\x00EXPLANATION\x00" in filled:
            return filled.split("\x00EXPLANATION\x00")[0].rstrip(" ")
        filled = filled.replace("\x00EXPLANATION\x00", explanation or "")
        if answer is None:
            return filled.split("\x00ANSWER\x00")[0].rstrip(" ")
        return filled.replace("\x00ANSWER\x00", answer)


def load_template(name: TemplateName) -> PromptTemplate:
    text = resources.files("medprefs").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")
    return PromptTemplate(name=name, text=text)


def format_options(question: Question) -> str:
    """`a: ...` one a line (with a trailing newline); numeric questions show only the stem."""
    if question.answer_kind == "numeric" or not question.choices:
        return ""
    return "".join(f"{letter}: {choice}\n" for letter, choice in zip(question.letters, question.choices, strict=True))


def format_instruction(question: Question) -> str:
    """IgakuQA's line asking for exactly n answers, e.g. `必ずa,b,c,d,eの中からちょうど1個選んでください。`."""
    if question.answer_kind == "numeric" or not question.choices:
        return ""
    letters = ",".join(question.letters)
    return f"必ず{letters}の中からちょうど{len(question.answer)}個選んでください。\n"


def completion_text(explanation: str, answer: str) -> str:
    """What the model writes after the target's `解説:` in the explain format; the ground-truth response uses it too."""
    return f" {explanation}\n答え: {answer}"


def build_prompt(template: PromptTemplate, target: Question, exemplars: list[Question]) -> str:
    """Exemplars with explanation and answer, then the target, left open where the model writes next."""
    shots = [template.render(q, explanation=q.explanation or "", answer=q.gold_text()) for q in exemplars]
    open_target = template.render(target, explanation=None, answer=None)
    return EXAMPLE_SEPARATOR.join([*shots, open_target])


def can_be_exemplar(question: Question) -> bool:
    """An exemplar shows the explanation the model is to imitate: only explained questions qualify."""
    return bool(question.explanation)


def choose_exemplars(pool: list[Question], target_qid: str, k: int, seed: int) -> list[Question]:
    """K exemplars with explanations, never the target, chosen deterministically from (seed, target qid)."""
    candidates = sorted((q for q in pool if q.qid != target_qid and can_be_exemplar(q)), key=lambda q: q.qid)
    if k > len(candidates):
        from medprefs.errors import MedprefsError

        raise MedprefsError(f"need {k} exemplars with explanations, only {len(candidates)} available")
    rng = random.Random(f"{seed}:{target_qid}")
    return rng.sample(candidates, k)
