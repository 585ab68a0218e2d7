"""Benchmark the leakage scan: 1,000,000 synthetic ~300-character training passages against 2,000 eval questions.

The baseline, measured in the same run on a subset, is datasketch.MinHashLSH (128 permutations, character 5-grams).
Planted near-duplicates (verbatim, width-changed, re-punctuated, two characters changed with choices shuffled) are
embedded in passages; recall on them must be 100%. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import unicodedata

import numpy as np
from rich.table import Table

from medprefs.console import console
from medprefs.corpus.question import Question
from medprefs.leakage import LeakageConfig, scan

KINDS = ("verbatim", "width", "punctuation", "two_chars_shuffled")
PARTICLES = [
    "の",
    "を",
    "に",
    "は",
    "が",
    "と",
    "で",
    "から",
    "した。",
    "する。",
    "を認める。",
    "、",
    "。",
    "および",
    "である。",
    "による",
    "について",
    "では",
    "された。",
    "ため",
    "も",
    "や",
    "へ",
    "より",
    "を示す。",
]
UNITS = ["mg/dL", "%", "/分", "mmHg", "℃", "U/L", "万", "mEq/L", "g/dL", "歳"]


class Vocabulary:
    """Synthetic exam-like words (kanji compounds, katakana terms, numbers with units) and particles.

    Content words follow a Zipf law over a long tail; particles make up about a third of the tokens, as in
    Japanese prose. Sampling is one table lookup per token, so a million passages take seconds.
    """

    def __init__(self, rng: np.random.Generator, size: int = 40_000, table_bits: int = 22):
        kanji = rng.choice(np.arange(0x4E00, 0x9FA6), 3000, replace=False)
        katakana = np.arange(0x30A1, 0x30F7)
        n_kanji, n_kata = size * 3 // 4, size // 6
        words = ["".join(map(chr, w)) for w in _random_words(rng, kanji, n_kanji, 2, 5)]
        words += ["".join(map(chr, w)) for w in _random_words(rng, katakana, n_kata, 3, 8)]
        numbers = rng.integers(1, 400, size - n_kanji - n_kata)
        words += [f"{v} {UNITS[i % len(UNITS)]}" for i, v in enumerate(numbers.tolist())]
        self.words = PARTICLES + words
        content = 1.0 / (np.arange(len(words)) + 50.0)
        particle = np.full(len(PARTICLES), content.sum() * 0.5 / len(PARTICLES))  # particles: 1/3 of tokens
        weights = np.concatenate((particle, content))
        counts = np.maximum(1, np.round(weights / weights.sum() * (1 << table_bits))).astype(np.int64)
        self.table = np.repeat(np.arange(len(self.words), dtype=np.int32), counts)
        codes = [np.frombuffer(w.encode("utf-32-le"), dtype=np.uint32) for w in self.words]
        self.lengths = np.array([len(c) for c in codes], dtype=np.int32)
        self.offsets = (np.cumsum(self.lengths) - self.lengths).astype(np.int32)
        self.codes = np.concatenate(codes)

    def tokens(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return self.table[rng.integers(0, len(self.table), count)]

    def text(self, rng: np.random.Generator, n_tokens: int) -> str:
        return self.decode(self.tokens(rng, n_tokens))

    def decode(self, tokens: np.ndarray) -> str:
        lengths = self.lengths[tokens]
        ends = np.cumsum(lengths, dtype=np.int64)
        inner = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) - np.repeat(ends - lengths, lengths)
        return self.codes[np.repeat(self.offsets[tokens], lengths) + inner].tobytes().decode("utf-32-le")


def _random_words(rng: np.random.Generator, alphabet: np.ndarray, count: int, low: int, high: int) -> list[np.ndarray]:
    lengths = rng.integers(low, high + 1, count)
    letters = rng.choice(alphabet, int(lengths.sum()))
    return np.split(letters, np.cumsum(lengths)[:-1])


def make_passages(vocab: Vocabulary, rng: np.random.Generator, count: int, stream_chars: int = 12_000_000) -> list[str]:
    """`count` passages of 250-350 characters: random windows of one synthetic token stream (generating every
    passage from its own tokens would take longer than scanning them)."""
    chars_per_token = float(vocab.lengths[vocab.table].mean())
    block = 1_000_000
    stream = "".join(vocab.text(rng, int(block / chars_per_token)) for _ in range(stream_chars // block))
    lengths = rng.integers(250, 351, count)
    starts = rng.integers(0, len(stream) - 351, count)
    return [stream[a : a + n] for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)]


def make_eval(vocab: Vocabulary, rng: np.random.Generator, count: int) -> list[Question]:
    """Vignette-like stems (age, sex, 25-70 tokens, a stock ending) with five choices of 1-3 tokens."""
    endings = [
        "最も考えられるのはどれか。",
        "正しいのはどれか。",
        "適切なのはどれか。2つ選べ。",
        "まず行うべきなのはどれか。",
    ]
    questions = []
    for number in range(count):
        stem = f"{rng.integers(18, 90)}歳の{'男性' if rng.random() < 0.5 else '女性'}。"
        stem += vocab.text(rng, int(rng.integers(25, 70))) + endings[number % len(endings)]
        choices = [vocab.text(rng, int(rng.integers(1, 4))) for _ in range(5)]
        questions.append(
            Question(qid=f"E{number:04d}", year=2018 + number % 5, stem=stem, choices=choices, answer=["a"])
        )
    return questions


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def plant(question: Question, kind: str, rng: np.random.Generator) -> str:
    """The question as a CPT passage would quote it, edited the way `kind` says."""
    stem, choices = question.stem, list(question.choices)
    if kind == "two_chars_shuffled":
        chars = list(stem)
        for position in rng.choice(len(chars), 2, replace=False):
            chars[position] = chr(int(rng.integers(0x4E00, 0x9FA6)))
        stem, choices = "".join(chars), [choices[i] for i in rng.permutation(len(choices))]
    body = stem + " " + " ".join(f"{letter} {choice}" for letter, choice in zip("abcde", choices, strict=False))
    if kind == "width":
        body = _full_width(body)
    elif kind == "punctuation":
        body = body.replace("。", "．").replace("、", "，").replace(" ", "　") + "】"
    return body


def embed(passages: list[str], questions: list[Question], count: int, rng: np.random.Generator) -> dict[int, str]:
    """Replace `count` passages by context + a planted question + context; returns passage index -> eval qid."""
    slots = rng.choice(len(passages), count, replace=False)
    planted = {}
    for number, slot in enumerate(slots.tolist()):
        question = questions[int(rng.integers(len(questions)))]
        quoted = plant(question, KINDS[number % len(KINDS)], rng)
        passages[slot] = passages[slot][:80] + quoted + passages[(slot + 1) % len(passages)][:80]
        planted[slot] = question.qid
    return planted


def minhash_baseline(passages: list[str], questions: list[Question], planted: dict[int, str], sample: list[int]):
    """datasketch MinHashLSH over character 5-grams of NFKC lower-cased text; returns (passages/s, recall)."""
    from datasketch import MinHash, MinHashLSH

    def signature(text: str) -> MinHash:
        text = unicodedata.normalize("NFKC", text).lower()
        minhash = MinHash(num_perm=128)
        minhash.update_batch([text[i : i + 5].encode("utf-8") for i in range(max(1, len(text) - 4))])
        return minhash

    lsh = MinHashLSH(threshold=0.5, num_perm=128)
    for question in questions:
        lsh.insert(question.qid, signature(question.stem + "".join(sorted(question.choices))))
    started = time.perf_counter()
    hits = {slot: set(lsh.query(signature(passages[slot]))) for slot in sample}
    rate = len(sample) / (time.perf_counter() - started)
    found = [planted[slot] in hits[slot] for slot in sample if slot in planted]
    return rate, (sum(found) / len(found) if found else float("nan"))


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--eval", type=int, default=2000)
    parser.add_argument("--planted", type=int, default=200)
    parser.add_argument("--baseline-sample", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    started = time.perf_counter()
    vocab = Vocabulary(rng)
    questions = make_eval(vocab, rng, args.eval)
    passages = make_passages(vocab, rng, args.passages)
    planted = embed(passages, questions, args.planted, rng)
    generation_s = time.perf_counter() - started
    chars = sum(map(len, passages))

    sample = sorted(set(rng.choice(len(passages), args.baseline_sample, replace=False).tolist()) | set(planted))
    baseline_rate, baseline_recall = minhash_baseline(passages, questions, planted, sample)

    started = time.perf_counter()
    report = scan(passages, questions, LeakageConfig(workers=args.workers), show_progress=True)
    scan_s = time.perf_counter() - started
    flagged = {(int(f.train_qid[1:]), f.eval_qid) for f in report.flagged}
    caught = sum((slot, qid) in flagged for slot, qid in planted.items())
    false_flags = len({slot for slot, _ in flagged} - set(planted))
    rate = len(passages) / scan_s

    table = Table(
        title=f"leakage scan: {len(passages):,} passages ({chars / 1e6:.0f}M chars) vs {len(questions):,} eval",
        caption="baseline: datasketch MinHashLSH, 128 permutations, character 5-grams, threshold 0.5, on a subset",
    )
    for column in ("method", "passages", "passages/s", "vs baseline", "recall", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        "datasketch",
        f"{len(sample):,}",
        f"{baseline_rate:,.0f}",
        "1.0x",
        f"{baseline_recall:.0%}",
        f"{len(sample) / baseline_rate:.1f}",
    )
    table.add_row(
        f"medprefs x{args.workers}",
        f"{len(passages):,}",
        f"{rate:,.0f}",
        f"{rate / baseline_rate:.1f}x",
        f"{caught / len(planted):.0%}",
        f"{scan_s:.1f}",
    )
    console.print(table)
    console.print(
        f"generation {generation_s:.1f} s (not timed in the scan); peak memory {peak_mib():,.0f} MiB; "
        f"non-planted passages flagged: {false_flags}"
    )
    print(
        json.dumps(
            {
                "passages": len(passages),
                "eval_questions": len(questions),
                "characters": chars,
                "scan_seconds": round(scan_s, 2),
                "passages_per_s": round(rate),
                "baseline_passages_per_s": round(baseline_rate),
                "speedup_vs_baseline": round(rate / baseline_rate, 1),
                "planted": len(planted),
                "planted_recall": caught / len(planted),
                "baseline_planted_recall": baseline_recall,
                "false_flags": false_flags,
                "peak_memory_mib": round(peak_mib()),
                "generation_seconds": round(generation_s, 1),
                "workers": args.workers,
            }
        )
    )


if __name__ == "__main__":
    main()
