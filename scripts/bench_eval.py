"""Scoring throughput: strict and robust scoring of N synthetic predictions; prints one JSON line at the end."""

from __future__ import annotations

import argparse
import json
import random
import time

from medprefs.corpus.question import Question
from medprefs.eval import score_predictions


def synthetic(n: int, seed: int, explain_chars: int) -> tuple[list[Question], dict[str, str]]:
    """n questions (one in ten numeric) and one distinct prediction each: half bare letters (plain mode), half an
    explanation of about `explain_chars` characters on one line followed by `答え: ...` (explain mode)."""
    rng = random.Random(seed)
    questions, predictions = [], {}
    for i in range(n):
        qid = f"{112 + i % 5}{'ABCDEF'[i % 6]}{i}"
        if i % 10 == 0:
            questions.append(Question(qid, 2018 + i % 5, f"問題{i}", [], [str(rng.randint(1, 999))], "numeric"))
            predictions[qid] = str(rng.randint(1, 999))
            continue
        answer = sorted(rng.sample("abcde", rng.choice([1, 1, 1, 2])))
        questions.append(Question(qid, 2018 + i % 5, f"問題{i}", [f"選択肢{c}" for c in "abcde"], answer, points=3))
        guess = ",".join(sorted(rng.sample("abcde", len(answer))))
        explained = f"{'所見から考える。' * (explain_chars // 8)}問{i}の解説。\n答え: {guess}"
        predictions[qid] = guess if i % 2 else explained
    return questions, predictions


def seconds(questions: list[Question], predictions: dict[str, str], mode: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        score_predictions(questions, predictions, mode)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--explain-chars", type=int, default=400, help="length of the explained predictions")
    args = parser.parse_args()
    questions, predictions = synthetic(args.n, seed=0, explain_chars=args.explain_chars)
    strict = seconds(questions, predictions, "strict", args.repeats)
    # The shared extraction caches its work per distinct answer line, so repeats can be faster than a first call:
    # report both.
    first_robust = seconds(questions, predictions, "robust", 1)
    robust = seconds(questions, predictions, "robust", args.repeats)
    print(
        json.dumps(
            {
                "n": args.n,
                "explain_chars": args.explain_chars,
                "strict_s": round(strict, 4),
                "robust_first_s": round(first_robust, 4),
                "robust_s": round(robust, 4),
                "strict_per_s": round(args.n / strict),
                "robust_first_per_s": round(args.n / first_robust),
            }
        )
    )


if __name__ == "__main__":
    main()
