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
    assert {"111A23", "111B12"} <= set(leakage["detail"]["content_flagged_train_qids"])
    assert summary["sample"]["rows"] == leakage["rows"] * 2
    # the RPO adapter's card names the base model, the CPT model and the exact pairs release it was trained on
    card = (Path(summary["rpo"]["path"]) / "README.md").read_text(encoding="utf-8")
    release = json.loads((Path(summary["publish"]["path"]) / "manifest.json").read_text(encoding="utf-8"))
    assert summary["publish"]["version"] in card
    assert str(out / "cpt") in card and str(out / "model") in card
    assert release["kind"] == "pairs"
    assert set(summary["eval"]["detail"]["score"]) == {"plain", "explain"}
