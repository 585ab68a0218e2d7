"""`medprefs corpus ingest|log|show|diff|verify|tag`: content-hashed question corpora with history."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from medprefs.console import console
from medprefs.errors import MedprefsError

FORMAT_HELP = (
    "input layout (default: auto, from file names, extensions and the first row). igakuqa: the IgakuQA repository "
    "(data/<year>/<exam>-<block>.jsonl; *_metadata.jsonl joined for category and kinki, *_translate.jsonl ignored). "
    "jsonl/csv/parquet: columns qid, stem, choices, answer and year or exam (checked against each other: exam n is "
    "held in year n + 1906), optional points (default 1; 0 = excluded from scoring), explanation, has_image. answer: "
    'letters ["a", "c"], ["a or d"] when either is accepted, or one digit string ["21"] with no choices. CSV cells '
    'for choices/answer: a JSON array (["甲", "乙"]) or text separated by | (甲|乙); an empty choices cell means a '
    "numeric question; CSV lines count physical lines, header = 1"
)
STORE_HELP = "corpus store folder (default: $MEDPREFS_STORE or ./corpora)"


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False))


def _column_map(assignments: list[str]) -> dict[str, str]:
    mapping = {}
    for assignment in assignments:
        source, sep, target = assignment.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise MedprefsError(f"--map {assignment!r}: expected SRC=DST, e.g. --map question=stem")
        mapping[source.strip()] = target.strip()
    return mapping


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "corpus",
        help="ingest exam questions into immutable, content-hashed corpus versions; history, diffs, verification",
        description="Every input row is accepted or rejected with file, line, field and reason. A version id is the "
        "hash of the questions' content: the same questions in any order or layout get the same id.",
    )
    commands = parser.add_subparsers(dest="corpus_command", metavar="COMMAND", required=True)
    _register_ingest(commands)
    _register_log(commands)
    _register_show(commands)
    _register_diff(commands)
    _register_verify(commands)
    _register_tag(commands)


def _register_ingest(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("ingest", help="read, validate and store questions as a corpus version")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (none: the embedded sample corpus)")
    parser.add_argument(
        "--format", default="auto", choices=["auto", "igakuqa", "jsonl", "csv", "parquet"], help=FORMAT_HELP
    )
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--name", default="jmle", help="corpus name inside the store (default: jmle)")
    parser.add_argument("--tag", help="point this tag at the resulting version (moved if it exists)")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2, store nothing) if any row is rejected")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="rename an input column to a canonical field; repeatable",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {version, name, accepted, rejected, per_year, rejects_file} on stdout",
    )
    parser.set_defaults(func=cmd_ingest)


def _register_log(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("log", help="ingest and tag history of a corpus (all corpora without NAME)")
    parser.add_argument("name", nargs="?", metavar="NAME", help="corpus name")
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--json", action="store_true", help="print the history events as JSON on stdout")
    parser.set_defaults(func=cmd_log)


def _register_show(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("show", help="summary of one version: counts per year and answer kind, inputs, tags")
    parser.add_argument("ref", metavar="REF", help="NAME, NAME@TAG or NAME@ID (a unique id prefix is enough)")
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--json", action="store_true", help="print the version's manifest and tags as JSON on stdout")
    parser.set_defaults(func=cmd_show)


def _register_diff(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("diff", help="questions added, removed and changed (field by field) from A to B")
    parser.add_argument("old", metavar="A", help="the earlier version: NAME, NAME@TAG or NAME@ID")
    parser.add_argument("new", metavar="B", help="the later version: NAME, NAME@TAG or NAME@ID")
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--json", action="store_true", help="print the diff as JSON on stdout")
    parser.set_defaults(func=cmd_diff)


def _register_verify(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "verify", help="re-hash stored versions; exit 1 naming each damaged file (REF: one version, NAME: all of it)"
    )
    parser.add_argument(
        "ref", nargs="?", metavar="REF", help="NAME@TAG / NAME@ID, NAME, or nothing for the whole store"
    )
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.add_argument("--json", action="store_true", help="print the checks as JSON on stdout")
    parser.set_defaults(func=cmd_verify)


def _register_tag(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("tag", help="point TAG at a version (moves an existing tag)")
    parser.add_argument("ref", metavar="REF", help="the version: NAME, NAME@TAG or NAME@ID")
    parser.add_argument("tag", metavar="TAG", help="tag name: letters, digits, '.', '_', '-'")
    parser.add_argument("--store", default=None, help=STORE_HELP)
    parser.set_defaults(func=cmd_tag)


def cmd_ingest(args: argparse.Namespace) -> int:
    from medprefs.corpus import IngestConfig, ingest
    from medprefs.corpus.store import default_store
    from medprefs.corpus.tables import ingest_lines, per_year_table, read_rejects, rejects_table

    store = str(args.store or default_store())
    config = IngestConfig(
        paths=[str(path) for path in args.paths],
        format=args.format,
        name=args.name,
        tag=args.tag,
        store=store,
        strict=args.strict,
        column_map=_column_map(args.map),
    )
    outcome = ingest(config)
    console.print(per_year_table(outcome.per_year, f"{outcome.name}: accepted questions per year"))
    if outcome.rejects_file:
        console.print(rejects_table(*read_rejects(outcome.rejects_file)))
    for line in ingest_lines(outcome):
        console.print(line)
    if args.json:
        _print_json(outcome.to_dict())
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from medprefs.corpus import CorpusStore
    from medprefs.corpus.tables import history_table

    store = CorpusStore(args.store)
    names = [args.name] if args.name else store.names()
    if not names:
        raise MedprefsError(f"{store.root}: no corpora stored yet")
    histories = {}
    for name in names:
        store.existing_dir(name)
        histories[name] = store.history(name)
        console.print(history_table(name, histories[name], store.tags(name)))
    if args.json:
        _print_json({name: {"events": events, "tags": store.tags(name)} for name, events in histories.items()})
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from medprefs.corpus import CorpusStore
    from medprefs.corpus.tables import version_table

    store = CorpusStore(args.store)
    version = store.load(args.ref)
    tags = store.tags_of(version.name, version.version_id)
    console.print(version_table(version, tags))
    if args.json:
        _print_json({"ref": version.ref, "tags": tags, "path": str(version.path), "manifest": version.manifest})
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from medprefs.corpus import CorpusStore, diff_versions
    from medprefs.corpus.tables import diff_table

    store = CorpusStore(args.store)
    diff = diff_versions(store.load(args.old), store.load(args.new))
    console.print(diff_table(diff))
    console.print(f"added {len(diff.added)}, removed {len(diff.removed)}, changed {len(diff.changed)}")
    if args.json:
        _print_json(diff.to_dict())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from medprefs.corpus import CorpusStore, verify_store
    from medprefs.corpus.tables import verify_table

    store = CorpusStore(args.store)
    checks = verify_store(store, args.ref)
    if not checks:
        raise MedprefsError(f"{store.root}: nothing to verify")
    console.print(verify_table(checks))
    bad = [check for check in checks if not check.ok]
    if args.json:
        _print_json([{"name": c.name, "version": c.version_id, "ok": c.ok, "problems": c.problems} for c in checks])
    for check in bad:
        for problem in check.problems:
            print(f"medprefs: damaged: {problem}", file=sys.stderr)  # unwrapped: the path must stay whole
    return 1 if bad else 0


def cmd_tag(args: argparse.Namespace) -> int:
    from medprefs.corpus import CorpusStore

    store = CorpusStore(args.store)
    name, version = store.resolve(args.ref)
    previous = store.set_tag(name, args.tag, version)
    moved = f" (moved from {previous})" if previous and previous != version else ""
    console.print(f"{name}@{args.tag} -> {version}{moved}")
    return 0
