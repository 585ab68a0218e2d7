"""`medprefs leakage scan|filter`: check training material against the evaluation set, or remove what collides."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medprefs.console import console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leakage", help="prove no evaluation question reaches training (year + content)")
    commands = parser.add_subparsers(dest="leakage_command", metavar="COMMAND", required=True)
    scan = commands.add_parser(
        "scan",
        help="report every training item that is after the cut-off or a near-duplicate of an eval question",
        description="Exit status: 0 pass, 1 fail (something flagged), 2 bad input.",
    )
    _add_common(scan)
    scan.add_argument("--json", action="store_true", help="print {verdict, flagged, counts} as JSON on stdout")
    scan.set_defaults(func=cmd_scan)
    keep = commands.add_parser(
        "filter",
        help="store the training corpus minus every flagged item as a new version (dropped items kept aside)",
        description="Exit status: 0 when the new version passes a rescan, 2 on bad input.",
    )
    _add_common(keep)
    keep.add_argument("--tag", help="tag for the new version (default: none; it is named by its id)")
    keep.set_defaults(func=cmd_filter)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", help="training questions: corpus NAME@TAG or a file in any ingestible format")
    parser.add_argument(
        "--train-text",
        action="append",
        default=[],
        metavar="FILE",
        help="CPT text: .txt (blank-line separated passages) or JSONL with 'text'; repeatable",
    )
    parser.add_argument("--eval", required=True, help="evaluation questions: corpus NAME@TAG or a file")
    parser.add_argument("--store", default=None, help="corpus store folder, for NAME@TAG references")
    parser.add_argument("--config", type=Path, help="pipeline TOML file; its [leakage] section is used")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a [leakage] setting, e.g. --set ngram=6; repeatable",
    )
    parser.add_argument("--threshold", type=float, help="near-duplicate Jaccard threshold (default 0.5)")
    parser.add_argument("--containment-threshold", type=float, help="containment threshold (default 0.5)")
    parser.add_argument("--cutoff-year", type=int, help="last exam year allowed in training (default 2017)")
    parser.add_argument("--workers", type=int, help="processes for large scans (default: one per core)")
    parser.add_argument("--report", type=Path, metavar="OUT", help="write report.md, report.html, report.json here")


def leakage_config(args: argparse.Namespace):
    """The [leakage] section of --config, then --set, then the explicit flags."""
    from medprefs.config import apply_overrides, from_dict, read_toml
    from medprefs.leakage import LeakageConfig

    section: dict[str, Any] = dict(read_toml(args.config).get("leakage", {})) if args.config else {}
    section = apply_overrides(section, [item.removeprefix("leakage.") for item in args.set])
    flags = {
        "threshold": args.threshold,
        "containment_threshold": args.containment_threshold,
        "cutoff_year": args.cutoff_year,
        "workers": args.workers,
    }
    section.update({key: value for key, value in flags.items() if value is not None})
    return from_dict(LeakageConfig, section, "leakage")


def _evaluation(args: argparse.Namespace, config: Any) -> tuple[list, dict[str, Any]]:
    """The --eval questions that are evaluation questions (`evaluation_side`); what is left out is announced."""
    from medprefs.console import announce
    from medprefs.corpus import load_questions_any
    from medprefs.leakage import evaluation_side

    questions, provenance = load_questions_any(args.eval, args.store)
    evaluation = evaluation_side(questions, config)
    if len(evaluation) < len(questions):
        announce(
            f"--eval {args.eval}: {len(questions) - len(evaluation)} of {len(questions)} questions are from exams up "
            f"to the cut-off {config.cutoff_year}, not evaluation questions: left out ({len(evaluation)} kept)"
        )
    return evaluation, provenance


def _load(args: argparse.Namespace, config: Any) -> tuple[list, list, dict[str, Any]]:
    """(training items, eval questions, sources) from the arguments."""
    from medprefs.corpus import load_questions_any
    from medprefs.errors import MedprefsError
    from medprefs.leakage import read_passages

    if not args.train and not args.train_text:
        raise MedprefsError("nothing to check: give --train and/or --train-text")
    train: list = []
    sources: dict[str, Any] = {}
    if args.train:
        questions, provenance = load_questions_any(args.train, args.store)
        train.extend(questions)
        sources["train"] = provenance
    for path in args.train_text:
        train.extend(read_passages(path))
    if args.train_text:
        sources["train_text"] = [str(path) for path in args.train_text]
    evaluation, sources["eval"] = _evaluation(args, config)
    return train, evaluation, sources


def _print_report(report, paths) -> None:
    from rich.table import Table

    colour = "green" if report.verdict == "pass" else "red"
    console.print(f"leakage verdict: [bold {colour}]{report.verdict.upper()}[/bold {colour}]")
    counts = Table(title="counts")
    counts.add_column("count")
    counts.add_column("value", justify="right")
    for key, value in report.counts.items():
        counts.add_row(key, str(value))
    console.print(counts)
    if report.flagged:
        flagged = Table(title=f"flagged ({len(report.flagged)}; first 20)")
        for column in ("train item", "eval item", "rule", "similarity"):
            flagged.add_column(column)
        for finding in report.flagged[:20]:
            similarity = "–" if finding.similarity is None else f"{finding.similarity:.3f}"
            flagged.add_row(finding.train_qid, finding.eval_qid or "–", finding.rule, similarity)
        console.print(flagged)
    if paths:
        console.print(f"report: {paths.markdown} (also .html, .json); sha256 {report.report_sha256}")


def cmd_scan(args: argparse.Namespace) -> int:
    from medprefs.leakage import scan

    config = leakage_config(args)
    train, evaluation, sources = _load(args, config)
    report = scan(train, evaluation, config, sources=sources)
    paths = report.write(args.report) if args.report else None
    _print_report(report, paths)
    if args.json:
        print(json.dumps(report.summary(), ensure_ascii=False))
    return 0 if report.verdict == "pass" else 1


def cmd_filter(args: argparse.Namespace) -> int:
    from medprefs.errors import MedprefsError
    from medprefs.leakage.store import filter_and_store

    if not args.train or args.train_text or Path(args.train).exists():
        raise MedprefsError("filter writes a new corpus version: give --train NAME@TAG (a stored corpus), no files")
    config = leakage_config(args)
    evaluation, provenance = _evaluation(args, config)
    outcome = filter_and_store(
        args.train,
        evaluation,
        config,
        store=args.store,
        tag=args.tag,
        sources={"eval": provenance},
        report_dir=args.report,
    )
    _print_report(outcome.report, outcome.report_paths)
    kept, dropped = len(outcome.filtered.kept), len(outcome.filtered.dropped)
    name = args.train.partition("@")[0]
    state = "new version" if dropped else "nothing dropped, unchanged:"
    console.print(
        f"kept {kept}, dropped {dropped} (rows and reasons in {outcome.where}); "
        f"{state} {name}@{outcome.version_id}{f' tagged {args.tag}' if args.tag else ''}; rescan: "
        f"{outcome.rescan.verdict}"
    )
    return 0
