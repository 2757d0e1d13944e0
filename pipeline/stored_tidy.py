"""The stored current versions → tidy tables, a chunk of submissions at a time.

A million payloads (several GB of JSON text) never sit in memory together: each chunk's payloads
are read from the raw store, tidied (`tidy.tidy_submissions`, pure) and dropped. Large stores are
tidied by several worker processes at once, each reading its own chunks; the parts are joined in
the store's order, so the result is the same as one `tidy_submissions` over everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rasoat.forms import Questionnaire
from rasoat.pipeline import tidy
from rasoat.pipeline.fingerprints import answer_fingerprint
from rasoat.pipeline.rawstore import RawStore
from rasoat.pipeline.workers import release_freed_memory, run_parts, workers_for

CHUNK = 12_500  # submissions per chunk: ~50 MB of payload text; at 25,000 two workers parsing took ~400 MB more at 1M
PARALLEL_FROM = 60_000  # below this, starting worker processes costs more than it saves


@dataclass
class TidyColumns:
    """Tidy tables as they travel back from a worker process: the household and member tables as
    one Series per column (each pickled on its own, not as the frame's two-dimensional blocks), so
    that `concat_tables` can let go of every part's column as soon as it is joined."""

    households: dict[str, pd.Series]
    members: dict[str, pd.Series]
    issues: pd.DataFrame
    fingerprints: pd.Series  # the households' answer fingerprints, worked out in the worker (see `fingerprints`)

    @classmethod
    def of(cls, tables: tidy.TidyTables, questionnaire: Questionnaire) -> TidyColumns:
        return cls({c: tables.households[c] for c in tables.households.columns}, {c: tables.members[c] for c in tables.members.columns},
                   tables.issues, answer_fingerprint(tables.households, tables.members, questionnaire))


def concat_tables(parts: list[TidyColumns]) -> tidy.TidyTables:
    """Tidy tables of disjoint sets of submissions (chunks, in order) as one: `pd.concat` of the
    parts' frames. Joined a column at a time, each part's column dropped from its part once joined
    (the parts are emptied): a province's parts and the joined tables are never held whole together."""

    def joined(frames: list[dict[str, pd.Series]]) -> pd.DataFrame:
        # An empty part's columns are typed object; leaving it out keeps the others' dtypes.
        filled = [f for f in frames if len(next(iter(f.values()), ()))] or frames[:1]
        columns = list(filled[0])
        if len(filled) == 1:
            return pd.DataFrame({c: s.reset_index(drop=True) for c, s in filled[0].items()}, columns=columns, copy=False)
        out = {}
        for c in columns:
            out[c] = pd.concat([f.pop(c) for f in filled], ignore_index=True)
            # the parts' small arrays were freed into the heap while the joined one was mapped anew: give them back
            release_freed_memory()
        return pd.DataFrame(out, columns=columns, copy=False)  # one block per column: no joined copy of them all

    households = joined([p.households for p in parts])
    members = joined([p.members for p in parts])
    prints = pd.Series(np.concatenate([p.fingerprints.to_numpy(dtype=np.uint64) for p in parts]), index=households.index, name="fingerprint")
    return tidy.TidyTables(households=households, members=members, issues=tidy.concat_issues(p.issues for p in parts), fingerprints=prints)


def tidy_chunk(url: str, rows: pd.DataFrame, questionnaire: Questionnaire) -> TidyColumns:
    """One chunk: its payloads read from the store, then tidied (as columns, see `concat_tables`)."""
    with RawStore(url) as store:
        payloads = store.payloads_of(rows["store_id"], utf8=True)  # the column reader parses bytes
    read = tidy.read_submissions(rows.assign(payload=rows["store_id"].map(payloads)), questionnaire)
    del payloads  # the chunk's JSON (~100 MB) is not held while its answers are typed
    return TidyColumns.of(tidy.typed_tables(read, questionnaire), questionnaire)


def tidy_stored(url: str, current: pd.DataFrame, questionnaire: Questionnaire, workers: int | None = None) -> tidy.TidyTables:
    """`current` (current versions without payloads, from `RawStore.versions(payloads=False)`) tidied."""
    chunks = [current.iloc[start:start + CHUNK] for start in range(0, len(current), CHUNK)] or [current]
    workers = workers_for(len(current), PARALLEL_FROM, len(chunks)) if workers is None else workers
    return concat_tables(run_parts(tidy_chunk, [(url, chunk, questionnaire) for chunk in chunks], workers))
