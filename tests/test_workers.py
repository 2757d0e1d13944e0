"""Worker processes: results in order, a failure raised, the count chosen from the size of the work."""

from __future__ import annotations

import operator

import pytest

from rasoat.pipeline.workers import run_parts, stream_parts, workers_for


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


def test_worker_count_follows_the_size_and_the_setting(monkeypatch):
    monkeypatch.delenv("RASOAT_WORKERS", raising=False)
    assert workers_for(7_500, 60_000) == 1  # a commune: no process to start
    assert 1 <= workers_for(1_000_000, 60_000, parts=2) <= 2
    monkeypatch.setenv("RASOAT_WORKERS", "3")
    assert workers_for(10, 60_000) == 3
    monkeypatch.setenv("RASOAT_WORKERS", "many")  # a typo never stops a run
    assert workers_for(1_000_000, 60_000) == 1
