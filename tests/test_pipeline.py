"""Pipeline files and the runner: every shipped file validates; `medprefs run` runs every stage end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medprefs.cli import main
from medprefs.errors import MedprefsError
from medprefs.pipeline import STAGES, load_pipeline

PIPELINES = sorted((Path(__file__).parent.parent / "pipelines").glob("*.toml"))


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_every_shipped_pipeline_file_loads_and_validates(path):
    config = load_pipeline(path)
    assert (config.model.base is None) != (config.model.tiny is None)


def test_a_typo_in_a_pipeline_file_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nbase = "x"\n[sample]\nnn = 3\n', encoding="utf-8")
    with pytest.raises(MedprefsError, match=r"\[?sample.*unknown key\(s\) nn"):
        load_pipeline(bad)


@pytest.mark.slow
def test_medprefs_run_demo_end_to_end(tmp_path):
    out = tmp_path / "run"
    # The demo file with shorter training and generation: every stage still runs for real.
    overrides = ["cpt.epochs=3", "sample.n=2", "sample.max_new_tokens=24", "eval.max_new_tokens=16",
                 "rpo.max_steps=2", "rpo.max_length=768"]
    args = ["run", "pipelines/demo.toml", "--out", str(out)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(STAGES) <= set(summary)
    assert {name: summary[name]["status"] for name in STAGES} == {name: "ok" for name in STAGES}
    # the guard dropped the eval years and the planted near-duplicates before training
    leakage = summary["leakage"]
    assert leakage["detail"]["verdict"] == "pass" and leakage["rows"] < summary["ingest"]["rows"]
    assert leakage["detail"]["content_flagged_train_qids"] == ["111A23", "111B12"]  # not the eval side matching itself
    assert leakage["detail"]["after_cutoff_dropped"] == 22 and leakage["detail"]["dropped"] == 24
    assert summary["sample"]["rows"] == leakage["rows"] * 2
    # the RPO adapter's card names the base model, the CPT model and the exact pairs release it was trained on
    card = (Path(summary["rpo"]["path"]) / "README.md").read_text(encoding="utf-8")
    release = json.loads((Path(summary["publish"]["path"]) / "manifest.json").read_text(encoding="utf-8"))
    assert summary["publish"]["version"] in card
    assert str(out / "cpt") in card and str(out / "model") in card
    assert release["kind"] == "pairs"
    assert set(summary["eval"]["detail"]["score"]) == {"plain", "explain"}


def test_a_value_refused_by_a_section_names_the_file_and_the_section(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[model]\nbase = "m"\n[rpo]\nepochs = 0\n[cpt.lora]\nr = 4\n', encoding="utf-8")
    with pytest.raises(MedprefsError, match=r"p\.toml\.rpo: epochs must be > 0"):
        load_pipeline(path)
    with pytest.raises(MedprefsError, match=r"p\.toml\.cpt: lora\.r must be > 0"):
        load_pipeline(path, ["rpo.epochs=1", "cpt.lora.r=0"])


@pytest.mark.parametrize(
    ("trained", "expected"),
    [
        ({}, ("base", None)),
        ({"cpt_dir": "cpt-lora"}, ("base", "cpt-lora")),  # stages without rpo: the CPT adapter, not the bare base
        ({"cpt_dir": "cpt-full", "policy_base": "cpt-full"}, ("cpt-full", None)),
        ({"cpt_dir": "cpt-full", "policy_base": "cpt-full", "rpo_dir": "rpo-lora"}, ("cpt-full", "rpo-lora")),
        ({"cpt_dir": "cpt-lora", "rpo_dir": "rpo-lora"}, ("base", "rpo-lora")),
        ({"rpo_dir": "rpo-full"}, ("rpo-full", None)),
    ],
)
def test_eval_stage_scores_the_last_model_this_run_trained(tmp_path, monkeypatch, trained, expected):
    import medprefs.eval
    from medprefs.pipeline import stages

    for name in ("cpt-lora", "rpo-lora", "cpt-full", "rpo-full", "rpo"):
        (tmp_path / name).mkdir()
        (tmp_path / name / ("adapter_config.json" if "lora" in name or name == "rpo" else "config.json")).write_text("{}")
    calls = []

    def fake_run_eval(model, questions, config, out_dir, adapter=None, *, benchmark=None):
        calls.append((model, adapter))
        return type("Result", (), {"reports": {}, "gap": None})()

    monkeypatch.setattr(medprefs.eval, "run_eval", fake_run_eval)
    config = load_pipeline(Path(__file__).parent.parent / "pipelines" / "demo.toml")
    state = stages.RunState(config=config, out=tmp_path, base_model="base", base_weights=str(tmp_path / "base"))
    for key, name in trained.items():
        setattr(state, key, str(tmp_path / name) if key == "policy_base" else tmp_path / name)
    stages.evaluate(state)  # tmp_path/rpo holds an adapter from an earlier run: it must not be picked up
    model, adapter = expected
    assert calls == [(str(tmp_path / model), str(tmp_path / adapter) if adapter else None)]


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_a_shipped_file_without_a_training_table_does_not_run_that_stage(path):
    import tomllib

    # An ablation file leaves a stage's table out; `medprefs run` must not train that stage with default settings.
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    config = load_pipeline(path)
    for section in ("cpt", "rpo"):
        assert config.runs(section) == (section in data), section


def test_a_pinned_base_revision_is_the_commit_every_stage_uses(tmp_path, monkeypatch):
    import huggingface_hub

    import medprefs.train
    from medprefs.pipeline import stages

    sha = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "snapshots" / sha
    snapshot.mkdir(parents=True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, revision=None: str(snapshot))
    calls = {}

    def fake_train(stage):
        def train(config, *, base_model, revision=None, **kwargs):
            calls[stage] = (base_model, revision)
            (tmp_path / stage).mkdir(exist_ok=True)
            (tmp_path / stage / "adapter_config.json").write_text("{}")
            return type("Result", (), {"output_dir": tmp_path / stage, "losses": []})()
        return train

    monkeypatch.setattr(medprefs.train, "resolve_cpt_inputs", lambda *a: type("I", (), {"documents": [], "lineage": []}))
    monkeypatch.setattr(medprefs.train, "train_cpt", fake_train("cpt"))
    monkeypatch.setattr(medprefs.train, "train_rpo", fake_train("rpo"))
    monkeypatch.setattr(medprefs.train, "merge_adapter", lambda base, adapter, out: calls.setdefault("merge", base))
    path = tmp_path / "p.toml"
    path.write_text('[model]\nbase = "org/model"\nrevision = "v1.0"\n', encoding="utf-8")
    state = stages.RunState(config=load_pipeline(path), out=tmp_path)
    assert stages.prepare_model(state).version == sha
    stages.cpt(state)
    stages.rpo(state)
    # training loads and records the resolved commit; the loaders that take no revision get the pinned snapshot
    assert calls == {"cpt": ("org/model", sha), "rpo": ("org/model", sha), "merge": str(snapshot)}
    assert state.policy_base == str(snapshot)


def test_dry_run_needs_no_out_folder_and_a_real_run_does(capsys):
    assert main(["run", "pipelines/demo.toml", "--dry-run", "--set", "sample.n=2"]) == 0
    assert json.loads(capsys.readouterr().out)["sample"]["n"] == 2
    assert main(["run", "pipelines/demo.toml"]) == 2
    assert "--out is required" in capsys.readouterr().err
