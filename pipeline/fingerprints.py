"""Each household's answer fingerprint: a 64-bit hash of its substantive answers and its members'.

The quality signals compare them to find households entered with identical answers. A
household's fingerprint reads only its own row and its members, so a province's tidy workers
work it out chunk by chunk, with the tidying (`stored_tidy`), and the main process only for
households a correction has changed. Pure numpy and pandas: light to import in a worker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rasoat.forms import Questionnaire

_MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)  # every unanswered value hashes alike ("" in the old text form)


def _value_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row of `frame` over `columns`: equal for rows whose values (as text) are equal.

    Column by column, vectorised: numbers and booleans hash their value, text hashes its UTF-8
    bytes (mixed object columns their ``str()``); a missing value and an empty text hash alike.
    """
    if not columns:
        return np.zeros(len(frame), dtype="uint64")
    # what hash_pandas_object gives for a frame of the column hashes, folded one column at a time
    # instead of holding a frame of them all (a column of uint64 per answer, millions of members)
    hashes = (pd.util.hash_array(_column_hashes(frame[c])) for c in columns)
    return _folded(hashes, len(columns), len(frame))


def _folded(hashes, count: int, rows: int) -> np.ndarray:
    """`count` hash arrays combined as `hash_pandas_object` combines a frame's columns (the same
    arithmetic as pandas' own, which is not public API)."""
    if not count:
        return np.array([], dtype=np.uint64)
    out = np.full(rows, 0x345678, dtype=np.uint64)
    mult = np.uint64(1000003)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64, as intended
        for i, h in enumerate(hashes):
            out ^= h
            out *= mult
            mult += np.uint64(82520 + 2 * (count - i))
        out += np.uint64(97531)
    return out


def _column_hashes(s: pd.Series) -> np.ndarray:
    """The hash of each value of one column (`_MISSING_HASH` for missing and empty text)."""
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        # text: hash each distinct value once (what pandas does inside, after an isna and a copy
        # of the whole column we skip); factorize already marks the missing values (-1)
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
        uniques = np.asarray(uniques, dtype=object)
        hashes = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.zeros(0, dtype="uint64")
        hashes = np.append(hashes.astype("uint64", copy=False), _MISSING_HASH)  # code -1: the last
        hashes[:-1][uniques == ""] = _MISSING_HASH
        return hashes[codes]
    h = pd.util.hash_pandas_object(s, index=False).to_numpy(dtype="uint64", copy=True)
    h[s.isna().to_numpy(dtype=bool)] = _MISSING_HASH
    return h


def answer_fingerprint(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> pd.Series:
    """A 64-bit hash of a household's substantive answers: everything but identity, free text and metadata.

    Left out: the first section (identification), text answers (names, CCCD, phone, address), the
    form's metadata and calculated fields, the enumerator and the interview date. Two households
    with the same answers (and the same members' answers, in the same order) get the same
    fingerprint; the values are only compared with each other (uint64, indexed like `households`).
    Vectorised: a hash per household row and per member row, the members' hashes combined with
    their place in the household's list (ordered by `position`) and folded per household by xor.
    """
    first_group = next((f.groups[0] for f in questionnaire.household_fields if f.groups), None)

    def chosen(fields) -> list[str]:
        return [f.name for f in fields if f.type in ("integer", "decimal", "select_one", "select_multiple")]

    hh_cols = [c for c in chosen([f for f in questionnaire.household_fields if f.groups[:1] != (first_group,)]) if c in households]
    mem_cols = [c for c in chosen(questionnaire.member_fields) if c in members]
    hh_hash = _value_hashes(households, hh_cols)
    mem_hash = np.zeros(len(households), dtype="uint64")
    mem_count = np.zeros(len(households), dtype="int64")
    if mem_cols and len(members):
        codes, sids = pd.factorize(members["submission_id"], use_na_sentinel=True)
        position = pd.to_numeric(members["position"], errors="coerce").to_numpy(dtype="float64", na_value=np.inf)
        order = np.lexsort((position, codes))
        order = order[codes[order] >= 0]
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else np.array([], dtype=int)
        if len(starts):
            sizes = np.diff(np.r_[starts, len(order)])
            rank = np.arange(len(order)) - np.repeat(starts, sizes)
            row_hash = _value_hashes(members, mem_cols)[order]  # hashed in place: no reordered copy of the members
            placed = pd.util.hash_pandas_object(pd.DataFrame({"h": row_hash, "r": rank}), index=False).to_numpy(dtype="uint64")
            folded = np.bitwise_xor.reduceat(placed, starts)
            where = pd.Index(sids[sorted_codes[starts]]).get_indexer(households["submission_id"])
            found = where >= 0
            mem_hash[found] = folded[where[found]]
            mem_count[found] = sizes[where[found]]
    combined = pd.util.hash_pandas_object(pd.DataFrame({"h": hh_hash, "m": mem_hash, "n": mem_count}), index=False)
    return pd.Series(combined.to_numpy(dtype="uint64"), index=households.index, name="fingerprint")
