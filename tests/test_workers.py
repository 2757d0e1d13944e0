"""Worker processes: results in order, a failure raised, the count chosen from the size of the work."""

from __future__ import annotations

import gc
import operator
import os
import weakref

import pytest

from rasoat.pipeline.cycles import ALLOCATIONS_PER_COLLECTION, rare_cycle_collection
from rasoat.pipeline.workers import run_parts, stream_parts, worker_pool, workers_for


@pytest.mark.parametrize("workers", [1, 2])
def test_parts_come_back_in_order(workers):
    jobs = [(k, 3) for k in range(40)]  # more jobs than the window of jobs handed out at once
    assert run_parts(operator.mul, jobs, workers) == [3 * k for k in range(40)]
    assert list(stream_parts(operator.mul, [], workers)) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_part_raises_its_own_error(workers):
    results = stream_parts(operator.truediv, [(1, 1), (1, 0), (2, 1)], workers)
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)


def _pid_of(_: int) -> int:
    return os.getpid()


def test_a_pool_serves_several_calls_with_the_same_processes():
    """Publishing a province writes its lists and half a dozen files in parts: one set of processes for all."""
    with worker_pool(2) as pool:
        first = set(run_parts(_pid_of, [(k,) for k in range(12)], 1, pool))
        assert run_parts(operator.mul, [(k, 2) for k in range(9)], 1, pool) == [2 * k for k in range(9)]
        second = set(run_parts(_pid_of, [(k,) for k in range(12)], 1, pool))
        failing = stream_parts(operator.truediv, [(1, 0), (2, 1)], 1, pool)
        with pytest.raises(ZeroDivisionError):
            next(failing)
        assert run_parts(operator.mul, [(3, 3), (2, 2)], 1, pool) == [9, 4]  # a failed call leaves the pool usable
    assert os.getpid() not in first | second and len(first | second) <= 2  # no process started anew
    with worker_pool(1) as none:
        assert none is None  # one worker: the parts run in this process


def test_worker_count_follows_the_size_and_the_setting(monkeypatch):
    monkeypatch.delenv("RASOAT_WORKERS", raising=False)
    assert workers_for(7_500, 60_000) == 1  # a commune: no process to start
    assert 1 <= workers_for(1_000_000, 60_000, parts=2) <= 2
    monkeypatch.setenv("RASOAT_WORKERS", "3")
    assert workers_for(10, 60_000) == 3
    monkeypatch.setenv("RASOAT_WORKERS", "many")  # a typo never stops a run
    assert workers_for(1_000_000, 60_000) == 1


_FREED = """
import sys
import numpy as np
from rasoat.pipeline.workers import release_freed_memory

def resident():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 // 2**20

first = np.ones(2**20, dtype=np.uint8)
del first  # glibc now keeps freed blocks of up to 1 MB in its heap
before = resident()
blocks, pins = [], []
for _ in range(300):  # 300 MB of 1 MB tables, each followed by a smaller block that stays (the heap cannot shrink from its top)
    blocks.append(np.ones(2**20, dtype=np.uint8))
    pins.append(np.ones(64 * 1024, dtype=np.uint8))
del blocks
if sys.argv[1] == "released":
    assert release_freed_memory()
print(resident() - before)
"""


def test_freed_tables_go_back_to_the_system():
    """A review frees tables of every size during its steps; `release_freed_memory` gives them back,
    where glibc keeps them in its heap (a million households held ~1 GB more)."""
    import os
    import subprocess
    import sys

    # glibc's defaults: Dask's nanny (the province tests) sets MALLOC_TRIM_THRESHOLD_ in this process's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    kept = {mode: int(subprocess.run([sys.executable, "-c", _FREED, mode], capture_output=True, text=True, check=True, env=env).stdout)
            for mode in ("kept", "released")}
    assert kept["kept"] > 250  # the heap keeps the freed megabytes (glibc's dynamic threshold)
    assert kept["released"] < 60  # what stays: the 19 MB of small blocks


def _imported(name: str) -> bool:
    import sys

    return name in sys.modules


def test_a_warmed_pool_starts_its_processes_before_the_first_part():
    """Publishing lays out the commune's lists first: the processes start (and import the module) meanwhile."""
    with worker_pool(2, warm="rasoat.pipeline.posting_pdf") as pool:
        assert len(pool.executor._processes) == 2  # both started at once, not on the first parts
        assert run_parts(_imported, [("rasoat.pipeline.posting_pdf",)] * 4, 1, pool) == [True] * 4
        assert run_parts(operator.mul, [(k, 2) for k in range(5)], 1, pool) == [2 * k for k in range(5)]
    with worker_pool(2, warm="no.such.module") as pool:  # a warm-up that fails leaves the parts alone
        assert run_parts(operator.mul, [(3, 3), (2, 2)], 1, pool) == [9, 4]


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_are_made_as_they_are_handed_out(workers):
    """Publishing lays out each list as the workers take it: a generator of jobs is not run ahead."""
    made = []

    def jobs():
        for k in range(20):
            made.append(k)
            yield (k, 2)

    results = stream_parts(operator.mul, jobs(), workers)
    assert next(results) == 0
    assert len(made) <= 2 * workers + 1  # the jobs handed out, not all twenty
    assert list(results) == [2 * k for k in range(1, 20)] and len(made) == 20
    assert run_parts(operator.mul, iter([(3, 4)]), workers) == [12]  # one job from an iterator: run here


def test_cycles_are_collected_rarely_inside_and_as_before_after():
    before = gc.get_threshold()
    with rare_cycle_collection():
        assert gc.get_threshold() == (ALLOCATIONS_PER_COLLECTION, *before[1:])
        node = _Node()
        node.itself = node  # a reference cycle: garbage only the collector frees, and still does
        probe = weakref.ref(node)
        del node
        gc.collect()
        assert probe() is None
    assert gc.get_threshold() == before


class _Node:
    pass
