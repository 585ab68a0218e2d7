"""Training progress on medprefs' rich console instead of transformers' tqdm bars and printed log dicts."""

from __future__ import annotations

from typing import Any

from rich.progress import TextColumn
from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from medprefs.console import console, progress


class RichProgress(TrainerCallback):
    """One bar of optimizer steps with the latest loss and learning rate; evaluations as one line each. Only the
    main process draws (every rank runs the callbacks)."""

    def __init__(self, stage: str):
        self.stage = stage
        self.bar: Any = None
        self.task: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress(TextColumn("{task.fields[latest]}"))
            self.bar.start()
            self.task = self.bar.add_task(self.stage, total=state.max_steps, completed=state.global_step, latest="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            latest = f"loss {logs['loss']:.4g}"
            if "learning_rate" in logs:
                latest += f" lr {float(logs['learning_rate']):.2e}"
            self.bar.update(self.task, latest=latest)
        evaluation = {k.removeprefix("eval_"): v for k, v in logs.items() if k.startswith("eval_")}
        if "loss" in evaluation:
            shown = ", ".join(
                f"{k} {_number(v)}" for k, v in evaluation.items() if not k.endswith(("runtime", "_per_second"))
            )
            console.print(f"{self.stage} step {state.global_step} eval: {shown}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)
            self.bar.stop()
            self.bar = None


def use_rich_progress(trainer: Any, stage: str) -> None:
    """Replace the trainer's tqdm progress (and its printed log dicts) with RichProgress."""
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(RichProgress(stage))


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
