"""`medprefs eval score|run|compare`: IgakuQA-style scores, the plain/explain runs and their side-by-side table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medprefs.console import announce, console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="score predictions, run a model on a benchmark, compare runs")
    commands = parser.add_subparsers(dest="eval_command", metavar="COMMAND", required=True)
    _register_score(commands)
    _register_run(commands)
    _register_compare(commands)


def _add_benchmark(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, help="IgakuQA-layout folder, question file, or corpus NAME@TAG")
    parser.add_argument(
        "--store", default=None, help="corpus store for NAME@TAG references (default: $MEDPREFS_STORE or ./corpora)"
    )
    parser.add_argument("--skip-images", action="store_true", help="leave out questions whose image is not included")
    parser.add_argument("--years", type=parse_years, help="only these exam years: 2018-2022 or 2018,2020")


def _register_score(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("score", help="score a JSONL of {qid|problem_id, prediction} on a benchmark")
    _add_benchmark(parser)
    parser.add_argument(
        "--predictions",
        required=True,
        help='JSONL lines {"qid": ..., "prediction": "..."}, or an eval run\'s predictions-<mode>.jsonl',
    )
    parser.add_argument(
        "--mode",
        choices=["strict", "robust"],
        default="strict",
        help="strict: IgakuQA's official rule (default); robust: shared answer extraction",
    )
    parser.add_argument("--per-question", type=Path, help="write one JSONL row per question here")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON on stdout")
    parser.set_defaults(func=cmd_score)


def _register_run(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("run", help="generate greedily with the plain and/or explain prompt and score")
    parser.add_argument("--model", required=True, help="model folder (transformers format)")
    parser.add_argument("--adapter", help="PEFT adapter folder applied on top of --model")
    _add_benchmark(parser)
    parser.add_argument("--mode", choices=["plain", "explain", "both"], default="both")
    parser.add_argument("--shots", type=int, default=3, help="number of demonstrations (default 3)")
    parser.add_argument("--shots-file", help="demonstrations JSONL (default: the project's three)")
    parser.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--score-mode", choices=["strict", "robust"], default="strict")
    parser.add_argument("--out", required=True, type=Path, help="output folder (a rerun resumes it)")
    parser.set_defaults(func=cmd_run)


def _register_compare(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("compare", help="print eval runs side by side and write a Markdown table")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="eval run folders (or their summary.json)")
    parser.add_argument("--out", type=Path, help="write the Markdown table here (default: print it on stdout)")
    parser.set_defaults(func=cmd_compare)


def parse_years(text: str) -> set[int]:
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-"))
            if first > last:  # an empty range would read as "no --years" and score every year
                raise ValueError
            return set(range(first, last + 1))
        return {int(part) for part in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected years like 2018-2022 or 2018,2020") from None


def _load_benchmark(args: argparse.Namespace):
    from medprefs.corpus import load_questions_any
    from medprefs.errors import MedprefsError

    questions, provenance = load_questions_any(args.benchmark, args.store)
    if args.years:
        questions = [q for q in questions if q.year in args.years]
        if not questions:
            raise MedprefsError(f"{args.benchmark}: no question from the years asked for")
        # the overall is over the years present: a year missing from the benchmark must not pass unnoticed
        absent = sorted(args.years - {q.year for q in questions})
        if absent:
            announce(f"{args.benchmark}: no question from {', '.join(map(str, absent))}; scored without them")
    return questions, provenance


def cmd_score(args: argparse.Namespace) -> int:
    from medprefs.errors import MedprefsError
    from medprefs.eval import read_predictions, score_predictions
    from medprefs.eval.predictions import write_jsonl
    from medprefs.eval.report import score_table
    from medprefs.eval.scoring import without_images

    predictions = read_predictions(args.predictions)  # first: a bad file fails before the benchmark is read
    questions, _ = _load_benchmark(args)
    if args.skip_images:
        questions = without_images(questions)
    report = score_predictions(questions, predictions, args.mode)
    if predictions and len(report.unknown) == len(predictions):
        raise MedprefsError(f"{args.predictions}: no prediction names a question of {args.benchmark}")
    if report.missing:
        announce(
            f"{len(report.missing)} question(s) have no prediction and count as wrong (first: {report.missing[0]})"
        )
    if report.unknown:
        announce(
            f"{len(report.unknown)} prediction(s) name no benchmark question, ignored (first: {report.unknown[0]})"
        )
    if args.per_question:
        write_jsonl(args.per_question, (row.to_dict() for row in report.rows))
    name = Path(args.predictions).name
    summary = {"score_mode": args.mode, "questions": len(questions), "modes": {name: report.to_dict()}}
    console.print(score_table(summary, "eval score", first="predictions"))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from medprefs.eval import EvalConfig, run_eval
    from medprefs.eval.report import score_table

    config = EvalConfig(
        mode=args.mode,
        shots=args.shots,
        shots_file=args.shots_file,
        backend=args.backend,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        skip_images=args.skip_images,
        score_mode=args.score_mode,
    )
    questions, provenance = _load_benchmark(args)
    result = run_eval(args.model, questions, config, args.out, args.adapter, benchmark=provenance)
    console.print(score_table(result.summary, args.out.name))
    console.print(f"wrote {', '.join(str(path) for path in result.files)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from medprefs.eval.report import compare_rows, compare_table, load_runs, markdown

    runs = load_runs(args.runs)
    if len({summary["score_mode"] for _, summary in runs}) > 1:
        announce("these runs were scored in different modes (strict / robust): their numbers are not comparable")
    if len({summary.get("scored_sha256") for _, summary in runs}) > 1:
        announce("these runs scored different question sets (benchmark, years or skipped images differ)")
    console.print(compare_table(runs))
    text = markdown(*compare_rows(runs))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        console.print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0
