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
          <extra files>                  given in `files` (relative path -> bytes or `CsvParts`), e.g.
                                         the quality report, households.csv, chi-tiet-chi-so.csv
          manifest.json                  the run's facts + every file with its sha256
        current -> <publication_id>      symlink, replaced atomically
        CURRENT                          the id as text, for systems without symlinks

Lists for officers (`ho-ngheo`, `ho-can-ngheo`, `ho-muc-song-trung-binh`) carry the head's ID
number (CCCD) and phone, and the member list of their households (`member_list`, published as
commune/thanh-vien.csv for the certificates) every member's; the posting lists (`niem-yet-*`),
meant for public notice boards, never do.

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
import itertools
import json
import math
import numbers
import operator
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from rasoat.pipeline import csv_rows
from rasoat.pipeline.ordering import sorted_rows
from rasoat.pipeline.posting_pdf import posting_pdf
from rasoat.pipeline.workers import Pool, release_freed_memory, run_parts, stream_parts, worker_pool, workers_for

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

LIST_COLUMNS = (  # the columns of the classified households `publish` reads
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


_QUOTED_SECOND = (*_FORMULA_STARTS, "'")  # after a first quote: what a reader takes that quote off before


def _character_class(characters: tuple[str, ...]) -> str:
    return "[" + re.escape("".join(characters)) + "]"


_FORMULA_CLASS, _QUOTED_SECOND_CLASS = _character_class(_FORMULA_STARTS), _character_class(_QUOTED_SECOND)
# The quote `neutralise` puts first, as a reader of a published file finds it and takes it off
# (`corrections`): one rule for writing and reading.
NEUTRALISING_QUOTE = re.compile(f"^'(?={_QUOTED_SECOND_CLASS})")


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would read as a formula (``= + - @``, tab, CR), and to text
    whose quote a reader would take off (``'`` then one of those or another ``'``): reading removes
    one quote before them (`corrections.read_households_record`), so every text comes back as it was."""
    if text.startswith(_FORMULA_STARTS) or (text[:1] == "'" and text[1:2] in _QUOTED_SECOND):
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
    missing = [c for c in LIST_COLUMNS if c not in classified.columns]
    if missing:
        raise ValueError(f"classified households lack column(s): {', '.join(missing)}")
    codes = {c for c in classified["ethnicity"].dropna().unique()} - set(ETHNICITY_LABELS)
    if codes:
        raise ValueError(f"unknown ethnicity code(s): {', '.join(sorted(map(str, codes)))}")


def _sorted_keyed(classified: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(the listed households' list columns sorted by hamlet code then household id, their hamlet
    codes as text).

    Only the rows and columns the lists show are reordered: a province's classified table has a
    hundred more columns, and most of its households are on no list."""
    classified = classified[classified["household_class"].isin(list(_OFFICER_LISTS.values())).to_numpy(dtype=bool)]
    hamlet = _text_column(classified["hamlet"])
    order = sorted_rows(pd.DataFrame({"hamlet": hamlet, "household_id": _text_column(classified["household_id"])}))
    return classified[list(LIST_COLUMNS)].iloc[order], np.array(hamlet, dtype=object)[order].tolist()


def _sorted(classified: pd.DataFrame) -> pd.DataFrame:
    return _sorted_keyed(classified)[0]


def _int_column(series: pd.Series) -> pd.Series:
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu" and (dtype.kind != "u" or dtype.itemsize < 8):
        return pd.array(series.to_numpy().astype(np.int64), dtype="Int64")
    if (isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu" and hasattr(series.array, "_mask")
            and not (dtype.kind == "u" and np.dtype(dtype.numpy_dtype).itemsize == 8)):
        return series.array.astype("Int64")
    return pd.array(
        [pd.NA if _is_missing(v) else int(v) for v in series], dtype="Int64"
    )


def _ethnicity_labels(series: pd.Series) -> list[str]:
    codes = series.to_numpy(dtype=object)
    missing = np.asarray(pd.isna(codes), dtype=bool).tolist()
    return ["" if m else ETHNICITY_LABELS.get(v, "") for v, m in zip(codes.tolist(), missing)]


def _provisional_marks(series: pd.Series) -> list[str]:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "b":
        return np.where(series.to_numpy(), "Có", "").tolist()
    return ["Có" if (not _is_missing(v) and bool(v)) else "" for v in series]


def _officer_table(rows: pd.DataFrame) -> pd.DataFrame:
    n = len(rows)
    table = pd.DataFrame(
        {
            "STT": pd.array(range(1, n + 1), dtype="Int64"),
            "Mã hộ": _text_column(rows["household_id"]),
            "Họ và tên chủ hộ": _text_column(rows["head_name"]),
            _ID_HEADER: _text_column(rows["head_id_number"]),
            _PHONE_HEADER: _text_column(rows["phone"]),
            "Ấp": _text_column(rows["hamlet_name"]),
            "Dân tộc": _ethnicity_labels(rows["ethnicity"]),
            "Số nhân khẩu": _int_column(rows["members"]),
            MONEY_HEADER: _int_column(rows["income_per_capita_month"]),
            "Số chỉ số thiếu hụt": _int_column(rows["deprivation_count"]),
            "Các chỉ số thiếu hụt": _text_column(rows["deprived_indicators"]),
            "Lý do": _text_column(rows["reason"]),
            _PROVISIONAL_HEADER: _provisional_marks(rows["provisional"]),
        },
        columns=OFFICER_COLUMNS,
    )
    return table.reset_index(drop=True)


def _officer_lists(ordered: pd.DataFrame) -> dict[str, pd.DataFrame]:
    classes = ordered["household_class"]
    return {name: _officer_table(ordered[classes == cls]) for name, cls in _OFFICER_LISTS.items()}


def household_lists(classified: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The officers' lists (danh sách), one per class, sorted by hamlet code then household id.

    Keys: ``ho-ngheo``, ``ho-can-ngheo``, ``ho-muc-song-trung-binh``. Columns are
    `OFFICER_COLUMNS`; they include the head's CCCD and phone, so these lists are not for
    public posting (see `posting_list`). Text is NFC-normalised; missing values are empty text.
    """
    _check_columns(classified)
    return _officer_lists(_sorted(classified))


_DIGIT_RUN = re.compile(r"\d[\d .\-]{4,}\d")
_DECIMAL_OR_SEP = re.compile(r"[\d\x00]+")
_NOT_DECIMAL_OR_SEP = re.compile(r"[^\d\x00]+")


MEMBER_COLUMNS = ["Mã hộ", "STT", "Họ và tên", "Năm sinh", "Quan hệ với chủ hộ", "Số định danh cá nhân"]


def member_list(classified: pd.DataFrame, members: pd.DataFrame, relationship_labels: Mapping[str, str]) -> pd.DataFrame:
    """The members of the households on the officers' lists (poor, near-poor, average living
    standard), for the certificates (giấy chứng nhận) the commune issues: `MEMBER_COLUMNS`, the
    households in the lists' order (hamlet code, household id), each one's members in the order
    they were entered, numbered from 1. It holds ID numbers: an officers' file, never posted.

    `members`: submission_id, position, member_name, birth_year, relationship, member_id_number;
    `relationship_labels`: code -> Vietnamese label (the form's choices)."""
    listed = classified[classified["household_class"].isin(list(_OFFICER_LISTS.values())).to_numpy(dtype=bool)]
    ordered = _sorted(listed)
    rank = pd.Series(np.arange(len(ordered)), index=listed.loc[ordered.index, "submission_id"].to_numpy())
    rows = members.loc[members["submission_id"].isin(rank.index).to_numpy(dtype=bool)].reindex(  # a column not asked: blank
        columns=["submission_id", "position", "member_name", "birth_year", "relationship", "member_id_number"])
    rows = rows.assign(rank=rows["submission_id"].map(rank).to_numpy()).sort_values(["rank", "position"], kind="stable")
    households = ordered["household_id"].iloc[rows["rank"].to_numpy()]
    number = rows.groupby("rank", sort=False).cumcount() + 1
    codes = rows["relationship"].to_numpy(dtype=object)
    return pd.DataFrame({
        "Mã hộ": _text_column(households),
        "STT": pd.array(number.to_numpy(), dtype="Int64"),
        "Họ và tên": _text_column(rows["member_name"]),
        "Năm sinh": _int_column(rows["birth_year"]),
        "Quan hệ với chủ hộ": ["" if _is_missing(c) else relationship_labels.get(c, str(c)) for c in codes],
        "Số định danh cá nhân": _text_column(rows["member_id_number"]),
    }, columns=MEMBER_COLUMNS)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _secrets_of(classified: pd.DataFrame) -> frozenset[str]:
    """ID numbers and phones of every household, as bare digits (to redact from posted text)."""
    found: set[str] = set()
    for column in ("head_id_number", "phone"):
        texts = _text_column(classified[column])
        joined = _SEP.join(texts)
        rest = set(_DECIMAL_OR_SEP.sub("", joined))
        if joined.count(_SEP) == max(len(texts) - 1, 0) and not any(ch.isdigit() for ch in rest):
            # every character isdigit() keeps is a decimal digit: strip the others all at once
            found.update(d for d in _NOT_DECIMAL_OR_SEP.sub("", joined).split(_SEP) if len(d) >= 6)
            continue
        for text in set(texts):
            digits = _digits(text)
            if len(digits) >= 6:
                found.add(digits)
    return frozenset(found)


def _posted_secrets(ordered: pd.DataFrame, secrets_: frozenset[str]) -> frozenset[str]:
    """Those of `secrets_` that a posted name or reason of `ordered` holds, as `_redact` finds them:
    redacting with them changes the same texts. A province's 2 million IDs and phones are not kept."""
    posted = ordered[ordered["household_class"].isin(list(_POSTING_LISTS.values())).to_numpy(dtype=bool)]
    runs = {_digits(m.group(0)) for column in ("head_name", "reason") for text in _text_column(posted[column])
            for m in _DIGIT_RUN.finditer(text)}
    return frozenset(runs & secrets_)


def _redact(text: str, secrets_: frozenset[str]) -> str:
    """Replace any run of digits (spaces, dots, dashes allowed) that is someone's ID or phone.

    One pass over the text with a set lookup: the cost does not grow with the commune's size.
    """
    if not secrets_:
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
    if isinstance(hidden_from, frozenset):  # already collected once for the whole commune
        hidden = hidden_from
    else:
        hidden = _secrets_of(classified if hidden_from is None else hidden_from)
    return _posting_lists(_sorted(classified), hidden)


def _posting_lists(ordered: pd.DataFrame, hidden: frozenset[str]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    classes = ordered["household_class"]
    for name, cls in _POSTING_LISTS.items():
        rows = ordered[classes == cls]
        out[name] = pd.DataFrame(
            {
                "STT": pd.array(range(1, len(rows) + 1), dtype="Int64"),
                "Họ và tên chủ hộ": [_redact(v, hidden) for v in _text_column(rows["head_name"])],
                "Ấp": _text_column(rows["hamlet_name"]),
                "Phân loại": _text_column(rows["class_label"]),
                "Lý do": [_redact(v, hidden) for v in _text_column(rows["reason"])],
            },
            columns=POSTING_COLUMNS,
        )
    return out


def all_lists(
    classified: pd.DataFrame, *, hidden_from: pd.DataFrame | frozenset[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Officer lists followed by posting lists, in publication order."""
    _check_columns(classified)
    if isinstance(hidden_from, frozenset):
        hidden = hidden_from
    else:
        hidden = _secrets_of(classified if hidden_from is None else hidden_from)
    ordered = _sorted(classified)
    return {**_officer_lists(ordered), **_posting_lists(ordered, hidden)}


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


# Whole columns at once. Each function below gives, for every value of a column, exactly what the
# per-value functions above give (`_cell`, `_csv_text`, `_text_or_empty`), but decides by the
# column's dtype once instead of by each value's type: a million-household publication is tens of
# millions of cells. Columns of a dtype not handled here fall back to the per-value functions.

_SEP = "\x00"  # joins a column's texts to treat them in one call; NFC never composes across it
_NEUTRALISED_AFTER_SEP = re.compile(f"\x00(?:{_FORMULA_CLASS}|'{_QUOTED_SECOND_CLASS})")  # a text `neutralise` changes
_NEUTRALISED_FIRST = [ord(c) for c in _QUOTED_SECOND]  # a text's first character `neutralise` acts on: the same set
_CRLF = "\r\n"  # the publication's CSV line end
_TRUE_FALSE = np.array([False, True], dtype=object)
_NUMPY_TRUE_FALSE = np.array([_cell(np.False_), _cell(np.True_)], dtype=object)


@dataclass
class _Column:
    """A column converted as `_cell` converts each value: `values` are those of the non-missing
    rows (all of them when `missing` is None) as `_cell` gives them. `kind` is "text" (str),
    "int", "float", "bool" or "mixed" (then `values` has every row, None included, and
    `missing` is None). For text, `joined` is `values` joined by `_SEP` when that is exact."""

    kind: str
    values: list
    missing: np.ndarray | None
    joined: str | None = None
    filled: bool = False  # `values` has every row, "" at the missing ones

    def spread(self, fill: Any, values: list | None = None) -> list:
        """`values` (default: the column's) with `fill` at the missing rows."""
        values = self.values if values is None else values
        if self.missing is None or (self.filled and fill == ""):
            return values
        if self.filled:
            out = np.array(values, dtype=object)
            out[self.missing] = fill
            return out.tolist()
        out = np.full(len(self.missing), fill, dtype=object)
        if values:
            out[~self.missing] = np.array(values, dtype=object)
        return out.tolist()


def _texts_of(series: pd.Series) -> tuple[list[str], np.ndarray | None] | None:
    """(every value as plain str, "" for the missing ones; missing mask or None) when every value
    of the column is text or missing; None otherwise."""
    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) or dtype == object):
        return None
    values = series.to_numpy(dtype=object)
    listed = values.tolist()
    types = set(map(type, listed))
    if types == {str} or not listed:
        return listed, None
    missing = np.asarray(pd.isna(values), dtype=bool)
    if missing.any():
        values = values.copy()
        values[missing] = ""
        listed = values.tolist()
        types = set(map(type, listed))
    else:
        missing = None
    if not all(issubclass(t, str) for t in types):
        return None
    if types - {str}:  # subclasses of str, written as `str()` gives them
        listed = [str(t) for t in listed]
    return listed, missing


def _holding(joined: str, codes: list[int], *, first: bool = False) -> list[int]:
    """Indices of the texts joined by `_SEP` in `joined` that hold a character of `codes` (with
    `first`: that start with one). Vectorised over the characters, for long columns."""
    chars = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    seps = np.flatnonzero(chars == 0)
    if first:
        starts = np.concatenate(([0], seps + 1))
        starts = starts[starts < len(chars)]
        found = starts[np.isin(chars[starts], codes)]
    else:
        found = np.flatnonzero(np.isin(chars, codes))
    texts = np.searchsorted(seps, found)  # ascending: drop the repeats of a text found twice
    return texts[np.concatenate(([True], texts[1:] != texts[:-1]))].tolist() if len(texts) else []


def _nfc_joined(texts: list[str]) -> tuple[list[str], str | None]:
    """(`unicodedata.normalize("NFC", t)` of every text, those joined by `_SEP` or None)."""
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - (1 if texts else 0):  # a text holds the separator itself
        return [unicodedata.normalize("NFC", t) for t in texts], None
    if joined.isascii() or unicodedata.is_normalized("NFC", joined):  # the whole column checked at once
        return texts, joined
    # text by text: normalising the whole column at once is slow as soon as one text is not NFC
    normal = [t if t.isascii() else unicodedata.normalize("NFC", t) for t in texts]
    if all(map(operator.is_, normal, texts)):  # normalize() returns NFC text itself
        return texts, joined
    return normal, _SEP.join(normal)


def _text_column(series: pd.Series) -> list[str]:
    """`_text_or_empty` of every value."""
    found = _texts_of(series)
    if found is None:
        return [_text_or_empty(v) for v in series]
    texts, missing = found
    return _nfc_joined(texts)[0]  # "" at the missing values already


def _column(series: pd.Series) -> _Column:
    """The column converted as `_cell` converts each value, deciding by its dtype once."""
    found = _texts_of(series)
    if found is not None:
        texts, missing = found
        texts, joined = _nfc_joined(texts)
        if joined is None:
            texts = [neutralise(t) for t in texts]
        elif _NEUTRALISED_AFTER_SEP.search(_SEP + joined):
            texts = list(texts)
            for i in _holding(joined, _NEUTRALISED_FIRST, first=True):  # the texts starting with a formula sign or a quote
                texts[i] = neutralise(texts[i])
        return _Column("text", texts, missing, joined, filled=True)  # `joined` before neutralising: same , " CR LF
    dtype = series.dtype
    values = missing = None
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":  # iterated as Python bool, int, float
        values = series.to_numpy()
    elif (isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf"
          and hasattr(series.array, "_mask")):  # nullable: iterated as NumPy scalars and pd.NA
        numpy_dtype = np.dtype(bool) if dtype.kind == "b" else np.dtype(dtype.numpy_dtype)
        missing = np.asarray(series.isna(), dtype=bool)
        values = series.to_numpy(dtype=numpy_dtype, na_value=np.nan if numpy_dtype.kind == "f" else 0)
    if values is not None:
        kind = values.dtype.kind
        if kind == "f":  # `_cell` takes float(value); NaN is missing and infinity written as empty
            values = values.astype(np.float64)
            missing = ~np.isfinite(values)
        if missing is not None and not missing.any():
            missing = None
        if missing is not None:
            values = values[~missing]
        if kind == "b":
            # Python bools stay bools; NumPy bools (nullable columns) `_cell` writes as text
            table = _TRUE_FALSE if isinstance(dtype, np.dtype) else _NUMPY_TRUE_FALSE
            return _Column("bool" if isinstance(table[1], bool) else "text", table[values.view(np.uint8)].tolist(), missing)
        if kind in "iu":
            return _Column("int", values.tolist(), missing)
        return _Column("float", values.tolist(), missing)
    if isinstance(dtype, pd.CategoricalDtype):  # each category once
        categories = _column(pd.Series(series.cat.categories.to_numpy(dtype=object), dtype=object))
        cells = np.array(categories.spread(None) + [None], dtype=object)
        return _Column("mixed", cells[series.cat.codes.to_numpy()].tolist(), None)  # code -1: None
    if dtype.kind == "M" and isinstance(dtype, np.dtype):  # naive datetimes: isoformat() text
        values = series.to_numpy()
        missing = np.isnat(values)
        seconds = values.astype("datetime64[s]")
        if ((seconds == values) | missing).all() and (missing | ((seconds >= np.datetime64("0001-01-01T00:00:00"))
                                                             & (seconds <= np.datetime64("9999-12-31T23:59:59")))).all():
            texts = np.datetime_as_string(seconds[~missing], unit="s").tolist()
            return _Column("text", texts, missing if missing.any() else None, _SEP.join(texts))
    return _Column("mixed", [_cell(v) for v in series], None)


def _cell_column(series: pd.Series) -> list:
    """`_cell` of every value."""
    return _column(series).spread(None)


def _csv_texts(series: pd.Series) -> list[str]:
    """`_csv_text(_cell(v))` of every value, before quoting."""
    column = _column(series)
    kind, values = column.kind, column.values
    if kind == "text":
        return column.spread("")
    if kind == "float":
        return column.spread("", list(map(repr, values)))
    if kind == "bool":
        return column.spread("", ["True" if v else "False" for v in values])
    if kind == "int":
        return column.spread("", list(map(str, values)))
    return [_csv_text(v) for v in values]


def _csv_column(series: pd.Series) -> pa.Array:
    """The CSV field of every value, as written in a row among others (quoted when needed)."""
    return csv_rows.quoted(pa.array(_csv_texts(series), csv_rows.TEXT), _CRLF)


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


_FEW = 48  # distinct values of a column worth writing through `_coded`
_SAMPLE = 4_096  # a text column's first rows: mostly distinct there, its values are converted one by one


def _text_codes(series: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """(code of each row, -1 when missing; the distinct texts) of a column of text and missing
    values, by Arrow's hashing; None when some value is not text (written by its type, not as text)."""
    try:
        values = pa.array(series.array if isinstance(series.dtype, pd.StringDtype) else series.to_numpy(), from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # not all text (or text Arrow cannot hold)
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None  # no value was text (all missing, or numbers in an object column)
    encoded = pc.dictionary_encode(values)
    return pc.fill_null(encoded.indices, -1).to_numpy(), encoded.dictionary.to_pylist()


def _coded(series: pd.Series) -> tuple[np.ndarray, pa.Array] | None:
    """(code of each row, CSV field of each code; code len(fields) - 1 is missing) for a categorical
    column, a bool or integer column of few distinct values, or a text column whose values repeat (a
    household's id on each of its indicator rows, the same fact text for many households): each
    distinct value is converted once. None for other columns."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # each category once (code -1: missing)
        codes, uniques, dtype = series.cat.codes.to_numpy(), dtype.categories.to_numpy(dtype=object), np.dtype(object)
    elif isinstance(dtype, pd.StringDtype) or dtype == object:
        if len(series) > _SAMPLE and series.iloc[:_SAMPLE].nunique(dropna=False) > _SAMPLE * 3 // 4:
            return None  # mostly distinct at the top already
        found = _text_codes(series)
        if found is None or len(found[1]) > len(series) // 2:
            return None
        codes, uniques = found
    elif ((isinstance(dtype, np.dtype) and dtype.kind in "biu")
          or (isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biu" and hasattr(series.array, "_mask"))):
        if len(series) > 4 * _FEW and series.iloc[: 4 * _FEW].nunique(dropna=False) > _FEW:
            return None  # many distinct values at the top already
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        if len(uniques) > _FEW:
            return None
    else:
        return None
    fields = pa.concat_arrays([_csv_column(pd.Series(uniques, dtype=dtype)), pa.array([""], csv_rows.TEXT)])  # once per value
    return np.where(codes < 0, len(fields) - 1, codes), fields


def _csv_columns(table: pd.DataFrame) -> list[pa.Array]:
    """The CSV fields of every column (a column whose values repeat converted once per distinct value, see `_coded`)."""
    out = []
    for k in range(table.shape[1]):
        series = table.iloc[:, k]
        coded = _coded(series)
        out.append(_csv_column(series) if coded is None else coded[1].take(coded[0]))
    return out


def _cells_frame(table: pd.DataFrame) -> pd.DataFrame:
    """`table.map(_cell)` (same values and dtypes), without calling `_cell` on text columns."""
    out = {}
    for k in range(table.shape[1]):
        series = table.iloc[:, k]
        column = _column(series) if isinstance(series.dtype, pd.StringDtype) else None
        if column is not None and column.kind == "text" and column.missing is None:
            out[k] = pd.Series(column.values, index=series.index, dtype=series.dtype)
        elif series.dtype == "Int64" and len(series) and not series.hasnans:  # `_cell` gives the same ints
            out[k] = series.copy()
        else:
            out[k] = series.map(_cell)
    frame = pd.DataFrame(out, index=table.index)
    frame.columns = table.columns
    return frame


def csv_bytes(table: pd.DataFrame, header: bool = True) -> bytes:
    """UTF-8 with BOM, comma separated, CRLF line ends, neutralised text, empty for missing.

    Written as the csv module writes (QUOTE_MINIMAL, CRLF), a column at a time. Without `header`,
    only the rows (no BOM, no header line): a later part of a `CsvParts` file."""
    buffer = io.StringIO()
    if header:
        csv.writer(buffer, lineterminator="\r\n").writerow([_header(c) for c in table.columns])
    head = (b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")) if header else b""
    rows, ncols = len(table), table.shape[1]
    if not rows:
        return head
    if not ncols:  # rows without columns: one empty line each
        return head + b"\r\n" * rows
    return csv_rows.rows_bytes(_csv_columns(table), _CRLF, head)


@dataclass(frozen=True)
class CsvParts:
    """A table published as CSV, produced and written a part (some rows) at a time, so a province's
    tables of millions of rows are never held whole, neither as a table nor as bytes.

    Part k is `table(*pieces[k])`; all parts have the same columns and there is at least one (it
    may be empty). The file is byte for byte `csv_bytes` of the parts concatenated. `table` is a
    module-level function: with `workers` > 1 the parts are made and converted in worker processes,
    a few at a time, and written in order."""

    table: Callable[..., pd.DataFrame]
    pieces: Sequence[tuple]  # may make each piece when asked (`RowPieces`): only those being written exist

    @classmethod
    def rows_of(cls, table: pd.DataFrame, rows: int = 100_000) -> CsvParts:
        """`table` as it is, written `rows` rows at a time: byte for byte `csv_bytes(table)`, without
        its whole text (several times the table's size as Python strings) ever held."""
        return cls(_as_it_is, RowPieces(table, rows))

    def write(self, path: Path, workers: int = 1, pool: Pool | None = None) -> str:
        """Write the file; return its SHA-256 (hex), worked out as the parts arrive: while the
        workers make the next parts, not by reading a province's gigabytes back afterwards."""
        if not self.pieces:
            raise ValueError(f"{path.name}: no part to write, not even the header")
        jobs = _PartJobs(self)
        digest = hashlib.sha256()
        with open(path, "wb") as fh:
            for data in stream_parts(_part_csv, jobs, workers, pool):
                fh.write(data)
                digest.update(data)
                del data
            fh.flush()
            os.fsync(fh.fileno())
        # the parts' text, freed in the heap, goes back once the file is written: trimming a province's
        # heap after every part cost ~4 s at a million households, and a part's text is reused by the next
        release_freed_memory()
        return digest.hexdigest()


class RowPieces(Sequence):
    """Pieces of `rows` rows of `table` (in the order of the positions `order`, else as it is), each
    taken only when asked; piece k is `(rows k, *extra)`. At least one piece, empty for an empty table."""

    def __init__(self, table: pd.DataFrame, rows: int, order: np.ndarray | None = None, extra: tuple = ()):
        self.table, self.rows, self.order, self.extra = table, rows, order, extra

    def __len__(self) -> int:
        return max(1, -(-len(self.table) // self.rows))

    def __getitem__(self, k: int) -> tuple:
        if not 0 <= k < len(self):
            raise IndexError(k)
        span = slice(k * self.rows, (k + 1) * self.rows)
        return (self.table.iloc[span] if self.order is None else self.table.take(self.order[span]), *self.extra)


class _PartJobs(Sequence):
    """The jobs writing a `CsvParts` file, made one at a time as the workers take them."""

    def __init__(self, parts: CsvParts):
        self.parts = parts

    def __len__(self) -> int:
        return len(self.parts.pieces)

    def __getitem__(self, k: int) -> tuple:
        return (self.parts.table, k == 0, *self.parts.pieces[k])


def _as_it_is(table: pd.DataFrame) -> pd.DataFrame:
    return table


def _part_csv(table: Callable[..., pd.DataFrame], header: bool, *piece) -> bytes:
    """One part of a `CsvParts` file, as bytes (run in a worker process for a province)."""
    return csv_bytes(table(*piece), header=header)


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


def _wrapped_lines(series: pd.Series, width: int) -> np.ndarray:
    """Lines each raw value of a wrapped column takes at `width` characters (0 for None and NaN)."""
    found = _texts_of(series)
    if found is not None and found[1] is None:  # text only: str() of each is itself
        lengths = np.fromiter(map(len, found[0]), dtype=np.int64, count=len(found[0]))
    else:
        lengths = np.array([0 if v is None or (isinstance(v, float) and math.isnan(v)) else len(str(v)) for v in series],
                           dtype=np.int64)
    return -(-lengths // width)


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


def _within_excel(sheets: list[_Sheet]) -> list[_Sheet]:
    """The sheets, a table of more than `_SHEET_DATA_ROWS` rows continued on sheets of its own
    ("<name> (2)", its title marked as continued), so that a sheet never runs past Excel's last row
    (xlsxwriter would drop the rows below it without a word). The CSV beside it is one file."""
    out: list[_Sheet] = []
    for sheet in sheets:
        starts = range(0, len(sheet.table), _SHEET_DATA_ROWS) if sheet.chart is None and len(sheet.table) else range(1)
        for part, start in enumerate(starts, start=1):
            out.append(sheet if len(starts) <= 1 else replace(
                sheet, title=sheet.title if part == 1 else f"{sheet.title} (TIẾP THEO, PHẦN {part})",
                table=sheet.table.iloc[start:start + _SHEET_DATA_ROWS]))
    return [replace(s, name=name) for s, name in zip(out, _sheet_names([s.name for s in out]))]  # "<name> (2)" …


def write_xlsx(path: Path, sheets: list[_Sheet], heading: PublicationHeading) -> None:
    """One workbook, one printable sheet per table (A4 landscape, one page wide); a table too long
    for one sheet continues on the next (`_within_excel`).

    xlsxwriter lays out every sheet (heading, header row, widths, signatures, print setup, charts).
    The data rows of a sheet without a chart are not handed to it cell by cell (microseconds and a
    stored tuple per cell: minutes and gigabytes for a million households) but rendered as XML a
    block of rows at a time (`_DataRows`) and put into the sheet's part when the workbook is zipped
    (`_zip_with_rows`). A chart caches the values of the cells it plots, which xlsxwriter only
    knows when it holds them: the data rows of a sheet with a chart are written through it.
    """
    skeleton = io.BytesIO()
    wb = xlsxwriter.Workbook(
        skeleton,
        {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
         "nan_inf_to_errors": False, "in_memory": True},
    )
    streamed: dict[str, _DataRows] = {}  # sheet part in the zip -> its data rows
    sheets = _within_excel(sheets)
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
        formats = _CellFormats(
            text=wb.add_format({"border": 1, "valign": "top"}),
            wrap=wb.add_format({"border": 1, "valign": "top", "text_wrap": True}),
            int=wb.add_format({"border": 1, "valign": "top", "num_format": "0"}),
            money=wb.add_format({"border": 1, "valign": "top", "num_format": "#,##0"}),
            float=wb.add_format({"border": 1, "valign": "top", "num_format": "0.00"}),
        )
        f_date = wb.add_format({"italic": True, "align": "center"})
        f_sign = wb.add_format({"bold": True, "align": "center"})
        f_sign_note = wb.add_format({"italic": True, "align": "center"})

        for index, sheet in enumerate(sheets, start=1):
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

            # Data, converted a column at a time
            data = []
            for c in range(ncols):
                column = _column(table.iloc[:, c])
                money = columns[c] == MONEY_HEADER
                widths[c] = max(widths[c], _data_width(column, money))
                data.append(_DataColumn(column.spread(None), column.kind, money, c in wrap_cols))
            row = header_row + 1 + len(table)

            final = [min(max(widths[c], 4) + 2, 60 if c in wrap_cols else 45) for c in range(ncols)]
            for c, width in enumerate(final):
                ws.set_column(c, c, width)
            # Spreadsheet programs do not grow rows for wrapped text written by xlsxwriter: size them here.
            lines = np.ones(len(table), dtype=np.int64)
            for c in sorted(wrap_cols):
                lines = np.maximum(lines, _wrapped_lines(table.iloc[:, c], max(final[c] - 3, 1)))
            heights = [15 * n for n in lines.tolist()]  # points
            if sheet.chart is None and len(table):
                streamed[f"xl/worksheets/sheet{index}.xml"] = _DataRows(header_row, data, heights, _styles(formats))
            else:
                _write_cells(ws, header_row, data, heights, formats)
                if sheet.chart is not None:
                    _add_chart(wb, ws, sheet, header_row, len(columns))

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
    if streamed:
        _zip_with_rows(skeleton.getvalue(), streamed, path)
        _fsync_file(path)
    else:
        _fsync_write(path, skeleton.getvalue())


@dataclass(frozen=True)
class _CellFormats:
    """The data cells' formats: text, wrapped text, integer, money and decimal numbers."""

    text: Any
    wrap: Any
    int: Any
    money: Any
    float: Any


@dataclass(frozen=True)
class _DataColumn:
    """A column's cells as `_cell` gives them (None: blank) and how they are formatted."""

    values: list
    kind: str  # as `_Column.kind`: text, int, float (one type for every non-blank cell), bool or mixed
    money: bool
    wrap: bool


def _data_width(column: _Column, money: bool) -> int:
    """Characters the widest cell of the column shows."""
    values = column.values
    if column.kind == "text":
        return max(map(len, values), default=0)
    if column.kind == "int":
        return max(map(len, map(("{:,}" if money else "{}").format, values)), default=0)
    if column.kind == "float":
        return max(map(len, map("{:.2f}".format, values)), default=0)
    return max((_display_len(v, money) for v in values), default=0)  # bool or mixed: value by value


def _cell_format(value: Any, column: _DataColumn, formats: _CellFormats):
    """The format of one non-blank cell (booleans as text)."""
    if isinstance(value, bool):
        return formats.text
    if isinstance(value, int):
        return formats.money if column.money else formats.int
    if isinstance(value, float):
        return formats.money if column.money else formats.float
    return formats.wrap if column.wrap else formats.text


def _write_cells(ws, header_row: int, data: list[_DataColumn], heights: list[int], formats: _CellFormats) -> None:
    """The data rows through xlsxwriter, cell by cell (a sheet with a chart)."""
    for r, height in enumerate(heights, start=header_row + 1):
        if height > 15:
            ws.set_row(r, height)
    for c, column in enumerate(data):
        for r, value in enumerate(column.values, start=header_row + 1):
            if value is None:
                ws.write_blank(r, c, None, formats.text)
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value, formats.text)
            elif isinstance(value, (int, float)):
                ws.write_number(r, c, value, _cell_format(value, column, formats))
            else:
                ws.write_string(r, c, value, _cell_format(value, column, formats))


_EXCEL_ROWS = 1_048_576  # rows of a sheet; xlsxwriter drops cells below
_SHEET_DATA_ROWS = 1_000_000  # data rows of one sheet: Excel's rows less the heading and signature blocks, rounded down
_STRING_MAX = 32_767  # UTF-16 units of a cell's text; xlsxwriter truncates longer text
_ROWS_AT_ONCE = 20_000  # data rows rendered as XML at a time
_ESCAPED_ESCAPE = re.compile("(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile("[\x01-\x08\x0b-\x1f]")  # \x00 apart: it joins a column's texts
_FIRST, _LAST = operator.itemgetter(slice(None, 1)), operator.itemgetter(slice(-1, None))


def _truncated(text: str) -> str:
    """The text cut to `_STRING_MAX` UTF-16 units, as xlsxwriter cuts it."""
    if len(text) <= _STRING_MAX // 2 or len(text.encode("utf-16-le", "surrogatepass")) // 2 <= _STRING_MAX:
        return text
    length = 0
    for index, char in enumerate(text):
        length += 2 if ord(char) > 0xFFFF else 1
        if length > _STRING_MAX:
            return text[:index]
    return text


def _xml_escape(text: str) -> str:
    """Text as xlsxwriter escapes a cell's text (& < > as entities; control characters, U+FFFE and
    U+FFFF as _xHHHH_, after escaping the underscore of text already reading like one). Works as
    well on texts joined by `_SEP`, which it leaves alone."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "_x" in text:
        text = _ESCAPED_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    return text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")


def _inline_strings(texts: list[str], style: int) -> list[str]:
    """The texts as the XML of inline-string cells after `<c r="A1"`, as xlsxwriter's constant_memory
    mode writes them; escaped a column at a time, as one text."""
    if max(map(len, texts), default=0) > _STRING_MAX // 2:
        texts = [_truncated(t) for t in texts]
    joined = _SEP.join(texts)
    if joined.count(_SEP) != len(texts) - (1 if texts else 0):  # a text holds \x00 itself
        texts = [_xml_escape(t).replace(_SEP, "_x0000_") for t in texts]
    else:
        escaped = _xml_escape(joined)
        if len(escaped) != len(joined):  # escaping only lengthens
            texts = escaped.split(_SEP)
    plain, spaced = f' s="{style}" t="inlineStr"><is><t>', f' s="{style}" t="inlineStr"><is><t xml:space="preserve">'
    edges = set(map(_FIRST, texts)) | set(map(_LAST, texts))
    if not any(c.isspace() for c in edges):
        return [plain + t + "</t></is></c>" for t in texts]
    # leading or trailing whitespace is kept only when marked (as xlsxwriter marks it)
    return [(spaced if t[:1].isspace() or t[-1:].isspace() else plain) + t + "</t></is></c>" for t in texts]


def _numbers(values: list, style: int) -> list[str]:
    """Numbers as the XML of number cells after `<c r="A1"` (xlsxwriter's ``%.16G``)."""
    if values and all(type(v) is int for v in values) and max(map(abs, values)) < 10**16:
        texts = list(map(str, values))  # the same digits as %.16G, faster
    else:
        texts = [format(v, ".16G") for v in values]
    head = f' s="{style}"><v>'
    return [head + t + "</v></c>" for t in texts]


@dataclass(frozen=True)
class _DataRows:
    """A sheet's data rows (below its header row) to be rendered as the XML of its part."""

    header_row: int
    columns: list[_DataColumn]
    heights: list[int]  # points, one per row; 15 is the default height
    styles: dict[str, int]  # `_CellFormats` field -> the format's index in the workbook's styles

    def write(self, fh) -> None:
        """Render the rows as UTF-8 XML into `fh`, a block of rows at a time."""
        first = self.header_row + 1
        count = min(len(self.heights), _EXCEL_ROWS - first)
        row = '<row r="%d"%s>' + "".join(f'<c r="{xl_col_to_name(c)}%d"%s' for c in range(len(self.columns))) + "</row>"
        for start in range(0, count, _ROWS_AT_ONCE):
            stop = min(start + _ROWS_AT_ONCE, count)
            numbers = range(first + 1 + start, first + 1 + stop)  # 1-based, as in the XML
            cells = [self._cells(column, column.values[start:stop], self.styles) for column in self.columns]
            block = self.heights[start:stop]
            attributes = {h: _row_height(h) for h in set(block)}  # few distinct heights
            heights = [attributes[h] for h in block]
            args = [numbers, heights]
            for column in cells:
                args += [numbers, column]
            fh.write("".join(map(row.__mod__, zip(*args))).encode("utf-8"))

    @staticmethod
    def _cells(column: _DataColumn, values: list, style: dict[str, int]) -> list[str]:
        """Each value's cell XML after `<c r="A1"`: blank cells as text-formatted blanks."""
        blank = f' s="{style["text"]}"/>'
        present = [v for v in values if v is not None]
        if column.kind == "text":
            xml = _inline_strings(present, style["wrap" if column.wrap else "text"])
        elif column.kind in ("int", "float"):
            xml = _numbers(present, style["money" if column.money else column.kind])
        else:  # bool or mixed: value by value
            xml = [_one_cell(v, column, style) for v in present]
        if len(present) == len(values):
            return xml
        out = np.full(len(values), blank, dtype=object)
        out[np.array([v is not None for v in values])] = np.array(xml, dtype=object)
        return out.tolist()


def _styles(formats: _CellFormats) -> dict[str, int]:
    """Each data format's index in the workbook's styles: fixed now, before the workbook is closed,
    so that xlsxwriter writes every one of them into the styles part."""
    return {name: getattr(formats, name)._get_xf_index() for name in ("text", "wrap", "int", "money", "float")}


def _one_cell(value: Any, column: _DataColumn, style: dict[str, int]) -> str:
    if isinstance(value, bool):
        return f' s="{style["text"]}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return _numbers([value], style["money" if column.money else "int"])[0]
    if isinstance(value, float):
        return _numbers([value], style["money" if column.money else "float"])[0]
    return _inline_strings([value], style["wrap" if column.wrap else "text"])[0]


def _row_height(points: int) -> str:
    """The row's height attributes as xlsxwriter's set_row writes them (none for the default)."""
    if points == 15:
        return ""
    pixels = int(points * 4.0 / 3.0 + 0.5)
    return f' ht="{pixels * 0.75:.16g}" customHeight="1"'


def _zip_with_rows(skeleton: bytes, streamed: Mapping[str, _DataRows], path: Path) -> None:
    """The workbook xlsxwriter made, with each streamed sheet's data rows put after its header row.

    The rows' XML goes to a temporary file beside `path` first: its size decides whether the zip
    entry needs ZIP64, and it is never held whole in memory."""
    import tempfile
    import zipfile

    with zipfile.ZipFile(io.BytesIO(skeleton)) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            rows = streamed.get(info.filename)
            if rows is None:
                target.writestr(info, part)
                continue
            start = part.find(f'<row r="{rows.header_row + 1}"'.encode())
            end = part.find(b"</row>", max(start, 0))
            if start < 0 or end < 0:
                raise RuntimeError(f"{info.filename}: header row not found in xlsxwriter's XML")
            cut = end + len(b"</row>")
            with tempfile.TemporaryFile(dir=path.parent) as xml:
                rows.write(xml)
                info.file_size = len(part) + xml.tell()
                xml.seek(0)
                with target.open(info, "w") as out:
                    out.write(part[:cut])
                    shutil.copyfileobj(xml, out, 1 << 20)
                    out.write(part[cut:])


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
            candidate = base[: 31 - len(suffix)].rstrip() + suffix
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
        pdf = posting_pdf(_cells_frame(table), authority=heading.authority, title=_titled(name, heading.reference_year), place=place,
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
    pairs = pd.DataFrame({"code": np.array(_text_column(classified["hamlet"]), dtype=object),
                          "name": np.array(_text_column(classified["hamlet_name"]), dtype=object)})
    first = pairs.drop_duplicates("code", keep="first")  # each code with the name of its first row
    for code_s, name in zip(first["code"].tolist(), first["name"].tolist()):
        if code_s and code_s not in found:
            found[code_s] = name
    if hamlets:
        for code, name in hamlets.items():
            found.setdefault(str(code), _nfc(str(name)))
    for code in found:
        if not _SAFE_NAME.match(code):
            raise ValueError(f"hamlet code {code!r} cannot name a folder")
    return dict(sorted(found.items()))


PARALLEL_FROM = 60_000  # households from which the list files are written by worker processes


def _write_lists(root: Path, classified: pd.DataFrame, heading: PublicationHeading, hamlets: Mapping[str, str] | None,
                 pool: Pool | None) -> None:
    """Every list file, the commune's in commune/ then each hamlet's in hamlets/<code>/: laid out here
    and written by `_write_list`, in worker processes for a province-sized run (independent files,
    the same bytes). Each list is laid out as the workers take it: they write the commune's first ones
    while the posted lists' redactions and the hamlets' lists are made."""
    ordered, ordered_hamlets = _sorted_keyed(classified)
    hamlet_root = root / "hamlets"
    hamlet_root.mkdir()
    folders = {code: (hamlet_root / code, name) for code, name in _hamlets_of(classified, hamlets).items()}
    for folder, _ in folders.values():
        folder.mkdir()

    def writes() -> Iterator[tuple]:
        lists = _officer_lists(ordered)
        yield from ((root / "commune", name, table, heading, _place(heading)) for name, table in lists.items())
        posted = _posting_lists(ordered, _posted_secrets(ordered, _secrets_of(classified)))
        yield from ((root / "commune", name, table, heading, _place(heading)) for name, table in posted.items())
        lists.update(posted)
        spans: dict[str, tuple[int, int]] = {}  # hamlet code -> its rows in `ordered` (sorted by code first)
        start = 0
        for code, run in itertools.groupby(ordered_hamlets):
            size = sum(1 for _ in run)
            spans[code] = (start, start + size)
            start += size
        # A hamlet's list is what all_lists(its rows) gives: the rows of its span in the commune's list of the
        # class (row by row the same cells), numbered from 1. Rows of a class before each row of `ordered`:
        classes = ordered["household_class"].to_numpy(dtype=object)
        before = {name: np.r_[0, np.cumsum(classes == cls)] for name, cls in {**_OFFICER_LISTS, **_POSTING_LISTS}.items()}
        for code, (folder, hamlet_name) in folders.items():
            first, stop = spans.get(code, (0, 0))
            yield from ((folder, name, _numbered(table.iloc[before[name][first]:before[name][stop]]), heading,
                         _place(heading, hamlet_name)) for name, table in lists.items())

    run_parts(_write_list, writes(), 1, pool)


def _numbered(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of a list as a list of their own: STT from 1."""
    return rows.reset_index(drop=True).assign(STT=pd.array(range(1, len(rows) + 1), dtype="Int64"))


def _write_all(root: Path, classified: pd.DataFrame, tables: Mapping[str, pd.DataFrame],
               heading: PublicationHeading, manifest: Mapping[str, Any], publication_id: str,
               hamlets: Mapping[str, str] | None, extra: Mapping[str, bytes | CsvParts] | None = None,
               charts: Mapping[str, ChartSpec] | None = None) -> None:
    commune = root / "commune"
    commune.mkdir()
    _check_columns(classified)
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
    # one set of worker processes (a province: from PARALLEL_FROM households) for the lists and the large files
    with worker_pool(workers_for(len(classified), PARALLEL_FROM), warm=__name__) as pool:
        _write_lists(root, classified, heading, hamlets, pool)  # its tables are let go before the large files below
        digests: dict[Path, str] = {}  # the large files' digests, worked out as they were written
        for relative, data in sorted((extra or {}).items()):
            target = root / relative
            if target.exists():
                raise ValueError(f"extra file {relative!r} would replace a file of the publication")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, CsvParts):
                digests[target] = data.write(target, pool=pool)
            else:
                _fsync_write(target, data)

    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = digests.get(path)
        if digest is None:
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        files.append({"path": path.relative_to(root).as_posix(), "sha256": digest, "bytes": path.stat().st_size})
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
    files: Mapping[str, bytes | CsvParts] | None = None,
    charts: Mapping[str, ChartSpec] | None = None,
) -> Path:
    """Write the publication atomically and make it current; return its folder.

    Everything is written to ``<publications_dir>/.incoming-<id>-<random>/``, fsynced, renamed to
    ``<publications_dir>/<id>/``, then ``current`` (symlink) and ``CURRENT`` (text) are
    replaced atomically. On any failure before the rename the incoming folder is removed and
    the error re-raised; the previous publication stays current.

    `hamlets` (code -> name) adds hamlets with no reviewed households, so each still gets its
    folder of header-only lists; by default the hamlets are those in `classified`.

    `files` (relative path such as ``commune/households.csv`` -> bytes, or `CsvParts` for a table
    too large to hold as bytes) adds files the caller rendered; they are written inside the same
    atomic folder and listed in the manifest. Their content is the caller's: render CSV with
    `csv_bytes` and workbooks with text neutralised.
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
    extra = {_extra_path(name): data if isinstance(data, CsvParts) else bytes(data) for name, data in (files or {}).items()}

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
