"""Checks on the tidy tables: which households can be classified, and why the others wait.

Every problem is a row of the issues table (household, field, member, value, rule, severity,
message). An error keeps the household out of classification until it is fixed; a warning is
reported and the household kept. Every household of the tidy table ends either in `households`
(kept) or in `excluded` (quarantined) with a reason — never in both, never in neither.

Rule codes (besides the tidy step's and the schema's, see `rasoat.pipeline.schemas`):

=======================  ========  ===============================================================
rule                     severity  meaning
=======================  ========  ===============================================================
required                 error     a required answer is missing where the form asks it
no_members               error     consented (and the roster applies) but no member listed
size_mismatch            warning   household_size differs from the members listed
one_head                 warning   not exactly one member is the head
age_relationship         warning   a parent not ≥ 12 years older than the head, a child not ≥ 12
                                   years younger, a grandchild not ≥ 24 years younger
floor_area_implausible   warning   under 2 m² or over 500 m² per person
costs_exceed_income      warning   production costs larger than all income sources together
outside_commune          warning   GPS point outside the commune's bounding box
missing_gps              warning   consented household without a GPS point
old_form_version         warning   submitted with another version of the form than the current one
duplicate_household      warning   same household ID as a kept submission (this one is dropped)
duplicate_head_id        warning   same head CCCD as a kept submission (dropped)
duplicate_head_name      warning   same head name and hamlet (without accents/case) as a kept
                                   submission, household IDs not contradicting (dropped)
short_interview, rapid_succession, identical_answers: see `rasoat.pipeline.quality`
=======================  ========  ===============================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rasoat.forms import Questionnaire
from rasoat.pipeline import quality
from rasoat.pipeline.expressions import flags
from rasoat.pipeline.schemas import MAX_AGE, household_schema, member_schema, validate_table
from rasoat.pipeline.tidy import (ERROR, ISSUE_COLUMNS, WARNING, TidyTables, as_text, concat_issues, fold, issue_rows, issue_value,
                                  parse_times, per_value)

__all__ = ["CheckedTables", "check_tables", "relevance_mask", "find_duplicates", "age_relationship_issues",
           "MAX_AGE", "MIN_GENERATION_GAP", "FLOOR_AREA_PER_PERSON"]

MIN_GENERATION_GAP = 12  # years between a parent and a child, at least
FLOOR_AREA_PER_PERSON = (2.0, 500.0)  # m² per person outside this range is implausible
# relationship code -> generation relative to the head (only codes whose gap is certain)
_GENERATION = {"parent": 1, "child": -1, "grandchild": -2}
HEAD = "head"


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
    names = set(_REFERENCE.findall(relevant))
    if not names <= set(frame.columns):  # refers to answers this table does not hold: treat as relevant
        return pd.Series(True, index=frame.index)
    frame = frame[sorted(names)]
    expression = _SINGLE_EQUALS.sub("==", _REFERENCE.sub(r"\1", relevant))
    for name in yes_no_fields:
        expression = re.sub(rf"\b{name}\s*==\s*'yes'", f"{name} == True", expression)
        expression = re.sub(rf"\b{name}\s*==\s*'no'", f"{name} == False", expression)
        expression = re.sub(rf"\b{name}\s*!=\s*'yes'", f"{name} != True", expression)
        expression = re.sub(rf"\b{name}\s*!=\s*'no'", f"{name} != False", expression)
    try:
        return flags(frame, expression, {})
    except Exception:  # an expression we cannot translate: treat as relevant
        return pd.Series(True, index=frame.index)


def _required_missing(frame: pd.DataFrame, fields, yes_no_fields: set[str]) -> list[pd.DataFrame]:
    out = []
    masks: dict[str, pd.Series] = {}
    for f in fields:
        column = f.name if f.type != "geopoint" else f"{f.name}_lat"
        if f.required and column in frame:
            if f.relevant not in masks:
                masks[f.relevant] = relevance_mask(frame, f.relevant, yes_no_fields)
            relevant = masks[f.relevant]
            out.append(issue_rows(frame, relevant & frame[column].isna(), f.name, "required", ERROR, "thiếu câu trả lời bắt buộc"))
    return out


def _repeat_relevance(questionnaire: Questionnaire) -> str:
    """The relevance of the member repeat (and its enclosing groups) as the form states it."""
    conditions: list[str] = []
    for row in questionnaire.definition.get("survey", []):
        kind = (row.get("type") or "").strip().split(" ")[0]
        own = (row.get("relevant") or "").strip()
        if kind in ("begin_group", "begin_repeat"):
            conditions.append(own)
            if kind == "begin_repeat" and row.get("name") == questionnaire.member_repeat:
                return " and ".join(f"({c})" for c in conditions if c)
        elif kind in ("end_group", "end_repeat") and conditions:
            conditions.pop()
    return ""


# --- cross-field rules (pure; each returns issue rows) -------------------------------------


def age_relationship_issues(members: pd.DataFrame) -> pd.DataFrame:
    """Ages that contradict the relationship to the head (members carry the identity columns)."""
    # only the columns the rule and its issue rows read: filtering the whole table would copy it
    used = [c for c in ("submission_id", "household_id", "hamlet", "enumerator", "position", "age", "relationship") if c in members]
    m = members.loc[(members["age"].notna() & members["relationship"].notna()).to_numpy(dtype=bool), used]
    heads = m[m["relationship"] == HEAD].drop_duplicates("submission_id").set_index("submission_id")["age"]
    head_age = m["submission_id"].map(heads).astype("Int64")
    generation = m["relationship"].map(_GENERATION)
    gap = (m["age"] - head_age).astype("Float64")  # positive: older than the head
    direction = pd.Series(np.where(generation > 0, 1, -1), index=m.index)  # older (+1) or younger (-1) than the head
    bad = generation.notna() & head_age.notna() & ((gap * direction) < generation.abs() * MIN_GENERATION_GAP).fillna(False)
    bad = bad.astype(bool)
    flagged = m[bad]  # the text shown is built for flagged members only
    shown = (as_text(flagged["relationship"]) + " " + as_text(flagged["age"]) + " tuổi, chủ hộ "
             + as_text(head_age[bad]) + " tuổi")
    return issue_rows(m, bad, "birth_year", "age_relationship", WARNING,
                      "tuổi không khớp quan hệ với chủ hộ (bố mẹ, con, cháu)", value=shown)


def _digits_of(values: pd.Series) -> list[str | None]:
    """``None if pd.isna(v) else re.sub(r"\\D", "", str(v)) or None`` of each value; when every text is
    digits already (as the form asks), recognised all at once instead of a substitution per household."""
    missing = values.isna().to_numpy(dtype=bool)
    texts = [None if m else t if type(t) is str else str(t) for t, m in zip(values.astype(object).tolist(), missing)]
    present = [t for t in texts if t is not None]
    joined = "\x00".join(present)
    if joined.count("\x00") == max(len(present) - 1, 0) and not re.search(r"[^\d\x00]", joined):
        return [t or None for t in texts]
    return [None if t is None else re.sub(r"\D", "", t) or None for t in texts]


def _repeated_groups(keys: list) -> list[list[int]]:
    """Positions sharing a key (None is no key), for each key found more than once, in the order of the
    keys' first appearance, each key's positions ascending. Whole arrays at once: a province's
    million households share many a head's name within a hamlet."""
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))  # codes in order of first appearance, -1 for None
    known = codes >= 0
    counts = np.bincount(codes[known], minlength=1)
    repeated = np.flatnonzero(known & (counts[np.where(known, codes, 0)] > 1))
    ordered = repeated[np.argsort(codes[repeated], kind="stable")]  # by key, each key's positions ascending
    return [g.tolist() for g in np.split(ordered, np.flatnonzero(np.diff(codes[ordered])) + 1)] if len(ordered) else []


def find_duplicates(households: pd.DataFrame) -> tuple[pd.Index, pd.DataFrame]:
    """The same household surveyed twice: (index labels of the dropped rows, issue rows).

    Two submissions are the same household when they share the household ID, or the head's
    CCCD, or the head's name (compared without accents and case) in the same hamlet — the last
    only when their household IDs and CCCDs do not contradict (both given and different). The
    links are followed transitively. In each group one submission is kept: approved before any
    other review state, then the newest submission, then the smallest submission ID; each other
    gets a warning naming the kept one.
    """
    hh = households
    n = len(hh)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    def present(column: str) -> list[tuple[bool, Any]]:  # (missing, value) per household, missing found in one pass
        values = hh[column].to_numpy(dtype=object) if column in hh else np.full(n, None, dtype=object)
        return list(zip(pd.isna(values).tolist(), values.tolist()))

    hid = [None if missing else str(v).strip().upper() or None for missing, v in present("household_id")]
    cccd = _digits_of(hh.get("head_id_number", pd.Series(None, index=hh.index)))
    names = per_value(hh.get("head_name", pd.Series(None, index=hh.index)), fold).tolist()
    hamlets = [None if missing else str(v) for missing, v in present("hamlet")]

    for g in _repeated_groups(hid):
        for i in g[1:]:
            union(g[0], i)
    for g in _repeated_groups(cccd):
        for i in g[1:]:
            union(g[0], i)
    name_keys = [f"{nm}|{hm}" if nm and hm else None for nm, hm in zip(names, hamlets)]
    # A same-name group whose households all have both IDs links only those sharing an ID, linked
    # above: only the groups with a household missing one are looked at (at a million households,
    # most of 183,000 groups of a common name in a hamlet are left out).
    open_keys = {k for k, h, c in zip(name_keys, hid, cccd) if k is not None and not (h and c)}
    for g in _repeated_groups([k if k in open_keys else None for k in name_keys]):
        _link_compatible(g, hid, cccd, union)

    if all(parent[i] == i for i in range(n)):  # nobody linked: no group to look at
        return hh.index[:0], issue_rows(hh, pd.Series(False, index=hh.index), "household_id", "duplicate_household", WARNING, "")
    roots = [find(i) for i in range(n)]
    approved = (hh["review_state"] == "approved").fillna(False).astype(bool).to_numpy() if "review_state" in hh else [False] * n
    when = parse_times(hh["submitted_at"]) if "submitted_at" in hh else pd.Series(pd.NaT, index=hh.index, dtype="datetime64[us, UTC]")
    stamp = np.where(when.isna().to_numpy(), -(2**62), when.to_numpy(dtype="datetime64[us]").astype(np.int64, copy=False)).tolist()
    sids = [str(s) for s in hh["submission_id"]]
    members: dict[int, list[int]] = {}
    for i, r in enumerate(roots):
        members.setdefault(r, []).append(i)
    dropped: list[int] = []
    rows = []
    for group in members.values():
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda i: (not approved[i], -stamp[i], sids[i]))
        kept = ordered[0]
        for i in ordered[1:]:
            dropped.append(i)
            if hid[i] and hid[i] == hid[kept]:
                rule, field, value, what = "duplicate_household", "household_id", hid[i], "cùng mã hộ"
            elif cccd[i] and cccd[i] == cccd[kept]:
                rule, field, value, what = "duplicate_head_id", "head_id_number", cccd[i], "cùng số CCCD chủ hộ"
            elif name_keys[i] and name_keys[i] == name_keys[kept]:
                rule, field, value, what = "duplicate_head_name", "head_name", hh["head_name"].iloc[i], "cùng tên chủ hộ và ấp"
            else:
                rule, field, value, what = "duplicate_household", "household_id", hid[i], "trùng qua phiếu khác"
            kept_hid = hid[kept] or "không mã"
            rows.append((i, field, value, rule, f"hộ được khảo sát hai lần ({what}); giữ phiếu {sids[kept]} (hộ {kept_hid}): "
                                                 "phiếu đã duyệt trước, rồi phiếu mới nhất"))
    at = [i for i, *_ in rows]
    none = [None] * len(rows)
    issues = pd.DataFrame({
        "submission_id": [sids[i] for i in at],
        "household_id": hh["household_id"].iloc[at].astype(object).tolist() if "household_id" in hh else none,
        "hamlet": hh["hamlet"].iloc[at].astype(object).tolist() if "hamlet" in hh else none,
        "enumerator": hh["enumerator"].iloc[at].astype(object).tolist() if "enumerator" in hh else none,
        "field": [r[1] for r in rows], "member": none, "value": [issue_value(r[2]) for r in rows], "rule": [r[3] for r in rows],
        "severity": WARNING, "message": [r[4] for r in rows],
    }, columns=ISSUE_COLUMNS)
    return hh.index[dropped], concat_issues([issues])


def _link_compatible(group: list[int], hid: list, cccd: list, union) -> None:
    """Link the households of one same-name-and-hamlet group whose household IDs and CCCDs do not
    contradict (both given and different), in one pass instead of comparing every pair.

    Who is compatible with whom: a household with neither ID, with everyone; one without a
    household ID (CCCD c) with every one without a CCCD, and with those whose CCCD is c; one
    without a CCCD (household ID h) likewise with h; one with both (h, c) with those without a
    household ID and CCCD c, those without a CCCD and household ID h, and those with (h, c).
    Linking each to one representative of what it is compatible with gives the same groups.
    """
    blank = [i for i in group if not hid[i] and not cccd[i]]
    if blank:
        for i in group:
            union(blank[0], i)
        return
    no_hid = [i for i in group if not hid[i]]
    no_cccd = [i for i in group if not cccd[i]]
    by_cccd: dict[str, int] = {}
    by_hid: dict[str, int] = {}
    for i in no_hid:
        union(no_cccd[0] if no_cccd else by_cccd.setdefault(cccd[i], i), i)
        by_cccd.setdefault(cccd[i], i)
    for i in no_cccd:
        union(no_hid[0] if no_hid else by_hid.setdefault(hid[i], i), i)
        by_hid.setdefault(hid[i], i)
    both: dict[tuple, int] = {}
    for i in group:
        if hid[i] and cccd[i]:
            union(both.setdefault((hid[i], cccd[i]), i), i)
            if cccd[i] in by_cccd:
                union(by_cccd[cccd[i]], i)
            if hid[i] in by_hid:
                union(by_hid[hid[i]], i)


def _members_with(members: pd.DataFrame, hh: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The members of the households of `hh`, each carrying `columns` of its household, as an inner
    merge on submission_id gives them (members' order, a fresh RangeIndex); and the position in `hh`
    of each member's household.

    Built by taking the household columns at those positions: the members' own columns are not
    copied (copy-on-write), as a merge would copy all of them. A merge is left only for tables it
    treats differently — a submission ID twice in `hh` (its members repeated) or a carried column
    already among the members' (suffixed); the positions are then None.
    """
    ids = pd.Index(hh["submission_id"])
    if not ids.is_unique or members.columns.isin(columns).any():
        return members.merge(hh[["submission_id", *columns]], on="submission_id", how="inner"), None
    at = ids.get_indexer(members["submission_id"])
    found = at >= 0
    m = (members if found.all() else members[found]).reset_index(drop=True)
    at = at[found]
    return m.assign(**{c: hh[c].iloc[at].set_axis(m.index) for c in columns}), at


def _heads(m: pd.DataFrame, hh: pd.DataFrame, at: np.ndarray | None) -> pd.Series:
    """How many members of each household of `hh` are the head (`at`: see `_members_with`)."""
    is_head = m["relationship"].eq(HEAD).fillna(False).to_numpy(dtype=bool)
    if at is not None:  # counted by position: no grouping of millions of submission IDs
        return pd.Series(np.bincount(at, weights=is_head, minlength=len(hh)), index=hh.index)
    heads = pd.Series(is_head, index=m.index).groupby(m["submission_id"]).sum()
    return hh["submission_id"].map(heads).fillna(0)


def _kept_submission(message: str) -> str:
    m = re.search(r"giữ phiếu (\S+)", message)
    return m.group(1) if m else ""


# --- the step ------------------------------------------------------------------------------


def check_tables(tidy: TidyTables, questionnaire: Questionnaire, bounding_box=None) -> CheckedTables:
    """Run every check; split the households into kept and excluded (with the reason)."""
    all_hh, members = tidy.households, tidy.members
    readable_all = all_hh["readable"].astype(bool) if "readable" in all_hh else pd.Series(True, index=all_hh.index)
    hh = all_hh[readable_all]
    issues = [tidy.issues]
    yes_no = {f.name for f in questionnaire.fields if f.choice_list == "yes_no"}
    consented = hh["consent"].astype("boolean").fillna(False).astype(bool) if "consent" in hh else pd.Series(True, index=hh.index)
    roster = consented & relevance_mask(hh, _repeat_relevance(questionnaire), yes_no)

    # Declared schemas: types, ranges, choices, formats, lengths.
    issues.append(validate_table(hh, household_schema(questionnaire), ISSUE_COLUMNS))
    # Members carry their household's identity and the household answers their relevance refers to.
    referenced = {name for f in questionnaire.member_fields for name in _REFERENCE.findall(f.relevant)}
    carried = ["household_id", "hamlet", "enumerator", *sorted(c for c in referenced if c in hh and c not in members)]
    m, at = _members_with(members, hh, list(dict.fromkeys(carried)))
    issues.append(validate_table(m, member_schema(questionnaire), ISSUE_COLUMNS))

    # Required answers, respecting relevance.
    issues += _required_missing(hh, questionnaire.household_fields, yes_no)
    issues += _required_missing(m, questionnaire.member_fields, yes_no)

    # Cross-field rules.
    n_members = hh["members"].astype("Int64")
    issues.append(issue_rows(hh, roster & (n_members == 0).fillna(True), "members", "no_members", ERROR, "không có thành viên nào"))
    if "household_size" in hh:
        issues.append(issue_rows(hh, roster & n_members.ne(hh["household_size"]).fillna(False) & (n_members > 0).fillna(False),
                                 "household_size", "size_mismatch", WARNING, "số nhân khẩu khác số thành viên đã liệt kê"))
    if "relationship" in m:
        hh_heads = _heads(m, hh, at)
        issues.append(issue_rows(hh, roster & (n_members > 0).fillna(False) & (hh_heads != 1), "relationship", "one_head", WARNING,
                                 "hộ phải có đúng một chủ hộ", value=as_text(hh_heads.astype(int)) + " chủ hộ"))
        issues.append(age_relationship_issues(m))
    if "floor_area" in hh:
        per_person = (hh["floor_area"].astype("Float64") / n_members.where(n_members > 0).astype("Float64"))
        lo, hi = FLOOR_AREA_PER_PERSON
        implausible = roster & ((per_person < lo) | (per_person > hi)).fillna(False).astype(bool)
        issues.append(issue_rows(hh, implausible, "floor_area", "floor_area_implausible", WARNING,
                                 f"diện tích nhà không hợp lý so với số người (ngoài {lo:g}–{hi:g} m²/người)",
                                 value=as_text(hh.loc[implausible, "floor_area"]) + " m², " + as_text(n_members[implausible]) + " người"))
    if "production_costs" in hh and "income_sources_year" in hh:
        costly = (hh["production_costs"].astype("Float64") > hh["income_sources_year"].astype("Float64")).fillna(False).astype(bool)
        issues.append(issue_rows(hh, roster & costly, "production_costs", "costs_exceed_income", WARNING,
                                 "chi phí sản xuất lớn hơn tổng thu nhập"))
    gps = [f.name for f in questionnaire.household_fields if f.type == "geopoint"]
    for name in gps:
        lat, lon = hh[f"{name}_lat"], hh[f"{name}_lon"]
        issues.append(issue_rows(hh, consented & lat.isna().to_numpy() & lon.isna().to_numpy(), name, "missing_gps", WARNING, "thiếu tọa độ GPS"))
        if bounding_box is not None:
            inside = lat.between(bounding_box.min_lat, bounding_box.max_lat) & lon.between(bounding_box.min_lon, bounding_box.max_lon)
            outside = (lat.notna() & lon.notna() & ~inside.fillna(False)).fillna(False).astype(bool)
            issues.append(issue_rows(hh, outside, name, "outside_commune", WARNING, "vị trí GPS nằm ngoài địa bàn xã",
                                     value=as_text(lat[outside]) + " " + as_text(lon[outside])))
    if "form_version" in hh:
        other = hh["form_version"].notna() & (hh["form_version"].astype(str) != str(questionnaire.version))
        issues.append(issue_rows(hh, other.to_numpy(), "form_version", "old_form_version", WARNING,
                                 f"phiếu theo phiên bản biểu mẫu khác (hiện hành: {questionnaire.version}); kiểm tra các câu mới"))

    # Signals for supervisors (per enumerator).
    prints = None if tidy.fingerprints is None else tidy.fingerprints[readable_all.to_numpy(dtype=bool)]
    issues.append(quality.quality_signals(hh, members, questionnaire, prints))

    dropped_index, dup_issue = find_duplicates(hh)
    issues.append(dup_issue)
    all_issues = concat_issues(issues)

    # Why a household waits (first matching reason wins).
    reasons = pd.Series(pd.NA, index=all_hh.index, dtype=object)
    refused = all_hh.index.isin(hh.index[(hh["consent"] == False).fillna(False).to_numpy()]) if "consent" in hh else False  # noqa: E712
    errors = all_issues[all_issues["severity"] == ERROR]
    if len(errors):
        where = pd.Series(["" if pd.isna(p) else f" (thành viên {int(p)})" for p in errors["member"].tolist()], index=errors.index)
        labels = as_text(errors["field"]) + where + ": " + as_text(errors["message"])
        error_text = labels.groupby(errors["submission_id"].astype(str)).agg(lambda s: "lỗi dữ liệu: " + "; ".join(sorted(set(s))))
    else:
        error_text = pd.Series(dtype=object)
    sids = all_hh["submission_id"].astype(str)
    has_error = sids.isin(error_text.index) & ~pd.Series(refused, index=all_hh.index)
    reasons[has_error] = sids[has_error].map(error_text)
    reasons[pd.Series(refused, index=all_hh.index)] = "hộ không đồng ý phỏng vấn"
    if "screened_out" in all_hh:  # the quick screen ended the interview: not reviewed, not an error
        screened = (all_hh["screened_out"] == "yes").fillna(False).astype(bool) & reasons.isna()
        why = all_hh["screen_reason"].map(lambda r: str(r).strip(" ;") if isinstance(r, str) else "") if "screen_reason" in all_hh else ""
        reasons[screened] = ("không thuộc diện rà soát (sàng lọc nhanh: " + why + ")")[screened]
    if len(dup_issue):
        kept_by = dict(zip(dup_issue["submission_id"].astype(str), dup_issue["message"].map(_kept_submission)))
        dup_mask = all_hh.index.isin(dropped_index)
        reasons[dup_mask] = sids[dup_mask].map(lambda s: f"trùng hộ (giữ phiếu {kept_by.get(s, '')})")
    reasons[~readable_all] = "không đọc được bản ghi"

    excluded_mask = reasons.notna()
    excluded = all_hh.loc[excluded_mask, ["submission_id", "household_id", "hamlet"]].assign(reason=reasons[excluded_mask].astype(object))
    # nothing excluded (a clean province): the tables are passed on, not copied
    keep = all_hh.loc[~excluded_mask] if excluded_mask.any() else all_hh
    kept_members = members["submission_id"].isin(keep["submission_id"]).to_numpy()
    return CheckedTables(
        households=keep.reset_index(drop=True),
        members=(members if kept_members.all() else members[kept_members]).reset_index(drop=True),
        excluded=excluded.reset_index(drop=True),
        issues=all_issues,
    )
