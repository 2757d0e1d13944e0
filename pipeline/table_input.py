"""Household tables given by hand (docs/data-contract.md), for `rasoat classify FILE.csv`.

Two CSV files: households (one row per household) and members (one row per person, linked by
household_id). Codes are the questionnaire's choice codes (forms/household.md); yes/no answers
take yes/no, có/không, 1/0, true/false. `read_household_tables` is the IO; `prepare_tables`
checks and types the tables (pure) and reports every problem with its file, row and column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rasoat.settings import Hamlet

HOUSEHOLD_REQUIRED = ["household_id", "wall_material", "frame_material", "roof_material", "floor_area", "water_source",
                      "latrine", "waste_disposal", "electricity", "loudspeaker_reach", "info_assets"]
HOUSEHOLD_OPTIONAL = ["hamlet", "area_type", "head_name", "ethnicity", "income_year", "production_costs", "merit_member",
                      "poverty_reasons"]
INCOME_SOURCES = ["income_crops", "income_livestock", "income_aquaculture", "income_wages", "income_business", "income_pensions",
                  "income_remittances", "income_other"]
MEMBER_REQUIRED = ["household_id", "age", "health_insurance"]
MEMBER_OPTIONAL = ["position", "sex", "relationship", "in_school", "school_level", "qualification", "labour_status", "labour_contract",
                   "disability", "social_allowance", "child_nutrition", "uses_phone", "uses_internet", "member_ethnicity"]
YES_NO = {"yes": True, "no": False, "có": True, "co": True, "không": False, "khong": False, "1": True, "0": False,
          "true": True, "false": False, "x": True}
MEMBER_BOOLEAN = ["in_school", "labour_contract", "health_insurance", "disability", "social_allowance", "uses_phone", "uses_internet"]
HOUSEHOLD_BOOLEAN = ["loudspeaker_reach", "merit_member"]
# column -> questionnaire choice list
HOUSEHOLD_CHOICES = {"wall_material": "wall_material", "frame_material": "frame_material", "roof_material": "roof_material",
                     "water_source": "water_source", "latrine": "latrine", "waste_disposal": "waste", "electricity": "electricity",
                     "ethnicity": "ethnicity", "area_type": "area_type"}
MEMBER_CHOICES = {"sex": "sex", "relationship": "relationship", "school_level": "school_level", "qualification": "qualification",
                  "labour_status": "labour_status", "child_nutrition": "nutrition", "member_ethnicity": "ethnicity"}


AREA_COLUMN = "area_type_given"  # pass as classify_households(..., area_column=AREA_COLUMN)


class InputError(ValueError):
    """The tables do not follow docs/data-contract.md; the message lists every problem."""


def read_household_tables(households: Path, members: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")  # noqa: E731
    try:
        return read(households), read(members)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the tables ({type(exc).__name__}: {exc})") from None


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def prepare_tables(households: pd.DataFrame, members: pd.DataFrame, questionnaire, hamlets: tuple[Hamlet, ...],
                   names: tuple[str, str] = ("households.csv", "members.csv")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed tables in the shape `classify_households` takes, or InputError listing every problem."""
    problems: list[str] = []
    hh = households.copy()
    hh.columns = [str(c).strip() for c in hh.columns]
    mm = members.copy()
    mm.columns = [str(c).strip() for c in mm.columns]
    for frame, required, name in ((hh, HOUSEHOLD_REQUIRED, names[0]), (mm, MEMBER_REQUIRED, names[1])):
        missing = [c for c in required if c not in frame.columns]
        if missing:
            problems.append(f"{name}: missing column(s) {', '.join(missing)}")
    if "hamlet" not in hh.columns and "area_type" not in hh.columns:
        problems.append(f"{names[0]}: give 'hamlet' (a code from hamlets.yaml) or 'area_type' (rural / urban)")
    if problems:
        raise InputError("\n".join(problems))
    hh = hh.map(lambda v: v.strip() if isinstance(v, str) else v)
    mm = mm.map(lambda v: v.strip() if isinstance(v, str) else v)

    def check_choices(frame, mapping, name):
        for column, choice_list in mapping.items():
            if column not in frame:
                continue
            allowed = set(questionnaire.choices.get(choice_list, ()))
            if column == "area_type":
                allowed = {"rural", "urban"}
            for row, value in zip(frame.index, frame[column]):
                if not _blank(value) and value not in allowed:
                    problems.append(f"{name} row {row + 2}, {column}: {value!r} is not one of {', '.join(sorted(allowed))}")

    def to_bool(frame, columns, name):
        for column in columns:
            if column not in frame:
                continue
            out = []
            for row, value in zip(frame.index, frame[column]):
                if _blank(value):
                    out.append(pd.NA)
                elif str(value).lower() in YES_NO:
                    out.append(YES_NO[str(value).lower()])
                else:
                    problems.append(f"{name} row {row + 2}, {column}: {value!r} is not yes / no")
                    out.append(pd.NA)
            frame[column] = pd.array(out, dtype="boolean")

    def to_number(frame, columns, name, integer=False):
        for column in columns:
            if column not in frame:
                continue
            text = frame[column].map(lambda v: None if _blank(v) else str(v).replace(" ", ""))
            values = pd.to_numeric(text, errors="coerce")
            for row, raw, value in zip(frame.index, text, values):
                if raw is not None and pd.isna(value):
                    problems.append(f"{name} row {row + 2}, {column}: {raw!r} is not a number")
            frame[column] = values.astype("Int64" if integer else "Float64")

    check_choices(hh, HOUSEHOLD_CHOICES, names[0])
    check_choices(mm, MEMBER_CHOICES, names[1])
    to_bool(hh, HOUSEHOLD_BOOLEAN, names[0])
    to_bool(mm, MEMBER_BOOLEAN, names[1])
    to_number(hh, ["floor_area", "income_year", "production_costs", *INCOME_SOURCES], names[0])
    to_number(mm, ["age", "position"], names[1], integer=True)

    codes = {h.code for h in hamlets}
    if "hamlet" in hh:
        for row, value in zip(hh.index, hh["hamlet"]):
            if not _blank(value) and value not in codes and ("area_type" not in hh or _blank(hh.at[row, "area_type"])):
                problems.append(f"{names[0]} row {row + 2}, hamlet: {value!r} is not a hamlet code of hamlets.yaml "
                                f"(or give area_type)")
    ids = hh["household_id"]
    for row in hh.index[ids.duplicated(keep=False) | ids.map(_blank)]:
        problems.append(f"{names[0]} row {row + 2}, household_id: empty or repeated")
    unknown = sorted(set(mm["household_id"]) - set(ids))
    if unknown:
        problems.append(f"{names[1]}: household_id not in {names[0]}: {', '.join(unknown[:10])}")
    without = sorted(set(ids) - set(mm["household_id"]))
    if without:
        problems.append(f"{names[0]}: households without any member in {names[1]}: {', '.join(without[:10])}")
    asset_codes = set(questionnaire.choices.get("info_asset", ()))
    for row, value in zip(hh.index, hh["info_assets"]):
        bad = [t for t in str(value or "").split() if t not in asset_codes]
        if bad:
            problems.append(f"{names[0]} row {row + 2}, info_assets: {', '.join(bad)} not in {', '.join(sorted(asset_codes))}")
    if problems:
        raise InputError("\n".join(problems))

    # Shape as the tidy tables
    hh["submission_id"] = hh["household_id"]
    mm["submission_id"] = mm["household_id"]
    if "position" not in mm or mm["position"].isna().any():
        mm["position"] = mm.groupby("submission_id").cumcount() + 1
    mm["position"] = mm["position"].astype("int64")
    for column in MEMBER_OPTIONAL:
        if column not in mm:
            mm[column] = pd.array([pd.NA] * len(mm), dtype="boolean") if column in MEMBER_BOOLEAN else None
    for code in asset_codes:
        hh[f"info_assets__{code}"] = pd.array([code in str(v or "").split() for v in hh["info_assets"]], dtype="boolean")
    if "poverty_reasons" in hh:
        for code in questionnaire.choices.get("poverty_reason", ()):
            hh[f"poverty_reasons__{code}"] = pd.array([code in str(v or "").split() for v in hh["poverty_reasons"]], dtype="boolean")
    hh["members"] = hh["submission_id"].map(mm.groupby("submission_id").size()).astype("Int64")
    if "income_year" in hh:
        income = hh["income_year"].astype(float)
    else:
        present = [c for c in INCOME_SOURCES if c in hh]
        income = hh[present].astype(float).fillna(0).sum(axis=1) if present else pd.Series(0.0, index=hh.index)
    hh["income_sources_year"] = income
    if "production_costs" not in hh:
        hh["production_costs"] = 0.0
    if "hamlet" not in hh:
        hh["hamlet"] = None
    if "area_type" in hh:
        hh = hh.rename(columns={"area_type": AREA_COLUMN})
    return hh, mm


def classified_output(classified: pd.DataFrame, ruleset) -> pd.DataFrame:
    """The result file: per household the class, the indicators with their facts, the count, the income, the reason."""
    columns = ["household_id", "hamlet", "area_type", "members", "income_per_capita_month", "income_line"]
    for ind in ruleset.indicators:
        columns += [f"deprived_{ind.id}", f"fact_{ind.id}"]
    columns += ["deprivation_count", "deprived_indicators", "household_class", "class_label", "reason", "provisional",
                "rule_set_version"]
    columns += [c for c in ("score_a", "score_b", "score_a_line", "points_class") if c in classified]
    out = classified.reindex(columns=columns).copy()
    for ind in ruleset.indicators:
        out[f"deprived_{ind.id}"] = out[f"deprived_{ind.id}"].astype(bool).astype(int)
    out["income_line"] = out["income_line"].round().astype("Int64")
    out["provisional"] = out["provisional"].map({True: "yes", False: ""})
    return out
