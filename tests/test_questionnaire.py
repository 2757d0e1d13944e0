"""The questionnaire source converts with pyxform and passes ODK Validate (JavaRosa)."""

from __future__ import annotations

from pyxform.xls2xform import convert

from rasoat.forms import load_questionnaire
from rasoat.settings import load_settings


def test_form_converts_and_passes_odk_validate_with_the_communes_hamlets():
    settings = load_settings()
    q = load_questionnaire().with_hamlets((h.code, h.name, h.name_en) for h in settings.hamlets)
    result = convert(q.definition, validate=True, form_name="data")
    assert 'id="rasoat_household"' in result.xform
    assert all(f">{h.code}<" in result.xform for h in settings.hamlets)  # hamlet choices come from config
    assert "Vietnamese (vi)" in result.xform and "English (en)" in result.xform
    assert not [w for w in result.warnings if "missing" in w.lower()], result.warnings


def test_one_definition_of_fields_for_every_stage():
    q = load_questionnaire()
    names = [f.name for f in q.fields]
    assert len(names) == len(set(names)), "field names must be unique across groups and the repeat"
    assert {"household_id", "hamlet", "floor_area", "income_crops", "production_costs"} <= {f.name for f in q.household_fields}
    assert {"birth_year", "relationship", "health_insurance", "child_nutrition"} <= {f.name for f in q.member_fields}
    for f in q.fields:
        if f.type in ("select_one", "select_multiple"):
            assert f.choice_list in q.choices, f.name
