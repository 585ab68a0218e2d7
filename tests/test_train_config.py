"""Trainer configs, shipped pipeline files, documents, the leakage gate, resume guards and the dry run (no training)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl
import pytest
from test_train_fixtures import PASSING, corpus_lineage, sample_questions, tiny_cpt, write_corpus_folder, write_pairs

from medprefs.cli import main
from medprefs.config import from_dict
from medprefs.corpus.question import Question
from medprefs.errors import LeakageError, MedprefsError
from medprefs.train import CPTConfig, LoraSettings, RPOConfig, load_train_config, question_documents
from medprefs.train.config import SECTIONS
from medprefs.train.data import split_documents
from medprefs.train.run import last_complete_checkpoint

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


@pytest.mark.parametrize("path", sorted(PIPELINES.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_pipeline_file_loads_its_training_sections(path):
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for section in ("cpt", "rpo"):
        if section not in data:
            continue
        if "base" in data.get("model", {}):
            config, model = load_train_config(path, section)
            assert model.base and config.output_dir
        else:  # [model.tiny]: the demo's model is built by the pipeline runner
            assert from_dict(SECTIONS[section], data[section], section).output_dir
            with pytest.raises(MedprefsError, match="built by `medprefs run`"):
                load_train_config(path, section)


def test_paper_recipe_and_its_ablations():
    cpt, model = load_train_config(PIPELINES / "paper.toml", "cpt")
    rpo, _ = load_train_config(PIPELINES / "paper.toml", "rpo")
    assert model.base == "Qwen/Qwen2.5-72B"
    assert (cpt.epochs, cpt.lr_scheduler, cpt.quantization, cpt.packing_strategy) == (2, "cosine", "nf4", "bfd_split")
    assert cpt.warmup_ratio > 0 and cpt.num_processes > 1
    assert (rpo.epochs, rpo.alpha, rpo.cpt_adapter) == (1, 10.0, cpt.output_dir)
    dpo, _ = load_train_config(PIPELINES / "paper-cpt-dpo.toml", "rpo")
    assert dpo.alpha == 0 and dpo.cpt_adapter
    only, _ = load_train_config(PIPELINES / "paper-rpo-only.toml", "rpo")
    assert only.cpt_adapter is None and only.alpha == 10
    with pytest.raises(MedprefsError, match=r"no \[rpo\] table"):
        load_train_config(PIPELINES / "paper-cpt-only.toml", "rpo")


def test_overrides_short_and_qualified_and_unknown_keys(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[model]\nbase = "m"\n[cpt]\ndata = "x"\n', encoding="utf-8")
    config, model = load_train_config(path, "cpt", ["max_steps=7", "lora.r=4", "cpt.seed=3", "model.revision=abc"])
    assert (config.max_steps, config.lora.r, config.seed, model.revision) == (7, 4, 3, "abc")
    with pytest.raises(MedprefsError, match="unknown key.*learnig_rate"):
        load_train_config(path, "cpt", ["learnig_rate=1e-4"])
    with pytest.raises(MedprefsError, match=r"\[model\] unknown key.*revison"):
        load_train_config(path, "cpt", ["model.revison=abc"])  # else the base is silently unpinned
    with pytest.raises(MedprefsError, match="packing_strategy"):
        load_train_config(path, "cpt", ['packing_strategy="bfd"'])  # bfd truncates long documents: not offered


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CPTConfig(full_finetune=True, quantization="nf4"), "full_finetune"),
        (lambda: CPTConfig(allow_leakage="  "), "allow_leakage needs a reason"),
        (lambda: CPTConfig(eval_fraction=0.7), "eval_fraction"),
        (lambda: RPOConfig(alpha=-1), "alpha"),
        (lambda: LoraSettings(r=0), "lora.r"),
    ],
)
def test_invalid_settings_are_one_clear_error(make, message):
    with pytest.raises(MedprefsError, match=message):
        make()


def test_question_documents_follow_the_sampling_format():
    questions = sample_questions()
    documents = question_documents(questions, cutoff_year=2017)
    kept = [q for q in questions if q.year <= 2017 and not q.excluded]
    assert len(documents) == len(kept) > 40
    first = documents[0]
    assert first.startswith(f"問題: {kept[0].stem}\na: ")
    assert f"\n解説: {kept[0].explanation}\n答え: {kept[0].gold_text()}" in first
    bare = Question(qid="1", year=2010, stem="s", choices=["x", "y"], answer=["b"])
    assert question_documents([bare]) == ["問題: s\na: x\nb: y\n必ずa,bの中からちょうど1個選んでください。\n答え: b\n"]
    assert question_documents([Question(qid="2", year=2010, stem="s", choices=["x"], answer=["a"], points=0)]) == []


def test_held_out_split_is_deterministic_and_disjoint():
    documents = [f"d{i}" for i in range(40)]
    train, held_out = split_documents(documents, 0.1, seed=3)
    assert (train, held_out) == split_documents(documents, 0.1, seed=3)
    assert len(held_out) == 4 and sorted(train + held_out) == sorted(documents)
    assert split_documents(documents, 0.0, seed=3) == (documents, [])


def test_training_refuses_inputs_without_a_passing_verdict(tmp_path):
    from medprefs.train import train_cpt, train_rpo

    failing = {**PASSING, "verdict": "fail", "flagged": 3}
    for lineage in (corpus_lineage(None), corpus_lineage(failing)):
        with pytest.raises(LeakageError, match="allow-leakage"):
            train_cpt(tiny_cpt(tmp_path / "cpt"), base_model="unused", documents=["x"], lineage=lineage)
    with pytest.raises(LeakageError):  # documents passed without lineage have no verdict either
        train_cpt(tiny_cpt(tmp_path / "cpt"), base_model="unused", documents=["x"])
    pairs = write_pairs(tmp_path / "pairs", sample_questions(), leakage=None)
    with pytest.raises(LeakageError):
        train_rpo(RPOConfig(output_dir=str(tmp_path / "rpo")), base_model="unused", dataset_dir=pairs)
    assert not (tmp_path / "cpt").exists() and not (tmp_path / "rpo").exists()


def test_checkpoints_guard_the_output_folder(tmp_path):
    from medprefs.train import train_cpt

    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (out / "checkpoint-8").mkdir()  # killed while saving: no trainer_state.json
    assert last_complete_checkpoint(out) == str(out / "checkpoint-4")
    with pytest.raises(MedprefsError, match="--resume"):
        train_cpt(tiny_cpt(out), base_model="unused", documents=["x"], lineage=corpus_lineage())


def test_nll_term_token_and_sequence_normalisation():
    import torch

    from medprefs.train.rpo import nll_term

    # batch = [chosen 1, chosen 2, rejected 1, rejected 2]; chosen 1 has 1 completion token, chosen 2 has 3
    log_probs = torch.tensor([[-1.0, 0, 0], [-2.0, -2.0, -2.0], [-9.0, -9.0, -9.0], [-9.0, -9.0, -9.0]])
    mask = torch.tensor([[0, 1, 0, 0], [0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]])[..., 1:]
    assert math.isclose(nll_term(log_probs, mask, per_sequence=False).item(), (1 + 6) / 4)  # TRL: pooled tokens
    assert math.isclose(nll_term(log_probs, mask, per_sequence=True).item(), (1 + 2) / 2)  # Pang et al.


def test_dry_run_prints_the_plan_with_dataset_shas(tmp_path, capsys):
    corpus = write_corpus_folder(tmp_path / "corpus")
    pairs = write_pairs(tmp_path / "pairs", sample_questions())
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[model]\nbase = "Qwen/Qwen2.5-72B"\n[cpt]\ndata = "{corpus}"\nnum_processes = 8\n'
        f'[rpo]\ndata = "{pairs}"\n', encoding="utf-8")
    assert main(["train", "cpt", "--config", str(config), "--dry-run", "--set", "eval_fraction=0.1"]) == 0
    plan = json.loads(capsys.readouterr().out)
    train_years = [q for q in sample_questions() if q.year <= 2017]
    assert plan["documents"]["train"] + plan["documents"]["eval"] == len(train_years)  # eval years never trained on
    (entry,) = plan["inputs"]
    assert entry["kind"] == "corpus" and len(entry["sha"]) == 64 and entry["leakage"]["verdict"] == "pass"
    assert plan["launch"].startswith("accelerate launch --multi_gpu --num_processes 8")
    assert plan["launch"].endswith(f"train cpt --config {config} --set eval_fraction=0.1")  # copied, it trains this
    assert plan["config"]["eval_fraction"] == 0.1 and plan["base_model"] == "Qwen/Qwen2.5-72B"

    assert main(["train", "rpo", "--config", str(config), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["inputs"][0]["kind"] == "pairs" and plan["pairs"]["train"] == pl.read_parquet(
        pairs / "data" / "train.parquet").height


def test_dry_run_checks_the_cpt_output_rpo_starts_from(tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs", sample_questions())
    cpt = tmp_path / "cpt"
    cpt.mkdir()
    (cpt / "adapter_config.json").write_text("{}", encoding="utf-8")
    (cpt / "manifest.json").write_text(json.dumps({"base_model": "org/base", "base_revision": "a" * 40}))
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[model]\nbase = "org/base"\n[rpo]\ndata = "{pairs}"\ncpt_adapter = "{cpt}"\n',
                      encoding="utf-8")
    assert main(["train", "rpo", "--config", str(config), "--dry-run", "--set", f'cpt_adapter="{tmp_path}/no"']) == 2
    assert "CPT output folder not found" in capsys.readouterr().err
    assert main(["train", "rpo", "--config", str(config), "--dry-run", "--set", f"model.revision={'b' * 40}"]) == 2
    assert f"at revision {'a' * 40}, not at revision {'b' * 40}" in capsys.readouterr().err
    assert main(["train", "rpo", "--config", str(config), "--dry-run", "--set", f"model.revision={'a' * 40}"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == str(cpt)


def test_a_clean_corpus_version_trains_once_the_leakage_filter_has_checked_it(tmp_path, capsys):
    from medprefs.corpus import IngestConfig, ingest, load_corpus
    from medprefs.hub.testing import write_corpus_version
    from medprefs.leakage import LeakageConfig, filter_and_store, split_by_year

    made = write_corpus_version(tmp_path / "made")  # the filter's output: training years only, nothing leaked
    evaluation = split_by_year(load_corpus("sample", tmp_path / "made" / "store").questions, LeakageConfig())[1]
    store = tmp_path / "store"  # ingested again as a corpus of its own: clean, but never checked under this name
    clean = ingest(IngestConfig(paths=[str(made / "questions.parquet")], name="clean", store=str(store)))
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[model]\nbase = "m"\n[cpt]\ndata = "clean@{clean.version_id}"\ncorpus_store = "{store}"\n',
                      encoding="utf-8")
    assert main(["train", "cpt", "--config", str(config), "--dry-run"]) == 2
    assert "no leakage verdict" in capsys.readouterr().err
    outcome = filter_and_store(f"clean@{clean.version_id}", evaluation, LeakageConfig(), store=store)
    assert outcome.version_id == clean.version_id  # nothing dropped: the same version, now with a gate record
    assert main(["train", "cpt", "--config", str(config), "--dry-run"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["inputs"]
    assert entry["leakage"]["verdict"] == "pass" and entry["leakage"]["report_sha256"] == outcome.rescan.report_sha256


def test_dry_run_refuses_a_failing_corpus_unless_a_reason_is_given(tmp_path, capsys):
    corpus = write_corpus_folder(tmp_path / "corpus", leakage={**PASSING, "verdict": "fail", "flagged": 2})
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[model]\nbase = "m"\n[cpt]\ndata = "{corpus}"\n', encoding="utf-8")
    assert main(["train", "cpt", "--config", str(config), "--dry-run"]) == 2
    assert "leakage" in capsys.readouterr().err
    args = ["train", "cpt", "--config", str(config), "--dry-run", "--allow-leakage", "audited by hand"]
    assert main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["inputs"][0]["leakage"]["override"] == "audited by hand"
    assert plan["launch"] == f"medprefs train cpt --config {config} --allow-leakage 'audited by hand'"


def test_corpus_store_versions_resolve_with_their_gate_record(tmp_path, capsys):
    from medprefs.corpus import CorpusStore, IngestConfig, ingest, load_corpus, store_derived_version

    store = tmp_path / "corpora"
    ingested = ingest(IngestConfig(name="jmle", tag="raw", store=str(store)))  # the embedded sample
    frame = load_corpus("jmle@raw", str(store)).frame.filter(pl.col("qid") != "104A12")  # what a filter would drop
    store_derived_version(CorpusStore(store), "jmle", frame, parent=ingested.version_id, event="leakage-checked",
                          manifest_extra={"leakage": PASSING}, tag="checked")
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[model]\nbase = "m"\n[cpt]\ndata = "jmle@checked"\ncorpus_store = "{store}"\n'
                      'eval_fraction = 0.0\n', encoding="utf-8")
    assert main(["train", "cpt", "--config", str(config), "--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["documents"]["train"] == len([q for q in sample_questions() if q.year <= 2017]) - 1
    (entry,) = plan["inputs"]
    assert entry["kind"] == "corpus" and entry["version_id"] and entry["leakage"]["verdict"] == "pass"
    # tags move: the recorded ref (the card's "train on exactly the same data again") names the version itself
    assert entry["ref"] == f"jmle@{entry['version_id']}" and entry["revision"] == "checked"
    assert main(["train", "cpt", "--config", str(config), "--dry-run", "--set", 'data="jmle@raw"']) == 2
    assert "no leakage verdict" in capsys.readouterr().err


def test_a_launch_with_another_process_count_than_the_recipe_is_announced(tmp_path, monkeypatch, capsys):
    from medprefs.train.run import check_launch

    config = tiny_cpt(tmp_path / "cpt", per_device_batch_size=2, gradient_accumulation=4, num_processes=8)
    monkeypatch.setenv("WORLD_SIZE", "8")
    check_launch(config)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("WORLD_SIZE", "2")
    check_launch(config)
    err = " ".join(capsys.readouterr().err.split())
    assert "launched as 2 process(es) but num_processes = 8: the effective batch is 16, not the recipe's 64" in err
