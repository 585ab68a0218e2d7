"""The `medprefs` command: a parser per stage, each a thin layer over that stage's library API."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from medprefs import __version__
from medprefs.errors import MedprefsError

# Deprecation notices that a user of the command can do nothing about: PEFT and TRL (the pinned versions) read
# transformers' deprecated `is_gradient_checkpointing` on every adapter load and training run. Filtered here, in the
# command, not in the library, so that code importing medprefs keeps its own warning settings.
LIBRARY_NOISE = [(FutureWarning, r"`is_gradient_checkpointing` is deprecated")]

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
        importlib.import_module(f"medprefs.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    for category, message in LIBRARY_NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
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
