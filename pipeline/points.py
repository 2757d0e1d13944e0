"""The points method (phương pháp chấm điểm), beside the direct method.

Score A (điểm A) estimates income from household characteristics with a loadable points table
(`config/points/<name>.yaml`; higher = richer). Score B (điểm B) is the rule set's points per
deprived indicator × the number of deprivations. Under the rule set's `points_method`:

* poor (hộ nghèo): A ≤ the score-A line of the area type and B ≥ the poor minimum of B [C];
* near-poor (hộ cận nghèo): A ≤ the line and B below it [I];
* otherwise not poor by this method.

The lines, the points per deprivation and the B minimum all come from the rule set; the table
from config. Pure functions over DataFrames.
"""

from __future__ import annotations

import pandas as pd

from rasoat.pipeline.classify import CLASS_LABELS, NEAR_POOR, NOT_POOR, POOR, WORKING_STATUSES
from rasoat.settings import ConfigError, PointsTable, RuleSet

POINTS_COLUMNS = ["score_a", "score_b", "score_a_line", "points_class", "points_items"]


def points_applicable(ruleset: RuleSet, table: PointsTable | None) -> bool:
    pm = ruleset.points_method
    return table is not None and pm is not None and (pm.score_a_line.rural is not None or pm.score_a_line.urban is not None)


def scoring_frame(households: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The household table plus the derived columns points tables may use."""
    out = households.copy()
    workers = members["labour_status"].isin(WORKING_STATUSES).groupby(members["submission_id"]).sum()
    age = pd.to_numeric(members["age"], errors="coerce")
    children = (age < 16).groupby(members["submission_id"]).sum()
    elderly = (age >= 60).groupby(members["submission_id"]).sum()
    sid = out["submission_id"]
    out["workers"] = sid.map(workers).fillna(0).astype("int64")
    out["children"] = sid.map(children).fillna(0).astype("int64")
    out["elderly"] = sid.map(elderly).fillna(0).astype("int64")
    size = pd.to_numeric(out["members"], errors="coerce").astype(float)
    out["floor_area_per_member"] = pd.to_numeric(out["floor_area"], errors="coerce").astype(float) / size.where(size > 0)
    return out


def score_a(households: pd.DataFrame, members: pd.DataFrame, table: PointsTable) -> tuple[pd.Series, pd.Series]:
    """(score A per household, the ids of the items that scored, joined), indexed like `households`."""
    frame = scoring_frame(households, members)
    score = pd.Series(float(table.base), index=households.index)
    items = pd.Series("", index=households.index, dtype=object)
    for position, item in enumerate(table.items):
        try:
            hit = frame.eval(" ".join(item.when.split()), engine="python")
        except Exception as exc:
            raise ConfigError(f"{table.source_file}: items[{position}] ({item.id}).when: cannot evaluate "
                              f"({type(exc).__name__}: {exc})") from None
        hit = (pd.Series(hit, index=frame.index) if not isinstance(hit, pd.Series) else hit).astype("boolean").fillna(False).astype(bool)
        score = score + hit * float(item.points)
        items = items.where(~hit, items + (items.ne("").map({True: ", ", False: ""})) + item.id)
    return score, items


def classify_by_points(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, table: PointsTable) -> pd.DataFrame:
    """`classified` plus POINTS_COLUMNS (score A, score B, the line, the class by points)."""
    out = classified.copy()
    if not points_applicable(ruleset, table):
        for c in POINTS_COLUMNS:
            out[c] = None
        return out
    pm = ruleset.points_method
    a, items = score_a(classified, members, table)
    b = classified["deprivation_count"].astype("int64") * pm.points_per_deprivation.value
    line = classified["area_type"].map({"rural": pm.score_a_line.rural, "urban": pm.score_a_line.urban}).astype(float)
    below = a <= line
    cls = pd.Series(NOT_POOR, index=classified.index, dtype=object)
    cls[below & (b >= pm.poor_min_score_b.value)] = POOR
    cls[below & (b < pm.poor_min_score_b.value)] = NEAR_POOR
    cls[line.isna()] = None
    out["score_a"], out["score_b"], out["score_a_line"], out["points_class"], out["points_items"] = a, b, line, cls, items
    return out


def methods_side_by_side(classified: pd.DataFrame, table: PointsTable) -> pd.DataFrame:
    """Both methods per household, Vietnamese headers (the sheet "So sánh hai phương pháp")."""
    note = "BẢNG ĐIỂM VÍ DỤ — không có giá trị pháp lý" if table.example else table.source
    by_points = classified["points_class"].map(lambda c: CLASS_LABELS.get(c, "không áp dụng") if isinstance(c, str) else "không áp dụng")
    return pd.DataFrame({
        "Mã hộ": classified["household_id"], "Ấp": classified["hamlet"],
        "Thu nhập bình quân (đ/người/tháng)": classified["income_per_capita_month"],
        "Chuẩn thu nhập": classified["income_line"], "Số chỉ số thiếu hụt": classified["deprivation_count"],
        "Phân loại theo thu nhập (trực tiếp)": classified["household_class"].map(CLASS_LABELS),
        "Điểm A": classified["score_a"], "Ngưỡng điểm A": classified["score_a_line"], "Điểm B": classified["score_b"],
        "Phân loại theo chấm điểm": by_points,
        "Hai phương pháp khác nhau": (classified["points_class"].notna() & (classified["points_class"] != classified["household_class"]))
        .map({True: "Có", False: ""}),
        "Bảng điểm": f"{table.id} ({note})",
    })


def use_points_as_class(classified: pd.DataFrame) -> pd.DataFrame:
    """When config says classification_method: points, the class comes from the points method.

    The direct method's class is kept in `direct_class`; the reason says which method decided.
    """
    out = classified.copy()
    out["direct_class"] = out["household_class"]
    decided = out["points_class"].notna()
    out.loc[decided, "household_class"] = out.loc[decided, "points_class"]
    out["class_label"] = out["household_class"].map(CLASS_LABELS)
    out.loc[decided, "reason"] = (
        "Chấm điểm: điểm A " + out.loc[decided, "score_a"].map(lambda v: f"{v:g}") + " (ngưỡng "
        + out.loc[decided, "score_a_line"].map(lambda v: f"{v:g}") + "), điểm B " + out.loc[decided, "score_b"].astype(str)
        + " → " + out.loc[decided, "class_label"].str.lower()
    )
    return out
