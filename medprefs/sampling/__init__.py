"""Sampling stage: few-shot explanation prompts -> N responses per question (transformers or vLLM), resumable shards."""

from medprefs.sampling.backends import make_backend
from medprefs.sampling.backends.base import Completion, cut_at_stop
from medprefs.sampling.config import SampleConfig, parse_shard
from medprefs.sampling.merge import merge_shards
from medprefs.sampling.plan import PromptJob
from medprefs.sampling.provenance import folder_weights_sha256, hub_snapshot
from medprefs.sampling.runner import SamplingResult, run_sampling
from medprefs.sampling.store import RESPONSE_SCHEMA, load_responses

__all__ = [
    "Completion",
    "PromptJob",
    "cut_at_stop",
    "folder_weights_sha256",
    "hub_snapshot",
    "RESPONSE_SCHEMA",
    "SampleConfig",
    "SamplingResult",
    "load_responses",
    "make_backend",
    "merge_shards",
    "parse_shard",
    "run_sampling",
]
