"""`medprefs pairs build`: labelled responses -> preference pairs (GT > chosen > rejected), split by question."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medprefs.console import announce, console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pairs", help="build the preference dataset from labelled responses")
    commands = parser.add_subparsers(dest="pairs_command", metavar="COMMAND", required=True)
    build = commands.add_parser(
        "build",
        help="pairs gt>chosen, gt>rejected, chosen>rejected in TRL's preference format",
        description="The leakage record comes from --leakage-report (a leakage report.json, or a manifest with a "
        "'leakage' record; one that names another corpus's content is refused) or else from the corpus version "
        "itself (its manifest, or the leakage filter's record of it as clean); without either the dataset records "
        "none, and publish/train will refuse it unless given --allow-leakage.",
    )
    build.add_argument("--labels", required=True, type=Path, help="labels folder written by `medprefs label`")
    build.add_argument("--corpus", required=True, metavar="NAME@TAG", help="the corpus version the labels used")
    build.add_argument("--store", default=None, help="corpus store folder")
    build.add_argument("--responses", type=Path, help="responses folder (default: the one the labels name)")
    build.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    build.add_argument("--max-per-type", type=int, help="pairs per question and pair type (default 4)")
    build.add_argument("--unparseable", choices=["rejected", "drop"], help="unreadable answers: rejected (default)")
    build.add_argument("--seed", type=int, help="seed of the draws and the split (default 0)")
    build.add_argument("--validation-fraction", type=float, help="share of questions in validation (default 0.1)")
    build.add_argument("--conversational", action="store_true", help="TRL's conversational format (messages)")
    build.add_argument("--leakage-report", type=Path, help="leakage report.json whose verdict to record")
    build.add_argument("--json", action="store_true", help="print the counts as JSON on stdout")
    build.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from medprefs.corpus import load_corpus
    from medprefs.errors import MedprefsError
    from medprefs.labeling import read_labels
    from medprefs.leakage import version_gate
    from medprefs.manifest import MANIFEST, sha256_file
    from medprefs.pairs import PairsConfig, build_pairs, leakage_record_from_file, pairs_sources, write_pairs
    from medprefs.sampling import load_responses

    labels, labels_manifest = read_labels(args.labels)
    recorded = labels_manifest.get("responses") or {}
    responses_dir = args.responses or (Path(recorded["path"]) if recorded.get("path") else None)
    if responses_dir is None:
        raise MedprefsError(f"{args.labels}: the labels name no responses folder; pass --responses DIR")
    if recorded.get("manifest_sha256") and sha256_file(responses_dir / MANIFEST) != recorded["manifest_sha256"]:
        raise MedprefsError(f"{responses_dir}: changed since {args.labels} was labelled; run `medprefs label` again")
    responses, _ = load_responses(responses_dir)
    corpus = load_corpus(args.corpus, args.store)
    labelled_with = (labels_manifest.get("corpus") or {}).get("version_id")
    if labelled_with and labelled_with != corpus.version_id:
        raise MedprefsError(f"{args.labels} was graded against corpus version {labelled_with}, not {corpus.version_id}")
    options = {"max_per_type": args.max_per_type, "unparseable": args.unparseable, "seed": args.seed,
               "validation_fraction": args.validation_fraction, "conversational": args.conversational or None}
    config = PairsConfig(**{k: v for k, v in options.items() if v is not None})
    if args.leakage_report:
        leakage = leakage_record_from_file(args.leakage_report, corpus.manifest.get("content_sha256"))
    else:
        leakage = version_gate(corpus.path, corpus.manifest)
    if not leakage:
        announce("no leakage verdict recorded (pass --leakage-report); publish and train will refuse this dataset")
    result = build_pairs(corpus.questions, responses, labels, config)
    out = write_pairs(result, args.out, pairs_sources(corpus, args.labels, labels_manifest), leakage)
    print_counts(result.counts, out)
    if args.json:
        print(json.dumps(result.counts, ensure_ascii=False))
    return 0


def print_counts(counts: dict, out: Path) -> None:
    from rich.table import Table

    from medprefs.pairs import PAIR_TYPES

    table = Table(title=f"pairs -> {out}")
    table.add_column("split")
    for pair_type in PAIR_TYPES:
        table.add_column(pair_type, justify="right")
    table.add_column("questions", justify="right")
    for split, by_type in counts["by_split"].items():
        table.add_row(split, *(str(by_type[t]) for t in PAIR_TYPES), str(counts["questions"][split]))
    console.print(table)
    if "responses" in counts:
        console.print(f"responses: {counts['responses']['read']} read, {counts['responses']['pooled']} used")
    skipped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts["skipped"].items() if v)
    if skipped:
        console.print(f"skipped: {skipped}")
