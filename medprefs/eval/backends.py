"""Generation backends for `eval run`: sampling's transformers backend (with adapters) or its vLLM backend, both greedy
(temperature 0, n = 1) and stopping at each prompt format's own stop strings."""

from __future__ import annotations

from collections.abc import Callable

from medprefs.eval.config import EvalConfig
from medprefs.sampling import Completion, PromptJob, SampleConfig, make_backend


def make_generator(
    model_path: str, adapter: str | None, config: EvalConfig
) -> Callable[[list[str], list[str]], list[Completion]]:
    """A function (prompts, stop strings) -> one greedy completion per prompt, in order."""
    greedy = SampleConfig(
        backend=config.backend, n=1, temperature=0.0, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size
    )
    backend = make_backend(model_path, greedy, adapter=adapter)

    def generate(prompts: list[str], stop_strings: list[str]) -> list[Completion]:
        jobs = [PromptJob(qid=str(i), prompt=prompt, seed=0) for i, prompt in enumerate(prompts)]
        return [completion for (completion,) in backend.generate(jobs, stop_strings)]

    return generate
