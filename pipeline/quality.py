"""Quality signals per enumerator, and the quality report a supervisor acts on.

Two halves, as everywhere in the pipeline:

* pure functions over tables: `quality_signals` (issue rows for interviews much shorter than the
  median, interviews finished within minutes of the previous one by the same enumerator,
  households with identical answers, interviews ending before they start), `enumerator_summary`
  and `hamlet_summary` (one row per enumerator / hamlet, Vietnamese headers);
* renderers returning bytes/text, written by the publisher: `report_xlsx` (xlsxwriter; every
  text cell neutralised against formula injection) and `report_html` (one self-contained page,
  every value HTML-escaped).

Rule codes (all warnings; the household is kept):

==================  ===============================================================================
short_interview     the interview took less than SHORT_SHARE × the median interview of the run
rapid_succession    one of RAPID_COUNT+ interviews of one enumerator ending within RAPID_MINUTES
identical_answers   the same answers (housing, income, members…) as another household
bad_duration        the interview ends before it starts
==================  ===============================================================================
"""

from __future__ import annotations

import datetime as dt
import html
import io
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xlsxwriter

from rasoat.forms import Questionnaire
from rasoat.pipeline.publish import _cell, _header, neutralise
from rasoat.pipeline.tidy import ERROR, ISSUE_COLUMNS, WARNING, as_text, concat_issues, issue_rows, parse_times, per_value

SHORT_SHARE = 0.4  # an interview under 40 % of the median is "much shorter"
MIN_FOR_MEDIAN = 5  # below this many timed interviews, no median is trusted
RAPID_MINUTES = 10.0
RAPID_COUNT = 3  # this many interviews of one enumerator ending within RAPID_MINUTES is a burst
ENUMERATOR = "enumerator"

RULE_LABELS: dict[str, str] = {
    "required": "Thiếu câu trả lời bắt buộc",
    "not_a_number": "Không phải là số",
    "number_too_large": "Số quá lớn",
    "not_an_integer": "Không phải số nguyên",
    "unknown_choice": "Mã lựa chọn không có trong phiếu",
    "not_a_date": "Không phải là ngày",
    "too_long": "Chuỗi quá dài",
    "too_long_for_form": "Dài hơn phiếu cho phép",
    "control_characters": "Có ký tự điều khiển",
    "wrong_shape": "Câu trả lời sai dạng",
    "missing_section": "Thiếu cả một phần phiếu",
    "bad_member_list": "Danh sách thành viên sai dạng",
    "bad_member_row": "Thành viên sai dạng",
    "unreadable": "Không đọc được bản ghi",
    "unreadable_source": "Không đọc được tệp nguồn",
    "out_of_range": "Ngoài khoảng cho phép",
    "negative_value": "Số âm",
    "impossible_age": "Tuổi không hợp lý",
    "bad_format": "Sai định dạng (CCCD, điện thoại, mã)",
    "exclusive_choice": "Lựa chọn loại trừ nhau",
    "bad_gps": "Tọa độ GPS sai",
    "schema": "Bảng dữ liệu sai khai báo",
    "no_members": "Không có thành viên",
    "size_mismatch": "Số nhân khẩu khác danh sách",
    "one_head": "Không đúng một chủ hộ",
    "age_relationship": "Tuổi không khớp quan hệ",
    "floor_area_implausible": "Diện tích không hợp lý",
    "costs_exceed_income": "Chi phí lớn hơn thu nhập",
    "outside_commune": "GPS ngoài địa bàn",
    "missing_gps": "Thiếu GPS",
    "old_form_version": "Phiên bản biểu mẫu khác",
    "duplicate_household": "Trùng mã hộ",
    "duplicate_head_id": "Trùng CCCD chủ hộ",
    "duplicate_head_name": "Trùng tên chủ hộ trong ấp",
    "short_interview": "Phỏng vấn quá ngắn",
    "rapid_succession": "Nhiều phiếu trong vài phút",
    "identical_answers": "Câu trả lời giống hệt hộ khác",
    "bad_duration": "Giờ kết thúc trước giờ bắt đầu",
}
SEVERITY_LABELS = {ERROR: "Lỗi", WARNING: "Cảnh báo"}
ISSUE_HEADERS = {
    "hamlet": "Ấp", "enumerator": "Điều tra viên", "household_id": "Mã hộ", "submission_id": "Mã phiếu", "field": "Trường",
    "member": "Thành viên số", "value": "Giá trị", "rule": "Quy tắc", "rule_label": "Vấn đề", "severity": "Mức độ",
    "message": "Nội dung",
}


# --- signals (pure) ------------------------------------------------------------------------


def _field_of_type(questionnaire: Questionnaire, kind: str) -> str | None:
    return next((f.name for f in questionnaire.household_fields if f.type == kind), None)


def interview_minutes(households: pd.DataFrame, questionnaire: Questionnaire, ends: pd.Series | None = None) -> pd.Series:
    """Minutes from the form's `start` to its `end` field (NA when either is missing)."""
    start, end = _field_of_type(questionnaire, "start"), _field_of_type(questionnaire, "end")
    if start not in households or end not in households:
        return pd.Series(pd.NA, index=households.index, dtype="Float64")
    t0 = parse_times(households[start])
    t1 = parse_times(households[end]) if ends is None else ends
    return ((t1 - t0).dt.total_seconds() / 60).astype("Float64")


def _end_times(households: pd.DataFrame, questionnaire: Questionnaire) -> pd.Series:
    end = _field_of_type(questionnaire, "end")
    if end not in households:
        return pd.Series(pd.NaT, index=households.index, dtype="datetime64[ns, UTC]")
    return parse_times(households[end])


_MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)  # every unanswered value hashes alike ("" in the old text form)


def _value_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One uint64 per row of `frame` over `columns`: equal for rows whose values (as text) are equal.

    Column by column, vectorised: numbers and booleans hash their value, text hashes its UTF-8
    bytes (mixed object columns their ``str()``); a missing value and an empty text hash alike.
    """
    if not columns:
        return np.zeros(len(frame), dtype="uint64")
    parts = {}
    for k, c in enumerate(columns):
        s = frame[c]
        missing = s.isna().to_numpy(dtype=bool)
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            s = s.astype(object)
            missing = missing | (s == "").to_numpy(dtype=bool)
            s = s.where(~missing, "")
        h = pd.util.hash_pandas_object(s, index=False).to_numpy(dtype="uint64", copy=True)
        h[missing] = _MISSING_HASH
        parts[k] = h
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy(dtype="uint64")


def answer_fingerprint(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> pd.Series:
    """A 64-bit hash of a household's substantive answers: everything but identity, free text and metadata.

    Left out: the first section (identification), text answers (names, CCCD, phone, address), the
    form's metadata and calculated fields, the enumerator and the interview date. Two households
    with the same answers (and the same members' answers, in the same order) get the same
    fingerprint; the values are only compared with each other (uint64, indexed like `households`).
    Vectorised: a hash per household row and per member row, the members' hashes combined with
    their place in the household's list (ordered by `position`) and folded per household by xor.
    """
    first_group = next((f.groups[0] for f in questionnaire.household_fields if f.groups), None)

    def chosen(fields) -> list[str]:
        return [f.name for f in fields if f.type in ("integer", "decimal", "select_one", "select_multiple")]

    hh_cols = [c for c in chosen([f for f in questionnaire.household_fields if f.groups[:1] != (first_group,)]) if c in households]
    mem_cols = [c for c in chosen(questionnaire.member_fields) if c in members]
    hh_hash = _value_hashes(households, hh_cols)
    mem_hash = np.zeros(len(households), dtype="uint64")
    mem_count = np.zeros(len(households), dtype="int64")
    if mem_cols and len(members):
        codes, sids = pd.factorize(members["submission_id"], use_na_sentinel=True)
        position = pd.to_numeric(members["position"], errors="coerce").to_numpy(dtype="float64", na_value=np.inf)
        order = np.lexsort((position, codes))
        order = order[codes[order] >= 0]
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else np.array([], dtype=int)
        if len(starts):
            sizes = np.diff(np.r_[starts, len(order)])
            rank = np.arange(len(order)) - np.repeat(starts, sizes)
            row_hash = _value_hashes(members.iloc[order], mem_cols)
            placed = pd.util.hash_pandas_object(pd.DataFrame({"h": row_hash, "r": rank}), index=False).to_numpy(dtype="uint64")
            folded = np.bitwise_xor.reduceat(placed, starts)
            where = pd.Index(sids[sorted_codes[starts]]).get_indexer(households["submission_id"])
            found = where >= 0
            mem_hash[found] = folded[where[found]]
            mem_count[found] = sizes[where[found]]
    combined = pd.util.hash_pandas_object(pd.DataFrame({"h": hh_hash, "m": mem_hash, "n": mem_count}), index=False)
    return pd.Series(combined.to_numpy(dtype="uint64"), index=households.index, name="fingerprint")


def _text_where(values: pd.Series, mask: pd.Series) -> pd.Series:
    """`as_text(values)` on the rows of `mask` ("" elsewhere): issue rows show only the flagged rows' values."""
    mask = mask.to_numpy(dtype=bool)
    out = np.full(len(values), "", dtype=object)
    if mask.any():
        out[mask] = as_text(values[mask]).to_numpy()
    return pd.Series(out, index=values.index, dtype=object)


def quality_signals(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """Issue rows (warnings) for the supervisor: short, rapid, identical, impossible durations."""
    hh = households
    if not len(hh):
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    consent = hh["consent"].astype("boolean").fillna(False).astype(bool) if "consent" in hh else pd.Series(True, index=hh.index)
    interviewed = consent & (hh["members"].astype("Int64") > 0).fillna(False).astype(bool) if "members" in hh else consent
    ends = _end_times(hh, questionnaire)
    minutes = interview_minutes(hh, questionnaire, ends)
    negative = (minutes < 0).fillna(False).astype(bool)
    out = [issue_rows(hh, negative, "ended_at", "bad_duration", WARNING,
                      "giờ kết thúc trước giờ bắt đầu", value=_text_where(minutes.round(1), negative) + " phút")]
    timed = minutes[interviewed & (minutes > 0).fillna(False).astype(bool)]
    if len(timed) >= MIN_FOR_MEDIAN:
        median = float(timed.median())
        short = interviewed & (minutes >= 0).fillna(False) & (minutes < SHORT_SHARE * median).fillna(False)
        out.append(issue_rows(hh, short.astype(bool), "started_at", "short_interview", WARNING,
                              f"phỏng vấn quá ngắn (trung vị {median:.0f} phút)", value=_text_where(minutes.round(1), short) + " phút"))

    if ENUMERATOR in hh:
        frame = pd.DataFrame({"who": hh[ENUMERATOR].astype(object), "end": ends}).dropna()
        frame = frame.sort_values(["who", "end"], kind="mergesort")
        # a burst: RAPID_COUNT interviews of one enumerator ending within RAPID_MINUTES
        span = (frame["end"] - frame.groupby("who")["end"].shift(RAPID_COUNT - 1)).dt.total_seconds() / 60
        closing = np.flatnonzero((span < RAPID_MINUTES).fillna(False).to_numpy(dtype=bool))
        in_burst = np.zeros(len(frame), dtype=bool)
        for back in range(RAPID_COUNT):  # the closing interview and the RAPID_COUNT - 1 before it (same enumerator)
            in_burst[closing - back] = True
        burst_labels = frame.index[in_burst]
        rapid = pd.Series(hh.index.isin(burst_labels), index=hh.index)
        out.append(issue_rows(hh, rapid, "ended_at", "rapid_succession", WARNING,
                              f"{RAPID_COUNT} phiếu trở lên của cùng điều tra viên kết thúc trong vòng {RAPID_MINUTES:g} phút",
                              value=hh[ENUMERATOR].astype(object)))

    prints = answer_fingerprint(hh, members, questionnaire)
    asked = interviewed.to_numpy(dtype=bool)
    counts = np.zeros(len(hh), dtype="int64")
    if asked.any():
        _, inverse, sizes = np.unique(prints.to_numpy()[asked], return_inverse=True, return_counts=True)
        counts[asked] = sizes[inverse.ravel()]
    same = pd.Series(counts > 1, index=hh.index)
    out.append(issue_rows(hh, same, "member", "identical_answers", WARNING, "câu trả lời giống hệt hộ khác (có thể chép phiếu)",
                          value=_text_where(pd.Series(counts - 1, index=hh.index), same) + " hộ giống"))
    return concat_issues(out)


# --- summaries (pure) ----------------------------------------------------------------------


def _count(issues: pd.DataFrame, key: str, rule: str | None = None, severity: str | None = None) -> pd.Series:
    sel = issues
    if rule is not None:
        sel = sel[sel["rule"] == rule]
    if severity is not None:
        sel = sel[sel["severity"] == severity]
    return sel.groupby(sel[key].astype(object).fillna(""))["submission_id"].nunique()


def enumerator_summary(households: pd.DataFrame, issues: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """One row per enumerator: households, median interview, each signal, errors and warnings."""
    hh = households
    who = hh[ENUMERATOR].astype(object).fillna("") if ENUMERATOR in hh else pd.Series("", index=hh.index)
    minutes = interview_minutes(hh, questionnaire)
    base = pd.DataFrame({"who": who, "minutes": minutes.astype(float)})
    table = base.groupby("who").agg(households=("who", "size"), median=("minutes", "median")).reset_index()
    iss = issues.assign(enumerator=issues["enumerator"].astype(object).fillna(""))
    columns = {
        "Hộ có lỗi": _count(iss, ENUMERATOR, severity=ERROR),
        "Hộ có cảnh báo": _count(iss, ENUMERATOR, severity=WARNING),
        "Phỏng vấn quá ngắn": _count(iss, ENUMERATOR, "short_interview"),
        "Nhiều phiếu trong vài phút": _count(iss, ENUMERATOR, "rapid_succession"),
        "Câu trả lời giống hệt": _count(iss, ENUMERATOR, "identical_answers"),
        "Thiếu GPS": _count(iss, ENUMERATOR, "missing_gps"),
    }
    out = pd.DataFrame({
        "Điều tra viên": table["who"],
        "Số hộ": table["households"].astype("Int64"),
        "Thời gian phỏng vấn trung vị (phút)": table["median"].round(1),
    })
    for name, series in columns.items():
        out[name] = table["who"].map(series).fillna(0).astype("Int64")
    flagged = out[["Phỏng vấn quá ngắn", "Nhiều phiếu trong vài phút", "Câu trả lời giống hệt", "Thiếu GPS"]].sum(axis=1)
    out = out.assign(_f=flagged).sort_values(["_f", "Điều tra viên"], ascending=[False, True], kind="mergesort").drop(columns="_f")
    return out.reset_index(drop=True)


def hamlet_summary(households: pd.DataFrame, issues: pd.DataFrame, excluded: pd.DataFrame,
                   hamlet_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per hamlet: households, waiting households, households with errors / warnings, issues."""
    names = dict(hamlet_names or {})
    code = households["hamlet"].astype(object).fillna("") if "hamlet" in households else pd.Series("", index=households.index)
    counts = code.value_counts()
    codes = sorted(set(counts.index) | set(names))
    iss = issues.assign(hamlet=issues["hamlet"].astype(object).fillna(""))
    waiting = excluded.assign(hamlet=excluded["hamlet"].astype(object).fillna("")).groupby("hamlet").size()
    errors, warnings = _count(iss, "hamlet", severity=ERROR), _count(iss, "hamlet", severity=WARNING)  # once, not per hamlet
    per_hamlet = iss["hamlet"].value_counts()
    out = pd.DataFrame({
        "Mã ấp": codes,
        "Tên ấp": [names.get(c, "") for c in codes],
        "Số phiếu": [int(counts.get(c, 0)) for c in codes],
        "Hộ chờ xử lý": [int(waiting.get(c, 0)) for c in codes],
        "Hộ có lỗi": [int(errors.get(c, 0)) for c in codes],
        "Hộ có cảnh báo": [int(warnings.get(c, 0)) for c in codes],
        "Số vấn đề": [int(per_hamlet.get(c, 0)) for c in codes],
    })
    return out


def issue_table(issues: pd.DataFrame) -> pd.DataFrame:
    """The issues with Vietnamese headers and labels, sorted by hamlet, enumerator, household."""
    t = issues.assign(
        rule_label=issues["rule"].map(lambda r: RULE_LABELS.get(r, r)),
        severity=issues["severity"].map(lambda s: SEVERITY_LABELS.get(s, s)),
    )
    keys = ["hamlet", "enumerator", "household_id", "submission_id", "field"]
    t = t.assign(**{f"_{k}": t[k].astype(object).fillna("").astype(str) for k in keys})
    t = t.sort_values([f"_{k}" for k in keys], kind="mergesort")
    cols = ["hamlet", "enumerator", "household_id", "submission_id", "field", "member", "value", "rule_label", "severity", "message", "rule"]
    return t[cols].rename(columns=ISSUE_HEADERS).reset_index(drop=True)


# --- renderers -----------------------------------------------------------------------------


def report_xlsx(sheets: Mapping[str, pd.DataFrame], title: str, created: dt.date) -> bytes:
    """A workbook, one sheet per table; text neutralised, numbers as numbers, deterministic bytes."""
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                                      "strings_to_urls": False, "nan_inf_to_errors": False})
    wb.set_properties({"title": neutralise(title), "created": dt.datetime.combine(created, dt.time(0, 0))})
    bold = wb.add_format({"bold": True, "font_size": 13})
    head = wb.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1, "text_wrap": True, "valign": "vcenter"})
    cell = wb.add_format({"border": 1, "valign": "top"})
    used: set[str] = set()
    for name, table in sheets.items():
        sheet_name = _sheet_name(name, used)
        ws = wb.add_worksheet(sheet_name)
        ws.write_string(0, 0, neutralise(f"{title} — {name}"), bold)
        columns = list(table.columns)
        widths = [min(max(len(str(c)), 8), 40) for c in columns]
        for c, col in enumerate(columns):
            ws.write_string(2, c, _header(col), head)
        cells = [_column_cells(table.iloc[:, k]) for k in range(len(columns))]
        for r, values in enumerate(zip(*cells), start=3):
            for c, value in enumerate(values):
                if value is None:
                    ws.write_blank(r, c, None, cell)
                elif isinstance(value, bool):
                    ws.write_boolean(r, c, value, cell)
                elif isinstance(value, (int, float)):
                    ws.write_number(r, c, value, cell)
                else:
                    ws.write_string(r, c, value, cell)
                    widths[c] = min(max(widths[c], len(value)), 60)
        for c, w in enumerate(widths):
            ws.set_column(c, c, w + 2)
        ws.freeze_panes(3, 0)
        if len(columns):
            ws.autofilter(2, 0, 2 + len(table), len(columns) - 1)
    wb.close()
    return buffer.getvalue()


def _as_listed(column: pd.Series) -> pd.Series:
    """The column's values as `itertuples` gives them (NumPy scalars for Int64, not Python ints)."""
    return pd.Series(list(column), index=column.index, dtype=object)


def _column_cells(column: pd.Series) -> list:
    """`_cell` of every value of a column (text columns: once per distinct value)."""
    return per_value(_as_listed(column), _cell).tolist()


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join("-" if ch in "[]:*?/\\" else ch for ch in str(name)).strip("'")[:31] or "Bảng"
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


_CSS = """
body{font-family:"Segoe UI",Roboto,"Noto Sans",Arial,sans-serif;margin:1.5rem;color:#222;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #ccc}h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}th,td{border:1px solid #bbb;padding:.25rem .5rem;vertical-align:top;text-align:left}
th{background:#f2f2f2}tr.error td.sev{color:#a00;font-weight:bold}td.num{text-align:right}
nav a{margin-right:.75rem}.muted{color:#666}
"""


def _e(value) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        value = f"{value:g}"
    return html.escape(str(value), quote=True)


def _td(column: str, v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td class="num">{_e(v)}</td>'
    return f'<td class="sev">{_e(v)}</td>' if column == ISSUE_HEADERS["severity"] else f"<td>{_e(v)}</td>"


def _html_table(table: pd.DataFrame, row_class: pd.Series | None = None) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    if not len(table):
        return f"<table><thead><tr>{head}</tr></thead><tbody></tbody></table>"
    # cell by cell would cost a Python call per cell: each column's cells at once (text columns once per distinct value)
    rows = np.full(len(table), "<tr>", dtype=object)
    if row_class is not None:
        rows = per_value(_as_listed(row_class), lambda v: f'<tr class="{_e(v)}">', missing_alike=False).to_numpy()
    for k, c in enumerate(table.columns):
        rows = rows + per_value(_as_listed(table.iloc[:, k]), lambda v, c=c: _td(c, v), missing_alike=False).to_numpy()
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join((rows + '</tr>').tolist())}</tbody></table>"


def report_html(issues: pd.DataFrame, by_hamlet: pd.DataFrame, by_enumerator: pd.DataFrame, *, title: str, place: str,
                published_on: dt.date, hamlet_names: Mapping[str, str] | None = None) -> str:
    """One self-contained page: summary per hamlet, per enumerator, then each hamlet's issues."""
    names = dict(hamlet_names or {})
    parts = [
        "<!DOCTYPE html>", '<html lang="vi"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(place)} — ngày {published_on.day:02d}/{published_on.month:02d}/{published_on.year}. '
        "Lỗi: hộ chờ xử lý, chưa được phân loại cho đến khi sửa. Cảnh báo: hộ vẫn được phân loại, cần kiểm tra lại.</p>",
        '<nav><a href="#theo-ap">Theo ấp</a><a href="#theo-dieu-tra-vien">Theo điều tra viên</a><a href="#chi-tiet">Chi tiết theo ấp</a></nav>',
        '<h2 id="theo-ap">Tổng hợp theo ấp</h2>', _html_table(by_hamlet),
        '<h2 id="theo-dieu-tra-vien">Theo điều tra viên</h2>', _html_table(by_enumerator),
    ]
    iss = issues.assign(enumerator=issues["enumerator"].astype(object).fillna(""), hamlet=issues["hamlet"].astype(object).fillna(""))
    if len(iss):
        counts = (iss.assign(rule=iss["rule"].map(lambda r: RULE_LABELS.get(r, r)))
                  .groupby(["enumerator", "rule"]).size().rename("n").reset_index())
        parts.append("<h3>Vấn đề theo điều tra viên</h3>")
        for who, group in counts.groupby("enumerator", sort=True):
            items = ", ".join(f"{_e(r)}: {int(n)}" for r, n in zip(group["rule"], group["n"]))
            parts.append(f"<p><strong>{_e(who) or '(không rõ)'}</strong> — {items}</p>")
    parts.append('<h2 id="chi-tiet">Chi tiết theo ấp</h2>')
    if not len(iss):
        parts.append("<p>Không có vấn đề nào.</p>")
    for code, group in iss.groupby("hamlet", sort=True):
        label = f"{names.get(code, '')} ({code})" if code else "(không rõ ấp)"
        parts.append(f"<h3>{_e(label)} — {len(group)} vấn đề</h3>")
        table = issue_table(group)
        classes = table[ISSUE_HEADERS["severity"]].map({v: k for k, v in SEVERITY_LABELS.items()})
        parts.append(_html_table(table.drop(columns=[ISSUE_HEADERS["hamlet"], ISSUE_HEADERS["rule"]]), classes))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


REPORT_NAME = "bao-cao-chat-luong"


def report_files(issues: pd.DataFrame, households: pd.DataFrame, excluded: pd.DataFrame, questionnaire: Questionnaire, *,
                 hamlet_names: Mapping[str, str], commune_name: str, published_on: dt.date) -> dict[str, bytes]:
    """The quality report for the publication: {relative path: bytes}.

    ``commune/bao-cao-chat-luong.{xlsx,html}`` for the whole commune and
    ``hamlets/<code>/bao-cao-chat-luong.{xlsx,html}`` for each hamlet of `hamlet_names`.
    """
    title = "BÁO CÁO CHẤT LƯỢNG DỮ LIỆU RÀ SOÁT"
    out: dict[str, bytes] = {}

    def render(folder: str, iss: pd.DataFrame, hh: pd.DataFrame, exc: pd.DataFrame, place: str, names: Mapping[str, str]) -> None:
        by_hamlet = hamlet_summary(hh, iss, exc, names)
        by_enumerator = enumerator_summary(hh, iss, questionnaire)
        sheets = {"Theo ấp": by_hamlet, "Theo điều tra viên": by_enumerator, "Chi tiết": issue_table(iss)}
        out[f"{folder}/{REPORT_NAME}.xlsx"] = report_xlsx(sheets, f"{title} — {place}", published_on)
        page = report_html(iss, by_hamlet, by_enumerator, title=title, place=place, published_on=published_on, hamlet_names=names)
        out[f"{folder}/{REPORT_NAME}.html"] = page.encode("utf-8")

    render("commune", issues, households, excluded, commune_name, hamlet_names)
    hamlet_of_issue = issues["hamlet"].astype(object)
    for code, name in sorted(hamlet_names.items()):
        render(f"hamlets/{code}", issues[hamlet_of_issue == code], households[households["hamlet"].astype(object) == code],
               excluded[excluded["hamlet"].astype(object) == code], f"{name}, {commune_name}", {code: name})
    return out
