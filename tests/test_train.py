"""CPT and RPO on the tiny Qwen2: weights change, losses fall, the RPO reference is the CPT model, resume is exact."""

from __future__ import annotations

import json
import math

import pytest
from test_train_fixtures import PASSING, corpus_lineage, sample_questions, tiny_cpt, tiny_rpo, write_pairs
from transformers import TrainerCallback

from medprefs.train import question_documents, train_cpt, train_rpo

pytestmark = pytest.mark.slow
LOG2 = math.log(2)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # On a shared 2-core machine two OpenMP threads spin against other processes: one thread was ~10x faster
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class CrashAt(TrainerCallback):
    """Kills the run at the end of optimizer step `step`, before that step is logged or saved."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


def adapter_tensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def mean(values):
    return sum(values) / len(values)


def step_logs(result, key):
    return [entry[key] for entry in result.history if key in entry and "loss" in entry]


@pytest.fixture(scope="module")
def documents():
    return question_documents(sample_questions(), cutoff_year=2017)


@pytest.fixture(scope="module")
def cpt_config(tmp_path_factory):
    return tiny_cpt(tmp_path_factory.mktemp("cpt") / "run", max_steps=24, save_steps=8, learning_rate=2e-2)


@pytest.fixture(scope="module")
def cpt_run(cpt_config, tiny_model_dir, documents):
    return train_cpt(cpt_config, base_model=str(tiny_model_dir), documents=documents, lineage=corpus_lineage())


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    # 8 short pairs, batch 2: an epoch is 4 steps, so whole epochs (the same pairs) can be compared
    short = [q for q in sample_questions() if len(q.stem) + len(q.explanation or "") < 220]
    return write_pairs(tmp_path_factory.mktemp("pairs"), short, train_rows=8)


def rpo(tmp_path, tiny_model_dir, pairs_dir, cpt_run, **settings):
    config = tiny_rpo(tmp_path, cpt_adapter=str(cpt_run.output_dir), **settings)
    return train_rpo(config, base_model=str(tiny_model_dir), dataset_dir=pairs_dir)


def test_packing_keeps_every_token(tiny_model_dir, documents, tmp_path):
    from transformers import AutoTokenizer

    from medprefs.train.cpt import build_cpt_trainer
    from medprefs.train.model import Placement

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = sum(len(tokenizer(doc + tokenizer.eos_token)["input_ids"]) for doc in documents)
    assert max(len(tokenizer(doc)["input_ids"]) for doc in documents) > 128  # some documents overflow max_length
    for strategy in ("bfd_split", "wrapped"):
        config = tiny_cpt(tmp_path / strategy, packing_strategy=strategy, eval_fraction=0.0)
        trainer = build_cpt_trainer(config, str(tiny_model_dir), None, documents, [], Placement("cpu", False, False))
        rows = trainer.train_dataset["input_ids"]
        assert sum(map(len, rows)) == expected and max(map(len, rows)) <= 128


def test_training_progress_is_one_rich_bar_not_tqdm_and_printed_dicts(tiny_model_dir, documents, tmp_path, capsys):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from medprefs.train.cpt import build_cpt_trainer
    from medprefs.train.model import Placement
    from medprefs.train.progress import RichProgress

    config = tiny_cpt(tmp_path / "bar", max_steps=3, save_steps=3, eval_steps=3)
    trainer = build_cpt_trainer(config, str(tiny_model_dir), None, documents[:40], documents[40:44],
                                Placement("cpu", False, False))
    kinds = {type(callback) for callback in trainer.callback_handler.callbacks}
    assert RichProgress in kinds and not kinds & {ProgressCallback, PrinterCallback}
    capsys.readouterr()
    trainer.train()
    err = " ".join(capsys.readouterr().err.split())
    assert "cpt" in err and "3/3" in err and "loss " in err and "cpt step 3 eval: loss" in err
    assert "it/s" not in err and "{'loss'" not in err


def test_cpt_trains_the_adapter_and_lowers_the_loss(cpt_run, cpt_config, tiny_model_dir):
    tensors = adapter_tensors(cpt_run.output_dir)
    lora_b = [t for name, t in tensors.items() if "lora_B" in name]
    assert lora_b and all(t.abs().max() > 0 for t in lora_b)  # LoRA B starts at zero: every one moved
    assert len(cpt_run.losses) == 24
    assert mean(cpt_run.losses[-6:]) < mean(cpt_run.losses[:6]) - 0.05
    assert cpt_run.metrics["eval_loss"] < cpt_run.losses[0]
    card = (cpt_run.output_dir / "README.md").read_text(encoding="utf-8")
    assert str(tiny_model_dir) in card and "c" * 64 in card and "eval_loss" in card and '"learning_rate"' in card
    assert (cpt_run.output_dir / "manifest.json").is_file() and (cpt_run.output_dir / "tokenizer.json").is_file()
    assert not list(cpt_run.output_dir.glob("*.bin"))  # no pickle beside the weights meant for sharing


def test_cpt_killed_after_a_checkpoint_resumes_to_the_same_losses(cpt_run, cpt_config, tiny_model_dir, documents,
                                                                  tmp_path):
    from dataclasses import replace

    config = replace(cpt_config, output_dir=str(tmp_path / "run"))
    kwargs = dict(base_model=str(tiny_model_dir), documents=documents, lineage=corpus_lineage())
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_cpt(config, callbacks=[CrashAt(13)], **kwargs)
    assert (tmp_path / "run" / "checkpoint-8").is_dir() and not (tmp_path / "run" / "manifest.json").exists()
    resumed = train_cpt(config, resume=True, **kwargs)
    assert resumed.losses == pytest.approx(cpt_run.losses, abs=1e-5)
    again = train_cpt(config, resume=True, **kwargs)  # a finished run resumes to its stored result
    assert again.losses == pytest.approx(resumed.losses)


@pytest.fixture(scope="module")
def rpo_run(tmp_path_factory, tiny_model_dir, pairs_dir, cpt_run):
    out = tmp_path_factory.mktemp("rpo") / "run"
    return rpo(out, tiny_model_dir, pairs_dir, cpt_run, max_steps=24, save_steps=8, learning_rate=2e-2)


def test_rpo_trains_the_cpt_adapter_and_lowers_the_loss(rpo_run, cpt_run):
    before, after = adapter_tensors(cpt_run.output_dir), adapter_tensors(rpo_run.output_dir)
    assert before.keys() == after.keys()
    assert all(not after[name].equal(before[name]) for name in before)
    assert len(rpo_run.losses) == 24
    assert mean(rpo_run.losses[-4:]) < mean(rpo_run.losses[:4])  # last epoch against the first, same 8 pairs
    assert not (rpo_run.output_dir / "ref").exists()  # TRL's frozen copy of the CPT adapter is not the result
    assert not list(rpo_run.output_dir.glob("*.bin"))
    card = (rpo_run.output_dir / "README.md").read_text(encoding="utf-8")
    assert "rpo-pairs" in card and "cpt-adapter / cpt-corpus" in card and "10.0 * NLL" in card


def test_rpo_reference_is_the_cpt_model_and_alpha_adds_the_nll_term(tmp_path, tiny_model_dir, pairs_dir, cpt_run,
                                                                     rpo_run):
    plain = rpo(tmp_path / "dpo", tiny_model_dir, pairs_dir, cpt_run, alpha=0.0, max_steps=4)
    # Policy == reference at step 1, so the DPO term is exactly log 2; alpha adds alpha * NLL on top of it
    assert plain.losses[0] == pytest.approx(LOG2, abs=1e-5)
    nll = step_logs(plain, "nll")[0]
    assert rpo_run.losses[0] == pytest.approx(LOG2 + 10.0 * nll, rel=1e-5)
    precomputed = rpo(tmp_path / "pre", tiny_model_dir, pairs_dir, cpt_run, alpha=0.0, max_steps=4,
                      precompute_ref_log_probs=True)
    assert precomputed.losses == pytest.approx(plain.losses, abs=1e-4)


def test_rpo_per_sequence_nll_is_added_by_the_subclass(tmp_path, tiny_model_dir, pairs_dir, cpt_run):
    # TRL computes the DPO term only; RPOTrainer adds alpha * the per-sequence NLL (its maths: test_train_config)
    result = rpo(tmp_path / "seq", tiny_model_dir, pairs_dir, cpt_run, nll_normalisation="sequence", max_steps=2)
    nll = step_logs(result, "nll")[0]
    assert nll > 1 and result.losses[0] == pytest.approx(LOG2 + 10.0 * nll, rel=1e-5)


def test_rpo_killed_after_a_checkpoint_resumes_to_the_same_losses(tmp_path, tiny_model_dir, pairs_dir, cpt_run,
                                                                  rpo_run):
    config = tiny_rpo(tmp_path / "run", cpt_adapter=str(cpt_run.output_dir), max_steps=24, save_steps=8,
                      learning_rate=2e-2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_rpo(config, base_model=str(tiny_model_dir), dataset_dir=pairs_dir, callbacks=[CrashAt(11)])
    resumed = train_rpo(config, base_model=str(tiny_model_dir), dataset_dir=pairs_dir, resume=True)
    assert resumed.losses == pytest.approx(rpo_run.losses, abs=1e-5)


def test_full_finetune_cpt_then_rpo_with_an_override_reason(tmp_path, tiny_model_dir, documents, pairs_dir):
    failing = {**PASSING, "verdict": "fail", "flagged": 1}
    cpt = train_cpt(tiny_cpt(tmp_path / "cpt", full_finetune=True, max_steps=4, eval_fraction=0.0,
                             allow_leakage="flagged item checked by hand"),
                    base_model=str(tiny_model_dir), documents=documents, lineage=corpus_lineage(failing))
    assert (cpt.output_dir / "model.safetensors").is_file()
    cpt_card = (cpt.output_dir / "README.md").read_text(encoding="utf-8")
    assert "flagged item checked by hand" in cpt_card
    assert "library_name: transformers" in cpt_card and "LoRA adapter" not in cpt_card  # full weights, no adapter
    result = train_rpo(tiny_rpo(tmp_path / "rpo", cpt_adapter=str(cpt.output_dir), alpha=0.0, max_steps=2),
                       base_model=str(tiny_model_dir), dataset_dir=pairs_dir)
    assert result.losses[0] == pytest.approx(LOG2, abs=1e-5)  # a new LoRA on the CPT weights: reference = CPT model
    overrides = json_manifest(result.output_dir)["leakage_overrides"]
    assert overrides == [{"ref": "sample@test", "reason": "flagged item checked by hand"}]
    # the adapter sits on the fully fine-tuned CPT weights: its card says so, as adapter_config.json does
    card = (result.output_dir / "README.md").read_text(encoding="utf-8")
    adapter_config = json.loads((result.output_dir / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter_config["base_model_name_or_path"] == str(cpt.output_dir)
    assert f"trained with medprefs on `{cpt.output_dir}`" in card and f"itself trained from `{tiny_model_dir}`" in card


def test_cpt_on_documents_without_lineage_records_their_hash(tmp_path, tiny_model_dir, documents):
    from medprefs.manifest import canonical_json, sha256_bytes

    # unverified documents, trained on by override: the card must still be written and name what was trained on
    result = train_cpt(tiny_cpt(tmp_path / "cpt", max_steps=1, eval_fraction=0.0, allow_leakage="demo"),
                       base_model=str(tiny_model_dir), documents=documents)
    digest = sha256_bytes(canonical_json(documents).encode("utf-8"))
    assert json_manifest(result.output_dir)["lineage"][0]["sha"] == digest
    card = (result.output_dir / "README.md").read_text(encoding="utf-8")
    assert f"`{digest}`" in card and "cpt-documents" in card


def json_manifest(folder):
    import json

    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
