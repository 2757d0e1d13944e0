"""Worker processes for steps whose work splits into independent parts: tidying chunks of a
province's submissions, writing its hundreds of list files. How many, and one way to run them.

A commune-sized run never starts a process: below `parallel_from` items everything runs in the
caller's process, where starting workers (each imports pandas) would cost more than it saves.
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow

ENV = "RASOAT_WORKERS"


def release_freed_memory() -> bool:
    """Give the memory this process has freed back to the system (glibc's `malloc_trim`; elsewhere
    nothing happens). glibc keeps freed blocks of up to 32 MB in its heap for reuse: after a
    province's tidy chunks are joined, a million households held ~1 GB of such holes, on top of
    what the next steps allocate. Arrow's own allocator (the format checks by RE2, the CSV writer)
    keeps what it freed too. Called between the review's steps; True when glibc released memory."""
    pyarrow.default_memory_pool().release_unused()
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))


def workers_for(items: int, parallel_from: int, parts: int | None = None) -> int:
    """Worker processes for `items` (submissions, households) split into `parts`: 1 below
    `parallel_from`, else the cores (at most 8 and at most `parts`).

    RASOAT_WORKERS overrides (1 = never start workers). A daemonic process (e.g. a Dask worker
    running one commune of a province) may not start children, so it always uses 1.
    """
    if multiprocessing.current_process().daemon:
        return 1
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return max(1, int(configured)) if configured.isdigit() else 1  # a typo never stops a run
    if items < parallel_from:
        return 1
    return max(1, min(os.cpu_count() or 1, 8, parts if parts is not None else 8))


@dataclass(frozen=True)
class Pool:
    """Worker processes kept for several steps' parts (see `worker_pool`)."""

    executor: ProcessPoolExecutor
    workers: int


@contextmanager
def worker_pool(workers: int, warm: str | None = None) -> Iterator[Pool | None]:
    """`workers` spawned processes for the parts of several calls of `run_parts`/`stream_parts`
    (None: run in this process). Each process imports pandas and the pipeline once, instead of once
    per file: publishing a province writes half a dozen files in parts.

    `warm`: a module the processes start importing at once, while the caller lays out the first
    parts (a process starts on its first job: without it the start, ~1.5 s, would come after)."""
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as executor:
        if warm:
            for _ in range(workers):  # each job before the first has finished starts a process
                executor.submit(importlib.import_module, warm)
        yield Pool(executor, workers)


def run_parts(fn: Callable[..., Any], jobs: Iterable[tuple], workers: int, pool: Pool | None = None) -> list:
    """`fn(*job)` for every job, in order; in `workers` processes when more than one (see `stream_parts`)."""
    return list(stream_parts(fn, jobs, workers, pool))


def stream_parts(fn: Callable[..., Any], jobs: Iterable[tuple], workers: int, pool: Pool | None = None) -> Iterator:
    """`fn(*job)` of each job, yielded in order as they finish; in `pool`'s processes when given,
    else in `workers` processes when more than one, with at most two jobs per worker handed out at
    a time, so big parts never pile up in memory. The jobs are taken from `jobs` as they are handed
    out: a generator lays out the next while the workers run the first.

    `fn` and the jobs' arguments must pickle (a module-level function, tables, paths). Processes
    are spawned, not forked: the caller may hold threads (Prefect's), which a forked child would
    inherit half-held. A failing job's exception is raised when its turn comes; the jobs still
    queued are then cancelled (and a pool made here shut down).
    """
    jobs = iter(jobs)
    ahead = list(itertools.islice(jobs, 2))  # enough to tell one job from several
    jobs = itertools.chain(ahead, jobs)
    if len(ahead) <= 1 or (pool is None and workers <= 1):  # one job: handing it to a process only adds the copying
        for job in jobs:
            yield fn(*job)
        return
    if pool is None:
        with worker_pool(workers) as own:
            yield from _in_pool(own, fn, jobs)
        return
    yield from _in_pool(pool, fn, jobs)


def _in_pool(pool: Pool, fn: Callable[..., Any], jobs: Iterator[tuple]) -> Iterator:
    pending: deque[Future] = deque()
    try:
        for job in jobs:
            pending.append(pool.executor.submit(fn, *job))
            if len(pending) >= 2 * pool.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
