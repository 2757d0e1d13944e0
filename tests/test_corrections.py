"""Corrections applied on top of the raw data, their audit, the corrections file, and the rerun diff."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _households import QUESTIONNAIRE, household, patched, tidy
from rasoat.pipeline.checks import check_tables
from rasoat.pipeline.corrections import (
    AUDIT_COLUMNS, _may_start_with_quote, apply_corrections, audit_table, class_changes, class_changes_table, households_record,
    read_corrections, read_households_record,
)
from rasoat.pipeline.publish import csv_bytes
from rasoat.pipeline.tidy import tidy_submissions


def ledger(*rows):
    return pd.DataFrame([{"reason": "kiểm tra lại tại hộ", "officer": "cán bộ A", "date": "2026-11-01", **r} for r in rows])


def test_household_and_member_fields_are_corrected_and_audited():
    h = household(0)
    h["members"][1]["birth_year"] = 1850
    hid = h["answers"]["household_id"]
    tables = tidy([h])
    corrected, audit = apply_corrections(tables, ledger(
        {"household_id": hid, "field": "member[2].birth_year", "old_value": "1850", "new_value": "1985"},
        {"household_id": hid.lower(), "field": "floor_area", "new_value": "45,5"},
        {"household_id": hid, "field": "income_wages", "new_value": "1.500.000"},
        {"household_id": hid, "field": "water_source", "new_value": "Nước máy"},  # the Vietnamese label
    ), QUESTIONNAIRE)
    assert list(audit.columns) == AUDIT_COLUMNS and audit["result"].tolist() == ["applied"] * 4
    row = corrected.households.iloc[0]
    assert row["floor_area"] == 45.5 and row["income_wages"] == 1_500_000 and row["water_source"] == "piped"
    assert row["corrected_fields"] == "floor_area; income_wages; member[2].birth_year; water_source"
    member = corrected.members.set_index("position").loc[2]
    assert member["birth_year"] == 1985 and member["age"] == row["interview_year"] - 1985  # derived columns recomputed
    assert row["income_sources_year"] == tables.households.iloc[0]["income_sources_year"] - h["answers"]["income_wages"] + 1_500_000
    # the impossible age that kept the household waiting is gone
    assert check_tables(tables, QUESTIONNAIRE).excluded.shape[0] == 1
    assert check_tables(corrected, QUESTIONNAIRE).excluded.empty
    assert tables.households.iloc[0]["floor_area"] != 45.5  # the input tables are not changed


def test_a_correction_clears_the_tidy_issue_it_fixes():
    h = household(0)
    frame = patched(h, housing__water_source="well_of_wishes")
    tables = tidy_submissions(frame, QUESTIONNAIRE)
    assert "unknown_choice" in set(tables.issues["rule"])
    corrected, audit = apply_corrections(tables, ledger(
        {"household_id": h["answers"]["household_id"], "field": "water_source", "old_value": "well_of_wishes", "new_value": "borehole"}),
        QUESTIONNAIRE)
    assert audit.iloc[0]["result"] == "applied" and audit.iloc[0]["current_value"] == "well_of_wishes"
    assert corrected.issues.empty and check_tables(corrected, QUESTIONNAIRE).excluded.empty


def test_corrections_that_no_longer_fit_or_are_wrong_are_reported_not_applied():
    h = household(0)
    hid = h["answers"]["household_id"]
    tables = tidy([h])
    area = h["answers"]["floor_area"]
    corrected, audit = apply_corrections(tables, ledger(
        {"household_id": hid, "field": "floor_area", "old_value": str(area + 7), "new_value": "12"},  # the phone changed it since
        {"household_id": "KHONG-CO", "field": "floor_area", "new_value": "12"},
        {"household_id": hid, "field": "so_phong", "new_value": "3"},
        {"household_id": hid, "field": "member[9].birth_year", "new_value": "1990"},
        {"household_id": hid, "field": "household_size", "new_value": "ba"},
        {"household_id": hid, "field": "water_source", "new_value": "giếng thần"},
        {"household_id": hid, "field": "started_at", "new_value": "2026-01-01"},
        {"household_id": "", "field": "floor_area", "new_value": "3"},
    ), QUESTIONNAIRE)
    assert audit["result"].tolist() == ["stale", "unknown_household", "unknown_field", "unknown_member", "invalid_value",
                                        "invalid_value", "unknown_field", "incomplete"]
    assert not audit["applied"].any() and audit["message"].str.len().gt(0).all()
    assert str(area) in audit.iloc[0]["message"] or str(int(area)) in audit.iloc[0]["message"]
    pd.testing.assert_frame_equal(corrected.households.drop(columns="corrected_fields"), tables.households)
    assert set(audit_table(audit)["Kết quả"]) == {"Không áp dụng"}


def test_later_corrections_of_the_same_answer_win():
    h = household(0)
    hid = h["answers"]["household_id"]
    corrected, audit = apply_corrections(tidy([h]), ledger(
        {"household_id": hid, "field": "floor_area", "new_value": "80", "date": "2026-11-05"},
        {"household_id": hid, "field": "floor_area", "new_value": "60", "date": "2026-11-02"},
    ), QUESTIONNAIRE)
    assert corrected.households.iloc[0]["floor_area"] == 80
    assert audit["result"].tolist() == ["applied", "superseded"]


def test_the_corrections_file_csv_and_xlsx_with_vietnamese_headers(tmp_path):
    folder = tmp_path / "corrections"
    folder.mkdir()
    (folder / "corrections.csv").write_text("Mã hộ,Trường,Giá trị cũ,Giá trị mới,Lý do,Người sửa,Ngày\nA01-0001,floor_area,,'=1+1,x,y,2026-11-01\n",
                                            encoding="utf-8-sig")
    pd.DataFrame([{"household_id": "A01-0002", "field": "phone", "new_value": "0912345678"}]).to_excel(folder / "corrections.xlsx", index=False)
    table = read_corrections(folder)
    assert table["household_id"].tolist() == ["A01-0001", "A01-0002"]
    assert table.iloc[0]["new_value"] == "=1+1"  # our own neutralising quote is taken off
    (folder / "corrections.csv").write_text("household,value\n1,2\n", encoding="utf-8")
    (folder / "corrections.xlsx").write_bytes(b"not a workbook")
    broken = read_corrections(folder)
    _, audit = apply_corrections(tidy([household(0)]), broken, QUESTIONNAIRE)
    assert audit["result"].tolist() == ["unreadable_file", "unreadable_file"]
    assert read_corrections(tmp_path / "nothing").empty


def _record(rows):
    return pd.DataFrame(rows).reindex(columns=["submission_id", "household_id", "hamlet", "household_class", "income_per_capita_month",
                                               "deprivation_count", "deprived_indicators", "corrected_fields"])


def test_class_changes_name_the_cause():
    previous = _record([
        {"submission_id": "s1", "household_id": "H1", "hamlet": "A01", "household_class": "poor", "income_per_capita_month": 1_200_000,
         "deprived_indicators": "E1, H2, W1"},
        {"submission_id": "s2", "household_id": "H2", "hamlet": "A01", "household_class": "near_poor", "income_per_capita_month": 1_400_000,
         "deprived_indicators": ""},
        {"submission_id": "s3", "household_id": "H3", "hamlet": "A02", "household_class": "not_poor", "income_per_capita_month": 9_000_000},
        {"submission_id": "s4", "household_id": "H4", "hamlet": "A02", "household_class": "poor", "income_per_capita_month": 900_000},
    ])
    current = _record([
        {"submission_id": "s1", "household_id": "H1", "hamlet": "A01", "household_class": "near_poor", "income_per_capita_month": 1_200_000,
         "deprived_indicators": "E1, H2", "corrected_fields": "member[2].health_insurance"},
        {"submission_id": "s2", "household_id": "H2", "hamlet": "A01", "household_class": "average", "income_per_capita_month": 2_100_000,
         "deprived_indicators": "", "corrected_fields": "income_wages"},
        {"submission_id": "s3", "household_id": "H3", "hamlet": "A02", "household_class": "not_poor", "income_per_capita_month": 9_000_000},
        {"submission_id": "s4", "household_id": "H4", "hamlet": "A02", "household_class": "excluded"},
        {"submission_id": "s5", "household_id": None, "hamlet": "A02", "household_class": "poor", "income_per_capita_month": 800_000},
    ])
    audit = pd.DataFrame([
        {"household_id": "H1", "field": "member[2].health_insurance", "new_value": "yes", "result": "applied"},
        {"household_id": "H2", "field": "income_wages", "new_value": "30000000", "result": "applied"},
        {"household_id": "H2", "field": "phone", "new_value": "x", "result": "stale"},
    ])
    changes = class_changes(previous, current, audit).set_index("submission_id")
    assert sorted(changes.index) == ["s1", "s2", "s4", "s5"]
    assert changes.loc["s1", "old_class"] == "poor" and changes.loc["s1", "new_class"] == "near_poor"
    assert "member[2].health_insurance = yes" in changes.loc["s1", "cause"] and changes.loc["s1", "indicators_lost"] == "W1"
    assert "income_wages = 30000000" in changes.loc["s2", "cause"] and "1.400.000 → 2.100.000" in changes.loc["s2", "cause"]
    assert "phone" not in changes.loc["s2", "cause"]
    assert "lỗi dữ liệu" in changes.loc["s4", "cause"] and "hộ mới" in changes.loc["s5", "cause"]
    table = class_changes_table(changes.reset_index())
    assert list(table.columns)[:5] == ["Mã hộ", "Mã phiếu", "Ấp", "Phân loại lần trước", "Phân loại lần này"]
    assert class_changes(None, current).empty


def test_households_record_round_trips_through_the_published_csv(tmp_path):
    classified = pd.DataFrame({"submission_id": ["s1"], "household_id": ["-H1"], "hamlet": ["A01"], "household_class": ["poor"],
                               "income_per_capita_month": [900_000], "deprivation_count": [3], "deprived_indicators": ["E1, H2, W1"],
                               "corrected_fields": [None], "deprived_E1": [True], "deprived_H2": [False]})
    excluded = pd.DataFrame({"submission_id": ["s2"], "household_id": ["H2"], "hamlet": ["A01"], "reason": ["lỗi"]})
    record = households_record(classified, excluded)
    path = tmp_path / "households.csv"
    path.write_bytes(csv_bytes(record))
    back = read_households_record(path)
    assert back["household_id"].tolist() == ["-H1", "H2"]  # neutralised on write, restored on read
    assert back["household_class"].tolist() == ["poor", "excluded"] and back.loc[0, "deprived_E1"] == "1"
    # a flag is a byte: 1 / 0, and empty for a household waiting (not 0: it was not classified)
    assert str(record["deprived_H2"].dtype) == "Int8" and record["deprived_H2"].tolist() == [0, pd.NA]
    assert back.loc[0, "deprived_H2"] == "0" and back.loc[1, ["deprived_E1", "deprived_H2"]].isna().all()
    assert class_changes(back, record.astype(object).where(record.notna(), None).map(lambda v: str(v) if v is not None else None)).empty


@pytest.mark.parametrize("cells", [
    ["H1", "", "=x"],  # nothing quoted: the column is left alone
    ["'=x", "H2"], ["H1", "'-2"], ["a\x00'b"],  # a quote at the start of the first cell or of another; a NUL inside a cell
    ["H1", None], [1, "'=x"],  # a missing or non-text cell: asked cell by cell
])
def test_a_column_is_searched_for_quoted_cells_when_one_may_be_there(cells):
    column = pd.Series(cells, dtype=object)
    quoted = any(isinstance(v, str) and v.startswith("'") for v in cells)
    assert _may_start_with_quote(column) or not quoted  # never misses a quoted cell
    if all(isinstance(v, str) and "\x00" not in v for v in cells):
        assert _may_start_with_quote(column) == quoted


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="'=+-@\tAă ", min_size=1, max_size=5), min_size=1, max_size=6), st.booleans())
def test_every_text_comes_back_from_the_published_csv_as_it_was(tmp_path_factory, texts, with_separator):
    """`neutralise` on writing and the quote taken off on reading undo each other, for any text
    (a household ID "'=1" once came back as "=1"), by the column path and the per-value one."""
    column = [*texts, "a\x00b"] if with_separator else texts  # a text holding the column path's separator: value by value
    path = tmp_path_factory.mktemp("record") / "households.csv"
    path.write_bytes(csv_bytes(pd.DataFrame({"household_id": column, "hamlet": ["A01"] * len(column)})))
    back = read_households_record(path)
    assert back["household_id"].tolist() == [t if t != "" else None for t in column]
