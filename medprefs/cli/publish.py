"""`medprefs publish` (a release to the Hub or a folder) and `medprefs pull` (a dataset reference to a local folder)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from medprefs.console import console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "publish",
        help="publish a pairs dataset or corpus version (Hub repo or local folder) with its card",
        description="Publish DATASET (a pairs folder or corpus version) as one release: data, card and manifest in "
        "one commit on the Hub (HF_ENDPOINT, token from HF_TOKEN or `hf auth login`), or into a local folder.",
    )
    parser.add_argument("dataset", type=Path, help="pairs folder, corpus version folder, or release folder")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo", metavar="ORG/NAME", help="Hub dataset repo (created if needed)")
    target.add_argument("--to-dir", metavar="DIR", help="write the release into this (new or empty) folder")
    parser.add_argument("--revision", metavar="BRANCH", help="branch to commit to (default: main)")
    parser.add_argument("--tag", help="tag the release commit (must not exist yet)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument(
        "--allow-leakage",
        metavar="REASON",
        help="publish without a passing leakage verdict; the reason is written into the card and manifest",
    )
    parser.add_argument("--license", help="license id for the card metadata (default: other)")
    parser.add_argument("--pretty-name", help="dataset name shown on the card")
    parser.add_argument("--card-template", metavar="FILE", help="Jinja markdown template replacing the packaged one")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=run_publish)

    pull = subparsers.add_parser(
        "pull",
        help="resolve hf://ORG/NAME@REV (or a folder) to a local folder and its commit sha",
        description="Resolve a dataset reference: hf://ORG/NAME@REV (branch, tag or sha; HF_ENDPOINT; works with "
        "HF_HUB_OFFLINE=1 for cached revisions) or a local release folder. Prints the folder and the exact sha.",
    )
    pull.add_argument("ref", help="hf://ORG/NAME@REVISION or a local folder")
    pull.add_argument("--json", action="store_true", help="print the resolved dataset as JSON on stdout")
    pull.set_defaults(func=run_pull)


def run_publish(args: argparse.Namespace) -> int:
    from medprefs.hub import PublishConfig, publish

    options = {
        name: getattr(args, name)
        for name in (
            "repo",
            "to_dir",
            "revision",
            "tag",
            "private",
            "allow_leakage",
            "license",
            "pretty_name",
            "card_template",
        )
    }
    config = PublishConfig(**{name: value for name, value in options.items() if value is not None})
    result = publish(args.dataset, config)
    if args.json:
        print(json.dumps({**asdict(result), "ref": result.ref}, indent=2))
        return 0
    print(f"published {result.location} ({'branch ' + result.revision if result.revision != 'local' else 'folder'})")
    print(f"commit {result.sha}" if result.location.startswith("hf://") else f"content id {result.sha}")
    print(f"tag {result.tag or '(none)'}")
    print(f"card {result.card_path}")
    console.print(f"train from it with [bold]{result.ref}[/bold]")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from medprefs.hub import lineage_entry, resolve_dataset

    resolved = resolve_dataset(args.ref)
    if args.json:
        print(json.dumps({"path": str(resolved.path), **lineage_entry(resolved)}, indent=2, ensure_ascii=False))
        return 0
    print(f"path {resolved.path}")
    print(f"sha {resolved.sha}")
    print(f"ref {resolved.ref}")
    return 0
