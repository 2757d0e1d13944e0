"""The publication: the lists and tables the commune prints, posts and reports.

Two halves:

* pure layout functions (`household_lists`, `posting_list`) turning the classified households
  into tables with Vietnamese headers, one per list;
* one IO function (`publish`) writing a versioned folder atomically::

      <publications_dir>/
        <publication_id>/
          commune/                       every list as .xlsx + .csv, bang-chi-so.xlsx,
                                         every indicator table as .csv
          hamlets/<hamlet code>/         every list restricted to the hamlet, .xlsx + .csv
          <extra files>                  bytes given in `files` (relative path -> bytes), e.g. the
                                         quality report and the machine-readable households.csv
          manifest.json                  the run's facts + every file with its sha256
        current -> <publication_id>      symlink, replaced atomically
        CURRENT                          the id as text, for systems without symlinks

Lists for officers (`ho-ngheo`, `ho-can-ngheo`, `ho-muc-song-trung-binh`) carry the head's ID
number (CCCD) and phone; the posting lists (`niem-yet-*`), meant for public notice boards,
never do.

Every text cell is NFC-normalised and, if it starts with ``= + - @``, a tab or a carriage
return, prefixed with a single quote (`neutralise`) so no spreadsheet program evaluates it.
Numbers stay numbers.

Money is written as an integer with the number format ``#,##0``. The ``,`` in a format code is
Excel's *grouping placeholder*, not a literal comma: Excel (and LibreOffice) display it with
the thousands separator of the reader's locale, so a Vietnamese-locale Excel shows
``1.500.000`` and an en-US Excel ``1,500,000``. A literal ``#.##0`` would instead be read as a
decimal point in en-US. The ``Lý do`` column already carries the amounts as Vietnamese text.

Determinism: the same inputs and the same publication id give byte-identical files: CSVs and
the manifest contain nothing time-dependent, and every workbook's creation date is fixed to
midnight of `PublicationHeading.published_on` (xlsxwriter already fixes the zip entry times).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import numbers
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from rasoat.pipeline.posting_pdf import posting_pdf

__all__ = [
    "PublicationHeading",
    "ETHNICITY_LABELS",
    "LIST_TITLES",
    "MONEY_HEADER",
    "OFFICER_COLUMNS",
    "POSTING_COLUMNS",
    "PROVISIONAL_NOTE",
    "neutralise",
    "date_line",
    "all_lists",
    "household_lists",
    "posting_list",
    "publish",
    "current_publication",
]


@dataclass(frozen=True)
class PublicationHeading:
    """What the heading block of every printed sheet says."""

    authority: str  # "Ủy ban nhân dân xã Vĩnh Phong"
    commune_name: str  # "Xã Vĩnh Phong"
    province: str  # "Tỉnh An Giang"
    reference_year: int
    rule_set_version: str
    provisional: bool
    published_on: dt.date


ETHNICITY_LABELS: dict[str, str] = {
    "kinh": "Kinh",
    "khmer": "Khmer",
    "hoa": "Hoa",
    "cham": "Chăm",
    "other": "Khác",
}

# list name -> household_class it holds
_OFFICER_LISTS: dict[str, str] = {
    "ho-ngheo": "poor",
    "ho-can-ngheo": "near_poor",
    "ho-muc-song-trung-binh": "average",
}
_POSTING_LISTS: dict[str, str] = {
    "niem-yet-ho-ngheo": "poor",
    "niem-yet-ho-can-ngheo": "near_poor",
}

# list name -> title without the year
LIST_TITLES: dict[str, str] = {
    "ho-ngheo": "DANH SÁCH HỘ NGHÈO",
    "ho-can-ngheo": "DANH SÁCH HỘ CẬN NGHÈO",
    "ho-muc-song-trung-binh": "DANH SÁCH HỘ CÓ MỨC SỐNG TRUNG BÌNH",
    "niem-yet-ho-ngheo": "DANH SÁCH NIÊM YẾT CÔNG KHAI HỘ NGHÈO",
    "niem-yet-ho-can-ngheo": "DANH SÁCH NIÊM YẾT CÔNG KHAI HỘ CẬN NGHÈO",
}

MONEY_HEADER = "Thu nhập bình quân (đồng/người/tháng)"
_ID_HEADER = "Số CCCD chủ hộ"
_PHONE_HEADER = "Số điện thoại"
_PROVISIONAL_HEADER = "Quy tắc tạm thời"

OFFICER_COLUMNS: list[str] = [
    "STT",
    "Mã hộ",
    "Họ và tên chủ hộ",
    _ID_HEADER,
    _PHONE_HEADER,
    "Ấp",
    "Dân tộc",
    "Số nhân khẩu",
    MONEY_HEADER,
    "Số chỉ số thiếu hụt",
    "Các chỉ số thiếu hụt",
    "Lý do",
    _PROVISIONAL_HEADER,
]
POSTING_COLUMNS: list[str] = ["STT", "Họ và tên chủ hộ", "Ấp", "Phân loại", "Lý do"]

_REQUIRED_COLUMNS = (
    "household_id",
    "hamlet",
    "hamlet_name",
    "head_name",
    "head_id_number",
    "phone",
    "ethnicity",
    "members",
    "income_per_capita_month",
    "deprivation_count",
    "deprived_indicators",
    "household_class",
    "class_label",
    "reason",
    "provisional",
)

PROVISIONAL_NOTE = "Áp dụng quy tắc tạm thời (chưa có văn bản chính thức)"
_REDACTED = "[đã ẩn]"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would read as a formula (``= + - @``, tab, CR)."""
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes)) else False
    except (TypeError, ValueError):
        return False


def _text_or_empty(value: Any) -> str:
    return "" if _is_missing(value) else unicodedata.normalize("NFC", str(value))


def _ascii_slug(text: str) -> str:
    """'Tỷ lệ theo ấp' -> 'ty-le-theo-ap'."""
    text = unicodedata.normalize("NFC", text).replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "bang"


def _place_name(commune_name: str) -> str:
    """'Xã Vĩnh Phong' -> 'Vĩnh Phong' (for the date line)."""
    name = unicodedata.normalize("NFC", commune_name).strip()
    for prefix in ("Xã ", "xã ", "XÃ "):
        if name.startswith(prefix):
            return name[len(prefix):].strip()
    return name


def date_line(heading: PublicationHeading) -> str:
    """'Vĩnh Phong, ngày 15 tháng 12 năm 2026'.

    Days below 10 and the months 1 and 2 take a leading zero, as administrative documents write
    them (Nghị định 30/2020/NĐ-CP).
    """
    d = heading.published_on
    day = f"{d.day:02d}" if d.day < 10 else str(d.day)
    month = f"{d.month:02d}" if d.month <= 2 else str(d.month)
    return f"{_place_name(heading.commune_name)}, ngày {day} tháng {month} năm {d.year}"


# --------------------------------------------------------------------------------------------
# Pure layout
# --------------------------------------------------------------------------------------------


def _check_columns(classified: pd.DataFrame) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in classified.columns]
    if missing:
        raise ValueError(f"classified households lack column(s): {', '.join(missing)}")
    codes = {c for c in classified["ethnicity"].dropna().unique()} - set(ETHNICITY_LABELS)
    if codes:
        raise ValueError(f"unknown ethnicity code(s): {', '.join(sorted(map(str, codes)))}")


def _sorted(classified: pd.DataFrame) -> pd.DataFrame:
    keyed = classified.assign(
        _h=classified["hamlet"].map(_text_or_empty),
        _id=classified["household_id"].map(_text_or_empty),
    )
    return keyed.sort_values(["_h", "_id"], kind="mergesort").drop(columns=["_h", "_id"])


def _int_column(series: pd.Series) -> pd.Series:
    return pd.array(
        [pd.NA if _is_missing(v) else int(v) for v in series], dtype="Int64"
    )


def _officer_table(rows: pd.DataFrame) -> pd.DataFrame:
    n = len(rows)
    table = pd.DataFrame(
        {
            "STT": pd.array(range(1, n + 1), dtype="Int64"),
            "Mã hộ": [_text_or_empty(v) for v in rows["household_id"]],
            "Họ và tên chủ hộ": [_text_or_empty(v) for v in rows["head_name"]],
            _ID_HEADER: [_text_or_empty(v) for v in rows["head_id_number"]],
            _PHONE_HEADER: [_text_or_empty(v) for v in rows["phone"]],
            "Ấp": [_text_or_empty(v) for v in rows["hamlet_name"]],
            "Dân tộc": [ETHNICITY_LABELS.get(v, "") if not _is_missing(v) else ""
                        for v in rows["ethnicity"]],
            "Số nhân khẩu": _int_column(rows["members"]),
            MONEY_HEADER: _int_column(rows["income_per_capita_month"]),
            "Số chỉ số thiếu hụt": _int_column(rows["deprivation_count"]),
            "Các chỉ số thiếu hụt": [_text_or_empty(v) for v in rows["deprived_indicators"]],
            "Lý do": [_text_or_empty(v) for v in rows["reason"]],
            _PROVISIONAL_HEADER: ["Có" if (not _is_missing(v) and bool(v)) else ""
                                  for v in rows["provisional"]],
        },
        columns=OFFICER_COLUMNS,
    )
    return table.reset_index(drop=True)


def household_lists(classified: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The officers' lists (danh sách), one per class, sorted by hamlet code then household id.

    Keys: ``ho-ngheo``, ``ho-can-ngheo``, ``ho-muc-song-trung-binh``. Columns are
    `OFFICER_COLUMNS`; they include the head's CCCD and phone, so these lists are not for
    public posting (see `posting_list`). Text is NFC-normalised; missing values are empty text.
    """
    _check_columns(classified)
    ordered = _sorted(classified)
    return {
        name: _officer_table(ordered[ordered["household_class"] == cls])
        for name, cls in _OFFICER_LISTS.items()
    }


_DIGIT_RUN = re.compile(r"\d[\d .\-]{4,}\d")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _secrets_of(classified: pd.DataFrame) -> frozenset[str]:
    """ID numbers and phones of every household, as bare digits (to redact from posted text)."""
    found: set[str] = set()
    for column in ("head_id_number", "phone"):
        for value in classified[column]:
            digits = _digits(_text_or_empty(value))
            if len(digits) >= 6:
                found.add(digits)
    return frozenset(found)


def _redact(text: str, secrets_: frozenset[str]) -> str:
    """Replace any run of digits (spaces, dots, dashes allowed) that is someone's ID or phone.

    One pass over the text with a set lookup: the cost does not grow with the commune's size.
    """
    if not secrets_ or not any(ch.isdigit() for ch in text):
        return text
    return _DIGIT_RUN.sub(lambda m: _REDACTED if _digits(m.group(0)) in secrets_ else m.group(0), text)


def posting_list(
    classified: pd.DataFrame, *, hidden_from: pd.DataFrame | frozenset[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The lists for public posting (niêm yết): ``niem-yet-ho-ngheo``, ``niem-yet-ho-can-ngheo``.

    Only STT, Họ và tên chủ hộ, Ấp, Phân loại, Lý do — never the CCCD or the phone. As a second
    guard, any household's ID number or phone that appears inside a name or reason text is
    replaced by "[đã ẩn]" (the households of `hidden_from`, default `classified`: pass the
    whole commune when laying out one hamlet's list).
    """
    _check_columns(classified)
    ordered = _sorted(classified)
    if isinstance(hidden_from, frozenset):  # already collected once for the whole commune
        hidden = hidden_from
    else:
        hidden = _secrets_of(classified if hidden_from is None else hidden_from)
    out: dict[str, pd.DataFrame] = {}
    for name, cls in _POSTING_LISTS.items():
        rows = ordered[ordered["household_class"] == cls]
        out[name] = pd.DataFrame(
            {
                "STT": pd.array(range(1, len(rows) + 1), dtype="Int64"),
                "Họ và tên chủ hộ": [_redact(_text_or_empty(v), hidden) for v in rows["head_name"]],
                "Ấp": [_text_or_empty(v) for v in rows["hamlet_name"]],
                "Phân loại": [_text_or_empty(v) for v in rows["class_label"]],
                "Lý do": [_redact(_text_or_empty(v), hidden) for v in rows["reason"]],
            },
            columns=POSTING_COLUMNS,
        )
    return out


def all_lists(
    classified: pd.DataFrame, *, hidden_from: pd.DataFrame | frozenset[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Officer lists followed by posting lists, in publication order."""
    return {**household_lists(classified), **posting_list(classified, hidden_from=hidden_from)}


# --------------------------------------------------------------------------------------------
# Cell conversion shared by CSV and XLSX
# --------------------------------------------------------------------------------------------


def _cell(value: Any) -> str | int | float | bool | None:
    """A table value as what is written: None (empty), a number, a bool or neutralised text."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return None if math.isinf(f) else f
    if isinstance(value, (dt.datetime, dt.date, pd.Timestamp)):
        return value.isoformat()
    return neutralise(unicodedata.normalize("NFC", str(value)))


def _header(value: Any) -> str:
    return neutralise(unicodedata.normalize("NFC", str(value)))


# --------------------------------------------------------------------------------------------
# File writers (module-level so tests can inject failures)
# --------------------------------------------------------------------------------------------


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 with BOM, comma separated, CRLF line ends, neutralised text, empty for missing."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_header(c) for c in table.columns])
    for values in table.itertuples(index=False, name=None):
        writer.writerow([_csv_text(_cell(v)) for v in values])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def _csv_text(value: str | int | float | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(path: Path, table: pd.DataFrame) -> None:
    _fsync_write(path, csv_bytes(table))


@dataclass(frozen=True)
class _Sheet:
    name: str  # Excel sheet name
    title: str  # the list's title, with the year
    place: str  # "Xã Vĩnh Phong, Tỉnh An Giang" or "Ấp ..., Xã ..., Tỉnh ..."
    table: pd.DataFrame
    chart: "ChartSpec | None" = None


@dataclass(frozen=True)
class ChartSpec:
    """A chart drawn beside a table of the indicator workbook, from the table's own cells.

    `columns` are plotted as bars over the `category` column; `line` (optional) as a line, e.g.
    the plan's target for the year. Rows whose category is in `skip` (a commune total) are left
    out of the chart, not the table.
    """

    title: str
    category: str
    columns: tuple[str, ...]
    line: str | None = None
    skip: tuple[str, ...] = ()
    horizontal: bool = False


def _display_len(value: Any, money: bool) -> int:
    if value is None:
        return 0
    if money and isinstance(value, int):
        return len(f"{value:,}")
    if isinstance(value, float):
        return len(f"{value:.2f}")
    return len(str(value))


def _merged(ws, row: int, first_col: int, last_col: int, text: str, fmt) -> None:
    """Merge cells and write the text as a string (merge_range's write() could make a formula)."""
    if last_col > first_col:
        ws.merge_range(row, first_col, row, last_col, "", fmt)
    ws.write_string(row, first_col, neutralise(text), fmt)


def _add_chart(wb, ws, sheet: _Sheet, header_row: int, ncols: int) -> None:
    spec, table = sheet.chart, sheet.table
    columns = list(table.columns)
    missing = [c for c in (spec.category, *spec.columns, *([spec.line] if spec.line else [])) if c not in columns]
    if missing or table.empty:
        raise ValueError(f"chart {spec.title!r}: columns {missing} not in the table" if missing else "")
    keep = [i for i, v in enumerate(table[spec.category].tolist()) if _text_or_empty(v) not in spec.skip]
    if not keep:
        return
    first, last = header_row + 1 + keep[0], header_row + 1 + keep[-1]  # the kept rows are contiguous (totals come last)
    category = columns.index(spec.category)
    chart = wb.add_chart({"type": "bar" if spec.horizontal else "column"})
    for name in spec.columns:
        c = columns.index(name)
        chart.add_series({"name": [ws.name, header_row, c], "categories": [ws.name, first, category, last, category],
                          "values": [ws.name, first, c, last, c], "gap": 60})
    if spec.line:
        c = columns.index(spec.line)
        line = wb.add_chart({"type": "line"})
        line.add_series({"name": [ws.name, header_row, c], "categories": [ws.name, first, category, last, category],
                         "values": [ws.name, first, c, last, c], "line": {"color": "#C00000", "width": 2.25}})
        chart.combine(line)
    chart.set_title({"name": spec.title, "name_font": {"size": 11}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 760, "height": 420})
    ws.insert_chart(header_row, ncols + 1, chart)


def write_xlsx(path: Path, sheets: list[_Sheet], heading: PublicationHeading) -> None:
    """One workbook, one printable sheet per table (A4 landscape, one page wide)."""
    wb = xlsxwriter.Workbook(
        str(path),
        {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
         "nan_inf_to_errors": False},
    )
    try:
        created = dt.datetime.combine(heading.published_on, dt.time(0, 0))
        wb.set_properties({
            "title": sheets[0].title if sheets else "",
            "author": heading.authority,
            "company": heading.authority,
            "created": created,
        })
        f_authority = wb.add_format({"bold": True, "align": "center", "font_size": 11})
        f_nation = wb.add_format({"bold": True, "align": "center", "font_size": 11})
        f_motto = wb.add_format({"bold": True, "underline": True, "align": "center"})
        f_title = wb.add_format({"bold": True, "align": "center", "font_size": 14})
        f_centre = wb.add_format({"align": "center"})
        f_note = wb.add_format({"bold": True, "italic": True, "align": "center",
                                "font_color": "#C00000"})
        f_header = wb.add_format({"bold": True, "align": "center", "valign": "vcenter",
                                  "text_wrap": True, "border": 1, "bg_color": "#F2F2F2"})
        f_text = wb.add_format({"border": 1, "valign": "top"})
        f_wrap = wb.add_format({"border": 1, "valign": "top", "text_wrap": True})
        f_int = wb.add_format({"border": 1, "valign": "top", "num_format": "0"})
        f_money = wb.add_format({"border": 1, "valign": "top", "num_format": "#,##0"})
        f_float = wb.add_format({"border": 1, "valign": "top", "num_format": "0.00"})
        f_date = wb.add_format({"italic": True, "align": "center"})
        f_sign = wb.add_format({"bold": True, "align": "center"})
        f_sign_note = wb.add_format({"italic": True, "align": "center"})

        for sheet in sheets:
            ws = wb.add_worksheet(sheet.name)
            table = sheet.table
            columns = list(table.columns)
            ncols = len(columns)
            span = max(ncols, 2)  # the heading and signature blocks need a left and a right half
            last = span - 1
            half = span // 2
            left_last = half - 1
            right_first = half

            # Heading block
            row = 0
            _merged(ws, row, 0, left_last, heading.authority.upper(), f_authority)
            _merged(ws, row, right_first, last, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", f_nation)
            row += 1
            _merged(ws, row, right_first, last, "Độc lập - Tự do - Hạnh phúc", f_motto)
            row += 2
            _merged(ws, row, 0, last, sheet.title, f_title)
            row += 1
            _merged(ws, row, 0, last, sheet.place, f_centre)
            row += 1
            _merged(ws, row, 0, last, f"Chuẩn nghèo: {heading.rule_set_version}", f_centre)
            row += 1
            if heading.provisional:
                _merged(ws, row, 0, last, PROVISIONAL_NOTE, f_note)
                row += 1
            row += 1

            # Header row, repeated on every printed page
            header_row = row
            widths = [0] * ncols
            wrap_cols = set()
            for c, col in enumerate(columns):
                text = _header(col)
                ws.write_string(header_row, c, text, f_header)
                widths[c] = max(len(w) for w in text.split()) if text.split() else 4
                widths[c] = max(widths[c], min(len(text), 16))
                if col in ("Lý do", "Các chỉ số thiếu hụt"):
                    wrap_cols.add(c)
            ws.set_row(header_row, 32)
            ws.repeat_rows(header_row)
            ws.freeze_panes(header_row + 1, 0)

            # Data
            for r, values in enumerate(table.itertuples(index=False, name=None), start=header_row + 1):
                for c, raw in enumerate(values):
                    col = columns[c]
                    value = _cell(raw)
                    money = col == MONEY_HEADER
                    widths[c] = max(widths[c], _display_len(value, money))
                    if value is None:
                        ws.write_blank(r, c, None, f_text)
                    elif isinstance(value, bool):
                        ws.write_boolean(r, c, value, f_text)
                    elif isinstance(value, int):
                        ws.write_number(r, c, value, f_money if money else f_int)
                    elif isinstance(value, float):
                        ws.write_number(r, c, value, f_money if money else f_float)
                    else:
                        ws.write_string(r, c, value, f_wrap if c in wrap_cols else f_text)
            row = header_row + 1 + len(table)
            if sheet.chart is not None:
                _add_chart(wb, ws, sheet, header_row, len(columns))

            final = [min(max(widths[c], 4) + 2, 60 if c in wrap_cols else 45) for c in range(ncols)]
            for c, width in enumerate(final):
                ws.set_column(c, c, width)
            # Spreadsheet programs do not grow rows for wrapped text written by xlsxwriter: size them here.
            for r, values in enumerate(table.itertuples(index=False, name=None), start=header_row + 1):
                lines = max([math.ceil(len(str(values[c])) / max(final[c] - 3, 1)) for c in wrap_cols
                             if values[c] is not None and not (isinstance(values[c], float) and math.isnan(values[c]))] or [1])
                if lines > 1:
                    ws.set_row(r, 15 * lines)

            # Date line and signatures
            row += 1
            _merged(ws, row, right_first, last, date_line(heading), f_date)
            row += 1
            _merged(ws, row, right_first, last, "TM. ỦY BAN NHÂN DÂN", f_sign)
            _merged(ws, row, 0, left_last, "NGƯỜI LẬP BIỂU", f_sign)
            row += 1
            _merged(ws, row, right_first, last, "CHỦ TỊCH", f_sign)
            _merged(ws, row, 0, left_last, "(Ký, ghi rõ họ tên)", f_sign_note)
            row += 1
            _merged(ws, row, right_first, last, "(Ký, ghi rõ họ tên, đóng dấu)", f_sign_note)

            # Print setup
            ws.set_landscape()
            ws.set_paper(9)  # A4
            ws.fit_to_pages(1, 0)  # one page wide, as many tall as needed
            ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
            ws.center_horizontally()
            ws.set_footer("&CTrang &P / &N")
            ws.print_area(0, 0, row, last)
    finally:
        wb.close()
    _fsync_file(path)


# --------------------------------------------------------------------------------------------
# The publication
# --------------------------------------------------------------------------------------------


def _sheet_names(names: list[str]) -> list[str]:
    """Valid, unique Excel sheet names (≤ 31 characters, none of []:*?/\\)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        base = re.sub(r"[\[\]:*?/\\]", "-", unicodedata.normalize("NFC", str(name))).strip("'")
        base = (base or "Bảng")[:31]
        candidate, n = base, 2
        while candidate.lower() in seen:
            suffix = f" ({n})"
            candidate = base[: 31 - len(suffix)] + suffix
            n += 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def _csv_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = {"bang-chi-so"} | set(_OFFICER_LISTS) | set(_POSTING_LISTS)
    for name in names:
        base = _ascii_slug(str(name))
        candidate, n = base, 2
        while candidate in seen:
            candidate, n = f"{base}-{n}", n + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _titled(name: str, year: int) -> str:
    return f"{LIST_TITLES[name]} NĂM {year}"


def _place(heading: PublicationHeading, hamlet_name: str | None = None) -> str:
    parts = [hamlet_name] if hamlet_name else []
    parts += [heading.commune_name, heading.province]
    return ", ".join(unicodedata.normalize("NFC", p) for p in parts if p)


def _write_list(folder: Path, name: str, table: pd.DataFrame, heading: PublicationHeading,
                place: str) -> None:
    write_csv(folder / f"{name}.csv", table)
    sheet = _Sheet(name=_sheet_names([name])[0], title=_titled(name, heading.reference_year),
                   place=place, table=table)
    write_xlsx(folder / f"{name}.xlsx", [sheet], heading)
    if name.startswith("niem-yet-"):  # the lists posted at the commune office and the hamlet
        pdf = posting_pdf(table.map(_cell), authority=heading.authority, title=_titled(name, heading.reference_year), place=place,
                          rule_line=f"Chuẩn nghèo: {heading.rule_set_version}",
                          provisional_note=PROVISIONAL_NOTE if heading.provisional else None,
                          date_line=date_line(heading), created=heading.published_on)
        if pdf is not None:
            _fsync_write(folder / f"{name}.pdf", pdf)


def printable_lists(lists: Mapping[str, tuple[str, pd.DataFrame]], heading: PublicationHeading, folder: str,
                    workbook: str, hamlet_name: str | None = None) -> dict[str, bytes]:
    """Lists computed elsewhere (e.g. the movement lists) as files for `publish(files=)`: a CSV each
    and one printable workbook with a sheet per list, laid out like the household lists."""
    import tempfile

    files, sheets = {}, []
    for name, (title, table) in lists.items():
        files[f"{folder}/{name}.csv"] = csv_bytes(table)
        sheets.append(_Sheet(name=title.removeprefix("DANH SÁCH ").capitalize()[:31], title=f"{title} NĂM {heading.reference_year}",
                             place=_place(heading, hamlet_name), table=table))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{workbook}.xlsx"
        write_xlsx(path, sheets, heading)
        files[f"{folder}/{workbook}.xlsx"] = path.read_bytes()
    return files


def _hamlets_of(classified: pd.DataFrame, hamlets: Mapping[str, str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for code, name in zip(classified["hamlet"], classified["hamlet_name"]):
        code_s = _text_or_empty(code)
        if code_s and code_s not in found:
            found[code_s] = _text_or_empty(name)
    if hamlets:
        for code, name in hamlets.items():
            found.setdefault(str(code), _nfc(str(name)))
    for code in found:
        if not _SAFE_NAME.match(code):
            raise ValueError(f"hamlet code {code!r} cannot name a folder")
    return dict(sorted(found.items()))


def _write_all(root: Path, classified: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
               heading: PublicationHeading, manifest: Mapping[str, Any], publication_id: str,
               hamlets: Mapping[str, str] | None, extra: Mapping[str, bytes] | None = None,
               charts: Mapping[str, ChartSpec] | None = None) -> None:
    commune = root / "commune"
    commune.mkdir()
    lists = all_lists(classified)
    commune_secrets = _secrets_of(classified)
    for name, table in lists.items():
        _write_list(commune, name, table, heading, _place(heading))

    names = list(tables)
    sheet_names = _sheet_names(names)
    csv_names = _csv_names(names)
    sheets = []
    for name, sheet_name, csv_name in zip(names, sheet_names, csv_names):
        table = tables[name]
        write_csv(commune / f"{csv_name}.csv", table)
        title = f"{unicodedata.normalize('NFC', str(name)).upper()} NĂM {heading.reference_year}"
        sheets.append(_Sheet(name=sheet_name, title=title, place=_place(heading), table=table, chart=(charts or {}).get(name)))
    if sheets:
        write_xlsx(commune / "bang-chi-so.xlsx", sheets, heading)

    hamlet_root = root / "hamlets"
    hamlet_root.mkdir()
    for code, hamlet_name in _hamlets_of(classified, hamlets).items():
        folder = hamlet_root / code
        folder.mkdir()
        subset = classified[classified["hamlet"].map(_text_or_empty) == code]
        hamlet_lists = all_lists(subset, hidden_from=commune_secrets)
        for name, table in hamlet_lists.items():
            _write_list(folder, name, table, heading, _place(heading, hamlet_name))

    for relative, data in sorted((extra or {}).items()):
        target = root / relative
        if target.exists():
            raise ValueError(f"extra file {relative!r} would replace a file of the publication")
        target.parent.mkdir(parents=True, exist_ok=True)
        _fsync_write(target, data)

    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files.append({
            "path": path.relative_to(root).as_posix(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        })
    full = dict(manifest)
    for key in ("publication_id", "files"):
        if key in full:
            raise ValueError(f"manifest already has key {key!r}; publish() adds it")
    full["publication_id"] = publication_id
    full["files"] = files
    text = json.dumps(full, ensure_ascii=False, sort_keys=True, indent=2, default=_json_default)
    _fsync_write(root / "manifest.json", (text + "\n").encode("utf-8"))

    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        _fsync_dir(folder)
    _fsync_dir(root)


def _extra_path(name: str) -> str:
    parts = str(name).replace("\\", "/").split("/")
    if not parts or any(not _SAFE_NAME.match(p) for p in parts) or parts[-1] == "manifest.json":
        raise ValueError(f"extra file name {name!r} is not a plain relative path")
    return "/".join(parts)


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON-serialisable")


def _default_id(heading: PublicationHeading) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{heading.reference_year}-{now:%Y%m%dT%H%M%SZ}"


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        _fsync_write(tmp, text.encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _make_current(publications_dir: Path, publication_id: str) -> None:
    link = publications_dir / "current"
    tmp = publications_dir / f".current-{secrets.token_hex(6)}"
    try:
        os.symlink(publication_id, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        pass  # no symlinks here (e.g. Windows without privilege): CURRENT below is the pointer
    else:
        try:
            os.replace(tmp, link)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _replace_text(publications_dir / "CURRENT", publication_id + "\n")
    _fsync_dir(publications_dir)


def publish(
    classified: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    heading: PublicationHeading,
    manifest: Mapping[str, Any],
    publications_dir: Path,
    publication_id: str | None = None,
    *,
    hamlets: Mapping[str, str] | None = None,
    files: Mapping[str, bytes] | None = None,
    charts: Mapping[str, ChartSpec] | None = None,
) -> Path:
    """Write the publication atomically and make it current; return its folder.

    Everything is written to ``<publications_dir>/.incoming-<id>-<random>/``, fsynced, renamed to
    ``<publications_dir>/<id>/``, then ``current`` (symlink) and ``CURRENT`` (text) are
    replaced atomically. On any failure before the rename the incoming folder is removed and
    the error re-raised; the previous publication stays current.

    `hamlets` (code -> name) adds hamlets with no reviewed households, so each still gets its
    folder of header-only lists; by default the hamlets are those in `classified`.

    `files` (relative path such as ``commune/households.csv`` -> bytes) adds files the caller
    rendered; they are written inside the same atomic folder and listed in the manifest. Their
    content is the caller's: render CSV with `csv_bytes` and workbooks with text neutralised.
    """
    publications_dir = Path(publications_dir)
    publication_id = publication_id or _default_id(heading)
    if not _SAFE_NAME.match(publication_id) or publication_id in ("current", "CURRENT"):
        raise ValueError(f"publication id {publication_id!r} is not a plain folder name")
    publications_dir.mkdir(parents=True, exist_ok=True)
    final = publications_dir / publication_id
    if final.exists() or final.is_symlink():
        raise FileExistsError(f"publication {publication_id!r} already exists at {final}")
    # Validate before creating anything.
    _check_columns(classified)
    extra = {_extra_path(name): bytes(data) for name, data in (files or {}).items()}

    incoming = publications_dir / f".incoming-{publication_id}-{secrets.token_hex(6)}"
    incoming.mkdir()
    try:
        _write_all(incoming, classified, tables, heading, manifest, publication_id, hamlets, extra, charts or {})
        if final.exists() or final.is_symlink():  # someone else published this id meanwhile
            raise FileExistsError(f"publication {publication_id!r} already exists at {final}")
        os.rename(incoming, final)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    _fsync_dir(publications_dir)
    _make_current(publications_dir, publication_id)
    return final


def current_publication(publications_dir: Path) -> Path | None:
    """The current publication's folder (``current`` symlink, else ``CURRENT``), or None."""
    publications_dir = Path(publications_dir)
    link = publications_dir / "current"
    if link.is_symlink():
        target = os.readlink(link)
        name = Path(target).name
        if _SAFE_NAME.match(name) and (publications_dir / name).is_dir():
            return publications_dir / name
    marker = publications_dir / "CURRENT"
    if marker.is_file():
        name = marker.read_text(encoding="utf-8").strip()
        if _SAFE_NAME.match(name) and (publications_dir / name).is_dir():
            return publications_dir / name
    return None


def remove_incomplete(publications_dir: Path) -> list[str]:
    """Remove what a killed publish left behind (``.incoming-*`` folders, ``.current-*`` links,
    ``.CURRENT.tmp-*`` files); never a complete publication. Call only while holding the run lock.
    Returns the names removed."""
    publications_dir = Path(publications_dir)
    removed: list[str] = []
    if not publications_dir.is_dir():
        return removed
    for path in publications_dir.iterdir():
        name = path.name
        if name.startswith(".incoming-") and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif (name.startswith(".current-") and path.is_symlink()) or name.startswith(".CURRENT.tmp-"):
            path.unlink(missing_ok=True)
        else:
            continue
        removed.append(name)
    return removed
