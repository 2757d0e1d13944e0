"""The questionnaire: its source, the build (`rasoat forms build`), and the rules it carries."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from pyxform.xls2xform import convert

from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.forms import VI, load_questionnaire
from rasoat.forms.build import FormBuildError, build_form, form_definition, next_version, questionnaire_for
from rasoat.forms.xpath import to_xpath
from rasoat.settings import load_settings

SETTINGS = load_settings()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("form")
    previous = [{"household_id": "A01-0001", "head_name": "Nguyễn Văn An", "hamlet": "A01", "household_class": "poor"}]
    return out, build_form(SETTINGS, out, previous=previous, today=date(2026, 11, 27))


def test_build_writes_xform_xlsx_and_the_preload_attachment(built):
    out, form = built
    xml = form.xform_path.read_text(encoding="utf-8")
    assert form.version == "2026112701" and f'version="{form.version}"' in xml
    assert 'jr://file-csv/previous_households.csv' in xml
    assert all(f">{h.code}<" in xml for h in SETTINGS.hamlets)  # hamlet choices come from config
    assert "Vietnamese (vi)" in xml and "English (en)" in xml
    assert "jr:choice-name" in xml and "head_name" in xml  # instance name "ấp – head"
    rows = list(csv.DictReader(io.StringIO(form.attachments[0].read_text(encoding="utf-8"))))
    assert rows == [{"name": "A01-0001", "label": "A01-0001 – Nguyễn Văn An", "hamlet": "A01", "status": "poor", "status_label": "Hộ nghèo"}]
    book = openpyxl.load_workbook(form.xlsx_path)
    assert book.sheetnames == ["survey", "choices", "settings"]
    header = [c.value for c in book["survey"][1]]
    assert f"label::{VI}" in header
    settings_row = {h.value: v.value for h, v in zip(book["settings"][1], book["settings"][2])}
    assert settings_row["default_language"] == VI and str(settings_row["version"]) == form.version
    # the XLSX converts on its own too (what KoboToolbox receives)
    assert convert(str(form.xlsx_path), form_name="data").xform.count("<member") >= 1


def test_version_increases_only_when_the_content_changes(built, tmp_path):
    out, form = built
    again = build_form(SETTINGS, out, previous=[{"household_id": "A01-0001", "head_name": "Nguyễn Văn An", "hamlet": "A01",
                                                 "household_class": "poor"}], today=date(2026, 11, 27))
    assert again.version == form.version and not again.changed
    changed = build_form(SETTINGS, out, previous=[], today=date(2026, 11, 27))
    assert changed.changed and int(changed.version) > int(form.version)
    assert next_version(["2026112701", "2026112799"], date(2026, 11, 27)) == "2026112800"
    assert next_version(["2026010105"], date(2026, 12, 1)) == "2026120101"


def test_a_broken_form_fails_with_the_row_and_message(tmp_path, monkeypatch):
    import rasoat.forms.build as build

    import copy

    from rasoat.forms import _from_definition

    broken = _from_definition(copy.deepcopy(load_questionnaire().definition))  # never touch the cached one
    definition = broken.definition
    row = next(r for r in definition["survey"] if r.get("name") == "floor_area")
    row["constraint"] = ". > > 0"  # JavaRosa cannot parse this
    monkeypatch.setattr(build, "load_questionnaire", lambda: broken)
    with pytest.raises(FormBuildError, match=r"(?s)does not build.*floor_area"):
        build_form(SETTINGS, tmp_path / "out")
    definition["survey"].append({"type": "select_one no_such_list", "name": "x", f"label::{VI}": "x"})
    row["constraint"] = ". > 0"
    with pytest.raises(FormBuildError, match=r"row"):
        build_form(SETTINGS, tmp_path / "out")


def test_a_quote_in_a_screen_reason_is_a_config_error(tmp_path):
    from rasoat.settings import ConfigError

    config = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    screen = config / "screen.yaml"
    screen.write_text(screen.read_text(encoding="utf-8").replace('reason: "có ô tô con"', "reason: \"có ô tô 'con'\""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)screen.yaml.*criteria\[0\]\.reason"):
        load_settings(config)


def test_quick_screen_comes_from_config_and_ends_the_interview(built):
    out, form = built
    xml = form.xform_path.read_text(encoding="utf-8")
    for criterion in SETTINGS.screen:
        assert f"screen_{criterion.id}" in xml and criterion.question in xml
    q = questionnaire_for(SETTINGS)
    housing = q.get_field("wall_material")
    assert "${screened_out} != 'yes'" in housing.relevant and "${consent} = 'yes'" in housing.relevant


def test_summary_calculates_are_translated_from_the_rule_set():
    q = questionnaire_for(SETTINGS, 2026)
    summary = {f.name for f in q.household_fields if f.groups[:1] == ("summary",)}
    assert {f"dep_{i.id}" for i in SETTINGS.ruleset_for(2026).indicators} <= summary
    assert {"deprivation_count", "income_per_capita", "preliminary_class"} <= summary
    q2027 = questionnaire_for(SETTINGS, 2027)
    assert "dep_W3" in {f.name for f in q2027.household_fields} and "dep_I2" not in {f.name for f in q2027.household_fields}


@pytest.mark.parametrize(
    "expression, xpath",
    [
        ("age >= 6 and not health_insurance", "(age >= 6 and health_insurance = 'no')"),
        ("water_source not in @safe", "not(water_source = 'piped' or water_source = 'rainwater')"),
        ("floor_area / members < @m", "(floor_area div members) < 8"),
        ("uses_phone or uses_internet", "(uses_phone = 'yes' or uses_internet = 'yes')"),
        ("(wall not in @safe) * 1 + 1 >= 2", "((number(not(wall = 'piped' or wall = 'rainwater')) * 1) + 1) >= 2"),
    ],
)
def test_rule_expressions_become_xpath(expression, xpath):
    booleans = {"health_insurance", "uses_phone", "uses_internet"}
    out = to_xpath(expression, {"safe": ["piped", "rainwater"], "m": 8}, lambda n: n,
                   lambda n: (f"{n} = 'yes'", f"{n} = 'no'") if n in booleans else None)
    assert out == xpath


def test_unsupported_rule_expressions_are_refused():
    with pytest.raises(ValueError, match="unknown parameter @nope"):
        to_xpath("x in @nope", {}, lambda n: n, lambda n: None)
    with pytest.raises(ValueError, match="unsupported"):
        to_xpath("x.str.len() > 3", {}, lambda n: n, lambda n: None)


def test_one_definition_of_fields_for_every_stage():
    q = load_questionnaire()
    names = [f.name for f in q.fields]
    assert len(names) == len(set(names)), "field names must be unique across groups and the repeat"
    assert {"household_id", "hamlet", "floor_area", "income_crops", "production_costs"} <= {f.name for f in q.household_fields}
    assert {"birth_year", "age", "relationship", "health_insurance", "child_nutrition"} <= {f.name for f in q.member_fields}
    for f in q.fields:
        if f.type in ("select_one", "select_multiple"):
            assert f.choice_list in q.choices, f.name


def test_docs_list_every_question():
    text = (Path(__file__).parent.parent / "docs" / "form.md").read_text(encoding="utf-8")
    q = questionnaire_for(SETTINGS)
    missing = [f.name for f in q.fields if f.type not in ("calculate",) and f"`{f.name}`" not in text
               and not f.name.startswith("screen_") and f.groups[:1] != ("summary",)]
    assert not missing, f"docs/form.md does not describe: {missing}"


def test_the_definition_is_pure_and_repeatable():
    ruleset = SETTINGS.ruleset_for(2026)
    assert form_definition(SETTINGS, ruleset) == form_definition(SETTINGS, ruleset)


def test_rasoat_forms_build_from_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from rasoat.cli import app

    first = CliRunner().invoke(app, ["forms", "build", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "new version" in first.output
    for name in ("rasoat_household.xml", "rasoat_household.xlsx", "previous_households.csv"):
        assert (tmp_path / "forms" / name).is_file()
    again = CliRunner().invoke(app, ["forms", "build", "--data-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "unchanged, same version" in again.output
