"""An ordered map over a few threads: polars releases the GIL, so blocks of rows run on every core."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import polars as pl

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_WORKERS = 4  # each worker holds a block in memory; more than a few only adds memory


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
    """`map(function, items)` with up to one call per polars thread running at once; results come in order, and
    at most one item more than the number of workers is read ahead, so memory stays bounded."""
    workers = max(1, min(MAX_WORKERS, pl.thread_pool_size()))
    if workers == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Result]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
