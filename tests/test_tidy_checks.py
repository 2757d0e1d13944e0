"""Raw store → tidy tables → checks, on synthetic exports in both of Central's formats."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.flows.review import questionnaire_for
from rasoat.pipeline import synthetic
from rasoat.pipeline.checks import check_tables
from rasoat.pipeline.classify import classify_households
from rasoat.pipeline.rawstore import RawStore, current_versions
from rasoat.pipeline.sources.folder import read_export_folder
from rasoat.pipeline.tidy import _already_clean, _names_cased, clean_name, clean_text, tidy_submissions
from rasoat.settings import load_settings

SETTINGS = load_settings()
QUESTIONNAIRE = questionnaire_for(SETTINGS)
STATES = set(SETTINGS.review.processed_review_states)


@pytest.fixture(scope="module")
def submissions():
    return synthetic.generate_commune(list(SETTINGS.hamlets), QUESTIONNAIRE, seed=11, scale=0.08)


def tidy_from(folder: Path, tmp: Path):
    read = read_export_folder(folder)
    assert read.problems == []
    with RawStore(f"sqlite:///{tmp / 'raw.sqlite3'}") as store:
        store.ingest(read.submissions)
        versions = store.versions()
    current, excluded = current_versions(versions, STATES)
    return tidy_submissions(current, QUESTIONNAIRE), excluded


@pytest.fixture(scope="module")
def both_formats(submissions, tmp_path_factory):
    csv_dir, json_dir = tmp_path_factory.mktemp("csv"), tmp_path_factory.mktemp("odata")
    synthetic.write_central_csv_zip(submissions, QUESTIONNAIRE, csv_dir / "export.csv.zip")
    synthetic.write_central_odata_json(submissions, QUESTIONNAIRE, json_dir, page_size=100)
    return tidy_from(csv_dir, tmp_path_factory.mktemp("s1")), tidy_from(json_dir, tmp_path_factory.mktemp("s2"))


def test_csv_export_and_odata_give_the_same_tidy_tables(both_formats):
    (from_csv, excluded_csv), (from_odata, excluded_odata) = both_formats
    key = ["submission_id"]
    a = from_csv.households.drop(columns=["submitted_at"]).sort_values(key).reset_index(drop=True)
    b = from_odata.households.drop(columns=["submitted_at"]).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    ma = from_csv.members.sort_values(["submission_id", "position"]).reset_index(drop=True)
    mb = from_odata.members.sort_values(["submission_id", "position"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ma, mb, check_dtype=False)
    assert list(excluded_csv["reason"]) == list(excluded_odata["reason"]) == ["review state rejected"]


def test_tidy_tables_are_typed_and_text_is_nfc(both_formats, submissions):
    tidy, _ = both_formats[0]
    hh, members = tidy.households, tidy.members
    assert str(hh["floor_area"].dtype) == "Float64" and str(hh["income_crops"].dtype) == "Int64"
    assert str(members["health_insurance"].dtype) == "boolean" and str(members["age"].dtype) == "Int64"
    assert hh["head_name"].dropna().map(lambda n: unicodedata.is_normalized("NFC", n) and "  " not in n).all()
    assert {"info_assets__tv", "info_assets__none", "location_lat", "location_lon", "members", "income_sources_year"} <= set(hh.columns)
    # the edited submission is read at its newest version
    edited = next(s for s in submissions if s["review_state"] == "edited")
    row = hh.set_index("submission_id").loc[edited["__id"]]
    assert row["instance_id"] == edited["instance_id"] and row["review_state"] == "edited"


def test_checks_find_the_dirt_and_keep_everything_else(both_formats, submissions):
    tidy, _ = both_formats[0]
    checked = check_tables(tidy, QUESTIONNAIRE, SETTINGS.commune.bounding_box)
    rules = set(checked.issues["rule"])
    assert {"impossible_age", "duplicate_household"} <= rules
    impossible = checked.issues[checked.issues["rule"] == "impossible_age"].iloc[0]
    assert impossible["field"] == "birth_year" and impossible["severity"] == "error" and impossible["household_id"]
    # every household is either classified or excluded with a reason: none is lost
    assert len(checked.households) + len(checked.excluded) == len(tidy.households)
    assert checked.excluded["reason"].notna().all()
    assert impossible["submission_id"] in set(checked.excluded["submission_id"])
    dup = checked.issues[checked.issues["rule"] == "duplicate_household"].iloc[0]["household_id"]
    assert (checked.households["household_id"] == dup).sum() == 1


def test_bad_values_become_issue_rows_not_crashes(tmp_path):
    subs = synthetic.generate_commune(list(SETTINGS.hamlets[:2]), QUESTIONNAIRE, seed=3, scale=0.01, dirt=False)
    tables = synthetic.central_csv_tables(subs, QUESTIONNAIRE)
    main = tables[f"{QUESTIONNAIRE.form_id}.csv"]
    header = main[0]
    main[1][header.index("housing-floor_area")] = "rộng lắm"  # not a number
    main[2][header.index("housing-water_source")] = "well_of_wishes"  # not a choice
    main[3][header.index("identification-head_name")] = "=HYPERLINK(\"http://x\")\x07"
    import csv
    import io
    import zipfile

    with zipfile.ZipFile(tmp_path / "export.zip", "w") as z:
        for name, rows in tables.items():
            buf = io.StringIO()
            csv.writer(buf).writerows(rows)
            z.writestr(name, buf.getvalue())
    tidy, _ = tidy_from(tmp_path, tmp_path)
    by_rule = tidy.issues.set_index("rule")
    assert by_rule.loc["not_a_number", "field"] == "floor_area" and by_rule.loc["not_a_number", "value"] == "rộng lắm"
    assert by_rule.loc["unknown_choice", "field"] == "water_source"
    checked = check_tables(tidy, QUESTIONNAIRE)
    assert len(checked.excluded) == 2  # the two with errors wait; the formula-like name is only text
    assert "\x07" not in "".join(checked.households["head_name"].dropna())
    classify_households(checked.households, checked.members, SETTINGS.ruleset_for(2026), SETTINGS.hamlets)


def test_text_cleaning():
    nfd = unicodedata.normalize("NFD", "nguyễn  thị   hồng")
    assert clean_name(nfd) == "Nguyễn Thị Hồng"
    assert clean_text("  a\tb \x00c ") == "a b c"
    assert clean_text("   ") is None and clean_text(None) is None


def test_a_screened_out_household_is_excluded_with_its_reason_not_an_error(tmp_path):
    subs = synthetic.generate_commune(list(SETTINGS.hamlets[:1]), QUESTIONNAIRE, seed=8, scale=0.02, dirt=False)
    out = subs[0]
    # what the phone sends when the quick screen ends the interview: nothing after the screen
    keep = {"started_at", "ended_at", "device_id", "hamlet", "previous_household", "previous_status", "new_household_id",
            "household_id", "head_name", "head_id_number", "phone", "address", "location", "ethnicity", "area_type",
            "consent", "previous_class", "enumerator", "interview_date"}
    out["answers"] = {k: (v if k in keep or k.startswith("screen_") else None) for k, v in out["answers"].items()}
    out["answers"].update({"screen_car": "yes", "screened_out": "yes", "screen_reason": "có ô tô con; "})
    out["members"] = []
    synthetic.write_central_odata_json(subs, QUESTIONNAIRE, tmp_path)
    tidy, _ = tidy_from(tmp_path, tmp_path)
    checked = check_tables(tidy, QUESTIONNAIRE, SETTINGS.commune.bounding_box)
    excluded = checked.excluded.set_index("submission_id")
    assert excluded.loc[out["__id"], "reason"] == "không thuộc diện rà soát (sàng lọc nhanh: có ô tô con)"
    assert checked.issues[(checked.issues["submission_id"] == out["__id"]) & (checked.issues["severity"] == "error")].empty
    assert len(checked.households) == len(subs) - 1


_LETTERS = "aăâbdđeêgiklmnoôơuưyàảãáạằẳắặầẩấậèẻẽéẹềểếệìỉĩíịòỏõóọồổốộờởỡớợùủũúụừửữứựỳỷỹýỵAĂÂĐÊÔƠƯÀÁẠÉ" + "ΣσßİıǅﬁX'-.1"
_WORDS = st.text(alphabet=_LETTERS, min_size=1, max_size=7)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.just(""), st.lists(_WORDS, min_size=1, max_size=4).map(" ".join)), max_size=8))
def test_names_cased_together_are_each_name_cased_alone(values):
    """The whole column's names cased at once give what `clean_name` gives each (or are left to it)."""
    assert _already_clean(values)
    cased = _names_cased(values)
    assert cased is None or cased == [clean_name(v) for v in values]
    if not any(c in v for v in values if v for c in "Σİßǅﬁ"):  # no letter whose case changes length or depends on its neighbours
        assert cased is not None
