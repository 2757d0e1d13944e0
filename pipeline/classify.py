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
CLASSES = (POOR, NEAR_POOR, AVERAGE, NOT_POOR)  # a class's code in classify_households is its position here
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


def vnd_texts(amounts: list[int]) -> list[str]:
    """`vnd(a)` of each integer amount: formatted with Python's formatter and the separators replaced
    in one pass over them all (a province's incomes are nearly all distinct)."""
    return "\x00".join([f"{a:,}" for a in amounts]).replace(",", ".").split("\x00") if amounts else []


def _texts_at(codes: np.ndarray, texts: list[str]) -> pa.Array:
    """Arrow text: `texts[code]` for each code."""
    return pa.array(texts, type=pa.string()).take(pa.array(codes, type=pa.int64()))


# Reasons are held as Arrow text (UTF-8 in one buffer): a province's million reasons take half the
# memory of Python strings. Missing values are NaN, as in pandas' default text columns.
REASON_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
PROVISIONAL_REASON = " (theo quy tắc tạm thời)"  # what a reason under a provisional rule ends with


def _reasons(income: np.ndarray, line: np.ndarray, below: np.ndarray, deprivation_codes: np.ndarray, deprived_names: list[list[str]],
             class_codes: np.ndarray, provisional: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The reason written out per household, e.g. "Thu nhập bình quân 1.320.000 đ/người/tháng ≤ chuẩn
    1.500.000 đ; thiếu hụt 3 chỉ số: …, …, … → hộ nghèo" (PROVISIONAL_REASON when provisional).

    Each part is written once per distinct value (an income, a line and its side, a set of
    deprivations, a class) and the parts joined in Arrow: a province's million households share a
    few hundred of each but the income."""
    income_codes, incomes = pd.factorize(income)
    line_codes, lines = pd.factorize(line, use_na_sentinel=False)
    side = line_codes * 2 + below
    comparisons = [f" đ/người/tháng {'≤' if s % 2 else '>'} chuẩn {vnd(lines[s // 2])} đ; " for s in range(2 * len(lines))]
    deprivations = [f"thiếu hụt {len(d)} chỉ số: {', '.join(d)} → " if d else "không thiếu hụt chỉ số nào → " for d in deprived_names]
    labels = [CLASS_LABELS[c].lower() + note for c in CLASSES for note in ("", PROVISIONAL_REASON)]
    joined = pc.binary_join_element_wise(
        "Thu nhập bình quân ", _texts_at(income_codes, vnd_texts(incomes.tolist())), _texts_at(side, comparisons),
        _texts_at(deprivation_codes, deprivations), _texts_at(class_codes * 2 + provisional, labels), "")
    return pd.arrays.ArrowStringArray(joined).astype(REASON_DTYPE)


def _with_columns(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """`frame[name] = values` for each in order (a name already there keeps its place), the new
    names joined in one step instead of one insertion each."""
    added = {}
    for name, values in columns.items():
        if name in frame.columns:
            frame[name] = values
        else:
            added[name] = values if isinstance(values, pd.Series) else pd.Series(values, index=frame.index)
    return pd.concat([frame, pd.DataFrame(added, index=frame.index, copy=False)], axis=1) if added else frame


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

    provisional_ids = {i.id for i in ruleset.indicators if i.provisional}
    submission_ids = pd.Index(out["submission_id"])  # its uniqueness, worked out once, serves the workers' count below too
    households_of_members = member_households(submission_ids, members)
    deprived: dict[str, np.ndarray] = {}
    for position, indicator in enumerate(ruleset.indicators):
        try:
            deprived[indicator.id] = indicator_deprivation(indicator, out, members, ruleset.parameters, households_of_members).to_numpy()
        except Exception as exc:  # any pandas error is a config mistake here
            raise _expression_error(ruleset, position, indicator, exc) from None
    ids = list(deprived)
    stacked = np.array(list(deprived.values()), dtype=np.int64).reshape(len(ids), len(out))
    count = stacked.sum(axis=0)
    # Each household's set of deprivations as a bit mask: its texts are written once per distinct set.
    mask_codes, masks = pd.factorize((stacked << np.arange(len(ids), dtype=np.int64)[:, None]).sum(axis=0))
    deprived_ids = [[i for b, i in enumerate(ids) if m >> b & 1] for m in masks.tolist()]

    line = amount_by_area(out["area_type"], ruleset.income_line).to_numpy()
    upper = amount_by_area(out["area_type"], ruleset.average_living_upper).to_numpy()
    worker_line = amount_by_area(out["area_type"], ruleset.low_income_worker_line).to_numpy()
    income = out["income_per_capita_month"].to_numpy()
    below = income <= line
    cutoff = ruleset.deprivation_cutoff.value
    class_codes = np.select([below & (count >= cutoff), below & (count < cutoff), ~below & (income <= upper)], [0, 1, 2], 3)

    working = members["labour_status"].isin(WORKING_STATUSES).to_numpy(dtype=bool)
    if submission_ids.is_unique:  # each member's household position, found once above
        counted = working & (households_of_members >= 0) & members["submission_id"].notna().to_numpy(dtype=bool)
        workers = np.bincount(households_of_members[counted], minlength=len(out)).astype("int64")
    else:  # a submission ID on several rows (tables given by hand): each of them counts its members
        workers = out["submission_id"].map(members[working].groupby("submission_id").size()).fillna(0).to_numpy(dtype="int64")

    provisional_bits = sum(1 << bit for bit, i in enumerate(ids) if i in provisional_ids)
    provisional = bool(ruleset.provisional) | (masks[mask_codes] & provisional_bits != 0)
    names = {i.id: i.name[:1].lower() + i.name[1:] for i in ruleset.indicators}
    return _with_columns(out, {
        **{f"deprived_{i}": stacked[k].astype(bool) for k, i in enumerate(ids)},
        "deprivation_count": count,
        "deprived_indicators": pd.Series(np.array([", ".join(d) for d in deprived_ids], dtype=object)[mask_codes], index=out.index, dtype="str"),
        "household_class": pd.Series(np.array(CLASSES, dtype=object)[class_codes], index=out.index, dtype="str"),
        "class_label": pd.Series(np.array([CLASS_LABELS[c] for c in CLASSES], dtype=object)[class_codes], index=out.index, dtype="str"),
        "income_line": line,
        "workers": workers,
        "low_income_workers": np.where((class_codes >= 2) & (income <= worker_line), workers, 0),
        "provisional": provisional,
        "rule_set_version": ruleset.version,
        "reason": _reasons(income, line, below, mask_codes, [[names[i] for i in d] for d in deprived_ids], class_codes, provisional),
    })


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
