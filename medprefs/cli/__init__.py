"""The `medprefs` command: a parser per stage, each a thin layer over that stage's library API."""

from __future__ import annotations

import argparse
import importlib
import sys

from medprefs import __version__
from medprefs.errors import MedprefsError

# Each module defines `register(subparsers)`, adding its commands with `set_defaults(func=...)`; a command function
# takes the parsed args and returns the exit status.
COMMAND_MODULES = ["corpus", "leakage", "sample", "label", "pairs", "audit", "publish", "train", "eval", "run"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medprefs",
        description="Build leak-proof reasoning-preference datasets from Japanese medical exam questions, "
        "and train on them (CPT + RPO).",
    )
    parser.add_argument("--version", action="version", version=f"medprefs {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"medprefs.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"medprefs.cli.{name}":
                continue  # a stage whose CLI is not written yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MedprefsError as error:
        if args.debug:
            raise
        print(f"medprefs: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("medprefs: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
