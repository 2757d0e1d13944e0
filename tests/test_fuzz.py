"""Thousands of broken submissions through tidy + checks (and random corrections): nothing crashes,
every submission is kept or quarantined with a reason, and the counts add up."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _households import QUESTIONNAIRE, household
from rasoat.pipeline import synthetic
from rasoat.pipeline.checks import check_tables
from rasoat.pipeline.corrections import apply_corrections
from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA
from rasoat.pipeline.tidy import tidy_submissions
from rasoat.settings import load_settings

BOX = load_settings().commune.bounding_box
FIELDS = [f for f in QUESTIONNAIRE.fields]
GROUPS = sorted({f.groups[0] for f in QUESTIONNAIRE.household_fields if f.groups})
CODES = sorted({c for codes in QUESTIONNAIRE.choices.values() for c in codes})
EXAMPLES = {"n": 0, "submissions": 0}

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["=1+1", "+cmd", "-2", "@SUM(A1)", "\t=x", "\r=x", "\x00\x07\x1b", "a" * 5000, "ｎｇｕｙễｎ", "  ", "",
                     "nan", "inf", "-inf", "1e400", "1,5", "١٢٣", "NULL", "<script>", "Nguyễn\u0301",
                     # dates and times, with and without a time zone (mixed in one chunk they once stopped the run)
                     "2026-03-15", "2026-03-16T10:00:00+07:00", "2026-03-16T10:00:00Z", "15/03/2026", "2026-02-30", "99999-01-01",
                     "0000-01-01", "-0002-03-04"]),  # years before 1 once stopped the run too
    st.sampled_from(CODES).map(lambda c: c.upper()),
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
                   st.floats(allow_nan=True, allow_infinity=True), nasty_text, st.sampled_from(CODES))
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                     max_leaves=5)


@st.composite
def broken_record(draw, k: int) -> tuple[str, str]:
    """(payload format, payload) of one broken submission, starting from a real one most of the time."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "not_json", "json_list", "csv"]))
    if kind == "not_json":
        return CENTRAL_ODATA, draw(st.text(max_size=50))
    if kind == "json_list":
        return CENTRAL_ODATA, json.dumps(draw(st.lists(scalar, max_size=3)))
    if kind == "csv":
        row = {draw(st.sampled_from(["-".join((*f.groups, f.name)) for f in FIELDS])): draw(scalar) for _ in range(draw(st.integers(0, 8)))}
        repeats = draw(st.one_of(st.none(), st.just({QUESTIONNAIRE.member_repeat: [row]}), value))
        return CENTRAL_CSV, json.dumps({"row": draw(st.one_of(st.just(row), value)), "repeats": repeats}, default=str)
    if kind == "random":
        return CENTRAL_ODATA, json.dumps(draw(st.dictionaries(st.sampled_from([*GROUPS, *(f.name for f in FIELDS), "member"]), value, max_size=8)),
                                         default=str)
    record = synthetic.odata_row(household(draw(st.integers(0, 3))), 0, QUESTIONNAIRE)
    for _ in range(draw(st.integers(1, 6))):
        f = draw(st.sampled_from(FIELDS))
        action = draw(st.sampled_from(["set", "set", "delete_group", "members", "nest"]))
        if action == "delete_group" and f.groups:
            record.pop(f.groups[0], None)
        elif action == "members":
            record[QUESTIONNAIRE.member_repeat] = draw(st.one_of(st.none(), value, st.lists(value, max_size=3)))
        elif action == "nest":
            record[f.name] = {"wrong": draw(value)}
        elif f.repeat is None:
            target = record
            for g in f.groups:
                target = target.setdefault(g, {}) if isinstance(target.get(g, {}), dict) else {}
            target[f.name] = draw(value)
        else:
            members = record.get(QUESTIONNAIRE.member_repeat)
            if isinstance(members, list) and members:
                member = members[draw(st.integers(0, len(members) - 1))]
                if isinstance(member, dict):
                    member[f.name] = draw(value)
    return CENTRAL_ODATA, json.dumps(record, default=str)


@st.composite
def batch(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    rows = []
    for k in range(n):
        fmt, payload = draw(broken_record(k))
        rows.append({"submission_id": f"uuid:fuzz-{k}", "instance_id": f"uuid:fuzz-{k}",
                     "form_version": draw(st.sampled_from([QUESTIONNAIRE.version, "2020010101", ""])),
                     "submitted_at": draw(st.sampled_from(["2026-10-01T08:00:00Z", "not a time", "2026-10-02T09:00:00.123Z"])),
                     "review_state": draw(st.sampled_from([None, "approved", "hasIssues", "edited"])),
                     "payload_format": fmt, "payload": payload})
    return pd.DataFrame(rows)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(batch())
def test_broken_submissions_never_crash_and_every_one_is_accounted_for(current):
    tables = tidy_submissions(current, QUESTIONNAIRE)
    checked = check_tables(tables, QUESTIONNAIRE, BOX)
    kept, quarantined = set(checked.households["submission_id"]), set(checked.excluded["submission_id"])
    assert len(current) == len(checked.households) + len(checked.excluded)  # in = kept + quarantined
    assert kept | quarantined == set(current["submission_id"]) and not kept & quarantined
    assert checked.excluded["reason"].map(lambda r: isinstance(r, str) and len(r) > 0).all()
    assert set(checked.members["submission_id"]) <= kept
    # every quarantined one that is not a refusal or a duplicate has an error issue row
    errors = set(checked.issues.loc[checked.issues["severity"] == "error", "submission_id"])
    for sid, reason in zip(checked.excluded["submission_id"], checked.excluded["reason"]):
        assert sid in errors or reason.startswith(("hộ không đồng ý", "trùng hộ"))
    assert checked.issues["rule"].notna().all() and checked.issues["severity"].isin(["error", "warning"]).all()
    EXAMPLES["n"] += 1
    EXAMPLES["submissions"] += len(current)


correction_row = st.fixed_dictionaries({
    "household_id": st.one_of(st.sampled_from(["A01-0001", "A01-0002", "a01-0003", ""]), nasty_text),
    "field": st.one_of(st.sampled_from([f.name for f in FIELDS] + [f"member[{k}].{f.name}" for k in (0, 1, 2, 99) for f in FIELDS if f.repeat]),
                       nasty_text),
    "old_value": st.one_of(st.just(""), nasty_text),
    "new_value": st.one_of(nasty_text, st.sampled_from(CODES), st.integers(-10, 10**16).map(str)),
    "date": st.one_of(st.just(""), st.sampled_from(["2026-11-01", "01/11/2026", "hôm qua"])),
})


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(correction_row, max_size=15))
def test_random_corrections_are_applied_or_reported_never_crash(rows):
    current = pd.DataFrame([{"submission_id": f"s{k}", "instance_id": f"s{k}", "form_version": QUESTIONNAIRE.version,
                             "submitted_at": "2026-10-01T08:00:00Z", "review_state": None, "payload_format": CENTRAL_ODATA,
                             "payload": json.dumps(synthetic.odata_row(household(k), 0, QUESTIONNAIRE), default=str)} for k in range(3)])
    tables = tidy_submissions(current, QUESTIONNAIRE)
    corrected, audit = apply_corrections(tables, pd.DataFrame(rows), QUESTIONNAIRE)
    assert len(audit) == len(rows) and audit["result"].map(lambda r: isinstance(r, str) and r != "").all()
    checked = check_tables(corrected, QUESTIONNAIRE, BOX)
    assert len(checked.households) + len(checked.excluded) == 3


def test_fuzz_volume(capsys):
    """Report how much the fuzz test fed (runs after it in file order)."""
    if EXAMPLES["n"]:
        assert EXAMPLES["submissions"] >= 1000
        with capsys.disabled():
            print(f"\nfuzz: {EXAMPLES['n']} batches, {EXAMPLES['submissions']} broken submissions")
