"""The output-folder guard of a training run: a finished result is returned only for the very run that made it."""

from __future__ import annotations

import pytest

from medprefs.errors import MedprefsError
from medprefs.manifest import write_json, write_manifest
from medprefs.train.run import RUN_FILE, completed_result, prepare_output_dir


def test_a_finished_run_is_never_trained_over_by_a_changed_one(tmp_path):
    out = tmp_path / "cpt"
    old_run, new_run = {"stage": "cpt", "config": {"epochs": 2}}, {"stage": "cpt", "config": {"epochs": 3}}
    # a finished run whose checkpoints were deleted to save space
    out.mkdir()
    write_json(out / RUN_FILE, old_run)
    write_manifest(out, {"kind": "adapter", "metrics": {"train_loss": 1.0}, "losses": [2.0, 1.0]})
    assert completed_result(out, old_run) is not None
    assert completed_result(out, new_run) is None
    # --resume with changed settings: the finished result is another run's, and is kept
    with pytest.raises(MedprefsError, match=r"cannot reuse .*holds a finished run.*changed \(config.epochs\)"):
        prepare_output_dir(out, new_run, resume=True)
    assert completed_result(out, old_run) is not None
    # a folder with no result and no checkpoint starts over, whatever ran there before
    empty = tmp_path / "rpo"
    empty.mkdir()
    write_json(empty / RUN_FILE, old_run)  # a run killed before its first checkpoint
    assert prepare_output_dir(empty, new_run, resume=True) is None
