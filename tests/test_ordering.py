"""Rows sorted by Arrow come in the order pandas (and Python's string comparison) gives."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.pipeline.ordering import sorted_rows

ALPHABET = ["a", "b", "B", "ạ", "\U0001F600", "\x00", "-", " ", "Z", "\u0301", "ä", "\uffff", "\U0010FFFF"]


def pandas_order(keys: pd.DataFrame) -> list[int]:
    return keys.reset_index(drop=True).sort_values(list(keys.columns), kind="mergesort").index.tolist()


def test_text_keys_sort_as_python_compares_strings_and_stably():
    rng = random.Random(5)
    for trial in range(300):
        n = rng.randrange(0, 30)
        hamlets = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 3))) for _ in range(n)]
        ids = ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 4))) for _ in range(n)]
        expected = sorted(range(n), key=lambda i: (hamlets[i], ids[i]))  # sorted() is stable
        assert sorted_rows(pd.DataFrame({"h": hamlets, "i": ids}, dtype=object)).tolist() == expected
        assert sorted_rows(pd.DataFrame({"h": hamlets, "i": ids}, dtype="str")).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(["A01", "A02", "ạ", ""]), st.text(max_size=3)),
                          st.one_of(st.none(), st.just(float("nan")), st.text(max_size=3))), max_size=25),
       st.sampled_from([object, "str", "string"]))
def test_missing_values_go_last_as_pandas_puts_them(rows, dtype):
    keys = pd.DataFrame(rows, columns=["hamlet", "household_id"], dtype=object).astype(dtype)
    keys.index = np.arange(len(keys))[::-1]  # positions, not labels
    assert sorted_rows(keys).tolist() == pandas_order(keys)


def test_keys_that_are_not_all_text_are_sorted_by_pandas():
    numbers = pd.DataFrame({"hamlet": ["b", "a", "b", "a"], "n": [3, 2, 1, 2]})
    assert sorted_rows(numbers).tolist() == pandas_order(numbers) == [1, 3, 2, 0]
    surrogate = pd.DataFrame({"x": ["b", "a\ud800", "a"]}, dtype=object)  # UTF-8 cannot hold it: Python's order still
    assert sorted_rows(surrogate).tolist() == [2, 1, 0]
    same_names = pd.DataFrame([["b", "x"], ["a", "y"]], columns=["k", "k"])
    assert sorted_rows(same_names).tolist() == [1, 0]
    assert sorted_rows(pd.DataFrame(index=range(3))).tolist() == [0, 1, 2]
    assert sorted_rows(pd.DataFrame({"k": []}, dtype=object)).tolist() == []
