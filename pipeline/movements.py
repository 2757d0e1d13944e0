"""Movements between the lists: who escaped poverty, who is newly poor, who relapsed (§5).

The start of the year is the household's class on the latest list before the reference year
(history, see `pipeline.history`); the end of the year is this review's class. Categories:

==============================  ======================================  ====================
code                            Vietnamese                              rule
==============================  ======================================  ====================
remained_poor                   vẫn là hộ nghèo                         poor → poor
escaped_poverty_to_near_poor    thoát nghèo, sang cận nghèo             poor → near-poor
escaped_poverty_above           thoát nghèo, trên chuẩn cận nghèo       poor → average / not poor
near_poor_to_poor               từ cận nghèo thành hộ nghèo             near-poor → poor
newly_poor                      hộ nghèo phát sinh                      on no list → poor, never poor before
relapsed_poor                   hộ tái nghèo                            on no list → poor, poor in an earlier year
remained_near_poor              vẫn là hộ cận nghèo                     near-poor → near-poor
escaped_near_poverty            thoát cận nghèo                         near-poor → average / not poor
newly_near_poor                 hộ cận nghèo phát sinh                  on no list → near-poor, on no list before
relapsed_near_poor              hộ tái cận nghèo                        on no list → near-poor, on a list in an earlier year
not_reviewed                    chưa có kết quả rà soát năm nay         on a list → no class this year (waiting for fixes, not surveyed)
none                            không thuộc danh sách                   on no list either year
==============================  ======================================  ====================

"Relapsed" needs history: without earlier lists a household returning to a list is counted as
new ([I]; hence the import of the commune's official lists for the first year). Pure functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rasoat.pipeline.facts import _join_groups
from rasoat.pipeline.history import household_keys

POOR, NEAR_POOR = "poor", "near_poor"
LISTS = (POOR, NEAR_POOR)
CLASS_SHORT = {"poor": "nghèo", "near_poor": "cận nghèo", "average": "mức sống trung bình", "not_poor": "không nghèo"}
MOVEMENT_LABELS = {
    "remained_poor": "Vẫn là hộ nghèo",
    "escaped_poverty_to_near_poor": "Thoát nghèo, sang hộ cận nghèo",
    "escaped_poverty_above": "Thoát nghèo, trên chuẩn cận nghèo",
    "near_poor_to_poor": "Từ hộ cận nghèo thành hộ nghèo",
    "newly_poor": "Hộ nghèo phát sinh",
    "relapsed_poor": "Hộ tái nghèo",
    "remained_near_poor": "Vẫn là hộ cận nghèo",
    "escaped_near_poverty": "Thoát cận nghèo",
    "newly_near_poor": "Hộ cận nghèo phát sinh",
    "relapsed_near_poor": "Hộ tái cận nghèo",
    "not_reviewed": "Chưa có kết quả rà soát năm nay",
    "none": "Không thuộc danh sách",
}
# Published movement lists: file name -> (title, movements)
MOVEMENT_LISTS = {
    "thoat-ngheo": ("DANH SÁCH HỘ THOÁT NGHÈO", ("escaped_poverty_to_near_poor", "escaped_poverty_above")),
    "ngheo-phat-sinh": ("DANH SÁCH HỘ NGHÈO PHÁT SINH", ("newly_poor",)),
    "tai-ngheo": ("DANH SÁCH HỘ TÁI NGHÈO", ("relapsed_poor",)),
    "can-ngheo-thanh-ngheo": ("DANH SÁCH HỘ CẬN NGHÈO TRỞ THÀNH HỘ NGHÈO", ("near_poor_to_poor",)),
    "thoat-can-ngheo": ("DANH SÁCH HỘ THOÁT CẬN NGHÈO", ("escaped_near_poverty",)),
    "can-ngheo-phat-sinh": ("DANH SÁCH HỘ CẬN NGHÈO PHÁT SINH", ("newly_near_poor",)),
    "tai-can-ngheo": ("DANH SÁCH HỘ TÁI CẬN NGHÈO", ("relapsed_near_poor",)),
}
MOVEMENT_COLUMNS = ["household_id", "submission_id", "hamlet", "head_name", "start_year", "start_class", "household_class",
                    "movement", "movement_label", "history"]


def _movement(start: str | None, end: str | None, earlier: set[str]) -> str:
    """The movement of one household (the rule `household_movements` applies to whole columns)."""
    if start in LISTS and end is None:
        return "not_reviewed"
    if start == POOR:
        return {POOR: "remained_poor", NEAR_POOR: "escaped_poverty_to_near_poor"}.get(end, "escaped_poverty_above")
    if start == NEAR_POOR:
        return {POOR: "near_poor_to_poor", NEAR_POOR: "remained_near_poor"}.get(end, "escaped_near_poverty")
    if end == POOR:
        return "relapsed_poor" if POOR in earlier else "newly_poor"
    if end == NEAR_POOR:
        return "relapsed_near_poor" if earlier & set(LISTS) else "newly_near_poor"
    return "none"


def household_movements(classified: pd.DataFrame, history: pd.DataFrame, reference_year: int) -> pd.DataFrame:
    """One row per household classified now or on a list at the start of the year (MOVEMENT_COLUMNS)."""
    import numpy as np

    past = history[history["year"].astype(int) < int(reference_year)].copy() if len(history) else history.copy()
    past["year"] = past["year"].astype(int)
    start_year = int(past["year"].max()) if len(past) else None
    current = classified.assign(_key=household_keys(classified["household_id"]))
    current = current[current["_key"].notna()].drop_duplicates("_key", keep="first")
    now = pd.DataFrame({"household_id": current["_key"].to_numpy(), "submission_id": current["submission_id"].to_numpy(),
                        "hamlet": current["hamlet"].to_numpy(),
                        "head_name": current["head_name"].to_numpy() if "head_name" in current else None,
                        "household_class": current["household_class"].to_numpy()})
    if start_year is None:
        start = pd.DataFrame(columns=["household_id", "start_class", "hamlet", "head_name"])
    else:
        start = past[past["year"] == start_year].drop_duplicates("household_id").reindex(
            columns=["household_id", "household_class", "hamlet", "head_name"]).rename(columns={"household_class": "start_class"})
    gone = start[start["start_class"].isin(LISTS) & ~start["household_id"].isin(now["household_id"])]
    out = pd.concat([now, gone.drop(columns=["start_class"]).assign(submission_id=None, household_class=None)], ignore_index=True)
    out["start_class"] = out["household_id"].map(dict(zip(start["household_id"], start["start_class"])))
    earlier = past[past["year"] < start_year] if start_year is not None else past.iloc[0:0]
    ever_poor = set(earlier.loc[earlier["household_class"] == POOR, "household_id"])
    ever_listed = set(earlier.loc[earlier["household_class"].isin(LISTS), "household_id"])
    s, e = out["start_class"], out["household_class"]
    on_start = s.isin(LISTS)
    conditions = [
        on_start & e.isna(),
        s.eq(POOR) & e.eq(POOR), s.eq(POOR) & e.eq(NEAR_POOR), s.eq(POOR),
        s.eq(NEAR_POOR) & e.eq(POOR), s.eq(NEAR_POOR) & e.eq(NEAR_POOR), s.eq(NEAR_POOR),
        e.eq(POOR) & out["household_id"].isin(ever_poor), e.eq(POOR),
        e.eq(NEAR_POOR) & out["household_id"].isin(ever_listed), e.eq(NEAR_POOR),
    ]
    choices = ["not_reviewed", "remained_poor", "escaped_poverty_to_near_poor", "escaped_poverty_above", "near_poor_to_poor",
               "remained_near_poor", "escaped_near_poverty", "relapsed_poor", "newly_poor", "relapsed_near_poor", "newly_near_poor"]
    out["movement"] = np.select([c.fillna(False).astype(bool).to_numpy() for c in conditions], choices, default="none")
    out["movement_label"] = out["movement"].map(MOVEMENT_LABELS)
    out["start_year"] = start_year
    if len(past):
        ordered = past.sort_values(["household_id", "year"])
        short = ordered["household_class"].astype(object).map(CLASS_SHORT)
        short = short.where(short.notna(), ordered["household_class"].astype(object))
        text = ordered["year"].astype(str).astype(object).to_numpy() + ": " + short.to_numpy(dtype=object)
        trail = _join_groups(text, ordered["household_id"], "; ")
        out["history"] = out["household_id"].map(trail).fillna("")
    else:
        out["history"] = ""
    return out.reindex(columns=MOVEMENT_COLUMNS)


# Per class: (column prefix, the movements leaving it, the movements joining it), each (column, movement).
_COUNTED_MOVES = {
    POOR: ("poor", [("escaped_to_near_poor", "escaped_poverty_to_near_poor"), ("escaped_above", "escaped_poverty_above")],
           [("from_near_poor", "near_poor_to_poor"), ("new", "newly_poor"), ("relapsed", "relapsed_poor")]),
    NEAR_POOR: ("near_poor", [("escaped", "escaped_near_poverty"), ("to_poor", "near_poor_to_poor")],
                [("from_poor", "escaped_poverty_to_near_poor"), ("new", "newly_near_poor"), ("relapsed", "relapsed_near_poor")]),
}


def _equal_to(values: pd.Series):
    """A function giving `(values == v)` as bool (missing: False) for any v: the column factorized once,
    each comparison one of integer codes."""
    codes, distinct = pd.factorize(values)
    position = {v: k for k, v in enumerate(distinct.tolist())}
    return lambda value: codes == position.get(value, -2)


def movement_counts(movements: pd.DataFrame, hamlets: list[str], total_label: str = "") -> pd.DataFrame:
    """Start of year, movements, end of year per hamlet and for the commune (machine columns).

    Poor: end = start − escaped − not reviewed + near_poor_to_poor + newly + relapsed.
    Near-poor: end = start − escaped − to poor − not reviewed + from poor + newly + relapsed.
    """
    move, start, end = (_equal_to(movements[c]) for c in ("movement", "start_class", "household_class"))
    columns: dict[str, np.ndarray] = {}
    for cls, (name, leaving, joining) in _COUNTED_MOVES.items():
        at_start = start(cls)
        columns[f"{name}_start"] = at_start
        columns |= {f"{name}_{column}": move(movement) for column, movement in leaving}
        columns[f"{name}_not_reviewed"] = at_start & move("not_reviewed")
        columns |= {f"{name}_{column}": move(movement) for column, movement in joining}
        columns[f"{name}_end"] = end(cls)
    # each row's hamlet found once (a mask per hamlet would cost rows × hamlets); rows of other hamlets count in the commune only
    at = pd.Index(hamlets, dtype=object).get_indexer(movements["hamlet"].astype(object).to_numpy())
    bins = np.where(at >= 0, at, len(hamlets))
    out = pd.DataFrame({name: np.append(np.bincount(bins, weights=flags, minlength=len(hamlets) + 1)[:-1], flags.sum())
                        for name, flags in columns.items()}).astype("int64")
    out.insert(0, "hamlet", pd.Series([*hamlets, total_label]))
    return out


MOVEMENT_TABLE_HEADERS = {
    "hamlet": "Ấp", "hamlet_name": "Tên ấp",
    "poor_start": "Hộ nghèo đầu kỳ", "poor_escaped_to_near_poor": "Thoát nghèo sang cận nghèo",
    "poor_escaped_above": "Thoát nghèo trên chuẩn cận nghèo", "poor_not_reviewed": "Hộ nghèo chưa có kết quả",
    "poor_from_near_poor": "Cận nghèo thành nghèo", "poor_new": "Nghèo phát sinh", "poor_relapsed": "Tái nghèo",
    "poor_end": "Hộ nghèo cuối kỳ",
    "near_poor_start": "Hộ cận nghèo đầu kỳ", "near_poor_escaped": "Thoát cận nghèo", "near_poor_to_poor": "Chuyển thành hộ nghèo",
    "near_poor_not_reviewed": "Hộ cận nghèo chưa có kết quả", "near_poor_from_poor": "Từ hộ nghèo sang",
    "near_poor_new": "Cận nghèo phát sinh", "near_poor_relapsed": "Tái cận nghèo", "near_poor_end": "Hộ cận nghèo cuối kỳ",
}


def reasons_by_submission(classified: pd.DataFrame) -> pd.Series | None:
    """Each classified household's reason by submission id (the last row of a repeated id), or None."""
    if "reason" not in classified:
        return None
    return classified.drop_duplicates("submission_id", keep="last").set_index("submission_id")["reason"]


def movement_list(movements: pd.DataFrame, moves: tuple[str, ...], reasons: pd.Series | None = None) -> pd.DataFrame:
    """One published movement list (Vietnamese headers), sorted by hamlet then household.

    `reasons` (from `reasons_by_submission`) fills the "Lý do" column."""
    sel = movements[movements["movement"].isin(moves)].sort_values(["hamlet", "household_id"], na_position="last")
    reason = pd.Series("", index=sel.index, dtype=object)
    if reasons is not None and len(sel):
        reason = sel["submission_id"].map(reasons).fillna("")
    return pd.DataFrame({
        "STT": range(1, len(sel) + 1), "Mã hộ": sel["household_id"].to_numpy(), "Họ và tên chủ hộ": sel["head_name"].to_numpy(),
        "Ấp": sel["hamlet"].to_numpy(),
        "Đầu kỳ": sel["start_class"].astype(object).map(CLASS_SHORT).fillna("không thuộc danh sách").to_numpy(),
        "Cuối kỳ": sel["household_class"].astype(object).map(CLASS_SHORT).fillna("chưa có kết quả").to_numpy(),
        "Biến động": sel["movement_label"].to_numpy(), "Lịch sử": sel["history"].to_numpy(), "Lý do": reason.to_numpy(),
    })


def movement_lists(movements: pd.DataFrame, reasons: pd.Series | None) -> dict[str, tuple[str, pd.DataFrame]]:
    """Every published movement list: file name -> (title, table)."""
    return {name: (title, movement_list(movements, moves, reasons)) for name, (title, moves) in MOVEMENT_LISTS.items()}


def hamlet_movement_lists(lists: dict[str, tuple[str, pd.DataFrame]], hamlets: list[str]) -> dict[str, dict[str, tuple[str, pd.DataFrame]]]:
    """Each hamlet's movement lists from the commune's (`movement_lists`): its rows, in the same order
    (hamlet then household), numbered anew. Exactly `movement_lists` of the hamlet's own movements,
    without sorting and looking up reasons again for every hamlet and list."""
    out: dict[str, dict[str, tuple[str, pd.DataFrame]]] = {code: {} for code in hamlets}
    for name, (title, table) in lists.items():
        rows_of = table.groupby(table["Ấp"].to_numpy(), sort=False).indices
        for code in hamlets:
            rows = table.iloc[rows_of.get(code, [])]
            # made as `movement_list` makes its table (from arrays), so the dtypes come out the same
            out[code][name] = (title, pd.DataFrame({"STT": range(1, len(rows) + 1),
                                                    **{c: rows[c].to_numpy() for c in table.columns if c != "STT"}}))
    return out
