"""The faster checks give what the plain ways give: merge, value-by-value checks, hashes, row lookups."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _households import QUESTIONNAIRE, SETTINGS, household, tidy
from rasoat.pipeline import checks, fingerprints, quality, schemas
from rasoat.pipeline.tidy import ISSUE_COLUMNS, TidyTables


def test_members_with_gives_the_inner_merge_without_copying_members():
    hh = pd.DataFrame({"submission_id": ["a", "b", "c"], "household_id": ["H1", None, "H3"], "consent": [True, False, True]},
                      index=[10, 11, 12])
    members = pd.DataFrame({"submission_id": ["b", "a", "a", "z", "c"], "position": [1, 1, 2, 1, 1], "sex": ["m", "f", "m", "f", "f"]},
                           index=[5, 6, 7, 8, 9])
    m, at = checks._members_with(members, hh, ["household_id", "consent"])
    expected = members.merge(hh[["submission_id", "household_id", "consent"]], on="submission_id", how="inner")
    pd.testing.assert_frame_equal(m, expected)
    assert list(hh["submission_id"].iloc[at]) == list(m["submission_id"])
    # every member's household present: the members' columns are shared, not copied
    present = members[members["submission_id"] != "z"]
    m, _ = checks._members_with(present, hh, ["household_id"])
    assert np.shares_memory(m["position"].to_numpy(), present["position"].to_numpy())


def test_members_with_leaves_a_repeated_submission_to_the_merge():
    hh = pd.DataFrame({"submission_id": ["a", "a"], "hamlet": ["X", "Y"]})
    members = pd.DataFrame({"submission_id": ["a"], "relationship": ["head"]})
    m, at = checks._members_with(members, hh, ["hamlet"])
    assert at is None and list(m["hamlet"]) == ["X", "Y"]
    assert list(checks._heads(m, hh, at)) == [2, 2]  # as grouping by submission ID counts them


def test_heads_by_position_match_heads_by_submission():
    hh = pd.DataFrame({"submission_id": ["a", "b", "c"]}, index=[3, 4, 5])
    members = pd.DataFrame({"submission_id": ["a", "b", "b", "a"], "relationship": ["head", "head", "head", None]})
    m, at = checks._members_with(members, hh, [])
    assert checks._heads(m, hh, at).tolist() == [1, 2, 0] and list(checks._heads(m, hh, None).index) == [3, 4, 5]
    assert checks._heads(m, hh, None).tolist() == [1, 2, 0]


@pytest.mark.parametrize("values", [
    ["none", "none tv", "tv radio", None, "tv", "none none", np.nan, 7, "none tv"],
    [["none", "tv"], "none tv", None],  # unhashable: checked row by row
])
def test_exclusive_choice_per_distinct_value_is_the_value_by_value_verdict(values):
    s = pd.Series(values, dtype=object, index=range(100, 100 + len(values)))
    ok = schemas._exclusive("none")
    by_value = pd.Series([ok(v) for v in values], index=s.index)
    pd.testing.assert_series_equal(schemas._per_distinct(s, ok, missing=True), by_value)


def test_format_check_flags_non_text_and_passes_missing():
    rule = schemas.FieldRule("phone", pattern=r"^0[0-9]{9}$")
    s = pd.Series(["0912345678", "12345", None, 912345678, np.nan, "0912345678\n"], dtype=object)
    # Python's $ matches before a last newline: kept, though RE2's would not
    pattern = re.compile(rule.pattern)
    by_re2 = schemas._read_alike_by_re2(pattern)
    assert by_re2  # the Arrow path, whose $ must still match before a last newline as Python's does
    assert (s.isna() | schemas._search_each(s, pattern, by_re2)).tolist() == [True, False, True, False, True, True]


# the form's patterns, and others RE2 reads as Python does; then some it must not be trusted with
ALIKE = [r"^[A-Z0-9]{2,8}-[0-9]{4}$", r"^[0-9]{12}$", r"^0[0-9]{9}$", r"[^0-9]+", r"(?:ab|c)*d$", r"^a.c", r"x{2,}?y", r"é{2}",
         r"\Ab|c$", r"^$", r"[\]\-a]"]
NOT_ALIKE = [r"^\d{12}$", r"\w+", r"\s", r"\bab", r"a{,3}", r"(?i)ă", r"(a)\1", r"a(?=b)", r"a{1001}", r"ab\Z", r"a*+"]


@pytest.mark.parametrize("pattern", NOT_ALIKE)
def test_patterns_re2_may_read_otherwise_are_left_to_python(pattern):
    assert not schemas._read_alike_by_re2(re.compile(pattern))


@settings(max_examples=150, deadline=None)
@given(pattern=st.sampled_from(ALIKE + NOT_ALIKE + [r"\u0103+"]),
       values=st.lists(st.one_of(st.text(alphabet="0123456789AZabcdxyé-ăƠ\n\r ]", max_size=14), st.none(), st.integers(),
                                 st.just("\ud800")), max_size=12))
def test_search_each_is_python_re_search_value_by_value(pattern, values):
    compiled = re.compile(pattern)
    s = pd.Series(values, dtype=object, index=range(50, 50 + len(values)))
    expected = [isinstance(v, str) and compiled.search(v) is not None for v in values]
    by_re2 = schemas._read_alike_by_re2(compiled)
    assert schemas._search_each(s, compiled, by_re2).tolist() == expected
    texts = [v for v in values if isinstance(v, str) and v != "\ud800"]  # all text: the Arrow path
    assert schemas._search_each(pd.Series(texts, dtype=object), compiled, by_re2).tolist() == [compiled.search(v) is not None for v in texts]


def test_validate_table_names_the_first_row_of_a_repeated_label_and_leaves_the_frame_alone():
    frame = pd.DataFrame({"submission_id": ["x", "y", "z"], "household_id": ["H1", "H2", "H3"], "hamlet": "A01", "enumerator": "e",
                          "phone": ["12", "0912345678", "34"], "members": pd.array([1, -2, 3], dtype="Int64")}, index=[0, 1, 1])
    before = frame.copy()
    issues = schemas.validate_table(frame, schemas.household_schema(QUESTIONNAIRE), ISSUE_COLUMNS)
    pd.testing.assert_frame_equal(frame, before)
    got = sorted(zip(issues["rule"], issues["submission_id"], issues["value"]))
    # label 1 is rows y and z: both failures of that label are reported on its first row, y
    assert got == [("bad_format", "x", "12"), ("bad_format", "y", "34"), ("out_of_range", "y", "-2")]


def test_a_column_of_the_wrong_type_is_one_schema_row():
    frame = pd.DataFrame({"submission_id": ["x"], "members": [1.5]})  # float64, declared Int64
    issues = schemas.validate_table(frame, schemas.household_schema(QUESTIONNAIRE), ISSUE_COLUMNS)
    assert list(issues["rule"]) == ["schema"] and issues["submission_id"].isna().all()


def test_value_hashes_equal_for_equal_text_and_alike_for_missing_and_empty():
    frame = pd.DataFrame({"a": pd.Series(["x", "", None, "x", "1", 1, np.nan], dtype=object),
                          "b": pd.array([1, 2, 3, 1, 4, 4, 3], dtype="Int64")})
    h = fingerprints._value_hashes(frame, ["a", "b"])
    assert h[0] == h[3] and h[4] == h[5]  # the same answers; 1 and "1" read alike
    assert h[2] == h[6] and h[1] != h[2]  # missing alike; (b differs)
    assert fingerprints._column_hashes(frame["a"])[1] == fingerprints._column_hashes(frame["a"])[2]  # "" as missing
    assert len(set(h[[0, 1, 4]].tolist())) == 3
    # a row's hash does not depend on the other rows (members are hashed unsorted, then reordered)
    order = np.array([6, 2, 0, 5, 1, 3, 4])
    assert (fingerprints._value_hashes(frame.iloc[order], ["a", "b"]) == h[order]).all()


def test_fingerprint_does_not_depend_on_the_members_row_order():
    t = tidy([household(0), household(1), household(0, water_source="well")])
    members = t.members
    shuffled = members.sample(frac=1, random_state=3)
    a = fingerprints.answer_fingerprint(t.households, members, QUESTIONNAIRE)
    b = fingerprints.answer_fingerprint(t.households, shuffled, QUESTIONNAIRE)
    pd.testing.assert_series_equal(a, b)
    assert a.nunique() == 3


def test_check_tables_leaves_its_input_unchanged_and_flags_member_rules():
    h = household(0)
    h["members"][1]["birth_year"] = 1850
    h["members"][2]["sex"] = "dragon"
    t = tidy([h, household(1)])
    before = (t.households.copy(), t.members.copy())
    result = checks.check_tables(TidyTables(t.households, t.members, t.issues), QUESTIONNAIRE, SETTINGS.commune.bounding_box)
    pd.testing.assert_frame_equal(t.households, before[0])
    pd.testing.assert_frame_equal(t.members, before[1])
    rows = result.issues[result.issues["rule"].isin(["impossible_age", "unknown_choice"])]
    assert sorted(zip(rows["rule"], rows["member"].tolist())) == [("impossible_age", 2), ("unknown_choice", 3)]
    assert set(rows["household_id"]) == {t.households["household_id"].iloc[0]}


def test_column_hashes_fold_as_pandas_combines_a_frames_columns():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({f"c{k}": rng.integers(0, 2**62, 50, dtype=np.uint64) for k in range(6)})
    folded = fingerprints._folded((pd.util.hash_array(frame[c].to_numpy()) for c in frame), frame.shape[1], len(frame))
    assert (folded == pd.util.hash_pandas_object(frame, index=False).to_numpy()).all()
    assert len(fingerprints._folded(iter([]), 0, 0)) == 0


@pytest.mark.parametrize("values", [
    ["079123456789", None, "", "001", float("nan")],  # digits already: recognised at once
    ["079 123 456 789", "٣٤٥", "abc", None, "12\x003", 790123, pd.NA, "①2"],  # something to strip in one of them
    [], [None, None],
])
def test_head_id_digits_are_those_of_a_substitution_per_value(values):
    series = pd.Series(values, dtype=object)
    assert checks._digits_of(series) == [None if pd.isna(v) else re.sub(r"\D", "", str(v)) or None for v in values]


@pytest.mark.parametrize("values", [
    ["1", "2", "9", None, np.nan, pd.NA, 1, True, "1 ", "", "2"],
    [["1"], "1", None],  # unhashable: checked row by row
    [],
])
def test_unknown_choice_check_is_isna_or_isin(values):
    field = next(f for f in QUESTIONNAIRE.member_fields if f.type == "select_one" and f.choice_list != "yes_no")
    allowed = set(QUESTIONNAIRE.choices[field.choice_list])
    values = [next(iter(sorted(allowed))) if isinstance(v, str) and v == "1" else v for v in values]  # a real code where the case has "1"
    check = schemas._field_checks(field, None, QUESTIONNAIRE)[0][0]
    s = pd.Series(values, dtype=object, index=range(7, 7 + len(values)))
    plain = [pd.isna(v) if not isinstance(v, list) else False for v in values]
    plain = [missing or (isinstance(v, str) and v in allowed) for missing, v in zip(plain, values)]
    assert check._check_fn(s).tolist() == plain


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "ấp|Lê", "", "A"])), max_size=30))
def test_repeated_groups_are_the_positions_of_each_repeated_key_in_first_appearance_order(keys):
    plain: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            plain.setdefault(key, []).append(i)
    assert checks._repeated_groups(keys) == [g for g in plain.values() if len(g) > 1]
