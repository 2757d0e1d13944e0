"""The Alkire–Foster index on a hand-computed example; the points method; province overrides; compare."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from test_classify import RULES_2026, RULES_2027, SETTINGS, adult, classify, frames, household

from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.pipeline.classify import AVERAGE, NEAR_POOR, NOT_POOR, POOR, classify_households
from rasoat.pipeline.compare import compare_by_hamlet, compare_households_table, compare_rulesets
from rasoat.pipeline.index import alkire_foster, index_table
from rasoat.pipeline.points import classify_by_points, methods_side_by_side, use_points_as_class
from rasoat.settings import AlkireFoster, ConfigError, PointsTable, load_settings

AF = AlkireFoster(cutoff=3, weights="equal", unit="people", source="test", confidence="I")


def deprived(sid: str, hamlet: str, members: int, ids: list[str]) -> dict:
    row = {"submission_id": sid, "hamlet": hamlet, "members": members}
    row.update({f"deprived_{i.id}": i.id in ids for i in RULES_2026.indicators})
    return row


def af_example() -> pd.DataFrame:
    return pd.DataFrame([
        deprived("h1", "A01", 4, ["E1", "E2", "H2"]),  # 3 of 12: AF-poor, share 1/4
        deprived("h2", "A01", 2, ["W1", "W2", "N1", "N2", "I1", "I2"]),  # 6 of 12: AF-poor, share 1/2
        deprived("h3", "A01", 3, ["E1", "W1"]),  # 2 of 12: not AF-poor (censored out)
        deprived("h4", "A01", 1, []),
        deprived("h5", "A02", 5, ["E1", "H1", "D2"]),
    ])


def test_alkire_foster_by_hand():
    index = alkire_foster(af_example(), RULES_2026, AF, ["A01", "A02"]).set_index("hamlet")
    a01 = index.loc["A01"]
    # population 10, AF-poor people 4 + 2 = 6: H = 0.6; A = (4·3/12 + 2·6/12) / 6 = 1/3; MPI = 0.2
    assert a01["units"] == 10 and a01["poor_units"] == 6
    assert a01["H"] == pytest.approx(0.6) and a01["A"] == pytest.approx(1 / 3) and a01["MPI"] == pytest.approx(0.2)
    # censored headcounts: E1 only h1 (h3 is not poor) = 4/10; W1 only h2 = 2/10
    assert a01["h_E1"] == pytest.approx(0.4) and a01["h_W1"] == pytest.approx(0.2) and a01["h_D2"] == 0
    # contribution = (h_j / 12) / MPI: E1 = 0.4/12/0.2 = 1/6, W1 = 1/12; they add up to 1
    assert a01["contribution_E1"] == pytest.approx(1 / 6) and a01["contribution_W1"] == pytest.approx(1 / 12)
    assert sum(a01[f"contribution_{i.id}"] for i in RULES_2026.indicators) == pytest.approx(1)
    a02 = index.loc["A02"]
    assert (a02["H"], a02["A"], a02["MPI"]) == pytest.approx((1, 0.25, 0.25))
    commune = index.loc[""]
    # 15 people, 11 AF-poor; A = (1 + 1 + 5·0.25) / 11; MPI = 3.25 / 15
    assert commune["H"] == pytest.approx(11 / 15) and commune["A"] == pytest.approx(3.25 / 11)
    assert commune["MPI"] == pytest.approx(3.25 / 15)


def test_alkire_foster_by_households_and_the_published_sheet():
    by_household = alkire_foster(af_example(), RULES_2026, AF.model_copy(update={"unit": "households"}), ["A01", "A02"]).set_index("hamlet")
    assert by_household.loc["A01", "H"] == pytest.approx(0.5)  # 2 of 4 households
    sheet = index_table(alkire_foster(af_example(), RULES_2026, AF, ["A01", "A02"]), RULES_2026, AF, {"A01": "Ấp 1", "A02": "Ấp 2"})
    assert list(sheet["MPI = H × A"]) == [0.2, 0.25, round(3.25 / 15, 4)]
    assert sheet["Đóng góp E1 (%)"].iloc[0] == pytest.approx(16.67)
    assert "không thay thế phân loại" in sheet["Ghi chú"].iloc[0]


# --- points method -------------------------------------------------------------------------

TABLE = PointsTable(
    example=True, id="test", title="test", source="test", confidence="U", base=100,
    items=[{"id": "big", "name": "Hộ đông người", "when": "members >= 4", "points": -20},
           {"id": "workers", "name": "Có người làm việc", "when": "workers >= 1", "points": 30},
           {"id": "roomy", "name": "Rộng", "when": "floor_area_per_member >= 20", "points": 15}],
)


def test_points_method_scores_a_and_b_against_the_lines():
    three = dict(water_source="surface", latrine="over_water", waste_disposal="dumped")  # W1 W2 (+ W3 in 2027)
    out = classify(
        [household("poor", members=4, floor_area=40.0, **three, roof_material="leaves_straw", wall_material="bamboo_leaves"),
         household("near", members=4, floor_area=40.0),
         household("rich", members=1, floor_area=60.0)],
        [adult("poor", labour_status="retired")] + [adult("poor", age=70, relationship="parent", labour_status="retired")] * 3
        + [adult("near", labour_status="retired")] * 4 + [adult("rich")],
    ).reset_index()
    members = frames([household("x")], [adult("poor", labour_status="retired")] + [adult("poor", age=70, relationship="parent",
                     labour_status="retired")] * 3 + [adult("near", labour_status="retired")] * 4 + [adult("rich")])[1]
    scored = classify_by_points(out, members, RULES_2026, TABLE).set_index("submission_id")
    # poor: 100 − 20 (4 people) = 80 ≤ 140; deprivations N1 N2? (40/4 = 10 m²: no) W1 W2 E2 → B ≥ 30
    assert scored.loc["poor", "score_a"] == 80 and scored.loc["poor", "score_b"] == 10 * scored.loc["poor", "deprivation_count"]
    assert scored.loc["poor", "deprivation_count"] >= 3 and scored.loc["poor", "points_class"] == POOR
    assert scored.loc["near", "score_a"] == 80 and scored.loc["near", "points_class"] == NEAR_POOR  # B = 0 < 30
    assert scored.loc["rich", "score_a"] == 145 and scored.loc["rich", "points_class"] == NOT_POOR  # 100 + 30 + 15 > 140
    side = methods_side_by_side(scored.reset_index(), TABLE)
    assert "VÍ DỤ" in side["Bảng điểm"].iloc[0]
    decided = use_points_as_class(scored.reset_index()).set_index("submission_id")
    assert decided.loc["near", "household_class"] == NEAR_POOR and decided.loc["near", "direct_class"] == NOT_POOR
    assert decided.loc["near", "reason"].startswith("Chấm điểm: điểm A 80 (ngưỡng 140), điểm B 0 → hộ cận nghèo")


def test_points_method_is_not_applied_without_a_score_line():
    out = classify([household("a")], [adult("a")], rules=RULES_2027).reset_index()
    scored = classify_by_points(out, frames([household("a")], [adult("a")])[1], RULES_2027, TABLE)
    assert scored["points_class"].isna().all()


def test_bundled_example_points_table_loads_when_configured(config_copy: Path):
    commune = config_copy / "commune.yaml"
    commune.write_text(commune.read_text(encoding="utf-8").replace('points_table: ""', "points_table: mekong-delta-rural"), encoding="utf-8")
    settings = load_settings(config_copy)
    assert settings.points_table.example is True and settings.points_table.confidence == "U"
    commune.write_text(commune.read_text(encoding="utf-8").replace("points_table: mekong-delta-rural", 'points_table: ""')
                       .replace("classification_method: direct", "classification_method: points"), encoding="utf-8")
    with pytest.raises(ConfigError, match="points_table is empty"):
        load_settings(config_copy)


# --- province overrides --------------------------------------------------------------------

OVERRIDE = """
extends: vn-2022-2026
id: ag-2025-2026
version: "AG-2025-2026.1"
title: "Chuẩn nghèo áp dụng tại tỉnh An Giang (VÍ DỤ)"
reference_years: { first: 2025, last: 2026 }
override:
  authority: "UBND tỉnh An Giang"
  decision: "Quyết định số 00/2025/QĐ-UBND (ví dụ)"
  source: "ví dụ cho kiểm thử"
  confidence: I
income_line:
  rural: 1800000
  urban: 2300000
  source: "Quyết định số 00/2025/QĐ-UBND (ví dụ)"
indicators:
  - { id: E1, source: "Quyết định số 00/2025/QĐ-UBND (ví dụ)" }
  - { id: I2, remove: true }
"""


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def with_override(config: Path, text: str = OVERRIDE, name: str = "an-giang.yaml") -> Path:
    folder = config / "rulesets" / "overrides"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return config


def test_a_province_override_takes_precedence_for_its_years(config_copy: Path):
    settings = load_settings(with_override(config_copy))
    rules = settings.ruleset_for(2026)
    assert rules.id == "ag-2025-2026" and rules.extends == "vn-2022-2026" and rules.base_version == "2022-2026.1"
    assert (rules.income_line.rural, rules.income_line.urban) == (1_800_000, 2_300_000)
    assert rules.income_line.confidence == "C"  # keys not given stay the national file's
    assert [i.id for i in rules.indicators] == ["E1", "E2", "H1", "H2", "D1", "D2", "N1", "N2", "W1", "W2", "I1"]
    assert rules.indicators[0].source.startswith("Quyết định số 00/2025") and rules.indicators[0].kind == "any_member"
    assert "UBND tỉnh An Giang" in rules.label and "2022-2026.1" in rules.label
    assert settings.ruleset_for(2024).id == "vn-2022-2026"  # outside the override's years
    assert settings.ruleset_for(2026, national=True).id == "vn-2022-2026"
    assert settings.ruleset_for(2027).id == "vn-2027-2030"
    out = classify_households(*frames([household("h", monthly_per_capita=1_700_000)], [adult("h")]), rules, settings.hamlets)
    national = classify_households(*frames([household("h", monthly_per_capita=1_700_000)], [adult("h")]),
                                   settings.ruleset_for(2026, national=True), settings.hamlets)
    assert out["household_class"].iloc[0] == NEAR_POOR and national["household_class"].iloc[0] == AVERAGE


def test_override_mistakes_name_the_file(config_copy: Path):
    with_override(config_copy, OVERRIDE.replace("extends: vn-2022-2026", "extends: vn-1990"))
    with pytest.raises(ConfigError, match=r"an-giang.yaml: extends 'vn-1990'"):
        load_settings(config_copy)
    with_override(config_copy, OVERRIDE)
    with_override(config_copy, OVERRIDE.replace("ag-2025-2026", "ag-other"), name="other.yaml")
    with pytest.raises(ConfigError, match="province overrides overlap for reference year 2026"):
        load_settings(config_copy).ruleset_for(2026)


# --- compare -------------------------------------------------------------------------------


def test_compare_says_who_enters_and_leaves_each_list_and_why():
    hh = [
        household("income", monthly_per_capita=1_800_000),  # above 1.5M, below 2.2M: enters the near-poor list
        household("i2", monthly_per_capita=1_000_000, water_source="surface", latrine="over_water",
                  info_assets__tv=False, info_assets__smartphone=False, loudspeaker_reach=False),  # I2 dropped in 2027
        household("same", monthly_per_capita=5_000_000),
    ]
    households, members = frames(hh, [adult("income"), adult("i2"), adult("same")])
    comparison = compare_rulesets(households, members, RULES_2026, RULES_2027, SETTINGS.hamlets).set_index("submission_id")
    assert comparison.loc["income", "near_poor_list"] == "vào" and comparison.loc["income", "class_a"] == AVERAGE
    assert "> chuẩn 1.500.000 đ (2022-2026.1) nhưng ≤ chuẩn 2.200.000 đ (2027-2030.1)" in comparison.loc["income", "why"]
    assert comparison.loc["i2", "poor_list"] == "ra" and comparison.loc["i2", "near_poor_list"] == "vào"
    assert "không còn thiếu hụt I2 (chỉ số bỏ)" in comparison.loc["i2", "why"]
    assert "theo quy tắc tạm thời" in comparison.loc["i2", "why"]
    assert comparison.loc["same", "why"] == ""
    summary = compare_by_hamlet(comparison.reset_index(), SETTINGS.hamlets, RULES_2026, RULES_2027).set_index("Mã ấp")
    assert summary.loc["A01", "Vào danh sách hộ cận nghèo"] == 2 and summary.loc["A01", "Ra khỏi danh sách hộ nghèo"] == 1
    assert summary.loc["", "Hộ nghèo (2022-2026.1)"] == 1 and summary.loc["", "Hộ nghèo (2027-2030.1)"] == 0
    table = compare_households_table(comparison.reset_index(), RULES_2026, RULES_2027)
    assert len(table) == 2 and set(table["Quy tắc tạm thời"]) == {"Có"}


def test_the_documented_example_override_loads(config_copy: Path):
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "override-an-giang.yaml"
    with_override(config_copy, example.read_text(encoding="utf-8"))
    rules = load_settings(config_copy).ruleset_for(2025)
    assert rules.override.authority == "UBND tỉnh An Giang" and rules.income_line.rural == 1_800_000
    assert len(rules.indicators) == 12


def test_the_index_under_provisional_rules_says_so():
    frame = pd.DataFrame([{"submission_id": "a", "hamlet": "A01", "members": 2,
                           **{f"deprived_{i.id}": i.id in ("E1", "W1", "W3") for i in RULES_2027.indicators}}])
    index = alkire_foster(frame, RULES_2027, AF, ["A01"])
    assert index["MPI"].iloc[0] == pytest.approx(0.25)  # H = 1, A = 3/12
    assert "quy tắc tạm thời" in index_table(index, RULES_2027, AF, {})["Ghi chú"].iloc[0]


def test_points_as_class_with_no_household_scored_keeps_the_direct_method():
    out = classify([household("a")], [adult("a")], rules=RULES_2027).reset_index()
    scored = classify_by_points(out, frames([household("a")], [adult("a")])[1], RULES_2027, TABLE)
    for table in (scored, scored.iloc[:0]):  # nobody scored; no household at all
        decided = use_points_as_class(table)
        assert decided["household_class"].tolist() == table["household_class"].tolist()
        assert decided["reason"].tolist() == table["reason"].tolist()
        assert decided["direct_class"].tolist() == table["household_class"].tolist()
