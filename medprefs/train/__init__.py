"""Training: QLoRA continued pretraining (CPT) and RPO (DPO + alpha * NLL) from pinned dataset revisions."""

from __future__ import annotations

import importlib
from typing import Any

from medprefs.train.config import (
    CPTConfig,
    LoraSettings,
    ModelRef,
    RPOConfig,
    TrainSection,
    load_train_config,
    section_from_dict,
)
from medprefs.train.run import TrainResult

# torch/transformers/TRL load only when training is asked for, so reading a pipeline file stays fast
_LAZY = {
    "train_cpt": "medprefs.train.cpt",
    "train_rpo": "medprefs.train.rpo",
    "RPOTrainer": "medprefs.train.rpo",
    "question_documents": "medprefs.train.data",
    "resolve_cpt_inputs": "medprefs.train.data",
    "resolve_pairs_dataset": "medprefs.train.data",
    "write_model_card": "medprefs.train.card",
    "merge_adapter": "medprefs.train.model",
}

__all__ = [
    "CPTConfig",
    "LoraSettings",
    "ModelRef",
    "RPOConfig",
    "TrainResult",
    "TrainSection",
    "load_train_config",
    "section_from_dict",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medprefs.train' has no attribute {name!r}")
