"""The whole review through Prefect and through the command line, on a small synthetic commune."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rasoat.cli import app
from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.flows.review import DataFolder, ensure_demo_inbox, review_flow
from rasoat.pipeline.publish import current_publication
from rasoat.settings import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("prefect_harness")
SETTINGS = load_settings()


# `data_dir` (a small synthetic inbox) comes from conftest.py


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_review_flow_publishes_lists_and_tables_that_match_the_counts(data_dir: Path):
    result = review_flow(data_dir=str(data_dir), reference_year=2026)
    pub = current_publication(data_dir / "publications")
    assert pub == result.publication
    manifest = json.loads((pub / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rule_set"]["version"] == "2022-2026.1" and manifest["reference_year"] == 2026
    poor = rows(pub / "commune" / "ho-ngheo.csv")
    near = rows(pub / "commune" / "ho-can-ngheo.csv")
    assert len(poor) == manifest["counts"]["poor"] == result.by_hamlet.iloc[-1]["poor"]
    assert len(near) == manifest["counts"]["near_poor"] == result.by_hamlet.iloc[-1]["near_poor"]
    assert result.households_classified + result.households_excluded == manifest["inputs"]["current_submissions"]
    assert all("→ hộ nghèo" in r["Lý do"] for r in poor)
    hamlet_total = sum(len(rows(pub / "hamlets" / h.code / "ho-ngheo.csv")) for h in SETTINGS.hamlets)
    assert hamlet_total == len(poor)
    # movement lists for the commune and, beside its other lists, for each hamlet
    assert (pub / "commune" / "bien-dong" / "bien-dong.xlsx").is_file()
    for h in SETTINGS.hamlets:
        assert (pub / "hamlets" / h.code / "bien-dong" / "bien-dong.xlsx").is_file()
    newly_poor = [f for f in (pub / "commune" / "bien-dong").glob("*.csv") if "phat-sinh" in f.name]
    assert newly_poor, "the newly poor list is published"
    hamlet_newly = sum(len(rows(pub / "hamlets" / h.code / "bien-dong" / newly_poor[0].name)) for h in SETTINGS.hamlets)
    assert hamlet_newly == len(rows(newly_poor[0]))
    # the next year's preload and the input snapshot travel with the publication
    assert rows(pub / "preload" / "previous_households.csv")[0].keys() == {"name", "label", "hamlet", "status", "status_label"}
    assert len(rows(pub / "inputs.csv")) == manifest["inputs"]["current_submissions"] - manifest["inputs"]["excluded_by_review_state"]
    rates = rows(pub / "commune" / "ty-le-theo-ap.csv")
    assert rates[-1]["Tên ấp"] == "Toàn xã" and len(rates) == len(SETTINGS.hamlets) + 1
    # the members of every listed household (for the certificates), as many as the lists count, the head first
    members = rows(pub / "commune" / "thanh-vien.csv")
    listed = poor + near + rows(pub / "commune" / "ho-muc-song-trung-binh.csv")
    by_household: dict[str, list[dict]] = {}
    for m in members:
        by_household.setdefault(m["Mã hộ"], []).append(m)
    assert set(by_household) == {r["Mã hộ"] for r in listed}
    assert all(len(by_household[r["Mã hộ"]]) == int(r["Số nhân khẩu"]) for r in listed)
    assert all([m["STT"] for m in ms] == [str(k) for k in range(1, len(ms) + 1)] for ms in by_household.values())
    assert all(ms[0]["Quan hệ với chủ hộ"] == "Chủ hộ" and ms[0]["Họ và tên"] for ms in by_household.values())


def test_second_run_stores_nothing_new_and_gives_the_same_lists(data_dir: Path):
    first = review_flow(data_dir=str(data_dir), reference_year=2026)
    second = review_flow(data_dir=str(data_dir), reference_year=2026)
    assert second.new_versions == 0 and first.new_versions > 0
    assert second.publication != first.publication
    for name in ("ho-ngheo.csv", "ho-can-ngheo.csv", "niem-yet-ho-ngheo.csv"):
        assert (first.publication / "commune" / name).read_bytes() == (second.publication / "commune" / name).read_bytes()


def test_2027_rules_mark_the_publication_provisional(data_dir: Path):
    result = review_flow(data_dir=str(data_dir), reference_year=2027)
    assert result.rule_set_version == "2027-2030.1" and result.provisional
    assert all(r["Quy tắc tạm thời"] == "Có" for r in rows(result.publication / "commune" / "ho-ngheo.csv"))


def test_a_chosen_rule_set_classifies_the_year_under_it(data_dir: Path):
    result = review_flow(data_dir=str(data_dir), reference_year=2026, rule_set="vn-2027-2030")
    assert result.reference_year == 2026 and result.rule_set_version == "2027-2030.1" and result.provisional
    manifest = json.loads((result.publication / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rule_set"]["id"] == "vn-2027-2030" and manifest["reference_year"] == 2026
    with pytest.raises(ConfigError, match="no rule set with id 'vn-1999'.*vn-2022-2026"):
        SETTINGS.with_rule_set("vn-1999")


def test_a_failed_run_leaves_the_last_good_publication_current(data_dir: Path, tmp_path: Path):
    good = review_flow(data_dir=str(data_dir), reference_year=2026)
    config = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    rules = config / "rulesets" / "2022-2026.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace('member: "age >= 6 and not health_insurance"',
                                                               'member: "age >= 6 and not health_insurence"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"indicators\[3\] \(H2\)\.member"):
        review_flow(data_dir=str(data_dir), config_dir=str(config), reference_year=2026)
    assert current_publication(data_dir / "publications") == good.publication
    assert sorted(p.name for p in (data_dir / "publications").iterdir() if p.is_dir() and not p.is_symlink()) == [good.publication.name]


def test_rasoat_run_from_the_command_line(tmp_path: Path):
    data = tmp_path / "fresh"
    config = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    # a smaller example commune keeps the test quick; the command is the same
    hamlets = config / "hamlets.yaml"
    hamlets.write_text("example: true\nhamlets:\n  - { code: A01, name: Ấp Ví Dụ 01, area_type: rural, resident_households: 150 }\n"
                       "  - { code: K01, name: Khóm Ví Dụ 01, area_type: urban, resident_households: 90 }\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--data-dir", str(data), "--config", str(config)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Toàn xã" in result.output and "Ấp Ví Dụ 01" in result.output
    assert "EXAMPLE" in result.output and "Publication:" in result.output
    assert (data / "inbox" / "rasoat_household.csv.zip").is_file()
    assert current_publication(data / "publications") is not None


def test_command_line_errors_are_short_and_actionable(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (config / "hamlets.yaml").write_text("hamlets:\n  - { code: a1, name: X }\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "hamlets.yaml" in result.output and "hamlets[0].code" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(app, ["run", "--year", "2040", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "no rule set covers reference year 2040" in result.output
    result = CliRunner().invoke(app, ["run", "--rule-set", "vn-1999", "--data-dir", str(tmp_path / "d")], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "no rule set with id 'vn-1999'" in result.output
    for command in (["--help"], ["run", "--help"], ["config", "check", "--help"]):
        assert CliRunner().invoke(app, command).exit_code == 0


def test_demo_inbox_is_written_once(tmp_path: Path):
    folder = DataFolder(tmp_path)
    small = SETTINGS.model_copy(update={"hamlets": SETTINGS.hamlets[:1]})
    made = ensure_demo_inbox(small, folder)
    assert made is not None and made.is_file()
    assert ensure_demo_inbox(small, folder) is None


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like_cells(publication: Path) -> list[str]:
    """Every text cell of every CSV and XLSX of a publication that a spreadsheet would evaluate."""
    import openpyxl

    found = []
    for path in publication.rglob("*.csv"):
        with path.open(encoding="utf-8-sig", newline="") as f:
            for row in csv.reader(f):
                for cell in row:
                    if cell.startswith(FORMULA_STARTS):
                        try:
                            float(cell)
                        except ValueError:
                            found.append(f"{path.name}: {cell[:30]}")
    for path in publication.rglob("*.xlsx"):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith(FORMULA_STARTS)):
                        found.append(f"{path.name}: {str(c.value)[:30]}")
    return found


def test_a_correction_applied_on_a_rerun_changes_the_class_and_shows_in_the_diff(data_dir: Path):
    first = review_flow(data_dir=str(data_dir), reference_year=2026)
    record = rows(first.publication / "commune" / "households.csv")
    poor = next(r for r in record if r["household_class"] == "poor")
    assert first.class_changes is not None and first.class_changes.empty  # nothing to compare with yet
    for folder in ("commune", *(f"hamlets/{h.code}" for h in SETTINGS.hamlets)):
        assert (first.publication / folder / "bao-cao-chat-luong.html").is_file()
        assert (first.publication / folder / "bao-cao-chat-luong.xlsx").is_file()

    corrections = data_dir / "corrections"
    corrections.mkdir()
    with (corrections / "corrections.csv").open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["household_id", "field", "old_value", "new_value", "reason", "officer", "date"])
        w.writerow([poor["household_id"], "income_wages", "", "1.200.000.000", '=HYPERLINK("http://x","bấm")', "Cán bộ A", "2026-11-20"])
        w.writerow([poor["household_id"], "floor_area", "9999", "40", "diện tích đo lại", "Cán bộ A", "2026-11-20"])  # no longer fits
        w.writerow(["KHONG-CO-HO", "floor_area", "", "40", "gõ nhầm mã hộ", "Cán bộ B", "2026-11-21"])
    second = review_flow(data_dir=str(data_dir), reference_year=2026, pull=False)
    assert second.new_versions == 0 and second.corrections_applied == 1 and second.corrections_not_applied == 2

    changes = second.class_changes.set_index("household_id")
    assert poor["household_id"] in changes.index
    change = changes.loc[poor["household_id"]]
    assert change["old_class"] == "poor" and change["new_class"] in ("not_poor", "average")
    assert "income_wages = 1.200.000.000" in change["cause"]
    published = rows(second.publication / "commune" / "thay-doi-so-voi-lan-truoc.csv")
    assert [r["Phân loại lần trước"] for r in published if r["Mã hộ"] == poor["household_id"]] == ["Hộ nghèo"]
    audit = rows(second.publication / "commune" / "sua-loi-da-ghi-nhan.csv")
    assert [r["Mã kết quả"] for r in audit] == ["applied", "stale", "unknown_household"]
    assert audit[0]["Lý do"].startswith("'=HYPERLINK")
    again = {r["household_id"]: r for r in rows(second.publication / "commune" / "households.csv")}
    assert again[poor["household_id"]]["corrected_fields"] == "income_wages"
    manifest = json.loads((second.publication / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["corrections_applied"] == 1 and manifest["counts"]["class_changes"] == len(second.class_changes)
    assert "commune/households.csv" in {f["path"] for f in manifest["files"]}
    assert _formula_like_cells(second.publication) == []


def test_input_snapshot_is_the_current_versions_by_submission_id_and_their_csv_digest():
    import hashlib

    import pandas as pd

    from rasoat.flows.review import input_snapshot

    current = pd.DataFrame({"submission_id": ["uuid:b", "uuid:a,1", 'uuid:"c"'], "instance_id": ["uuid:b", None, "x\ny"],
                            "checksum": ["2", "1", "3"], "store_id": [7, 8, 9]}, index=[10, 11, 12])
    order, snapshot, digest = input_snapshot(current)
    assert snapshot["submission_id"].tolist() == sorted(current["submission_id"]) and order.tolist() == [2, 1, 0]
    assert list(snapshot.columns) == ["submission_id", "instance_id", "checksum"]
    assert digest == hashlib.sha256(snapshot.to_csv(index=False).encode()).hexdigest()
