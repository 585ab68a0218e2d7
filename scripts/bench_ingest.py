"""Benchmark: ingest N synthetic JMLE-style questions; rows/s and peak memory against a naive per-row baseline."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AGES = "２３４５６７８"
FINDINGS = ["発熱", "咳嗽", "呼吸困難", "胸痛", "腹痛", "頭痛", "倦怠感", "体重減少", "浮腫", "黄疸"]
DISEASES = ["肺炎球菌性肺炎", "マイコプラズマ肺炎", "肺結核", "間質性肺炎", "肺癌", "心不全", "急性膵炎", "胆管炎"]


def synthetic_row(index: int, rng: random.Random) -> dict:
    """A question shaped like the real exam: full-width digits and symbols, 5 choices, some two-answer and numeric."""
    exam = 105 + index % 13
    age, days = AGES[rng.randrange(7)] + str(rng.randrange(10)), rng.randrange(1, 15)
    findings = "と".join(rng.sample(FINDINGS, 2))
    stem = (
        f"{age}歳の{'男性' if index % 2 else '女性'}。{days}日前からの{findings}を主訴に来院した。"
        f"体温３８.{rng.randrange(10)}℃。脈拍{rng.randrange(60, 130)}/分、整。血圧{rng.randrange(90, 180)}/{rng.randrange(50, 100)}mmHg。"
        f"ＳｐＯ２ 9{rng.randrange(10)}％（room air）。症例{index}。最も考えられるのはどれか。"
    )
    numeric = index % 20 == 0
    two = index % 7 == 0 and not numeric
    choices = [] if numeric else rng.sample(DISEASES, 5)
    answer = [str(rng.randrange(10, 40))] if numeric else sorted(rng.sample("abcde", 2 if two else 1))
    explanation = f"{findings}と{DISEASES[index % 8]}の所見から判断する。ＣＲＰ {rng.randrange(1, 30)}.{rng.randrange(10)} mg/dL。"
    return {
        "qid": f"{exam}{'ABCDEF'[index % 6]}{index}",
        "exam": exam,
        "year": exam + 1906,
        "stem": stem,
        "choices": choices,
        "answer": answer,
        "points": 3 if index % 11 == 0 else 1,
        "explanation": explanation,
        "has_image": index % 50 == 0,
    }


def write_input(folder: Path, rows: int) -> Path:
    rng = random.Random(0)
    path = folder / "synthetic.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(rows):
            handle.write(json.dumps(synthetic_row(index, rng), ensure_ascii=False) + "\n")
    return path


def naive_ingest(path: Path, out: Path) -> int:
    """The obvious implementation: json + normalize_text + Question per row, asdict hashing, frame from dicts."""
    import dataclasses
    import hashlib

    from medprefs.corpus.question import Question, questions_to_frame
    from medprefs.manifest import canonical_json, write_parquet
    from medprefs.text import normalize_text

    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        questions.append(
            Question(
                qid=row["qid"],
                year=row["year"],
                stem=normalize_text(row["stem"]),
                choices=[normalize_text(choice) for choice in row["choices"]],
                answer=row["answer"],
                answer_kind="choice" if row["choices"] else "numeric",
                points=row["points"],
                explanation=normalize_text(row["explanation"]),
                exam=row["exam"],
                has_image=row["has_image"],
                original_stem=row["stem"],
                original_choices=row["choices"],
                original_explanation=row["explanation"],
            )
        )
    digest = hashlib.sha256()
    for question in sorted(questions, key=lambda q: q.qid):
        digest.update(canonical_json({k: v for k, v in dataclasses.asdict(question).items() if k != "source"}).encode())
    write_parquet(out / "questions.parquet", questions_to_frame(questions))
    return len(questions)


def worker(kind: str, path: Path, store: Path) -> dict:
    """Runs in a fresh process, so peak memory is this path's own."""
    from medprefs.corpus import IngestConfig, collector, ingest

    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "naive":
        store.mkdir(parents=True, exist_ok=True)
        rows = naive_ingest(path, store)
    else:
        if kind == "medprefs-validator-only":
            collector.FAST_MIN = 10**12
        outcome = ingest(IngestConfig(paths=[str(path)], store=str(store), name="bench"))
        rows = outcome.accepted
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak / 1024,
        "start_rss_mib": start_rss / 1024,
    }


def run_worker(kind: str, path: Path, store: Path) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--input", str(path), "--store", str(store)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def convert(path: Path, fmt: str) -> Path:
    import polars as pl

    frame = pl.read_ndjson(path)
    target = path.with_suffix(f".{fmt}")
    if fmt == "parquet":
        frame.write_parquet(target)
    else:  # CSV cells: lists as JSON arrays
        lists = [
            pl.col(name).map_elements(lambda v: json.dumps(v.to_list(), ensure_ascii=False), return_dtype=pl.String)
            for name in ("choices", "answer")
        ]
        frame.with_columns(lists).write_csv(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic questions to ingest (default 100000)")
    parser.add_argument("--formats", default="jsonl", help="comma-separated input formats to time: jsonl,csv,parquet")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.input, args.store)))
        return

    from rich.table import Table

    from medprefs.console import console

    load_before = os.getloadavg()[0]  # the machine is shared: a figure means little without the load beside it
    with tempfile.TemporaryDirectory() as folder:
        source = write_input(Path(folder), args.rows)
        runs = {
            "naive (json + normalize_text + dataclass, per row)": run_worker("naive", source, Path(folder) / "naive")
        }
        runs["medprefs ingest, validator only (jsonl)"] = run_worker(
            "medprefs-validator-only", source, Path(folder) / "v"
        )
        for fmt in args.formats.split(","):
            path = source if fmt == "jsonl" else convert(source, fmt)
            runs[f"medprefs ingest ({fmt})"] = run_worker("medprefs", path, Path(folder) / f"s-{fmt}")
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    baseline = runs["naive (json + normalize_text + dataclass, per row)"]
    table = Table(
        title=f"ingest {args.rows:,} synthetic questions (read, validate, normalise, hash, store)",
        caption=f"{os.cpu_count()} cores; 1-minute load average {load[0]} before, {load[1]} after",
    )
    for column in ("path", "rows/s", "x naive", "CPU s", "rows/CPU-s", "peak RSS MiB"):
        table.add_column(column, justify="right" if column != "path" else "left")
    figures = {}
    for name, run in runs.items():
        rate = run["rows"] / run["seconds"]
        table.add_row(
            name,
            f"{rate:,.0f}",
            f"{rate / (baseline['rows'] / baseline['seconds']):.2f}",
            f"{run['cpu_seconds']:.2f}",
            f"{run['rows'] / run['cpu_seconds']:,.0f}",
            f"{run['peak_rss_mib']:.0f}",
        )
        figures[name] = {
            "rows_per_s": round(rate),
            "cpu_s": round(run["cpu_seconds"], 2),
            "rows_per_cpu_s": round(run["rows"] / run["cpu_seconds"]),
            "peak_rss_mib": round(run["peak_rss_mib"]),
        }
    console.print(table)
    main_run = runs["medprefs ingest (jsonl)"] if "medprefs ingest (jsonl)" in runs else next(iter(runs.values()))
    rate = main_run["rows"] / main_run["seconds"]
    summary = {
        "rows": args.rows,
        "rows_per_s": round(rate),
        "peak_rss_mib": round(main_run["peak_rss_mib"]),
        "speedup_vs_naive": round(rate / (baseline["rows"] / baseline["seconds"]), 2),
        "target_rows_per_s": 50_000,
        "cores": os.cpu_count(),
        "load_avg_before_after": load,
        "paths": figures,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
