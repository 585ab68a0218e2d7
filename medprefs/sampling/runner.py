"""run_sampling: plan the shards, resume what is done, sample the rest shard by shard with a progress bar."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medprefs.console import progress
from medprefs.corpus.question import Question
from medprefs.errors import MedprefsError, require
from medprefs.prompts import PromptTemplate, choose_exemplars, load_template
from medprefs.sampling.backends import SamplingBackend, make_backend
from medprefs.sampling.backends.vllm_backend import MISSING as VLLM_MISSING
from medprefs.sampling.config import SampleConfig, check_shard
from medprefs.sampling.plan import (
    assigned_shards,
    build_jobs,
    check_shots,
    content_sha256,
    length_batches,
    shard_chunks,
    sort_questions,
)
from medprefs.sampling.provenance import resolve_model
from medprefs.sampling.record import open_run, record_shard, run_identity
from medprefs.sampling.store import (
    LOCK_FILE,
    check_shard_file,
    remove_temporary_files,
    shard_path,
    shard_record,
    write_shard,
)

Advance = Callable[[int, int, int], None]  # (questions, responses, tokens) just finished


@dataclass
class SamplingResult:
    out_dir: Path
    manifest: dict[str, Any]
    shards_assigned: int
    shards_written: int
    shards_skipped: int
    responses_written: int
    tokens_written: int
    seconds: float

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])


@dataclass
class ShardWork:
    """One shard file to sample: its index and questions (what a worker process needs, and nothing else)."""

    index: int
    questions: list[Question]


def run_sampling(
    questions: list[Question],
    exemplar_pool: list[Question],
    model_path: str,
    config: SampleConfig,
    out_dir: Path,
    corpus_version: str,
    shard: tuple[int, int] = (0, 1),
) -> SamplingResult:
    """Sample `config.n` responses per question into `out_dir`, resuming a previous run of the same command."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    check_shard(shard)
    require(bool(questions), "no questions to sample")
    require_backend(config)
    template = load_template("explain")
    ordered = sort_questions(questions)
    pool = sorted(exemplar_pool, key=lambda q: q.qid)
    check_shots(ordered, pool, config.shots)
    chunks = shard_chunks(ordered, config.questions_per_shard)
    model = resolve_model(model_path)
    identity = run_identity(
        model=model,
        config=config,
        template=template,
        corpus_version=corpus_version,
        questions={"count": len(ordered), "sha256": content_sha256(ordered)},
        exemplar_pool={"count": len(pool), "sha256": content_sha256(pool)},
        shards_total=len(chunks),
    )
    assigned = assigned_shards(len(chunks), shard)
    with run_lock(out_dir):
        manifest = open_run(out_dir, identity, model=model, config=config, shard=shard, assigned=assigned)
        remove_temporary_files(out_dir)
        pending = _pending(out_dir, manifest, assigned, chunks, pool, config)
        written = ResponsesCount()
        if pending:
            todo = sum(len(chunks[k]) for k in assigned)
            with _Progress(todo, todo - sum(len(work.questions) for work in pending)) as bar:
                for work, rows in _sampler(config, pending)(
                    pending, pool, template, str(model.path), config, out_dir, bar.advance
                ):
                    record = (
                        write_shard(out_dir, work.index, rows)
                        if rows is not None
                        else _read_record(out_dir, work, config)
                    )
                    record["exemplars"] = _exemplars(work.questions, pool, config)
                    # The top-level layout is this run's only (a resume may use other hardware); each shard keeps its own.
                    record["layout"] = dict(manifest["layout"])
                    record_shard(out_dir, manifest, work.index, record)
                    written.add(record)
    return SamplingResult(
        out_dir=out_dir,
        manifest=manifest,
        shards_assigned=len(assigned),
        shards_written=len(pending),
        shards_skipped=len(assigned) - len(pending),
        responses_written=written.responses,
        tokens_written=written.tokens,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """One sampling process per folder at a time; the kernel drops the lock when the holder dies, even by SIGKILL."""
    import fcntl

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MedprefsError(f"{out_dir}: another sampling run is writing here") from None
        yield


def _sampler(config: SampleConfig, pending: list[ShardWork]):
    return _sample_in_workers if config.data_parallel_size > 1 and len(pending) > 1 else _sample_here


def require_backend(config: SampleConfig) -> None:
    """Fail before anything is written when the chosen backend cannot be imported."""
    if config.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise MedprefsError(VLLM_MISSING)


def _pending(
    out_dir: Path,
    manifest: dict[str, Any],
    assigned: list[int],
    chunks: list[list[Question]],
    pool: list[Question],
    config: SampleConfig,
) -> list[ShardWork]:
    """Shards still to sample. A shard file already on disk is complete (it was renamed into place whole); one the
    manifest does not list yet (killed between the two writes) is checked and recorded now."""
    pending = []
    for index in assigned:
        path = shard_path(out_dir, index)
        if f"{index:05d}" in manifest["completed"] and path.is_file():
            continue
        if path.is_file():
            frame = check_shard_file(path, [q.qid for q in chunks[index]], config.n)
            record = shard_record(path, frame)
            record["exemplars"] = _exemplars(chunks[index], pool, config)
            record_shard(out_dir, manifest, index, record)
            continue
        manifest["completed"].pop(f"{index:05d}", None)  # listed but its file is gone: sample it again
        pending.append(ShardWork(index, chunks[index]))
    return pending


def sample_shard(
    backend: SamplingBackend,
    work: ShardWork,
    pool: list[Question],
    template: PromptTemplate,
    config: SampleConfig,
    advance: Advance,
) -> list[dict[str, Any]]:
    """All responses of one shard, in qid order, sampled in fixed batches (the batches are part of what makes a resumed
    shard identical)."""
    jobs = build_jobs(work.questions, pool, template, config.shots, config.seed)
    rows_by_qid: dict[str, list[dict[str, Any]]] = {}
    for batch in length_batches(jobs, backend.jobs_per_call):
        completions = backend.generate(batch)
        for job, responses in zip(batch, completions, strict=True):
            # A backend that returns fewer than n would otherwise be written, and recorded complete, short.
            if len(responses) != config.n:
                raise MedprefsError(
                    f"{backend.name} backend returned {len(responses)} responses for {job.qid}, expected n={config.n}"
                )
            rows_by_qid[job.qid] = [
                {
                    "qid": job.qid,
                    "sample_idx": sample_idx,
                    "prompt": job.prompt,
                    "text": completion.text,
                    "finish_reason": completion.finish_reason,
                    "n_tokens": completion.n_tokens,
                }
                for sample_idx, completion in enumerate(responses)
            ]
        advance(len(batch), sum(len(r) for r in completions), sum(c.n_tokens for r in completions for c in r))
    return [row for job in jobs for row in rows_by_qid[job.qid]]


def _sample_here(
    pending: list[ShardWork],
    pool: list[Question],
    template: PromptTemplate,
    model_path: str,
    config: SampleConfig,
    out_dir: Path,
    advance: Advance,
) -> Iterator[tuple[ShardWork, list[dict[str, Any]] | None]]:
    """Sample in this process; yields each shard's rows for the caller to write."""
    backend = make_backend(model_path, config)
    try:
        for work in pending:
            yield work, sample_shard(backend, work, pool, template, config, advance)
    finally:
        backend.close()


def _sample_in_workers(
    pending: list[ShardWork],
    pool: list[Question],
    template: PromptTemplate,
    model_path: str,
    config: SampleConfig,
    out_dir: Path,
    advance: Advance,
) -> Iterator[tuple[ShardWork, None]]:
    """Sample in `data_parallel_size` processes, which write the shard files themselves."""
    from medprefs.sampling.workers import sample_in_workers

    yield from sample_in_workers(pending, pool, template, model_path, config, out_dir, advance)


def _read_record(out_dir: Path, work: ShardWork, config: SampleConfig) -> dict[str, Any]:
    """A shard a worker process wrote: check it and describe it."""
    path = shard_path(out_dir, work.index)
    return shard_record(path, check_shard_file(path, [q.qid for q in work.questions], config.n))


def _exemplars(questions: list[Question], pool: list[Question], config: SampleConfig) -> dict[str, list[str]]:
    """The exemplar qids in each question's prompt (recorded per shard in the manifest)."""
    if not config.shots:
        return {q.qid: [] for q in questions}
    return {q.qid: [e.qid for e in choose_exemplars(pool, q.qid, config.shots, config.seed)] for q in questions}


class ResponsesCount:
    def __init__(self) -> None:
        self.responses = 0
        self.tokens = 0

    def add(self, record: dict[str, Any]) -> None:
        self.responses += record["rows"]
        self.tokens += record["tokens"]


class _Progress:
    """Questions done, with responses/s and tokens/s over this run so far."""

    def __init__(self, total: int, done: int):
        from rich.progress import TextColumn

        self.bar = progress(
            TextColumn("{task.fields[responses_rate]:.1f} resp/s"), TextColumn("{task.fields[tokens_rate]:.0f} tok/s")
        )
        self.task = self.bar.add_task("sampling", total=total, completed=done, responses_rate=0.0, tokens_rate=0.0)
        self.responses = 0
        self.tokens = 0
        self.started = time.perf_counter()

    def advance(self, questions: int, responses: int, tokens: int) -> None:
        self.responses += responses
        self.tokens += tokens
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.update(
            self.task, advance=questions, responses_rate=self.responses / elapsed, tokens_rate=self.tokens / elapsed
        )

    def __enter__(self) -> _Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
