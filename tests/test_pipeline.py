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
    # the sample marks prohibited choices (禁忌肢) on four evaluation questions; both modes count picks of them
    scores = json.loads((Path(summary["eval"]["path"]) / "summary.json").read_text(encoding="utf-8"))
    assert {mode: report["overall"]["prohibited_questions"] for mode, report in scores["modes"].items()} == {
        "plain": 4, "explain": 4}


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


PINNED_PIPELINE = """
[model]
base = "org/tiny"
revision = "v1.0"
[corpus]
name = "jmle-sample"
[cpt]
max_steps = 2
per_device_batch_size = 4
max_length = 256
gradient_checkpointing = false
use_cpu = true
[sample]
n = 2
max_new_tokens = 8
shots = 1
[publish]
to_dir = "release"
tag = "pinned"
[rpo]
max_steps = 1
per_device_batch_size = 2
max_length = 768
gradient_checkpointing = false
use_cpu = true
[eval]
mode = "plain"
shots = 1
max_new_tokens = 4
"""


@pytest.mark.slow
def test_a_pinned_base_revision_is_the_commit_every_stage_uses(tmp_path, tiny_model_dir):
    """`[model] base = ORG/NAME` at tag v1.0 on a live local Hub, whose main has moved on since: every stage loads
    and records the v1.0 commit. The client is the unmodified huggingface_hub in a `medprefs run` subprocess."""
    import os
    import subprocess
    import sys

    from huggingface_hub import HfApi

    from medprefs.hub.testing import LocalHub

    token = "hf_medprefsPipelineToken0123456789"
    with LocalHub() as hub:
        hub.add_token(token, "org")
        api = HfApi(endpoint=hub.url, token=token)
        api.create_repo("org/tiny")
        pinned = api.upload_folder(repo_id="org/tiny", folder_path=tiny_model_dir).oid
        api.create_tag("org/tiny", tag="v1.0", revision=pinned)
        moved_on = api.upload_file(repo_id="org/tiny", path_or_fileobj=b"# a later commit\n", path_in_repo="README.md")
        assert moved_on.oid != pinned
        (tmp_path / "pinned.toml").write_text(PINNED_PIPELINE, encoding="utf-8")
        environ = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING"))}
        environ |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"), "HF_TOKEN": token,
                    "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        out = tmp_path / "run"
        result = subprocess.run([sys.executable, "-m", "medprefs", "run", str(tmp_path / "pinned.toml"), "--out", str(out)],
                                env=environ, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {name: summary[name]["status"] for name in STAGES} == {name: "ok" for name in STAGES}
    assert summary["model"]["version"] == pinned
    snapshot = Path(summary["model"]["path"])
    assert snapshot.name == pinned and not (snapshot / "README.md").exists()  # v1.0's files, not main's
    for stage in ("cpt", "rpo"):
        manifest = json.loads((Path(summary[stage]["path"]) / "manifest.json").read_text(encoding="utf-8"))
        assert (manifest["base_model"], manifest["base_revision"]) == ("org/tiny", pinned), stage
    # sampling used the CPT adapter merged into v1.0, and the merged folder says so
    responses = json.loads((out / "responses" / "manifest.json").read_text(encoding="utf-8"))
    merged = json.loads((Path(responses["model"]["path"]) / "manifest.json").read_text(encoding="utf-8"))
    assert (merged["base_model"], merged["base_revision"]) == ("org/tiny", pinned)
    assert merged["merged_from"]["base_weights"] == str(snapshot)
    assert merged["merged_from"]["adapter"] == summary["cpt"]["path"]
    assert token not in result.stdout + result.stderr
    assert not any(token in path.read_text(errors="ignore") for path in out.rglob("*") if path.is_file())


def test_dry_run_needs_no_out_folder_and_a_real_run_does(capsys):
    assert main(["run", "pipelines/demo.toml", "--dry-run", "--set", "sample.n=2"]) == 0
    assert json.loads(capsys.readouterr().out)["sample"]["n"] == 2
    assert main(["run", "pipelines/demo.toml"]) == 2
    assert "--out is required" in capsys.readouterr().err
