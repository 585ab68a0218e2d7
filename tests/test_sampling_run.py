"""Sampling with the tiny model: reproducible, resumable (also after SIGKILL), sharded and merged, refusing changes."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from medprefs.cli import main
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.manifest import read_manifest, write_manifest
from medprefs.prompts import load_template
from medprefs.sample_data import sample_questions
from medprefs.sampling import RESPONSE_SCHEMA, SampleConfig, load_responses, merge_shards, run_sampling
from medprefs.sampling.plan import build_jobs
from medprefs.sampling.provenance import resolve_model
from medprefs.sampling.runner import run_lock

pytestmark = pytest.mark.slow
CONFIG = SampleConfig(
    n=2, max_new_tokens=8, batch_size=2, questions_per_shard=2, seed=11, shots=1
)  # short prompts: fast


def train_questions(count: int | None = None) -> list[Question]:
    questions = sample_questions(max_year=2017)
    return questions[:count] if count else questions


@pytest.fixture(autouse=True)
def _hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDPREFS_CACHE", str(tmp_path / "hash-cache"))


def sample(model: Path, out: Path, config: SampleConfig = CONFIG, count: int = 6, shard=(0, 1)):
    return run_sampling(train_questions(count), train_questions(), str(model), config, out, "sample@test", shard)


def test_same_seed_same_responses_and_the_folder_contract(tiny_model_dir, tmp_path):
    config = replace(CONFIG, shots=3)
    result = sample(tiny_model_dir, tmp_path / "a", config)
    assert (result.shards_written, result.shards_skipped, result.complete) == (3, 0, True)
    sample(tiny_model_dir, tmp_path / "b", config)
    frame, manifest = load_responses(tmp_path / "a")
    assert frame.equals(load_responses(tmp_path / "b")[0])
    assert frame.schema == pl.Schema(RESPONSE_SCHEMA) and frame.height == 12 == result.responses_written
    assert frame.select("qid", "sample_idx").rows() == sorted((q.qid, i) for q in train_questions(6) for i in range(2))
    jobs = build_jobs(train_questions(6), train_questions(), load_template("explain"), 3, CONFIG.seed)
    assert frame.unique("qid", maintain_order=True)["prompt"].to_list() == [j.prompt for j in jobs]
    assert set(frame["finish_reason"]) <= {"stop", "length"}
    assert all(0 < n <= CONFIG.max_new_tokens for n in frame["n_tokens"])
    assert not any("問題:" in text for text in frame["text"])
    assert (
        frame.filter(pl.col("finish_reason") == "length")["n_tokens"].to_list()
        == [8] * (frame["finish_reason"] == "length").sum()
    )
    assert sum(r["tokens"] for r in manifest["completed"].values()) == frame["n_tokens"].sum()

    model = resolve_model(str(tiny_model_dir))
    assert manifest["model"]["path"] == str(model.path)
    assert manifest["identity"]["model"]["weights_sha256"] == model.weights_sha256
    assert manifest["identity"]["template"]["sha256"] == load_template("explain").sha256
    assert manifest["identity"]["corpus_version"] == "sample@test"
    assert manifest["identity"]["sampling"]["temperature"] == CONFIG.temperature
    exemplars = {q: e for record in manifest["completed"].values() for q, e in record["exemplars"].items()}
    assert sorted(exemplars) == sorted(q.qid for q in train_questions(6))
    assert all(len(e) == 3 and qid not in e for qid, e in exemplars.items())


def test_shared_prefill_batches_match_plain_generate(tiny_model_dir):
    """Prefilling each prompt once and decoding in a padded batch gives what plain one-prompt `generate` gives."""
    import torch

    from medprefs.prompts import STOP_STRINGS
    from medprefs.sampling.backends.transformers_backend import TransformersBackend, tokens_to_completion

    backend = TransformersBackend(str(tiny_model_dir), SampleConfig(n=1, temperature=0.0, max_new_tokens=6, shots=1))
    jobs = build_jobs(train_questions(3), train_questions(), load_template("explain"), 1, 0)
    batched = backend.generate(jobs)
    for job, (completion,) in zip(jobs, batched, strict=True):
        encoded = backend.tokenizer(job.prompt, return_tensors="pt")
        with torch.inference_mode():
            output = backend.model.generate(
                **encoded, do_sample=False, max_new_tokens=6, stop_strings=STOP_STRINGS, tokenizer=backend.tokenizer
            )
        plain = output[0, encoded["input_ids"].shape[1] :].tolist()
        assert completion == tokens_to_completion(plain, backend.finish_ids, backend.tokenizer.decode)


def test_another_seed_gives_other_responses(tiny_model_dir, tmp_path):
    sample(tiny_model_dir, tmp_path / "a", count=2)
    sample(tiny_model_dir, tmp_path / "b", replace(CONFIG, seed=12), count=2)
    first, second = load_responses(tmp_path / "a")[0], load_responses(tmp_path / "b")[0]
    assert first["text"].to_list() != second["text"].to_list()


def test_resume_skips_finished_shards_and_resamples_a_lost_one(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    sample(tiny_model_dir, out)
    reference, _ = load_responses(out)
    (out / "shards" / "shard-00001.parquet").unlink()
    result = sample(tiny_model_dir, out)
    assert (result.shards_written, result.shards_skipped) == (1, 2)
    assert load_responses(out)[0].equals(reference)

    # Killed after a shard file was renamed into place but before the manifest said so: checked, not resampled.
    manifest = read_manifest(out)
    del manifest["completed"]["00002"]
    manifest["complete"] = False
    write_manifest(out, manifest)
    with pytest.raises(MedprefsError, match="incomplete"):
        load_responses(out)
    result = sample(tiny_model_dir, out)
    assert (result.shards_written, result.complete) == (0, True)
    assert load_responses(out)[0].equals(reference)


def test_a_changed_parameter_is_refused_by_name(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    sample(tiny_model_dir, out, count=2)
    with pytest.raises(MedprefsError, match=r"sampling\.temperature \(0\.8 -> 1\.0\).*new --out"):
        sample(tiny_model_dir, out, replace(CONFIG, temperature=1.0), count=2)
    with pytest.raises(MedprefsError, match=r"questions\.count \(2 -> 3\)"):
        sample(tiny_model_dir, out, count=3)
    with pytest.raises(MedprefsError, match="holds shard 0/1, not 0/2"):
        sample(tiny_model_dir, out, count=2, shard=(0, 2))
    # How the work is spread over hardware may change between runs; each shard records the layout it was made with.
    capsys.readouterr()
    assert sample(tiny_model_dir, out, replace(CONFIG, device="cpu"), count=2).shards_skipped == 1
    assert "resuming with device auto -> cpu" in " ".join(capsys.readouterr().err.split())  # allowed, not silent
    (out / "shards" / "shard-00000.parquet").unlink()
    sample(tiny_model_dir, out, replace(CONFIG, device="cpu"), count=2)
    assert read_manifest(out)["completed"]["00000"]["layout"]["device"] == "cpu"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(MedprefsError, match="not a sampling run"):
        sample(tiny_model_dir, tmp_path / "other", count=2)


def test_one_process_per_folder(tiny_model_dir, tmp_path):
    with run_lock(tmp_path / "run"):
        with pytest.raises(MedprefsError, match="another sampling run is writing here"):
            sample(tiny_model_dir, tmp_path / "run", count=2)
    assert sample(tiny_model_dir, tmp_path / "run", count=2).complete


def test_shard_parts_merge_into_the_unsharded_run(tiny_model_dir, tmp_path):
    sample(tiny_model_dir, tmp_path / "whole", count=5)
    parts = [tmp_path / f"part{i}" for i in range(2)]
    for i, part in enumerate(parts):
        sample(tiny_model_dir, part, count=5, shard=(i, 2))
    assert sorted(p.name for p in (parts[0] / "shards").iterdir()) == ["shard-00000.parquet", "shard-00002.parquet"]
    with pytest.raises(MedprefsError, match="sample-merge"):
        load_responses(parts[0])
    with pytest.raises(MedprefsError, match="overlap"):
        merge_shards([parts[0], parts[0]], tmp_path / "bad1")
    with pytest.raises(MedprefsError, match=r"gap: no folder holds shard\(s\) 1/2"):
        merge_shards([parts[0]], tmp_path / "bad2")
    merged = merge_shards(parts, tmp_path / "merged")
    assert merged["complete"] and [m["shard"]["index"] for m in merged["merged_from"]] == [0, 1]
    assert load_responses(tmp_path / "merged")[0].equals(load_responses(tmp_path / "whole")[0])

    other = tmp_path / "other1"
    sample(tiny_model_dir, other, replace(CONFIG, seed=5), count=5, shard=(1, 2))
    with pytest.raises(MedprefsError, match=r"other settings.*sampling\.seed"):
        merge_shards([parts[0], other], tmp_path / "bad3")
    assert main(["sample-merge", str(parts[0]), str(parts[1]), "--out", str(tmp_path / "merged")]) == 2


def test_more_parts_than_shard_files_leaves_empty_parts_complete_and_mergeable(tiny_model_dir, tmp_path):
    # 3 questions in 2 shard files, split 3 ways: part 2 has no file to write and was left "incomplete (0/0)"
    # forever, so sample-merge refused the run however often its command was rerun.
    parts = [tmp_path / f"part{i}" for i in range(3)]
    results = [sample(tiny_model_dir, part, count=3, shard=(i, 3)) for i, part in enumerate(parts)]
    assert [r.shards_assigned for r in results] == [1, 1, 0] and all(r.complete for r in results)
    merge_shards(parts, tmp_path / "merged")
    assert load_responses(tmp_path / "merged")[0].height == 3 * CONFIG.n


def test_a_damaged_part_stops_the_merge_before_anything_is_copied(tiny_model_dir, tmp_path):
    parts = [tmp_path / f"part{i}" for i in range(2)]
    for i, part in enumerate(parts):
        sample(tiny_model_dir, part, count=4, shard=(i, 2))
    (parts[1] / "shards" / "shard-00001.parquet").write_bytes(b"damaged")
    with pytest.raises(MedprefsError, match="shard-00001.parquet: missing or changed"):
        merge_shards(parts, tmp_path / "merged")
    # Nothing half-copied: once the part is sampled again, the same command succeeds.
    assert not (tmp_path / "merged").exists()
    (parts[1] / "shards" / "shard-00001.parquet").unlink()
    sample(tiny_model_dir, parts[1], count=4, shard=(1, 2))
    assert merge_shards(parts, tmp_path / "merged")["complete"]


def test_a_backend_returning_fewer_than_n_responses_is_an_error_not_a_short_shard():
    from medprefs.sampling.backends import Completion
    from medprefs.sampling.runner import ShardWork, sample_shard

    class Short:
        name = "short"
        jobs_per_call = 2

        def generate(self, jobs):
            return [[Completion(text="x", finish_reason="stop", n_tokens=1)] for _ in jobs]  # 1, not n=2

    work = ShardWork(0, train_questions(2))
    with pytest.raises(MedprefsError, match=r"short backend returned 1 responses for \S+, expected n=2"):
        sample_shard(Short(), work, train_questions(), load_template("explain"), CONFIG, lambda *counts: None)


def test_too_many_shots_is_refused_before_the_folder_is_started(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MedprefsError, match=r"sample\.shots 100: only \d+ exemplars"):
        sample(tiny_model_dir, out, replace(CONFIG, shots=100), count=2)
    assert not (out / "manifest.json").exists()
    assert sample(tiny_model_dir, out, count=2).complete  # the corrected command is not refused as another run


def test_data_parallel_workers_give_the_same_responses(tiny_model_dir, tmp_path):
    sample(tiny_model_dir, tmp_path / "one", count=4)
    result = sample(tiny_model_dir, tmp_path / "two", replace(CONFIG, data_parallel_size=2), count=4)
    assert result.shards_written == 2 and result.responses_written == 8
    assert load_responses(tmp_path / "two")[0].equals(load_responses(tmp_path / "one")[0])


RUN_SCRIPT = """
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from medprefs.corpus.question import Question
from medprefs.sampling import SampleConfig, run_sampling
args = json.loads(sys.argv[1])
pool = [Question.from_row(json.loads(line)) for line in open(args["questions"], encoding="utf-8")]
config = SampleConfig(**args["config"])
result = run_sampling(pool[: args["count"]], pool, args["model"], config, Path(args["out"]), "sample@test")
print(json.dumps({"written": result.shards_written, "skipped": result.shards_skipped}))
"""


def test_sigkill_part_way_then_rerun_equals_an_uninterrupted_run(tiny_model_dir, tmp_path):
    config = replace(CONFIG, batch_size=1)
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps(q.to_row()) + "\n" for q in train_questions()))
    out = tmp_path / "killed"
    argv = [sys.executable, "-c", RUN_SCRIPT]
    payload = {
        "questions": str(tmp_path / "questions.jsonl"),
        "model": str(tiny_model_dir),
        "out": str(out),
        "count": 16,
    }
    payload["config"] = {
        k: getattr(config, k) for k in ("n", "max_new_tokens", "batch_size", "questions_per_shard", "seed", "shots")
    }
    env = {**os.environ, "MEDPREFS_CACHE": str(tmp_path / "hash-cache")}
    process = subprocess.Popen([*argv, json.dumps(payload)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / "shards").glob("shard-*.parquet")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed part way"
    written = len(list((out / "shards").glob("shard-*.parquet")))
    assert 1 <= written < 8

    rerun = subprocess.run([*argv, json.dumps(payload)], env=env, capture_output=True, text=True, check=True)
    counts = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert counts["skipped"] >= written and counts["written"] + counts["skipped"] == 8
    resumed, manifest = load_responses(out)
    sample(tiny_model_dir, tmp_path / "uninterrupted", config, count=16)
    assert resumed.equals(load_responses(tmp_path / "uninterrupted")[0])
    assert resumed.height == 32 and not resumed.select("qid", "sample_idx").is_duplicated().any()
    assert manifest["complete"] and not list((out / "shards").glob(".*"))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_cli_without_vllm_suggests_the_transformers_backend(tmp_path, capsys):
    argv = ["sample", "--corpus", "sample@v1", "--model", "m", "--out", str(tmp_path / "o"), "--backend", "vllm"]
    assert main(argv) == 2
    assert "vLLM is not installed" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_cli_samples_a_stored_corpus_and_resumes(tiny_model_dir, tmp_path, capsys):
    store, out = tmp_path / "store", tmp_path / "responses"
    assert main(["corpus", "ingest", "--store", str(store), "--name", "jmle", "--tag", "v1"]) == 0
    argv = ["sample", "--corpus", "jmle@v1", "--store", str(store), "--model", str(tiny_model_dir), "--out", str(out)]
    argv += ["--max-year", "2012", "--n", "2", "--max-new-tokens", "4", "--shots", "1", "--questions-per-shard", "5"]
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["complete"] and summary["shards_written"] == 3 and summary["responses_written"] == 26
    frame, manifest = load_responses(out)
    from medprefs.corpus import load_corpus

    corpus = load_corpus("jmle@v1", store)
    assert manifest["identity"]["corpus_version"] == corpus.version_id
    assert sorted(set(frame["qid"])) == sorted(q.qid for q in corpus.questions if q.year <= 2012)

    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shards_skipped"] == 3
    assert main([*argv, "--temperature", "1.0"]) == 2
    assert "sampling.temperature (0.8 -> 1.0)" in capsys.readouterr().err
