"""`medprefs label`: read and grade the final answer of every sampled response, write the Label table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medprefs.console import console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("label", help="extract and grade the final answer of every response")
    parser.add_argument("responses", type=Path, metavar="RESPONSES", help="responses folder written by `medprefs sample`")
    parser.add_argument("--corpus", required=True, metavar="NAME@TAG", help="corpus version holding the gold answers")
    parser.add_argument("--store", default=None, help="corpus store folder")
    parser.add_argument("--out", required=True, type=Path, help="labels folder to write")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON on stdout")
    parser.set_defaults(func=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    from medprefs.corpus import load_corpus
    from medprefs.labeling import label_responses, labels_provenance, write_labels
    from medprefs.manifest import read_manifest
    from medprefs.sampling import load_responses

    responses, _ = load_responses(args.responses)
    corpus = load_corpus(args.corpus, args.store)
    labels = label_responses(responses, corpus.questions)
    out = write_labels(labels, args.out, labels_provenance(args.responses, args.corpus, corpus))
    counts = read_manifest(out)["counts"]
    print_counts(counts, out)
    if args.json:
        print(json.dumps(counts, ensure_ascii=False))
    return 0


def print_counts(counts: dict, out: Path) -> None:
    from rich.table import Table

    table = Table(title=f"labels -> {out}")
    table.add_column("")
    table.add_column("responses", justify="right")
    status = counts["status"]
    rows = [("ok", status["ok"]), ("unparseable", status["unparseable"]), ("ambiguous", status["ambiguous"]),
            ("correct", counts["correct"]), ("incorrect", counts["incorrect"]), ("excluded (0 points)", counts["excluded"]),
            ("all", counts["responses"])]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    accuracy = "-" if counts["accuracy"] is None else f"{counts['accuracy']:.1%}"
    console.print(f"{counts['questions']} questions; accuracy {accuracy} of scored responses")
