"""`medprefs run`: every stage of a pipeline file in order."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a pipeline file's stages in order (ingest, leakage, cpt, sample, label, pairs, publish, rpo, eval)",
        description="Run the stages of a pipeline file in order. Every output goes under --out; OUT/summary.json "
        "records each stage's status, output path, version or revision, rows and time.",
    )
    parser.add_argument("pipeline", help="pipeline file, e.g. pipelines/demo.toml")
    parser.add_argument("--out", help="folder for every stage's output (re-running resumes); not needed with --dry-run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a value of the pipeline file, e.g. --set sample.n=2 (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="validate the file, print the resolved config, exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from medprefs.config import to_dict
    from medprefs.errors import MedprefsError
    from medprefs.pipeline import load_pipeline, run_pipeline

    config = load_pipeline(args.pipeline, args.overrides)
    if args.dry_run:
        print(json.dumps(to_dict(config), ensure_ascii=False, indent=2, default=str))
        return 0
    if not args.out:
        raise MedprefsError("medprefs run: --out is required (except with --dry-run)")
    summary = run_pipeline(config, args.out, pipeline_file=args.pipeline, debug=args.debug)
    return 0 if summary.ok else 1
