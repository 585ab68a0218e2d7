"""The transformers backend's decoding: a rejection nucleus sampler drawing exactly from transformers' temperature +
top-p distribution without a sort, and nothing but the recorded parameters deciding what is written."""

from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from medprefs.prompts import load_template
from medprefs.sample_data import sample_questions
from medprefs.sampling import SampleConfig
from medprefs.sampling.backends.nucleus import NucleusSampler
from medprefs.sampling.plan import build_jobs

DRAWS = 40_000


def reference(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """transformers' own warpers, in `generate`'s order: the distribution `do_sample=True` draws from."""
    scaled = TemperatureLogitsWarper(temperature)(None, logits[None])
    return TopPLogitsWarper(top_p)(None, scaled).softmax(-1)[0]


def frequencies(logits: torch.Tensor, temperature: float, top_p: float, seed: int = 0) -> torch.Tensor:
    sampler = NucleusSampler(temperature, top_p, torch.Generator().manual_seed(seed))
    drawn = sampler.draw(logits.expand(DRAWS, -1))
    return torch.bincount(drawn, minlength=logits.numel()).double() / DRAWS


CASES = [
    (torch.tensor([2.0, 1.5, 1.0, 0.2, -1.0, -3.0]), 1.0, 0.9),
    (torch.tensor([2.0, 1.5, 1.0, 0.2, -1.0, -3.0]), 0.5, 0.9),
    (torch.cat([torch.linspace(0, 0.1, 30), torch.tensor([4.0])]), 1.0, 0.9),  # a long flat tail, partly cut
    (torch.linspace(0, 1, 40), 1.0, 0.5),  # near-uniform, half the mass: many rejection rounds
    (torch.tensor([5.0, 1.0, 1.0, 1.0]), 2.0, 1.0),  # top_p = 1: plain temperature sampling
]


@pytest.mark.parametrize(("logits", "temperature", "top_p"), CASES)
def test_draws_follow_transformers_top_p_distribution(logits, temperature, top_p):
    expected = reference(logits, temperature, top_p).double()
    observed = frequencies(logits, temperature, top_p)
    assert torch.equal(observed > 0, expected > 0)  # the same nucleus, token for token
    # 40k draws: a frequency's standard error is at most 0.0025, so 0.012 is ~5 of them.
    assert (observed - expected).abs().max() < 0.012, (observed, expected)


def test_tied_tokens_at_the_edge_of_the_nucleus_are_kept_together():
    """transformers keeps whichever of equally likely tokens its sort puts last; the sampler keeps them all, so the
    nucleus does not depend on sort order (the mass above each tied token is what decides)."""
    logits = torch.tensor([0.0] * 10 + [3.0])  # the top token holds 0.67, each tail token 0.033
    observed = frequencies(logits, 1.0, 0.95)
    assert (observed > 0).all()
    assert (observed[:10] - 1 / (10 + math.exp(3))).abs().max() < 0.012
    assert (TopPLogitsWarper(0.95)(None, logits[None]).isfinite()).sum() == 10  # one tied token dropped by sort order


def test_random_rows_never_draw_outside_the_nucleus():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(256, 300, generator=generator) * 3
    sampler = NucleusSampler(0.8, 0.9, torch.Generator().manual_seed(2))
    kept = TopPLogitsWarper(0.9)(None, logits / 0.8).isfinite()
    for _ in range(20):
        drawn = sampler.draw(logits)
        assert kept.gather(1, drawn[:, None]).all()


def test_the_processor_leaves_only_the_drawn_token_for_argmax():
    logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(3))
    scores = NucleusSampler(1.0, 0.95, torch.Generator().manual_seed(4))(None, logits)
    assert (scores.isfinite().sum(-1) == 1).all()
    again = NucleusSampler(1.0, 0.95, torch.Generator().manual_seed(4)).draw(logits)
    assert torch.equal(scores.argmax(-1), again)  # same generator seed, same draws


def test_other_generator_seeds_draw_other_tokens():
    logits = torch.zeros(64, 100)
    first = NucleusSampler(1.0, 1.0, torch.Generator().manual_seed(0)).draw(logits)
    second = NucleusSampler(1.0, 1.0, torch.Generator().manual_seed(1)).draw(logits)
    assert not torch.equal(first, second)


@pytest.mark.parametrize(("temperature", "top_p"), [(0.0, 0.9), (1.0, 0.0), (1.0, 1.5)])
def test_bad_parameters_are_refused(temperature, top_p):
    with pytest.raises(ValueError):
        NucleusSampler(temperature, top_p, torch.Generator())


def test_backend_with_a_one_token_nucleus_decodes_greedily(tiny_model_dir):
    """A tiny top_p keeps only the most likely token, so the sampling backend must reproduce greedy decoding: this
    fails if the backend's sampler ignored top_p or drew from the wrong row."""
    from medprefs.sampling.backends.transformers_backend import TransformersBackend

    jobs = build_jobs(sample_questions(2017)[:3], sample_questions(2017), load_template("explain"), 1, 0)
    greedy = TransformersBackend(str(tiny_model_dir), SampleConfig(n=1, temperature=0.0, max_new_tokens=8, shots=1))
    narrow = TransformersBackend(
        str(tiny_model_dir), SampleConfig(n=2, temperature=0.9, top_p=1e-6, max_new_tokens=8, shots=1)
    )
    wide = TransformersBackend(str(tiny_model_dir), SampleConfig(n=2, temperature=1.5, max_new_tokens=8, shots=1))
    expected = [completions[0] for completions in greedy.generate(jobs)]
    assert [completions for completions in narrow.generate(jobs)] == [[c, c] for c in expected]
    assert any(c != expected[i] for i, completions in enumerate(wide.generate(jobs)) for c in completions)


def test_a_checkpoints_generation_defaults_do_not_change_the_responses(tiny_model_dir, tmp_path):
    """Only the recorded parameters decide decoding: a generation_config.json with a repetition penalty (as real
    instruct checkpoints ship) changes what plain `generate` writes, but not what the backend writes."""
    import json
    import shutil

    from medprefs.sampling.backends.transformers_backend import TransformersBackend

    shipped = tmp_path / "with-defaults"
    shutil.copytree(tiny_model_dir, shipped)
    settings = json.loads((shipped / "generation_config.json").read_text())
    settings |= {"repetition_penalty": 50.0, "no_repeat_ngram_size": 1}
    (shipped / "generation_config.json").write_text(json.dumps(settings))
    jobs = build_jobs(sample_questions(2017)[:2], sample_questions(2017), load_template("explain"), 1, 0)
    config = SampleConfig(n=2, temperature=1.0, max_new_tokens=12, shots=1)

    plain = TransformersBackend(str(tiny_model_dir), config)
    assert TransformersBackend(str(shipped), config).generate(jobs) == plain.generate(jobs)

    from transformers import AutoModelForCausalLM

    encoded = plain.tokenizer(jobs[0].prompt, return_tensors="pt")
    outputs = [
        AutoModelForCausalLM.from_pretrained(folder).generate(**encoded, do_sample=False, max_new_tokens=12)
        for folder in (tiny_model_dir, shipped)
    ]
    assert not torch.equal(*outputs)  # the defaults are real: plain generate applies them


# --- shared-prefix decoding -------------------------------------------------------------------------------------


def _logits(model, jobs, n, tokenizer, new_tokens, cache=None):
    """Greedy `generate` over `jobs` x n rows: its tokens and every step's logits (cache: the shared-prefix path)."""
    from contextlib import nullcontext

    from medprefs.sampling.backends.shared_prefix import decoding_with

    encoded = tokenizer([job.prompt for job in jobs], return_tensors="pt", padding=True)
    with torch.inference_mode(), decoding_with(cache) if cache is not None else nullcontext():
        output = model.generate(
            input_ids=encoded["input_ids"].repeat_interleave(n, 0),
            attention_mask=encoded["attention_mask"].repeat_interleave(n, 0),
            past_key_values=cache, do_sample=False, max_new_tokens=new_tokens, output_logits=True,
            return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id,
        )
    return output.sequences[:, encoded["input_ids"].shape[1]:], torch.stack(output.logits, 1)


def test_shared_prefix_decoding_equals_padded_batch_decoding(tiny_model_dir):
    """Prompts of different lengths, 3 rows each: attending over one copy of each prompt's cache gives the logits of
    transformers' own padded batch (SDPA, each prompt copied per row) at every step, and so the same tokens."""
    from medprefs.sampling.backends.shared_prefix import ATTENTION, SharedPrefixCache
    from medprefs.sampling.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir), SampleConfig(n=3, max_new_tokens=10, shots=1))
    assert backend.shares_prefix and backend.model.config._attn_implementation == ATTENTION
    pool = sample_questions(2017)
    jobs = build_jobs(pool[:4], pool, load_template("explain"), 1, 0)
    lengths = {len(backend.tokenizer(job.prompt)["input_ids"]) for job in jobs}
    assert len(lengths) == 4  # left padding differs per prompt
    encoded = backend.tokenizer([job.prompt for job in jobs], return_tensors="pt", padding=True)
    cache = backend._shared_prefix_cache(encoded["input_ids"], encoded["attention_mask"])
    assert isinstance(cache, SharedPrefixCache) and cache.layers[0].prefix_keys.shape[0] == 4  # once per prompt
    shared_tokens, shared_logits = _logits(backend.model, jobs, 3, backend.tokenizer, 10, cache)
    padded_tokens, padded_logits = _logits(backend.model, jobs, 3, backend.tokenizer, 10)
    assert torch.equal(shared_tokens, padded_tokens)
    torch.testing.assert_close(shared_logits, padded_logits, rtol=1e-4, atol=1e-4)
    assert not torch.equal(shared_logits[0], shared_logits[3])  # rows of different prompts really differ


def test_without_a_shared_prefix_the_attention_is_sdpa(tiny_model_dir):
    """Outside shared-prefix decoding (prefill, evaluation's padded batches) the registered attention is exactly
    transformers' SDPA; models it cannot serve (eager attention, sliding windows) keep the usual path."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from medprefs.sampling.backends.shared_prefix import supports_shared_prefix, use_shared_prefix_attention

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, padding_side="left")
    prompts = [job.prompt for job in build_jobs(sample_questions(2017)[:3], [], load_template("explain"), 0, 0)]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    with torch.inference_mode():
        sdpa = model(**encoded).logits
        use_shared_prefix_attention(model)
        routed = model(**encoded).logits
    assert torch.equal(sdpa, routed)
    eager = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    assert supports_shared_prefix(model) and not supports_shared_prefix(eager)
    sliding = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, use_sliding_window=True, sliding_window=64, layer_types=["sliding_attention", "full_attention"]
    )
    assert not supports_shared_prefix(sliding)
    from transformers import GPT2Config, GPT2LMHeadModel  # an architecture whose attention `attend` does not model

    other = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50, attn_implementation="sdpa"))
    assert other.config._attn_implementation == "sdpa" and not supports_shared_prefix(other)


def test_a_model_without_shared_prefix_support_samples_through_plain_generate(tiny_model_dir, tmp_path, capsys):
    """Another architecture (GPT-2) keeps transformers' own decoding, says so, and still decodes right: a one-token
    nucleus gives each of its rows exactly what plain greedy `generate` gives."""
    import shutil

    from transformers import GPT2Config, GPT2LMHeadModel

    from medprefs.prompts import STOP_STRINGS
    from medprefs.sampling.backends.transformers_backend import TransformersBackend, tokens_to_completion

    folder = tmp_path / "gpt2"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=1200, n_positions=2048)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    config = SampleConfig(n=2, temperature=0.9, top_p=1e-6, max_new_tokens=6, shots=1)
    backend = TransformersBackend(str(folder), config)
    assert not backend.shares_prefix
    assert "decodes each of the n=2 responses against its own copy" in " ".join(capsys.readouterr().err.split())
    jobs = build_jobs(sample_questions(2017)[:2], sample_questions(2017), load_template("explain"), 1, 0)
    for job, completions in zip(jobs, backend.generate(jobs), strict=True):
        encoded = backend.tokenizer(job.prompt, return_tensors="pt")
        with torch.inference_mode():
            output = backend.model.generate(**encoded, do_sample=False, max_new_tokens=6, stop_strings=STOP_STRINGS,
                                            tokenizer=backend.tokenizer, pad_token_id=backend.tokenizer.pad_token_id)
        plain = tokens_to_completion(output[0, encoded["input_ids"].shape[1]:].tolist(), backend.finish_ids,
                                     backend.tokenizer.decode)
        assert completions == [plain, plain]
