"""The `[eval]` pipeline section: prompt modes, demonstrations, generation backend and score mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medprefs.errors import require
from medprefs.eval.scoring import ScoreMode

PromptMode = Literal["plain", "explain"]
ModeChoice = Literal["plain", "explain", "both"]
Backend = Literal["transformers", "vllm"]


@dataclass
class EvalConfig:
    """How `eval run` prompts, generates (greedy) and scores."""

    mode: ModeChoice = "both"
    shots: int = 3  # demonstrations taken, in file order, from shots_file
    shots_file: str | None = None  # None: the project's three demonstrations (medprefs/data/default_shots.jsonl)
    backend: Backend = "transformers"
    max_new_tokens: int = 512  # explain mode needs room for the explanation; plain mode stops at the first newline
    batch_size: int = 8
    skip_images: bool = False
    score_mode: ScoreMode = "strict"

    def __post_init__(self) -> None:
        require(self.mode in ("plain", "explain", "both"), f"eval.mode {self.mode!r}: use plain, explain or both")
        require(self.backend in ("transformers", "vllm"), f"eval.backend {self.backend!r}: use transformers or vllm")
        require(self.score_mode in ("strict", "robust"), f"eval.score_mode {self.score_mode!r}: use strict or robust")
        require(self.shots >= 0, f"eval.shots must be >= 0, got {self.shots}")
        require(self.max_new_tokens >= 1, f"eval.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        require(self.batch_size >= 1, f"eval.batch_size must be >= 1, got {self.batch_size}")

    @property
    def prompt_modes(self) -> list[PromptMode]:
        return ["plain", "explain"] if self.mode == "both" else [self.mode]
