"""Sampling with vLLM's offline `LLM` (the `gpu` extra, in its own environment: see docs/vllm.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medprefs.errors import MedprefsError
from medprefs.prompts import STOP_STRINGS
from medprefs.sampling.backends.base import Completion, cut_at_stop
from medprefs.sampling.config import SampleConfig
from medprefs.sampling.plan import PromptJob

MISSING = (
    "vLLM is not installed; install medprefs[gpu] in its own environment (docs/vllm.md) or use --backend transformers"
)


def engine_kwargs(model_path: str, config: SampleConfig) -> dict[str, Any]:
    """Arguments of `vllm.LLM`. Data parallelism is not among them: vLLM 0.33 refuses `LLM(data_parallel_size>1)`
    in one process, so medprefs runs one engine per worker process instead (runner.py)."""
    return {
        "model": model_path,
        "tokenizer": model_path,
        "tensor_parallel_size": config.tensor_parallel_size,
        "dtype": config.dtype,
        "seed": config.seed,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        # vLLM's own defaults, not the checkpoint's generation_config.json (whose max_new_tokens would cap every
        # request): decoding follows the recorded parameters only, as in the transformers backend.
        "generation_config": "vllm",
    }


def sampling_kwargs(job: PromptJob, config: SampleConfig, stop_strings: Sequence[str] = STOP_STRINGS) -> dict[str, Any]:
    """Arguments of the job's `vllm.SamplingParams`: its own seed, so its responses do not depend on the batch."""
    return {
        "n": config.n,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_new_tokens,
        "seed": job.seed,
        "stop": list(stop_strings),
        "include_stop_str_in_output": False,
        "skip_special_tokens": True,
    }


def to_completion(
    text: str, token_ids: list[int], finish_reason: str | None, stop_strings: Sequence[str] = STOP_STRINGS
) -> Completion:
    """A vLLM `CompletionOutput`'s fields as a Completion (EOS and stop strings are both 'stop')."""
    if finish_reason not in ("stop", "length"):
        raise MedprefsError(f"vLLM ended a response with finish_reason={finish_reason!r}; rerun to resume")
    text, _ = cut_at_stop(text, stop_strings)
    return Completion(text=text, finish_reason=finish_reason, n_tokens=len(token_ids))


class VLLMBackend:
    name = "vllm"
    jobs_per_call = None  # a whole shard in one call: vLLM batches continuously inside it

    def __init__(self, model_path: str, config: SampleConfig):
        try:
            import vllm
        except ImportError:
            raise MedprefsError(MISSING) from None
        self.vllm = vllm
        self.config = config
        self.llm = vllm.LLM(**engine_kwargs(model_path, config))

    def generate(self, jobs: list[PromptJob], stop_strings: Sequence[str] = STOP_STRINGS) -> list[list[Completion]]:
        params = [self.vllm.SamplingParams(**sampling_kwargs(job, self.config, stop_strings)) for job in jobs]
        outputs = self.llm.generate([job.prompt for job in jobs], params, use_tqdm=False)
        return [
            [to_completion(out.text, list(out.token_ids), out.finish_reason, stop_strings) for out in request.outputs]
            for request in outputs
        ]

    def close(self) -> None:
        del self.llm
