"""Officers' corrections, applied on top of the raw data, with an audit trail; and the rerun diff.

The corrections file is ``<data>/corrections/corrections.csv`` (UTF-8, comma separated) or
``corrections.xlsx`` (first sheet), one correction a row, columns (English or Vietnamese header):

==============  ==============  ==============================================================
column          Vietnamese      meaning
==============  ==============  ==============================================================
household_id    Mã hộ           the household (every current submission with this ID)
field           Trường          a household field (``floor_area``) or a member's field as
                                ``member[<position>].<field>`` (``member[2].birth_year``; the
                                position is the member's place in the list on the phone, as in
                                the issue rows' `member` column)
old_value       Giá trị cũ      optional: the value the officer saw. When given and the data now
                                says something else (the answer was changed on the phone since),
                                the correction *no longer fits* and is not applied
new_value       Giá trị mới     the value to use; empty clears the answer. Choice answers take
                                the code or the Vietnamese label; numbers may be written
                                ``1.500.000``; dates ``2026-10-15`` or ``15/10/2026``
reason          Lý do           why (kept in the audit table)
officer         Người sửa       who
date            Ngày            when; corrections apply in date order, file order within a day
submission_id   Mã phiếu        optional: restrict to one submission (two surveys of one household)
==============  ==============  ==============================================================

`apply_corrections` is pure: tidy tables + corrections → corrected tidy tables + the audit
table (one row per correction: applied or not, and why). Raw data never changes; every run
re-applies the whole file. The tidy step's issue rows on a corrected answer are dropped (the
checks then judge the corrected value).

`class_changes` compares the classification of this run with the previous publication's
``commune/households.csv`` and says, per household whose class changed, which corrected fields,
indicators or income changed.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rasoat.forms import Field, Questionnaire
from rasoat.pipeline.fingerprints import answer_fingerprint
from rasoat.pipeline.publish import NEUTRALISING_QUOTE
from rasoat.pipeline.schemas import field_rules
from rasoat.pipeline.tidy import (
    MAX_TEXT, NAME_FIELDS, TidyTables, _choice_matcher, _missing, clean_digits, clean_name, clean_text, concat_issues,
    derive_columns, fold,
)
from rasoat.pipeline.classify import CLASS_LABELS, vnd

__all__ = [
    "CORRECTION_COLUMNS", "AUDIT_COLUMNS", "FILE_NAMES", "read_corrections", "apply_corrections", "audit_table",
    "households_record", "read_households_record", "class_changes", "class_changes_table",
]

CORRECTION_COLUMNS = ["household_id", "field", "old_value", "new_value", "reason", "officer", "date", "submission_id"]
_REQUIRED = ("household_id", "field", "new_value")
AUDIT_COLUMNS = ["row", *CORRECTION_COLUMNS, "result", "applied", "current_value", "submissions", "message"]
FILE_NAMES = ("corrections.csv", "corrections.xlsx")
_VI_HEADERS = {
    "mã hộ": "household_id", "trường": "field", "giá trị cũ": "old_value", "giá trị mới": "new_value", "lý do": "reason",
    "người sửa": "officer", "ngày": "date", "mã phiếu": "submission_id",
}
_MEMBER_FIELD = re.compile(r"^\s*(\w+)\s*\[\s*(\d+)\s*\]\s*\.\s*(\w+)\s*$")
_NOT_CORRECTABLE = {"start", "end", "deviceid", "today", "username", "phonenumber", "audit", "note"}
RESULT_MESSAGES = {
    "applied": "đã áp dụng",
    "superseded": "đã áp dụng nhưng bị sửa đè bởi dòng sau cùng ô",
    "stale": "không còn khớp: câu trả lời trên phiếu đã đổi từ khi ghi sửa",
    "unknown_household": "không có hộ với mã này trong dữ liệu",
    "unknown_field": "không có trường này trong phiếu (hoặc không được sửa)",
    "unknown_member": "hộ không có thành viên ở vị trí này",
    "invalid_value": "giá trị mới không hợp lệ cho trường này",
    "incomplete": "thiếu mã hộ, trường hoặc cột giá trị mới",
    "unreadable_file": "không đọc được tệp sửa lỗi",
}


# --- reading the file (IO) -----------------------------------------------------------------


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    renamed = {}
    for c in frame.columns:
        key = unicodedata.normalize("NFC", str(c)).strip().lower().replace(" ", "_") if str(c).strip().lower() not in _VI_HEADERS else str(c)
        key = _VI_HEADERS.get(unicodedata.normalize("NFC", str(c)).strip().lower(), key)
        renamed[c] = key
    frame = frame.rename(columns=renamed)
    for c in CORRECTION_COLUMNS:
        if c not in frame:
            frame[c] = ""
    out = frame[CORRECTION_COLUMNS].astype(object).map(lambda v: "" if _missing(v) else NEUTRALISING_QUOTE.sub("", str(v)))
    out.attrs["missing_columns"] = [c for c in _REQUIRED if c not in renamed.values()]
    return out


def read_corrections(folder: Path) -> pd.DataFrame:
    """The corrections in `<folder>/corrections.csv` and `.xlsx` (both if both exist), as text.

    Never raises on content: an unreadable file or missing columns give a row whose `field` is
    ``#file`` and `new_value` the problem, which `apply_corrections` reports as not applied.
    """
    folder = Path(folder)
    parts = []
    for name in FILE_NAMES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".csv"):
                raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            else:
                raw = pd.read_excel(path, dtype=str, keep_default_na=False)
        except Exception as exc:  # any unreadable file is reported, never fatal
            parts.append(pd.DataFrame([{**{c: "" for c in CORRECTION_COLUMNS}, "field": "#file",
                                        "new_value": f"{name}: {type(exc).__name__}"}]))
            continue
        table = _normalise_columns(raw)
        if table.attrs["missing_columns"]:
            parts.append(pd.DataFrame([{**{c: "" for c in CORRECTION_COLUMNS}, "field": "#file",
                                        "new_value": f"{name}: thiếu cột {', '.join(table.attrs['missing_columns'])}"}]))
            continue
        parts.append(table.assign(_source=name))
    if not parts:
        return pd.DataFrame(columns=CORRECTION_COLUMNS)
    return pd.concat(parts, ignore_index=True)


# --- parsing one value ---------------------------------------------------------------------


class _Invalid(ValueError):
    pass


def _parse_number(text: str, integer: bool) -> float:
    t = text.replace(" ", "").replace("\u00a0", "")
    if re.fullmatch(r"-?\d{1,3}([.,]\d{3})+", t) and (integer or t.count(".") + t.count(",") > 1):
        t = re.sub(r"[.,]", "", t)  # thousands separators, Vietnamese or English
    elif "," in t and "." not in t:
        t = t.replace(",", ".")  # decimal comma
    try:
        x = float(t)
    except ValueError:
        raise _Invalid("không phải là số") from None
    if x != x or abs(x) > 1e15:
        raise _Invalid("số không hợp lý")
    if integer and x != round(x):
        raise _Invalid("phải là số nguyên")
    return x


def parse_value(text: str, f: Field, questionnaire: Questionnaire) -> Any:
    """An officer's text as the typed value the tidy table holds for field `f` (None = cleared)."""
    text = clean_text(text)
    if text is None:
        return None
    if f.type == "integer":
        return int(_parse_number(text, True))
    if f.type == "decimal":
        return _parse_number(text, False)
    if f.type in ("select_one", "select_multiple"):
        codes = questionnaire.choices.get(f.choice_list, ())
        labels = {fold(label): code for code, label in questionnaire.choice_labels.get(f.choice_list, {}).items() if label}
        match = _choice_matcher(codes)

        def one(token: str) -> str:
            code = match(token) or labels.get(fold(token))
            if code is None:
                raise _Invalid(f"'{token}' không có trong danh sách lựa chọn")
            return code

        if f.type == "select_one":
            code = one(text)
            return {"yes": True, "no": False}[code] if f.choice_list == "yes_no" else code
        chosen = {one(t) for t in re.split(r"[,;]\s*|\s+", text) if t}
        return " ".join(c for c in codes if c in chosen)
    if f.type == "date":
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
            try:
                return dt.datetime.strptime(text[:10], fmt).date()
            except ValueError:
                pass
        raise _Invalid("không phải là ngày (2026-10-15 hoặc 15/10/2026)")
    if f.type == "geopoint":
        bits = re.split(r"[,;\s]+", text)
        try:
            lat, lon = float(bits[0]), float(bits[1])
        except (ValueError, IndexError):
            raise _Invalid("tọa độ viết 'vĩ độ kinh độ'") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _Invalid("tọa độ ngoài khoảng")
        return (lat, lon)
    if len(text) > MAX_TEXT:
        raise _Invalid(f"dài quá {MAX_TEXT} ký tự")
    if f.name in NAME_FIELDS:
        return clean_name(text)
    rule = field_rules(questionnaire).get(f.name)
    if rule is not None and rule.numbers:
        return clean_digits(text, bool(rule.pattern and rule.pattern.lstrip("^").startswith("0")))
    return text


def _shown(value: Any) -> str:
    if value is None or _missing(value) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value == round(value):
        return str(int(value))
    if isinstance(value, tuple):
        return " ".join(_shown(v) for v in value)
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if (a is None or _missing(a)) and (b is None or _missing(b)):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(float(a) - float(b)) < 1e-9
    return _shown(a) == _shown(b)


# --- applying ------------------------------------------------------------------------------


def _target(field_text: str, questionnaire: Questionnaire) -> tuple[Field, int | None] | None:
    text = unicodedata.normalize("NFC", field_text).strip()
    m = _MEMBER_FIELD.match(text)
    if m:
        repeat, position, name = m.group(1), int(m.group(2)), m.group(3)
        if repeat != questionnaire.member_repeat:
            return None
        f = next((f for f in questionnaire.member_fields if f.name == name), None)
        return (f, position) if f is not None and f.type not in _NOT_CORRECTABLE and position >= 1 else None
    f = next((f for f in questionnaire.household_fields if f.name == text), None)
    return (f, None) if f is not None and f.type not in _NOT_CORRECTABLE else None


def _current(frame: pd.DataFrame, row: Any, f: Field) -> Any:
    if f.type == "geopoint":
        lat, lon = frame.at[row, f"{f.name}_lat"], frame.at[row, f"{f.name}_lon"]
        return None if _missing(lat) or _missing(lon) else (float(lat), float(lon))
    value = frame.at[row, f.name]
    return None if value is pd.NA or _missing(value) else value


def _assign(frame: pd.DataFrame, row: Any, f: Field, value: Any, questionnaire: Questionnaire) -> None:
    if f.type == "geopoint":
        frame.at[row, f"{f.name}_lat"] = pd.NA if value is None else value[0]
        frame.at[row, f"{f.name}_lon"] = pd.NA if value is None else value[1]
        return
    frame.at[row, f.name] = pd.NA if value is None and str(frame[f.name].dtype) in ("Int64", "Float64", "boolean") else value
    if f.type == "select_multiple":
        chosen = set(value.split(" ")) if isinstance(value, str) else set()
        for code in questionnaire.choices.get(f.choice_list, ()):
            column = f"{f.name}__{code}"
            if column in frame:
                frame.at[row, column] = pd.NA if value is None else (code in chosen)


def _when(text: str) -> pd.Timestamp:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return pd.Timestamp(dt.datetime.strptime(text.strip()[:19], fmt))
        except ValueError:
            pass
    return pd.Timestamp.max  # undated corrections apply last, in file order


def apply_corrections(tidy: TidyTables, corrections: pd.DataFrame, questionnaire: Questionnaire) -> tuple[TidyTables, pd.DataFrame]:
    """(corrected tidy tables, audit table: one row per correction, AUDIT_COLUMNS)."""
    households = tidy.households.copy(deep=False)  # copy-on-write: a corrected column is copied when set
    members = tidy.members.copy(deep=False)
    issues = tidy.issues
    corr = corrections.reindex(columns=CORRECTION_COLUMNS).astype(object).map(lambda v: "" if _missing(v) else str(v))
    corr = corr.assign(row=range(2, len(corr) + 2))  # the spreadsheet row (after the header)
    if "_source" in corrections:
        corr["_source"] = corrections["_source"].to_numpy()
    order = sorted(range(len(corr)), key=lambda k: (_when(corr["date"].iloc[k]), k))

    by_household: dict[str, list] = {}
    member_at: dict[tuple, int] = {}
    raw_text: dict[tuple, str] = {}  # (submission, field, member) -> the raw text a tidy issue kept for a value it could not read
    if len(corr):  # lookups over every household and member: only worth building when there is something to apply
        hid_key = households["household_id"].map(lambda v: None if _missing(v) else str(v).strip().upper())
        for label, key in zip(households.index, hid_key):
            if key:
                by_household.setdefault(key, []).append(label)
        member_at = {(sid, int(pos)): label for label, sid, pos in zip(members.index, members["submission_id"], members["position"])}
        for sid, name, pos, value in zip(issues["submission_id"], issues["field"], issues["member"].tolist(), issues["value"]):
            if value is not None and not _missing(value):
                raw_text.setdefault((sid, name, None if _missing(pos) else int(pos)), value)

    results: dict[int, dict] = {}
    applied_cells: dict[tuple, int] = {}  # cell -> the correction (position in corr) that set it last
    touched: dict[str, set[str]] = {}
    for k in order:
        c = corr.iloc[k]
        audit = {"result": "", "current_value": "", "submissions": "", "message": ""}
        results[k] = audit
        if c["field"] == "#file":
            audit.update(result="unreadable_file", message=f"{RESULT_MESSAGES['unreadable_file']}: {c['new_value']}")
            continue
        if not c["household_id"].strip() or not c["field"].strip():
            audit.update(result="incomplete")
            continue
        target = _target(c["field"], questionnaire)
        if target is None:
            audit.update(result="unknown_field")
            continue
        f, position = target
        rows = by_household.get(c["household_id"].strip().upper(), [])
        if c["submission_id"].strip():
            rows = [r for r in rows if str(households.at[r, "submission_id"]) == c["submission_id"].strip()]
        if not rows:
            audit.update(result="unknown_household")
            continue
        try:
            new = parse_value(c["new_value"], f, questionnaire)
        except _Invalid as exc:
            audit.update(result="invalid_value", message=f"{RESULT_MESSAGES['invalid_value']}: {exc}")
            continue
        cells = []
        for r in rows:
            sid = households.at[r, "submission_id"]
            if position is None:
                cells.append((households, r, sid))
            elif (sid, position) in member_at:
                cells.append((members, member_at[(sid, position)], sid))
        if not cells:
            audit.update(result="unknown_member")
            continue
        stale = []
        for frame, r, sid in cells:
            current = _current(tidy.households if frame is households else tidy.members, r, f)
            shown = _shown(current) or raw_text.get((sid, f.name, position), "")
            audit["current_value"] = shown
            if c["old_value"].strip():
                try:
                    old = parse_value(c["old_value"], f, questionnaire)
                    fits = _same(old, current)
                except _Invalid:
                    old, fits = None, False
                if not fits and clean_text(c["old_value"]) != clean_text(shown):
                    stale.append(sid)
        if stale:
            audit.update(result="stale", submissions=", ".join(map(str, stale)),
                         message=f"{RESULT_MESSAGES['stale']} (nay là '{audit['current_value']}')")
            continue
        for frame, r, sid in cells:
            _assign(frame, r, f, new, questionnaire)
            cell = (sid, f.name, position)
            if cell in applied_cells:
                results[applied_cells[cell]].update(result="superseded", message=RESULT_MESSAGES["superseded"])
            applied_cells[cell] = k
            touched.setdefault(sid, set()).add(c["field"].strip() if position is None else f"{questionnaire.member_repeat}[{position}].{f.name}")
        audit.update(result="applied", submissions=", ".join(str(sid) for _, _, sid in cells))

    # The tidy step's complaints about a corrected answer no longer hold.
    if applied_cells and len(issues):
        positions = [None if _missing(v) else int(v) for v in issues["member"].tolist()]
        keys = list(zip(issues["submission_id"], issues["field"], positions))
        keep = [key not in applied_cells for key in keys]
        issues = issues[keep].reset_index(drop=True)
    households["corrected_fields"] = (households["submission_id"].map(lambda s: "; ".join(sorted(touched.get(s, ()))) or None)
                                      if touched else pd.Series(None, index=households.index, dtype=object))
    if applied_cells:  # the derived columns (members, income, age) follow the corrected answers
        households, members = derive_columns(households, members, questionnaire)

    audit = corr.assign(
        result=[results[k]["result"] for k in range(len(corr))],
        current_value=[results[k]["current_value"] for k in range(len(corr))],
        submissions=[results[k]["submissions"] for k in range(len(corr))],
        message=[results[k]["message"] or RESULT_MESSAGES.get(results[k]["result"], "") for k in range(len(corr))],
    )
    audit["applied"] = audit["result"].isin(["applied", "superseded"])
    audit = audit.reindex(columns=AUDIT_COLUMNS)
    return TidyTables(households=households, members=members, issues=concat_issues([issues]),
                      fingerprints=_refingerprinted(tidy.fingerprints, households, members, set(touched), questionnaire)), audit


def _refingerprinted(prints: pd.Series | None, households: pd.DataFrame, members: pd.DataFrame, touched: set[str],
                     questionnaire: Questionnaire) -> pd.Series | None:
    """The answer fingerprints with those of the corrected submissions worked out again from their corrected answers."""
    if prints is None or not touched:
        return prints
    at = households["submission_id"].isin(touched).to_numpy(dtype=bool)
    again = answer_fingerprint(households[at], members[members["submission_id"].isin(touched).to_numpy(dtype=bool)], questionnaire)
    out = prints.to_numpy(dtype=np.uint64, copy=True)
    out[at] = again.to_numpy(dtype=np.uint64)
    return pd.Series(out, index=prints.index, name=prints.name)


def audit_table(audit: pd.DataFrame) -> pd.DataFrame:
    """The audit table with Vietnamese headers, for the publication."""
    return pd.DataFrame({
        "Dòng": audit["row"], "Mã hộ": audit["household_id"], "Trường": audit["field"], "Giá trị cũ": audit["old_value"],
        "Giá trị mới": audit["new_value"], "Lý do": audit["reason"], "Người sửa": audit["officer"], "Ngày": audit["date"],
        "Kết quả": audit["applied"].map({True: "Đã áp dụng", False: "Không áp dụng"}), "Mã kết quả": audit["result"],
        "Giá trị trên phiếu": audit["current_value"], "Ghi chú": audit["message"],
    })


# --- the rerun diff ------------------------------------------------------------------------

RECORD_COLUMNS = ["submission_id", "household_id", "head_name", "hamlet", "household_class", "income_per_capita_month",
                  "deprivation_count", "deprived_indicators", "corrected_fields"]
EXCLUDED = "excluded"
_CLASS_TEXT = {**CLASS_LABELS, EXCLUDED: "Chờ xử lý (lỗi dữ liệu)", None: "Không có"}


def households_record(classified: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    """The machine-readable record of a run (published as commune/households.csv).

    Classified households with their class, income, deprivation flags and corrected fields;
    excluded households with class ``excluded``.
    """
    flags = sorted(c for c in classified.columns if c.startswith("deprived_") and c != "deprived_indicators")
    kept = classified.reindex(columns=[*RECORD_COLUMNS, *flags])  # (copy-on-write: the flags set below are new columns)
    for c in flags:
        kept[c] = _flag_bytes(kept[c])
    waiting = excluded.reindex(columns=["submission_id", "household_id", "head_name", "hamlet"]).assign(household_class=EXCLUDED)
    if len(waiting):  # no flags, not even 0: empty
        waiting = waiting.reindex(columns=kept.columns).assign(**{c: pd.array([pd.NA] * len(waiting), dtype="Int8") for c in flags})
        kept = pd.concat([kept, waiting], ignore_index=True)
    return kept.sort_values(["submission_id"], kind="mergesort").reset_index(drop=True)


def _flag_bytes(column: pd.Series) -> pd.arrays.IntegerArray:
    """1 / 0 / empty, a byte a flag (a province's record holds 12 million): the classification's bool
    columns as they are, any other column's values by their truth."""
    if column.dtype == bool:
        return pd.array(column.to_numpy().astype("int8"), dtype="Int8")
    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    return pd.arrays.IntegerArray(np.where(missing, False, values).astype(bool).astype("int8"), missing)


def _may_start_with_quote(column: pd.Series) -> bool:
    """False when no cell starts with ' (one search of the joined cells; `str.startswith` asks each of
    a province's million cells in Python, ~0.5 s a column); True when one may, or a cell is not text."""
    try:
        joined = "\x00".join(column.to_numpy(dtype=object))
    except TypeError:  # a missing or non-text cell: asked cell by cell
        return True
    return joined.startswith("'") or "\x00'" in joined


def read_households_record(path: Path) -> pd.DataFrame | None:
    """A previous publication's households.csv, or None when there is none (or it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception:
        return None
    for c in table.columns:  # undo the formula neutralising ('=…), only on the cells that start with a quote
        column = table[c]
        if not (pd.api.types.is_string_dtype(column.dtype) or column.dtype == object) or not _may_start_with_quote(column):
            continue
        quoted = column.str.startswith("'").fillna(False).to_numpy(dtype=bool)
        if quoted.any():
            column = column.copy()
            column[quoted] = column[quoted].str.replace(NEUTRALISING_QUOTE, "", regex=True)
            table[c] = column
    return table.replace({"": None})


def _key(frame: pd.DataFrame) -> pd.Series:
    hid = frame["household_id"].map(lambda v: None if _missing(v) or v is None or str(v).strip() == "" else str(v).strip().upper())
    return hid.where(hid.notna(), "#" + frame["submission_id"].astype(object).map(str))


def _indicators(value: Any) -> set[str]:
    return set() if value is None or _missing(value) else {s.strip() for s in str(value).split(",") if s.strip()}


def _money(value: Any) -> int | None:
    try:
        return None if value is None or _missing(value) or str(value).strip() == "" else int(round(float(value)))
    except (TypeError, ValueError):
        return None


def class_changes(previous: pd.DataFrame | None, current: pd.DataFrame, applied_corrections: pd.DataFrame | None = None) -> pd.DataFrame:
    """Households whose class changed since the previous run, and why.

    `previous` and `current` are household records (`households_record`); the key is the
    household ID (the submission ID for households without one). Households present only on
    one side count as changed from or to "none". The cause lists the corrections applied to the
    household (from `applied_corrections`, the audit table), the indicators gained and lost, and
    the income change. Columns: household_id, submission_id, hamlet, old_class, new_class,
    corrected_fields, indicators_gained, indicators_lost, income_before, income_after, cause.
    """
    columns = ["household_id", "submission_id", "hamlet", "old_class", "new_class", "corrected_fields", "indicators_gained",
               "indicators_lost", "income_before", "income_after", "cause"]
    if previous is None:
        return pd.DataFrame(columns=columns)
    import numpy as np

    def vector_key(frame: pd.DataFrame) -> pd.Series:  # `_key`, whole columns at once
        hid = frame["household_id"].to_numpy(dtype=object)
        text = pd.Series(np.where(pd.isna(hid), "", hid), dtype=object).astype(str).str.strip().str.upper().astype(object)
        blank = (text == "").to_numpy(dtype=bool)
        if blank.any():
            text[blank] = ["#" + str(v) for v in frame["submission_id"].to_numpy(dtype=object)[blank]]
        return text

    def take(frame: pd.DataFrame, column: str, where: np.ndarray) -> np.ndarray:
        """`frame[column]` at positions `where` (None where -1 or the column is absent), as objects."""
        out = np.full(len(where), None, dtype=object)
        if column in frame:
            found = where >= 0
            out[found] = frame[column].to_numpy(dtype=object)[where[found]]
        return out

    def money_column(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(`_money` of each value as float64, missing mask); texts pandas does not read as numbers one by one."""
        number = np.round(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
        for k in np.flatnonzero(np.isnan(number) & ~pd.isna(values)):
            m = _money(values[k])
            number[k] = np.nan if m is None else m
        return number, np.isnan(number)

    def thousands(numbers: np.ndarray) -> np.ndarray:  # 1234567 -> '1.234.567', as every amount is written
        return np.array([vnd(n) for n in numbers.astype("int64").tolist()], dtype=object)  # changed rows only: few

    def join_parts(parts: list[pd.Series], sep: str) -> pd.Series:  # per row, the non-empty parts joined by `sep`
        out = parts[0]
        for part in parts[1:]:
            out = out + ((out != "") & (part != "")).map({True: sep, False: ""}) + part
        return out

    prev_key, cur_key = vector_key(previous), vector_key(current)
    prev_first = ~prev_key.duplicated(keep="first").to_numpy()
    cur_first = ~cur_key.duplicated(keep="first").to_numpy()
    prev, cur = previous[prev_first], current[cur_first]
    prev_index, cur_index = pd.Index(prev_key[prev_first].to_numpy(dtype=object)), pd.Index(cur_key[cur_first].to_numpy(dtype=object))
    keys = pd.unique(np.concatenate([prev_index.to_numpy(dtype=object), cur_index.to_numpy(dtype=object)]))
    pi, ci = prev_index.get_indexer(keys), cur_index.get_indexer(keys)
    old, new = take(prev, "household_class", pi), take(cur, "household_class", ci)
    changed = ~(old == new).astype(bool)
    if not changed.any():
        return pd.DataFrame([], columns=columns)
    keep = np.flatnonzero(changed)
    keep = keep[np.argsort(keys[keep], kind="stable")]  # sorted by key
    keys, pi, ci, old, new = keys[keep], pi[keep], ci[keep], old[keep], new[keep]
    n = len(keys)
    has_c = ci >= 0

    # indicators gained and lost: computed once per distinct (before, after) pair
    before_ind, after_ind = take(prev, "deprived_indicators", pi), take(cur, "deprived_indicators", ci)
    bcode, buniq = pd.factorize(pd.Series(before_ind, dtype=object))
    acode, auniq = pd.factorize(pd.Series(after_ind, dtype=object))
    pair = (bcode + 1).astype("int64") * (len(auniq) + 1) + (acode + 1)
    distinct, inverse = np.unique(pair, return_inverse=True)
    gained_text, lost_text = np.empty(len(distinct), dtype=object), np.empty(len(distinct), dtype=object)
    for k, code in enumerate(distinct):
        b, a = int(code) // (len(auniq) + 1) - 1, int(code) % (len(auniq) + 1) - 1
        had = _indicators(buniq[b]) if b >= 0 else set()
        has = _indicators(auniq[a]) if a >= 0 else set()
        gained_text[k], lost_text[k] = ", ".join(sorted(has - had)), ", ".join(sorted(had - has))
    gained = pd.Series(gained_text[inverse.ravel()], dtype=object)
    lost = pd.Series(lost_text[inverse.ravel()], dtype=object)

    before, before_missing = money_column(take(prev, "income_per_capita_month", pi))
    after, after_missing = money_column(take(cur, "income_per_capita_month", ci))

    fixed = pd.Series("", index=range(n), dtype=object)
    if applied_corrections is not None and len(applied_corrections):
        ok = applied_corrections[applied_corrections["result"] == "applied"]
        if len(ok):
            hid = ok["household_id"].astype(object).map(str).str.strip().str.upper()
            text = ok["field"].astype(object).map(str).str.strip() + " = " + ok["new_value"].astype(object).map(str)
            listed = pd.Series(text.to_numpy(dtype=object)).groupby(hid.to_numpy(dtype=object), sort=False).agg("; ".join)
            fixed = pd.Series(keys, dtype=object).map(listed).fillna("")
            fixed = ("sửa: " + fixed).where(fixed != "", "")

    def when(mask: np.ndarray, text: str) -> pd.Series:
        return pd.Series(np.where(mask, text, ""), dtype=object)

    new_excluded = (new == EXCLUDED).astype(bool)
    old_excluded = (old == EXCLUDED).astype(bool) & ~new_excluded
    income = pd.Series("", index=range(n), dtype=object)
    moved = ~before_missing & ~after_missing & (before != after)
    if moved.any():
        income[moved] = ("thu nhập bình quân " + thousands(before[moved]) + " → "
                         + thousands(after[moved]) + " đ/người/tháng")
    cause = join_parts([
        fixed, when(new_excluded, "hộ chờ xử lý vì lỗi dữ liệu"), when(old_excluded, "hết lỗi dữ liệu, được phân loại"),
        when(np.array([v is None for v in old.tolist()], dtype=bool), "hộ mới trong lần này"),
        when(np.array([v is None for v in new.tolist()], dtype=bool), "hộ không còn trong dữ liệu"),
        ("thêm thiếu hụt " + gained).where(gained != "", ""), ("hết thiếu hụt " + lost).where(lost != "", ""), income,
    ], "; ")
    cause = cause.where(cause != "", "quy tắc hoặc chuẩn nghèo thay đổi")
    source_sid = np.where(has_c, take(cur, "submission_id", ci), take(prev, "submission_id", pi))
    source_hamlet = np.where(has_c, take(cur, "hamlet", ci), take(prev, "hamlet", pi))

    def money(values: np.ndarray, missing: np.ndarray) -> list:
        return [None if m else int(v) for v, m in zip(values.tolist(), missing.tolist())]

    data = {
        "household_id": [None if k.startswith("#") else k for k in keys.tolist()],
        "submission_id": list(source_sid), "hamlet": list(source_hamlet), "old_class": list(old), "new_class": list(new),
        "corrected_fields": list(take(cur, "corrected_fields", ci)),
        "indicators_gained": gained.tolist(), "indicators_lost": lost.tolist(),
        "income_before": money(before, before_missing), "income_after": money(after, after_missing), "cause": cause.tolist(),
    }
    return pd.DataFrame(data, columns=columns)


def class_changes_table(changes: pd.DataFrame) -> pd.DataFrame:
    """The diff with Vietnamese headers: the sheet "Thay đổi so với lần trước"."""
    return pd.DataFrame({
        "Mã hộ": changes["household_id"], "Mã phiếu": changes["submission_id"], "Ấp": changes["hamlet"],
        "Phân loại lần trước": changes["old_class"].map(lambda v: _CLASS_TEXT.get(v, v)),
        "Phân loại lần này": changes["new_class"].map(lambda v: _CLASS_TEXT.get(v, v)),
        "Thu nhập trước (đ/người/tháng)": pd.array(changes["income_before"], dtype="Int64"),
        "Thu nhập nay (đ/người/tháng)": pd.array(changes["income_after"], dtype="Int64"),
        "Nguyên nhân": changes["cause"],
    })
