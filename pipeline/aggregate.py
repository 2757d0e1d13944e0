"""Indicator tables per hamlet and for the commune, laid out as officers report them.

Rates are class ÷ resident households × 100, with the hamlet's resident households from config
when given, else the households reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rasoat.pipeline.publish import ChartSpec
from rasoat.pipeline.classify import AVERAGE, NEAR_POOR, POOR
from rasoat.pipeline.expressions import flags
from rasoat.settings import Hamlet, RuleSet, Target

COMMUNE_TOTAL = "Toàn xã"


@dataclass(frozen=True)
class IndicatorTables:
    by_hamlet: pd.DataFrame  # machine-readable columns, one row per hamlet plus the commune total
    tables: dict[str, pd.DataFrame]  # sheet name → table with Vietnamese headers, for publication
    charts: dict[str, ChartSpec] = field(default_factory=dict)  # sheet name → the chart drawn beside it


@dataclass(frozen=True)
class _Rows:
    """Row positions worked out once for all the report tables, so that no table hashes the hamlet
    codes or submission ids of every row again, nor masks the whole table once per hamlet."""
    hamlet: np.ndarray  # each household's position among the configured hamlets; -1: not configured or missing
    household: np.ndarray  # each household's row standing for its submission id (see _rows)
    member: np.ndarray  # each member's household row (as above); -1 when the household was not classified


def _take(values: np.ndarray, at: np.ndarray, missing) -> np.ndarray:
    """values[at], `missing` where at is -1."""
    return np.append(values, np.asarray([missing], dtype=values.dtype))[at]


def _rows(classified: pd.DataFrame, members: pd.DataFrame, hamlets: tuple[Hamlet, ...]) -> _Rows:
    """Where each household and member sits. A repeated submission id stands for its last row,
    as looking the id up in dict(zip(ids, rows)) would."""
    key, ids = pd.factorize(classified["submission_id"], use_na_sentinel=False)
    last = np.full(len(ids), -1, dtype=np.intp)
    np.maximum.at(last, key, np.arange(len(key)))
    return _Rows(hamlet=pd.Index([h.code for h in hamlets]).get_indexer(classified["hamlet"]),
                 household=last[key], member=_take(last, ids.get_indexer(members["submission_id"]), -1))


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
    per_household = pd.DataFrame({
        "hamlet": classified["hamlet"],
        "reviewed": 1,
        "poor": is_poor.astype(int),
        "near_poor": is_near.astype(int),
        "average": classified["household_class"].eq(AVERAGE).astype(int),
        "poor_members": classified["members"].where(is_poor, 0),
        "near_poor_members": classified["members"].where(is_near, 0),
        "low_income_workers": classified["low_income_workers"],
    })
    counts = per_household.groupby("hamlet").sum().reset_index()
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
                             ruleset: RuleSet, reference_year: int, rows: _Rows) -> pd.DataFrame:
    commune = by_hamlet.iloc[-1]
    # members of a submission id with any poor or near-poor row
    poor_or_near = np.zeros(len(classified), dtype=bool)
    poor_or_near[rows.household[classified["household_class"].isin([POOR, NEAR_POOR]).to_numpy()]] = True
    insured = members.loc[_take(poor_or_near, rows.member, False), "health_insurance"]
    safe = classified["water_source"].isin(ruleset.parameters.get("safe_water_sources", []))
    measured = {
        "poor_rate": float(commune["poor_rate"]),
        "health_insurance_poor_near_poor": _rate(int(insured.fillna(False).sum()), len(insured)),
        "clean_water_population": _rate(int(classified.loc[safe, "members"].sum()), int(classified["members"].sum())),
        "safe_grid_electricity": _rate(int((classified["electricity"] == "grid_safe").sum()), len(classified)),
    }
    out = []
    for t in targets:
        goal = t.for_year(reference_year)
        value = measured.get(t.id)
        met = None if value is None or goal is None else (value <= goal if t.direction == "at_most" else value >= goal)
        out.append({"target": t.id, "name": t.name, "goal": goal, "direction": t.direction, "measured": value, "met": met})
    return pd.DataFrame(out)


def build_indicator_tables(classified: pd.DataFrame, members: pd.DataFrame, excluded: pd.DataFrame, issues: pd.DataFrame,
                           hamlets: tuple[Hamlet, ...], ruleset: RuleSet, targets: tuple[Target, ...], reference_year: int,
                           *, reports=None, movements: pd.DataFrame | None = None, labels: dict[str, str] | None = None) -> IndicatorTables:
    """The published tables. With `reports` (config/reports.yaml), `movements` (pipeline.movements) and
    `labels` (column -> Vietnamese label) the officers' report sheets of `report_tables` are added."""
    rows = _rows(classified, members, hamlets)
    by_hamlet = rates_by_hamlet(classified, hamlets)
    deprivations = deprivations_by_indicator(classified, ruleset)
    progress = progress_against_targets(classified, members, by_hamlet, targets, ruleset, reference_year, rows)
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
    extra = report_tables(classified, members, by_hamlet, progress, hamlets, ruleset, targets, reference_year, rows,
                          reports=reports, movements=movements, labels=labels)
    # the report sheets after the three summary sheets, the data-quality sheets last
    order = ["Tỷ lệ theo ấp", "Thiếu hụt theo chỉ số", "Tiến độ mục tiêu", *extra, "Hộ chờ xử lý", "Kiểm tra dữ liệu"]
    merged = {**tables, **extra}
    poor_target = next((t for t in targets if t.id == "poor_rate"), None)
    goal = poor_target.for_year(reference_year) if poor_target else None
    target_column = f"Chỉ tiêu tỷ lệ hộ nghèo năm {reference_year} (%)"
    if goal is not None:  # the plan's path, drawn as a line over the hamlets' rates
        merged["Tỷ lệ theo ấp"] = merged["Tỷ lệ theo ấp"].assign(**{target_column: goal})
    charts = {
        "Tỷ lệ theo ấp": ChartSpec(f"Tỷ lệ hộ nghèo, cận nghèo theo ấp năm {reference_year}", "Tên ấp",
                                   ("Tỷ lệ hộ nghèo (%)", "Tỷ lệ hộ cận nghèo (%)"), line=target_column if goal is not None else None,
                                   skip=(COMMUNE_TOTAL,)),
        "Thiếu hụt theo chỉ số": ChartSpec("Số hộ nghèo, cận nghèo thiếu hụt theo chỉ số", "Chỉ số",
                                           ("Hộ nghèo thiếu hụt", "Hộ cận nghèo thiếu hụt"), horizontal=True),
    }
    movements_table = merged.get("Biến động theo ấp")
    if movements_table is not None and {"Tên ấp", "Thoát nghèo sang cận nghèo", "Thoát nghèo trên chuẩn cận nghèo", "Nghèo phát sinh", "Tái nghèo"} <= set(movements_table.columns):
        charts["Biến động theo ấp"] = ChartSpec("Biến động hộ nghèo theo ấp", "Tên ấp",
                                                ("Thoát nghèo sang cận nghèo", "Thoát nghèo trên chuẩn cận nghèo", "Nghèo phát sinh", "Tái nghèo"),
                                                skip=(COMMUNE_TOTAL,))
    return IndicatorTables(by_hamlet=by_hamlet, tables={name: merged[name] for name in order}, charts=charts)


# --------------------------------------------------------------------------------------------
# The officers' report tables (issue 5): per hamlet and for the commune
# --------------------------------------------------------------------------------------------


def _by_hamlet(hamlet: np.ndarray, values: dict[str, np.ndarray | pd.Series], hamlets: tuple[Hamlet, ...]) -> pd.DataFrame:
    """Sum each of `values` (one number a row) per configured hamlet, plus the commune over those hamlets.
    `hamlet` is each row's position among `hamlets` (rows at -1 count nowhere)."""
    at = np.where(hamlet >= 0, hamlet, len(hamlets))  # an extra bin for the rows that count nowhere, dropped
    out = pd.DataFrame({"hamlet": [*(h.code for h in hamlets), ""], "hamlet_name": [*(h.name for h in hamlets), COMMUNE_TOTAL]})
    for name, value in values.items():
        # the values are whole numbers, so float sums are exact
        sums = np.bincount(at, weights=np.asarray(value, dtype=float), minlength=len(hamlets) + 1)[:-1]
        out[name] = np.append(sums, sums.sum()).round(0).astype("int64")
    return out


def _pct(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (100 * part / whole.where(whole > 0)).round(2)


def _is_minority(classified: pd.DataFrame, majority: list[str]) -> pd.Series:
    eth = classified["ethnicity"] if "ethnicity" in classified else pd.Series(None, index=classified.index)
    return eth.notna() & ~eth.isin(majority)


def ethnic_minority_table(classified: pd.DataFrame, by_hamlet: pd.DataFrame, hamlets: tuple[Hamlet, ...], majority: list[str],
                          rows: _Rows) -> pd.DataFrame:
    dtts = _is_minority(classified, majority).to_numpy()
    poor = classified["household_class"].eq(POOR).to_numpy()
    near = classified["household_class"].eq(NEAR_POOR).to_numpy()
    t = _by_hamlet(rows.hamlet, {"dtts": dtts, "dtts_poor": dtts & poor, "dtts_near": dtts & near, "poor": poor, "near": near}, hamlets)
    denominator = by_hamlet["denominator"].to_numpy()
    return pd.DataFrame({
        "Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Số hộ dân cư": denominator, "Hộ DTTS được rà soát": t["dtts"],
        "Hộ nghèo DTTS": t["dtts_poor"], "Tỷ lệ hộ nghèo DTTS / hộ dân cư (%)": _pct(t["dtts_poor"], pd.Series(denominator)),
        "Hộ nghèo DTTS / hộ nghèo (%)": _pct(t["dtts_poor"], t["poor"]),
        "Hộ cận nghèo DTTS": t["dtts_near"], "Hộ cận nghèo DTTS / hộ cận nghèo (%)": _pct(t["dtts_near"], t["near"]),
    })


def deprivations_by_hamlet(classified: pd.DataFrame, ruleset: RuleSet, hamlets: tuple[Hamlet, ...], rows: _Rows) -> pd.DataFrame:
    """Per hamlet and class (poor, near-poor): households deprived in each indicator and the rate."""
    deprived = {ind.id: classified[f"deprived_{ind.id}"].astype(bool).to_numpy() for ind in ruleset.indicators}
    parts = []
    for cls, label in ((POOR, "Hộ nghèo"), (NEAR_POOR, "Hộ cận nghèo")):
        sel = classified["household_class"].eq(cls).to_numpy()
        t = _by_hamlet(rows.hamlet, {"households": sel, **{i: sel & flag for i, flag in deprived.items()}}, hamlets)
        out = pd.DataFrame({"Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Nhóm hộ": label, "Số hộ": t["households"]})
        for ind in ruleset.indicators:
            flag = " (tạm thời)" if ind.provisional or ruleset.provisional else ""
            out[f"{ind.id} — {ind.name}{flag}"] = t[ind.id]
            out[f"{ind.id} (%)"] = _pct(t[ind.id], t["households"])
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def _member_flags(members: pd.DataFrame, expression: str, parameters: dict) -> np.ndarray:
    return np.zeros(len(members), dtype=bool) if members.empty else flags(members, expression, parameters).to_numpy()


def _classified_members(members: pd.DataFrame, rows: _Rows) -> tuple[pd.DataFrame, np.ndarray]:
    """The members of classified households and their household rows (no copy when all are)."""
    kept = rows.member >= 0
    return (members, rows.member) if kept.all() else (members[kept], rows.member[kept])


def children_table(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, hamlets: tuple[Hamlet, ...],
                   child_age_below: int, rows: _Rows) -> pd.DataFrame:
    """Children (under `child_age_below`) of poor and near-poor households matching each member indicator's rule."""
    member_rules = [i for i in ruleset.indicators if i.kind == "any_member"]
    m, household = _classified_members(members, rows)
    child = pd.to_numeric(m["age"], errors="coerce").lt(child_age_below).fillna(False).astype(bool).to_numpy()
    # the rules are asked of the children counted alone (a province's poor and near-poor households' children,
    # a few percent of its members): a member's rule reads only that member's row
    counted = np.flatnonzero(child & classified["household_class"].isin([POOR, NEAR_POOR]).to_numpy(dtype=bool)[household])
    children, household = m.iloc[counted], household[counted]
    hamlet = rows.hamlet[household]
    matches = {ind.id: _member_flags(children, ind.member, ruleset.parameters) for ind in member_rules}  # the same for both classes
    classes = classified["household_class"].to_numpy(dtype=object)[household]
    parts = []
    for cls, label in ((POOR, "Hộ nghèo"), (NEAR_POOR, "Hộ cận nghèo")):
        sel = classes == cls
        t = _by_hamlet(hamlet, {"children": sel, **{i: sel & match for i, match in matches.items()}}, hamlets)
        out = pd.DataFrame({"Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Nhóm hộ": label,
                            f"Trẻ em dưới {child_age_below} tuổi": t["children"]})
        for ind in member_rules:
            flag = " (tạm thời)" if ind.provisional or ruleset.provisional else ""
            out[f"Trẻ em thiếu hụt {ind.id} — {ind.name}{flag}"] = t[ind.id]
            out[f"{ind.id} (%)"] = _pct(t[ind.id], t["children"])
        parts.append(out)
    return pd.concat(parts, ignore_index=True)


def poverty_reasons_table(classified: pd.DataFrame, hamlets: tuple[Hamlet, ...], rows: _Rows,
                          labels: dict[str, str] | None = None) -> pd.DataFrame:
    columns = [c for c in classified.columns if c.startswith("poverty_reasons__")]
    poor = classified["household_class"].eq(POOR).to_numpy()
    t = _by_hamlet(rows.hamlet, {"poor": poor, **{c: poor & classified[c].astype("boolean").fillna(False).astype(bool).to_numpy()
                                                  for c in columns}}, hamlets)
    out = pd.DataFrame({"Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Hộ nghèo": t["poor"]})
    for c in columns:
        name = (labels or {}).get(c, c.removeprefix("poverty_reasons__"))
        out[name[:1].upper() + name[1:]] = t[c]
    return out


def policy_groups_table(classified: pd.DataFrame, members: pd.DataFrame, hamlets: tuple[Hamlet, ...], reports, rows: _Rows) -> pd.DataFrame:
    able = _member_flags(members, reports.able_to_work_member, reports.parameters)
    has_able = np.zeros(len(classified), dtype=bool)
    has_able[rows.member[able & (rows.member >= 0)]] = True
    no_able = ~has_able[rows.household]
    merit = (classified["merit_member"].astype("boolean").fillna(False).astype(bool).to_numpy() if "merit_member" in classified
             else np.zeros(len(classified), dtype=bool))
    dtts = _is_minority(classified, reports.majority_ethnicities).to_numpy()
    parts = []
    for cls, label in ((POOR, "Hộ nghèo"), (NEAR_POOR, "Hộ cận nghèo")):
        sel = classified["household_class"].eq(cls).to_numpy()
        t = _by_hamlet(rows.hamlet, {"n": sel, "no_able": sel & no_able, "merit": sel & merit, "dtts": sel & dtts}, hamlets)
        parts.append(pd.DataFrame({
            "Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Nhóm hộ": label, "Số hộ": t["n"],
            "Không có thành viên có khả năng lao động": t["no_able"], "Có người có công với cách mạng": t["merit"],
            "Hộ dân tộc thiểu số": t["dtts"],
        }))
    return pd.concat(parts, ignore_index=True)


def health_insurance_table(classified: pd.DataFrame, members: pd.DataFrame, hamlets: tuple[Hamlet, ...], rows: _Rows) -> pd.DataFrame:
    m, household = _classified_members(members, rows)
    poor = classified["household_class"].eq(POOR).to_numpy()[household]
    near = classified["household_class"].eq(NEAR_POOR).to_numpy()[household]
    insured = m["health_insurance"].astype("boolean").fillna(False).astype(bool).to_numpy()
    t = _by_hamlet(rows.hamlet[household], {"poor": poor, "poor_ins": poor & insured, "near": near, "near_ins": near & insured}, hamlets)
    return pd.DataFrame({
        "Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Nhân khẩu hộ nghèo": t["poor"], "Có thẻ BHYT (nghèo)": t["poor_ins"],
        "Tỷ lệ có thẻ BHYT, hộ nghèo (%)": _pct(t["poor_ins"], t["poor"]), "Nhân khẩu hộ cận nghèo": t["near"],
        "Có thẻ BHYT (cận nghèo)": t["near_ins"], "Tỷ lệ có thẻ BHYT, hộ cận nghèo (%)": _pct(t["near_ins"], t["near"]),
        "Tỷ lệ chung (%)": _pct(t["poor_ins"] + t["near_ins"], t["poor"] + t["near"]),
    })


def water_electricity_table(classified: pd.DataFrame, ruleset: RuleSet, hamlets: tuple[Hamlet, ...], safe_electricity: list[str],
                            rows: _Rows) -> pd.DataFrame:
    safe = classified["water_source"].isin(ruleset.parameters.get("safe_water_sources", []))
    grid = classified["electricity"].isin(safe_electricity)
    people = pd.to_numeric(classified["members"], errors="coerce").fillna(0)
    t = _by_hamlet(rows.hamlet, {"n": np.ones(len(classified)), "water": safe, "people": people,
                                 "water_people": people.where(safe, 0), "grid": grid}, hamlets)
    return pd.DataFrame({
        "Mã ấp": t["hamlet"], "Tên ấp": t["hamlet_name"], "Số hộ rà soát": t["n"], "Hộ dùng nước sạch": t["water"],
        "Tỷ lệ hộ dùng nước sạch (%)": _pct(t["water"], t["n"]), "Nhân khẩu": t["people"],
        "Tỷ lệ dân số dùng nước sạch (%)": _pct(t["water_people"], t["people"]),
        "Hộ dùng điện lưới quốc gia an toàn": t["grid"], "Tỷ lệ hộ dùng điện an toàn (%)": _pct(t["grid"], t["n"]),
    })


def target_paths(progress: pd.DataFrame, targets: tuple[Target, ...], reference_year: int) -> pd.DataFrame:
    """Every year of each target's path, the measured value in the reference year and whether it is on the path."""
    measured = dict(zip(progress["target"], progress["measured"]))
    rows = []
    for t in targets:
        years = {}
        if t.baseline and "year" in t.baseline:
            years[int(t.baseline["year"])] = (t.baseline.get("value"), "mốc xuất phát")
        for year, goal in sorted((t.path or {}).items()):
            years[int(year)] = (goal, "lộ trình")
        if not years and t.value is not None:
            years[reference_year] = (t.value, "chỉ tiêu")
        if reference_year not in years and t.for_year(reference_year) is not None:
            years[reference_year] = (t.for_year(reference_year), "chỉ tiêu")
        for year, (goal, kind) in sorted(years.items()):
            value = measured.get(t.id) if year == reference_year else None
            on = None if value is None or goal is None else (value <= goal if t.direction == "at_most" else value >= goal)
            rows.append({"Mã mục tiêu": t.id, "Mục tiêu": t.name, "Năm": year, "Loại": kind,
                         "Chỉ tiêu": goal, "Hướng": {"at_most": "không quá", "at_least": "ít nhất"}[t.direction],
                         "Kết quả rà soát": value,
                         "Đúng lộ trình": {True: "Đúng lộ trình", False: "Chưa đạt lộ trình", None: ""}[on],
                         "Năm danh sách": "◀ năm này" if year == reference_year else ""})
    return pd.DataFrame(rows)


def report_tables(classified: pd.DataFrame, members: pd.DataFrame, by_hamlet: pd.DataFrame, progress: pd.DataFrame,
                  hamlets: tuple[Hamlet, ...], ruleset: RuleSet, targets: tuple[Target, ...], reference_year: int, rows: _Rows,
                  reports=None, movements: pd.DataFrame | None = None, labels: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The officers' report sheets beyond the rates: movements, DTTS, deprivations per hamlet, children,
    reasons, policy groups, BHYT, water and electricity, the targets' paths, the Alkire–Foster index."""
    from rasoat.pipeline import index as af
    from rasoat.pipeline.movements import MOVEMENT_TABLE_HEADERS, movement_counts

    tables: dict[str, pd.DataFrame] = {}
    names = {h.code: h.name for h in hamlets}
    if movements is not None:
        counts = movement_counts(movements, [h.code for h in hamlets])
        counts.insert(1, "hamlet_name", counts["hamlet"].map(names).fillna(COMMUNE_TOTAL))
        start = movements["start_year"].dropna()
        title = f"Biến động (đầu kỳ: danh sách {int(start.iloc[0])})" if len(start) else "Biến động (chưa có danh sách năm trước)"
        tables["Biến động theo ấp"] = counts.rename(columns=MOVEMENT_TABLE_HEADERS).assign(**{"Ghi chú": title})
    majority = reports.majority_ethnicities if reports is not None else ["kinh"]
    tables["Hộ DTTS theo ấp"] = ethnic_minority_table(classified, by_hamlet, hamlets, majority, rows)
    tables["Thiếu hụt theo ấp"] = deprivations_by_hamlet(classified, ruleset, hamlets, rows)
    if reports is not None:
        tables["Thiếu hụt của trẻ em"] = children_table(classified, members, ruleset, hamlets, reports.child_age_below, rows)
    tables["Nguyên nhân nghèo"] = poverty_reasons_table(classified, hamlets, rows, labels)
    if reports is not None:
        tables["Nhóm chính sách"] = policy_groups_table(classified, members, hamlets, reports, rows)
    tables["BHYT hộ nghèo, cận nghèo"] = health_insurance_table(classified, members, hamlets, rows)
    safe_electricity = reports.safe_electricity if reports is not None else ["grid_safe"]
    tables["Nước sạch và điện"] = water_electricity_table(classified, ruleset, hamlets, safe_electricity, rows)
    tables["Lộ trình mục tiêu"] = target_paths(progress, targets, reference_year)
    if reports is not None:
        index = af.alkire_foster(classified, ruleset, reports.alkire_foster, [h.code for h in hamlets])
        tables["Chỉ số MPI (Alkire-Foster)"] = af.index_table(index, ruleset, reports.alkire_foster, names)
    return tables
