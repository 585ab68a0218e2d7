"""Preference pairs from labelled responses: GT > chosen > rejected, capped, deduplicated, split by question."""

from medprefs.pairs.build import PairsResult, build_pairs, dedup_keys
from medprefs.pairs.config import (
    CHOSEN_OVER_REJECTED,
    GT_OVER_CHOSEN,
    GT_OVER_REJECTED,
    PAIR_TYPES,
    RANK,
    PairsConfig,
)
from medprefs.pairs.io import leakage_record_from_file, pairs_sources, read_pairs, write_pairs

__all__ = [
    "CHOSEN_OVER_REJECTED",
    "GT_OVER_CHOSEN",
    "GT_OVER_REJECTED",
    "PAIR_TYPES",
    "RANK",
    "PairsConfig",
    "PairsResult",
    "build_pairs",
    "dedup_keys",
    "leakage_record_from_file",
    "pairs_sources",
    "read_pairs",
    "write_pairs",
]
