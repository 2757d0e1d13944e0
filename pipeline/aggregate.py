"""Indicator tables per hamlet and for the commune, laid out as officers report them.

Rates are class ÷ resident households × 100, with the hamlet's resident households from config
when given, else the households reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rasoat.pipeline.classify import AVERAGE, NEAR_POOR, POOR
from rasoat.settings import Hamlet, RuleSet, Target

COMMUNE_TOTAL = "Toàn xã"


@dataclass(frozen=True)
class IndicatorTables:
    by_hamlet: pd.DataFrame  # machine-readable columns, one row per hamlet plus the commune total
    tables: dict[str, pd.DataFrame]  # sheet name → table with Vietnamese headers, for publication


def _rate(part: pd.Series | float, whole: pd.Series | float) -> pd.Series | float:
    return (100 * part / whole).round(2) if isinstance(whole, pd.Series) else round(100 * part / whole, 2) if whole else 0.0


def rates_by_hamlet(classified: pd.DataFrame, hamlets: tuple[Hamlet, ...]) -> pd.DataFrame:
    base = pd.DataFrame(
        {
            "hamlet": [h.code for h in hamlets],
            "hamlet_name": [h.name for h in hamlets],
            "area_type": [h.area_type for h in hamlets],
            "resident_households": [h.resident_households for h in hamlets],
        }
    )
    is_poor = classified["household_class"].eq(POOR)
    is_near = classified["household_class"].eq(NEAR_POOR)
    flags = pd.DataFrame({
        "hamlet": classified["hamlet"],
        "reviewed": 1,
        "poor": is_poor.astype(int),
        "near_poor": is_near.astype(int),
        "average": classified["household_class"].eq(AVERAGE).astype(int),
        "poor_members": classified["members"].where(is_poor, 0),
        "near_poor_members": classified["members"].where(is_near, 0),
        "low_income_workers": classified["low_income_workers"],
    })
    counts = flags.groupby("hamlet").sum().reset_index()
    table = base.merge(counts, on="hamlet", how="left").fillna(
        {c: 0 for c in ["reviewed", "poor", "near_poor", "average", "poor_members", "near_poor_members", "low_income_workers"]}
    )
    table["denominator"] = table["resident_households"].fillna(table["reviewed"]).astype("int64")
    total = {
        "hamlet": "", "hamlet_name": COMMUNE_TOTAL, "area_type": "",
        "resident_households": table["resident_households"].sum() if table["resident_households"].notna().all() else None,
    }
    for c in ["reviewed", "poor", "near_poor", "average", "poor_members", "near_poor_members", "low_income_workers", "denominator"]:
        total[c] = table[c].sum()
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    for c in ["reviewed", "poor", "near_poor", "average", "poor_members", "near_poor_members", "low_income_workers", "denominator"]:
        table[c] = table[c].astype("int64")
    table["poor_rate"] = _rate(table["poor"], table["denominator"].where(table["denominator"] > 0))
    table["near_poor_rate"] = _rate(table["near_poor"], table["denominator"].where(table["denominator"] > 0))
    return table


def deprivations_by_indicator(classified: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    rows = []
    groups = {"poor": classified[classified["household_class"] == POOR], "near_poor": classified[classified["household_class"] == NEAR_POOR]}
    for ind in ruleset.indicators:
        col = f"deprived_{ind.id}"
        row = {"indicator": ind.id, "name": ind.name, "dimension": ruleset.dimensions[ind.dimension], "confidence": ind.confidence,
               "provisional": ind.provisional, "all": int(classified[col].sum()),
               "all_rate": _rate(int(classified[col].sum()), len(classified))}
        for key, frame in groups.items():
            row[key] = int(frame[col].sum())
            row[f"{key}_rate"] = _rate(int(frame[col].sum()), len(frame))
        rows.append(row)
    return pd.DataFrame(rows)


def progress_against_targets(classified: pd.DataFrame, members: pd.DataFrame, by_hamlet: pd.DataFrame, targets: tuple[Target, ...],
                             ruleset: RuleSet, reference_year: int) -> pd.DataFrame:
    commune = by_hamlet.iloc[-1]
    poor_or_near = classified.loc[classified["household_class"].isin([POOR, NEAR_POOR]), "submission_id"]
    target_members = members[members["submission_id"].isin(poor_or_near)]
    safe = classified["water_source"].isin(ruleset.parameters.get("safe_water_sources", []))
    measured = {
        "poor_rate": float(commune["poor_rate"]),
        "health_insurance_poor_near_poor": _rate(int(target_members["health_insurance"].fillna(False).sum()), len(target_members)),
        "clean_water_population": _rate(int(classified.loc[safe, "members"].sum()), int(classified["members"].sum())),
        "safe_grid_electricity": _rate(int((classified["electricity"] == "grid_safe").sum()), len(classified)),
    }
    rows = []
    for t in targets:
        goal = t.for_year(reference_year)
        value = measured.get(t.id)
        met = None if value is None or goal is None else (value <= goal if t.direction == "at_most" else value >= goal)
        rows.append({"target": t.id, "name": t.name, "goal": goal, "direction": t.direction, "measured": value, "met": met})
    return pd.DataFrame(rows)


def build_indicator_tables(classified: pd.DataFrame, members: pd.DataFrame, excluded: pd.DataFrame, issues: pd.DataFrame,
                           hamlets: tuple[Hamlet, ...], ruleset: RuleSet, targets: tuple[Target, ...], reference_year: int) -> IndicatorTables:
    by_hamlet = rates_by_hamlet(classified, hamlets)
    deprivations = deprivations_by_indicator(classified, ruleset)
    progress = progress_against_targets(classified, members, by_hamlet, targets, ruleset, reference_year)
    yes_no = {True: "Đạt", False: "Chưa đạt", None: ""}
    tables = {
        "Tỷ lệ theo ấp": by_hamlet.rename(columns={
            "hamlet": "Mã ấp", "hamlet_name": "Tên ấp", "area_type": "Khu vực", "resident_households": "Số hộ dân cư",
            "reviewed": "Số hộ rà soát", "poor": "Hộ nghèo", "poor_rate": "Tỷ lệ hộ nghèo (%)", "near_poor": "Hộ cận nghèo",
            "near_poor_rate": "Tỷ lệ hộ cận nghèo (%)", "average": "Hộ có mức sống trung bình", "poor_members": "Nhân khẩu hộ nghèo",
            "near_poor_members": "Nhân khẩu hộ cận nghèo", "low_income_workers": "Người lao động thu nhập thấp",
        }).drop(columns=["denominator"]).assign(**{"Khu vực": lambda d: d["Khu vực"].map({"rural": "Nông thôn", "urban": "Thành thị", "": ""})}),
        "Thiếu hụt theo chỉ số": deprivations.rename(columns={
            "indicator": "Mã chỉ số", "name": "Chỉ số", "dimension": "Chiều", "confidence": "Độ tin cậy", "provisional": "Tạm thời",
            "all": "Tổng số hộ thiếu hụt", "all_rate": "Tỷ lệ (%)", "poor": "Hộ nghèo thiếu hụt", "poor_rate": "Tỷ lệ hộ nghèo (%)",
            "near_poor": "Hộ cận nghèo thiếu hụt", "near_poor_rate": "Tỷ lệ hộ cận nghèo (%)",
        }).assign(**{"Tạm thời": lambda d: d["Tạm thời"].map({True: "Có", False: ""})}),
        "Tiến độ mục tiêu": progress.assign(met=progress["met"].map(yes_no)).rename(columns={
            "target": "Mã mục tiêu", "name": "Mục tiêu", "goal": f"Chỉ tiêu năm {reference_year}", "direction": "Hướng",
            "measured": "Kết quả rà soát", "met": "Đánh giá",
        }).assign(**{"Hướng": lambda d: d["Hướng"].map({"at_most": "không quá", "at_least": "ít nhất"})}),
        "Hộ chờ xử lý": excluded.rename(columns={"submission_id": "Mã phiếu", "household_id": "Mã hộ", "hamlet": "Ấp", "reason": "Lý do"}),
        "Kiểm tra dữ liệu": issues.rename(columns={
            "submission_id": "Mã phiếu", "household_id": "Mã hộ", "hamlet": "Ấp", "enumerator": "Điều tra viên", "field": "Trường", "member": "Thành viên số",
            "value": "Giá trị", "rule": "Quy tắc", "severity": "Mức độ", "message": "Nội dung",
        }),
    }
    return IndicatorTables(by_hamlet=by_hamlet, tables=tables)
