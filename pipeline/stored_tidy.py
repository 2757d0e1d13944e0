"""The stored current versions → tidy tables, a chunk of submissions at a time.

A million payloads (several GB of JSON text) never sit in memory together: each chunk's payloads
are read from the raw store, tidied (`tidy.tidy_submissions`, pure) and dropped. Large stores are
tidied by several worker processes at once, each reading its own chunks; the parts are joined in
the store's order, so the result is the same as one `tidy_submissions` over everything.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from rasoat.forms import Questionnaire
from rasoat.pipeline import tidy
from rasoat.pipeline.rawstore import RawStore

CHUNK = 25_000  # submissions per chunk: ~100 MB of payload text at most
PARALLEL_FROM = 60_000  # below this, starting worker processes costs more than it saves


def workers_for(submissions: int) -> int:
    """Worker processes for this many submissions: 1 for a commune, the cores for a province.

    RASOAT_TIDY_WORKERS overrides (1 = never start workers). A daemonic process (e.g. a Dask
    worker running one commune) may not start children, so it always uses 1.
    """
    if multiprocessing.current_process().daemon:
        return 1
    configured = os.environ.get("RASOAT_TIDY_WORKERS", "").strip()
    if configured:
        return max(1, int(configured)) if configured.isdigit() else 1  # a typo never stops a run
    if submissions < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 8, -(-submissions // CHUNK)))


def tidy_chunk(url: str, rows: pd.DataFrame, questionnaire: Questionnaire) -> tidy.TidyTables:
    """One chunk: its payloads read from the store, then tidied."""
    with RawStore(url) as store:
        payloads = store.payloads_of(rows["store_id"])
    return tidy.tidy_submissions(rows.assign(payload=rows["store_id"].map(payloads)), questionnaire)


def tidy_stored(url: str, current: pd.DataFrame, questionnaire: Questionnaire, workers: int | None = None) -> tidy.TidyTables:
    """`current` (current versions without payloads, from `RawStore.versions(payloads=False)`) tidied."""
    chunks = [current.iloc[start:start + CHUNK] for start in range(0, len(current), CHUNK)] or [current]
    workers = workers_for(len(current)) if workers is None else workers
    if workers <= 1 or len(chunks) == 1:
        return tidy.concat_tables(tidy_chunk(url, chunk, questionnaire) for chunk in chunks)
    # spawn, not fork: the caller may have threads (Prefect's), which a forked child would inherit half-held.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(tidy_chunk, [url] * len(chunks), chunks, [questionnaire] * len(chunks)))
    return tidy.concat_tables(parts)
