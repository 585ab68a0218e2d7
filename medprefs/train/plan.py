"""The resolved plan of a training run (what --dry-run prints): config, inputs with their shas, gate, launch line."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medprefs.config import to_dict
from medprefs.train.config import CPTConfig, ModelRef, RPOConfig
from medprefs.train.run import gate_inputs, last_complete_checkpoint


def training_plan(stage: str, config: CPTConfig | RPOConfig, model: ModelRef, config_path: str,
                  resume: bool = False, launch_args: Sequence[str] = ()) -> dict[str, Any]:
    """Resolve every input (dataset shas, document/pair counts) and run the leakage gate, without loading a model.
    `launch_args` (the command's --set/--allow-leakage/--resume options) go into the printed launch line."""
    from medprefs.train.model import choose_placement

    plan: dict[str, Any] = {"stage": stage, "base_model": model.base, "revision": model.revision}
    if isinstance(config, CPTConfig):
        from medprefs.train.data import resolve_cpt_inputs, split_documents

        inputs = resolve_cpt_inputs(config.data, config.text_corpora, config.corpus_store)
        train, held_out = split_documents(inputs.documents, config.eval_fraction, config.seed)
        lineage, plan["documents"] = inputs.lineage, {"train": len(train), "eval": len(held_out)}
    else:
        from medprefs.train.data import cutoff_year, load_pairs, resolve_pairs_dataset, starting_point_entry

        dataset_dir, entry = resolve_pairs_dataset(config.data)
        lineage = [entry]
        train, held_out = load_pairs(dataset_dir, cutoff_year(entry.get("leakage")))
        plan["pairs"] = {"train": len(train["prompt"]), "eval": len(held_out["prompt"])}
        plan["start"] = config.cpt_adapter or f"{model.base} (no CPT)"
        if config.cpt_adapter:  # a missing or mismatched CPT output must fail here, not after the model loads
            plan["start_sha"] = starting_point_entry(config.cpt_adapter, model.base, model.revision)["sha"]
    plan["inputs"] = gate_inputs(lineage, config.allow_leakage)
    plan["placement"] = choose_placement(config).describe()
    plan["resume_from"] = last_complete_checkpoint(Path(config.output_dir)) if resume else None
    plan["launch"] = launch_line(stage, config.num_processes, config_path, launch_args)
    plan["config"] = to_dict(config)
    return plan


def launch_line(stage: str, processes: int, config_path: str, launch_args: Sequence[str] = ()) -> str:
    """The command that runs this plan: copied as printed, it trains with the same settings."""
    arguments = " ".join(shlex.quote(arg) for arg in ["--config", config_path, *launch_args])
    if processes == 1:
        return f"medprefs train {stage} {arguments}"
    return (f"accelerate launch --multi_gpu --num_processes {processes} --num_machines 1 --dynamo_backend no "
            f"-m medprefs train {stage} {arguments}")
