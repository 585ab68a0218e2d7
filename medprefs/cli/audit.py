"""`medprefs audit`: a self-contained HTML report (and Markdown summary) of a preference dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from medprefs.console import console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="report what a preference dataset holds, before training on it")
    parser.add_argument("dataset", type=Path, metavar="DATASET", help="dataset folder written by `medprefs pairs build`")
    parser.add_argument("--out", required=True, type=Path, help="folder for report.html, report.md, audit.json")
    parser.add_argument("--labels", type=Path, help="labels folder (default: the one the dataset names, if present)")
    parser.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from medprefs.audit import audit
    from medprefs.audit.render import flags
    from medprefs.manifest import read_json

    paths = audit(args.dataset, args.out, args.labels)
    for finding in flags(read_json(paths.json)):
        console.print(f"[red]flag:[/red] {finding}")
    console.print(f"report: {paths.html}\nsummary: {paths.markdown}")
    return 0
