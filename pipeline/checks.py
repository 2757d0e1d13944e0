"""Checks on the tidy tables: which households can be classified, and why the others wait.

Every problem is a row of the issues table (household, field, value, rule, severity). An error
keeps the household out of classification until it is fixed; a warning is reported and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from rasoat.forms import Questionnaire
from rasoat.pipeline.tidy import ERROR, ISSUE_COLUMNS, WARNING, TidyTables, issue_rows

MAX_AGE = 120


@dataclass(frozen=True)
class CheckedTables:
    households: pd.DataFrame  # ready to classify
    members: pd.DataFrame  # members of those households
    excluded: pd.DataFrame  # submission_id, household_id, hamlet, reason
    issues: pd.DataFrame  # every issue found, including the tidy step's


_REFERENCE = re.compile(r"\$\{(\w+)\}")
_SINGLE_EQUALS = re.compile(r"(?<![<>!=])=(?!=)")


def relevance_mask(frame: pd.DataFrame, relevant: str, yes_no_fields: set[str]) -> pd.Series:
    """Where an XLSForm relevance expression holds, on the typed table (yes/no answers are booleans).

    Only the simple comparisons the questionnaire uses are understood; anything else counts as
    relevant, so a required answer is never silently excused.
    """
    if not relevant:
        return pd.Series(True, index=frame.index)
    expression = _SINGLE_EQUALS.sub("==", _REFERENCE.sub(r"\1", relevant))
    for name in yes_no_fields:
        expression = re.sub(rf"\b{name}\s*==\s*'yes'", f"{name} == True", expression)
        expression = re.sub(rf"\b{name}\s*==\s*'no'", f"{name} == False", expression)
    try:
        result = frame.eval(expression, engine="python")
        return pd.Series(result, index=frame.index).astype("boolean").fillna(False).astype(bool)
    except Exception:  # an expression we cannot translate: treat as relevant
        return pd.Series(True, index=frame.index)


def _required_missing(frame: pd.DataFrame, fields, yes_no_fields: set[str]) -> list[pd.DataFrame]:
    out = []
    for f in fields:
        if f.required and f.name in frame:
            relevant = relevance_mask(frame, f.relevant, yes_no_fields)
            out.append(issue_rows(frame, relevant & frame[f.name].isna(), f.name, "required", ERROR, "thiếu câu trả lời bắt buộc"))
    return out


def _duplicates(households: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """The same household surveyed twice: keep approved before unreviewed, then the newest."""
    ranked = households.assign(
        _approved=(households["review_state"] == "approved").astype(int),
        _when=pd.to_datetime(households["submitted_at"], errors="coerce", utc=True, format="mixed"),
    ).sort_values(["household_id", "_approved", "_when"], ascending=[True, False, False])
    has_id = ranked["household_id"].notna()
    dropped = has_id & ranked.duplicated("household_id", keep="first")
    issue = issue_rows(ranked, dropped, "household_id", "duplicate_household", WARNING,
                   "hộ được khảo sát hai lần; giữ phiếu đã duyệt hoặc mới nhất")
    return ranked.index[dropped.to_numpy()], issue


def check_tables(tidy: TidyTables, questionnaire: Questionnaire, bounding_box=None) -> CheckedTables:
    hh, members = tidy.households, tidy.members
    issues = [tidy.issues]
    consented = hh["consent"].fillna(False).astype(bool)
    yes_no = {f.name for f in questionnaire.fields if f.choice_list == "yes_no"}
    issues += _required_missing(hh, questionnaire.household_fields, yes_no)
    issues.append(issue_rows(hh, consented & (hh["members"] == 0), "members", "no_members", ERROR, "không có thành viên nào"))
    issues.append(issue_rows(hh, consented & hh["members"].ne(hh["household_size"]).fillna(False) & (hh["members"] > 0),
                         "household_size", "size_mismatch", WARNING, "số nhân khẩu khác số thành viên đã liệt kê"))
    if bounding_box is not None:
        lat, lon = hh["location_lat"], hh["location_lon"]
        outside = lat.notna() & ~(lat.between(bounding_box.min_lat, bounding_box.max_lat) & lon.between(bounding_box.min_lon, bounding_box.max_lon))
        issues.append(issue_rows(hh.assign(location=lat.astype(str) + " " + lon.astype(str)), outside.fillna(False),
                             "location", "outside_commune", WARNING, "vị trí GPS nằm ngoài địa bàn xã"))

    # Member-level checks report against the household.
    m = members.merge(hh[["submission_id", "household_id", "hamlet", "enumerator", "consent"]], on="submission_id", how="left")
    issues += _required_missing(m, questionnaire.member_fields, yes_no)
    issues.append(issue_rows(m, m["age"].notna() & ~m["age"].between(0, MAX_AGE).fillna(False), "birth_year", "impossible_age", ERROR,
                         f"tuổi không hợp lý (ngoài 0–{MAX_AGE})"))
    heads = m.assign(is_head=m["relationship"].eq("head").fillna(False)).groupby("submission_id")["is_head"].sum()
    hh_heads = hh["submission_id"].map(heads).fillna(0)
    issues.append(issue_rows(hh, consented & (hh["members"] > 0) & (hh_heads != 1), "relationship", "one_head", WARNING,
                         "hộ phải có đúng một chủ hộ"))

    dropped_index, dup_issue = _duplicates(hh)
    issues.append(dup_issue)
    all_issues = pd.concat([i for i in issues if len(i)], ignore_index=True).reindex(columns=ISSUE_COLUMNS) if any(len(i) for i in issues) else pd.DataFrame(columns=ISSUE_COLUMNS)

    reasons = pd.Series(pd.NA, index=hh.index, dtype=object)
    reasons[~consented] = "hộ không đồng ý phỏng vấn"
    errors = all_issues[all_issues["severity"] == ERROR]
    error_text = errors.groupby("submission_id").apply(
        lambda g: "lỗi dữ liệu: " + "; ".join(sorted(set(g["field"] + " (" + g["message"] + ")"))), include_groups=False
    ) if len(errors) else pd.Series(dtype=object)
    has_error = hh["submission_id"].isin(error_text.index) & consented
    reasons[has_error] = hh.loc[has_error, "submission_id"].map(error_text)
    reasons[dropped_index] = "trùng hộ (phiếu khác của cùng mã hộ được giữ)"

    excluded_mask = reasons.notna()
    excluded = hh.loc[excluded_mask, ["submission_id", "household_id", "hamlet"]].assign(reason=reasons[excluded_mask])
    keep = hh.loc[~excluded_mask]
    return CheckedTables(
        households=keep.reset_index(drop=True),
        members=members[members["submission_id"].isin(keep["submission_id"])].reset_index(drop=True),
        excluded=excluded.reset_index(drop=True),
        issues=all_issues,
    )
