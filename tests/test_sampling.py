"""Sampling without generating: config, shard plan, prompts and seeds, stop handling, vLLM argument building."""

from __future__ import annotations

import importlib.util

import pytest

from medprefs.config import from_dict
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.prompts import STOP_STRINGS, build_prompt, load_template
from medprefs.sample_data import sample_questions
from medprefs.sampling import SampleConfig, make_backend, parse_shard
from medprefs.sampling.backends.base import cut_at_stop
from medprefs.sampling.backends.transformers_backend import tokens_to_completion
from medprefs.sampling.backends.vllm_backend import MISSING, engine_kwargs, sampling_kwargs, to_completion
from medprefs.sampling.plan import (
    PromptJob,
    assigned_shards,
    build_jobs,
    derive_seed,
    length_batches,
    shard_chunks,
    sort_questions,
)
from medprefs.sampling.provenance import files_sha256, identity_diff, resolve_model
from medprefs.sampling.runner import require_backend

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def train_questions(count: int | None = None) -> list[Question]:
    questions = sample_questions(max_year=2017)
    return questions[:count] if count else questions


# --- config -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n": 0}, "sample.n must be a positive integer"),
        ({"temperature": 0.0, "n": 4}, "greedy decoding"),
        ({"top_p": 0.0}, "sample.top_p"),
        ({"shots": -1}, "sample.shots"),
        ({"tensor_parallel_size": 2}, "needs backend = 'vllm'"),
        ({"questions_per_shard": 0}, "sample.questions_per_shard"),
    ],
)
def test_config_rejects_bad_values(values, message):
    with pytest.raises(MedprefsError, match=message):
        SampleConfig(**values)


def test_config_from_pipeline_table_checks_keys_and_backend():
    config = from_dict(SampleConfig, {"backend": "vllm", "n": 4, "tensor_parallel_size": 2}, "sample")
    assert (config.backend, config.n, config.tensor_parallel_size) == ("vllm", 4, 2)
    with pytest.raises(MedprefsError, match="unknown key"):
        from_dict(SampleConfig, {"num_samples": 4}, "sample")
    with pytest.raises(MedprefsError, match="not one of"):
        from_dict(SampleConfig, {"backend": "sglang"}, "sample")
    assert SampleConfig(temperature=0.0, n=1).temperature == 0.0


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(MedprefsError):
            parse_shard(bad)


# --- plan -------------------------------------------------------------------------------------------------------


def test_shards_partition_the_questions_whatever_the_input_order():
    questions = train_questions(23)
    ordered = sort_questions(list(reversed(questions)))
    assert [q.qid for q in ordered] == sorted(q.qid for q in questions)
    chunks = shard_chunks(ordered, 4)
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4, 3]
    parts = [assigned_shards(len(chunks), (i, 4)) for i in range(4)]
    assert sorted(k for part in parts for k in part) == list(range(len(chunks)))
    assert parts[1] == [1, 5] and parts[3] == [3]


def test_duplicate_qids_are_refused():
    question = train_questions(1)[0]
    with pytest.raises(MedprefsError, match="appears twice"):
        sort_questions([question, question])


def test_prompts_use_the_template_with_exemplars_never_the_target():
    questions = train_questions()
    template = load_template("explain")
    jobs = build_jobs(questions, questions, template, shots=3, seed=7)
    by_qid = {q.qid: q for q in questions}
    for job in jobs:
        assert job.prompt.endswith("解説:")
        assert job.prompt.count("問題: ") == 4 and job.prompt.count("答え: ") == 3
        shots = job.prompt.split("問題: ")[1:-1]
        assert all(by_qid[job.qid].stem not in block for block in shots)
    again = build_jobs(questions, questions, template, shots=3, seed=7)
    other = build_jobs(questions, questions, template, shots=3, seed=8)
    assert [j.prompt for j in again] == [j.prompt for j in jobs]
    assert sum(a.prompt != b.prompt for a, b in zip(jobs, other, strict=True)) > len(jobs) // 2
    target = questions[0]
    assert jobs[0].prompt == build_prompt(template, target, _exemplars_in(jobs[0].prompt, questions, target))


def _exemplars_in(prompt: str, pool: list[Question], target: Question) -> list[Question]:
    """The pool questions whose stems open the prompt's example blocks, in order."""
    blocks = prompt.split("問題: ")[1:-1]
    return [next(q for q in pool if q.qid != target.qid and block.startswith(q.stem + "\n")) for block in blocks]


def test_zero_shots_gives_the_bare_question():
    question = train_questions(1)[0]
    (job,) = build_jobs([question], [], load_template("explain"), shots=0, seed=0)
    assert job.prompt.startswith(f"問題: {question.stem}\na: ") and job.prompt.count("問題:") == 1


def test_seeds_are_per_question_and_stable():
    assert derive_seed(0, "104A12") == derive_seed(0, "104A12")
    seeds = {derive_seed(0, f"q{i}") for i in range(1000)} | {derive_seed(1, "q0")}
    assert len(seeds) == 1001 and all(0 <= s < 2**31 for s in seeds)


def test_batches_group_prompts_of_similar_length_the_same_way_whatever_the_order():
    jobs = build_jobs(train_questions(10), train_questions(), load_template("explain"), 3, seed=0)
    batches = list(length_batches(jobs, 4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(j.qid for b in batches for j in b) == sorted(j.qid for j in jobs)  # each job exactly once
    lengths = [len(j.prompt) for b in batches for j in b]
    assert lengths == sorted(lengths) and lengths != [len(j.prompt) for j in jobs]  # reordered, shortest first
    assert list(length_batches(list(reversed(jobs)), 4)) == batches
    same_length = [PromptJob("q2", "xx", 2), PromptJob("q1", "yy", 1), PromptJob("q3", "z", 3)]
    assert [j.qid for b in length_batches(same_length, 2) for j in b] == ["q3", "q1", "q2"]  # ties by qid
    assert list(length_batches(jobs, None)) == [sorted(jobs, key=lambda j: (len(j.prompt), j.qid))]  # vLLM: one call


# --- stopping ---------------------------------------------------------------------------------------------------


def test_cut_at_stop_drops_the_next_question():
    assert cut_at_stop(" 鉄が減る。\n答え: e\n問題: 次の") == (" 鉄が減る。\n答え: e", True)
    assert cut_at_stop("答え: a問題:") == ("答え: a", True)
    assert cut_at_stop(" まだ途中") == (" まだ途中", False)


def test_token_rows_become_completions(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    pad = tokenizer.pad_token_id
    finish = {tokenizer.eos_token_id, pad}
    body = tokenizer.encode(" 鉄が減る。\n答え: e")
    stop = tokenizer.encode(" 鉄が減る。\n答え: e\n問題:")
    assert stop[: len(body)] == body  # the stop string adds tokens after the body

    stopped = tokens_to_completion(stop + [pad, pad], finish, tokenizer.decode)
    assert (stopped.text, stopped.finish_reason, stopped.n_tokens) == (" 鉄が減る。\n答え: e", "stop", len(stop))
    eos = tokens_to_completion(body + [tokenizer.eos_token_id, pad], finish, tokenizer.decode)
    assert (eos.text, eos.finish_reason, eos.n_tokens) == (" 鉄が減る。\n答え: e", "stop", len(body) + 1)
    cut = tokens_to_completion(body, finish, tokenizer.decode)
    assert (cut.finish_reason, cut.n_tokens) == ("length", len(body))


# --- vLLM without vLLM ------------------------------------------------------------------------------------------


def test_vllm_engine_and_sampling_arguments():
    config = SampleConfig(
        backend="vllm",
        n=6,
        temperature=0.7,
        top_p=0.9,
        max_new_tokens=300,
        seed=3,
        tensor_parallel_size=2,
        data_parallel_size=4,
        dtype="bfloat16",
    )
    engine = engine_kwargs("/models/cpt", config)
    assert engine == {
        "model": "/models/cpt",
        "tokenizer": "/models/cpt",
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "seed": 3,
        "gpu_memory_utilization": 0.9,
        "generation_config": "vllm",  # the checkpoint's decoding defaults are not applied
    }
    assert "data_parallel_size" not in engine  # vLLM 0.33 refuses it in one process: one engine per worker instead
    (job,) = build_jobs(train_questions(1), train_questions(), load_template("explain"), shots=3, seed=3)
    params = sampling_kwargs(job, config)
    assert params == {
        "n": 6,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 300,
        "seed": derive_seed(3, job.qid),
        "stop": STOP_STRINGS,
        "include_stop_str_in_output": False,
        "skip_special_tokens": True,
    }
    # Evaluation's plain format ends an answer at its line's end: its stop strings replace the shared ones.
    assert sampling_kwargs(job, config, ["\n", *STOP_STRINGS])["stop"] == ["\n", *STOP_STRINGS]


def test_vllm_outputs_become_completions():
    assert to_completion(" 説明\n答え: a", [5, 6, 7], "stop") == to_completion(
        " 説明\n答え: a\n問題: x", [5, 6, 7], "stop"
    )
    assert to_completion(" 長い", [1] * 9, "length").n_tokens == 9
    assert to_completion(" a\n答え: b", [1, 2], "stop", ["\n"]).text == " a"
    with pytest.raises(MedprefsError, match="abort"):
        to_completion("", [], "abort")


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed here")
def test_missing_vllm_is_one_clear_line():
    with pytest.raises(MedprefsError) as error:
        require_backend(SampleConfig(backend="vllm"))
    assert str(error.value) == MISSING and "--backend transformers" in MISSING


def test_an_adapter_with_vllm_is_refused_before_loading_anything(tmp_path):
    with pytest.raises(MedprefsError, match="adapter needs the transformers backend"):
        make_backend(str(tmp_path), SampleConfig(backend="vllm"), adapter=str(tmp_path))


@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (the gpu extra, in its own environment: docs/vllm.md)")
def test_real_vllm_backend_samples(tiny_model_dir, tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm is installed but no GPU is visible")
    from medprefs.sampling import load_responses, run_sampling

    questions = train_questions(4)
    config = SampleConfig(backend="vllm", n=2, max_new_tokens=16, questions_per_shard=2)
    run_sampling(questions, train_questions(), str(tiny_model_dir), config, tmp_path / "a", "test")
    run_sampling(questions, train_questions(), str(tiny_model_dir), config, tmp_path / "b", "test")
    first, _ = load_responses(tmp_path / "a")
    assert first.height == 8 and set(first["finish_reason"]) <= {"stop", "length"}
    assert first.equals(load_responses(tmp_path / "b")[0])


# --- provenance -------------------------------------------------------------------------------------------------


def test_files_hash_follows_content(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPREFS_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"one")
    first = files_sha256([weights])
    assert files_sha256([weights]) == first and (tmp_path / "cache" / "file-sha256.json").is_file()
    weights.write_bytes(b"two!")
    assert files_sha256([weights]) != first


def test_resolve_model_errors_are_one_line(tmp_path):
    with pytest.raises(MedprefsError, match="no config.json"):
        resolve_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MedprefsError, match="no weight files"):
        resolve_model(str(tmp_path))
    with pytest.raises(MedprefsError, match="not a folder, and not a Hub repo"):
        resolve_model(str(tmp_path / "missing"))


def test_a_missing_folder_shaped_like_a_hub_repo_is_named_as_a_missing_folder(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MedprefsError, match=r"model runs/cpt: no such folder, and cannot fetch it from the Hub"):
        resolve_model("runs/cpt")


def test_identity_diff_names_the_changed_parameter():
    old = {"sampling": {"temperature": 0.8, "n": 4}, "corpus_version": "a"}
    new = {"sampling": {"temperature": 1.0, "n": 4}, "corpus_version": "a"}
    assert identity_diff(old, new) == ["sampling.temperature (0.8 -> 1.0)"]
    assert identity_diff(old, old) == []
