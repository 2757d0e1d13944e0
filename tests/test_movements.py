"""Movements across three years of history, the history table, and importing official lists."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.pipeline.history import combine_history, history_from_record, load_history, read_official_history
from rasoat.pipeline.movements import (hamlet_movement_lists, household_movements, movement_counts, movement_list,
                                       movement_lists, reasons_by_submission)
from rasoat.pipeline.official_list import import_official_list, load_mapping, match_hamlet
from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.settings import load_settings

SETTINGS = load_settings()


def record(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(household_id, hamlet, class) rows as a publication's households record."""
    return pd.DataFrame([{"submission_id": f"s-{h}", "household_id": h, "head_name": f"Chủ hộ {h}", "hamlet": a, "household_class": c}
                         for h, a, c in rows])


# Three lists (2024, 2025 as history; 2026 this review) for households whose path we know.
PATHS = {
    #  id          2024         2025         2026 (now)    expected movement
    "A01-0001": ("poor",      "poor",      "poor",      "remained_poor"),
    "A01-0002": ("poor",      "poor",      "near_poor", "escaped_poverty_to_near_poor"),
    "A01-0003": ("poor",      "poor",      "not_poor",  "escaped_poverty_above"),
    "A01-0004": ("near_poor", "near_poor", "poor",      "near_poor_to_poor"),
    "A01-0005": ("not_poor",  "not_poor",  "poor",      "newly_poor"),
    "A01-0006": ("poor",      "average",   "poor",      "relapsed_poor"),  # escaped in 2025, poor again
    "A02-0007": ("near_poor", "near_poor", "average",   "escaped_near_poverty"),
    "A02-0008": ("near_poor", "not_poor",  "near_poor", "relapsed_near_poor"),
    "A02-0009": (None,        None,        "near_poor", "newly_near_poor"),  # on no list, never seen
    "A02-0010": ("near_poor", "near_poor", "near_poor", "remained_near_poor"),
    "A02-0011": ("poor",      "poor",      None,        "not_reviewed"),  # waiting for fixes this year
    "A02-0012": ("not_poor",  "not_poor",  "average",   "none"),
    "A02-0013": ("poor",      None,        "poor",      "relapsed_poor"),  # left the lists, poor again
}


def three_years() -> tuple[pd.DataFrame, pd.DataFrame]:
    history = combine_history(pd.concat([
        history_from_record(record([(h, h[:3], p[0]) for h, p in PATHS.items() if p[0]]), 2024, "publication:2024-x"),
        history_from_record(record([(h, h[:3], p[1]) for h, p in PATHS.items() if p[1]]), 2025, "publication:2025-x"),
    ]), pd.DataFrame(columns=["household_id", "year", "household_class", "hamlet", "head_name", "source"]))
    now = record([(h, h[:3], p[2]) for h, p in PATHS.items() if p[2]])
    now["reason"] = "lý do"
    return history, now


def test_movements_across_three_years():
    history, now = three_years()
    moves = household_movements(now, history, 2026).set_index("household_id")
    assert {h: moves.loc[h, "movement"] for h in PATHS} == {h: p[3] for h, p in PATHS.items()}
    assert moves.loc["A01-0006", "history"] == "2024: nghèo; 2025: mức sống trung bình"
    assert set(moves["start_year"]) == {2025}


def test_movement_table_balances_start_and_end_per_hamlet():
    history, now = three_years()
    moves = household_movements(now, history, 2026)
    table = movement_counts(moves, ["A01", "A02"]).set_index("hamlet")
    for code, row in table.iterrows():
        assert row["poor_end"] == (row["poor_start"] - row["poor_escaped_to_near_poor"] - row["poor_escaped_above"]
                                   - row["poor_not_reviewed"] + row["poor_from_near_poor"] + row["poor_new"] + row["poor_relapsed"]), code
        assert row["near_poor_end"] == (row["near_poor_start"] - row["near_poor_escaped"] - row["near_poor_to_poor"]
                                        - row["near_poor_not_reviewed"] + row["near_poor_from_poor"] + row["near_poor_new"]
                                        + row["near_poor_relapsed"])
    commune = table.loc[""]
    assert commune["poor_start"] == 4 and commune["poor_end"] == 5  # 0001 0002 0003 0011 (0013 not in 2025) → 0001 0004 0005 0006 0013
    assert commune["poor_relapsed"] == 2 and commune["poor_new"] == 1 and commune["poor_not_reviewed"] == 1


def _counts_by_grouping(movements: pd.DataFrame, hamlets: list[str]) -> pd.DataFrame:
    """movement_counts as first written: a comparison of the texts per column, a groupby by hamlet."""
    from rasoat.pipeline.movements import _COUNTED_MOVES

    move, start, end = movements["movement"], movements["start_class"], movements["household_class"]
    columns = {}
    for cls, (name, leaving, joining) in _COUNTED_MOVES.items():
        at_start = (start == cls).to_numpy(dtype=bool, na_value=False)
        columns[f"{name}_start"] = at_start
        columns |= {f"{name}_{c}": (move == m).to_numpy(dtype=bool, na_value=False) for c, m in leaving}
        columns[f"{name}_not_reviewed"] = at_start & (move == "not_reviewed").to_numpy(dtype=bool, na_value=False)
        columns |= {f"{name}_{c}": (move == m).to_numpy(dtype=bool, na_value=False) for c, m in joining}
        columns[f"{name}_end"] = (end == cls).to_numpy(dtype=bool, na_value=False)
    flags = pd.DataFrame(columns).astype("int64")
    per_hamlet = flags.groupby(movements["hamlet"].astype(object).to_numpy(), dropna=True).sum().reindex(hamlets, fill_value=0)
    out = pd.concat([per_hamlet, flags.sum().to_frame().T], ignore_index=True).astype("int64")
    out.insert(0, "hamlet", pd.Series([*hamlets, ""]))
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A01", "A02", "Z99", None]),
                          st.sampled_from(["remained_poor", "escaped_poverty_to_near_poor", "escaped_poverty_above", "near_poor_to_poor",
                                           "newly_poor", "relapsed_poor", "escaped_near_poverty", "relapsed_near_poor", "newly_near_poor",
                                           "not_reviewed", "none", None]),
                          st.sampled_from(["poor", "near_poor", "average", None]), st.sampled_from(["poor", "near_poor", "not_poor", None])),
                max_size=40),
       st.sampled_from(["object", "str"]))
def test_movement_counts_are_what_grouping_the_compared_texts_gives(rows, dtype):
    """Counted on codes found once per column and hamlet, not by comparing texts and grouping: the same
    table, rows of hamlets not listed (or none) counting in the commune only."""
    moves = pd.DataFrame(rows, columns=["hamlet", "movement", "start_class", "household_class"], dtype=object).astype(dtype)
    pd.testing.assert_frame_equal(movement_counts(moves, ["A01", "A02"]), _counts_by_grouping(moves, ["A01", "A02"]), check_exact=True)


def test_movement_lists_name_the_households():
    history, now = three_years()
    moves = household_movements(now, history, 2026)
    escaped = movement_list(moves, ("escaped_poverty_to_near_poor", "escaped_poverty_above"), reasons_by_submission(now))
    assert list(escaped["Mã hộ"]) == ["A01-0002", "A01-0003"]
    assert list(escaped["Đầu kỳ"]) == ["nghèo", "nghèo"] and list(escaped["Lý do"]) == ["lý do", "lý do"]


def test_a_hamlets_movement_lists_are_its_rows_of_the_communes():
    history, now = three_years()
    # the same household twice in a hamlet, households in an unknown hamlet and in none, a hamlet without movements
    extra = record([("A02-0008", "A02", "near_poor"), ("Z09-0001", "Z09", "poor"), ("X-0002", None, "poor")])
    extra["submission_id"] = ["s-again", "s-z", "s-none"]
    extra["reason"] = ["lý do khác", "z", "không ấp"]
    now = pd.concat([now.iloc[::-1], extra], ignore_index=True)
    moves = household_movements(now, history, 2026)
    reasons = reasons_by_submission(now)
    hamlets = ["A02", "A01", "Z09", "B07"]
    split = hamlet_movement_lists(movement_lists(moves, reasons), hamlets)
    assert list(split) == hamlets
    for code in hamlets:
        own = movement_lists(moves[moves["hamlet"] == code], reasons)
        assert list(split[code]) == list(own)
        for name, (title, table) in own.items():
            assert split[code][name][0] == title
            pd.testing.assert_frame_equal(split[code][name][1], table, check_index_type=True)
    assert list(split["A01"]["thoat-ngheo"][1]["Mã hộ"]) == ["A01-0002", "A01-0003"]
    assert list(split["A01"]["thoat-ngheo"][1]["STT"]) == [1, 2] and list(split["Z09"]["ngheo-phat-sinh"][1]["STT"]) == [1]
    assert all(len(table) == 0 for _, table in split["B07"].values())


def test_without_history_everyone_on_a_list_is_new():
    _, now = three_years()
    moves = household_movements(now, pd.DataFrame(columns=["household_id", "year", "household_class", "hamlet", "head_name", "source"]), 2026)
    assert set(moves.loc[moves["household_class"] == "poor", "movement"]) == {"newly_poor"}
    assert moves["start_year"].isna().all()


def test_history_reads_the_latest_publication_of_each_earlier_year(tmp_path: Path):
    pubs = tmp_path / "publications"
    for name, year, created, cls in [("2025-a", 2025, "2025-11-01T00:00:00Z", "poor"), ("2025-b", 2025, "2025-12-01T00:00:00Z", "near_poor"),
                                     ("2026-a", 2026, "2026-12-01T00:00:00Z", "not_poor")]:
        (pubs / name / "commune").mkdir(parents=True)
        (pubs / name / "manifest.json").write_text(json.dumps({"reference_year": year, "created_at": created}))
        record([("a01-0001", "A01", cls), ("A01-0002", "A01", "excluded")]).to_csv(pubs / name / "commune" / "households.csv", index=False)
    history = load_history(tmp_path, before_year=2026)
    assert history.to_dict("records") == [{"household_id": "A01-0001", "year": 2025, "household_class": "near_poor", "hamlet": "A01",
                                           "head_name": "Chủ hộ a01-0001", "source": "publication:2025-b"}]
    # an imported official list of 2025 takes precedence over our own 2025 publication
    (tmp_path / "history").mkdir()
    pd.DataFrame([{"household_id": "A01-0009", "year": 2025, "household_class": "poor", "hamlet": "A01", "head_name": "X"}]).to_csv(
        tmp_path / "history" / "official-2025-list.csv", index=False)
    history = load_history(tmp_path, before_year=2026)
    assert list(history["household_id"]) == ["A01-0009"] and history["source"].iloc[0] == "official:official-2025-list.csv"


# --- importing an official list ----------------------------------------------------------


def official_workbook(path: Path) -> Path:
    """A list as communes keep it: title block, merged cells, Vietnamese headers, bad rows."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS ho ngheo"
    ws["A1"] = "UBND XÃ VĨNH PHONG"
    ws.merge_cells("A1:C1")
    ws["A3"] = "DANH SÁCH HỘ NGHÈO, HỘ CẬN NGHÈO NĂM 2025"
    ws.merge_cells("A3:F3")
    ws.append([])
    ws.append(["STT", "Mã hộ", "Họ và tên chủ hộ", "Ấp", "Phân loại", "Ghi chú"])  # row 5
    ws.append(["(1)", "(2)", "(3)", "(4)", "(5)", "(6)"])  # column numbers under the header
    rows = [
        [1, "A01-0001", "Thạch Sa Rinh", "Ấp Ví Dụ 01", "Hộ nghèo", None],  # row 7
        [2, "A01-0002", "Lâm Thị Bé", None, "Cận nghèo", "ô ấp gộp"],  # row 8: hamlet cell merged with row 7
        [3, "A02-0003", "Ngô Văn Ba", "ap vi du 02", "HN", None],  # row 9: no accents
        [4, "A99-0004", "Trần Văn Tư", "Ấp Không Có", "Hộ nghèo", None],  # row 10: unknown hamlet
        [5, "A02-0005", "Lê Thị Năm", "A02", "Hộ nghèo", None],  # row 11: by code, but twice in the file
        [6, "A02-0005", "Lê Thị Năm", "A02", "Hộ nghèo", None],  # row 12
        [7, None, "Không Mã", "A02", "Hộ nghèo", None],  # row 13: no household ID
        [8, "A05-0008", "Đinh Văn Tám", "Ví Dụ 05", "Khá", None],  # row 14: unknown class
        [9, "K01-0009", "Tô Thị Chín", "Tân Hòa", "Hộ nghèo", None],  # row 15: ấp or khóm Tân Hòa? ambiguous
    ]
    for r in rows:
        ws.append(r)
    ws.merge_cells("D7:D8")
    ws.append([])
    ws.append([None, None, "Người lập biểu"])  # signature block, no ID
    wb.save(path)
    return path


def test_import_list_reads_the_sheet_and_reports_bad_rows(tmp_path: Path):
    hamlets = SETTINGS.hamlets
    ambiguous = hamlets + (hamlets[0].model_copy(update={"code": "X01", "name": "Ấp Tân Hòa"}),
                           hamlets[0].model_copy(update={"code": "X02", "name": "Khóm Tân Hòa"}))
    mapping = load_mapping(BUNDLED_CONFIG_DIR / "import-list.yaml")
    result, stored, report = import_official_list(official_workbook(tmp_path / "ds.xlsx"), 2025, ambiguous, tmp_path / "history", mapping)
    assert result.header_row == 5
    accepted = result.accepted.set_index("household_id")
    assert list(accepted.index) == ["A01-0001", "A01-0002", "A02-0003"]
    assert accepted.loc["A01-0002", "hamlet"] == "A01" and accepted.loc["A01-0002", "household_class"] == "near_poor"
    assert accepted.loc["A02-0003", "household_class"] == "poor"
    problems = {(r.row, r.problem) for r in result.problems.itertuples()}
    assert problems == {(10, "unknown_hamlet"), (11, "duplicate_household"), (12, "duplicate_household"), (13, "missing_household_id"),
                        (14, "unknown_class"), (15, "ambiguous_hamlet"), (17, "missing_household_id")}
    assert stored.name == "official-2025-ds.csv" and report.is_file()
    history = read_official_history(tmp_path / "history")
    assert list(history["household_id"]) == ["A01-0001", "A01-0002", "A02-0003"] and set(history["year"]) == {2025}


def test_a_list_of_one_class_and_conflicts_between_lists(tmp_path: Path):
    mapping = load_mapping(BUNDLED_CONFIG_DIR / "import-list.yaml")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Mã hộ", "Chủ hộ", "Tên ấp"])
    ws.append(["A01-0001", "Thạch Sa Rinh", "A01"])  # already poor on the other list: conflict
    ws.append(["A01-0077", "Hộ Mới", "A01"])
    wb.save(tmp_path / "can-ngheo.xlsx")
    import_official_list(official_workbook(tmp_path / "ds.xlsx"), 2025, SETTINGS.hamlets, tmp_path / "h", mapping)
    result, _, _ = import_official_list(tmp_path / "can-ngheo.xlsx", 2025, SETTINGS.hamlets, tmp_path / "h", mapping, fixed_class="near_poor")
    assert list(result.accepted["household_id"]) == ["A01-0077"]
    assert list(result.problems["problem"]) == ["conflicting_list"]


def test_hamlet_matching_by_code_or_name_never_guesses():
    hamlets = SETTINGS.hamlets
    assert match_hamlet("a01", hamlets) == ("A01", None)
    assert match_hamlet("ẤP VÍ DỤ 01", hamlets) == ("A01", None)
    assert match_hamlet("Vi Du 05", hamlets) == ("A05", None)
    assert match_hamlet("Ví Dụ 02", hamlets) == (None, "ambiguous_hamlet")  # Ấp Ví Dụ 02 or Khóm Ví Dụ 02
    assert match_hamlet("Ví Dụ 99", hamlets) == (None, "unknown_hamlet")
    assert match_hamlet("", hamlets) == (None, "unknown_hamlet")


def test_import_list_command(tmp_path: Path):
    from typer.testing import CliRunner

    from rasoat.cli import app

    path = official_workbook(tmp_path / "ds.xlsx")
    result = CliRunner().invoke(app, ["import-list", str(path), "--year", "2025", "--data-dir", str(tmp_path / "data")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output  # rows were not imported: said, and the exit code says it too
    assert "3 households accepted" in result.output and "không tìm thấy ấp" in result.output
    assert (tmp_path / "data" / "history" / "official-2025-ds.csv").is_file()


def test_the_vectorised_movements_follow_the_one_household_rule():
    from rasoat.pipeline.movements import _movement

    history, now = three_years()
    moves = household_movements(now, history, 2026).set_index("household_id")
    for h, (y2024, y2025, y2026, _) in PATHS.items():
        assert moves.loc[h, "movement"] == _movement(y2025, y2026, {y2024} - {None})
