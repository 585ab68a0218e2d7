"""Continued pretraining with TRL's SFTTrainer: packed documents (no token dropped), loss on all tokens, LoRA/QLoRA."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medprefs.console import announce
from medprefs.errors import MedprefsError, require
from medprefs.manifest import canonical_json, sha256_bytes
from medprefs.train.config import CPTConfig
from medprefs.train.data import resolve_cpt_inputs, split_documents
from medprefs.train.model import (
    choose_placement,
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


def train_cpt(
    config: CPTConfig,
    *,
    base_model: str,
    revision: str | None = None,
    documents: Sequence[str] | None = None,
    lineage: list[dict[str, Any]] | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train a LoRA adapter (QLoRA on GPUs) on `documents`, or on `config.data` + `config.text_corpora` when none are
    given. `lineage` names each input (with its leakage gate record); inputs without a passing verdict are refused
    unless `config.allow_leakage` gives a reason."""
    if documents is None:
        inputs = resolve_cpt_inputs(config.data, config.text_corpora, config.corpus_store)
        documents, lineage = inputs.documents, inputs.lineage
    require(len(documents) > 0, "CPT has no documents to train on")
    # Documents passed without lineage have no leakage verdict either: the gate treats them as such. Their content
    # hash stands in for a dataset sha, so the manifest and card still say exactly what was trained on.
    if not lineage:
        lineage = [{"role": "cpt-documents", "kind": "text", "repo": None, "revision": "local",
                    "sha": sha256_bytes(canonical_json(list(documents)).encode("utf-8")),
                    "ref": "documents passed in", "leakage": None}]
    lineage = gate_inputs(lineage, config.allow_leakage)
    output_dir = Path(config.output_dir)
    run = fingerprint("cpt", config, base_model, revision, list(documents))
    if resume and (done := completed_result(output_dir, run)) is not None:
        return done
    checkpoint = prepare_output_dir(output_dir, run, resume)

    train_docs, eval_docs = split_documents(list(documents), config.eval_fraction, config.seed)
    check_launch(config)
    placement = choose_placement(config)
    trainer = build_cpt_trainer(config, base_model, revision, train_docs, eval_docs, placement, callbacks)
    output = trainer.train(resume_from_checkpoint=checkpoint)
    return finish(
        trainer, stage="cpt", config=config, base_model=base_model, revision=revision, lineage=lineage,
        placement=placement, train_metrics=output.metrics,
        extra={"documents": {"train": len(train_docs), "eval": len(eval_docs)}},
    )


def build_cpt_trainer(config: CPTConfig, base_model: str, revision: str | None, train_docs: list[str],
                      eval_docs: list[str], placement, callbacks: Sequence[Any] = ()):
    """The SFTTrainer for CPT: language-modelling rows packed to max_length, loss on every token, EOS appended."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(base_model, revision)
    model = load_model(base_model, revision, placement)
    args = SFTConfig(
        **training_arguments(config, placement, has_eval=bool(eval_docs)),
        packing=True,
        # bfd_split and wrapped keep every token; plain "bfd" truncates documents longer than max_length
        packing_strategy=config.packing_strategy,
        max_length=config.max_length,
        dataset_text_field="text",
        completion_only_loss=False,
        dataset_num_proc=None,
    )
    if is_main_process():
        announce(f"CPT on {len(train_docs)} documents ({len(eval_docs)} held out), {placement.describe()}")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"text": train_docs}),
        eval_dataset=Dataset.from_dict({"text": eval_docs}) if eval_docs else None,
        processing_class=tokenizer,
        peft_config=None if config.full_finetune else lora_config(config.lora),
        callbacks=list(callbacks),
    )
    if trainable_parameters(trainer.model) == 0:
        raise MedprefsError("CPT would train no parameters: check lora.target_modules against the model")
    from medprefs.train.progress import use_rich_progress

    use_rich_progress(trainer, "cpt")
    return trainer
