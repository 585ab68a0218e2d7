"""What CPT and RPO runs share: the leakage gate, training arguments, checkpoints and resume, the final folder."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medprefs.config import to_dict
from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.manifest import canonical_json, now_iso, read_json, sha256_bytes, write_json, write_manifest
from medprefs.train.config import TrainSection
from medprefs.train.model import Placement, is_main_process, world_size

RUN_FILE = "run.json"  # the fingerprint of the run that owns the checkpoints in output_dir
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Fields that change neither the data order nor the optimisation: a resumed run may differ in them
NOT_IN_FINGERPRINT = {"output_dir", "allow_leakage", "save_steps", "save_total_limit", "logging_steps", "num_processes"}


@dataclass
class TrainResult:
    """A finished run: the folder holding the adapter (or model), its final metrics, the logged training losses and
    the trainer's whole log (per-step metrics such as RPO's `nll`; empty when the run had finished before)."""

    output_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def gate_inputs(lineage: list[dict[str, Any]], allow_leakage: str | None) -> list[dict[str, Any]]:
    """Refuse inputs without a passing leakage verdict unless a reason is given; returns the lineage with each gate
    record as `require_passing` returns it (the override reason set where one was used)."""
    from medprefs.leakage import require_passing

    gated = []
    for entry in lineage:
        record = require_passing(entry.get("leakage"), allow_leakage, entry.get("ref") or entry.get("role", "input"))
        gated.append({**entry, "leakage": record})
    return gated


def leakage_overrides(lineage: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Every input trained on by override, with the reason (inherited from a CPT adapter's own lineage too)."""
    found = []
    for entry in lineage:
        record = entry.get("leakage") or {}
        if record.get("override"):
            found.append({"ref": entry.get("ref", ""), "reason": record["override"]})
        found.extend(leakage_overrides(entry.get("lineage", [])))
    return found


def check_launch(config: TrainSection) -> None:
    """Say so when the launch's process count is not the one the recipe is sized for: the effective batch (and with it
    the schedule the recipe was tuned with) changes with it."""
    processes = world_size()
    if processes != config.num_processes and is_main_process():
        per_step = config.per_device_batch_size * config.gradient_accumulation
        announce(
            f"launched as {processes} process(es) but num_processes = {config.num_processes}: the effective batch is "
            f"{per_step * processes}, not the recipe's {per_step * config.num_processes}"
        )


def training_arguments(config: TrainSection, placement: Placement, has_eval: bool) -> dict[str, Any]:
    """Keyword arguments common to SFTConfig and DPOConfig (AdamW, schedule with warmup, checkpoints, evaluation)."""
    return {
        "output_dir": config.output_dir,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "learning_rate": config.learning_rate,
        "lr_scheduler_type": config.lr_scheduler,
        "lr_scheduler_kwargs": {"min_lr_rate": 0.1} if config.lr_scheduler == "cosine_with_min_lr" else {},
        # transformers 5 reads a float below 1 as a fraction of the total steps (warmup_ratio is gone)
        "warmup_steps": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "optim": "adamw_torch",
        "per_device_train_batch_size": config.per_device_batch_size,
        "per_device_eval_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "bf16": placement.bf16,
        "use_cpu": placement.device == "cpu",
        _checkpointing_argument(): config.gradient_checkpointing,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": config.save_total_limit,
        "eval_strategy": ("steps" if config.eval_steps else "epoch") if has_eval else "no",
        "eval_steps": config.eval_steps,
        "seed": config.seed,
        "report_to": [],
        "ddp_find_unused_parameters": False,
    }


def _checkpointing_argument() -> str:
    """transformers 5.x renamed `gradient_checkpointing` to `activation_checkpointing` (the old name warns)."""
    from transformers import TrainingArguments

    fields = TrainingArguments.__dataclass_fields__
    return "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"


def fingerprint(stage: str, config: TrainSection, base_model: str, revision: str | None, data: Any) -> dict[str, Any]:
    """What must be identical for a checkpoint to be resumed: same model, data, schedule and world size."""
    settings = {k: v for k, v in to_dict(config).items() if k not in NOT_IN_FINGERPRINT}
    run = {
        "stage": stage,
        "base_model": base_model,
        "revision": revision,
        "config": settings,
        "data_sha256": sha256_bytes(canonical_json(data).encode("utf-8")),
        "world_size": world_size(),
    }
    return json.loads(json.dumps(run, default=str))  # the form it takes in run.json, so the two compare equal


def prepare_output_dir(output_dir: Path, run: dict[str, Any], resume: bool) -> str | None:
    """Return the checkpoint to resume from (None: start fresh). Refuses to mix runs in one folder."""
    checkpoint = last_complete_checkpoint(output_dir)
    finished = (output_dir / "manifest.json").is_file()
    if not resume:
        if checkpoint or finished:
            raise MedprefsError(
                f"{output_dir} already holds a run; pass --resume to continue it, or choose another output_dir"
            )
        if is_main_process():
            write_json(output_dir / RUN_FILE, run)
        return None
    previous = read_json(output_dir / RUN_FILE) if (output_dir / RUN_FILE).is_file() else None
    if (checkpoint or finished) and previous is not None and previous != run:
        # a finished result of other settings is refused too: training over it would throw away hours of GPU work
        changed = sorted(_differences(previous, run))
        what = f"resume {checkpoint}" if checkpoint else f"reuse {output_dir}, which holds a finished run,"
        raise MedprefsError(
            f"cannot {what}: the run changed ({', '.join(changed)}); a resumed run must use the same model, data, "
            "schedule (epochs/max_steps) and number of processes (or choose another output_dir)"
        )
    if checkpoint is None:
        if is_main_process():
            announce(f"no complete checkpoint to resume from in {output_dir}; starting from the beginning")
            # a result without a run record cannot be told apart from this run's if this one is killed
            (output_dir / "manifest.json").unlink(missing_ok=True)
    elif is_main_process():
        announce(f"resuming from {checkpoint}")
    if is_main_process():
        write_json(output_dir / RUN_FILE, run)
    return checkpoint


def completed_result(output_dir: Path, run: dict[str, Any]) -> TrainResult | None:
    """The stored result when this very run already finished in `output_dir` (so --resume after the end is a no-op)."""
    manifest_path, run_path = output_dir / "manifest.json", output_dir / RUN_FILE
    if not (manifest_path.is_file() and run_path.is_file() and read_json(run_path) == run):
        return None
    manifest = read_json(manifest_path)
    return TrainResult(output_dir=output_dir, metrics=manifest.get("metrics", {}), losses=manifest.get("losses", []))


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint whose trainer_state.json (written last by transformers) was saved: a job killed while
    saving leaves a folder without it, and resuming from that folder would fail."""
    if not output_dir.is_dir():
        return None
    steps = sorted(
        ((int(m.group(1)), p) for p in output_dir.iterdir() if (m := CHECKPOINT.match(p.name)) and p.is_dir()),
        reverse=True,
    )
    for _, path in steps:
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return str(path)
        except (OSError, json.JSONDecodeError):
            if is_main_process():
                announce(f"skipping incomplete checkpoint {path.name}")
    return None


def logged_losses(trainer) -> list[float]:
    """Training losses as logged (every `logging_steps` optimizer steps), restored ones included after a resume."""
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def finish(
    trainer,
    *,
    stage: str,
    config: TrainSection,
    base_model: str,
    revision: str | None,
    lineage: list[dict[str, Any]],
    placement: Placement,
    train_metrics: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Save the final adapter (or model) with its tokenizer, manifest and model card; return the result."""
    from medprefs.train.card import write_model_card

    output_dir = Path(config.output_dir)
    metrics = {**train_metrics, "global_step": trainer.state.global_step}
    if trainer.eval_dataset is not None:
        metrics.update(trainer.evaluate())
    trainer.save_model(str(output_dir))
    if trainer.accelerator.is_main_process:
        # DPO keeps a frozen copy of the starting adapter as "ref"; it is the CPT adapter, not part of the result
        shutil.rmtree(output_dir / "ref", ignore_errors=True)
        # Trainer pickles its arguments beside the weights; a result meant for sharing carries no pickle (the
        # arguments are in manifest.json). Checkpoints keep theirs: resuming reads it.
        (output_dir / "training_args.bin").unlink(missing_ok=True)
        manifest = {
            "kind": "adapter" if not config.full_finetune else "model",
            "stage": stage,
            "created": now_iso(),
            "base_model": base_model,
            "base_revision": revision,
            "lineage": lineage,
            "leakage_overrides": leakage_overrides(lineage),
            "config": to_dict(config),
            "placement": placement.describe(),
            "processes": trainer.accelerator.num_processes,
            "distributed_type": getattr(trainer.accelerator.distributed_type, "value", str(trainer.accelerator.distributed_type)),
            "metrics": metrics,
            "losses": logged_losses(trainer),
            **(extra or {}),
        }
        write_manifest(output_dir, manifest)
        write_model_card(output_dir, manifest)
    trainer.accelerator.wait_for_everyone()
    history = list(trainer.state.log_history)
    return TrainResult(output_dir=output_dir, metrics=metrics, losses=logged_losses(trainer), history=history)


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = set(old) | set(new)
    found = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            found.append(f"{prefix}{key}")
    return found
