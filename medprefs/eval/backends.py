"""Generation backends for `eval run`: transformers (ours, with adapters and per-format stops) or sampling's vLLM."""

from __future__ import annotations

from medprefs.errors import MedprefsError
from medprefs.eval.config import EvalConfig
from medprefs.eval.generate import Generation, generate_greedy, load_model


def make_generator(model_path: str, adapter: str | None, config: EvalConfig):
    """A function (prompts, stop strings) -> greedy completions, one per prompt, in order."""
    if config.backend == "vllm":
        return _vllm_generator(model_path, adapter, config)
    model, tokenizer = load_model(model_path, adapter)

    def generate(prompts: list[str], stop_strings: list[str]) -> list[Generation]:
        return generate_greedy(model, tokenizer, prompts, stop_strings, config.max_new_tokens)

    return generate


def _vllm_generator(model_path: str, adapter: str | None, config: EvalConfig):
    """Sampling's vLLM backend at temperature 0, n = 1 (greedy). It stops at the shared STOP_STRINGS only, so a plain
    completion may run past its first line; the answer is read from that line all the same."""
    from medprefs.sampling import PromptJob, SampleConfig, VLLMBackend

    if adapter:
        raise MedprefsError("--adapter needs --backend transformers (or merge the adapter into the model for vLLM)")
    backend = VLLMBackend(
        model_path, SampleConfig(backend="vllm", n=1, temperature=0.0, max_new_tokens=config.max_new_tokens)
    )

    def generate(prompts: list[str], stop_strings: list[str]) -> list[Generation]:
        jobs = [PromptJob(qid=str(i), prompt=prompt, seed=0) for i, prompt in enumerate(prompts)]
        return [Generation(c.text, c.finish_reason, c.n_tokens) for (c,) in backend.generate(jobs)]

    return generate
