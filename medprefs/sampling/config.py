"""The `[sample]` section: how responses are sampled (backend, sampling parameters, seed, shots, sharding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from medprefs.errors import MedprefsError, require

Backend = Literal["transformers", "vllm"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda"]

# Fields that say how the work is spread over hardware, not what is sampled: a run may resume with other values
# (on a machine with another GPU count). Every other field must match the run being resumed.
LAYOUT_FIELDS = ("tensor_parallel_size", "data_parallel_size", "gpu_memory_utilization", "device")


@dataclass
class SampleConfig:
    """N responses per question from the explain template with K exemplars; see docs/vllm.md for the GPU backend."""

    backend: Backend = "transformers"
    n: int = 8
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    shots: int = 3
    batch_size: int = 8  # prompts per `generate` call (transformers); vLLM schedules a whole shard itself
    questions_per_shard: int = 64  # the unit of resumption: a crash loses at most the shard in flight
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1  # worker processes, each with its own model (and tensor_parallel_size GPUs)
    dtype: DType = "auto"
    device: Device = "auto"
    gpu_memory_utilization: float = 0.9

    def __post_init__(self) -> None:
        require(
            self.backend in ("transformers", "vllm"),
            f"sample.backend: {self.backend!r} is not one of 'transformers', 'vllm'",
        )
        _positive(
            self,
            "n",
            "max_new_tokens",
            "batch_size",
            "questions_per_shard",
            "tensor_parallel_size",
            "data_parallel_size",
        )
        require(self.shots >= 0, f"sample.shots must be >= 0, got {self.shots}")
        require(self.temperature >= 0, f"sample.temperature must be >= 0, got {self.temperature}")
        require(
            self.temperature > 0 or self.n == 1,
            f"sample.temperature 0 is greedy decoding: every one of n={self.n} responses would be the same; set n = 1",
        )
        require(0 < self.top_p <= 1, f"sample.top_p must be in (0, 1], got {self.top_p}")
        require(self.seed >= 0, f"sample.seed must be >= 0, got {self.seed}")
        require(0 < self.gpu_memory_utilization <= 1, "sample.gpu_memory_utilization must be in (0, 1]")
        require(
            self.backend == "vllm" or self.tensor_parallel_size == 1,
            "sample.tensor_parallel_size > 1 needs backend = 'vllm' (the transformers backend runs one device per worker)",
        )


def _positive(config: SampleConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        require(isinstance(value, int) and value >= 1, f"sample.{name} must be a positive integer, got {value!r}")


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (0-based I) -> (I, N); the `--shard` syntax."""
    try:
        index_text, count_text = text.split("/")
        shard = (int(index_text), int(count_text))
    except ValueError:
        raise MedprefsError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    check_shard(shard)
    return shard


def check_shard(shard: tuple[int, int]) -> None:
    index, count = shard
    require(count >= 1 and 0 <= index < count, f"shard {index}/{count}: need 0 <= I < N")
