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

import numpy as np
import pandas as pd

from rasoat.pipeline.classify import CLASS_LABELS, NEAR_POOR, NOT_POOR, POOR, WORKING_STATUSES, amount_by_area
from rasoat.pipeline.expressions import flags
from rasoat.pipeline.facts import submission_keys
from rasoat.settings import ConfigError, PointsTable, RuleSet

POINTS_COLUMNS = ["score_a", "score_b", "score_a_line", "points_class", "points_items"]


def points_applicable(ruleset: RuleSet, table: PointsTable | None) -> bool:
    pm = ruleset.points_method
    return table is not None and pm is not None and (pm.score_a_line.rural is not None or pm.score_a_line.urban is not None)


def scoring_frame(households: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The household table plus the derived columns points tables may use."""
    out = households.copy(deep=False)  # copy-on-write: the new columns leave `households` as it is
    keys = submission_keys(households, members)
    counted = keys.members[keys.grouped]

    def per_household(flagged: pd.Series) -> np.ndarray:  # the members flagged, per household
        weights = flagged.to_numpy(dtype=bool, na_value=False)[keys.grouped]
        return np.bincount(counted, weights=weights, minlength=keys.size)[keys.households].astype("int64")

    age = pd.to_numeric(members["age"], errors="coerce")
    out["workers"] = per_household(members["labour_status"].isin(WORKING_STATUSES))
    out["children"] = per_household(age < 16)
    out["elderly"] = per_household(age >= 60)
    size = pd.to_numeric(out["members"], errors="coerce").astype(float)
    out["floor_area_per_member"] = pd.to_numeric(out["floor_area"], errors="coerce").astype(float) / size.where(size > 0)
    return out


def score_a(households: pd.DataFrame, members: pd.DataFrame, table: PointsTable) -> tuple[pd.Series, pd.Series]:
    """(score A per household, the ids of the items that scored, joined), indexed like `households`."""
    frame = scoring_frame(households, members)
    score = np.full(len(households), float(table.base))
    items = np.full(len(households), "", dtype=object)
    for position, item in enumerate(table.items):
        try:
            hit = flags(frame, item.when, {}).to_numpy()
        except Exception as exc:
            raise ConfigError(f"{table.source_file}: items[{position}] ({item.id}).when: cannot evaluate "
                              f"({type(exc).__name__}: {exc})") from None
        score = score + hit * float(item.points)
        rows = np.flatnonzero(hit)  # only the rows that scored get longer
        items[rows] = np.where(items[rows] == "", item.id, items[rows] + ", " + item.id)
    return pd.Series(score, index=households.index), pd.Series(items, index=households.index, dtype=object)


def classify_by_points(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, table: PointsTable) -> pd.DataFrame:
    """`classified` plus POINTS_COLUMNS (score A, score B, the line, the class by points)."""
    out = classified.copy(deep=False)  # copy-on-write: the new columns leave `classified` as it is
    if not points_applicable(ruleset, table):
        for c in POINTS_COLUMNS:
            out[c] = None
        return out
    pm = ruleset.points_method
    a, items = score_a(classified, members, table)
    b = classified["deprivation_count"].astype("int64") * pm.points_per_deprivation.value
    line = amount_by_area(classified["area_type"], pm.score_a_line)
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
    out = classified.copy(deep=False)  # copy-on-write: the changes leave `classified` as it is
    out["direct_class"] = out["household_class"]
    decided = out["points_class"].notna()
    out.loc[decided, "household_class"] = out.loc[decided, "points_class"]
    out["class_label"] = out["household_class"].map(CLASS_LABELS)
    if decided.any():  # no household scored (or none at all): the direct method's reasons stand
        out.loc[decided, "reason"] = _points_reason(out.loc[decided, ["score_a", "score_a_line", "score_b", "class_label"]])
    return out


def _points_reason(decided: pd.DataFrame) -> pd.Series:
    """"Chấm điểm: điểm A … → hộ …" per row, written once per distinct (scores, line, class): they repeat a lot."""
    combination = decided.groupby(list(decided.columns), sort=False, dropna=False).ngroup().to_numpy()
    distinct = decided.iloc[np.unique(combination, return_index=True)[1]]  # the first row of each, in `combination`'s numbering
    text = (
        "Chấm điểm: điểm A " + distinct["score_a"].map(lambda v: f"{v:g}") + " (ngưỡng "
        + distinct["score_a_line"].map(lambda v: f"{v:g}") + "), điểm B " + distinct["score_b"].astype(str)
        + " → " + distinct["class_label"].str.lower()
    )
    return pd.Series(text.to_numpy(dtype=object)[combination], index=decided.index)
