"""The same `medprefs train` command under `accelerate launch` and `torchrun` with 2 CPU processes (real DDP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_fixtures import sample_questions, write_corpus_folder, write_pairs

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def launch(launcher: list[str], stage: str, config: Path, cwd: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    command = [*launcher, "-m", "medprefs", "train", stage, "--config", str(config), "--json"]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cpt_then_rpo_on_two_processes(tiny_model_dir, tmp_path):
    corpus = write_corpus_folder(tmp_path / "corpus")
    pairs = write_pairs(tmp_path / "pairs", sample_questions(), train_rows=8)
    common = ('max_steps = 4\nper_device_batch_size = 1\nlearning_rate = 1e-2\ngradient_checkpointing = false\n'
              'save_steps = 2\nlogging_steps = 1\nuse_cpu = true\nseed = 0\nnum_processes = 2\n')
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[model]\nbase = "{tiny_model_dir}"\n'
        f'[cpt]\ndata = "{corpus}"\noutput_dir = "cpt"\nmax_length = 128\neval_fraction = 0.1\n{common}'
        f'[rpo]\ndata = "{pairs}"\noutput_dir = "rpo"\ncpt_adapter = "cpt"\nmax_length = 192\n{common}',
        encoding="utf-8",
    )
    # accelerate's --cpu flag silently starts one process; --multi_gpu with use_cpu = true runs gloo DDP on CPU
    accelerate = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                  "--mixed_precision", "no", "--dynamo_backend", "no"]
    cpt = launch(accelerate, "cpt", config, tmp_path)
    rpo = launch([str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2"], "rpo", config, tmp_path)
    for stage, result in (("cpt", cpt), ("rpo", rpo)):
        manifest = json.loads((tmp_path / stage / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["processes"] == 2 and "MULTI_CPU" in manifest["distributed_type"]
        assert result["metrics"]["global_step"] == 4 and (tmp_path / stage / "adapter_model.safetensors").is_file()
        run = json.loads((tmp_path / stage / "run.json").read_text(encoding="utf-8"))
        assert run["world_size"] == 2
