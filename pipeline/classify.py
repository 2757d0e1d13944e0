"""Classification of households under a rule set, with the reason written out.

All thresholds and indicator rules come from the rule set (config/rulesets/*.yaml); this module
only knows how to evaluate them: per-capita income by the direct method, each indicator's
expression over the member or household table, the deprivation count, and the class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rasoat.pipeline.expressions import flags
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


def member_households(ids: pd.Index, members: pd.DataFrame) -> np.ndarray:
    """Each member's household as a row position among the households' submission `ids` (-1: none),
    worked out once for all indicators instead of grouping by the submission ID text for each."""
    if not ids.is_unique:  # not after the checks; tables given by hand could be
        first = pd.Series(np.arange(len(ids)), index=ids).groupby(level=0).first()
        return first.reindex(members["submission_id"]).fillna(-1).astype(np.int64).to_numpy()
    return ids.get_indexer(members["submission_id"])


def indicator_deprivation(indicator: Indicator, households: pd.DataFrame, members: pd.DataFrame, parameters: dict,
                          households_of_members: np.ndarray | None = None) -> pd.Series:
    """Deprived or not, per household (indexed like `households`)."""
    if indicator.kind == "household":
        return flags(households, indicator.household, parameters)
    matches = flags(members, indicator.member, parameters).to_numpy()
    position = member_households(pd.Index(households["submission_id"]), members) if households_of_members is None else households_of_members
    known = position >= 0
    n = len(households)
    hits = np.bincount(position[known & matches], minlength=n)
    if indicator.kind == "any_member":
        per = hits > 0
    elif indicator.kind == "no_member":
        per = hits == 0
    else:  # share_of_members; a household without members is not deprived by a share
        size = np.bincount(position[known], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            per = np.where(size > 0, hits / np.maximum(size, 1), 0.0) > indicator.above
    return pd.Series(per, index=households.index, dtype=bool)


def _expression_error(ruleset: RuleSet, position: int, indicator: Indicator, exc: Exception) -> ConfigError:
    """A rule set expression that cannot be evaluated is a config mistake: named by file and indicator."""
    key = "household" if indicator.kind == "household" else "member"
    return ConfigError(f"{ruleset.source_file}: indicators[{position}] ({indicator.id}).{key}: "
                       f"cannot evaluate the expression ({type(exc).__name__}: {exc})")


def _distinct(keys: pd.DataFrame, text) -> tuple[np.ndarray, list]:
    """(each row's key code, `text(first row of the key)` per code): computed once per distinct key,
    as a million households share a few hundred combinations of class, line and deprivations."""
    if keys.shape[1] == 1:
        codes, first = pd.factorize(keys.iloc[:, 0])
        return codes, [text((k,)) for k in first]
    combined = _combined_codes(keys)
    if combined is None:  # a missing value in a key: the tuples' own factorizing
        codes, first = pd.factorize(pd.MultiIndex.from_frame(keys))
        return codes, [text(k) for k in first]
    codes, _ = pd.factorize(combined)  # in order of first appearance, as the tuples' would be
    rows = np.unique(codes, return_index=True)[1]  # each code's first row
    return codes, [text(k) for k in keys.iloc[rows].itertuples(index=False, name=None)]


def _combined_codes(keys: pd.DataFrame) -> np.ndarray | None:
    """One integer per row standing for its tuple of key values (equal tuples, equal integers), from
    each column's own codes; None when a value is missing or the combinations would not fit.
    Factorizing a million tuples took two seconds; this takes a fraction of one."""
    combined = np.zeros(len(keys), dtype=np.int64)
    span = 1
    for k in range(keys.shape[1]):
        codes, distinct = pd.factorize(keys.iloc[:, k], use_na_sentinel=True)
        radix = max(len(distinct), 1)
        span *= radix
        if (codes < 0).any() or span >= 2**62:
            return None
        combined = combined * radix + codes
    return combined


def _per_distinct(keys: pd.DataFrame, text) -> np.ndarray:
    """`text(first row of a key)` for each row (see `_distinct`)."""
    codes, texts = _distinct(keys, text)
    return np.array(texts, dtype=object)[codes] if len(codes) else np.array([], dtype=object)


def _distinct_texts(keys: pd.DataFrame, text) -> pa.Array:
    """`_per_distinct` as Arrow text."""
    codes, texts = _distinct(keys, text)
    return pa.array(texts, type=pa.string()).take(pa.array(codes, type=pa.int64()))


# Reasons are held as Arrow text (UTF-8 in one buffer): a province's million reasons take half the
# memory of Python strings. Missing values are NaN, as in pandas' default text columns.
REASON_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _reasons(out: pd.DataFrame, ruleset: RuleSet, names: dict[str, str]) -> pd.api.extensions.ExtensionArray:
    """The reason written out per household, e.g. "Thu nhập bình quân 1.320.000 đ/người/tháng ≤ chuẩn
    1.500.000 đ; thiếu hụt 3 chỉ số: …, …, … → hộ nghèo" (" (theo quy tắc tạm thời)" when provisional)."""
    # a province's incomes are nearly all distinct: each written by one format, not through `_distinct`'s keys
    codes, incomes = pd.factorize(out["income_per_capita_month"].to_numpy(dtype=np.int64))
    income = pa.array([f"Thu nhập bình quân {vnd(v)} đ/người/tháng " for v in incomes.tolist()],
                      type=pa.string()).take(pa.array(codes, type=pa.int64()))

    def rest(key: tuple) -> str:
        below, line, deprived_ids, household_class, provisional = key
        comparison = f"≤ chuẩn {vnd(line)} đ" if below else f"> chuẩn {vnd(line)} đ"
        deprived = [names[i] for i in deprived_ids.split(", ") if i]
        deprivations = f"thiếu hụt {len(deprived)} chỉ số: {', '.join(deprived)}" if deprived else "không thiếu hụt chỉ số nào"
        text = f"{comparison}; {deprivations} → {CLASS_LABELS[household_class].lower()}"
        return text + " (theo quy tắc tạm thời)" if provisional else text

    keys = pd.DataFrame({"below": (out["income_per_capita_month"] <= out["income_line"]).to_numpy(), "line": out["income_line"].to_numpy(),
                         "deprived": out["deprived_indicators"].to_numpy(), "class": out["household_class"].to_numpy(),
                         "provisional": out["provisional"].to_numpy()})
    joined = pc.binary_join_element_wise(income, _distinct_texts(keys, rest), "")
    return pd.arrays.ArrowStringArray(joined).astype(REASON_DTYPE)


def amount_by_area(area_type: pd.Series, amounts) -> pd.Series:
    """The rural or urban amount (an income line) of each household's area type, as float (NaN for
    any other type); compared as text once, not looked up in a dict per household."""
    area = area_type.to_numpy(dtype=object)
    rural, urban = (np.nan if a is None else float(a) for a in (amounts.rural, amounts.urban))  # None: not set in this rule set
    return pd.Series(np.select([area == "rural", area == "urban"], [rural, urban], np.nan), index=area_type.index)


def classify_households(households: pd.DataFrame, members: pd.DataFrame, ruleset: RuleSet, hamlets: tuple[Hamlet, ...],
                        area_column: str | None = None) -> pd.DataFrame:
    """One row per household: income, each indicator, the count, the class and the reason. An
    indicator's expression that cannot be evaluated raises a ConfigError naming the file and indicator.

    The area type (which income line) is the hamlet's from config; `area_column` names a column
    whose non-empty values take precedence (tables given by hand, see docs/data-contract.md).
    """
    out = households.copy(deep=False)  # copy-on-write: the answers are shared, the added columns are new
    area = {h.code: h.area_type for h in hamlets}
    out["area_type"] = out["hamlet"].map(area).fillna("rural")
    if area_column and area_column in out:
        given = out[area_column].where(out[area_column].isin(["rural", "urban"]))
        out["area_type"] = given.fillna(out["area_type"])
    net_year = out["income_sources_year"].fillna(0) - out["production_costs"].fillna(0)
    out["income_per_capita_month"] = (net_year / 12 / out["members"].where(out["members"] > 0)).round().fillna(0).astype("int64")

    deprived_columns = []
    provisional_ids = {i.id for i in ruleset.indicators if i.provisional}
    submission_ids = pd.Index(out["submission_id"])  # its uniqueness, worked out once, serves the workers' count below too
    households_of_members = member_households(submission_ids, members)
    for position, indicator in enumerate(ruleset.indicators):
        column = f"deprived_{indicator.id}"
        try:
            deprived = indicator_deprivation(indicator, out, members, ruleset.parameters, households_of_members)
        except Exception as exc:  # any pandas error is a config mistake here
            raise _expression_error(ruleset, position, indicator, exc) from None
        out[column] = deprived.to_numpy()
        deprived_columns.append(column)
    ids = [c.removeprefix("deprived_") for c in deprived_columns]
    out["deprivation_count"] = out[deprived_columns].sum(axis=1).astype("int64")
    # Each household's set of deprivations as a bit mask: its text is written once per distinct set.
    mask = pd.Series(np.zeros(len(out), dtype=np.int64), index=out.index)
    for bit, column in enumerate(deprived_columns):
        mask |= out[column].to_numpy().astype(np.int64) << bit
    out["deprived_indicators"] = _per_distinct(mask.to_frame(), lambda k: ", ".join(i for b, i in enumerate(ids) if k[0] >> b & 1))

    line = amount_by_area(out["area_type"], ruleset.income_line)
    upper = amount_by_area(out["area_type"], ruleset.average_living_upper)
    income = out["income_per_capita_month"]
    below_line = income <= line
    cutoff = ruleset.deprivation_cutoff.value
    below, count = below_line.to_numpy(dtype=bool), out["deprivation_count"].to_numpy()
    classes = np.select([below & (count >= cutoff), below & (count < cutoff), ~below & (income <= upper).to_numpy(dtype=bool)],
                        [POOR, NEAR_POOR, AVERAGE], NOT_POOR).astype(object)
    out["household_class"] = pd.Series(classes, index=out.index, dtype="str")
    out["class_label"] = out["household_class"].map(CLASS_LABELS)
    out["income_line"] = line

    worker_line = amount_by_area(out["area_type"], ruleset.low_income_worker_line)
    working = members["labour_status"].isin(WORKING_STATUSES).to_numpy(dtype=bool)
    if submission_ids.is_unique:  # each member's household position, found once above
        counted = working & (households_of_members >= 0) & members["submission_id"].notna().to_numpy(dtype=bool)
        out["workers"] = np.bincount(households_of_members[counted], minlength=len(out)).astype("int64")
    else:  # a submission ID on several rows (tables given by hand): each of them counts its members
        workers = members[working].groupby("submission_id").size()
        out["workers"] = out["submission_id"].map(workers).fillna(0).astype("int64")
    out["low_income_workers"] = (
        out["workers"].where(~out["household_class"].isin([POOR, NEAR_POOR]) & (income <= worker_line), 0).astype("int64")
    )

    provisional_bits = sum(1 << bit for bit, i in enumerate(ids) if i in provisional_ids)
    out["provisional"] = bool(ruleset.provisional) | ((mask & provisional_bits) != 0).to_numpy()
    out["rule_set_version"] = ruleset.version
    names = {i.id: i.name[:1].lower() + i.name[1:] for i in ruleset.indicators}
    out["reason"] = _reasons(out, ruleset, names)
    return out


def _numbers(values: pd.Series) -> pd.Series:
    """`pd.to_numeric(values, errors="coerce")` as float64, each distinct value read once: the phone's
    own indicator answers are a few texts ("0", "1") repeated over a province's million households."""
    try:
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
    except TypeError:  # an unhashable value: read them all
        return pd.to_numeric(values, errors="coerce").astype("float64")
    numbers = pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.append(numbers, np.nan)[codes], index=values.index)  # code -1 (missing): the last, NaN


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
        phone = _numbers(classified[column])
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
