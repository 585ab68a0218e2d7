"""Sampling backends: transformers (CPU, tests) and vLLM (GPUs), each imported only when chosen."""

from __future__ import annotations

from medprefs.errors import require
from medprefs.sampling.backends.base import Completion, SamplingBackend, cut_at_stop
from medprefs.sampling.config import SampleConfig

__all__ = ["Completion", "SamplingBackend", "cut_at_stop", "make_backend"]


def make_backend(model_path: str, config: SampleConfig, adapter: str | None = None) -> SamplingBackend:
    """The configured backend; a PEFT `adapter` (evaluation of a LoRA run) needs the transformers backend."""
    if config.backend == "vllm":
        require(adapter is None, "an adapter needs the transformers backend (or merge it into the model for vLLM)")
        from medprefs.sampling.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model_path, config)
    from medprefs.sampling.backends.transformers_backend import TransformersBackend

    return TransformersBackend(model_path, config, adapter=adapter)
