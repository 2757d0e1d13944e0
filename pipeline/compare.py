"""The same households under two rule sets, side by side (e.g. 2022–2026 vs 2027–2030).

For each household: the class under each rule set, and for every household that enters or leaves
the poor or the near-poor list, why — the income line it now falls under or above, the
indicators gained or lost (with the indicators that exist in one rule set only), the count
crossing the cut-off. Per hamlet: counts under each rule set, entering and leaving each list.
Pure functions; the command `rasoat compare` does the IO.
"""

from __future__ import annotations

import pandas as pd

from rasoat.pipeline.classify import CLASS_LABELS, NEAR_POOR, POOR, classify_households, vnd
from rasoat.settings import Hamlet, RuleSet

COMPARE_COLUMNS = ["submission_id", "household_id", "hamlet", "head_name", "income_per_capita_month", "line_a", "line_b",
                   "count_a", "count_b", "indicators_a", "indicators_b", "class_a", "class_b", "poor_list", "near_poor_list", "why"]


def _ids(text) -> set[str]:
    return {s.strip() for s in str(text or "").split(",") if s.strip()}


def _why(row: pd.Series, a: RuleSet, b: RuleSet) -> str:
    parts = []
    income = row["income_per_capita_month"]
    below_a, below_b = income <= row["line_a"], income <= row["line_b"]
    if below_a != below_b:
        parts.append(f"thu nhập {vnd(income)} đ/người/tháng {'≤' if below_a else '>'} chuẩn {vnd(row['line_a'])} đ ({a.version}) "
                     f"nhưng {'≤' if below_b else '>'} chuẩn {vnd(row['line_b'])} đ ({b.version})")
    ia, ib = _ids(row["indicators_a"]), _ids(row["indicators_b"])
    only_a = {i.id for i in a.indicators} - {i.id for i in b.indicators}
    only_b = {i.id for i in b.indicators} - {i.id for i in a.indicators}
    gained, lost = sorted(ib - ia), sorted(ia - ib)
    if gained:
        parts.append("thêm thiếu hụt " + ", ".join(f"{i}{' (chỉ số mới)' if i in only_b else ''}" for i in gained))
    if lost:
        parts.append("không còn thiếu hụt " + ", ".join(f"{i}{' (chỉ số bỏ)' if i in only_a else ''}" for i in lost))
    cut_a, cut_b = a.deprivation_cutoff.value, b.deprivation_cutoff.value
    if (row["count_a"] >= cut_a) != (row["count_b"] >= cut_b):
        parts.append(f"số chỉ số thiếu hụt {row['count_a']} → {row['count_b']} (ngưỡng {cut_a} → {cut_b})")
    if row["class_a"] != row["class_b"] and not parts:
        parts.append("chuẩn mức sống trung bình khác nhau")
    if b.provisional or a.provisional:
        parts.append("theo quy tắc tạm thời" if parts else "")
    return "; ".join(p for p in parts if p)


def _list_change(a: pd.Series, b: pd.Series, cls: str) -> pd.Series:
    out = pd.Series("", index=a.index, dtype=object)
    out[(a != cls) & (b == cls)] = "vào"
    out[(a == cls) & (b != cls)] = "ra"
    return out


def compare_rulesets(households: pd.DataFrame, members: pd.DataFrame, a: RuleSet, b: RuleSet, hamlets: tuple[Hamlet, ...]) -> pd.DataFrame:
    """One row per household (COMPARE_COLUMNS)."""
    ca = classify_households(households, members, a, hamlets)
    cb = classify_households(households, members, b, hamlets)
    out = pd.DataFrame({
        "submission_id": ca["submission_id"], "household_id": ca.get("household_id"), "hamlet": ca["hamlet"],
        "head_name": ca.get("head_name"), "income_per_capita_month": ca["income_per_capita_month"],
        "line_a": ca["income_line"], "line_b": cb["income_line"].to_numpy(),
        "count_a": ca["deprivation_count"], "count_b": cb["deprivation_count"].to_numpy(),
        "indicators_a": ca["deprived_indicators"], "indicators_b": cb["deprived_indicators"].to_numpy(),
        "class_a": ca["household_class"], "class_b": cb["household_class"].to_numpy(),
    })
    out["poor_list"] = _list_change(out["class_a"], out["class_b"], POOR)
    out["near_poor_list"] = _list_change(out["class_a"], out["class_b"], NEAR_POOR)
    changed = out["class_a"] != out["class_b"]
    out["why"] = ""
    if changed.any():
        out.loc[changed, "why"] = out[changed].apply(_why, axis=1, a=a, b=b)
    return out[COMPARE_COLUMNS].reset_index(drop=True)


def compare_by_hamlet(comparison: pd.DataFrame, hamlets: tuple[Hamlet, ...], a: RuleSet, b: RuleSet) -> pd.DataFrame:
    """Per hamlet and commune: poor and near-poor under each rule set, entering and leaving each list."""
    codes = [h.code for h in hamlets]
    names = {h.code: h.name for h in hamlets}
    rows = []
    for code in [*codes, None]:
        s = comparison if code is None else comparison[comparison["hamlet"] == code]
        rows.append({
            "Mã ấp": code or "", "Tên ấp": names.get(code, "Toàn xã"), "Số hộ": len(s),
            f"Hộ nghèo ({a.version})": int((s["class_a"] == POOR).sum()), f"Hộ nghèo ({b.version})": int((s["class_b"] == POOR).sum()),
            "Vào danh sách hộ nghèo": int((s["poor_list"] == "vào").sum()), "Ra khỏi danh sách hộ nghèo": int((s["poor_list"] == "ra").sum()),
            f"Hộ cận nghèo ({a.version})": int((s["class_a"] == NEAR_POOR).sum()),
            f"Hộ cận nghèo ({b.version})": int((s["class_b"] == NEAR_POOR).sum()),
            "Vào danh sách hộ cận nghèo": int((s["near_poor_list"] == "vào").sum()),
            "Ra khỏi danh sách hộ cận nghèo": int((s["near_poor_list"] == "ra").sum()),
        })
    return pd.DataFrame(rows)


def compare_households_table(comparison: pd.DataFrame, a: RuleSet, b: RuleSet) -> pd.DataFrame:
    """The households whose class differs, with why (Vietnamese headers)."""
    c = comparison[comparison["class_a"] != comparison["class_b"]].sort_values(["hamlet", "household_id"])
    verb = {"vào": "vào danh sách", "ra": "ra khỏi danh sách", "": ""}
    return pd.DataFrame({
        "Mã hộ": c["household_id"], "Ấp": c["hamlet"], "Họ và tên chủ hộ": c["head_name"],
        "Thu nhập bình quân (đ/người/tháng)": c["income_per_capita_month"],
        f"Chuẩn thu nhập ({a.version})": c["line_a"], f"Chuẩn thu nhập ({b.version})": c["line_b"],
        f"Chỉ số thiếu hụt ({a.version})": c["indicators_a"], f"Chỉ số thiếu hụt ({b.version})": c["indicators_b"],
        f"Phân loại ({a.version})": c["class_a"].map(CLASS_LABELS), f"Phân loại ({b.version})": c["class_b"].map(CLASS_LABELS),
        "Hộ nghèo": c["poor_list"].map(verb), "Hộ cận nghèo": c["near_poor_list"].map(verb), "Vì sao": c["why"],
        "Quy tắc tạm thời": "Có" if (a.provisional or b.provisional) else "",
    })
