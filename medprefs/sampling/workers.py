"""Data parallelism: one worker process per model replica, each writing whole shard files; the parent keeps the manifest.

vLLM 0.33 refuses `LLM(data_parallel_size>1)` in one process and points to one engine per process; this is that,
with each worker pinned to its own `tensor_parallel_size` GPUs through CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Iterator
from pathlib import Path

from medprefs.errors import MedprefsError

POLL_SECONDS = 0.5


def gpu_groups(replicas: int, per_replica: int) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each worker, or None for each when no GPU is visible (CPU workers)."""
    import torch

    if not torch.cuda.is_available():
        return [None] * replicas
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
    needed = replicas * per_replica
    if len(devices) < needed:
        raise MedprefsError(
            f"data_parallel_size {replicas} x tensor_parallel_size {per_replica} needs {needed} GPUs, {len(devices)} visible"
        )
    return [",".join(devices[r * per_replica : (r + 1) * per_replica]) for r in range(replicas)]


def sample_in_workers(pending, pool, template, model_path: str, config, out_dir: Path, advance) -> Iterator[tuple]:
    """Deal the pending shards round-robin to `data_parallel_size` workers; yield (shard, None) as each file lands."""
    replicas = min(config.data_parallel_size, len(pending))
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn also reads the env we set below
    events = context.Queue()
    processes = []
    for rank, devices in enumerate(gpu_groups(replicas, config.tensor_parallel_size)):
        process = context.Process(
            target=_worker,
            args=(pending[rank::replicas], pool, template, model_path, config, str(out_dir), replicas, devices, events),
            daemon=True,
        )
        processes.append(process)
        process.start()
    by_index = {work.index: work for work in pending}
    try:
        remaining = len(pending)
        while remaining:
            try:
                event = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _raise_if_failed(processes)
                continue
            if event[0] == "progress":
                advance(*event[1:])
            elif event[0] == "shard":
                remaining -= 1
                yield by_index[event[1]], None
            else:
                raise MedprefsError(f"sampling worker failed: {event[1]}")
    finally:  # on an error (or an interrupt) stop the other workers rather than leave them sampling
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)


def _raise_if_failed(processes) -> None:
    for process in processes:
        if process.exitcode not in (None, 0):
            raise MedprefsError(f"sampling worker {process.pid} died with exit status {process.exitcode}")


def _worker(works, pool, template, model_path, config, out_dir, replicas, devices, events) -> None:
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before torch or vllm touches CUDA in this process
    try:
        import torch

        from medprefs.sampling.backends import make_backend
        from medprefs.sampling.runner import sample_shard
        from medprefs.sampling.store import write_shard

        if devices is None:  # CPU workers share the cores instead of each taking all of them
            torch.set_num_threads(max(1, torch.get_num_threads() // replicas))
        backend = make_backend(model_path, config)
        for work in works:
            rows = sample_shard(
                backend, work, pool, template, config, lambda *counts: events.put(("progress", *counts))
            )
            write_shard(Path(out_dir), work.index, rows)
            events.put(("shard", work.index))
        backend.close()
    except BaseException as error:  # noqa: BLE001  (the parent reports it as one line)
        events.put(("error", f"{type(error).__name__}: {error}"))
        raise SystemExit(1) from None
