"""The output-folder guard of a training run: a finished result is returned only for the very run that made it."""

from __future__ import annotations

from medprefs.manifest import write_json, write_manifest
from medprefs.train.run import RUN_FILE, completed_result, prepare_output_dir


def test_a_changed_run_restarted_without_checkpoints_never_returns_the_old_result(tmp_path):
    out = tmp_path / "cpt"
    old_run, new_run = {"stage": "cpt", "config": {"epochs": 2}}, {"stage": "cpt", "config": {"epochs": 3}}
    # a finished run whose checkpoints were deleted to save space
    out.mkdir()
    write_json(out / RUN_FILE, old_run)
    write_manifest(out, {"kind": "adapter", "metrics": {"train_loss": 1.0}, "losses": [2.0, 1.0]})
    assert completed_result(out, old_run) is not None
    assert completed_result(out, new_run) is None
    # --resume with changed settings: nothing to resume, so training starts over in this folder...
    assert prepare_output_dir(out, new_run, resume=True) is None
    # ...and if it is killed before it finishes, the next --resume must train, not return the old run's result
    assert completed_result(out, new_run) is None
