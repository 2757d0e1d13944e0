"""The stored current versions → tidy tables, a chunk of submissions at a time.

A million payloads (several GB of JSON text) never sit in memory together: each chunk's payloads
are read from the raw store, tidied (`tidy.tidy_submissions`, pure) and dropped. Large stores are
tidied by several worker processes at once, each reading its own chunks; the parts are joined in
the store's order, so the result is the same as one `tidy_submissions` over everything.
"""

from __future__ import annotations

import pandas as pd

from rasoat.forms import Questionnaire
from rasoat.pipeline import tidy
from rasoat.pipeline.rawstore import RawStore
from rasoat.pipeline.workers import release_freed_memory, run_parts, workers_for

CHUNK = 25_000  # submissions per chunk: ~100 MB of payload text at most
PARALLEL_FROM = 60_000  # below this, starting worker processes costs more than it saves


def tidy_chunk(url: str, rows: pd.DataFrame, questionnaire: Questionnaire) -> tidy.TidyTables:
    """One chunk: its payloads read from the store, then tidied."""
    with RawStore(url) as store:
        payloads = store.payloads_of(rows["store_id"])
    return tidy.tidy_submissions(rows.assign(payload=rows["store_id"].map(payloads)), questionnaire)


def tidy_stored(url: str, current: pd.DataFrame, questionnaire: Questionnaire, workers: int | None = None) -> tidy.TidyTables:
    """`current` (current versions without payloads, from `RawStore.versions(payloads=False)`) tidied."""
    chunks = [current.iloc[start:start + CHUNK] for start in range(0, len(current), CHUNK)] or [current]
    workers = workers_for(len(current), PARALLEL_FROM, len(chunks)) if workers is None else workers
    parts = run_parts(tidy_chunk, [(url, chunk, questionnaire) for chunk in chunks], workers)
    tables = tidy.concat_tables(parts)
    del parts  # the chunks' own columns, now joined: their memory goes back to the system
    release_freed_memory()
    return tables
