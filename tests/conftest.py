"""Shared fixtures: the embedded sample corpus and a tiny real Qwen2 model built from a config (nothing downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Recent huggingface_hub uploads through Xet to any endpoint; the local test Hub speaks the LFS protocol only.
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")


@pytest.fixture(scope="session", autouse=True)
def _limit_threads():
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Qwen2 with a BPE tokenizer trained on the sample corpus (plus prompt words)."""
    from medprefs.sample_data import corpus_texts
    from medprefs.tinymodel import TinyModelConfig, build_tiny_model

    texts = corpus_texts() + ["問題: 解説: 答え: a,b,c,d,e 必ずちょうど個選んでください。"] * 20
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts, TinyModelConfig(vocab_size=1200))
