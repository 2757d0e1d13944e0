"""Reading OData payloads by columns (Arrow) gives exactly the tables reading them one by one gives.

`tidy_submissions` reads a chunk by columns when `odata_columns.read_chunk` finds it plain, and
record by record otherwise. Every test here tidies the same submissions both ways and compares the
tables (values and dtypes), on clean payloads, on payloads with answers that typing reports, and
on random mutations; and checks which payloads the column reader leaves to the record reader.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _households import QUESTIONNAIRE, household
from rasoat.pipeline import odata_columns, synthetic, tidy
from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA
from rasoat.settings import load_settings

REPEAT = QUESTIONNAIRE.member_repeat
TEXT_FIELDS = [f for f in QUESTIONNAIRE.household_fields if f.type in ("text", "select_one", "select_multiple", "calculate", "date")]
NUMBER_FIELDS = [f for f in QUESTIONNAIRE.household_fields if f.type in ("integer", "decimal")]
MEMBER_TEXT_FIELDS = [f for f in QUESTIONNAIRE.member_fields if f.type != "integer"]
CODES = sorted({c for codes in QUESTIONNAIRE.choices.values() for c in codes})
TAKEN = {"columns": 0, "records": 0}


def record(k: int) -> dict:
    return json.loads(json.dumps(synthetic.odata_row(household(k % 4), 0, QUESTIONNAIRE), default=str))


def current_of(payloads: list[str], formats: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame([{"submission_id": f"uuid:c-{k}", "instance_id": f"uuid:c-{k}" if k % 3 else f"uuid:c-{k}-edit",
                          "form_version": QUESTIONNAIRE.version, "submitted_at": "2026-10-01T08:00:00Z",
                          "review_state": [None, "approved", "edited"][k % 3],
                          "payload_format": formats[k] if formats else CENTRAL_ODATA, "payload": p} for k, p in enumerate(payloads)])


def read_by_columns(payloads: list[str]) -> bool:
    return odata_columns.read_chunk(payloads, QUESTIONNAIRE, tidy.MAX_NUMBER) is not None


def assert_same_both_ways(current: pd.DataFrame) -> None:
    by_columns = tidy.tidy_submissions(current, QUESTIONNAIRE)
    with mock.patch.object(tidy, "_read_columns", return_value=None):
        by_records = tidy.tidy_submissions(current, QUESTIONNAIRE)
    for name in ("households", "members", "issues"):
        pd.testing.assert_frame_equal(getattr(by_columns, name), getattr(by_records, name), check_exact=True, obj=name)


def set_answer(rec: dict, name: str, value) -> None:
    f = next(x for x in QUESTIONNAIRE.fields if x.name == name)
    target = rec
    for g in f.groups:
        target = target.setdefault(g, {})
    target[f.name] = value


def test_a_clean_commune_is_read_by_columns_into_the_same_tables():
    hamlets = list(load_settings().hamlets)[:2]
    payloads = [json.dumps(synthetic.odata_row(sub, 0, QUESTIONNAIRE), default=str)
                for sub in synthetic.iter_commune(hamlets, QUESTIONNAIRE, seed=3, scale=0.2)]
    assert len(payloads) > 100
    assert read_by_columns(payloads)
    tables = tidy.tidy_submissions(current_of(payloads), QUESTIONNAIRE)
    assert len(tables.households) == len(payloads) and len(tables.members) > len(payloads)
    assert_same_both_ways(current_of(payloads))


def test_answers_that_typing_reports_are_read_by_columns_with_the_same_issue_rows():
    records = [record(k) for k in range(6)]
    set_answer(records[0], "household_size", 2.5)  # not an integer: rounded, warned
    set_answer(records[1], "water_source", "NOT_A_CODE")  # unknown choice
    set_answer(records[2], "head_name", "  nguyễn   văn\x07 a  ")  # control character, spaces, case
    set_answer(records[3], "interview_date", "hôm qua")  # not a date
    set_answer(records[4], "info_assets", "tv NOPE")  # unknown code among the chosen
    records[5][REPEAT][0]["member_id_number"] = "0 91-087.338 964"  # separators in a number typed as text
    records[5][REPEAT][0]["birth_year"] = 1e14  # large but within MAX_NUMBER
    payloads = [json.dumps(r, ensure_ascii=k % 2 == 0) for k, r in enumerate(records)]
    assert read_by_columns(payloads)
    tables = tidy.tidy_submissions(current_of(payloads), QUESTIONNAIRE)
    assert {"not_an_integer", "unknown_choice", "control_characters", "not_a_date"} <= set(tables.issues["rule"])
    assert_same_both_ways(current_of(payloads))


def test_dates_with_and_without_a_time_zone_in_one_chunk_are_read_not_a_crash():
    """pandas refuses to parse offsets among plain dates when not asked for UTC: the chunk used to
    stop the run. Each date keeps its own day; what is no date is reported, the rest proceeds."""
    records = [record(k) for k in range(5)]
    for r, answer in zip(records, ["2026-03-15", "2026-03-16T23:30:00+07:00", "2026-03-15", "hôm qua", "2026-02-30"]):
        set_answer(r, "interview_date", answer)
    current = current_of([json.dumps(r) for r in records])
    tables = tidy.tidy_submissions(current, QUESTIONNAIRE)
    assert tables.households["interview_date"].tolist() == [dt.date(2026, 3, 15), dt.date(2026, 3, 16), dt.date(2026, 3, 15), None, None]
    dates = tables.issues[tables.issues["rule"] == "not_a_date"]
    assert sorted(dates["submission_id"]) == sorted(current["submission_id"].iloc[[3, 4]])
    assert_same_both_ways(current)


def test_dates_in_year_zero_or_before_are_not_a_date_not_a_crash():
    """pandas reads "-0002-03-04" and "0000-01-01" as dates in years before 1, which a Python date
    cannot hold: turning them into the column's dates stopped the run (found by the fuzz test).
    They are reported as not a date, and so is a submission time in year 0."""
    records = [record(k) for k in range(4)]
    for r, answer in zip(records, ["-0002-03-04", "0000-01-01", "2026-03-15", "-1-1-1"]):
        set_answer(r, "interview_date", answer)
    current = current_of([json.dumps(r) for r in records])
    tables = tidy.tidy_submissions(current, QUESTIONNAIRE)
    assert tables.households["interview_date"].tolist() == [None, None, dt.date(2026, 3, 15), None]
    dates = tables.issues[tables.issues["rule"] == "not_a_date"]
    assert sorted(dates["submission_id"]) == sorted(current["submission_id"].iloc[[0, 1, 3]])
    assert tidy.parse_times(pd.Series(["0000-01-01T00:00:00Z", "2026-03-15T01:00:00Z"])).isna().tolist() == [True, False]
    assert_same_both_ways(current)


def _drop_section(r):
    del r["housing"]


def _null(key):
    def change(r):
        r[key] = None
    return change


def _set(name, value):
    return lambda r: set_answer(r, name, value)


def _member(change):
    return lambda r: change(r[REPEAT])


NOT_PLAIN = {
    "a missing section": _drop_section,
    "a null section": _null("housing"),
    "a missing member list": lambda r: r.pop(REPEAT),
    "a null member list": _null(REPEAT),
    "a member that is not a record": _member(lambda ms: ms.append(None)),
    "a number where text belongs": _set("head_name", 12),
    "text where a number belongs": _set("household_size", "3"),
    "a boolean answer": _set("phone", True),
    "a record as an answer": _set("head_name", {"a": 1}),
    "an amount beyond the limit": _set("income_crops", 10**16),
    "minus zero": _set("floor_area", -0.0),
    "a point with one coordinate": _set("location", {"type": "Point", "coordinates": [105.1]}),
    "a point as text": _set("location", "9.4 105.2 0 5"),
}


@pytest.mark.parametrize("change", NOT_PLAIN.values(), ids=NOT_PLAIN.keys())
def test_what_is_not_plain_is_left_to_the_record_reader(change):
    records = [record(k) for k in range(3)]
    change(records[1])
    payloads = [json.dumps(r) for r in records]
    assert not read_by_columns(payloads)
    assert_same_both_ways(current_of(payloads))


@pytest.mark.parametrize("payload", ["null", "[]", "", "  ", "{} {}", '{"a": 1}\n', '{"a": "\ud800"}', "{'a': 1}", '{"a": NaN'],
                         ids=["null", "list", "empty", "blank", "two objects", "line break", "lone surrogate", "single quotes", "cut"])
def test_payloads_that_are_not_one_object_are_left_to_the_record_reader(payload):
    payloads = [json.dumps(record(0)), payload, json.dumps(record(1))]
    assert not read_by_columns(payloads)
    assert_same_both_ways(current_of(payloads))


def test_other_formats_and_empty_chunks_are_read_record_by_record():
    payloads = [json.dumps(record(0)), json.dumps({"row": {}, "repeats": {}})]
    assert tidy._read_columns(current_of(payloads, [CENTRAL_ODATA, CENTRAL_CSV]), QUESTIONNAIRE) is None
    assert tidy._read_columns(current_of([]).reindex(columns=[*tidy.META_COLUMNS, "payload_format", "payload"]), QUESTIONNAIRE) is None


# Random changes, most of which keep the chunk plain: the two readers must always agree.
finite = st.one_of(st.integers(-(10**15), 10**15), st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
text = st.one_of(st.text(max_size=20), st.sampled_from(CODES), st.sampled_from(["", " ", "A01", "yes", "Yes", "tv radio", "2026-10-01"]))
anything = st.recursive(st.one_of(st.none(), st.booleans(), finite, text),
                        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                        max_leaves=4)


@st.composite
def changed_record(draw, k: int) -> str:
    rec = record(k)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["text", "text", "number", "null", "member", "members", "extra", "point", "rare"]))
        if action == "text":
            set_answer(rec, draw(st.sampled_from(TEXT_FIELDS)).name, draw(text))
        elif action == "number":
            set_answer(rec, draw(st.sampled_from(NUMBER_FIELDS)).name, draw(finite))
        elif action == "null":
            set_answer(rec, draw(st.sampled_from(QUESTIONNAIRE.household_fields)).name, None)
        elif action == "member" and rec[REPEAT]:
            member = rec[REPEAT][draw(st.integers(0, len(rec[REPEAT]) - 1))]
            f = draw(st.sampled_from(QUESTIONNAIRE.member_fields))
            member[f.name] = draw(st.one_of(st.none(), finite)) if f.type == "integer" else draw(st.one_of(st.none(), text))
        elif action == "members":
            count = draw(st.integers(0, 3))
            rec[REPEAT] = [copy.deepcopy(rec[REPEAT][i % len(rec[REPEAT])]) for i in range(count)] if rec[REPEAT] else []
        elif action == "extra":
            rec[draw(st.sampled_from(["__system", "meta", "zzz", "housing"]))] = draw(anything)
        elif action == "point":
            set_answer(rec, "location", draw(st.one_of(
                st.none(), st.builds(lambda c: {"type": "Point", "coordinates": c}, st.lists(st.one_of(st.none(), finite), max_size=4)))))
        else:  # the odd answer that sends the chunk to the record reader
            set_answer(rec, draw(st.sampled_from(QUESTIONNAIRE.household_fields)).name, draw(anything))
    return json.dumps(rec, ensure_ascii=draw(st.booleans()))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(*(changed_record(k) for k in range(n)))))
def test_random_changes_read_the_same_both_ways(payloads):
    payloads = list(payloads)
    TAKEN["columns" if read_by_columns(payloads) else "records"] += 1
    assert_same_both_ways(current_of(payloads))


def test_the_random_changes_exercised_both_readers():
    """Runs after the random test (file order): both readers were compared many times."""
    if TAKEN["columns"] + TAKEN["records"]:
        assert TAKEN["columns"] >= 10 and TAKEN["records"] >= 5, TAKEN


@pytest.mark.parametrize("plain", [True, False], ids=["by columns", "record by record"])
def test_payloads_given_as_utf8_bytes_read_as_their_text(plain):
    """The raw store hands the tidy workers each payload's UTF-8 bytes: the tables are those of the text."""
    records = [record(k) for k in range(4)]
    set_answer(records[1], "head_name", 'Lê "Tư" \\ Ánh ✓')
    if not plain:
        _drop_section(records[2])
    texts = [json.dumps(r, ensure_ascii=False) for r in records]
    assert read_by_columns([t.encode("utf-8") for t in texts]) is plain
    from_bytes = tidy.tidy_submissions(current_of([t.encode("utf-8") for t in texts]), QUESTIONNAIRE)
    from_text = tidy.tidy_submissions(current_of(texts), QUESTIONNAIRE)
    for name in ("households", "members", "issues"):
        pd.testing.assert_frame_equal(getattr(from_bytes, name), getattr(from_text, name), check_exact=True, obj=name)
