"""Sampling throughput on the tiny model: the batched transformers backend against a one-prompt-at-a-time `generate`
loop doing the same work (same prompts, n, max_new_tokens), measured in the same run; ends with one JSON line.

Rows: `generate loop` is the baseline (plain `generate(num_return_sequences=n, top_p, stop_strings)` per prompt);
`backend 1/call` is the backend fed one prompt per call, so it shows what the prefill-once, sort-free nucleus
sampler and build-once stop criterion gain without batching; `backend B/call` adds batching. n and the batch size
default to `medprefs sample`'s (8 and 8); each figure is the median of interleaved repetitions, and each speed-up
the median of the ratios paired within a repetition, with their range."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.table import Table

from medprefs.console import console
from medprefs.prompts import STOP_STRINGS, load_template
from medprefs.sample_data import corpus_texts, sample_questions
from medprefs.sampling import SampleConfig
from medprefs.sampling.backends.transformers_backend import TransformersBackend, tokens_to_completion
from medprefs.sampling.plan import PromptJob, build_jobs, length_batches


@dataclass
class Measure:
    name: str
    calls: int
    responses: int
    tokens: int
    seconds: float

    @property
    def responses_per_s(self) -> float:
        return self.responses / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def tiny_model(folder: Path) -> Path:
    from medprefs.tinymodel import TinyModelConfig, build_tiny_model

    texts = corpus_texts() + ["問題: 解説: 答え: a,b,c,d,e 必ずちょうど個選んでください。"] * 20
    return build_tiny_model(folder, texts, TinyModelConfig(vocab_size=1200))


def run(backend: TransformersBackend, jobs: list[PromptJob], per_call: int, name: str) -> Measure:
    """Every job through the backend, `per_call` prompts a call, batched as `medprefs sample` batches them."""
    start = time.perf_counter()
    calls = responses = tokens = 0
    for batch in length_batches(jobs, per_call):
        completions = backend.generate(batch)
        calls += 1
        responses += sum(len(c) for c in completions)
        tokens += sum(r.n_tokens for c in completions for r in c)
    return Measure(name, calls, responses, tokens, time.perf_counter() - start)


def plain_loop(backend: TransformersBackend, jobs: list[PromptJob], name: str) -> Measure:
    """The baseline: one plain `generate(num_return_sequences=n)` call per prompt, as a first script would do it."""
    import torch

    config, model, tokenizer = backend.config, backend.model, backend.tokenizer
    start = time.perf_counter()
    responses = tokens = 0
    for job in jobs:
        encoded = tokenizer(job.prompt, return_tensors="pt")
        torch.manual_seed(job.seed)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                do_sample=True,
                temperature=config.temperature,
                top_p=config.top_p,
                top_k=None,
                max_new_tokens=config.max_new_tokens,
                num_return_sequences=config.n,
                stop_strings=STOP_STRINGS,
                tokenizer=tokenizer,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row in output[:, encoded["input_ids"].shape[1] :].tolist():
            responses += 1
            tokens += tokens_to_completion(row, backend.finish_ids, tokenizer.decode).n_tokens
    return Measure(name, len(jobs), responses, tokens, time.perf_counter() - start)


def sampler_step_us(rows: int, vocab: int, repeats: int) -> tuple[float, float]:
    """Microseconds per row for one draw at temperature 0.8, top-p 0.95: transformers' warpers + multinomial (what
    `generate(do_sample=True)` runs each step) against the backend's NucleusSampler, on the same logits."""
    import torch
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

    from medprefs.sampling.backends.nucleus import NucleusSampler

    logits = torch.randn(rows, vocab, generator=torch.Generator().manual_seed(0)) * 3
    temperature, top_p = TemperatureLogitsWarper(0.8), TopPLogitsWarper(0.95)
    ours = NucleusSampler(0.8, 0.95, torch.Generator().manual_seed(0))

    def transformers_draw():
        return torch.multinomial(top_p(None, temperature(None, logits)).softmax(-1), 1)

    timings = []
    for draw in (transformers_draw, lambda: ours(None, logits).argmax(-1)):
        draw()
        start = time.perf_counter()
        for _ in range(repeats):
            draw()
        timings.append((time.perf_counter() - start) / repeats / rows * 1e6)
    return timings[0], timings[1]


def paired_speedups(measures: list[Measure], baseline: list[Measure], per_s: str) -> list[float]:
    """Each repetition's speed-up over the baseline run just before it. On a shared VM whose speed drifts by 15%
    from one minute to the next, these paired ratios vary less than a ratio of separately taken medians."""
    return [getattr(m, per_s) / getattr(b, per_s) for m, b in zip(measures, baseline, strict=True)]


def median_measure(measures: list[Measure]) -> Measure:
    chosen = sorted(measures, key=lambda m: m.seconds)[len(measures) // 2]
    return replace(chosen, seconds=statistics.median(m.seconds for m in measures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="model folder (default: build the tiny Qwen2)")
    parser.add_argument("--questions", type=int, default=16)
    defaults = SampleConfig()  # the shape of a default `medprefs sample` call, shortened to 64 new tokens
    parser.add_argument("--n", type=int, default=defaults.n, help="responses per question")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="prompts per call, batched run")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions (medians are reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or tiny_model(Path(scratch) / "tiny")
        questions = sample_questions(max_year=2017)
        jobs = build_jobs(questions[: args.questions], questions, load_template("explain"), args.shots, seed=0)
        config = SampleConfig(n=args.n, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, device="cpu")
        backend = TransformersBackend(str(model), config)
        run(backend, jobs[:2], 2, "warm-up")  # one-time costs (stop-string tables, allocator) out of the timings
        batched, single, looped = [], [], []
        for _ in range(args.repeats):  # interleaved, so a busy moment on the shared machine hits every mode
            looped.append(plain_loop(backend, jobs, "generate loop"))
            single.append(run(backend, jobs, 1, "backend 1/call"))
            batched.append(run(backend, jobs, args.batch_size, f"backend {args.batch_size}/call"))
        batch, one, loop = median_measure(batched), median_measure(single), median_measure(looped)

    speedups = {
        name: {per_s: paired_speedups(runs, looped, per_s) for per_s in ("responses_per_s", "tokens_per_s")}
        for name, runs in (("loop", looped), ("one", single), ("batch", batched))
    }
    table = Table(
        title=f"sampling: {len(jobs)} questions x n={args.n} = {loop.responses} responses, max_new_tokens="
        f"{args.max_new_tokens}; medians of {args.repeats} interleaved runs"
    )
    for column in ("mode", "calls", "tokens", "s", "resp/s", "tok/s", "x loop (range)"):
        table.add_column(column, justify="left" if column == "mode" else "right", no_wrap=True)
    for key, measure in (("loop", loop), ("one", one), ("batch", batch)):
        ratios = speedups[key]["tokens_per_s"]
        table.add_row(
            measure.name,
            str(measure.calls),
            str(measure.tokens),
            f"{measure.seconds:.2f}",
            f"{measure.responses_per_s:.1f}",
            f"{measure.tokens_per_s:.0f}",
            f"{statistics.median(ratios):.2f} ({min(ratios):.1f}-{max(ratios):.1f})",
        )
    console.print(table)

    samplers = Table(title="one sampling step (temperature 0.8, top-p 0.95), us per row")
    for column in ("rows x vocabulary", "transformers", "NucleusSampler", "x"):
        samplers.add_column(column, justify="right")
    sampler_figures = {}
    for rows, vocab in ((32, 1200), (32, 151_936)):  # the tiny model's vocabulary, then Qwen2's
        baseline, ours = sampler_step_us(rows, vocab, repeats=200 if vocab < 10_000 else 5)
        sampler_figures[f"sampler_{rows}x{vocab}"] = {"transformers_us": round(baseline, 1), "ours_us": round(ours, 1)}
        samplers.add_row(f"{rows} x {vocab:,}", f"{baseline:.1f}", f"{ours:.1f}", f"{baseline / ours:.1f}")
    console.print(samplers)
    print(
        json.dumps(
            {
                "questions": len(jobs),
                "n": args.n,
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "repeats": args.repeats,
                "threads": args.threads,
                "loop_s": round(loop.seconds, 3),
                "backend_1_per_call_s": round(one.seconds, 3),
                "batched_s": round(batch.seconds, 3),
                "loop_responses_per_s": round(loop.responses_per_s, 2),
                "batched_responses_per_s": round(batch.responses_per_s, 2),
                "loop_tokens_per_s": round(loop.tokens_per_s, 1),
                "batched_tokens_per_s": round(batch.tokens_per_s, 1),
                # medians of the paired per-repetition ratios, and their range
                "speedup_responses": round(statistics.median(speedups["batch"]["responses_per_s"]), 2),
                "speedup_responses_range": [round(f(speedups["batch"]["responses_per_s"]), 2) for f in (min, max)],
                "speedup_tokens": round(statistics.median(speedups["batch"]["tokens_per_s"]), 2),
                "speedup_tokens_range": [round(f(speedups["batch"]["tokens_per_s"]), 2) for f in (min, max)],
                "speedup_backend_1_per_call": round(statistics.median(speedups["one"]["responses_per_s"]), 2),
                **sampler_figures,
            }
        )
    )


if __name__ == "__main__":
    main()
