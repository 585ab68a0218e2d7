"""Which question goes in which shard file, which process samples it, its prompt, and the seeds: all deterministic."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError
from medprefs.manifest import canonical_json, sha256_bytes
from medprefs.prompts import PromptTemplate, build_prompt, can_be_exemplar, choose_exemplars


@dataclass(frozen=True)
class PromptJob:
    """One question to sample: its exact prompt and the seed of its responses."""

    qid: str
    prompt: str
    seed: int


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from the run seed and what is being sampled; independent of order, process and resume point."""
    digest = hashlib.sha256(canonical_json([seed, *map(str, parts)]).encode("utf-8")).digest()
    # 31 bits: vLLM gives the k-th of n samples the seed + k, and some generators take only 32-bit seeds.
    return int.from_bytes(digest[:4], "big") & (2**31 - 1)


def sort_questions(questions: list[Question]) -> list[Question]:
    """Questions in qid order (the input order must not change the shards); duplicate qids are an error."""
    ordered = sorted(questions, key=lambda q: q.qid)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.qid == after.qid:
            raise MedprefsError(f"question {before.qid} appears twice in the sampling input")
    return ordered


def shard_chunks(questions: list[Question], questions_per_shard: int) -> list[list[Question]]:
    """Global shard k holds sorted questions [k*q, (k+1)*q): its file name is the same whichever process writes it."""
    return [questions[i : i + questions_per_shard] for i in range(0, len(questions), questions_per_shard)]


def assigned_shards(total: int, shard: tuple[int, int]) -> list[int]:
    """Shard files process I of N writes: every N-th, so the N processes get equal work and never overlap."""
    index, count = shard
    return list(range(index, total, count))


def content_sha256(questions: list[Question]) -> str:
    """Hash of what a prompt is made from (everything but the source location), in qid order."""
    rows = [{k: v for k, v in q.to_row().items() if k != "source"} for q in sorted(questions, key=lambda q: q.qid)]
    return sha256_bytes(canonical_json(rows).encode("utf-8"))


def check_shots(questions: list[Question], pool: list[Question], shots: int) -> None:
    """Refuse `shots` larger than the exemplars any question can get (choose_exemplars' candidates: the pool's
    explained questions but itself), before a manifest is written: found mid-run, it left a folder that a rerun with
    fewer shots refused as another run."""
    if not shots or not questions:
        return
    explained = {q.qid for q in pool if can_be_exemplar(q)}
    fewest = min(len(explained) - (q.qid in explained) for q in questions)
    if shots > fewest:
        raise MedprefsError(
            f"sample.shots {shots}: only {fewest} exemplars with explanations available per question "
            f"(pool of {len(pool)} questions, {len(explained)} explained)"
        )


def build_jobs(
    questions: list[Question], pool: list[Question], template: PromptTemplate, shots: int, seed: int
) -> list[PromptJob]:
    """The prompt of each question with `shots` exemplars from the pool (never itself), chosen from the seed."""
    jobs = []
    for question in questions:
        exemplars = choose_exemplars(pool, question.qid, shots, seed) if shots else []
        jobs.append(
            PromptJob(
                qid=question.qid,
                prompt=build_prompt(template, question, exemplars),
                seed=derive_seed(seed, question.qid),
            )
        )
    return jobs


def length_batches(jobs: list[PromptJob], size: int | None) -> Iterator[list[PromptJob]]:
    """A shard's jobs in batches of `size` prompts of similar length (by characters, then qid: the same batches on
    every run and resume). A left-padded batch attends over its longest prompt for every row, so batching prompts
    in qid order wastes a fifth of the decoding attention on the sample's 3-shot prompts (650 to 1,050 tokens)."""
    ordered = sorted(jobs, key=lambda job: (len(job.prompt), job.qid))
    size = size or len(ordered)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]
