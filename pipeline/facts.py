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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rasoat.settings import Indicator, RuleSet

FACT_COLUMNS = ["submission_id", "household_id", "hamlet", "indicator", "name", "deprived", "fact", "confidence", "provisional"]
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_IDENTIFIER = re.compile(r"(?<![@\w.'\"])([A-Za-z_][A-Za-z0-9_]*)(?![\w'\"(])")
_KEYWORDS = {"and", "or", "not", "in", "True", "False", "None", "is"}
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


def used_columns(expression: str, frame: pd.DataFrame) -> list[str]:
    """The frame's columns an expression uses, in order of appearance (no @parameters)."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "''", " ".join(expression.split()))
    seen: list[str] = []
    for name in _IDENTIFIER.findall(text):
        if name not in _KEYWORDS and name in frame.columns and name not in seen:
            seen.append(name)
    return seen


def _texts(values: pd.Series, column: str | None, labels: Labels) -> pd.Series:
    """`_value_text` of every value, computed once per distinct value (whole column at once)."""
    values = values.astype(object)
    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # unhashable: not expected in these tables
        return values.map(lambda v: _value_text(column, v, labels))
    texts = np.array([_value_text(column, v, labels) for v in distinct] + [_value_text(column, None, labels)], dtype=object)
    out = texts[codes]  # code -1 (missing) takes the last entry: "không rõ"
    missing = np.flatnonzero(codes < 0)
    if len(missing):  # NaT is the only missing value not shown as "không rõ"
        nat = missing[np.array([v is pd.NaT for v in values.to_numpy()[missing]], dtype=bool)]
    else:
        nat = missing
    if len(nat):
        out[nat] = _value_text(column, pd.NaT, labels)
    return pd.Series(out, index=values.index, dtype=object)


def _join_groups(texts, keys, sep: str) -> pd.Series:
    """`texts` joined by `sep` per key, in row order: a Series indexed by the distinct keys (first seen first).

    Like ``texts.groupby(keys).agg(sep.join)`` without a Python call per group: the rows are put
    in key order, then the k-th text of every group is appended at once, k = 1, 2, …
    """
    texts = np.asarray(texts, dtype=object)
    codes, distinct = pd.factorize(pd.Series(keys, dtype=object) if not isinstance(keys, pd.Series) else keys)
    valid = np.flatnonzero(codes >= 0)
    codes, texts = codes[valid], texts[valid]
    order = np.argsort(codes, kind="stable")
    codes, texts = codes[order], texts[order]
    out = np.empty(len(distinct), dtype=object)
    if not len(codes):
        return pd.Series(out, index=pd.Index(distinct), dtype=object)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    rank = np.arange(len(codes)) - np.repeat(starts, sizes)
    out[codes[starts]] = texts[starts]
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(1, sizes.max() + 1))
    for k in range(1, sizes.max()):
        rows = by_rank[bounds[k - 1]:bounds[k]]
        out[codes[rows]] = out[codes[rows]] + sep + texts[rows]
    return pd.Series(out, index=pd.Index(distinct), dtype=object)


def _eval(frame: pd.DataFrame, expression: str, parameters: dict):
    """`frame.eval` (python engine) over only the columns the expression names: pandas resolves every column otherwise."""
    if "`" not in expression and expression.isascii():
        frame = frame[used_columns(expression, frame)]
    return frame.eval(expression, engine="python", local_dict=parameters)


def _template_columns(frame: pd.DataFrame, template: str | None, columns: list[str]) -> pd.DataFrame:
    """`frame` narrowed to the columns `template` (or, without one, `columns`) uses: rows are then cheap to select."""
    if not template:
        return frame[columns]
    expressions = [m.group(1).strip() for m in _PLACEHOLDER.finditer(template)]
    if any("`" in e or not e.isascii() for e in expressions):
        return frame
    return frame[list(dict.fromkeys(c for e in expressions for c in used_columns(e, frame)))]


def render(template: str, frame: pd.DataFrame, parameters: dict, labels: Labels) -> pd.Series:
    """The template filled per row of `frame`; each ``{...}`` is a pandas expression."""
    out = np.full(len(frame), "", dtype=object)
    position = 0
    for m in _PLACEHOLDER.finditer(template):
        out = out + template[position:m.start()]
        expression = m.group(1).strip()
        if expression.startswith("@") and expression[1:] in parameters:
            out = out + _value_text(None, parameters[expression[1:]], labels)
        else:
            values = _eval(frame, expression, parameters)
            if not isinstance(values, pd.Series):
                values = pd.Series([values] * len(frame), index=frame.index)
            column = expression if expression in frame.columns else None
            out = out + _texts(values, column, labels).to_numpy()
        position = m.end()
    return pd.Series(out + template[position:], index=frame.index, dtype=object)


def _columns_text(frame: pd.DataFrame, columns: list[str], labels: Labels, skip_missing: bool = False) -> pd.Series:
    """"label: value; label: value" per row; `skip_missing` leaves out unanswered (not asked) columns."""
    if not columns or frame.empty:
        return pd.Series("", index=frame.index, dtype=object)
    out = np.full(len(frame), "", dtype=object)
    for c in columns:
        values = frame[c].astype(object)
        part = (labels.column(c) + ": ") + _texts(values, c, labels).to_numpy()
        if skip_missing:
            part = np.where(values.notna().to_numpy(dtype=bool), part, "")
        both = (out != "") & (part != "")
        out = out + np.where(both, "; ", "") + part
    return pd.Series(out, index=frame.index, dtype=object)


def _member_prefix(members: pd.DataFrame) -> pd.Series:
    if "age" in members:
        age = _texts(members["age"].astype(object), None, Labels()).to_numpy()
    else:
        age = np.full(len(members), "?", dtype=object)
    position = members["position"].astype(str).to_numpy(dtype=object)
    return pd.Series("thành viên số " + position + " (" + age + " tuổi)", index=members.index, dtype=object)


def _join_by_household(texts: pd.Series, members: pd.DataFrame, households: pd.DataFrame, first_only: bool = False) -> pd.Series:
    sid = members["submission_id"]
    if first_only:
        firsts = ~sid.duplicated(keep="first")
        return households["submission_id"].map(pd.Series(texts[firsts].to_numpy(), index=sid[firsts].to_numpy()))
    return households["submission_id"].map(_join_groups(texts.to_numpy(), sid, "; "))


def indicator_facts(indicator: Indicator, households: pd.DataFrame, members: pd.DataFrame, parameters: dict,
                    deprived: pd.Series, labels: Labels) -> pd.Series:
    """The fact text per household (indexed like `households`) for one indicator."""
    deprived = deprived.astype(bool)
    out = pd.Series("", index=households.index, dtype=object)
    if indicator.kind == "household":
        expression = " ".join(indicator.household.split())
        columns = used_columns(expression, households)
        # each row is rendered once: the deprived rows with `fact`, the others with `fact_not` (row-wise templates)
        text = np.empty(len(households), dtype=object)
        for rows, template in ((deprived.to_numpy(dtype=bool), indicator.fact), (~deprived.to_numpy(dtype=bool), indicator.fact_not)):
            part = _template_columns(households, template, columns)[rows]
            text[rows] = (render(template, part, parameters, labels) if template else _columns_text(part, columns, labels)).to_numpy()
        return pd.Series(text, index=households.index, dtype=object)

    expression = " ".join(indicator.member.split())
    if members.empty:
        matches = pd.Series(False, index=members.index)
    else:
        matches = _eval(members, expression, parameters)
        matches = pd.Series(matches, index=members.index) if not isinstance(matches, pd.Series) else matches
        matches = matches.astype("boolean").fillna(False).astype(bool)
    matched = members[matches]
    columns = [c for c in used_columns(expression, members) if c != "age"]
    if indicator.kind in ("any_member", "no_member"):  # share_of_members lists positions only
        shown = matched
        if indicator.kind == "no_member":  # only each household's first matching member is shown
            shown = matched[~matched["submission_id"].duplicated(keep="first").to_numpy()]
        if indicator.fact:
            member_text = render(indicator.fact, shown, parameters, labels)
        else:
            detail = _columns_text(shown, columns, labels, skip_missing=True).to_numpy(dtype=object)
            member_text = _member_prefix(shown) + np.where(detail != "", ": " + detail, "")
        listed = _join_by_household(member_text, shown, households, first_only=indicator.kind == "no_member").astype(object)
    if indicator.kind == "any_member":
        none = "không có thành viên nào thuộc diện"
        out = listed.fillna(none)
        if indicator.fact_not:
            rows = ~deprived.to_numpy(dtype=bool)
            out = out.astype(object).copy()
            out[rows] = render(indicator.fact_not, households[rows], parameters, labels).to_numpy()
        return out.astype(object)
    if indicator.kind == "no_member":
        none = "không có thành viên nào: " + ", ".join(labels.column(c) for c in columns)
        return listed.where(~deprived, none).fillna(none).astype(object)
    # share_of_members
    total = members.groupby("submission_id").size()
    count = matches.groupby(members["submission_id"]).sum()
    n = households["submission_id"].map(count).fillna(0).astype(int)
    m = households["submission_id"].map(total).fillna(0).astype(int)
    share = (100 * n / m.where(m > 0)).round(0).fillna(0).astype(int)
    limit = number_text(round(100 * float(indicator.above), 2))
    positions = _join_groups(matched["position"].astype("int64").astype(str).to_numpy(dtype=object), matched["submission_id"], ", ")
    listed_pos = households["submission_id"].map(positions).fillna("")
    sign = pd.Series("≤", index=households.index).where(~deprived, ">")
    text = n.astype(str) + "/" + m.astype(str) + " thành viên thuộc diện = " + share.astype(str) + "% " + sign + " " + limit + "%"
    suffix = (" (thành viên số " + listed_pos + ")").where(listed_pos != "", "")
    return (text + suffix).astype(object)


def facts_table(classified: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, labels: Labels) -> pd.DataFrame:
    """One row per household and indicator: deprived or not and the fact (FACT_COLUMNS)."""
    parts = []
    for ind in ruleset.indicators:
        deprived = classified[f"deprived_{ind.id}"].astype(bool)
        text = indicator_facts(ind, classified, members, ruleset.parameters, deprived, labels)
        parts.append(pd.DataFrame({
            "submission_id": classified["submission_id"].to_numpy(),
            "household_id": classified["household_id"].to_numpy() if "household_id" in classified else None,
            "hamlet": classified["hamlet"].to_numpy(),
            "indicator": ind.id, "name": ind.name, "deprived": deprived.to_numpy(), "fact": text.to_numpy(),
            "confidence": ind.confidence, "provisional": bool(ind.provisional or ruleset.provisional),
        }))
    if not parts:
        return pd.DataFrame(columns=FACT_COLUMNS)
    return pd.concat(parts, ignore_index=True)[FACT_COLUMNS]


def with_facts(classified: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    """`classified` plus `fact_<ID>` per indicator and `deprivation_facts` (the deprived ones, joined)."""
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


def facts_detail(classified: pd.DataFrame, ruleset) -> pd.DataFrame:
    """Per household and indicator: deprived or not and the facts (published as commune/chi-tiet-chi-so.csv)."""
    parts = [pd.DataFrame({"submission_id": classified["submission_id"], "household_id": classified["household_id"],
                           "hamlet": classified["hamlet"], "indicator": ind.id, "name": ind.name,
                           "deprived": classified[f"deprived_{ind.id}"].astype(bool), "fact": classified[f"fact_{ind.id}"],
                           "confidence": ind.confidence, "provisional": bool(ind.provisional or ruleset.provisional)})
             for ind in ruleset.indicators]
    if not parts:
        return facts_detail_table(pd.DataFrame(columns=FACT_COLUMNS))
    table = pd.concat(parts, ignore_index=True)
    # sorted by hamlet, household, submission; a household's indicators in rule-set order: the households
    # are sorted once, then each one's rows (one per indicator, `len(classified)` apart) follow in turn
    keys = classified[["hamlet", "household_id", "submission_id"]].reset_index(drop=True)
    households = keys.sort_values(["hamlet", "household_id", "submission_id"], kind="mergesort").index.to_numpy()
    rows = (households[:, None] + len(classified) * np.arange(len(parts))[None, :]).ravel()
    return facts_detail_table(table.take(rows))
