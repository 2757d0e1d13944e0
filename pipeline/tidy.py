"""Raw submissions → tidy tables: one row per household, one row per member, typed, NFC text.

Works on both payload formats Central hands out (OData JSON and the CSV export), guided by the
questionnaire so that a field's name, group path and type come from one place. Anything that
cannot be read becomes a row of the issues table instead of an exception.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

import pandas as pd

from rasoat.forms import Field, Questionnaire
from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA

ISSUE_COLUMNS = [
    "submission_id", "household_id", "hamlet", "enumerator", "field", "value", "rule", "severity", "message",
]
ERROR, WARNING = "error", "warning"
NAME_FIELDS = ("head_name", "member_name")
INCOME_COST_FIELD = "production_costs"
MAX_TEXT = 500  # longer text is cut and reported: no field of the form needs more

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class TidyTables:
    households: pd.DataFrame  # one row per submission (its current version)
    members: pd.DataFrame  # one row per member, `submission_id` links to households
    issues: pd.DataFrame  # ISSUE_COLUMNS


def clean_text(value: Any) -> str | None:
    """NFC, no control characters, single spaces; None for empty."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = _SPACES.sub(" ", _CONTROL.sub("", text)).strip()
    return text or None


def clean_name(value: Any) -> str | None:
    """A person's name as written on the lists: NFC, single spaces, each word capitalised."""
    text = clean_text(value)
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" ")) if text else None


def income_source_fields(questionnaire: Questionnaire) -> list[str]:
    return [f.name for f in questionnaire.household_fields if f.groups[:1] == ("income",) and f.name != INCOME_COST_FIELD]


# --- reading one payload -------------------------------------------------------------------


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _odata_value(record: dict, f: Field) -> Any:
    value = _dig(record, (*f.groups, f.name))
    if f.type == "geopoint" and isinstance(value, dict):
        coords = value.get("coordinates") or []
        return (coords[1], coords[0]) if len(coords) >= 2 else None
    return value


def _csv_value(row: dict, f: Field) -> Any:
    column = "-".join((*f.groups, f.name))
    if f.type == "geopoint":
        lat, lon = row.get(f"{column}-Latitude"), row.get(f"{column}-Longitude")
        return (lat, lon) if lat not in (None, "") and lon not in (None, "") else None
    value = row.get(column)
    return None if value == "" else value


def read_payload(payload_format: str, payload: str, questionnaire: Questionnaire) -> tuple[dict, list[dict]]:
    """(household answers, member answers) by field name, values as they came."""
    data = json.loads(payload)
    if payload_format == CENTRAL_ODATA:
        get, root, rows = _odata_value, data, data.get(questionnaire.member_repeat) or []
    elif payload_format == CENTRAL_CSV:
        get, root, rows = _csv_value, data.get("row") or {}, (data.get("repeats") or {}).get(questionnaire.member_repeat) or []
    else:
        raise ValueError(f"unknown payload format {payload_format!r}")
    household = {f.name: get(root, f) for f in questionnaire.household_fields}
    members = [{f.name: get(row, f) for f in questionnaire.member_fields} for row in rows if isinstance(row, dict)]
    return household, members


# --- typing columns ------------------------------------------------------------------------


def issue_rows(frame: pd.DataFrame, mask: pd.Series, field: str, rule: str, severity: str, message: str) -> pd.DataFrame:
    bad = frame.loc[mask]
    return pd.DataFrame(
        {
            "submission_id": bad["submission_id"].astype(str),
            "household_id": bad.get("household_id", pd.Series(index=bad.index, dtype=object)),
            "hamlet": bad.get("hamlet", pd.Series(index=bad.index, dtype=object)),
            "enumerator": bad.get("enumerator", pd.Series(index=bad.index, dtype=object)),
            "field": field,
            "value": bad[field].map(lambda v: None if v is None else str(v)[:100]) if field in bad else None,
            "rule": rule,
            "severity": severity,
            "message": message,
        },
        columns=ISSUE_COLUMNS,
    )


def _type_columns(frame: pd.DataFrame, fields: Iterable[Field], questionnaire: Questionnaire) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Convert each answer column to its type; unreadable values become NA plus an issue row."""
    out = frame.copy()
    issues: list[pd.DataFrame] = []
    for f in fields:
        raw = frame[f.name]
        present = raw.notna() & (raw.astype(str) != "")
        if f.type in ("integer", "decimal"):
            numbers = pd.to_numeric(raw, errors="coerce")
            issues.append(issue_rows(frame, present & numbers.isna(), f.name, "not_a_number", ERROR, "không phải là số"))
            out[f.name] = numbers.round().astype("Int64") if f.type == "integer" else numbers.astype("Float64")
        elif f.type == "select_one":
            text = raw.map(clean_text)
            allowed = set(questionnaire.choices.get(f.choice_list, ()))
            unknown = text.notna() & ~text.isin(allowed)
            issues.append(issue_rows(frame, unknown, f.name, "unknown_choice", ERROR, "mã lựa chọn không có trong phiếu"))
            text = text.where(~unknown, None)
            out[f.name] = text.map({"yes": True, "no": False}).astype("boolean") if f.choice_list == "yes_no" else text
        elif f.type == "select_multiple":
            text = raw.map(clean_text)
            allowed = questionnaire.choices.get(f.choice_list, ())
            chosen = text.map(lambda v: set(v.split(" ")) if isinstance(v, str) else set())
            unknown = chosen.map(lambda s: bool(s - set(allowed)))
            issues.append(issue_rows(frame, unknown, f.name, "unknown_choice", ERROR, "mã lựa chọn không có trong phiếu"))
            out[f.name] = text
            for code in allowed:
                out[f"{f.name}__{code}"] = chosen.map(lambda s, c=code: c in s).astype("boolean").where(text.notna(), pd.NA)
        elif f.type == "date":
            dates = pd.to_datetime(raw, errors="coerce", format="mixed")
            issues.append(issue_rows(frame, present & dates.isna(), f.name, "not_a_date", ERROR, "không phải là ngày"))
            out[f.name] = dates.dt.date
        elif f.type == "geopoint":
            lat = pd.to_numeric(raw.map(lambda p: p[0] if isinstance(p, (tuple, list)) else None), errors="coerce")
            lon = pd.to_numeric(raw.map(lambda p: p[1] if isinstance(p, (tuple, list)) else None), errors="coerce")
            out = out.drop(columns=[f.name])
            out[f"{f.name}_lat"], out[f"{f.name}_lon"] = lat.astype("Float64"), lon.astype("Float64")
        elif f.type in ("text",):
            cleaner = clean_name if f.name in NAME_FIELDS else clean_text
            text = raw.map(cleaner)
            too_long = text.str.len().gt(MAX_TEXT).fillna(False).astype(bool)
            issues.append(issue_rows(frame, too_long, f.name, "too_long", WARNING, f"dài quá {MAX_TEXT} ký tự, đã cắt"))
            out[f.name] = text.str.slice(0, MAX_TEXT)
        else:  # start, end, deviceid and other metadata: keep the text
            out[f.name] = raw.map(clean_text)
    return out, issues


# --- the step ------------------------------------------------------------------------------


def tidy_submissions(current: pd.DataFrame, questionnaire: Questionnaire) -> TidyTables:
    """Turn the current version of each submission into typed household and member tables."""
    household_rows: list[dict] = []
    member_rows: list[dict] = []
    issues: list[pd.DataFrame] = []
    unreadable: list[dict] = []
    for rec in current[["submission_id", "instance_id", "form_version", "submitted_at", "review_state", "payload_format", "payload"]].itertuples(index=False):
        try:
            household, members = read_payload(rec.payload_format, rec.payload, questionnaire)
        except (ValueError, TypeError, AttributeError) as exc:
            unreadable.append({"submission_id": rec.submission_id, "field": "payload", "value": None, "rule": "unreadable",
                               "severity": ERROR, "message": f"không đọc được bản ghi: {type(exc).__name__}"})
            continue
        household.update(submission_id=rec.submission_id, instance_id=rec.instance_id, form_version=rec.form_version,
                         submitted_at=rec.submitted_at, review_state=rec.review_state or "received")
        household_rows.append(household)
        for position, member in enumerate(members, start=1):
            member.update(submission_id=rec.submission_id, position=position)
            member_rows.append(member)

    household_columns = [f.name for f in questionnaire.household_fields]
    member_columns = [f.name for f in questionnaire.member_fields]
    households = pd.DataFrame(household_rows, columns=[*household_columns, "submission_id", "instance_id", "form_version", "submitted_at", "review_state"])
    members = pd.DataFrame(member_rows, columns=[*member_columns, "submission_id", "position"])

    households, hh_issues = _type_columns(households, questionnaire.household_fields, questionnaire)
    # Members carry their household's identity so issue rows name the household.
    ident = households[["submission_id", "household_id", "hamlet", "enumerator"]]
    members = members.merge(ident, on="submission_id", how="left")
    members, mem_issues = _type_columns(members, questionnaire.member_fields, questionnaire)
    members = members.drop(columns=["household_id", "hamlet", "enumerator"])
    issues += hh_issues + mem_issues
    if unreadable:
        issues.append(pd.DataFrame(unreadable, columns=ISSUE_COLUMNS))

    households = _derive_household_columns(households, members, questionnaire)
    members = _derive_member_columns(members, households)
    all_issues = pd.concat([i for i in issues if len(i)], ignore_index=True) if any(len(i) for i in issues) else pd.DataFrame(columns=ISSUE_COLUMNS)
    return TidyTables(households=households, members=members, issues=all_issues.reindex(columns=ISSUE_COLUMNS))


def _derive_household_columns(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    out = households.copy()
    counts = members.groupby("submission_id").size()
    out["members"] = out["submission_id"].map(counts).fillna(0).astype("Int64")
    sources = income_source_fields(questionnaire)
    out["income_sources_year"] = out[sources].sum(axis=1, min_count=1).astype("Float64")
    interview = pd.to_datetime(out["interview_date"], errors="coerce")
    submitted = pd.to_datetime(out["submitted_at"], errors="coerce", utc=True, format="mixed")
    out["interview_year"] = interview.dt.year.fillna(submitted.dt.year).astype("Int64")
    return out


def _derive_member_columns(members: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    out = members.copy()
    year = out["submission_id"].map(households.set_index("submission_id")["interview_year"])
    out["age"] = (year - out["birth_year"]).astype("Int64")
    return out
