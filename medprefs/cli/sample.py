"""`medprefs sample` (N explanations per training question, resumable) and `medprefs sample-merge` (join --shard parts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medprefs.console import console
from medprefs.leakage.config import PAPER_CUTOFF_YEAR
from medprefs.sampling.config import SampleConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sample", help="sample N explanations per training question (resumable shards)")
    parser.add_argument("--corpus", required=True, help="corpus version NAME@TAG or NAME@ID")
    parser.add_argument("--store", default=None, help="corpus store folder")
    parser.add_argument("--model", required=True, help="model folder, or Hub repo ORG/NAME[@REV]")
    parser.add_argument("--out", required=True, type=Path, help="output folder; rerunning the same command resumes it")
    parser.add_argument(
        "--shard", default="0/1", help="sample only part I of N (0-based), e.g. 1/4; join with sample-merge"
    )
    parser.add_argument(
        "--max-year",
        type=int,
        default=PAPER_CUTOFF_YEAR,
        help=f"sample questions (and exemplars) from exams up to this year (default {PAPER_CUTOFF_YEAR})",
    )
    parser.add_argument("--backend", choices=["transformers", "vllm"], help=_default("backend"))
    parser.add_argument("--n", type=int, help=_default("n", "responses per question"))
    parser.add_argument("--temperature", type=float, help=_default("temperature"))
    parser.add_argument("--top-p", type=float, help=_default("top_p"))
    parser.add_argument("--max-new-tokens", type=int, help=_default("max_new_tokens"))
    parser.add_argument("--seed", type=int, help=_default("seed"))
    parser.add_argument("--shots", type=int, help=_default("shots", "exemplars per prompt"))
    parser.add_argument(
        "--batch-size", type=int, help=_default("batch_size", "prompts per generate call (transformers)")
    )
    parser.add_argument(
        "--questions-per-shard",
        type=int,
        help=_default("questions_per_shard", "questions per shard file: the unit of resumption"),
    )
    parser.add_argument(
        "--tensor-parallel-size", type=int, help=_default("tensor_parallel_size", "GPUs per model replica (vllm)")
    )
    parser.add_argument(
        "--data-parallel-size", type=int, help=_default("data_parallel_size", "model replicas, one worker process each")
    )
    parser.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], help=_default("dtype"))
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help=_default("device"))
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=cmd_sample)

    merge = subparsers.add_parser("sample-merge", help="join the folders of `sample --shard I/N` runs into one")
    merge.add_argument("parts", nargs="+", type=Path, metavar="DIR", help="one folder per shard I/N")
    merge.add_argument("--out", required=True, type=Path, help="new folder for the joined responses")
    merge.set_defaults(func=cmd_merge)


def _default(field: str, text: str = "") -> str:
    value = getattr(SampleConfig(), field)
    return f"{text} (default {value})".strip()


CONFIG_FLAGS = (
    "backend n temperature top_p max_new_tokens seed shots batch_size questions_per_shard "
    "tensor_parallel_size data_parallel_size dtype device"
).split()


def cmd_sample(args: argparse.Namespace) -> int:
    from medprefs.config import from_dict
    from medprefs.errors import MedprefsError
    from medprefs.sampling import parse_shard, run_sampling
    from medprefs.sampling.runner import require_backend

    shard = parse_shard(args.shard)
    flags = {k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k) is not None}
    config = from_dict(SampleConfig, flags, "sample")
    require_backend(config)  # a missing vLLM is reported before the corpus or model is read

    from medprefs.corpus import load_corpus

    corpus = load_corpus(args.corpus, args.store)
    train = [q for q in corpus.questions if q.year <= args.max_year]
    if not train:
        raise MedprefsError(f"{args.corpus}: no question from {args.max_year} or earlier")
    result = run_sampling(train, train, args.model, config, args.out, corpus.version_id, shard)
    summary = {
        "out": str(result.out_dir),
        "complete": result.complete,
        "shards_written": result.shards_written,
        "shards_skipped": result.shards_skipped,
        "responses_written": result.responses_written,
        "tokens_written": result.tokens_written,
        "seconds": round(result.seconds, 2),
    }
    console.print(
        f"[green]sampled[/green] {result.responses_written} responses in {result.shards_written} shard(s)"
        f" ({result.shards_skipped} already done) -> {result.out_dir}"
    )
    if args.json:
        print(json.dumps(summary))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from medprefs.sampling import merge_shards

    manifest = merge_shards(args.parts, args.out)
    console.print(
        f"[green]merged[/green] {len(args.parts)} part(s), {len(manifest['completed'])} shard files -> {args.out}"
    )
    return 0
