"""Benchmark: label, pair and write 1,000,000 synthetic responses over 20,000 questions (target: under 30 s)."""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from medprefs.answers import extract_answer, grade, read_bare, read_labelled, read_prose
from medprefs.corpus.question import Question
from medprefs.labeling import label_responses, write_labels
from medprefs.pairs import PairsConfig, build_pairs, write_pairs
from medprefs.prompts import completion_text
from medprefs.text import normalize_text

SENTENCES = [
    "{n}歳の男性。発熱と咳嗽を主訴に来院した。", "胸部エックス線写真で右下肺野に浸潤影を認める。",
    "市中肺炎の起炎菌として肺炎球菌が最も多い。", "選択肢{l}は頻度が低く、本症例の経過に合わない。",
    "血液検査で白血球数{n}00/μL、CRP {n}.2 mg/dLである。", "（{l}）は誤りである。",
    "正解は{l}と考えがちだが、病歴から否定される。", "aとbは慢性経過の疾患であり除外できる。",
    "ＳｐＯ２ {n}％（room air）で酸素投与を開始する。", "治療は抗菌薬の投与であり、{l}は適応とならない。",
    "本問は頻出の知識を問う。", "身体所見では呼吸音の減弱を聴取する。",
]
FORMATS = ["答え: {a}", "答え: {a}", "答え: {a}", "答え：{a}", "答えは{a}です。", "**答え:** {a}", "答え: ({a})"]


def make_questions(n: int, rng: random.Random) -> list[Question]:
    questions = []
    for i in range(n):
        numeric = i % 20 == 0
        answer = [str(rng.randint(10, 99))] if numeric else sorted(rng.sample("abcde", 2 if i % 10 == 1 else 1))
        questions.append(Question(
            qid=f"{95 + i % 23}{'ABCDEF'[i % 6]}{i:05d}", year=2001 + i % 23, stem=f"問題{i}", answer=answer,
            choices=[] if numeric else ["選択肢"] * 5, answer_kind="numeric" if numeric else "choice",
            points=0 if i % 200 == 7 else 1, explanation=None if i % 20 == 3 else "".join(
                s.format(n=i % 90 + 10, l="c") for s in rng.sample(SENTENCES, 3)),
        ))
    return questions


def response_text(q: Question, rng: random.Random, previous: list[str]) -> str:
    roll = rng.random()
    if previous and roll < 0.02:
        return rng.choice(previous)  # an exact repeat: deduplicated
    body = "".join(s.format(n=rng.randint(10, 99), l=rng.choice("abcde")) for s in rng.sample(SENTENCES, rng.randint(1, 4)))
    if roll < 0.05:
        return " " + body  # truncated: unparseable
    if q.answer_kind == "numeric":
        answer = q.answer[0] if roll < 0.6 else str(rng.randint(10, 99))
    elif roll < 0.06:
        answer = "aまたはc"
    else:
        answer = ",".join(q.answer) if roll < 0.6 else rng.choice("abcde")
    return f" {body}\n{rng.choice(FORMATS).format(a=answer)}"


def make_responses(questions: list[Question], per_question: int, seed: int, prompt_chars: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    qids, idxs, prompts, texts = [], [], [], []
    shots = ("問題: 例題。\n解説: " + "".join(SENTENCES) + "\n答え: c\n") * (1 + prompt_chars // 300)
    for q in questions:
        prompt = shots[:prompt_chars] + f"問題: {q.stem}\n" + "".join(f"{x}: 選択肢\n" for x in q.letters) + "解説:"
        previous: list[str] = []
        for j in range(per_question):
            previous.append(response_text(q, rng, previous))
            qids.append(q.qid)
            idxs.append(j)
            prompts.append(prompt)
        texts.extend(previous)
    return pl.DataFrame({"qid": qids, "sample_idx": idxs, "prompt": prompts, "text": texts,
                         "finish_reason": "stop", "n_tokens": 100})


def naive_label(responses: pl.DataFrame, by_qid: dict[str, Question]) -> list[tuple]:
    """The baseline: one Python call per row (caches emptied first, so it gains nothing from the timed run)."""
    for reader in (read_labelled, read_prose, read_bare):
        reader.cache_clear()
    out = []
    for qid, idx, text in responses.select("qid", "sample_idx", "text").iter_rows():
        extraction = extract_answer(text, by_qid[qid])
        out.append((qid, idx, extraction.value, extraction.status, grade(extraction, by_qid[qid])))
    return out


def naive_pairs(labelled: list[tuple], texts: list[str], by_qid: dict[str, Question], k: int) -> int:
    """The baseline: per-row normalisation and dict-of-lists grouping, then the same capped draws."""
    pools: dict[str, dict[str, list[str]]] = {}
    seen: set[tuple[str, str]] = set()
    for (qid, _, _, _status, correct), text in zip(labelled, texts, strict=True):
        key = normalize_text(text)
        if (qid, key) in seen or by_qid[qid].excluded:
            continue
        seen.add((qid, key))
        pools.setdefault(qid, {"chosen": [], "rejected": []})["chosen" if correct else "rejected"].append(text)
    n = 0
    for qid, pool in pools.items():
        rng = random.Random(qid)
        n += min(k, len(pool["chosen"]) * len(pool["rejected"]))
        if by_qid[qid].explanation:
            gt = completion_text(by_qid[qid].explanation, by_qid[qid].gold_text())
            n += len(rng.sample(pool["chosen"], min(k, len(pool["chosen"])))) + min(k, len(pool["rejected"]))
            n -= sum(normalize_text(t) == normalize_text(gt) for t in pool["chosen"][:k])
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=20_000)
    parser.add_argument("--per-question", type=int, default=50)
    parser.add_argument("--baseline-questions", type=int, default=400, help="subset the naive loop runs on")
    parser.add_argument("--prompt-chars", type=int, default=0,
                        help="pad each prompt with this many characters of demonstrations (real 3-shot: ~1500)")
    args = parser.parse_args()
    console = Console(stderr=True)
    n_rows = args.questions * args.per_question

    start = time.perf_counter()
    questions = make_questions(args.questions, random.Random(0))
    responses = make_responses(questions, args.per_question, seed=1, prompt_chars=args.prompt_chars)
    generate_s = time.perf_counter() - start

    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        labels = label_responses(responses, questions, show_progress=False)
        steps["label"] = time.perf_counter() - t
        t = time.perf_counter()
        result = build_pairs(questions, responses, labels, PairsConfig())
        steps["pairs"] = time.perf_counter() - t
        t = time.perf_counter()
        write_labels(labels, Path(tmp) / "labels", {})
        write_pairs(result, Path(tmp) / "pairs", {}, None)
        steps["write"] = time.perf_counter() - t
    total = sum(steps.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    subset_qids = {q.qid for q in questions[: args.baseline_questions]}
    subset = responses.filter(pl.col("qid").is_in(list(subset_qids)))
    by_qid = {q.qid: q for q in questions}
    t = time.perf_counter()
    labelled = naive_label(subset, by_qid)
    naive_label_s = (time.perf_counter() - t) * n_rows / len(subset)
    t = time.perf_counter()
    naive_pairs(labelled, subset["text"].to_list(), by_qid, 4)
    naive_pairs_s = (time.perf_counter() - t) * n_rows / len(subset)

    table = Table(title=f"bench_pairs: {n_rows:,} responses, {args.questions:,} questions")
    for column in ("step", "seconds", "naive loop (extrapolated)", "speed-up"):
        table.add_column(column, justify="right")
    table.add_row("label", f"{steps['label']:.2f}", f"{naive_label_s:.2f}", f"{naive_label_s / steps['label']:.1f}x")
    table.add_row("pairs", f"{steps['pairs']:.2f}", f"{naive_pairs_s:.2f}", f"{naive_pairs_s / steps['pairs']:.1f}x")
    table.add_row("write", f"{steps['write']:.2f}", "", "")
    table.add_row("total", f"{total:.2f}", f"{naive_label_s + naive_pairs_s:.2f}",
                  f"{(naive_label_s + naive_pairs_s) / (steps['label'] + steps['pairs']):.1f}x (label+pairs)")
    console.print(table)
    console.print(f"generated in {generate_s:.1f} s (not timed); peak RSS {peak_mb:,.0f} MB; "
                  f"{result.counts['pairs']:,} pairs; statuses {labels['status'].value_counts().rows()}")
    figures = {
        "responses": n_rows, "questions": args.questions, "prompt_chars": args.prompt_chars, "label_s": round(steps["label"], 3),
        "pairs_s": round(steps["pairs"], 3), "write_s": round(steps["write"], 3), "total_s": round(total, 3),
        "target_s": 30, "within_target": total < 30, "peak_rss_mb": round(peak_mb),
        "pairs": result.counts["pairs"], "baseline_rows": len(subset),
        "naive_label_s_extrapolated": round(naive_label_s, 2), "naive_pairs_s_extrapolated": round(naive_pairs_s, 2),
        "label_speedup": round(naive_label_s / steps["label"], 2), "pairs_speedup": round(naive_pairs_s / steps["pairs"], 2),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
