"""Sampling backends: transformers (CPU, tests) and vLLM (GPUs), each imported only when chosen."""

from __future__ import annotations

from medprefs.sampling.backends.base import Completion, SamplingBackend, cut_at_stop
from medprefs.sampling.config import SampleConfig

__all__ = ["Completion", "SamplingBackend", "cut_at_stop", "make_backend"]


def make_backend(model_path: str, config: SampleConfig) -> SamplingBackend:
    if config.backend == "vllm":
        from medprefs.sampling.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model_path, config)
    from medprefs.sampling.backends.transformers_backend import TransformersBackend

    return TransformersBackend(model_path, config)
