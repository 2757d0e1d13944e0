"""Every rule at its boundary, under both bundled rule sets, on hand-made households.

The expected values are read from the rule sets (lines, cut-offs, ages in the expressions are
the ones the reference gives), so each test states the boundary, not a copy of the config.
"""

from __future__ import annotations

import pytest

from test_classify import RULES_2026, RULES_2027, RURAL, URBAN, adult, classify, frames, household

from rasoat.pipeline.classify import AVERAGE, NEAR_POOR, NOT_POOR, POOR
from rasoat.pipeline.facts import Labels, facts_table

BOTH = pytest.mark.parametrize("rules", [RULES_2026, RULES_2027], ids=["2022-2026", "2027-2030"])
THREE = dict(water_source="surface", latrine="over_water", floor_area=10.0)  # W1, W2, N2 (10 m² / 2 < 8)
TWO = dict(water_source="surface", latrine="over_water")


def couple(sid: str, **spouse) -> list[dict]:
    return [adult(sid), adult(sid, age=38, relationship="spouse", sex="female", **spouse)]


@BOTH
@pytest.mark.parametrize("hamlet", [RURAL, URBAN], ids=["rural", "urban"])
def test_income_exactly_on_the_line_and_one_dong_above(rules, hamlet):
    area = "rural" if hamlet == RURAL else "urban"
    line = int(rules.income_line.for_area(area))
    out = classify(
        [household("on", hamlet=hamlet, monthly_per_capita=line, **THREE),
         household("above", hamlet=hamlet, monthly_per_capita=line + 1, **THREE),
         household("near", hamlet=hamlet, monthly_per_capita=line, **TWO)],
        couple("on") + couple("above") + couple("near"), rules=rules)
    assert out.loc["on", "income_line"] == line
    assert out.loc["on", "household_class"] == POOR  # "từ … trở xuống": the line itself is in
    assert out.loc["above", "household_class"] == AVERAGE  # above the line never poor, however deprived
    assert out.loc["near", "household_class"] == NEAR_POOR


@BOTH
def test_two_versus_three_deprivations(rules):
    line = int(rules.income_line.rural)
    out = classify([household("two", monthly_per_capita=line - 1, **TWO), household("three", monthly_per_capita=line - 1, **THREE)],
                   couple("two") + couple("three"), rules=rules)
    assert rules.deprivation_cutoff.value == 3
    assert out.loc["two", "deprivation_count"] == 2 and out.loc["two", "household_class"] == NEAR_POOR
    assert out.loc["three", "deprivation_count"] == 3 and out.loc["three", "household_class"] == POOR


@BOTH
def test_urban_and_rural_lines_differ(rules):
    between = int((rules.income_line.rural + rules.income_line.urban) // 2)
    out = classify([household("r", hamlet=RURAL, monthly_per_capita=between), household("u", hamlet=URBAN, monthly_per_capita=between)],
                   [adult("r"), adult("u")], rules=rules)
    assert out.loc["r", "household_class"] == AVERAGE and out.loc["u", "household_class"] == NEAR_POOR


def test_average_living_band_upper_bound_2022_2026():
    upper = int(RULES_2026.average_living_upper.rural)
    out = classify([household("at", monthly_per_capita=upper), household("over", monthly_per_capita=upper + 1)],
                   [adult("at"), adult("over")])
    assert out.loc["at", "household_class"] == AVERAGE and out.loc["over", "household_class"] == NOT_POOR


@BOTH
@pytest.mark.parametrize("age, deprived", [(5, False), (6, True), (7, True)])
def test_member_aged_six_without_health_insurance(rules, age, deprived):
    out = classify([household("h", members=2)], [adult("h"), adult("h", age=age, relationship="child", in_school=True,
                                                                      child_nutrition="normal", health_insurance=False)], rules=rules)
    assert bool(out.loc["h", "deprived_H2"]) is deprived


@BOTH
@pytest.mark.parametrize("age, d2, h1", [(15, True, True), (16, False, False)])
def test_child_of_fifteen_versus_sixteen(rules, age, d2, h1):
    # not in school (D2 counts children 3–<16) and stunted (H1 counts children < 16)
    child = dict(age=age, relationship="child", in_school=False, child_nutrition="stunted", qualification="lower_secondary",
                 labour_status="student")
    out = classify([household("c", members=2)], [adult("c"), adult("c", **child)], rules=rules)
    assert bool(out.loc["c", "deprived_D2"]) is d2
    assert bool(out.loc["c", "deprived_H1"]) is h1
    # at 16 the adult-education rule takes over: 16–<18 needs lower secondary, which this child has
    assert not out.loc["c", "deprived_D1"]


@BOTH
def test_sixteen_year_old_without_lower_secondary_is_adult_education_deprived(rules):
    out = classify([household("d", members=2)],
                   [adult("d"), adult("d", age=16, relationship="child", in_school=False, qualification="primary")], rules=rules)
    assert out.loc["d", "deprived_D1"] and not out.loc["d", "deprived_D2"]


@BOTH
@pytest.mark.parametrize("area, members, deprived", [(48.0, 6, False), (47.9, 6, True), (16.0, 2, False), (15.99, 2, True)])
def test_exactly_eight_square_metres_per_person(rules, area, members, deprived):
    out = classify([household("n", members=members, floor_area=area)],
                   [adult("n")] + [adult("n", age=30 + k, relationship="other_relative") for k in range(members - 1)], rules=rules)
    assert rules.parameters["min_floor_area_per_member"] == 8
    assert bool(out.loc["n", "deprived_N2"]) is deprived


def _dependant(sid: str, rules) -> dict:
    # under 2027–2030 an elderly person counts only with a monthly social allowance; a child counts in both
    return adult(sid, age=8, relationship="child", in_school=True, child_nutrition="normal", labour_status=None)


@BOTH
@pytest.mark.parametrize("dependants, others, deprived", [(2, 2, False), (3, 2, True), (1, 1, False), (4, 3, True)],
                         ids=["2of4=50%", "3of5=60%", "1of2=50%", "4of7=57%"])
def test_dependants_fifty_percent_versus_just_over(rules, dependants, others, deprived):
    members = [adult("e")] + [adult("e", age=35, relationship="other_relative") for _ in range(others - 1)]
    members += [_dependant("e", rules) for _ in range(dependants)]
    out = classify([household("e", members=len(members))], members, rules=rules)
    assert bool(out.loc["e", "deprived_E2"]) is deprived


def test_elderly_dependants_differ_between_the_rule_sets():
    members = [adult("x"), adult("x", age=70, relationship="parent", labour_status="retired"),
               adult("x", age=72, relationship="parent", labour_status="retired")]
    old = classify([household("x", members=3)], members, rules=RULES_2026)
    new = classify([household("x", members=3)], members, rules=RULES_2027)
    assert old.loc["x", "deprived_E2"]  # 2 of 3 elderly: dependants under 2022–2026
    assert not new.loc["x", "deprived_E2"]  # 2027–2030 draft: only with a monthly social allowance
    with_allowance = [members[0]] + [{**m, "social_allowance": True} for m in members[1:]]
    assert classify([household("x", members=3)], with_allowance, rules=RULES_2027).loc["x", "deprived_E2"]


@BOTH
@pytest.mark.parametrize("age, deprived", [(14, False), (15, True), (60, True), (61, False)])
def test_employment_working_age_bounds(rules, age, deprived):
    out = classify([household("w", members=2)], [adult("w"), adult("w", age=age, labour_status="unemployed", in_school=False,
                                                                      qualification="upper_secondary", child_nutrition="normal")], rules=rules)
    assert bool(out.loc["w", "deprived_E1"]) is deprived


def test_facts_say_what_decided_each_indicator():
    hh = [household("f", members=6, floor_area=45.0, water_source="surface")]
    mm = [adult("f"), adult("f", age=36, relationship="spouse")]
    mm += [adult("f", age=8, relationship="child", in_school=True, child_nutrition="normal", health_insurance=False)]
    mm += [adult("f", age=a, relationship="child", in_school=True, child_nutrition="normal") for a in (10, 12, 14)]
    households, members = frames(hh, mm)
    members["position"] = range(1, len(members) + 1)
    from rasoat.pipeline.classify import classify_households
    from rasoat.forms import load_questionnaire
    from rasoat.pipeline.facts import labels_from_questionnaire
    from test_classify import SETTINGS

    out = classify_households(households, members, RULES_2026, SETTINGS.hamlets)
    facts = facts_table(out, members, RULES_2026, labels_from_questionnaire(load_questionnaire())).set_index("indicator")
    assert facts.loc["H2", "fact"] == "thành viên số 3 (8 tuổi) không có thẻ BHYT"
    assert facts.loc["N2", "fact"] == "45 m² / 6 người = 7,5 m²/người < 8"
    assert facts.loc["W1", "fact"] == "nguồn nước: Sông, kênh, ao hồ"
    assert facts.loc["E2", "fact"] == "4/6 thành viên thuộc diện = 67% > 50% (thành viên số 3, 4, 5, 6)"
    assert bool(facts.loc["W2", "deprived"]) is False and facts.loc["W2", "fact"] == "nhà tiêu: Tự hoại"
    # without a template, the generic text names the matching member and the columns the rule uses
    bare = RULES_2026.model_copy(update={"indicators": [i.model_copy(update={"fact": None, "fact_not": None}) for i in RULES_2026.indicators]})
    generic = facts_table(out, members, bare, Labels()).set_index("indicator")
    assert generic.loc["H2", "fact"] == "thành viên số 3 (8 tuổi): health_insurance: không"
    assert generic.loc["W1", "fact"] == "water_source: surface"
