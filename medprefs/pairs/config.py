"""The `[pairs]` section: how many pairs per question and type, what unreadable answers become, the split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medprefs.errors import require

GT_OVER_CHOSEN = "gt>chosen"
GT_OVER_REJECTED = "gt>rejected"
CHOSEN_OVER_REJECTED = "chosen>rejected"
PAIR_TYPES = (GT_OVER_CHOSEN, GT_OVER_REJECTED, CHOSEN_OVER_REJECTED)
# The hierarchy every pair respects: a pair's chosen side ranks strictly above its rejected side.
RANK = {"gt": 2, "chosen": 1, "rejected": 0}


@dataclass(frozen=True)
class PairsConfig:
    """`max_per_type`: cap per question and pair type; `unparseable`: unparseable and ambiguous responses are
    either used as rejected ("rejected", the paper's rule: anything not matching the ground truth) or dropped."""

    max_per_type: int = 4
    unparseable: Literal["rejected", "drop"] = "rejected"
    seed: int = 0
    validation_fraction: float = 0.1
    conversational: bool = False

    def __post_init__(self) -> None:
        require(
            isinstance(self.max_per_type, int) and not isinstance(self.max_per_type, bool) and self.max_per_type >= 1,
            f"pairs.max_per_type must be an integer >= 1, got {self.max_per_type!r}",
        )
        require(
            self.unparseable in ("rejected", "drop"),
            f"pairs.unparseable must be 'rejected' or 'drop', got {self.unparseable!r}",
        )
        require(isinstance(self.seed, int), f"pairs.seed must be an integer, got {self.seed!r}")
        require(
            isinstance(self.validation_fraction, int | float) and 0 <= self.validation_fraction < 1,
            f"pairs.validation_fraction must be in [0, 1), got {self.validation_fraction!r}",
        )
