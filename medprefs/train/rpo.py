"""RPO with TRL's DPOTrainer: DPO loss + alpha * NLL of the chosen answer, on the CPT model, referenced to it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import DPOTrainer

from medprefs.console import announce
from medprefs.errors import MedprefsError
from medprefs.train.config import RPOConfig
from medprefs.train.data import cutoff_year, load_pairs, resolve_pairs_dataset, starting_point_entry
from medprefs.train.model import (
    choose_placement,
    is_adapter_dir,
    is_main_process,
    load_model,
    load_tokenizer,
    lora_config,
    trainable_parameters,
)
from medprefs.train.run import (
    TrainResult,
    check_launch,
    completed_result,
    fingerprint,
    finish,
    gate_inputs,
    prepare_output_dir,
    training_arguments,
)


def nll_term(log_probs, shift_completion_mask, *, per_sequence: bool):
    """NLL of the chosen completions (first half of the batch). Token form: TRL's "sft" loss, one mean over every
    chosen token of the micro-batch. Sequence form (Pang et al.): each sequence's mean NLL, averaged over sequences,
    so a long explanation weighs as much as a short one."""
    logps = log_probs[:, -shift_completion_mask.size(1) :]
    chosen_logps, _ = logps.chunk(2, dim=0)
    chosen_mask, _ = shift_completion_mask.chunk(2, dim=0)
    mask = chosen_mask.to(chosen_logps.dtype)
    if per_sequence:
        return (-(chosen_logps * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
    return -(chosen_logps * mask).sum() / mask.sum().clamp(min=1)


class RPOTrainer(DPOTrainer):
    """DPOTrainer that logs the NLL term (`nll`), and adds `nll_weight` * the per-sequence NLL itself when asked.

    The policy's per-token log-probs are read with a forward hook on the policy's first forward of each loss call
    (the reference forward, if any, comes after it), so TRL's loss code is reused, not copied."""

    def __init__(self, *args, nll_weight: float = 0.0, per_sequence_nll: bool = False, **kwargs):
        self.nll_weight = nll_weight
        self.per_sequence_nll = per_sequence_nll
        super().__init__(*args, **kwargs)

    def _compute_loss(self, model, inputs, return_outputs):
        captured = []
        policy = self.accelerator.unwrap_model(model)
        handle = policy.register_forward_hook(
            lambda module, args, kwargs, output: captured.append(output.log_probs) if not captured else None,
            with_kwargs=True,
        )
        try:
            result = super()._compute_loss(model, inputs, return_outputs)
        finally:
            handle.remove()
        loss, outputs = result if return_outputs else (result, None)
        nll = nll_term(captured[0], inputs["completion_mask"][..., 1:], per_sequence=self.per_sequence_nll)
        if self.per_sequence_nll and self.nll_weight:
            loss = loss + self.nll_weight * nll
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["nll"].append(self.accelerator.gather_for_metrics(nll.detach()).mean().item())
        return (loss, outputs) if return_outputs else loss


def train_rpo(
    config: RPOConfig,
    *,
    base_model: str,
    revision: str | None = None,
    cpt_adapter: str | None = None,
    dataset_dir: str | Path | None = None,
    lineage: list[dict[str, Any]] | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """RPO on the pairs in `dataset_dir` (or `config.data` resolved), starting from `cpt_adapter` (default
    `config.cpt_adapter`; None: the base model). The reference model is exactly the starting model."""
    if dataset_dir is None:
        dataset_dir, entry = resolve_pairs_dataset(config.data)
        lineage = [entry]
    elif lineage is None:
        _, entry = resolve_pairs_dataset(str(dataset_dir))
        lineage = [entry]
    lineage = gate_inputs(lineage, config.allow_leakage)
    train_rows, eval_rows = load_pairs(dataset_dir, cutoff_year(lineage[0].get("leakage")))
    start = cpt_adapter if cpt_adapter is not None else config.cpt_adapter
    start_entry = starting_point_entry(start, base_model, revision) if start else None
    output_dir = Path(config.output_dir)
    run = fingerprint("rpo", config, base_model, revision, {"train": train_rows, "eval": eval_rows,
                                                             "start": start_entry and start_entry["sha"]})
    if resume and (done := completed_result(output_dir, run)) is not None:
        return done
    checkpoint = prepare_output_dir(output_dir, run, resume)

    check_launch(config)
    placement = choose_placement(config)
    trainer = build_rpo_trainer(config, base_model, revision, start, train_rows, eval_rows, placement, callbacks)
    output = trainer.train(resume_from_checkpoint=checkpoint)
    extra = {
        "pairs": {"train": len(train_rows["prompt"]), "eval": len(eval_rows["prompt"]),
                  "trained": len(trainer.train_dataset)},
        "loss": describe_loss(config),
    }
    return finish(
        trainer, stage="rpo", config=config, base_model=base_model, revision=revision,
        lineage=lineage + ([start_entry] if start_entry else []), placement=placement,
        train_metrics=output.metrics, extra=extra,
    )


def build_rpo_trainer(config: RPOConfig, base_model: str, revision: str | None, start: str | None,
                      train_rows: dict[str, list], eval_rows: dict[str, list], placement, callbacks=()):
    from datasets import Dataset
    from trl import DPOConfig

    model, peft_config, tokenizer = load_policy(config, base_model, revision, start, placement)
    loss_type, loss_weights = dpo_losses(config)
    args = DPOConfig(
        **training_arguments(config, placement, has_eval=bool(eval_rows["prompt"])),
        beta=config.beta,
        max_length=config.max_length,
        loss_type=loss_type,
        loss_weights=loss_weights,
        precompute_ref_log_probs=config.precompute_ref_log_probs,
        dataset_num_proc=None,
    )
    trainer = RPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(train_rows),
        eval_dataset=Dataset.from_dict(eval_rows) if eval_rows["prompt"] else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
        nll_weight=config.alpha,
        per_sequence_nll=config.nll_normalisation == "sequence",
    )
    if trainable_parameters(trainer.model) == 0:
        raise MedprefsError("RPO would train no parameters (was the CPT adapter loaded as trainable?)")
    _announce_lengths(trainer, len(train_rows["prompt"]), config.max_length)
    from medprefs.train.progress import use_rich_progress

    use_rich_progress(trainer, "rpo")
    return trainer


def dpo_losses(config: RPOConfig) -> tuple[list[str], list[float]]:
    """TRL's loss terms: sigmoid (DPO) plus, in the token form, TRL's "sft" NLL weighted by alpha."""
    if config.alpha == 0 or config.nll_normalisation == "sequence":
        return ["sigmoid"], [1.0]  # plain DPO, or DPO with the per-sequence NLL added by RPOTrainer
    return ["sigmoid", "sft"], [1.0, config.alpha]


def describe_loss(config: RPOConfig) -> str:
    if config.alpha == 0:
        return f"DPO (sigmoid, beta={config.beta})"
    return f"DPO (sigmoid, beta={config.beta}) + {config.alpha} * NLL ({config.nll_normalisation}-normalised)"


def load_policy(config: RPOConfig, base_model: str, revision: str | None, start: str | None, placement):
    """(model, peft_config, tokenizer). From a CPT adapter: the adapter itself is trained, and TRL copies it into a
    frozen "ref" adapter, so the reference is exactly the CPT model. From a full model folder or the base: a new LoRA
    adapter (reference = the same weights with the adapter disabled), or every weight with `full_finetune`."""
    if start and is_adapter_dir(start):
        if config.full_finetune:
            raise MedprefsError(f"{start} is a LoRA adapter: full_finetune RPO needs a fully fine-tuned CPT model")
        from peft import PeftModel

        base = load_model(base_model, revision, placement)
        # is_trainable: without it the adapter is frozen and the trainer would start with 0 trainable parameters
        return PeftModel.from_pretrained(base, start, is_trainable=True), None, load_tokenizer(base_model, revision)
    name, rev = (start, None) if start else (base_model, revision)
    peft_config = None if config.full_finetune else lora_config(config.lora)
    return load_model(name, rev, placement), peft_config, load_tokenizer(name, rev)


def _announce_lengths(trainer, rows: int, max_length: int) -> None:
    """TRL silently drops pairs whose prompt fills max_length and truncates long completions: say how many."""
    if not is_main_process():
        return
    import pyarrow.compute as pc

    columns = ["prompt_ids", "chosen_ids", "rejected_ids"]
    # Arrow columns (after TRL's filter): lengths without turning every token list into Python objects
    table = trainer.train_dataset.select_columns(columns).with_format("arrow")[:]
    length = {name: pc.list_value_length(table.column(f"{name}_ids")) for name in ("prompt", "chosen", "rejected")}
    longest = pc.add(length["prompt"], pc.max_element_wise(length["chosen"], length["rejected"]))
    truncated = pc.sum(pc.greater(longest, max_length)).as_py() or 0
    dropped = rows - len(trainer.train_dataset)
    if dropped or truncated:
        announce(f"max_length {max_length}: {dropped} pair(s) dropped (prompt too long), {truncated} truncated")
