"""Declared table schemas (pandera) for the tidy household and member tables.

The schemas are built once from the questionnaire — each answer's type, its choices and its
XLSForm `constraint` (ranges like ``. >= 1 and . <= 30``, ``regex(., '...')``,
``string-length(.) <= 80``, "none cannot go with other answers") — plus a few explicit range
checks the form cannot express (age 0–120, GPS coordinates, derived totals). A field added to
the form gets its checks without touching this module.

`validate_table` runs pandera's lazy validation and turns every failure case into a row of the
issues table, with a reason code (`rule`), a severity and a Vietnamese message. Every check of
a schema is registered with that triple, keyed by (column, check number), so the translation
from a pandera failure to an issue row is exact.

Rule codes produced here:

==================  ========  ==================================================================
rule                severity  meaning
==================  ========  ==================================================================
out_of_range        error     a number outside the range the form allows
negative_value      error     an amount that must not be negative (``. >= 0`` in the form)
impossible_age      error     age outside 0–120 (reported on ``birth_year``)
bad_format          warning   text not matching the form's ``regex(...)`` (phone, CCCD, ID)
too_long_for_form   warning   text longer than the form's ``string-length(.) <= n``
exclusive_choice    warning   "none" ticked together with other answers
unknown_choice      error     a choice code not in the questionnaire (after tidy: only
                              values put there by a correction)
bad_gps             warning   latitude/longitude outside -90..90 / -180..180
schema              warning   a whole column has the wrong type or is missing (a bug, not data)
==================  ========  ==================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre_constants, _parser as sre_parse
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from rasoat.forms import Field, Questionnaire
from rasoat.pipeline.ordering import arrow_text

MAX_AGE = 120
ERROR, WARNING = "error", "warning"

_COMPARISON = re.compile(r"(?<![\w)])\.\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)")
_REGEX = re.compile(r"regex\(\s*\.\s*,\s*'((?:[^'\\]|\\.)*)'\s*\)")
_LENGTH = re.compile(r"string-length\(\s*\.\s*\)\s*<=?\s*(\d+)")
_EXCLUSIVE = re.compile(r"not\(\s*selected\(\s*\.\s*,\s*'(\w+)'\s*\)\s*and\s*count-selected\(\s*\.\s*\)\s*>\s*1\s*\)")
_VI_MESSAGE = "constraint_message::Vietnamese (vi)"


@dataclass(frozen=True)
class FieldRule:
    """What the form's `constraint` and `appearance` say about one answer."""

    name: str
    minimum: float | None = None
    min_inclusive: bool = True
    maximum: float | None = None
    max_inclusive: bool = True
    pattern: str | None = None
    max_length: int | None = None
    exclusive_choice: str | None = None
    numbers: bool = False  # appearance "numbers": digits typed on a phone keypad
    message: str = ""  # the form's Vietnamese constraint message


def field_rules(questionnaire: Questionnaire) -> dict[str, FieldRule]:
    """Constraint and appearance of every answer, read from the questionnaire's survey sheet."""
    rules: dict[str, FieldRule] = {}
    for row in questionnaire.definition.get("survey", []):
        name = (row.get("name") or "").strip()
        if not name:
            continue
        constraint = (row.get("constraint") or "").strip()
        appearance = (row.get("appearance") or "").strip()
        kw: dict[str, Any] = {"numbers": "numbers" in appearance.split(), "message": (row.get(_VI_MESSAGE) or "").strip()}
        if constraint:
            for op, number in _COMPARISON.findall(constraint):
                value = float(number)
                if op in (">=", ">"):
                    kw["minimum"], kw["min_inclusive"] = value, op == ">="
                else:
                    kw["maximum"], kw["max_inclusive"] = value, op == "<="
            if m := _REGEX.search(constraint):
                kw["pattern"] = m.group(1)
            if m := _LENGTH.search(constraint):
                kw["max_length"] = int(m.group(1))
            if m := _EXCLUSIVE.search(constraint):
                kw["exclusive_choice"] = m.group(1)
        rules[name] = FieldRule(name=name, **kw)
    return rules


# --- building the schemas ------------------------------------------------------------------


@dataclass(frozen=True)
class IssueSpec:
    rule: str
    severity: str
    message: str
    field: str  # the field named in the issue row (usually the column)


@dataclass(frozen=True)
class TableSchema:
    schema: pa.DataFrameSchema
    specs: dict[tuple[str, int], IssueSpec]  # (column, check number) -> what an issue says


def _check(fn, name: str, error: str) -> pa.Check:
    """A vectorised check that passes missing values itself: pandera is told not to drop them
    first (`ignore_na=False`), which would copy the non-missing part of every column."""
    return pa.Check(fn, name=name, error=error, ignore_na=False)


def _per_distinct(s: pd.Series, fn, missing: bool) -> pd.Series:
    """`fn` of each value as a boolean Series, asked once per distinct value (`missing` for NA):
    for answers that repeat a lot (choice codes)."""
    try:
        codes, uniques = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # an unhashable value (a list): every row on its own
        codes, uniques = np.where(s.isna().to_numpy(dtype=bool), -1, np.arange(len(s))), s.to_numpy(dtype=object)
    verdicts = np.array([bool(fn(v)) for v in np.asarray(uniques, dtype=object)] + [missing], dtype=bool)
    return pd.Series(verdicts[codes], index=s.index)  # code -1 (missing) takes the last verdict


def _per_row(s: pd.Series, fn) -> pd.Series:
    """`fn` of each value as a boolean Series, in one tight pass: for answers that rarely repeat
    (IDs, phone numbers), where finding the distinct values costs more than asking each."""
    values = s.to_numpy(dtype=object)
    return pd.Series(np.fromiter(map(fn, values), dtype=bool, count=len(values)), index=s.index)


def _matches(pattern: re.Pattern):
    return lambda v: isinstance(v, str) and bool(pattern.search(v))


# Pattern parts Arrow's RE2 reads exactly as Python's `re` does on text without a newline: literal
# characters, character sets of literals and ranges, repeats, groups, alternation, ^ and $ (no \d, \w,
# \s or \b, which are Unicode in Python and ASCII in RE2; no flags; no backreferences or lookarounds).
_RE2_SAME = {sre_constants.LITERAL, sre_constants.NOT_LITERAL, sre_constants.IN, sre_constants.RANGE, sre_constants.NEGATE,
             sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.SUBPATTERN, sre_constants.BRANCH,
             sre_constants.ANY, sre_constants.AT}
_RE2_ANCHORS = {sre_constants.AT_BEGINNING, sre_constants.AT_END, sre_constants.AT_BEGINNING_STRING}


def _read_alike_by_re2(pattern: re.Pattern) -> bool:
    """Whether RE2 finds a match in exactly the texts (without a newline) Python's `re` does."""
    if pattern.flags & ~re.UNICODE or "{," in pattern.pattern:  # RE2 reads "{,n}" as literal text
        return False

    def alike(items) -> bool:
        for op, av in items:
            if op not in _RE2_SAME:
                return False
            if op == sre_constants.AT and av not in _RE2_ANCHORS:
                return False
            if op == sre_constants.IN and not alike(av):
                return False
            if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and (
                    av[0] > 1000 or (av[1] != sre_constants.MAXREPEAT and av[1] > 1000) or not alike(av[2])):
                return False  # RE2 counts to 1000 at most (MAXREPEAT is an open end: "+", "*", "{2,}")
            if op == sre_constants.SUBPATTERN and (av[1] or av[2] or not alike(av[3])):
                return False
            if op == sre_constants.BRANCH and not all(alike(branch) for branch in av[1]):
                return False
        return True

    try:
        return alike(sre_parse.parse(pattern.pattern))
    except (re.error, TypeError, ValueError):
        return False


def _search_each(s: pd.Series, pattern: re.Pattern, by_re2: bool) -> pd.Series:
    """`pattern.search` of each text value (False for anything else), as a boolean Series: with
    `by_re2` (see `_read_alike_by_re2`) by Arrow's RE2 in one pass, value by value where RE2 may read
    otherwise (a value with a newline, where Python's $ also matches before it, or one Arrow cannot hold)."""
    texts = arrow_text(s) if by_re2 else None  # None: not all text (a number), or a lone surrogate
    if texts is None:
        return _per_row(s, _matches(pattern))
    try:
        found = pc.match_substring_regex(texts, pattern.pattern).fill_null(False).to_numpy(zero_copy_only=False)
    except arrow.ArrowException:  # a pattern RE2 does not take (an escape only Python knows, such as \u00e9)
        return _per_row(s, _matches(pattern))
    newline = np.flatnonzero(pc.match_substring(texts, "\n").fill_null(False).to_numpy(zero_copy_only=False))
    if len(newline):
        ok = _matches(pattern)
        found[newline] = [ok(v) for v in s.to_numpy(dtype=object)[newline]]
    return pd.Series(found, index=s.index)


def _exclusive(code: str):
    return lambda v: not isinstance(v, str) or code not in v.split(" ") or len(set(v.split(" "))) == 1


def _range_check(rule: FieldRule) -> tuple[pa.Check, str, str]:
    lo, hi = rule.minimum, rule.maximum
    lo_ok = (lambda s: s >= lo) if rule.min_inclusive else (lambda s: s > lo)
    hi_ok = (lambda s: s <= hi) if rule.max_inclusive else (lambda s: s < hi)

    def ok(s: pd.Series) -> pd.Series:
        s = s.astype("Float64")
        result = pd.Series(True, index=s.index)
        if lo is not None:
            result &= lo_ok(s).fillna(True).astype(bool)
        if hi is not None:
            result &= hi_ok(s).fillna(True).astype(bool)
        return result

    negative = lo == 0 and rule.min_inclusive and hi is None
    code = "negative_value" if negative else "out_of_range"
    if rule.message:
        text = rule.message
    elif negative:
        text = "không được âm"
    else:
        text = f"ngoài khoảng cho phép ({'' if lo is None else lo:g}–{'' if hi is None else hi:g})" if lo is not None and hi is not None else "ngoài khoảng cho phép"
    return _check(ok, code, f"{code}:{rule.name}"), code, text


def _field_checks(f: Field, rule: FieldRule | None, questionnaire: Questionnaire) -> list[tuple[pa.Check, IssueSpec]]:
    out: list[tuple[pa.Check, IssueSpec]] = []
    if f.type == "select_one" and f.choice_list != "yes_no":
        allowed = set(questionnaire.choices.get(f.choice_list, ()))
        # once per distinct code (a few per column): half of an isna and an isin over every row
        known = lambda v, a=frozenset(allowed): isinstance(v, str) and v in a  # noqa: E731
        out.append((_check(lambda s, ok=known: _per_distinct(s, ok, missing=True), "unknown_choice", f"unknown_choice:{f.name}"),
                    IssueSpec("unknown_choice", ERROR, "mã lựa chọn không có trong phiếu", f.name)))
    if rule is None:
        return out
    if f.type in ("integer", "decimal") and (rule.minimum is not None or rule.maximum is not None):
        check, code, text = _range_check(rule)
        out.append((check, IssueSpec(code, ERROR, text, f.name)))
    if f.type == "text" and rule.pattern:
        pattern = re.compile(rule.pattern)
        by_re2 = _read_alike_by_re2(pattern)  # decided once, with the schema
        out.append((_check(lambda s, p=pattern, r=by_re2: s.isna() | _search_each(s, p, r), "bad_format", f"bad_format:{f.name}"),
                    IssueSpec("bad_format", WARNING, rule.message or "không đúng định dạng", f.name)))
    if f.type == "text" and rule.max_length:
        n = rule.max_length
        out.append((_check(lambda s, n=n: s.isna() | (s.astype(str).str.len() <= n), "too_long_for_form", f"too_long:{f.name}"),
                    IssueSpec("too_long_for_form", WARNING, rule.message or f"dài quá {n} ký tự", f.name)))
    if f.type == "select_multiple" and rule.exclusive_choice:
        code = rule.exclusive_choice
        out.append((_check(lambda s, ok=_exclusive(code): _per_distinct(s, ok, missing=True), "exclusive_choice", f"exclusive_choice:{f.name}"),
                    IssueSpec("exclusive_choice", WARNING, rule.message or f"'{code}' không đi cùng lựa chọn khác", f.name)))
    return out


def _dtype(f: Field) -> str | None:
    if f.type == "integer":
        return "Int64"
    if f.type == "decimal":
        return "Float64"
    if f.type == "select_one" and f.choice_list == "yes_no":
        return "boolean"
    return None


def _between(lo: float, hi: float):
    return lambda s: s.astype("Float64").between(lo, hi).fillna(True).astype(bool) | s.isna()


def _build(fields, questionnaire: Questionnaire, extra: dict[str, list[tuple[pa.Check, IssueSpec]]], extra_dtypes: dict[str, str]) -> TableSchema:
    rules = field_rules(questionnaire)
    columns: dict[str, pa.Column] = {}
    specs: dict[tuple[str, int], IssueSpec] = {}
    for f in fields:
        if f.type == "geopoint":
            continue  # split into <name>_lat / <name>_lon by tidy; checked in `extra`
        pairs = _field_checks(f, rules.get(f.name), questionnaire)
        columns[f.name] = pa.Column(_dtype(f), checks=[c for c, _ in pairs], nullable=True, required=False, coerce=False)
        for k, (_, spec) in enumerate(pairs):
            specs[(f.name, k)] = spec
    for name, pairs in extra.items():
        columns[name] = pa.Column(extra_dtypes.get(name), checks=[c for c, _ in pairs], nullable=True, required=False, coerce=False)
        for k, (_, spec) in enumerate(pairs):
            specs[(name, k)] = spec
    return TableSchema(pa.DataFrameSchema(columns, strict=False, ordered=False), specs)


def household_schema(questionnaire: Questionnaire) -> TableSchema:
    """The household table: every household answer of the form, plus derived columns."""
    extra: dict[str, list[tuple[pa.Check, IssueSpec]]] = {
        "members": [(_check(lambda s: (s >= 0).fillna(True).astype(bool), "members_range", "members"),
                     IssueSpec("out_of_range", ERROR, "số thành viên âm", "members"))],
        "income_sources_year": [(_check(lambda s: (s >= 0).fillna(True).astype(bool), "negative_value", "income_total"),
                                 IssueSpec("negative_value", ERROR, "tổng thu nhập âm", "income_sources_year"))],
    }
    dtypes = {"members": "Int64", "income_sources_year": "Float64"}
    for f in questionnaire.household_fields:
        if f.type == "geopoint":
            extra[f"{f.name}_lat"] = [(_check(_between(-90, 90), "bad_gps", f"lat:{f.name}"),
                                      IssueSpec("bad_gps", WARNING, "vĩ độ GPS không hợp lệ", f.name))]
            extra[f"{f.name}_lon"] = [(_check(_between(-180, 180), "bad_gps", f"lon:{f.name}"),
                                      IssueSpec("bad_gps", WARNING, "kinh độ GPS không hợp lệ", f.name))]
            dtypes[f"{f.name}_lat"] = dtypes[f"{f.name}_lon"] = "Float64"
    return _build(questionnaire.household_fields, questionnaire, extra, dtypes)


def member_schema(questionnaire: Questionnaire) -> TableSchema:
    """The member table: every member answer of the form, plus age 0–120."""
    age_field = "birth_year" if any(f.name == "birth_year" for f in questionnaire.member_fields) else "age"
    extra = {
        "age": [(_check(_between(0, MAX_AGE), "impossible_age", "age"),
                 IssueSpec("impossible_age", ERROR, f"tuổi không hợp lý (ngoài 0–{MAX_AGE})", age_field))],
    }
    return _build(questionnaire.member_fields, questionnaire, extra, {"age": "Int64"})


# --- failures → issue rows -----------------------------------------------------------------

ISSUE_IDENTITY = ("submission_id", "household_id", "hamlet", "enumerator")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)[:100]


def validate_table(frame: pd.DataFrame, table: TableSchema, issue_columns: list[str]) -> pd.DataFrame:
    """Lazy validation of `frame`; every failure case becomes one issue row (`issue_columns`).

    `frame` carries the identity columns (submission_id, household_id, hamlet, enumerator) and,
    for members, `position`; the failing row is looked up by its index label.
    """
    try:
        # in place: nothing is coerced or added, so pandera's defensive copy of the table is waste
        table.schema.validate(frame, lazy=True, inplace=True)
        return pd.DataFrame(columns=issue_columns)
    except SchemaErrors as exc:
        cases = exc.failure_cases
    at = _first_rows(frame.index, cases["index"])
    carried = [c for c in (*ISSUE_IDENTITY, "position") if c in frame.columns]
    row = np.maximum(at, 0)  # (-1: no row; its values are never read)
    values = {c: frame[c].to_numpy(dtype=object)[row] for c in carried} if len(frame) else {}  # identities, looked up at once
    rows = []
    for k, case in enumerate(cases.itertuples(index=False)):
        column = case.column
        number = case.check_number
        spec = None
        if column is not None and number is not None and not (isinstance(number, float) and pd.isna(number)):
            spec = table.specs.get((column, int(number)))
        if spec is None or at[k] < 0:  # a column-level failure: the table, not a household
            rows.append({"submission_id": None, "field": column if isinstance(column, str) else _text(case.failure_case),
                         "value": _text(case.failure_case), "rule": "schema", "severity": WARNING,
                         "message": f"bảng dữ liệu không đúng khai báo: {_text(case.check)}"})
            continue
        record = {c: values[c][k] if c in values else None for c in ISSUE_IDENTITY}
        record.update(field=spec.field, value=_text(case.failure_case), rule=spec.rule, severity=spec.severity, message=spec.message)
        if "position" in values:
            record["member"] = values["position"][k]
        rows.append(record)
    out = pd.DataFrame(rows, columns=issue_columns)
    if "member" in out:
        out["member"] = pd.array([None if v is None or pd.isna(v) else int(v) for v in out["member"]], dtype="Int64")
    return out


def _first_rows(index: pd.Index, labels: pd.Series) -> np.ndarray:
    """The position of the first row of `index` with each label; -1 for a missing label or none."""
    labels = labels.astype(object).to_numpy()
    given = ~pd.isna(labels)
    first = ~index.duplicated()
    found = index[first].get_indexer(labels[given]) if given.any() else np.zeros(0, dtype=np.intp)
    at = np.full(len(labels), -1, dtype=np.intp)
    at[given] = np.where(found >= 0, np.flatnonzero(first)[found], -1)
    return at
