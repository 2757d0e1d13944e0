"""Each check rule on small hand-made households: the rule fires on the bad case and not on the good one."""

from __future__ import annotations

import unicodedata

import pandas as pd
import pytest

from _households import QUESTIONNAIRE, SETTINGS, household, patched, rules_of, tidy
from rasoat.pipeline.checks import age_relationship_issues, check_tables, find_duplicates
from rasoat.pipeline.schemas import field_rules, household_schema, validate_table
from rasoat.pipeline.tidy import ISSUE_COLUMNS, clean_digits, fold, tidy_submissions

BOX = SETTINGS.commune.bounding_box


def checked(*subs):
    return check_tables(tidy(list(subs)), QUESTIONNAIRE, BOX)


def test_a_clean_household_has_no_issue_and_is_kept():
    result = checked(household(0))
    assert result.issues.empty and len(result.households) == 1 and result.excluded.empty


@pytest.mark.parametrize(
    "answers, rule, severity",
    [
        ({"household_size": 45}, "out_of_range", "error"),  # form: . >= 1 and . <= 30
        ({"floor_area": -3.0}, "out_of_range", "error"),  # form: . > 0
        ({"income_wages": -1_000_000}, "negative_value", "error"),  # form: . >= 0
        ({"phone": "12345"}, "bad_format", "warning"),  # form: regex ^0[0-9]{9}$
        ({"head_id_number": "12ab"}, "bad_format", "warning"),
        ({"info_assets": "none tv"}, "exclusive_choice", "warning"),
        ({"water_source": "well_of_wishes"}, "unknown_choice", "error"),
        ({"location": "91.5 200.1 0 5"}, "bad_gps", "warning"),
        ({"location": "10.9 106.7 0 5"}, "outside_commune", "warning"),
        ({"location": None}, "missing_gps", "warning"),
        ({"floor_area": 4.0}, "floor_area_implausible", "warning"),  # 4 m² for 3+ people
        ({"production_costs": 900_000_000_000}, "costs_exceed_income", "warning"),
        ({"household_size": 9}, "size_mismatch", "warning"),
        ({"head_name": "x" * 90}, "too_long_for_form", "warning"),
    ],
)
def test_household_rules(answers, rule, severity):
    bad = household(0, **answers)
    result = checked(bad, household(1))
    rows = result.issues[result.issues["rule"] == rule]
    assert set(rows["submission_id"]) == {bad["__id"]}, result.issues
    assert set(rows["severity"]) == {severity}
    assert rows["message"].str.len().gt(0).all()
    waiting = set(result.excluded["submission_id"])
    assert (bad["__id"] in waiting) == (severity == "error")
    assert len(result.households) + len(result.excluded) == 2


def test_member_rules_name_the_member_position():
    h = household(0)
    h["members"][1]["birth_year"] = 1850  # impossible age
    h["members"][2]["relationship"] = "head"  # two heads
    h["members"][2]["sex"] = "dragon"
    result = checked(h)
    by_rule = result.issues.set_index("rule")
    assert by_rule.loc["impossible_age", "field"] == "birth_year" and by_rule.loc["impossible_age", "member"] == 2
    assert by_rule.loc["unknown_choice", "member"] == 3 and by_rule.loc["unknown_choice", "value"] == "dragon"
    assert "one_head" in by_rule.index
    assert "birth_year (thành viên 2)" in result.excluded.iloc[0]["reason"]


def test_required_answers_respect_relevance():
    refused = household(0, consent="no")
    missing = household(1, water_source=None)
    result = checked(refused, missing)
    assert rules_of(result.issues, refused["__id"]) <= {"missing_gps"} or rules_of(result.issues, refused["__id"]) == set()
    assert "required" in rules_of(result.issues, missing["__id"])
    reasons = result.excluded.set_index("submission_id")["reason"]
    assert reasons[refused["__id"]] == "hộ không đồng ý phỏng vấn"
    assert "water_source" in reasons[missing["__id"]]


def test_no_members_is_an_error():
    h = household(0)
    h["members"] = []
    result = checked(h)
    assert "no_members" in rules_of(result.issues) and len(result.excluded) == 1


def test_ages_must_fit_relationships():
    members = pd.DataFrame({
        "submission_id": ["a"] * 4 + ["b"] * 3,
        "household_id": ["A"] * 4 + ["B"] * 3, "hamlet": "A01", "enumerator": "e",
        "position": [1, 2, 3, 4, 1, 2, 3],
        "relationship": ["head", "child", "parent", "grandchild", "head", "child", "parent"],
        "age": pd.array([40, 35, 45, 20, 40, 10, 70], dtype="Int64"),
    })
    issues = age_relationship_issues(members)
    assert list(zip(issues["submission_id"], issues["member"])) == [("a", 2), ("a", 3), ("a", 4)]
    assert set(issues["rule"]) == {"age_relationship"} and set(issues["severity"]) == {"warning"}


def test_other_form_version_and_missing_section_are_reported_not_fatal():
    old = household(0)
    old["form_version"] = "2025010101"
    result = checked(old)
    assert "old_form_version" in rules_of(result.issues)
    # a submission from an older form without the income section: issue rows, no crash
    from _households import current
    from rasoat.pipeline.tidy import tidy_submissions
    import json

    frame = current([household(1)])
    record = json.loads(frame.loc[0, "payload"])
    del record["income"]
    frame.loc[0, "payload"] = json.dumps(record)
    tables = tidy_submissions(frame, QUESTIONNAIRE)
    result = check_tables(tables, QUESTIONNAIRE, BOX)
    assert {"missing_section", "required"} <= rules_of(result.issues)
    assert len(result.excluded) == 1


def _hh(rows):
    frame = pd.DataFrame(rows)
    for c in ("household_id", "head_id_number", "head_name", "hamlet", "enumerator"):
        if c not in frame:
            frame[c] = None
    return frame


def test_duplicates_by_id_head_id_and_folded_name_keep_approved_then_newest():
    frame = _hh([
        {"submission_id": "s1", "household_id": "A01-0001", "review_state": "received", "submitted_at": "2026-10-01T08:00:00Z"},
        {"submission_id": "s2", "household_id": "a01-0001", "review_state": "approved", "submitted_at": "2026-09-01T08:00:00Z"},
        {"submission_id": "s3", "head_id_number": "091085624929", "review_state": "received", "submitted_at": "2026-10-01T08:00:00Z"},
        {"submission_id": "s4", "head_id_number": "091085624929", "review_state": "received", "submitted_at": "2026-10-05T08:00:00Z"},
        {"submission_id": "s5", "head_name": "Nguyễn Văn Đức", "hamlet": "A01", "review_state": "received", "submitted_at": "2026-10-01T08:00:00Z"},
        {"submission_id": "s6", "head_name": unicodedata.normalize("NFD", "nguyen van duc"), "hamlet": "A01", "review_state": "received",
         "submitted_at": "2026-10-02T08:00:00Z"},
        # same name, same hamlet, but two different household IDs: two households
        {"submission_id": "s7", "household_id": "A01-0007", "head_name": "Lê Văn Tám", "hamlet": "A01", "review_state": "received", "submitted_at": "2026-10-02T08:00:00Z"},
        {"submission_id": "s8", "household_id": "A01-0008", "head_name": "Le Van Tam", "hamlet": "A01", "review_state": "received", "submitted_at": "2026-10-03T08:00:00Z"},
        # same name, other hamlet
        {"submission_id": "s9", "head_name": "Nguyễn Văn Đức", "hamlet": "A02", "review_state": "received", "submitted_at": "2026-10-03T08:00:00Z"},
    ])
    dropped, issues = find_duplicates(frame)
    assert sorted(frame.loc[dropped, "submission_id"]) == ["s1", "s3", "s5"]
    by_sid = issues.set_index("submission_id")
    assert by_sid.loc["s1", "rule"] == "duplicate_household" and "s2" in by_sid.loc["s1", "message"]
    assert by_sid.loc["s3", "rule"] == "duplicate_head_id" and "s4" in by_sid.loc["s3", "message"]
    assert by_sid.loc["s5", "rule"] == "duplicate_head_name" and "s6" in by_sid.loc["s5", "message"]
    assert set(issues["severity"]) == {"warning"}


def test_duplicate_household_is_excluded_with_the_kept_submission_named():
    first = household(0)
    again = household(0, phone="0912345678")
    again["submitted_at"] = "2026-12-01T00:00:00.000Z"
    result = checked(first, again)
    assert list(result.households["submission_id"]) == [again["__id"]]
    assert result.excluded.iloc[0]["reason"] == f"trùng hộ (giữ phiếu {again['__id']})"


def test_normalisation_of_text_codes_phones_and_ids():
    h = household(0, hamlet="a01", head_name=unicodedata.normalize("NFD", "  trần   thị  BÍCH "), phone="+84 912 345 678",
                  head_id_number="091.085.624.929", consent="Yes")
    t = tidy([h])
    row = t.households.iloc[0]
    assert row["hamlet"] == "A01" and row["head_name"] == "Trần Thị Bích" and unicodedata.is_normalized("NFC", row["head_name"])
    assert row["phone"] == "0912345678" and row["head_id_number"] == "091085624929" and bool(row["consent"]) is True
    assert t.issues.empty
    assert clean_digits("84912345678", leading_zero=True) == "0912345678"
    assert fold("Đặng  Thị Ánh") == fold(unicodedata.normalize("NFD", "dang thi anh")) == "dang thi anh"


def test_control_characters_and_huge_numbers_become_issue_rows():
    h = household(0, address="Tổ 4\x07\x1b ấp", income_other=10**30)
    frame = patched(h, housing__floor_area="rộng lắm", household_size=2.5, income__income_crops=True)
    t = tidy_submissions(frame, QUESTIONNAIRE)
    assert {"control_characters", "number_too_large", "not_an_integer", "not_a_number"} <= rules_of(t.issues)
    assert t.households.iloc[0]["address"] == "Tổ 4 ấp" and pd.isna(t.households.iloc[0]["floor_area"])
    assert t.households.iloc[0]["household_size"] == 2
    by_field = t.issues.set_index("field")
    assert by_field.loc["floor_area", "value"] == "rộng lắm" and by_field.loc["income_crops", "rule"] == "not_a_number"


def test_schema_failures_map_to_issue_rows_with_household_identity():
    rules = field_rules(QUESTIONNAIRE)
    assert rules["household_size"].minimum == 1 and rules["household_size"].maximum == 30
    frame = pd.DataFrame({"submission_id": ["x", "y"], "household_id": ["H1", "H2"], "hamlet": "A01", "enumerator": "e",
                          "household_size": pd.array([3, 31], dtype="Int64"), "floor_area": pd.array([50.0, 0.0], dtype="Float64")})
    issues = validate_table(frame, household_schema(QUESTIONNAIRE), ISSUE_COLUMNS)
    assert sorted(zip(issues["household_id"], issues["field"], issues["rule"])) == [
        ("H2", "floor_area", "out_of_range"), ("H2", "household_size", "out_of_range")]


def test_same_name_groups_link_exactly_the_pairs_that_do_not_contradict():
    """The one-pass linking gives the same groups as comparing every pair (random small groups)."""
    import random

    from rasoat.pipeline.checks import _link_compatible

    def components(n, link):
        parent = list(range(n))

        def find(i):
            while parent[i] != i:
                i = parent[i]
            return i

        def union(i, j):
            a, b = find(i), find(j)
            if a != b:
                parent[max(a, b)] = min(a, b)

        link(union)
        return [find(i) for i in range(n)]

    r = random.Random(7)
    for _ in range(2000):
        n = r.randint(1, 9)
        hid = [r.choice([None, "H1", "H2", "H3"]) for _ in range(n)]
        cccd = [r.choice([None, "C1", "C2"]) for _ in range(n)]

        def pairwise(union):
            for i in range(n):
                for j in range(i + 1, n):
                    if not ((hid[i] and hid[j] and hid[i] != hid[j]) or (cccd[i] and cccd[j] and cccd[i] != cccd[j])):
                        union(i, j)

        assert components(n, lambda union: _link_compatible(list(range(n)), hid, cccd, union)) == components(n, pairwise), (hid, cccd)


def test_duplicate_groups_are_those_of_linking_every_pair():
    """find_duplicates groups households exactly as linking every pair would (same household ID, same
    CCCD, or same folded name in the same hamlet without contradicting IDs), transitively; random
    communes where many same-name groups have both IDs everywhere (the groups it skips)."""
    import random
    import re

    r = random.Random(11)
    for _ in range(200):
        n = r.randint(2, 14)
        rows = [{"submission_id": f"s{i:02d}", "household_id": r.choice([None, "H1", "H2", "H3", "H4", "H5"]),
                 "head_id_number": r.choice([None, "091085624921", "091085624922", "091085624923", "091085624924"]),
                 "head_name": r.choice(["Lê Văn Tám", "Le Van Tam", "Trần Thị Bích", None]), "hamlet": r.choice(["A01", "A02"]),
                 "review_state": "received", "submitted_at": f"2026-10-{1 + i:02d}T08:00:00Z"} for i in range(n)]
        frame = _hh(rows)
        hid = [h.upper() if isinstance(h, str) else None for h in frame["household_id"]]
        cccd = [c if isinstance(c, str) else None for c in frame["head_id_number"]]
        name = [fold(v) if isinstance(v, str) else None for v in frame["head_name"]]
        parent = list(range(n))

        def find(i):
            while parent[i] != i:
                i = parent[i]
            return i

        for i in range(n):
            for j in range(i + 1, n):
                same_name = name[i] and name[i] == name[j] and frame["hamlet"][i] == frame["hamlet"][j]
                contradict = (hid[i] and hid[j] and hid[i] != hid[j]) or (cccd[i] and cccd[j] and cccd[i] != cccd[j])
                if (hid[i] and hid[i] == hid[j]) or (cccd[i] and cccd[i] == cccd[j]) or (same_name and not contradict):
                    a, b = find(i), find(j)
                    parent[max(a, b)] = min(a, b)
        expected: dict[int, set] = {}
        for i in range(n):
            expected.setdefault(find(i), set()).add(f"s{i:02d}")
        dropped, issues = find_duplicates(frame)
        found: dict[str, set] = {}
        for sid, message in zip(issues["submission_id"], issues["message"]):
            kept = re.search(r"giữ phiếu (s\d+)", message).group(1)
            found.setdefault(kept, {kept}).add(sid)
        assert sorted(map(sorted, found.values())) == sorted(sorted(g) for g in expected.values() if len(g) > 1), rows
        assert sorted(frame.loc[dropped, "submission_id"]) == sorted(issues["submission_id"])
