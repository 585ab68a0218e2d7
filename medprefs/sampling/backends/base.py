"""What every sampling backend returns, and the stop rule they share: a response ends where the next `問題:` starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from medprefs.prompts import STOP_STRINGS
from medprefs.sampling.plan import PromptJob

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Completion:
    """One response: the text before any stop string, why it ended, and how many tokens the model generated."""

    text: str
    finish_reason: FinishReason
    n_tokens: int


class SamplingBackend(Protocol):
    name: str
    # Jobs per `generate` call: a fixed batch (the batch is part of what the seed reproduces), or None for a whole shard.
    jobs_per_call: int | None

    def generate(self, jobs: list[PromptJob], stop_strings: Sequence[str] = STOP_STRINGS) -> list[list[Completion]]:
        """`n` completions for each job, in job order, each cut before the first of `stop_strings`."""
        ...

    def close(self) -> None: ...


def cut_at_stop(text: str, stop_strings: Sequence[str] = STOP_STRINGS) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found (the stop string itself is dropped)."""
    cuts = [text.find(stop) for stop in stop_strings if stop in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True
