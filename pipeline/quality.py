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
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xlsxwriter

from rasoat.forms import Questionnaire
from rasoat.pipeline.fingerprints import answer_fingerprint
from rasoat.pipeline.publish import _cell_column, _header, neutralise
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


def _text_where(values: pd.Series, mask: pd.Series) -> pd.Series:
    """`as_text(values)` on the rows of `mask` ("" elsewhere): issue rows show only the flagged rows' values."""
    mask = mask.to_numpy(dtype=bool)
    out = np.full(len(values), "", dtype=object)
    if mask.any():
        out[mask] = as_text(values[mask]).to_numpy()
    return pd.Series(out, index=values.index, dtype=object)


def quality_signals(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire,
                    fingerprints: pd.Series | None = None) -> pd.DataFrame:
    """Issue rows (warnings) for the supervisor: short, rapid, identical, impossible durations.

    `fingerprints`: `answer_fingerprint` of the households, in their order, when already worked out."""
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

    prints = answer_fingerprint(hh, members, questionnaire) if fingerprints is None else fingerprints
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


def _count(issues: pd.DataFrame, key: str, severity: str) -> pd.Series:
    """Households (distinct submissions) with an issue of `severity`, per value of `key` ("" unknown)."""
    sel = issues[issues["severity"] == severity]
    return sel.groupby(sel[key].astype(object).fillna(""))["submission_id"].nunique()


_SIGNALS = {"Phỏng vấn quá ngắn": "short_interview", "Nhiều phiếu trong vài phút": "rapid_succession",
            "Câu trả lời giống hệt": "identical_answers", "Thiếu GPS": "missing_gps"}  # column: the rule it counts
_COUNTED = ["Hộ có lỗi", "Hộ có cảnh báo", *_SIGNALS]


def _split(group: np.ndarray, groups: int) -> list[np.ndarray]:
    """For each k < `groups`, the positions where `group` is k, ascending (-1: in no group).

    One stable sort for all groups: a mask per group reads the whole table once per hamlet."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(groups + 1))
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _hamlet_of(hamlet: pd.Series, codes: pd.Index) -> np.ndarray:
    """Each row's position of its hamlet in `codes` (-1: none of them): the rows where `hamlet == code`."""
    return codes.get_indexer(hamlet.astype(object))


def _is(values: pd.Series, value: str) -> np.ndarray:
    return (values == value).to_numpy(dtype=bool, na_value=False)


def _interviews(households: pd.DataFrame, minutes, at) -> pd.DataFrame:
    """Per household: its group `at`, its enumerator ("" unknown) and its interview minutes (float)."""
    who = households[ENUMERATOR].astype(object).fillna("") if ENUMERATOR in households else pd.Series("", index=households.index)
    return pd.DataFrame({"at": at, "who": who, "minutes": minutes.astype(float)})


def _issue_flags(issues: pd.DataFrame, at) -> pd.DataFrame:
    """Per issue: its group `at`, enumerator ("" unknown), household and the summary columns it counts towards."""
    flags = {"Hộ có lỗi": _is(issues["severity"], ERROR), "Hộ có cảnh báo": _is(issues["severity"], WARNING)}
    flags |= {name: _is(issues["rule"], rule) for name, rule in _SIGNALS.items()}
    return pd.DataFrame({"at": at, "who": issues[ENUMERATOR].astype(object).fillna(""),
                         "submission_id": issues["submission_id"].astype(object), **flags}, index=issues.index)


def _enumerator_table(interviews: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """The enumerator summary of every group (`at` ≥ 0) of `interviews` and `flags` in one pass: the rows of
    each group together, in `at` order, each group's rows as the group's own summary has them."""
    interviews = interviews[interviews["at"] >= 0]
    table = interviews.groupby(["at", "who"]).agg(households=("who", "size"), median=("minutes", "median"))
    flags = flags[(flags["at"] >= 0) & flags["submission_id"].notna()]
    # a household counts once per column, however many of its issues do
    counted = flags.groupby(["at", "who", "submission_id"]).any().groupby(level=["at", "who"]).sum()
    table = table.join(counted).reset_index()
    out = pd.DataFrame({
        "at": table["at"],
        "Điều tra viên": table["who"],
        "Số hộ": table["households"].astype("Int64"),
        "Thời gian phỏng vấn trung vị (phút)": table["median"].round(1),
    })
    for name in _COUNTED:
        out[name] = table[name].fillna(0).astype("Int64")
    out = out.assign(_f=out[list(_SIGNALS)].sum(axis=1))
    out = out.sort_values(["at", "_f", "Điều tra viên"], ascending=[True, False, True], kind="mergesort")
    return out.drop(columns="_f").reset_index(drop=True)


def enumerator_summary(households: pd.DataFrame, issues: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """One row per enumerator: households, median interview, each signal, errors and warnings."""
    interviews = _interviews(households, interview_minutes(households, questionnaire), 0)
    return _enumerator_table(interviews, _issue_flags(issues, 0)).drop(columns="at")


def _minutes_by_hamlet(households: pd.DataFrame, questionnaire: Questionnaire, rows: list[np.ndarray]) -> np.ndarray:
    """Interview minutes as each hamlet's own report reads them (NaN outside the hamlets).

    Parsed hamlet by hamlet, not taken from the commune's: a column's time resolution, hence a
    duration's last digits, depends on all of the column's values."""
    fields = dict.fromkeys((_field_of_type(questionnaire, "start"), _field_of_type(questionnaire, "end")))
    times = households[[f for f in fields if f in households]]
    out = np.full(len(households), np.nan)
    for at in rows:
        out[at] = interview_minutes(times.iloc[at], questionnaire).astype(float).to_numpy()
    return out


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


def _rule_label(rule):
    return RULE_LABELS.get(rule, rule)


def issue_table(issues: pd.DataFrame) -> pd.DataFrame:
    """The issues with Vietnamese headers and labels, sorted by hamlet, enumerator, household."""
    t = issues.assign(
        rule_label=issues["rule"].map(_rule_label),
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
        for c, col in enumerate(columns):
            ws.write_string(2, c, _header(col), head)
        cells = [_cell_column(table.iloc[:, k]) for k in range(len(columns))]
        # row by row: the workbook numbers its shared strings in the order they are first written
        for r, values in enumerate(zip(*cells), start=3):
            for c, value in enumerate(values):
                if value is None:
                    ws.write_blank(r, c, None, cell)
                elif isinstance(value, str):
                    ws.write_string(r, c, value, cell)
                elif isinstance(value, bool):
                    ws.write_boolean(r, c, value, cell)
                else:
                    ws.write_number(r, c, value, cell)
        for c, values in enumerate(cells):
            ws.set_column(c, c, _width(str(columns[c]), values) + 2)
        ws.freeze_panes(3, 0)
        if len(columns):
            ws.autofilter(2, 0, 2 + len(table), len(columns) - 1)
    wb.close()
    return buffer.getvalue()


def _width(header: str, cells: list) -> int:
    """A column's width: its header's and longest text's length, within 8-40 for the header and 60 for the text."""
    width = min(max(len(header), 8), 40)
    longest = max((len(v) for v in cells if isinstance(v, str)), default=0)
    return min(max(width, longest), 60)


def _as_listed(column: pd.Series) -> pd.Series:
    """The column's values as `itertuples` gives them (NumPy scalars for Int64, not Python ints)."""
    return pd.Series(list(column), index=column.index, dtype=object)


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


def _html_rows(table: pd.DataFrame, row_class: pd.Series | None = None) -> np.ndarray:
    """Each row of `table` as "<tr>…</tr>": a row's text depends on its values only, so any rows of a table can be
    cut from its rendered rows."""
    if not len(table):
        return np.array([], dtype=object)
    # cell by cell would cost a Python call per cell: each column's cells at once (text columns once per distinct value)
    rows = np.full(len(table), "<tr>", dtype=object)
    if row_class is not None:
        rows = per_value(_as_listed(row_class), lambda v: f'<tr class="{_e(v)}">', missing_alike=False).to_numpy()
    for k, c in enumerate(table.columns):
        rows = rows + per_value(_as_listed(table.iloc[:, k]), lambda v, c=c: _td(c, v), missing_alike=False).to_numpy()
    return rows + "</tr>"


def _table_html(columns, rows: np.ndarray) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows.tolist())}</tbody></table>"


def _html_table(table: pd.DataFrame) -> str:
    return _table_html(table.columns, _html_rows(table))


def _filled(issues: pd.DataFrame) -> pd.DataFrame:
    """The issues as the page shows them: "" for an unknown enumerator or hamlet."""
    return issues.assign(enumerator=issues["enumerator"].astype(object).fillna(""),
                         hamlet=issues["hamlet"].astype(object).fillna(""))


def _enumerator_paragraphs(issues: pd.DataFrame, at, groups: int) -> list[list[str]]:
    """For each group k < `groups` of the (filled) issues: a paragraph per enumerator, its issues counted by rule."""
    frame = pd.DataFrame({"at": at, "who": issues["enumerator"], "rule": issues["rule"].map(_rule_label)}, index=issues.index)
    counts = frame[frame["at"] >= 0].groupby(["at", "who", "rule"]).size()  # sorted by group, enumerator, rule
    out: list[list[str]] = [[] for _ in range(groups)]
    for (k, who), items in itertools.groupby(zip(counts.index, counts.tolist()), key=lambda item: item[0][:2]):
        text = ", ".join(f"{_e(rule)}: {n}" for (_, _, rule), n in items)
        out[k].append(f"<p><strong>{_e(who) or '(không rõ)'}</strong> — {text}</p>")
    return out


def _issue_sections(issues: pd.DataFrame, hamlet_names: Mapping[str, str]) -> dict[str, str]:
    """Each hamlet's part of "Chi tiết theo ấp" (its heading and issues), by hamlet in page order ("" unknown).

    One table for all hamlets, cut by hamlet: sorted stably, a hamlet's rows are in the order its own table has."""
    table = issue_table(issues)
    classes = table[ISSUE_HEADERS["severity"]].map({v: k for k, v in SEVERITY_LABELS.items()})
    shown = table.drop(columns=[ISSUE_HEADERS["hamlet"], ISSUE_HEADERS["rule"]])
    rows = _html_rows(shown, classes)
    grouped = table.groupby(ISSUE_HEADERS["hamlet"], sort=True)
    hamlets = table[ISSUE_HEADERS["hamlet"]].to_numpy()
    sections = {}
    for at in _split(grouped.ngroup().to_numpy(), grouped.ngroups):
        code = hamlets[at[0]]
        label = f"{hamlet_names.get(code, '')} ({code})" if code else "(không rõ ấp)"
        sections[code] = f"<h3>{_e(label)} — {len(at)} vấn đề</h3>\n{_table_html(shown.columns, rows[at])}"
    return sections


def report_html(by_hamlet: str, by_enumerator: str, paragraphs: list[str], sections: list[str], *, title: str, place: str,
                published_on: dt.date) -> str:
    """One self-contained page from its rendered parts: the summary per hamlet and per enumerator (tables), the
    issues per enumerator (`paragraphs`), then each hamlet's issues (`sections`, none when there are no issues)."""
    parts = [
        "<!DOCTYPE html>", '<html lang="vi"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(place)} — ngày {published_on.day:02d}/{published_on.month:02d}/{published_on.year}. '
        "Lỗi: hộ chờ xử lý, chưa được phân loại cho đến khi sửa. Cảnh báo: hộ vẫn được phân loại, cần kiểm tra lại.</p>",
        '<nav><a href="#theo-ap">Theo ấp</a><a href="#theo-dieu-tra-vien">Theo điều tra viên</a><a href="#chi-tiet">Chi tiết theo ấp</a></nav>',
        '<h2 id="theo-ap">Tổng hợp theo ấp</h2>', by_hamlet,
        '<h2 id="theo-dieu-tra-vien">Theo điều tra viên</h2>', by_enumerator,
    ]
    if sections:  # every issue is in some hamlet's section
        parts += ["<h3>Vấn đề theo điều tra viên</h3>", *paragraphs]
    parts.append('<h2 id="chi-tiet">Chi tiết theo ấp</h2>')
    parts += sections or ["<p>Không có vấn đề nào.</p>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


REPORT_NAME = "bao-cao-chat-luong"
REPORT_TITLE = "BÁO CÁO CHẤT LƯỢNG DỮ LIỆU RÀ SOÁT"


@dataclass(frozen=True)
class ReportPage:
    """One quality report, laid out: its folder in the publication, the place it is for, its
    workbook's sheets and its web page's parts (see `report_html`). Rendered by `rendered_report`,
    in a worker process for a province's hamlets."""

    folder: str
    place: str
    sheets: dict[str, pd.DataFrame]
    page: tuple
    published_on: dt.date


def rendered_report(report: ReportPage) -> dict[str, bytes]:
    """{relative path: bytes} of one report's workbook and web page."""
    title = f"{REPORT_TITLE} — {report.place}"
    text = report_html(*report.page, title=REPORT_TITLE, place=report.place, published_on=report.published_on)
    return {f"{report.folder}/{REPORT_NAME}.xlsx": report_xlsx(report.sheets, title, report.published_on),
            f"{report.folder}/{REPORT_NAME}.html": text.encode("utf-8")}


def report_pages(issues: pd.DataFrame, households: pd.DataFrame, excluded: pd.DataFrame, questionnaire: Questionnaire, *,
                 hamlet_names: Mapping[str, str], commune_name: str, published_on: dt.date) -> list[ReportPage]:
    """The quality reports of the publication, laid out: ``commune`` for the whole commune, then
    ``hamlets/<code>`` for each hamlet of `hamlet_names`, what the commune's report gives for the
    hamlet's own households, issues and excluded households. The hamlets' tables are computed for
    all hamlets at once and cut by hamlet: a mask per hamlet would read every table once per hamlet.
    """
    by_hamlet, details, shown = hamlet_summary(households, issues, excluded, hamlet_names), issue_table(issues), _filled(issues)
    by_enumerator = enumerator_summary(households, issues, questionnaire)
    summary_rows, sections = _html_rows(by_hamlet), _issue_sections(shown, hamlet_names)
    pages = [ReportPage("commune", commune_name, {"Theo ấp": by_hamlet, "Theo điều tra viên": by_enumerator, "Chi tiết": details},
                        (_table_html(by_hamlet.columns, summary_rows), _html_table(by_enumerator), _enumerator_paragraphs(shown, 0, 1)[0],
                         list(sections.values())), published_on)]

    codes = sorted(hamlet_names)
    hamlets = pd.Index(codes, dtype=object)
    at, issue_at = _hamlet_of(households["hamlet"], hamlets), _hamlet_of(issues["hamlet"], hamlets)
    interviews = _interviews(households, _minutes_by_hamlet(households, questionnaire, _split(at, len(codes))), at)
    by_enumerators = _enumerator_table(interviews, _issue_flags(issues, issue_at))
    enumerators, enumerator_rows = _split(by_enumerators.pop("at").to_numpy(), len(codes)), _html_rows(by_enumerators)
    paragraphs = _enumerator_paragraphs(shown, issue_at, len(codes))
    detail_rows = _split(_hamlet_of(details[ISSUE_HEADERS["hamlet"]], hamlets), len(codes))
    summary_row = {code: [k] for k, code in enumerate(by_hamlet["Mã ấp"])}  # codes are never "": no unknown hamlet's row
    for k, code in enumerate(codes):
        summary, mine = summary_row[code], enumerators[k]
        sheets = {"Theo ấp": _rows(by_hamlet, summary), "Theo điều tra viên": _rows(by_enumerators, mine),
                  "Chi tiết": _rows(details, detail_rows[k])}
        page = (_table_html(by_hamlet.columns, summary_rows[summary]), _table_html(by_enumerators.columns, enumerator_rows[mine]),
                paragraphs[k], [sections[code]] if code in sections else [])
        pages.append(ReportPage(f"hamlets/{code}", f"{hamlet_names[code]}, {commune_name}", sheets, page, published_on))
    return pages


def report_files(issues: pd.DataFrame, households: pd.DataFrame, excluded: pd.DataFrame, questionnaire: Questionnaire, *,
                 hamlet_names: Mapping[str, str], commune_name: str, published_on: dt.date) -> dict[str, bytes]:
    """The quality reports of `report_pages`, rendered: {relative path: bytes}
    (``<folder>/bao-cao-chat-luong.{xlsx,html}`` each)."""
    pages = report_pages(issues, households, excluded, questionnaire, hamlet_names=hamlet_names, commune_name=commune_name,
                         published_on=published_on)
    return {path: data for report in pages for path, data in rendered_report(report).items()}


def _rows(table: pd.DataFrame, positions) -> pd.DataFrame:
    return table.iloc[positions].reset_index(drop=True)
