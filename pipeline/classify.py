"""Classification of households under a rule set, with the reason written out.

All thresholds and indicator rules come from the rule set (config/rulesets/*.yaml); this module
only knows how to evaluate them: per-capita income by the direct method, each indicator's
expression over the member or household table, the deprivation count, and the class.
"""

from __future__ import annotations

import pandas as pd

from rasoat.settings import ConfigError, Hamlet, Indicator, RuleSet

POOR, NEAR_POOR, AVERAGE, NOT_POOR = "poor", "near_poor", "average", "not_poor"
CLASS_LABELS = {
    POOR: "Hộ nghèo",
    NEAR_POOR: "Hộ cận nghèo",
    AVERAGE: "Hộ có mức sống trung bình",
    NOT_POOR: "Hộ không nghèo",
}
WORKING_STATUSES = ("wage_worker", "self_employed")


def vnd(amount: float | int) -> str:
    """1320000 → '1.320.000' (Vietnamese thousands separator)."""
    return f"{int(round(amount)):,}".replace(",", ".")


def _evaluate(frame: pd.DataFrame, expression: str, parameters: dict) -> pd.Series:
    # YAML folded text may keep line breaks; pandas reads one line.
    result = frame.eval(" ".join(expression.split()), engine="python", local_dict=parameters)
    if not isinstance(result, pd.Series):  # a constant expression
        result = pd.Series(result, index=frame.index)
    return result.astype("boolean").fillna(False).astype(bool)


def indicator_deprivation(indicator: Indicator, households: pd.DataFrame, members: pd.DataFrame, parameters: dict) -> pd.Series:
    """Deprived or not, per household (indexed like `households`)."""
    if indicator.kind == "household":
        return _evaluate(households, indicator.household, parameters)
    matches = _evaluate(members, indicator.member, parameters)
    by_household = matches.groupby(members["submission_id"])
    if indicator.kind == "any_member":
        per = by_household.any()
    elif indicator.kind == "no_member":
        per = ~by_household.any()
    else:  # share_of_members
        per = by_household.mean() > indicator.above
    return households["submission_id"].map(per).fillna(indicator.kind == "no_member").astype(bool)


def check_ruleset_expressions(ruleset: RuleSet, households: pd.DataFrame, members: pd.DataFrame) -> None:
    """Fail early, naming the file and the indicator, if an expression cannot be evaluated."""
    for position, indicator in enumerate(ruleset.indicators):
        try:
            indicator_deprivation(indicator, households.head(5), members.head(20), ruleset.parameters)
        except Exception as exc:  # any pandas error is a config mistake here
            key = "household" if indicator.kind == "household" else "member"
            raise ConfigError(
                f"{ruleset.source_file}: indicators[{position}] ({indicator.id}).{key}: "
                f"cannot evaluate the expression ({type(exc).__name__}: {exc})"
            ) from None


def _reason(row: pd.Series, ruleset: RuleSet, names: dict[str, str]) -> str:
    income = f"Thu nhập bình quân {vnd(row['income_per_capita_month'])} đ/người/tháng"
    line = row["income_line"]
    comparison = f"≤ chuẩn {vnd(line)} đ" if row["income_per_capita_month"] <= line else f"> chuẩn {vnd(line)} đ"
    deprived = [names[i] for i in row["deprived_indicators"].split(", ") if i]
    if deprived:
        deprivations = f"thiếu hụt {len(deprived)} chỉ số: {', '.join(deprived)}"
    else:
        deprivations = "không thiếu hụt chỉ số nào"
    label = CLASS_LABELS[row["household_class"]].lower()
    text = f"{income} {comparison}; {deprivations} → {label}"
    if row["provisional"]:
        text += " (theo quy tắc tạm thời)"
    return text


def classify_households(households: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, hamlets: tuple[Hamlet, ...],
                        area_column: str | None = None) -> pd.DataFrame:
    """One row per household: income, each indicator, the count, the class and the reason.

    The area type (which income line) is the hamlet's from config; `area_column` names a column
    whose non-empty values take precedence (tables given by hand, see docs/data-contract.md).
    """
    out = households.copy()
    area = {h.code: h.area_type for h in hamlets}
    out["area_type"] = out["hamlet"].map(area).fillna("rural")
    if area_column and area_column in out:
        given = out[area_column].where(out[area_column].isin(["rural", "urban"]))
        out["area_type"] = given.fillna(out["area_type"])
    net_year = out["income_sources_year"].fillna(0) - out["production_costs"].fillna(0)
    out["income_per_capita_month"] = (net_year / 12 / out["members"].where(out["members"] > 0)).round().fillna(0).astype("int64")

    deprived_columns = []
    provisional_ids = {i.id for i in ruleset.indicators if i.provisional}
    for indicator in ruleset.indicators:
        column = f"deprived_{indicator.id}"
        out[column] = indicator_deprivation(indicator, out, members, ruleset.parameters).to_numpy()
        deprived_columns.append(column)
    flags = out[deprived_columns]
    ids = [c.removeprefix("deprived_") for c in deprived_columns]
    out["deprivation_count"] = flags.sum(axis=1).astype("int64")
    out["deprived_indicators"] = flags.apply(lambda r: ", ".join(i for i, d in zip(ids, r) if d), axis=1) if len(out) else ""

    line = out["area_type"].map({"rural": ruleset.income_line.rural, "urban": ruleset.income_line.urban}).astype(float)
    upper = out["area_type"].map({"rural": ruleset.average_living_upper.rural, "urban": ruleset.average_living_upper.urban}).astype(float)
    income = out["income_per_capita_month"]
    below_line = income <= line
    cutoff = ruleset.deprivation_cutoff.value
    out["household_class"] = NOT_POOR
    out.loc[below_line & (out["deprivation_count"] >= cutoff), "household_class"] = POOR
    out.loc[below_line & (out["deprivation_count"] < cutoff), "household_class"] = NEAR_POOR
    out.loc[~below_line & (income <= upper), "household_class"] = AVERAGE
    out["class_label"] = out["household_class"].map(CLASS_LABELS)
    out["income_line"] = line

    worker_line = out["area_type"].map({"rural": ruleset.low_income_worker_line.rural, "urban": ruleset.low_income_worker_line.urban}).astype(float)
    workers = members[members["labour_status"].isin(WORKING_STATUSES)].groupby("submission_id").size()
    out["workers"] = out["submission_id"].map(workers).fillna(0).astype("int64")
    out["low_income_workers"] = (
        out["workers"].where(~out["household_class"].isin([POOR, NEAR_POOR]) & (income <= worker_line), 0).astype("int64")
    )

    touched_provisional = out["deprived_indicators"].map(lambda s: bool(set(s.split(", ")) & provisional_ids)) if len(out) else pd.Series(dtype=bool)
    out["provisional"] = bool(ruleset.provisional) | touched_provisional.astype(bool)
    out["rule_set_version"] = ruleset.version
    names = {i.id: i.name[:1].lower() + i.name[1:] for i in ruleset.indicators}
    out["reason"] = out.apply(_reason, axis=1, ruleset=ruleset, names=names) if len(out) else ""
    return out


def phone_disagreements(classified: pd.DataFrame, ruleset: RuleSet) -> pd.DataFrame:
    """Issue rows where the phone's preliminary summary differs from this classification.

    The phone computes the indicators from the same rule set (translated to XPath); a difference
    points at a translation gap, an edited answer, or a form built from another rule set. The
    pipeline's result stands; the row tells an officer to look.
    """
    from rasoat.pipeline.tidy import ISSUE_COLUMNS, WARNING, issue_rows

    found = []
    for ind in ruleset.indicators:
        column = f"dep_{ind.id}"
        if column not in classified:
            continue
        phone = pd.to_numeric(classified[column], errors="coerce")
        differs = phone.notna() & (phone != classified[f"deprived_{ind.id}"].astype(int))
        found.append(issue_rows(classified, differs, column, "phone_disagrees", WARNING,
                                f"máy tính bảng và xã tính khác nhau ở chỉ số {ind.id} ({ind.name})"))
    if "preliminary_class" in classified:
        phone_class = classified["preliminary_class"]
        differs = phone_class.notna() & (phone_class != classified["household_class"])
        found.append(issue_rows(classified, differs, "preliminary_class", "phone_disagrees", WARNING,
                                "phân loại sơ bộ trên máy tính bảng khác kết quả của xã"))
    found = [f for f in found if len(f)]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=ISSUE_COLUMNS)
