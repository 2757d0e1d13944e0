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
    """`_value_text` of every value, computed once per distinct value."""
    values = values.astype(object)
    distinct = {}
    for v in pd.unique(values):
        try:
            distinct[v] = _value_text(column, v, labels)
        except TypeError:  # unhashable: not expected in these tables
            pass
    return values.map(lambda v: distinct.get(v) if v in distinct else _value_text(column, v, labels))


def render(template: str, frame: pd.DataFrame, parameters: dict, labels: Labels) -> pd.Series:
    """The template filled per row of `frame`; each ``{...}`` is a pandas expression."""
    out = pd.Series("", index=frame.index, dtype=object)
    position = 0
    for m in _PLACEHOLDER.finditer(template):
        out = out + template[position:m.start()]
        expression = m.group(1).strip()
        if expression.startswith("@") and expression[1:] in parameters:
            text = pd.Series(_value_text(None, parameters[expression[1:]], labels), index=frame.index, dtype=object)
        else:
            values = frame.eval(expression, engine="python", local_dict=parameters)
            if not isinstance(values, pd.Series):
                values = pd.Series([values] * len(frame), index=frame.index)
            column = expression if expression in frame.columns else None
            text = _texts(values, column, labels)
        out = out + text
        position = m.end()
    return out + template[position:]


def _columns_text(frame: pd.DataFrame, columns: list[str], labels: Labels, skip_missing: bool = False) -> pd.Series:
    """"label: value; label: value" per row; `skip_missing` leaves out unanswered (not asked) columns."""
    if not columns or frame.empty:
        return pd.Series("", index=frame.index, dtype=object)
    out = pd.Series("", index=frame.index, dtype=object)
    for c in columns:
        values = frame[c].astype(object)
        part = labels.column(c) + ": " + _texts(values, c, labels)
        if skip_missing:
            part = part.where(values.notna(), "")
        out = out + ((out != "") & (part != "")).map({True: "; ", False: ""}) + part
    return out


def _member_prefix(members: pd.DataFrame) -> pd.Series:
    age = members["age"].astype(object).map(number_text) if "age" in members else pd.Series("?", index=members.index)
    return "thành viên số " + members["position"].astype(str) + " (" + age + " tuổi)"


def _join_by_household(texts: pd.Series, members: pd.DataFrame, households: pd.DataFrame, first_only: bool = False) -> pd.Series:
    sid = members["submission_id"]
    if first_only:
        firsts = ~sid.duplicated(keep="first")
        return households["submission_id"].map(pd.Series(texts[firsts].to_numpy(), index=sid[firsts].to_numpy()))
    many = sid.duplicated(keep=False)
    single = pd.Series(texts[~many].to_numpy(), index=sid[~many].to_numpy())
    joined = texts[many].groupby(sid[many]).agg("; ".join) if many.any() else pd.Series(dtype=object)
    return households["submission_id"].map(pd.concat([single, joined]))


def indicator_facts(indicator: Indicator, households: pd.DataFrame, members: pd.DataFrame, parameters: dict,
                    deprived: pd.Series, labels: Labels) -> pd.Series:
    """The fact text per household (indexed like `households`) for one indicator."""
    deprived = deprived.astype(bool)
    out = pd.Series("", index=households.index, dtype=object)
    if indicator.kind == "household":
        expression = " ".join(indicator.household.split())
        generic = _columns_text(households, used_columns(expression, households), labels)
        yes = render(indicator.fact, households, parameters, labels) if indicator.fact else generic
        no = render(indicator.fact_not, households, parameters, labels) if indicator.fact_not else generic
        return yes.where(deprived, no)

    expression = " ".join(indicator.member.split())
    if members.empty:
        matches = pd.Series(False, index=members.index)
    else:
        matches = members.eval(expression, engine="python", local_dict=parameters)
        matches = pd.Series(matches, index=members.index) if not isinstance(matches, pd.Series) else matches
        matches = matches.astype("boolean").fillna(False).astype(bool)
    matched = members[matches]
    columns = [c for c in used_columns(expression, members) if c != "age"]
    if indicator.fact:
        member_text = render(indicator.fact, matched, parameters, labels)
    else:
        detail = _columns_text(matched, columns, labels, skip_missing=True)
        member_text = _member_prefix(matched) + detail.map(lambda d: f": {d}" if d else "")
    listed = _join_by_household(member_text, matched, households, first_only=indicator.kind == "no_member").astype(object)
    if indicator.kind == "any_member":
        none = "không có thành viên nào thuộc diện"
        out = listed.fillna(none)
        if indicator.fact_not:
            out = out.where(deprived, render(indicator.fact_not, households, parameters, labels))
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
    positions = matched.groupby("submission_id")["position"].agg(lambda s: ", ".join(str(int(p)) for p in s))
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
        out[f"fact_{ind}"] = out["submission_id"].map(dict(zip(group["submission_id"], group["fact"])))
    deprived = facts[facts["deprived"]]
    joined = (deprived["indicator"] + ": " + deprived["fact"].astype(str)).groupby(deprived["submission_id"], sort=False).agg(" | ".join)
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
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FACT_COLUMNS)
    return facts_detail_table(table.sort_values(["hamlet", "household_id", "submission_id"], kind="mergesort"))
