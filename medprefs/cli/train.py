"""`medprefs train cpt|rpo`: parse, load the pipeline file's section, call the library, print the result."""

from __future__ import annotations

import argparse
import dataclasses
import json

from medprefs.console import console


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="continued pretraining (cpt) and RPO (rpo) with QLoRA")
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    helps = {
        "cpt": "QLoRA continued pretraining on a corpus version / hf:// dataset and plain text (pipeline [cpt])",
        "rpo": "RPO (DPO + alpha * NLL) on a preference dataset, starting from the CPT adapter (pipeline [rpo])",
    }
    for stage, text in helps.items():
        sub = stages.add_parser(stage, help=text, description=text)
        sub.add_argument("--config", required=True, metavar="FILE", help=f"pipeline file with [model] and [{stage}]")
        sub.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
            help=f"override a setting, e.g. max_steps=10 (= {stage}.max_steps=10) or model.base=ORG/NAME",
        )
        sub.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
        sub.add_argument("--dry-run", action="store_true", help="print the resolved plan (JSON) and exit")
        sub.add_argument("--allow-leakage", metavar="REASON",
                         help="train on inputs without a passing leakage verdict; the reason goes into the model card")
        sub.add_argument("--json", action="store_true", help="print the result as one JSON line on stdout")
        sub.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from medprefs.train.config import load_train_config

    config, model = load_train_config(args.config, args.stage, args.overrides)
    if args.allow_leakage:
        config = dataclasses.replace(config, allow_leakage=args.allow_leakage)
    if args.dry_run:
        from medprefs.train.plan import training_plan

        launch_args = [arg for override in args.overrides for arg in ("--set", override)]
        launch_args += ["--allow-leakage", args.allow_leakage] if args.allow_leakage else []
        launch_args += ["--resume"] if args.resume else []
        plan = training_plan(args.stage, config, model, args.config, resume=args.resume, launch_args=launch_args)
        print(json.dumps(plan, ensure_ascii=False, indent=2, default=str))
        return 0
    if args.stage == "cpt":
        from medprefs.train.cpt import train_cpt

        result = train_cpt(config, base_model=model.base, revision=model.revision, resume=args.resume)
    else:
        from medprefs.train.rpo import train_rpo

        result = train_rpo(config, base_model=model.base, revision=model.revision, resume=args.resume)
    from medprefs.train.model import is_main_process

    if is_main_process():
        summary = {"output_dir": str(result.output_dir), "metrics": result.metrics}
        if args.json:
            print(json.dumps(summary, ensure_ascii=False, default=str))
        else:
            loss = result.metrics.get("eval_loss", result.metrics.get("train_loss"))
            console.print(f"[green]{args.stage}[/green]: saved to {result.output_dir} "
                          f"(step {result.metrics.get('global_step')}, loss {loss})")
    return 0
