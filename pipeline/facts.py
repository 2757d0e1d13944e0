"""The facts that decided each indicator, per household, in Vietnamese an officer can read out.

For every household and indicator: deprived or not, and a short text of what decided it, e.g.

* H2: ``thành viên số 3 (8 tuổi) không có thẻ BHYT``
* N2: ``45 m² / 6 người = 7,5 m²/người < 8``
* W1: ``nguồn nước sinh hoạt chính: Sông, kênh, ao hồ``

The text comes from the indicator's ``fact`` / ``fact_not`` template in the rule set when it has
one (``{expression}`` placeholders are pandas expressions over the household row, or over the
matching member's row for member kinds), else it is built from the rule's kind, the members that
matched and the columns the expression uses, with the questionnaire's labels. Pure functions over
DataFrames; nothing here knows a threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rasoat.pipeline.expressions import evaluate_expression, flags, names_readable, used_columns
from rasoat.pipeline.ordering import sorted_rows
from rasoat.pipeline.publish import CsvParts
from rasoat.settings import Indicator, RuleSet

FACT_COLUMNS = ["submission_id", "household_id", "hamlet", "indicator", "name", "deprived", "fact", "confidence", "provisional"]
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Columns derived by tidy that have no question of their own.
_EXTRA_LABELS = {"members": "số nhân khẩu", "age": "tuổi", "position": "thành viên số"}
_BOOL_TEXT = {True: "có", False: "không"}


@dataclass(frozen=True)
class Labels:
    """Vietnamese labels: column -> label, column -> (code -> label)."""

    columns: dict[str, str] = field(default_factory=dict)
    choices: dict[str, dict[str, str]] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.columns.get(name) or _EXTRA_LABELS.get(name) or name


def labels_from_questionnaire(questionnaire) -> Labels:
    """Field labels (first letter lower-cased) and choice labels by column, from the form."""
    columns: dict[str, str] = {}
    choices: dict[str, dict[str, str]] = {}
    for f in questionnaire.fields:
        if f.label_vi:
            label = f.label_vi.rstrip("?").strip()
            columns[f.name] = label[:1].lower() + label[1:]
        if f.choice_list and f.choice_list != "yes_no":
            options = questionnaire.choice_labels.get(f.choice_list, {})
            choices[f.name] = dict(options)
            if f.type == "select_multiple":
                for code, text in options.items():
                    columns[f"{f.name}__{code}"] = text[:1].lower() + text[1:]
    return Labels(columns, choices)


def number_text(value) -> str:
    """7.5 -> '7,5'; 45.0 -> '45'; 1500000 -> '1.500.000'; booleans -> có / không."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "không rõ"
    if isinstance(value, bool):
        return _BOOL_TEXT[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value) == int(value):
            return f"{int(value):,}".replace(",", ".")
        return f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".").replace(".", ",")
    return str(value)


def _value_text(column: str | None, value, labels: Labels) -> str:
    if column and isinstance(value, str) and value in labels.choices.get(column, {}):
        return labels.choices[column][value]
    try:
        import numpy as np

        if isinstance(value, np.generic):
            value = value.item()
    except ImportError:  # pragma: no cover
        pass
    return number_text(value)


def _coded_texts(values: pd.Series, column: str | None, labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, text per code): `_value_text` of every value, computed once per distinct value."""
    values = values.astype(object)
    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable: not expected in these tables
        return np.arange(len(values)), values.map(lambda v: _value_text(column, v, labels)).to_numpy(dtype=object)
    texts = [_value_text(column, v, labels) for v in distinct] + [_value_text(column, None, labels), _value_text(column, pd.NaT, labels)]
    codes = np.where(codes < 0, len(distinct), codes)  # missing: "không rõ"
    missing = np.flatnonzero(codes == len(distinct))
    if len(missing):  # NaT is the only missing value not shown as "không rõ"
        codes[missing[np.array([v is pd.NaT for v in values.to_numpy()[missing]], dtype=bool)]] = len(distinct) + 1
    return codes, np.array(texts, dtype=object)


def _coded_str(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, text per code) of `values.astype(str)`, computed once per distinct value."""
    if values.dtype == object:  # 1 and 1.0 are one key but two texts
        values = values.astype(str)
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return codes, pd.Series(distinct, dtype=values.dtype).astype(str).to_numpy(dtype=object)


def _combine(codes: list[np.ndarray], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(combination code per row, first row of each combination): rows with the same codes share a combination."""
    combination = np.zeros(rows, dtype=np.int64)
    for c in codes:
        combination = pd.factorize(combination * (int(c.max()) + 1 if len(c) else 1) + c)[0]
    # factorize numbers combinations in order of first appearance: a first row is one above all before it
    before = np.maximum.accumulate(np.r_[-1, combination[:-1]]) if rows else combination
    return combination, np.flatnonzero(combination > before)


def _fill(literals: list[str], coded: list[tuple[np.ndarray, np.ndarray]], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """literals[0] + text 1 + literals[1] + … + literals[-1] per row, as (code per row, text per code).

    Each distinct combination of the texts is concatenated once: values repeat a lot (codes, small numbers).
    """
    combination, first = _combine([codes for codes, _ in coded], rows)
    out = np.full(len(first), literals[0], dtype=object)
    for literal, (codes, texts) in zip(literals[1:], coded):
        out = out + texts[codes[first]] + literal
    return combination, out


def _join_codes(texts, codes: np.ndarray, size: int, sep: str) -> np.ndarray:
    """`texts` joined by `sep` per code 0 … size-1, in row order (None for a code without rows).

    Like ``texts.groupby(codes).agg(sep.join)`` without a Python call per group: the rows are put
    in code order, then the k-th text of every group is appended at once, k = 1, 2, …
    """
    texts = np.asarray(texts, dtype=object)
    order = np.argsort(codes, kind="stable")
    codes, texts = codes[order], texts[order]
    out = np.full(size, None, dtype=object)
    if not len(codes):
        return out
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    rank = np.arange(len(codes)) - np.repeat(starts, sizes)
    out[codes[starts]] = texts[starts]
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(1, sizes.max() + 1))
    for k in range(1, sizes.max()):
        rows = by_rank[bounds[k - 1]:bounds[k]]
        out[codes[rows]] = out[codes[rows]] + sep + texts[rows]
    return out


def _join_groups(texts, keys, sep: str) -> pd.Series:
    """`texts` joined by `sep` per key, in row order: a Series indexed by the distinct keys (first seen first)."""
    codes, distinct = pd.factorize(pd.Series(keys, dtype=object) if not isinstance(keys, pd.Series) else keys)
    valid = np.flatnonzero(codes >= 0)
    joined = _join_codes(np.asarray(texts, dtype=object)[valid], codes[valid], len(distinct), sep)
    return pd.Series(joined, index=pd.Index(distinct), dtype=object)


@dataclass(frozen=True)
class SubmissionKeys:
    """Submission ids as codes shared by the household and member tables: a household's members are
    then found by position, with `Series.map`'s meaning (by value, a missing id matching a missing id)."""

    households: np.ndarray
    members: np.ndarray
    grouped: np.ndarray  # the members groupby counts: those with a submission id
    size: int


def submission_keys(households: pd.DataFrame, members: pd.DataFrame) -> SubmissionKeys:
    # as plain objects: factorizing a string column keeping its missing values is slower
    sid = np.concatenate([households["submission_id"].to_numpy(dtype=object), members["submission_id"].to_numpy(dtype=object)])
    codes, distinct = pd.factorize(sid, use_na_sentinel=False)
    return SubmissionKeys(codes[:len(households)], codes[len(households):], members["submission_id"].notna().to_numpy(dtype=bool), len(distinct))


def _template_columns(frame: pd.DataFrame, template: str | None, columns: list[str]) -> pd.DataFrame:
    """`frame` narrowed to the columns `template` (or, without one, `columns`) uses: rows are then cheap to select."""
    if not template:
        return frame[columns]
    expressions = [m.group(1).strip() for m in _PLACEHOLDER.finditer(template)]
    if not all(names_readable(e) for e in expressions):
        return frame
    return frame[list(dict.fromkeys(c for e in expressions for c in used_columns(e, frame)))]


def _rendered(template: str, frame: pd.DataFrame, parameters: dict, labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """`render` as (code per row, text per code)."""
    literals, coded = [], []
    position = 0
    for m in _PLACEHOLDER.finditer(template):
        literals.append(template[position:m.start()])
        expression = m.group(1).strip()
        if expression.startswith("@") and expression[1:] in parameters:
            coded.append((np.zeros(len(frame), dtype=np.int64), np.array([_value_text(None, parameters[expression[1:]], labels)], dtype=object)))
        else:  # evaluated over all of `frame`: a template sees its own rows
            values = evaluate_expression(frame, expression, parameters)
            if not isinstance(values, pd.Series):
                values = pd.Series([values] * len(frame), index=frame.index)
            coded.append(_coded_texts(values, expression if expression in frame.columns else None, labels))
        position = m.end()
    return _fill([*literals, template[position:]], coded, len(frame))


def render(template: str, frame: pd.DataFrame, parameters: dict, labels: Labels) -> pd.Series:
    """The template filled per row of `frame`; each ``{...}`` is a pandas expression."""
    codes, texts = _rendered(template, frame, parameters, labels)
    return pd.Series(texts[codes], index=frame.index, dtype=object)


def _columns_coded(frame: pd.DataFrame, columns: list[str], labels: Labels, skip_missing: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """"label: value; label: value" per row as (code per row, text per code); `skip_missing` leaves out unanswered (not asked) columns."""
    if not columns or frame.empty:
        return np.zeros(len(frame), dtype=np.int64), np.array([""], dtype=object)
    coded = []
    for c in columns:
        values = frame[c].astype(object)
        codes, texts = _coded_texts(values, c, labels)
        texts = (labels.column(c) + ": ") + texts
        if skip_missing:  # an unanswered value is one more code, with no text
            codes = np.where(values.notna().to_numpy(dtype=bool), codes, len(texts))
            texts = np.append(texts, "")
        coded.append((codes, texts))
    combination, first = _combine([codes for codes, _ in coded], len(frame))
    out = np.full(len(first), "", dtype=object)
    for codes, texts in coded:
        part = texts[codes[first]]
        out = out + np.where((out != "") & (part != ""), "; ", "") + part
    return combination, out


def _columns_text(frame: pd.DataFrame, columns: list[str], labels: Labels) -> pd.Series:
    codes, texts = _columns_coded(frame, columns, labels)
    return pd.Series(texts[codes], index=frame.index, dtype=object)


def _member_texts(members: pd.DataFrame, columns: list[str], labels: Labels) -> np.ndarray:
    """"thành viên số 3 (8 tuổi): label: value; …" per member (the answered columns only)."""
    position = _coded_str(members["position"])
    if "age" in members:
        age = _coded_texts(members["age"], None, Labels())
    else:
        age = (np.zeros(len(members), dtype=np.int64), np.array(["?"], dtype=object))
    codes, detail = _columns_coded(members, columns, labels, skip_missing=True)
    detail = (codes, np.where(detail != "", ": " + detail, "").astype(object))
    codes, texts = _fill(["thành viên số ", " (", " tuổi)", ""], [position, age, detail], len(members))
    return texts[codes]


def _first_per_household(rows: np.ndarray, keys: SubmissionKeys) -> np.ndarray:
    """`rows` (member positions) less those whose household came earlier in `rows`."""
    _, first = np.unique(keys.members[rows], return_index=True)
    return rows[np.sort(first)]


def indicator_facts(indicator: Indicator, households: pd.DataFrame, members: pd.DataFrame, parameters: dict,
                    deprived: pd.Series, labels: Labels, keys: SubmissionKeys | None = None) -> pd.Series:
    """The fact text per household (indexed like `households`) for one indicator; `keys` as `submission_keys` gives them."""
    deprived = deprived.astype(bool).to_numpy(dtype=bool)
    if indicator.kind == "household":
        expression = " ".join(indicator.household.split())
        columns = used_columns(expression, households)
        # each row is rendered once: the deprived rows with `fact`, the others with `fact_not` (row-wise templates)
        text = np.empty(len(households), dtype=object)
        for rows, template in ((deprived, indicator.fact), (~deprived, indicator.fact_not)):
            part = _template_columns(households, template, columns)[rows]
            text[rows] = (render(template, part, parameters, labels) if template else _columns_text(part, columns, labels)).to_numpy()
        return pd.Series(text, index=households.index, dtype=object)

    if keys is None:
        keys = submission_keys(households, members)
    expression = " ".join(indicator.member.split())
    if members.empty:
        matches = np.zeros(len(members), dtype=bool)
    else:
        matches = flags(members, expression, parameters).to_numpy()
    matched = np.flatnonzero(matches)
    columns = [c for c in used_columns(expression, members) if c != "age"]
    if indicator.kind == "share_of_members":
        return pd.Series(_share_text(indicator, members, matched, deprived, keys), index=households.index, dtype=object)

    if indicator.kind == "no_member":  # only each household's first matching member is shown
        matched = _first_per_household(matched, keys)
    # only the columns the text needs are selected (rows of the member table are costly to copy)
    needed = list(dict.fromkeys(columns + [c for c in ("position", "age") if c in members]))
    shown = _template_columns(members, indicator.fact, needed).iloc[matched]
    if indicator.fact:
        codes, texts = _rendered(indicator.fact, shown, parameters, labels)
        member_text = texts[codes]
    else:
        member_text = _member_texts(shown, columns, labels)
    if indicator.kind == "no_member":  # a member table lookup by submission id (a missing one included)
        listed = np.full(keys.size, None, dtype=object)
        listed[keys.members[matched]] = member_text
        none = "không có thành viên nào: " + ", ".join(labels.column(c) for c in columns)
        out = listed[keys.households]
        out[deprived | (out == None)] = none  # noqa: E711 (elementwise)
        return pd.Series(out, index=households.index, dtype=object)
    # any_member: the matching members' texts, joined per household
    grouped = keys.grouped[matched]
    out = _join_codes(member_text[grouped], keys.members[matched][grouped], keys.size, "; ")[keys.households]
    out[out == None] = "không có thành viên nào thuộc diện"  # noqa: E711 (elementwise)
    if indicator.fact_not:
        rows = ~deprived
        part = _template_columns(households, indicator.fact_not, [])[rows]
        out[rows] = render(indicator.fact_not, part, parameters, labels).to_numpy()
    return pd.Series(out, index=households.index, dtype=object)


def _share_text(indicator: Indicator, members: pd.DataFrame, matched: np.ndarray, deprived: np.ndarray, keys: SubmissionKeys) -> np.ndarray:
    """"2/3 thành viên thuộc diện = 67% > 50% (thành viên số 2, 3)" per household."""
    grouped = keys.members[keys.grouped]
    m = np.bincount(grouped, minlength=keys.size)[keys.households]
    in_group = matched[keys.grouped[matched]]
    n = np.bincount(keys.members[in_group], minlength=keys.size)[keys.households]
    # the text before the positions depends on (n, m, deprived) only: made once per combination
    combination, first = _combine([n, m, deprived.astype(np.int64)], len(n))
    n_, m_ = pd.Series(n[first]), pd.Series(m[first])
    share = (100 * n_ / m_.where(m_ > 0)).round(0).fillna(0).astype(int)
    sign = pd.Series("≤", index=n_.index).where(~deprived[first], ">")
    limit = number_text(round(100 * float(indicator.above), 2))
    text = n_.astype(str) + "/" + m_.astype(str) + " thành viên thuộc diện = " + share.astype(str) + "% " + sign + " " + limit + "%"
    out = text.to_numpy(dtype=object)[combination]
    codes, positions = _coded_str(members["position"].iloc[in_group].astype("int64"))
    listed = _join_codes(positions[codes], keys.members[in_group], keys.size, ", ")[keys.households]
    rows = np.flatnonzero(listed != None)  # noqa: E711 (elementwise)
    out[rows] = out[rows] + " (thành viên số " + listed[rows] + ")"
    return out


def facts_table(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, labels: Labels) -> pd.DataFrame:
    """One row per household and indicator: deprived or not and the fact (FACT_COLUMNS), indicator after indicator."""
    if not ruleset.indicators:
        return pd.DataFrame(columns=FACT_COLUMNS)
    keys = submission_keys(classified, members)
    indicators = ruleset.indicators
    deprived = [classified[f"deprived_{ind.id}"].astype(bool) for ind in indicators]
    facts = [indicator_facts(ind, classified, members, ruleset.parameters, d, labels, keys) for ind, d in zip(indicators, deprived)]

    # each column made once for all indicators; its type inferred from the values, as a frame per indicator had it
    def repeated(values) -> pd.Series:  # the same column for every indicator
        return pd.concat([pd.Series(values)] * len(indicators), ignore_index=True)

    which = np.repeat(np.arange(len(indicators)), len(classified))

    def per_indicator(values: list) -> pd.Series:  # one value per indicator, for each of its rows
        return pd.Series(pd.Series(values).array.take(which))

    return pd.DataFrame({
        "submission_id": repeated(classified["submission_id"].to_numpy()),
        "household_id": repeated(classified["household_id"].to_numpy() if "household_id" in classified else [None] * len(classified)),
        "hamlet": repeated(classified["hamlet"].to_numpy()),
        "indicator": per_indicator([ind.id for ind in indicators]), "name": per_indicator([ind.name for ind in indicators]),
        "deprived": np.concatenate([d.to_numpy() for d in deprived]),
        "fact": pd.concat([pd.Series(f.to_numpy()) for f in facts], ignore_index=True),
        "confidence": per_indicator([ind.confidence for ind in indicators]),
        "provisional": np.repeat([bool(ind.provisional or ruleset.provisional) for ind in indicators], len(classified)),
    }, copy=False)


def _indicator_blocks(classified: pd.DataFrame, facts: pd.DataFrame) -> list[tuple[str, slice]] | None:
    """(indicator, its rows) when `facts` is as `facts_table` makes it for `classified`: one block of rows
    per indicator, each in the households' order, the submission ids unique. None otherwise."""
    n = len(classified)
    if not n or len(facts) % n or not isinstance(facts["fact"].dtype, pd.StringDtype) or facts["fact"].hasnans:
        return None
    sid = classified["submission_id"].to_numpy()
    fact_sid, indicator = facts["submission_id"].to_numpy(), facts["indicator"].to_numpy()
    blocks = [(indicator[start], slice(start, start + n)) for start in range(0, len(facts), n)]
    if len({ind for ind, _ in blocks}) < len(blocks) or not classified["submission_id"].is_unique:
        return None
    if all((indicator[rows] == ind).all() and (fact_sid[rows] == sid).all() for ind, rows in blocks):
        return blocks
    return None


def with_facts(classified: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    """`classified` plus `fact_<ID>` per indicator and `deprivation_facts` (the deprived ones, joined)."""
    blocks = _indicator_blocks(classified, facts)
    if blocks is None:
        return _with_facts_by_id(classified, facts)
    out = classified.copy(deep=False)  # copy-on-write: the new columns do not touch `classified`
    # slices of the facts' own string array: a province's ten million texts are never made Python objects
    fact, deprived = facts["fact"].astype("str").array, facts["deprived"].to_numpy(dtype=bool)
    joined = np.full(len(classified), "", dtype=object)
    for ind, rows in blocks:
        out[f"fact_{ind}"] = pd.Series(fact[rows], index=out.index)
        hit = np.flatnonzero(deprived[rows])  # the deprived ones, appended in indicator order
        part = (ind + ": ") + fact[rows].take(hit).to_numpy(dtype=object)
        joined[hit] = np.where(joined[hit] == "", part, joined[hit] + " | " + part)
    # a string column when some household is deprived; none deprived, the texts are "" in an object column
    out["deprivation_facts"] = pd.Series(joined, index=out.index, dtype=None if deprived.any() else object)
    return out


def _with_facts_by_id(classified: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    """`with_facts` for any facts table: matched by submission id, the last fact of a submission winning."""
    out = classified.copy()
    for ind, group in facts.groupby("indicator", sort=False):
        sid = group["submission_id"]
        last = ~sid.duplicated(keep="last").to_numpy()  # as dict(zip(...)): the last fact of a submission wins
        by_sid = pd.Series(group["fact"].to_numpy()[last], index=sid.to_numpy()[last])
        out[f"fact_{ind}"] = out["submission_id"].map(by_sid)
    deprived = facts[facts["deprived"].to_numpy(dtype=bool)]
    texts = deprived["indicator"].astype(object).to_numpy() + ": " + deprived["fact"].astype(str).astype(object).to_numpy()
    joined = _join_groups(texts, deprived["submission_id"], " | ")
    out["deprivation_facts"] = out["submission_id"].map(joined).fillna("")
    return out


def facts_detail_table(facts: pd.DataFrame) -> pd.DataFrame:
    """The per-household detail with Vietnamese headers (published as chi-tiet-chi-so.csv)."""
    return pd.DataFrame({
        "Mã hộ": facts["household_id"], "Ấp": facts["hamlet"],
        "Mã chỉ số": facts["indicator"], "Chỉ số": facts["name"],
        "Thiếu hụt": facts["deprived"].map({True: "Có", False: "Không"}), "Căn cứ": facts["fact"],
        "Độ tin cậy": facts["confidence"], "Quy tắc tạm thời": facts["provisional"].map({True: "Có", False: ""}),
    })


def _spread(values: np.ndarray, positions: np.ndarray, index: pd.Index) -> pd.Series:
    """`values[positions]` as a column labelled `index`: categorical (each distinct text once, the
    CSV writer converts it once) when every value is text or missing, else as the values are."""
    if all(isinstance(v, str) for v in values if not pd.isna(v)):
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        categories = pd.Index(np.asarray(distinct, dtype=object), dtype=object)
        return pd.Series(pd.Categorical.from_codes(codes[positions], categories), index=index)
    return pd.Series(values, dtype=object).take(positions).set_axis(index)


def facts_detail(classified: pd.DataFrame, ruleset) -> pd.DataFrame:
    """Per household and indicator: deprived or not and the facts (published as commune/chi-tiet-chi-so.csv).

    Sorted by hamlet, household, submission; a household's indicators in rule-set order. The row labels
    are those of a table of one block of `len(classified)` rows per indicator.
    """
    indicators = ruleset.indicators
    if not indicators:
        return facts_detail_table(pd.DataFrame(columns=FACT_COLUMNS))
    households = sorted_rows(classified[["hamlet", "household_id", "submission_id"]].reset_index(drop=True))
    k = len(indicators)
    each = np.repeat(households, k)  # the household of every row, and (tiled) its indicator
    which = np.tile(np.arange(k), len(households))
    each_position = np.repeat(np.arange(len(households)), k)
    index = pd.Index(each + len(classified) * which)

    def per_household(column: pd.Series) -> pd.Series:
        return _spread(column.to_numpy(dtype=object)[households], each_position, index)

    def per_indicator(values: list) -> pd.Series:
        return _spread(np.array(values, dtype=object), which, index)

    def stacked(columns: list[pd.Series]) -> pd.Series:  # the table's column: one block per indicator
        return pd.concat(columns, ignore_index=True).take(index).set_axis(index)

    deprived = np.stack([classified[f"deprived_{ind.id}"].astype(bool).to_numpy() for ind in indicators], axis=1)[households].ravel()
    provisional = np.tile([bool(ind.provisional or ruleset.provisional) for ind in indicators], len(households))
    return pd.DataFrame({
        "Mã hộ": per_household(classified["household_id"]), "Ấp": per_household(classified["hamlet"]),
        "Mã chỉ số": per_indicator([ind.id for ind in indicators]), "Chỉ số": per_indicator([ind.name for ind in indicators]),
        "Thiếu hụt": _spread(np.array(["Không", "Có"], dtype=object), deprived.astype(np.int64), index),
        "Căn cứ": stacked([classified[f"fact_{ind.id}"] for ind in indicators]),
        "Độ tin cậy": per_indicator([ind.confidence for ind in indicators]),
        "Quy tắc tạm thời": _spread(np.array(["", "Có"], dtype=object), provisional.astype(np.int64), index),
    }, copy=False)


DETAIL_PART = 25_000  # households per part of chi-tiet-chi-so.csv (a dozen rows each)


def _fact_columns(ruleset: RuleSet, households: pd.DataFrame, members: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(household columns, member columns) the rule set's facts can read: those its expressions and
    templates name, the keys, the deprived flags, position and age. Every column when an expression
    is one `used_columns` cannot read (backquoted or not ASCII)."""
    expressions = []
    for ind in ruleset.indicators:
        expressions += [e for e in (ind.household, ind.member) if e]
        expressions += [m.group(1).strip() for t in (ind.fact, ind.fact_not) if t for m in _PLACEHOLDER.finditer(t)]
    if not all(names_readable(e) for e in expressions):
        return list(households.columns), list(members.columns)
    named = {c for e in expressions for frame in (households, members) for c in used_columns(e, frame)}
    keys = ["submission_id", "household_id", "hamlet", *(f"deprived_{ind.id}" for ind in ruleset.indicators)]
    return ([c for c in households.columns if c in named or c in keys],
            [c for c in members.columns if c in named or c in ("submission_id", "position", "age")])


class _HouseholdPieces(Sequence):
    """Pieces of `rows` households of `households` in the order `order`, each with its households'
    members (in their table order) and `extra`: piece k is `(households k, their members, *extra)`,
    taken only when asked. At least one piece, empty for an empty table."""

    def __init__(self, households: pd.DataFrame, members: pd.DataFrame, rows: int, order: np.ndarray, extra: tuple = ()):
        self.households, self.members, self.order, self.extra = households, members, order, extra
        n = len(households)
        self.rows = rows if households["submission_id"].is_unique else max(n, 1)  # members split by household only then
        keys = submission_keys(households, members)  # a member's household by submission id, as the facts match them
        rank = np.full(keys.size + 1, n, dtype=np.int64)  # code -> the household's place in `order`; n: none
        rank[keys.households[order]] = np.arange(n)
        member_rank = rank[keys.members]
        self.member_order = np.argsort(member_rank, kind="stable")
        self.member_rank = member_rank[self.member_order]

    def __len__(self) -> int:
        return max(1, -(-len(self.households) // self.rows))

    def __getitem__(self, k: int) -> tuple:
        if not 0 <= k < len(self):
            raise IndexError(k)
        first, stop = k * self.rows, (k + 1) * self.rows
        lo, hi = np.searchsorted(self.member_rank, [first, min(stop, len(self.households))])
        members = self.members.take(np.sort(self.member_order[lo:hi]))  # the table's own order within the piece
        return (self.households.take(self.order[first:stop]), members, *self.extra)


def detail_with_facts(households: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, labels: Labels) -> pd.DataFrame:
    """`facts_detail` of the households with their facts worked out from them and their members."""
    if households.empty:  # no facts to put back: the header alone
        return facts_detail(households.assign(**{f"fact_{ind.id}": "" for ind in ruleset.indicators}), ruleset)
    return facts_detail(with_facts(households, facts_table(households, members, ruleset, labels)), ruleset)


def facts_detail_parts(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, labels: Labels,
                       households: int = DETAIL_PART) -> CsvParts:
    """chi-tiet-chi-so.csv, byte for byte `detail_with_facts` of all households, made `households`
    households at a time, each part's facts worked out when it is written (in worker processes for a
    province): a household's facts read only its own row and members, and a province's ten million
    fact texts are never held at once. The households are sorted as `facts_detail` sorts them, so the
    parts follow one another in its order."""
    household_columns, member_columns = _fact_columns(ruleset, classified, members)
    keys = classified[["hamlet", "household_id", "submission_id"]].reset_index(drop=True)
    order = sorted_rows(keys)  # as sort_values(keys, kind="mergesort"), faster
    pieces = _HouseholdPieces(classified[household_columns].reset_index(drop=True), members[member_columns].reset_index(drop=True),
                              households, order, extra=(ruleset, labels))
    return CsvParts(detail_with_facts, pieces)
