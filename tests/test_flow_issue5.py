"""The review flow with movements, facts, report tables, the index, overrides and the points method;
the `classify` and `compare` commands."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from rasoat.cli import app
from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.flows.review import review_flow
from rasoat.settings import load_settings

pytestmark = pytest.mark.usefixtures("prefect_harness")
SETTINGS = load_settings()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "examples"


# `data_dir` (a small synthetic inbox) comes from conftest.py


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_second_year_publishes_movements_facts_and_report_tables(data_dir: Path):
    first = review_flow(data_dir=str(data_dir), reference_year=2025)
    poor_2025 = {r["Mã hộ"] for r in rows(first.publication / "commune" / "ho-ngheo.csv")}
    assert set(first.movements["movement"]) <= {"newly_poor", "newly_near_poor", "none"}  # no history yet

    # an imported official 2024 list with one household that is off the lists in 2025
    record = rows(first.publication / "commune" / "households.csv")
    off_list = next(r for r in record if r["household_class"] in ("not_poor", "average"))
    history = data_dir / "history"
    history.mkdir()
    with (history / "official-2024-ds.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["household_id", "year", "household_class", "hamlet", "head_name"])
        w.writerow([off_list["household_id"], 2024, "poor", off_list["hamlet"], off_list["head_name"]])

    second = review_flow(data_dir=str(data_dir), reference_year=2026, pull=False)
    pub = second.publication
    manifest = json.loads((pub / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["history"]["years"] == [2024, 2025]
    moves = second.movements.set_index("household_id")
    assert set(moves.loc[moves["start_class"] == "poor"].index) == poor_2025
    assert set(moves.loc[list(poor_2025), "movement"]) == {"remained_poor"}  # same data, same rules: nobody moved
    assert sum(manifest["counts"]["movements"].values()) == len(second.movements)

    table = rows(pub / "commune" / "bien-dong-theo-ap.csv")
    commune = table[-1]
    assert commune["Tên ấp"] == "Toàn xã" and int(commune["Hộ nghèo đầu kỳ"]) == len(poor_2025)
    assert int(commune["Hộ nghèo cuối kỳ"]) == manifest["counts"]["poor"]
    for name in ("thoat-ngheo", "ngheo-phat-sinh", "tai-ngheo", "thoat-can-ngheo", "can-ngheo-phat-sinh", "tai-can-ngheo"):
        assert (pub / "commune" / "bien-dong" / f"{name}.csv").is_file()
    assert len(openpyxl.load_workbook(pub / "commune" / "bien-dong" / "bien-dong.xlsx").worksheets) == 7

    detail = rows(pub / "commune" / "chi-tiet-chi-so.csv")
    assert len(detail) == 12 * second.households_classified
    h2 = [r for r in detail if r["Mã chỉ số"] == "H2" and r["Thiếu hụt"] == "Có"]
    assert h2 and all(r["Căn cứ"].startswith("thành viên số ") and r["Căn cứ"].endswith("không có thẻ BHYT") for r in h2)

    sheets = openpyxl.load_workbook(pub / "commune" / "bang-chi-so.xlsx").sheetnames
    for name in ("Tỷ lệ theo ấp", "Biến động theo ấp", "Hộ DTTS theo ấp", "Thiếu hụt theo ấp", "Thiếu hụt của trẻ em",
                 "Nguyên nhân nghèo", "Nhóm chính sách", "BHYT hộ nghèo, cận nghèo", "Nước sạch và điện", "Lộ trình mục tiêu",
                 "Chỉ số MPI (Alkire-Foster)"):
        assert name in sheets
    path = {r["Năm"]: r for r in rows(pub / "commune" / "lo-trinh-muc-tieu.csv") if r["Mã mục tiêu"] == "poor_rate"}
    assert sorted(path) == ["2025", "2026", "2027", "2028", "2029", "2030"]
    assert path["2026"]["Đúng lộ trình"] in ("Đúng lộ trình", "Chưa đạt lộ trình") and path["2027"]["Đúng lộ trình"] == ""
    mpi = rows(pub / "commune" / "chi-so-mpi-alkire-foster.csv")
    assert len(mpi) == len(SETTINGS.hamlets) + 1


def test_an_override_and_a_points_table_show_in_the_publication(data_dir: Path, config_copy: Path):
    from test_index_points_overrides import with_override

    with_override(config_copy)
    commune = config_copy / "commune.yaml"
    commune.write_text(commune.read_text(encoding="utf-8").replace('points_table: ""', "points_table: mekong-delta-rural"), encoding="utf-8")
    result = review_flow(data_dir=str(data_dir), config_dir=str(config_copy), reference_year=2026)
    manifest = json.loads((result.publication / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rule_set"]["id"] == "ag-2025-2026" and manifest["rule_set"]["override"]["extends"] == "vn-2022-2026"
    assert manifest["rule_set"]["override"]["authority"] == "UBND tỉnh An Giang"
    assert manifest["points_table"] == {"id": "mekong-delta-rural-example", "example": True, "method_deciding_class": "direct"}
    ws = openpyxl.load_workbook(result.publication / "commune" / "ho-ngheo.xlsx").worksheets[0]
    texts = [c.value for row in ws.iter_rows(max_row=10) for c in row if isinstance(c.value, str)]
    assert any("AG-2025-2026.1" in t and "UBND tỉnh An Giang" in t for t in texts)
    side = rows(result.publication / "commune" / "so-sanh-hai-phuong-phap.csv")
    assert len(side) == result.households_classified and "VÍ DỤ" in side[0]["Bảng điểm"]


def test_compare_command_on_the_stored_households(data_dir: Path, tmp_path: Path):
    review_flow(data_dir=str(data_dir), reference_year=2026)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare", "--from-year", "2026", "--to-year", "2027", "--data-dir", str(data_dir), "--out", str(out)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Toàn xã" in result.output and "tạm thời" in result.output
    by_hamlet = rows(out / "so-sanh-2022-2026-1-2027-2030-1-theo-ap.csv")
    total = by_hamlet[-1]
    for cls, words in (("nghèo", "hộ nghèo"), ("cận nghèo", "hộ cận nghèo")):
        before, after = int(total[f"Hộ {cls} (2022-2026.1)"]), int(total[f"Hộ {cls} (2027-2030.1)"])
        assert after == before + int(total[f"Vào danh sách {words}"]) - int(total[f"Ra khỏi danh sách {words}"])
    changed = rows(out / "so-sanh-2022-2026-1-2027-2030-1-ho-thay-doi.csv")
    assert changed and all(r["Vì sao"] for r in changed)
    assert (out / "so-sanh-2022-2026-1-2027-2030-1.xlsx").is_file()
    by_id = CliRunner().invoke(app, ["compare", "--from-rules", "vn-2022-2026", "--to-rules", "vn-2027-2030", "--data-dir", str(data_dir),
                                     "--out", str(out)], env={"COLUMNS": "200"})
    assert by_id.exit_code == 0, by_id.output


def test_classify_command_round_trip(tmp_path: Path):
    shutil.copy(DOCS / "households.csv", tmp_path / "households.csv")
    shutil.copy(DOCS / "members.csv", tmp_path / "members.csv")
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "households.csv"), "--reference-year", "2026"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = {r["household_id"]: r for r in rows(tmp_path / "households-ket-qua.csv")}
    assert out["A01-0001"]["household_class"] == "poor" and out["A01-0001"]["fact_N2"] == "45 m² / 6 người = 7,5 m²/người < 8"
    assert out["A01-0001"]["fact_H2"] == "thành viên số 3 (8 tuổi) không có thẻ BHYT"
    assert out["A01-0002"]["income_per_capita_month"] == "1500000" and out["A01-0002"]["household_class"] == "near_poor"  # on the line
    assert out["K01-0003"]["area_type"] == "urban" and out["K01-0003"]["income_line"] == "2000000"
    assert out["A01-0001"]["reason"].endswith("→ hộ nghèo")
    later = CliRunner().invoke(app, ["classify", str(tmp_path / "households.csv"), "--reference-year", "2027", "--out", str(tmp_path / "r.csv")])
    assert later.exit_code == 0
    assert {r["provisional"] for r in rows(tmp_path / "r.csv")} == {"yes"}
    assert "deprived_W3" in rows(tmp_path / "r.csv")[0]

    bad = (tmp_path / "households.csv").read_text(encoding="utf-8").replace("surface", "river")
    (tmp_path / "bad.csv").write_text(bad, encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "bad.csv"), "-y", "2026", "--members", str(tmp_path / "members.csv")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "bad.csv row 2, water_source: 'river' is not one of" in result.output
    assert "Traceback" not in result.output


def test_a_province_sized_run_in_worker_processes_publishes_the_same_files(data_dir: Path, monkeypatch):
    """RASOAT_WORKERS=2 takes the worker-process paths a province-sized run takes (tidy chunks, the
    hamlets' movement workbooks, every list file): the publication is the same, file for file."""
    from rasoat.flows.review import rerun_flow

    review_flow(data_dir=str(data_dir), reference_year=2026)
    monkeypatch.setenv("RASOAT_WORKERS", "1")
    alone = rerun_flow(data_dir=str(data_dir), reference_year=2026).publication
    monkeypatch.setenv("RASOAT_WORKERS", "2")
    spread = rerun_flow(data_dir=str(data_dir), reference_year=2026).publication
    files = sorted(p.relative_to(alone) for p in alone.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert files == sorted(p.relative_to(spread) for p in spread.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert any(p.parts[0] == "hamlets" and "bien-dong" in p.parts for p in files)
    for rel in files:
        assert (alone / rel).read_bytes() == (spread / rel).read_bytes(), rel
