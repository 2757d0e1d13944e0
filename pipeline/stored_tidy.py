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
import pyarrow as pa

from rasoat.forms import Questionnaire
from rasoat.pipeline import tidy
from rasoat.pipeline.rawstore import RawStore
from rasoat.pipeline.workers import release_freed_memory, stream_parts, workers_for

CHUNK = 12_500  # submissions per chunk: ~50 MB of payload text; at 25,000 two workers parsing took ~400 MB more at 1M
PARALLEL_FROM = 60_000  # below this, starting worker processes costs more than it saves


Column = pd.Series | pa.Array  # a part's column: a text column as Arrow text, anything else as it is


def _packed(series: pd.Series) -> Column:
    """A column of text answers (every value a str or None) as one Arrow text array, else as it is.

    Pickling a chunk's object columns, a Python object per value, took a worker ~0.2 s a chunk (a fifth
    of its tidying); the Arrow array pickles as a few buffers. None stays None: the array is made
    without pandas' missing-value reading, so a NaN or a number makes it fail and the column stays."""
    if series.dtype != object:
        return series
    try:
        return pa.array(series.to_numpy(), type=pa.large_string(), from_pandas=False)
    except (pa.ArrowException, TypeError, UnicodeEncodeError):  # not all text, or a lone surrogate
        return series


def _unpacked(column: Column) -> pd.Series:
    """A column as the tidy tables hold it: Arrow text back to an object column of str and None, each
    distinct text one Python object (as pickling kept repeated answers: the same memory)."""
    if not isinstance(column, pa.Array):
        return column.reset_index(drop=True)
    coded = column.dictionary_encode()
    texts = np.append(coded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
    return pd.Series(texts[coded.indices.fill_null(len(texts) - 1).to_numpy()], dtype=object)


@dataclass
class TidyColumns:
    """Tidy tables as they travel back from a worker process: the household and member tables as
    one column each (pickled on its own, not as the frame's two-dimensional blocks; text as Arrow, see
    `_packed`), so that `concat_tables` can let go of every part's column as soon as it is joined."""

    households: dict[str, Column]
    members: dict[str, Column]
    issues: pd.DataFrame

    @classmethod
    def of(cls, tables: tidy.TidyTables) -> TidyColumns:
        return cls({c: _packed(tables.households[c]) for c in tables.households.columns},
                   {c: _packed(tables.members[c]) for c in tables.members.columns}, tables.issues)

    def unpacked(self) -> TidyColumns:
        """Every column as a Series again: done as each part arrives, while the workers tidy the next."""
        return TidyColumns({c: _unpacked(s) for c, s in self.households.items()}, {c: _unpacked(s) for c, s in self.members.items()},
                           self.issues)


def concat_tables(parts: list[TidyColumns]) -> tidy.TidyTables:
    """Tidy tables (parts `unpacked`) of disjoint sets of submissions (chunks, in order) as one: `pd.concat` of the
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
    return tidy.TidyTables(households=households, members=members, issues=tidy.concat_issues(p.issues for p in parts))


def tidy_chunk(url: str, rows: pd.DataFrame, questionnaire: Questionnaire) -> TidyColumns:
    """One chunk: its payloads read from the store, then tidied (as columns, see `concat_tables`)."""
    with RawStore(url) as store:
        payloads = store.payloads_of(rows["store_id"], utf8=True)  # the column reader parses bytes
    read = tidy.read_submissions(rows.assign(payload=rows["store_id"].map(payloads)), questionnaire)
    del payloads  # the chunk's JSON (~100 MB) is not held while its answers are typed
    return TidyColumns.of(tidy.typed_tables(read, questionnaire))


def tidy_stored(url: str, current: pd.DataFrame, questionnaire: Questionnaire, workers: int | None = None) -> tidy.TidyTables:
    """`current` (current versions without payloads, from `RawStore.versions(payloads=False)`) tidied."""
    chunks = [current.iloc[start:start + CHUNK] for start in range(0, len(current), CHUNK)] or [current]
    workers = workers_for(len(current), PARALLEL_FROM, len(chunks)) if workers is None else workers
    return concat_tables([part.unpacked() for part in stream_parts(tidy_chunk, [(url, chunk, questionnaire) for chunk in chunks], workers)])
