"""Pins of the fast paths in tidy: the kinds of a column, the frames built without pandas'
per-column inference, and the answer lists' fast check, each equal to what it replaced."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.pipeline import tidy

NAN = float("nan")


def _kinds_by_isna(values: list) -> set:
    array = np.array(values + [None], dtype=object)[:-1]  # 1-D object array whatever the values
    return set(map(type, array[~pd.isna(array)]))


@pytest.mark.parametrize("values", [
    [], [None], [NAN, None], [1, None], [1, 1.0], [1, True], [True, NAN], ["1", 1, NAN], [1.5, NAN],
    [pd.NA, "a"], [pd.NaT, 1], [np.float64("nan"), 2], [np.int64(3), None], [(1, 2), None], [-0.0, 0.0],
])
def test_kinds_match_pandas_isna(values):
    array = np.array(values + [None], dtype=object)[:-1]
    assert tidy._kinds(array) == _kinds_by_isna(values)


@pytest.mark.parametrize("values, hashed", [
    (["a", None, "a", NAN], True),
    ([1, 2, 1, None], True),
    ([True, False, NAN], True),
    ([1, True, 1.0], False),  # pandas would take these for one key
    ([1, NAN, "1"], False),
    ([1.0, 1.0], False),
])
def test_distinct_values_hash_only_one_kind(values, hashed):
    codes, distinct, missing = tidy.distinct_values(pd.Series(values, dtype=object))
    assert (missing >= 0) == hashed
    # every row maps back to its own value (a missing one to a missing value)
    for value, code in zip(values, codes):
        got = distinct[code]
        assert tidy._missing(got) if tidy._missing(value) else (got == value and type(got) is type(value))


def _random_column(rng: random.Random, n: int) -> list:
    pools = [[None], ["a", "b", " c "], [0, 1, 2**40, -3], [True, False], [1.5, 0.0, -0.0, NAN], [(1, 2)], [2**70], [2**63 + 5]]
    chosen = rng.sample(pools, rng.randint(1, 3))
    return [rng.choice(rng.choice(chosen)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(40))
def test_rows_frame_equals_pandas_row_constructor(seed):
    rng = random.Random(seed)
    n = rng.randint(0, 6)
    columns = [_random_column(rng, n) for _ in range(5)]
    meta = [[f"s{i}", i, True] for i in range(n)]
    rows = [[c[i] for c in columns] + meta[i] for i in range(n)]
    answers, meta_names = list("abcde"), ["submission_id", "position", "readable"]
    expected = pd.DataFrame(rows, columns=[*answers, *meta_names]).astype({c: object for c in answers})
    got = tidy._rows_frame([list(r) for r in rows], answers, meta_names)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # beyond assert_frame_equal (which takes None for NaN): the same kinds where pandas converted
    for c in answers:
        for x, y in zip(got[c], expected[c]):
            if not tidy._missing(y):
                assert type(x) is type(y) and (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)))


def test_rows_frame_keeps_whole_tuples_and_converts_int_with_missing():
    got = tidy._rows_frame([[(1.0, 2.0), 5, "x"], [None, None, "y"]], ["gps", "n"], ["submission_id"])
    assert got.loc[0, "gps"] == (1.0, 2.0)
    assert type(got.loc[0, "n"]) is float  # 5 with a missing neighbour is 5.0, as pandas has always made it
    assert str(got["submission_id"].dtype) == str(pd.DataFrame([["x"]])[0].dtype)


def test_answers_fast_path_reports_what_the_loop_reports():
    from rasoat.forms import Field
    fields = tuple(Field(name=n, type=t, choice_list=None, groups=(), repeat=None, required=False, relevant="", label_vi=n, label_en=n)
                   for n, t in [("a", "text"), ("gps", "geopoint"), ("b", "integer")])
    for values in ([1, ("1", "2"), "x"], [None, "bad", 2], [None, ("1", ["x"]), None], [{"x": 1}, None, [1]]):
        fast, slow = [], []
        got = tidy._answers(list(values), fields, fast, 3, (1,))
        expected = list(values)
        for i, f in enumerate(fields):  # the original loop, field by field
            if expected[i] is not None and (type(expected[i]) not in tidy._SCALAR_TYPES or f.type == "geopoint"):
                expected[i] = tidy._scalar(expected[i], f, slow, 3)
        assert got == expected and fast == slow


def test_control_characters_still_found():
    assert tidy._has_control("a\x07b") and tidy._has_control("\x85x")
    assert not tidy._has_control("Nguyễn Văn A") and not tidy._has_control("a\u2028b") and not tidy._has_control(5)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.text(max_size=14), st.sampled_from(
    ["0912345678", "+84912345678", "84912345678", "0084912345678", "8491234567", "091 234 5678", "091.234-5678", "x|y", "Nguyễn",
     "Nguye\u0301n", "\u0301a", "a ", " a", "a  b", "", "a" * 600, "tab\there"])), max_size=8),
       st.sampled_from(["text", "digits", "digits_zero"]))
def test_texts_already_clean_are_found_as_reading_each_would(values, kind):
    """`_already_clean` (all the distinct answers at once) says yes only when reading each one gives it back as it is."""
    zero = kind == "digits_zero"
    clean = tidy.clean_text if kind == "text" else (lambda v: tidy.clean_digits(v, zero))
    if tidy._already_clean(values, digits=kind != "text", zero=zero):
        assert [tidy._read_text(v, clean) for v in values] == [(v or None, False, False) for v in values]
    # and it finds them: every printable text read back as it is (the unprintable ones it leaves to the reader)
    one_by_one = [tidy._read_text(v, clean) == (v or None, False, False) for v in values]
    if all(one_by_one) and all(v is None or (v.isprintable() and tidy._JOINER not in v) for v in values):
        assert tidy._already_clean(values, digits=kind != "text", zero=zero)
