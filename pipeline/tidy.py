"""Raw submissions → tidy tables: one row per household, one row per member, typed, NFC text.

Works on both payload formats Central hands out (OData JSON and the CSV export), guided by the
questionnaire so that a field's name, group path and type come from one place. Anything that
cannot be read becomes a row of the issues table instead of an exception; a submission whose
payload cannot be read at all still gets a household row (`readable` = False) so that the
checks quarantine it with a reason and no submission is ever lost (in = kept + quarantined).

Normalisation: text is NFC with control characters removed (reported) and single spaces;
names are capitalised word by word; choice codes are matched ignoring case, spaces and dashes
(``a01`` → ``A01``, ``Yes`` → ``yes``); answers the form types with the ``numbers`` appearance
(CCCD, phone) lose spaces, dots and dashes, and a phone written ``+84…``/``84…`` gets its
leading ``0`` back when the form's pattern starts with ``0``.

Issue rows name a member by its `member` position (1-based, as listed on the phone) so an
officer can address it in a correction as ``member[<position>].<field>``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import orjson
import pandas as pd

from rasoat.forms import Field, Questionnaire
from rasoat.pipeline import odata_columns
from rasoat.pipeline.cycles import no_cycle_collection
from rasoat.pipeline.schemas import field_rules
from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA, KOBO_JSON

ISSUE_COLUMNS = [
    "submission_id", "household_id", "hamlet", "enumerator", "field", "member", "value", "rule", "severity", "message",
]
ERROR, WARNING = "error", "warning"
NAME_FIELDS = ("head_name", "member_name")
INCOME_COST_FIELD = "production_costs"
MAX_TEXT = 500  # longer text is cut and reported: no field of the form needs more
MAX_NUMBER = 1e15  # larger amounts are typing accidents (and would overflow the integer columns)
META_COLUMNS = ["submission_id", "instance_id", "form_version", "submitted_at", "review_state"]

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NUMBER_SEPARATORS = re.compile(r"[\s.\-()]")
_CHOICE_KEY = re.compile(r"[\s\-_.]")
_SCALARS = (str, int, float, bool)
_SCALAR_TYPES = frozenset(_SCALARS)
# What a well-formed answer list holds; the readers make tuples only of geopoint answers.
_PLAIN_TYPES = frozenset({*_SCALARS, type(None), tuple})


@dataclass(frozen=True)
class TidyTables:
    households: pd.DataFrame  # one row per submission (its current version); `readable` False = payload unreadable
    members: pd.DataFrame  # one row per member, `submission_id` links to households, `position` 1-based
    issues: pd.DataFrame  # ISSUE_COLUMNS
    # `fingerprints.answer_fingerprint` per household (indexed like `households`) when worked out
    # with the tidying, as a province's workers do; None: the quality signals work them out
    fingerprints: pd.Series | None = None


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def clean_text(value: Any) -> str | None:
    """NFC, no control characters, single spaces; None for empty."""
    if type(value) is str and value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " " \
            and unicodedata.is_normalized("NFC", value):
        return value or None  # already clean: every other space or control character is unprintable
    if _missing(value):
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = _SPACES.sub(" ", _CONTROL.sub("", text)).strip()
    return text or None


def clean_name(value: Any) -> str | None:
    """A person's name as written on the lists: NFC, single spaces, each word capitalised."""
    text = clean_text(value)
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split(" ")) if text else None


def fold(value: Any) -> str | None:
    """Text compared without accents or case: NFD, combining marks dropped, đ → d, casefolded."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return text.casefold()


def clean_digits(value: Any, leading_zero: bool = False) -> str | None:
    """A number typed as text (CCCD, phone): separators removed; +84/84 → 0 when `leading_zero`."""
    text = clean_text(value)
    if text is None:
        return None
    digits = _NUMBER_SEPARATORS.sub("", text)
    if leading_zero:
        if digits.startswith("+84"):
            digits = "0" + digits[3:]
        elif digits.startswith("0084"):
            digits = "0" + digits[4:]
        elif digits.startswith("84") and len(digits) == 11:
            digits = "0" + digits[2:]
    return digits or None


def income_source_fields(questionnaire: Questionnaire) -> list[str]:
    return [f.name for f in questionnaire.household_fields
            if f.groups[:1] == ("income",) and f.name != INCOME_COST_FIELD and f.type in ("integer", "decimal")]


def as_text(series: pd.Series) -> pd.Series:
    """Each value as text, "" for missing (pandas' astype(str) keeps NaN in its string dtype)."""
    return per_value(series.astype(object), _text_or_empty)


def _text_or_empty(value: Any) -> str:
    return "" if _missing(value) else str(value)


def parse_times(values: pd.Series, utc: bool = True) -> pd.Series:
    """Timestamps (NaT when unreadable): ISO 8601, as ODK writes them, parsed in one vectorised pass;
    only what that misses is tried in any other format, value by value (slow, and rare)."""
    values = values.astype(object)
    unit = "datetime64[us, UTC]" if utc else "datetime64[us]"
    out = _to_datetime(values, utc, "ISO8601")
    retry = (out.isna() & values.notna()).to_numpy(dtype=bool)
    if retry.any():  # microseconds: any year a phone can send fits (nanoseconds end at 1677 and 2262)
        out = out.astype(unit)
        redo = _to_datetime(values[retry], utc, "mixed")
        try:
            out[retry] = redo.astype(unit)
        except (pd.errors.OutOfBoundsDatetime, OverflowError):  # a year beyond any calendar: unreadable
            out[retry] = pd.NaT
    # pandas reads "-0002-03-04" and "0000-01-01" as years before 1, which no calendar date (Python's
    # `date`, a spreadsheet) can hold: unreadable too
    before_one = (out.dt.year < 1).to_numpy(dtype=bool, na_value=False)
    if before_one.any():
        out = out.astype(unit)
        out[before_one] = pd.NaT
    return out


def _to_datetime(values: pd.Series, utc: bool, format: str) -> pd.Series:
    """`pd.to_datetime` (unreadable: NaT). Without `utc`, pandas refuses values with a time zone among
    values without one: then each is read alone and keeps its own wall time, its offset dropped
    (a date answered "2026-03-16T10:00:00+07:00" is 16 March)."""
    try:
        return pd.to_datetime(values, errors="coerce", utc=utc, format=format)
    except ValueError:
        if utc:
            raise
    each = [pd.to_datetime(v, errors="coerce", format=format) for v in values]
    return pd.Series([t.tz_localize(None) if not pd.isna(t) and t.tzinfo is not None else t for t in each],
                     index=values.index, dtype="datetime64[us]")


def issue_value(value: Any) -> str | None:
    """A value as shown in an issue row: at most 100 characters, control characters visible as �."""
    if _missing(value):
        return None
    return _CONTROL.sub("\ufffd", str(value))[:100]


# --- reading one payload -------------------------------------------------------------------


def _loads(payload: Any) -> Any:
    """JSON text → Python; orjson for speed, the standard library for what orjson refuses
    (NaN and Infinity literals, integers beyond 64 bits), so both read the same payloads."""
    try:
        return orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError):
        return json.loads(payload)


def _odata_geopoint(value: Any) -> Any:
    """A geopoint as (lat, lon): GeoJSON {"coordinates": [lon, lat, …]} or "lat lon alt acc" as the XML has it."""
    if isinstance(value, dict):
        coords = value.get("coordinates")
        return (coords[1], coords[0]) if isinstance(coords, list) and len(coords) >= 2 else value
    if isinstance(value, str):
        parts = value.split()
        return (parts[0], parts[1]) if len(parts) >= 2 else value
    return value


def _csv_value(row: dict, f: Field) -> Any:
    column = "-".join((*f.groups, f.name))
    if f.type == "geopoint":
        lat, lon = row.get(f"{column}-Latitude"), row.get(f"{column}-Longitude")
        return (lat, lon) if lat not in (None, "") and lon not in (None, "") else None
    value = row.get(column)
    return None if value == "" else value


def _sections(fields: Iterable[Field]) -> dict[str, list[Field]]:
    out: dict[str, list[Field]] = {}
    for f in fields:
        if f.groups:
            out.setdefault(f.groups[0], []).append(f)
    return out


@dataclass(frozen=True)
class _ReadPlan:
    """What reading a payload needs from the questionnaire, worked out once per questionnaire."""

    sections: tuple[str, ...]  # the household-level groups
    household_groups: tuple[tuple[tuple[str, ...], tuple[tuple[int, str], ...]], ...]  # OData: (group path, ((index, name), ...))
    member_groups: tuple[tuple[tuple[str, ...], tuple[tuple[int, str], ...]], ...]
    household_geopoints: tuple[int, ...]  # indexes of geopoint fields
    member_geopoints: tuple[int, ...]


def _groups(fields: tuple[Field, ...]) -> tuple:
    by_path: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for index, f in enumerate(fields):
        by_path.setdefault(f.groups, []).append((index, f.name))
    return tuple((path, tuple(items)) for path, items in by_path.items())


_PLANS: dict[int, tuple[Questionnaire, _ReadPlan]] = {}


def _read_plan(questionnaire: Questionnaire) -> _ReadPlan:
    known = _PLANS.get(id(questionnaire))
    if known is None or known[0] is not questionnaire:
        if len(_PLANS) > 8:  # a long-lived process (portal, scheduler) builds one per run
            _PLANS.clear()
        hh, mem = questionnaire.household_fields, questionnaire.member_fields
        plan = _ReadPlan(tuple(_sections(hh)), _groups(hh), _groups(mem),
                         tuple(i for i, f in enumerate(hh) if f.type == "geopoint"), tuple(i for i, f in enumerate(mem) if f.type == "geopoint"))
        known = _PLANS[id(questionnaire)] = (questionnaire, plan)
    return known[1]


def _odata_values(record: dict, groups: tuple, count: int) -> list:
    """The answers of one OData record in field order, each group's object looked up once."""
    values: list = [None] * count
    for path, items in groups:
        node: Any = record
        for key in path:
            node = node.get(key) if type(node) is dict else None
        if type(node) is dict:
            get = node.get
            for index, name in items:
                values[index] = get(name)
    return values


def _answers(values: list, fields: tuple[Field, ...], problems: list[dict], position: int | None,
             geopoints: tuple[int, ...]) -> list:
    """`values` (one per field) with only single values kept (see `_scalar`), changed in place.
    `geopoints`: the indexes of the geopoint fields, whose (lat, lon) pairs are always checked."""
    if _PLAIN_TYPES.issuperset(map(type, values)):  # the usual answer list: only geopoints need a look
        for i in geopoints:
            if values[i] is not None:
                values[i] = _scalar(values[i], fields[i], problems, position)
        return values
    for i, (f, value) in enumerate(zip(fields, values)):
        if value is not None and (type(value) not in _SCALAR_TYPES or f.type == "geopoint"):
            values[i] = _scalar(value, f, problems, position)
    return values


def _problem(field: str, value: Any, rule: str, severity: str, message: str, member: int | None = None) -> dict:
    return {"field": field, "member": member, "value": issue_value(value), "rule": rule, "severity": severity, "message": message}


def read_payload(payload_format: str, payload: Any, questionnaire: Questionnaire) -> tuple[list, list[list], list[dict]]:
    """(household answers, member answers, problems), values as they came, in the order of the
    questionnaire's household and member fields (lists, not dicts: a million rows are built from them).

    Each member's list ends with its `position` in the submitted list. Problems (dicts with field,
    member, value, rule, severity, message) report what was not where the form puts it: missing
    sections, a member list that is not a list, members that are not records, answers that are
    records or lists instead of single values. Raises ValueError/TypeError when the payload as a
    whole cannot be read.
    """
    data = _loads(payload)
    if not isinstance(data, dict):
        raise TypeError("the payload is not a record")
    problems: list[dict] = []
    repeat = questionnaire.member_repeat
    if payload_format == CENTRAL_ODATA:
        get, root = None, data
        rows = data.get(repeat)
        repeat_present = repeat in data
        present = lambda group: group in data  # noqa: E731
    elif payload_format == CENTRAL_CSV:
        get, root = _csv_value, data.get("row")
        if not isinstance(root, dict):
            raise TypeError("the CSV row is not a record")
        repeats = data.get("repeats")
        rows = repeats.get(repeat) if isinstance(repeats, dict) else None
        repeat_present = isinstance(repeats, dict) and repeat in repeats
        present = lambda group: any(k == group or str(k).startswith(group + "-") for k in root)  # noqa: E731
    elif payload_format == KOBO_JSON:  # KoboToolbox: flat "group/field" keys; a repeat is a list of such records
        root = data
        repeat_key = next((k for k in data if k == repeat or str(k).endswith("/" + repeat)), repeat)
        rows = data.get(repeat_key)
        repeat_present = repeat_key in data
        tails: dict[int, dict] = {}

        def get(record: dict, f: Field) -> Any:
            prefix = repeat_key + "/" if record is not root else ""
            path = "/".join((*f.groups, f.name))
            value = record.get(prefix + path, record.get(path))
            if value is None:  # a group path Kobo wrote differently: match the field name at the end
                if id(record) not in tails:
                    tails[id(record)] = {str(k).rsplit("/", 1)[-1]: v for k, v in record.items() if "/" in str(k)}
                value = tails[id(record)].get(f.name)
            if f.type == "geopoint" and isinstance(value, str):
                parts = value.split()
                return (parts[0], parts[1]) if len(parts) >= 2 else value
            return value

        present = lambda group: any(k == group or str(k).startswith(group + "/") for k in root)  # noqa: E731
    else:
        raise ValueError(f"unknown payload format {payload_format!r}")

    plan = _read_plan(questionnaire)
    for group in plan.sections:
        if not present(group):
            problems.append(_problem(group, None, "missing_section", WARNING, f"thiếu cả phần '{group}' trong bản ghi"))
    if not repeat_present:
        problems.append(_problem(repeat, None, "missing_section", WARNING, f"thiếu danh sách '{repeat}' trong bản ghi"))
    if rows is None:
        rows = []
    elif not isinstance(rows, list):
        problems.append(_problem(repeat, rows, "bad_member_list", ERROR, "danh sách thành viên không đúng dạng"))
        rows = []

    household_fields, member_fields = questionnaire.household_fields, questionnaire.member_fields
    if payload_format == CENTRAL_ODATA:
        def values_of(record: dict, fields: tuple[Field, ...]) -> list:
            household = fields is household_fields
            values = _odata_values(record, plan.household_groups if household else plan.member_groups, len(fields))
            for index in plan.household_geopoints if household else plan.member_geopoints:
                values[index] = _odata_geopoint(values[index])
            return values
    else:
        def values_of(record: dict, fields: tuple[Field, ...]) -> list:
            return [get(record, f) for f in fields]

    household = _answers(values_of(root, household_fields), household_fields, problems, None, plan.household_geopoints)
    members = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            problems.append(_problem(repeat, row, "bad_member_row", ERROR, "thành viên không đúng dạng bản ghi", position))
            continue
        member = _answers(values_of(row, member_fields), member_fields, problems, position, plan.member_geopoints)
        member.append(position)
        members.append(member)
    return household, members, problems


def _scalar(value: Any, f: Field, problems: list[dict], position: int | None) -> Any:
    """A single answer, or None with a `wrong_shape` problem for records, lists and the like."""
    if value is None:
        return None
    if type(value) in _SCALAR_TYPES and f.type != "geopoint":
        return value
    if f.type == "geopoint":
        if isinstance(value, tuple) and len(value) == 2 and all(v is None or isinstance(v, _SCALARS) for v in value):
            return value
    elif isinstance(value, _SCALARS):
        return value
    problems.append(_problem(f.name, value if isinstance(value, (str, int, float)) else type(value).__name__, "wrong_shape",
                             ERROR, "câu trả lời không đúng dạng (không phải một giá trị)", position))
    return None


# --- typing columns ------------------------------------------------------------------------


def issue_rows(frame: pd.DataFrame, mask: pd.Series, field: str, rule: str, severity: str, message: str,
               value: pd.Series | None = None) -> pd.DataFrame:
    mask = mask.to_numpy() if isinstance(mask, pd.Series) else mask
    if not mask.any():
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    needed = [c for c in dict.fromkeys(("submission_id", "household_id", "hamlet", "enumerator", "position", field)) if c in frame]
    bad = frame.loc[mask, needed]
    none = pd.Series(None, index=bad.index, dtype=object)
    if value is not None:
        shown = value.loc[bad.index].map(issue_value)
    else:
        shown = bad[field].map(issue_value) if field in bad else none
    return pd.DataFrame(
        {
            "submission_id": bad["submission_id"].astype(object),
            "household_id": bad["household_id"].astype(object) if "household_id" in bad else none,
            "hamlet": bad["hamlet"].astype(object) if "hamlet" in bad else none,
            "enumerator": bad["enumerator"].astype(object) if "enumerator" in bad else none,
            "field": field,
            "member": bad["position"].astype("Int64") if "position" in bad else pd.Series(pd.NA, index=bad.index, dtype="Int64"),
            "value": shown.astype(object),
            "rule": rule,
            "severity": severity,
            "message": message,
        },
        columns=ISSUE_COLUMNS,
    )


def _number(value: Any) -> tuple[float | None, str | None]:
    """(number, problem) where problem is None, 'not_a_number' or 'number_too_large'."""
    if _missing(value):
        return None, None
    if isinstance(value, bool):
        return None, "not_a_number"
    if isinstance(value, (int, float)):
        try:
            x = float(value)
        except OverflowError:
            return None, "number_too_large"
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None, None
        try:
            x = float(text)
        except (ValueError, OverflowError):
            return None, "not_a_number"
    else:
        return None, "not_a_number"
    if math.isnan(x):
        return None, "not_a_number"
    if math.isinf(x) or abs(x) > MAX_NUMBER:
        return None, "number_too_large"
    return x, None


def _choice_matcher(allowed: Iterable[str]):
    allowed = tuple(allowed)
    exact = set(allowed)
    keyed: dict[str, str | None] = {}
    for code in allowed:
        key = _CHOICE_KEY.sub("", code.casefold())
        keyed[key] = None if key in keyed and keyed[key] != code else code  # ambiguous keys match nothing

    def match(text: str) -> str | None:
        if text in exact:
            return text
        return keyed.get(_CHOICE_KEY.sub("", text.casefold()))

    return match


def distinct_values(raw: pd.Series) -> tuple[np.ndarray, list, int]:
    """(each row's position in `values`, `values`, the position standing for every missing value or -1).

    Answers repeat a lot (codes, yes/no, small numbers): working on each distinct value once is what
    keeps typing a million households fast. Distinct values are found by hashing only when the values
    are of one kind (text, integers or booleans) besides missing ones: pandas takes 1, 1.0 and True
    for one key, which would merge answers that type differently. Otherwise every row is its own value.
    """
    if isinstance(raw.dtype, pd.CategoricalDtype):  # read as columns (see `odata_columns`): already coded
        codes, uniques = raw.cat.codes.to_numpy(), raw.cat.categories.tolist()
        return np.where(codes < 0, len(uniques), codes), [*uniques, None], len(uniques)
    values = raw.to_numpy(dtype=object)
    kinds = _kinds(values)
    if len(kinds) <= 1 and kinds <= _HASHABLE_KINDS:
        codes, uniques = pd.factorize(values)  # missing → -1, then the last position: None
        return np.where(codes < 0, len(uniques), codes), [*uniques, None], len(uniques)
    return np.arange(len(values)), list(values), -1


def _taken(per_distinct: list, codes: np.ndarray) -> np.ndarray:
    """An object array of the values of `per_distinct` at `codes` (tuples and lists kept whole)."""
    array = np.empty(len(per_distinct), dtype=object)
    for i, value in enumerate(per_distinct):
        array[i] = value
    return array[codes]


def per_value(raw: pd.Series, fn, missing_alike: bool = True) -> pd.Series:
    """`fn` of each value, computed once per distinct value (see `distinct_values`). With
    `missing_alike` `fn` treats every missing value (None, NaN, NA) alike and is asked once for all
    of them; otherwise once for each."""
    codes, values, missing = distinct_values(raw)
    out = _taken([fn(v) for v in values], codes)
    if not missing_alike and missing >= 0:
        original = raw.to_numpy(dtype=object)
        for k in np.flatnonzero(codes == missing):
            out[k] = fn(original[k])
    return pd.Series(out, index=raw.index, dtype=object)


_HASHABLE_KINDS = frozenset({str, int, bool})
_JSON_KINDS = frozenset({str, int, bool, float, type(None)})


def _kinds(values: np.ndarray) -> set[type]:
    """The types of the values that are not missing (None, NaN, NA, NaT), as `pd.isna` sees them.

    The types of all values first (cheap); only a float may be missing (NaN) among what JSON
    gives, so only floats are looked at one by one, and only when there are any."""
    kinds = set(map(type, values))
    if not kinds <= _JSON_KINDS:  # NA, NaT, numpy scalars (corrections, callers' frames): pandas decides
        return set(map(type, values[~pd.isna(values)]))
    kinds.discard(type(None))
    if float in kinds and all(v != v for v in values if type(v) is float):  # only NaN: missing
        kinds.discard(float)
    return kinds


def _has_control(value: Any) -> bool:
    # every control character is unprintable: the regex only runs on the rare text that has one
    return isinstance(value, str) and not value.isprintable() and bool(_CONTROL.search(value))


def _read_text(value: Any, clean) -> tuple[str | None, bool, bool]:
    """(the cleaned text cut to MAX_TEXT, had control characters, was too long) of one answer."""
    text = clean(value)
    long = isinstance(text, str) and len(text) > MAX_TEXT
    return (text[:MAX_TEXT] if long else text if isinstance(text, str) else None), _has_control(value), long


_JOINER = "|"  # printable, and a starter that composes with nothing: joined texts are NFC iff each one is
_LEADING_84 = re.compile(r"(?:^|\|)(?:\+84|0084|84[^|]{9}(?:\||$))")


def _already_clean(values: list, digits: bool = False, zero: bool = False) -> bool:
    """True when `_read_text(v, clean)` is `(v or None, False, False)` for every value (None or text):
    `clean_text`, or with `digits` `clean_digits(v, zero)`, returns each text as it is, none is
    longer than MAX_TEXT nor holds a control character. Checked on all the texts joined, at C speed:
    a province's ID numbers and phones are millions of distinct texts, nearly all already clean."""
    texts = [v for v in values if v is not None]
    if not texts or type(texts[0]) is not str or not all(type(t) is str for t in texts):
        return not texts
    joined = _JOINER.join(texts)
    if (joined.count(_JOINER) != len(texts) - 1 or not joined.isprintable() or "  " in joined or " |" in joined
            or "| " in joined or joined[:1] == " " or joined[-1:] == " " or max(map(len, texts)) > MAX_TEXT
            or not unicodedata.is_normalized("NFC", joined)):
        return False
    if digits and (_NUMBER_SEPARATORS.search(joined) or (zero and _LEADING_84.search(joined))):
        return False  # separators to drop, or a +84 / 84 phone to write with its 0
    return True


def _names_cased(values: list) -> list | None:
    """`clean_name` of each value (None or text) that `_already_clean` found clean, worked out on all
    of them joined, a code point array at a time: a province's names are millions of distinct texts.
    None (ask `clean_name` one by one) when a letter's case has another length, or a Σ, whose
    lower case depends on the letters around it."""
    texts = [v for v in values if v is not None]
    joined = _JOINER.join(texts)
    lower = joined.lower()
    if len(lower) != len(joined) or "Σ" in joined:
        return None
    chars = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    out = np.frombuffer(lower.encode("utf-32-le"), dtype=np.uint32).copy()
    # a word starts the text or follows a space or the joiner (clean text: single spaces, none at the ends)
    starts = np.flatnonzero(np.concatenate(([True], (chars[:-1] == ord(" ")) | (chars[:-1] == ord(_JOINER))))[:len(chars)])
    firsts, where = np.unique(chars[starts], return_inverse=True)
    upper = [chr(c).upper() for c in firsts.tolist()]
    if any(len(u) != 1 for u in upper):
        return None
    out[starts] = np.array([ord(u) for u in upper], dtype=np.uint32)[where]
    cased = iter(out.tobytes().decode("utf-32-le").split(_JOINER) if texts else [])
    return [None if v is None else (next(cased) or None) for v in values]


def _type_columns(frame: pd.DataFrame, fields: Iterable[Field], questionnaire: Questionnaire) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Convert each answer column to its type; unreadable values become NA plus an issue row."""
    out = frame.copy(deep=False)  # copy-on-write: every column is replaced below, none is copied first
    issues: list[pd.DataFrame] = []
    rules = field_rules(questionnaire)
    for f in fields:
        raw = frame[f.name]
        # columns read by `odata_columns` come coded (text) or as float64 (numbers); the others as read
        coded = ((isinstance(raw.dtype, pd.CategoricalDtype) and f.type not in ("date", "geopoint"))
                 or (raw.dtype == np.float64 and f.type in ("integer", "decimal")))
        if not coded:
            raw = raw.astype(object)
        if f.type in ("integer", "decimal"):
            if raw.dtype == np.float64:  # what `_number` gives each float, the whole column at once
                x = raw.to_numpy()
                too_large = np.isinf(x) | (np.abs(x) > MAX_NUMBER)
                numbers = pd.Series(pd.array(np.where(too_large, np.nan, x), dtype="Float64"), index=frame.index)
                problem = np.where(too_large, "number_too_large", "").astype(object)
            else:
                codes, values, _ = distinct_values(raw)  # parsed once per distinct answer
                parsed = [_number(v) for v in values]
                numbers = pd.Series(pd.array(_taken([p[0] for p in parsed], codes), dtype="Float64"), index=frame.index)
                problem = np.array([p[1] or "" for p in parsed], dtype=object)[codes]
            issues.append(issue_rows(frame, problem == "not_a_number", f.name, "not_a_number", ERROR, "không phải là số"))
            issues.append(issue_rows(frame, problem == "number_too_large", f.name, "number_too_large", ERROR,
                                     "số quá lớn, không hợp lý"))
            if f.type == "integer":
                fraction = (numbers.notna() & (numbers.round() != numbers)).fillna(False).astype(bool)
                issues.append(issue_rows(frame, fraction.to_numpy(), f.name, "not_an_integer", WARNING, "không phải số nguyên; đã làm tròn"))
                out[f.name] = numbers.round().astype("Int64")
            else:
                out[f.name] = numbers
        elif f.type == "select_one":
            match = _choice_matcher(questionnaire.choices.get(f.choice_list, ()))
            codes, values, _ = distinct_values(raw)  # cleaned and matched once per distinct answer
            texts = [clean_text(v) for v in values]
            coded = [match(t) if isinstance(t, str) else None for t in texts]
            unknown = np.array([t is not None and c is None for t, c in zip(texts, coded)], dtype=bool)[codes]
            if unknown.any():
                issues.append(issue_rows(frame, unknown, f.name, "unknown_choice", ERROR, "mã lựa chọn không có trong phiếu",
                                         value=pd.Series(_taken(texts, codes), index=frame.index)))
            if f.choice_list == "yes_no":
                yes = np.array([c == "yes" for c in coded], dtype=bool)[codes]
                neither = np.array([c not in ("yes", "no") for c in coded], dtype=bool)[codes]
                out[f.name] = pd.Series(pd.arrays.BooleanArray(yes, neither), index=frame.index)
            else:
                out[f.name] = pd.Series(_taken(coded, codes), index=frame.index, dtype=object)
        elif f.type == "select_multiple":
            codes, values, _ = distinct_values(raw)
            texts = np.array([clean_text(v) for v in values], dtype=object)
            text = pd.Series(texts[codes], index=frame.index, dtype=object)
            allowed = questionnaire.choices.get(f.choice_list, ())
            match = _choice_matcher(allowed)
            # Worked out once per distinct answer text: (any unknown code, the codes chosen).
            keys, distinct = pd.factorize(texts)  # the distinct answers' texts, not every row's again
            keys = keys[codes]
            parsed = [[match(c) for c in v.split(" ")] for v in distinct]
            unknown_d = np.array([any(c is None for c in codes) for codes in parsed] + [False])
            chosen_d = [{c for c in codes if c is not None} for codes in parsed] + [set()]
            issues.append(issue_rows(frame, unknown_d[keys], f.name, "unknown_choice", ERROR, "mã lựa chọn không có trong phiếu", value=text))
            out[f.name] = pd.Series(np.array([" ".join(c for c in allowed if c in chosen) or None for chosen in chosen_d],
                                             dtype=object)[keys], index=frame.index, dtype=object)
            answered = text.notna()
            for code in allowed:
                has = np.array([code in chosen for chosen in chosen_d])[keys]
                out[f"{f.name}__{code}"] = pd.Series(has, index=frame.index).astype("boolean").where(answered, pd.NA)
        elif f.type == "date":
            # parsed once per distinct answer; the rows share its date object (a province's interview dates are a
            # few dozen: one object per row cost memory, and a worker ~0.1 s a chunk to pickle them one by one)
            codes, values, _ = distinct_values(raw)
            distinct = pd.Series(values, dtype=object)
            dates = parse_times(distinct.map(lambda v: v if isinstance(v, str) else None), utc=False)
            present = distinct.map(lambda v: not _missing(v) and str(v).strip() != "").to_numpy(dtype=bool)
            issues.append(issue_rows(frame, (present & dates.isna().to_numpy())[codes], f.name, "not_a_date", ERROR, "không phải là ngày"))
            out[f.name] = pd.Series(_taken(dates.dt.date.astype(object).where(dates.notna(), None).tolist(), codes),
                                    index=frame.index, dtype=object)
        elif f.type == "geopoint":
            lat = pd.Series([_number(p[0])[0] if isinstance(p, tuple) else None for p in raw.tolist()], index=frame.index, dtype="Float64")
            lon = pd.Series([_number(p[1])[0] if isinstance(p, tuple) else None for p in raw.tolist()], index=frame.index, dtype="Float64")
            unreadable = raw.map(lambda p: not _missing(p)).to_numpy() & (lat.isna() | lon.isna()).to_numpy()
            issues.append(issue_rows(frame, unreadable, f.name, "bad_gps", WARNING, "không đọc được tọa độ GPS"))
            out = out.drop(columns=[f.name])
            out[f"{f.name}_lat"], out[f"{f.name}_lon"] = lat, lon
        elif f.type == "text":
            rule = rules.get(f.name)
            digits = zero = False
            if f.name in NAME_FIELDS:
                clean = clean_name
            elif rule is not None and rule.numbers:
                digits, zero = True, bool(rule.pattern and rule.pattern.lstrip("^").startswith("0"))
                clean = lambda v, zero=zero: clean_digits(v, zero)  # noqa: E731
            else:
                clean = clean_text
            # cleaned, checked and cut once per distinct answer, as choices are
            codes, values, _ = distinct_values(raw)
            cased = _names_cased(values) if clean is clean_name and _already_clean(values) else None
            if cased is not None:
                read = [(v, False, False) for v in cased]
            elif clean is not clean_name and _already_clean(values, digits, zero):
                read = [(v or None, False, False) for v in values]
            else:
                read = [_read_text(v, clean) for v in values]
            control = np.array([r[1] for r in read], dtype=bool)[codes]
            issues.append(issue_rows(frame, control, f.name, "control_characters", WARNING, "có ký tự điều khiển; đã bỏ"))
            too_long = np.array([r[2] for r in read], dtype=bool)[codes]
            issues.append(issue_rows(frame, too_long, f.name, "too_long", WARNING, f"dài quá {MAX_TEXT} ký tự, đã cắt"))
            out[f.name] = pd.Series(_taken([r[0] for r in read], codes), index=frame.index, dtype=object)
        else:  # start, end, deviceid, calculate and other metadata: keep the text
            out[f.name] = per_value(raw, lambda v: (clean_text(v) or "")[:MAX_TEXT] or None)
    return out, issues


# --- the step ------------------------------------------------------------------------------


def tidy_submissions(current: pd.DataFrame, questionnaire: Questionnaire) -> TidyTables:
    """Turn the current version of each submission into typed household and member tables."""
    return typed_tables(read_submissions(current, questionnaire), questionnaire)


@dataclass(frozen=True)
class ReadSubmissions:
    """The answers of submissions as they came, before typing (`read_submissions`)."""

    households: pd.DataFrame  # answer columns, META_COLUMNS, readable
    members: pd.DataFrame  # answer columns, submission_id, position
    problems: list[dict]  # what was not where the form puts it (field, member, value, rule, severity, message)


def read_submissions(current: pd.DataFrame, questionnaire: Questionnaire) -> ReadSubmissions:
    """The payloads read, by columns when they are plain OData (`odata_columns`), else one by one.
    A caller holding many payloads can let them go before the answers are typed."""
    with no_cycle_collection():
        read = _read_columns(current, questionnaire)
        return ReadSubmissions(*(read if read is not None else _read_records(current, questionnaire)))


def typed_tables(read: ReadSubmissions, questionnaire: Questionnaire) -> TidyTables:
    """The answers typed (unreadable values become NA plus an issue row), the derived columns added."""
    with no_cycle_collection():
        households, hh_issues = _type_columns(read.households, questionnaire.household_fields, questionnaire)
        # Members carry their household's identity so issue rows name the household.
        ident = households[["submission_id", "household_id", "hamlet", "enumerator"]]
        members = read.members.merge(ident, on="submission_id", how="left")
        members, mem_issues = _type_columns(members, questionnaire.member_fields, questionnaire)
        members = members.drop(columns=["household_id", "hamlet", "enumerator"])

        issues = hh_issues + mem_issues
        if read.problems:
            problems = pd.DataFrame(read.problems).merge(ident, on="submission_id", how="left")
            issues.append(problems.reindex(columns=ISSUE_COLUMNS))
        households, members = derive_columns(households, members, questionnaire)
        return TidyTables(households=households, members=members, issues=concat_issues(issues))


def _read_records(current: pd.DataFrame, questionnaire: Questionnaire) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """(households, members, problems) of the payloads read one by one (`read_payload`): answers as they came."""
    household_rows: list[list] = []  # answers, META_COLUMNS, readable
    member_rows: list[list] = []  # answers, position, submission_id
    problem_rows: list[dict] = []
    unread = [None] * len(questionnaire.household_fields)
    for rec in current[[*META_COLUMNS, "payload_format", "payload"]].itertuples(index=False):
        # an unedited submission's instance id is its submission id: one text for both (a province has a million)
        instance = rec.submission_id if rec.instance_id == rec.submission_id else rec.instance_id
        meta = [rec.submission_id, instance, rec.form_version, rec.submitted_at, rec.review_state or "received"]
        payload = rec.payload.decode("utf-8", "surrogateescape") if isinstance(rec.payload, bytes) else rec.payload  # as text, always
        try:
            household, members, problems = read_payload(rec.payload_format, payload, questionnaire)
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            household_rows.append([*unread, *meta, False])
            problem_rows.append({"submission_id": rec.submission_id, **_problem("payload", None, "unreadable", ERROR,
                                                                                f"không đọc được bản ghi: {type(exc).__name__}")})
            continue
        household_rows.append([*household, *meta, True])
        for member in members:
            member.append(rec.submission_id)
            member_rows.append(member)
        for p in problems:
            problem_rows.append({"submission_id": rec.submission_id, **p})

    household_columns = [f.name for f in questionnaire.household_fields]
    member_columns = [f.name for f in questionnaire.member_fields]
    households = _rows_frame(household_rows, household_columns, [*META_COLUMNS, "readable"])
    del household_rows  # the frame holds the answers now
    households["readable"] = households["readable"].astype(bool)
    members = _rows_frame(member_rows, member_columns, ["position", "submission_id"])
    del member_rows
    members = members[[*member_columns, "submission_id", "position"]].astype({"position": "int64"})
    return households, members, problem_rows


def _meta_frame(current: pd.DataFrame, readable: bool | None = None) -> pd.DataFrame:
    """META_COLUMNS of each submission (and `readable`), as pandas infers them from the values."""
    submissions = current["submission_id"].tolist()
    # an unedited submission's instance id is its submission id: one text for both (a province has a million)
    instances = [s if i == s else i for s, i in zip(submissions, current["instance_id"].tolist())]
    values = [submissions, instances, current["form_version"].tolist(), current["submitted_at"].tolist(),
              [r or "received" for r in current["review_state"].tolist()]]
    if readable is not None:
        values.append([readable] * len(current))
    return pd.DataFrame(dict(zip([*META_COLUMNS, "readable"], values)))


def _read_columns(current: pd.DataFrame, questionnaire: Questionnaire) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]] | None:
    """What `_read_records` gives, read a column at a time by `odata_columns`; None when the payloads
    are not all plain OData (then they are read one by one)."""
    if not len(current) or not (current["payload_format"] == CENTRAL_ODATA).all():
        return None
    read = odata_columns.read_chunk(current["payload"].tolist(), questionnaire, MAX_NUMBER)
    if read is None:
        return None
    answers, member_answers, household_row, position = read
    households = pd.concat([pd.DataFrame(answers, columns=[f.name for f in questionnaire.household_fields], copy=False),
                            _meta_frame(current, readable=True)], axis=1)
    households["readable"] = households["readable"].astype(bool)
    submissions = current["submission_id"].to_numpy(dtype=object)[household_row]  # each member's household's own text
    members = pd.DataFrame(member_answers, columns=[f.name for f in questionnaire.member_fields], copy=False)
    members = members.assign(submission_id=pd.DataFrame({"submission_id": submissions.tolist()})["submission_id"],
                             position=position.astype("int64"))
    return households, members, []


def _rows_frame(rows: list[list], answers: list[str], meta: list[str]) -> pd.DataFrame:
    """`pd.DataFrame(rows, columns=[*answers, *meta])` with the `answers` columns `.astype(object)`,
    built without pandas inferring (and converting) a dtype for every answer column.

    The answer columns hold what that would hold: a column of only text and None is kept as it is
    (pandas would make its None NaN, which every typing step treats alike); any other column (numbers,
    mixed kinds) goes through pandas' own inference, which e.g. makes 1 and None 1.0 and NaN. The few
    meta columns are inferred by pandas exactly as before."""
    width, count = len(answers), len(rows)
    columns = list(zip(*rows)) if rows else [()] * (width + len(meta))  # one tuple per column; tuples stay whole
    data = {}
    for name, values in zip(answers, columns[:width]):
        column = np.fromiter(values, dtype=object, count=count)
        if not _TEXT_KINDS.issuperset(map(type, column)):
            column = pd.Series(list(values)).to_numpy(dtype=object)  # inferred as pandas' row constructor does
        data[name] = column
    meta_frame = (pd.DataFrame(dict(zip(meta, (list(v) for v in columns[width:]))), columns=meta) if rows
                  else pd.DataFrame(columns=meta))  # no rows: object columns, as the row constructor gives
    del columns
    return pd.concat([pd.DataFrame(data, columns=answers, dtype=object, copy=False), meta_frame], axis=1)


_TEXT_KINDS = frozenset({str, type(None)})


def concat_issues(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """One issues table (ISSUE_COLUMNS, `member` as Int64) from parts, empty ones skipped."""
    parts = [p.reindex(columns=ISSUE_COLUMNS).astype({c: object for c in ISSUE_COLUMNS if c != "member"}) for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ISSUE_COLUMNS).astype(object)
    out["member"] = pd.array([None if _missing(v) else int(v) for v in out["member"]], dtype="Int64")
    return out


def derive_columns(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The derived columns (members, income total, interview year, age), computed afresh.

    Run by `tidy_submissions` and again after corrections, so a corrected answer flows through.
    """
    households = _derive_household_columns(households, members, questionnaire)
    return households, _derive_member_columns(members, households)


def _derive_household_columns(households: pd.DataFrame, members: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    out = households.copy(deep=False)  # copy-on-write: only the derived columns are new
    counts = members.groupby("submission_id").size()
    out["members"] = out["submission_id"].map(counts).fillna(0).astype("Int64")
    sources = income_source_fields(questionnaire)
    out["income_sources_year"] = out[sources].astype("Float64").sum(axis=1, min_count=1).astype("Float64") if sources else pd.NA
    interview = pd.to_datetime(out["interview_date"], errors="coerce") if "interview_date" in out else pd.Series(pd.NaT, index=out.index)
    submitted = parse_times(out["submitted_at"])
    out["interview_year"] = interview.dt.year.fillna(submitted.dt.year).astype("Int64")
    return out


def _derive_member_columns(members: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    out = members.copy(deep=False)
    year = out["submission_id"].map(households.drop_duplicates("submission_id").set_index("submission_id")["interview_year"])
    out["age"] = (year.astype("Int64") - out["birth_year"].astype("Int64")).astype("Int64")
    return out
