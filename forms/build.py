"""Building the deployable form: `household.md` + the commune's configuration → XLSX, XForm, CSV.

The markdown source holds the questions. The build adds what comes from config: the hamlet
choices, each hamlet's area type, the quick-screen questions, and the preliminary summary whose
calculates are translated from the rule set (so the phone and the pipeline apply one set of
rules). `form_definition` is pure; `build_form` writes the files and keeps the version ledger.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
from pyxform.errors import PyXFormError
from pyxform.validators.odk_validate import ODKValidateError
from pyxform.xls2xform import convert

from rasoat.forms import EN, VI, Questionnaire, _from_definition, load_questionnaire
from rasoat.forms.xpath import to_xpath
from rasoat.pipeline import csv_rows
from rasoat.pipeline.ordering import sorted_rows
from rasoat.settings import ConfigError, RuleSet, Settings

PREVIOUS_LIST = "previous_households.csv"
PREVIOUS_COLUMNS = ["name", "label", "hamlet", "status", "status_label"]
PRELOAD_COLUMNS = ("household_id", "head_name", "hamlet", "household_class")  # what the preload file is made from
CLASS_LABELS = {"poor": "Hộ nghèo", "near_poor": "Hộ cận nghèo", "average": "Hộ có mức sống trung bình", "not_poor": "Hộ không nghèo"}


class FormBuildError(Exception):
    """The form does not convert or does not pass ODK Validate; the message names the row."""


@dataclass(frozen=True)
class BuiltForm:
    version: str
    xform_path: Path
    xlsx_path: Path
    attachments: tuple[Path, ...]
    warnings: tuple[str, ...]
    changed: bool  # False when the content equals an earlier build (same version reused)


def _row(type_: str, name: str, vi: str = "", en: str = "", **extra: str) -> dict:
    row = {"type": type_, "name": name}
    if vi:
        row[f"label::{VI}"] = vi
    if en:
        row[f"label::{EN}"] = en
    row.update(extra)
    return row


def _insert_after(survey: list[dict], begin_name: str, rows: list[dict]) -> None:
    at = next(i for i, r in enumerate(survey) if r.get("name") == begin_name and (r.get("type") or "").startswith("begin"))
    survey[at + 1:at + 1] = rows


def _set_calculation(survey: list[dict], name: str, calculation: str) -> None:
    next(r for r in survey if r.get("name") == name)["calculation"] = calculation


def _screen_rows(settings: Settings) -> tuple[list[dict], str, str]:
    rows = [
        _row("select_one yes_no", f"screen_{c.id}", c.question, c.question_en or c.question, required="yes")
        for c in settings.screen
    ]
    if not settings.screen:
        return rows, "'no'", "''"
    any_yes = " or ".join(f"${{screen_{c.id}}} = 'yes'" for c in settings.screen)
    # households already on a poor or near-poor list always get the full questionnaire
    screened = f"if(({any_yes}) and not(${{previous_class}} = 'poor' or ${{previous_class}} = 'near_poor'), 'yes', 'no')"
    reason = "concat(" + ", ".join(f"if(${{screen_{c.id}}} = 'yes', '{c.reason}; ', '')" for c in settings.screen) + ")"
    return rows, screened, reason


def _summary_rows(q: Questionnaire, ruleset: RuleSet) -> list[dict]:
    members = {f.name for f in q.member_fields} | {"age"}
    fields = {f.name: f for f in q.fields}

    def member_ref(name: str) -> str:
        if name not in members:
            raise ValueError(f"{name!r} is not a member question")
        return name  # relative to the member inside a predicate

    def household_ref(name: str) -> str:
        if name == "members":
            return f"count(${{{q.member_repeat}}})"
        if name not in fields:
            raise ValueError(f"{name!r} is not a question of the form")
        return f"${{{name}}}"

    def boolean(name: str, ref) -> tuple[str, str] | None:
        if "__" in name:  # a choice of a select_multiple, e.g. info_assets__tv
            question, choice = name.split("__", 1)
            return f"selected(${{{question}}}, '{choice}')", f"not(selected(${{{question}}}, '{choice}'))"
        f = fields.get(name)
        if f is not None and f.choice_list == "yes_no":
            return f"{ref(name)} = 'yes'", f"{ref(name)} = 'no'"
        return None

    repeat = f"${{{q.member_repeat}}}"
    rows: list[dict] = []
    for position, ind in enumerate(ruleset.indicators):
        key = "household" if ind.kind == "household" else "member"
        try:
            if ind.kind == "household":
                condition = to_xpath(ind.household, ruleset.parameters, household_ref, lambda n: boolean(n, household_ref))
            else:
                predicate = to_xpath(ind.member, ruleset.parameters, member_ref, lambda n: boolean(n, member_ref))
        except ValueError as exc:
            raise ConfigError(f"{ruleset.source_file}: indicators[{position}] ({ind.id}).{key}: {exc}") from None
        if ind.kind != "household":
            matching = f"count({repeat}[{predicate}])"
            condition = {"any_member": f"{matching} > 0", "no_member": f"{matching} = 0",
                         "share_of_members": f"{matching} > {ind.above} * count({repeat})"}[ind.kind]
        rows.append(_row("calculate", f"dep_{ind.id}", calculation=f"if({condition}, 1, 0)"))
    rows.append(_row("calculate", "deprivation_count", calculation=" + ".join(f"${{dep_{i.id}}}" for i in ruleset.indicators)))
    sources = [f.name for f in q.household_fields if f.groups[:1] == ("income",) and f.name != "production_costs"]
    net = " + ".join(f"coalesce(${{{s}}}, 0)" for s in sources) + " - coalesce(${production_costs}, 0)"
    rows.append(_row("calculate", "income_per_capita", calculation=f"round(({net}) div 12 div count({repeat}), 0)"))

    def per_area(values) -> str:
        return f"if(${{area_type}} = 'urban', {int(values.urban)}, {int(values.rural)})"

    rows.append(_row("calculate", "income_line", calculation=per_area(ruleset.income_line)))
    upper = per_area(ruleset.average_living_upper)
    cutoff = ruleset.deprivation_cutoff.value
    rows.append(_row("calculate", "preliminary_class", calculation=(
        f"if(${{income_per_capita}} <= ${{income_line}} and ${{deprivation_count}} >= {cutoff}, 'poor', "
        f"if(${{income_per_capita}} <= ${{income_line}}, 'near_poor', if(${{income_per_capita}} <= {upper}, 'average', 'not_poor')))")))
    rows.append(_row("calculate", "preliminary_class_label", calculation=(
        "if(${preliminary_class} = 'poor', '" + CLASS_LABELS["poor"] + "', if(${preliminary_class} = 'near_poor', '"
        + CLASS_LABELS["near_poor"] + "', if(${preliminary_class} = 'average', '" + CLASS_LABELS["average"] + "', '"
        + CLASS_LABELS["not_poor"] + "')))")))
    rows.append(_row("calculate", "deprived_list", calculation="concat(" + ", ".join(
        f"if(${{dep_{i.id}}} = 1, '{i.name}; ', '')" for i in ruleset.indicators) + ")"))
    note = " (quy tắc tạm thời)" if ruleset.provisional else ""
    rows += [
        _row("note", "summary_income", "Thu nhập bình quân: ${income_per_capita} đồng/người/tháng (chuẩn: ${income_line} đồng)",
             "Income per person: ${income_per_capita} VND a month (line: ${income_line} VND)"),
        _row("note", "summary_deprivations", "Thiếu hụt ${deprivation_count} chỉ số: ${deprived_list}",
             "Deprived in ${deprivation_count} indicators: ${deprived_list}"),
        _row("note", "summary_class", f"Phân loại sơ bộ{note}: ${{preliminary_class_label}}",
             f"Preliminary class{' (provisional rules)' if ruleset.provisional else ''}: ${{preliminary_class}}"),
    ]
    return rows


def form_definition(settings: Settings, ruleset: RuleSet, version: str | None = None) -> dict:
    """The complete XLSForm (dict of sheets) for this commune and rule set."""
    base = load_questionnaire().with_hamlets((h.code, h.name, h.name_en or h.name) for h in settings.hamlets)
    definition = copy.deepcopy(base.definition)
    survey = definition["survey"]
    urban = [h.code for h in settings.hamlets if h.area_type == "urban"]
    _set_calculation(survey, "area_type",
                     "if(" + " or ".join(f"${{hamlet}} = '{c}'" for c in urban) + ", 'urban', 'rural')" if urban else "'rural'")
    screen_rows, screened, reason = _screen_rows(settings)
    _insert_after(survey, "screen", screen_rows)
    _set_calculation(survey, "screened_out", screened)
    _set_calculation(survey, "screen_reason", reason)
    _insert_after(survey, "summary", _summary_rows(base, ruleset))
    if version:
        definition["settings"][0]["version"] = version
    return definition


def questionnaire_for(settings: Settings, reference_year: int | None = None) -> Questionnaire:
    """The questionnaire as deployed for this commune: the one every pipeline step reads."""
    ruleset = settings.ruleset_for(reference_year or settings.review.reference_year)
    return _from_definition(form_definition(settings, ruleset))


def previous_households_csv(previous: pd.DataFrame | list[dict]) -> bytes:
    """The attachment the phone preloads: last year's households (ID, head, hamlet, status).

    `previous`: rows with household_id, head_name, hamlet and household_class (a table or dicts);
    a province-sized record is written a column at a time, not a row at a time."""
    table = previous if isinstance(previous, pd.DataFrame) else pd.DataFrame(list(previous))
    table = table.reindex(columns=list(PRELOAD_COLUMNS))
    table = table.iloc[sorted_rows(table[["hamlet", "household_id"]])]

    ids, status = csv_rows.texts(table["household_id"]), csv_rows.texts(table["household_class"])
    labels = [f"{i} – {h}" for i, h in zip(ids, csv_rows.texts(table["head_name"]))]
    status_labels = [CLASS_LABELS.get(s, "") for s in status]
    head = (",".join(PREVIOUS_COLUMNS) + "\n").encode("utf-8")
    if table.empty:
        return head
    return csv_rows.text_rows([ids, labels, csv_rows.texts(table["hamlet"]), status, status_labels], "\n", head)


def next_version(known: list[str], today: date) -> str:
    """YYYYMMDDNN, above every version built before (Central refuses one it has seen)."""
    candidate = int(f"{today:%Y%m%d}01")
    highest = max((int(v) for v in known if v.isdigit()), default=0)
    return str(max(candidate, highest + 1))


def _xlsx_bytes(definition: dict) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for sheet in ("survey", "choices", "settings"):
        rows = definition[sheet]
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        ws = workbook.create_sheet(sheet)
        ws.append(columns)
        for row in rows:
            ws.append([row.get(c) for c in columns])
    buffer = io.BytesIO()
    workbook.properties.created = workbook.properties.modified = datetime(2026, 1, 1)
    workbook.save(buffer)
    return buffer.getvalue()


def build_form(settings: Settings, out_dir: Path, previous: list[dict] | None = None, reference_year: int | None = None,
               today: date | None = None, validate: bool = True) -> BuiltForm:
    """Write the XForm, the XLSForm and the attachment into `out_dir`; fail with the row if broken."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ruleset = settings.ruleset_for(reference_year or settings.review.reference_year)
    definition = form_definition(settings, ruleset)
    attachment = previous_households_csv(previous or [])
    content = json.dumps(definition, sort_keys=True, ensure_ascii=False, default=str).encode() + attachment
    digest = hashlib.sha256(content).hexdigest()
    ledger_path = out_dir / "versions.json"
    ledger: dict[str, str] = json.loads(ledger_path.read_text(encoding="utf-8")) if ledger_path.exists() else {}
    changed = digest not in ledger
    version = ledger[digest] if not changed else next_version(list(ledger.values()), today or date.today())
    definition["settings"][0]["version"] = version
    form_id = definition["settings"][0]["form_id"]
    try:
        result = convert(copy.deepcopy(definition), validate=validate, form_name="data")
    except (PyXFormError, ODKValidateError) as exc:
        raise FormBuildError(f"the form does not build: {exc}") from None
    xform_path, xlsx_path, csv_path = out_dir / f"{form_id}.xml", out_dir / f"{form_id}.xlsx", out_dir / PREVIOUS_LIST
    xform_path.write_text(result.xform, encoding="utf-8")
    xlsx_path.write_bytes(_xlsx_bytes(definition))
    csv_path.write_bytes(attachment)
    if changed:
        ledger[digest] = version
        ledger_path.write_text(json.dumps(ledger, indent=2, sort_keys=True), encoding="utf-8")
    return BuiltForm(version=version, xform_path=xform_path, xlsx_path=xlsx_path, attachments=(csv_path,),
                     warnings=tuple(result.warnings), changed=changed)
