"""The fast paths of pipeline/facts.py give what the plain ones give: texts made once per distinct
combination, facts put back by block, the detail sorted column by column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_classify import RULES_2026, SETTINGS, adult, frames, household

from rasoat.pipeline import facts
from rasoat.pipeline.classify import classify_households


def _classified(households: list[dict], members: list[dict], rules=RULES_2026) -> tuple[pd.DataFrame, pd.DataFrame]:
    hh, mm = frames(households, members)
    mm["position"] = mm.groupby("submission_id").cumcount() + 1
    return classify_households(hh, mm, rules, SETTINGS.hamlets), mm


def _commune(deprived: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six households, every other one deprived, and one without members (deprived in I1); or none deprived."""
    if not deprived:
        return _classified([household(f"s{i}") for i in range(6)], [adult(f"s{i}") for i in range(6)])
    bad = dict(water_source="surface", latrine="over_water", floor_area=10.0)
    households = [household(f"s{i}", **(bad if i % 2 else {})) for i in range(6)] + [household("alone")]
    members = [adult(f"s{i}", health_insurance=i % 3 != 0) for i in range(6)] + [adult("s3", age=9, health_insurance=False)]
    return _classified(households, members)


@pytest.mark.filterwarnings("ignore:'str' is not supported as a fill value")  # the lookup's, with nobody deprived
@pytest.mark.parametrize("deprived", [True, False], ids=["some-deprived", "none-deprived"])
def test_facts_put_back_by_block_equal_the_lookup_by_submission_id(deprived):
    classified, members = _commune(deprived)
    table = facts.facts_table(classified, members, RULES_2026, facts.Labels())
    expected = facts._with_facts_by_id(classified, table)
    pd.testing.assert_frame_equal(facts.with_facts(classified, table), expected)
    shuffled = table.sample(frac=1, random_state=1)  # not in blocks: looked up by submission id
    pd.testing.assert_frame_equal(facts.with_facts(classified, shuffled), facts._with_facts_by_id(classified, shuffled))
    assert (expected["deprivation_facts"] != "").any() == deprived


def test_matching_members_are_listed_in_order_and_households_without_any_say_so():
    classified, members = _commune()
    out = facts.with_facts(classified, facts.facts_table(classified, members, RULES_2026, facts.Labels())).set_index("submission_id")
    assert out.loc["s3", "fact_H2"] == "thành viên số 1 (40 tuổi) không có thẻ BHYT; thành viên số 2 (9 tuổi) không có thẻ BHYT"
    assert out.loc["alone", "fact_H2"] == "không có thành viên nào thuộc diện"
    assert out.loc["s3", "deprivation_facts"].startswith("H2: thành viên số 1 (40 tuổi)")


def test_a_template_sees_only_its_own_rows():
    largest = "lớn nhất {floor_area.max()} m²"  # the deprived households' largest, and the others'
    rules = RULES_2026.model_copy(update={"indicators": [
        i.model_copy(update={"fact": largest, "fact_not": largest}) if i.id == "N2" else i for i in RULES_2026.indicators]})
    classified, members = _classified([household("a", floor_area=10.0), household("b", floor_area=12.0), household("c", floor_area=60.0),
                                       household("d", floor_area=80.0)], [adult(s) for s in "abcd"], rules)
    table = facts.facts_table(classified, members, rules, facts.Labels())
    n2 = table[table["indicator"] == "N2"].set_index("submission_id")["fact"]
    assert n2.to_dict() == {"a": "lớn nhất 12 m²", "b": "lớn nhất 12 m²", "c": "lớn nhất 80 m²", "d": "lớn nhất 80 m²"}


def _detail_by_sort_values(classified: pd.DataFrame, ruleset) -> pd.DataFrame:
    """The detail as one table of a block per indicator, sorted with pandas."""
    table = pd.concat([pd.DataFrame({
        "submission_id": classified["submission_id"], "household_id": classified["household_id"], "hamlet": classified["hamlet"],
        "indicator": ind.id, "name": ind.name, "deprived": classified[f"deprived_{ind.id}"].astype(bool),
        "fact": classified[f"fact_{ind.id}"], "confidence": ind.confidence, "provisional": bool(ind.provisional or ruleset.provisional),
    }) for ind in ruleset.indicators], ignore_index=True)
    order = table.assign(indicator_order=np.repeat(np.arange(len(ruleset.indicators)), len(classified)))
    order = order.sort_values(["hamlet", "household_id", "submission_id", "indicator_order"], kind="mergesort").index
    return facts.facts_detail_table(table.loc[order])


@pytest.mark.parametrize("household_ids", ["ids", "ties", "missing", "mixed"])
def test_the_detail_written_in_parts_is_the_detail_csv(tmp_path, household_ids):
    """chi-tiet-chi-so.csv in parts of a few households, each part's facts worked out from its own
    households and members, equals the CSV of the whole detail table with the facts of all at once."""
    from rasoat.pipeline.publish import csv_bytes

    classified, members = _commune()
    ids = {"ids": classified["household_id"].to_numpy(), "ties": ["x", "y"] * 3 + ["x"],
           "missing": ["b", None, "a", "b", None, "a", "c"], "mixed": ["b", 1, "a", 2, "c", "a", 3]}[household_ids]
    classified["household_id"] = pd.Series(ids, index=classified.index, dtype=object)
    members = members.iloc[::-1]  # a household's members far apart from its row, and in another part than the table order
    whole = facts.with_facts(classified, facts.facts_table(classified, members, RULES_2026, facts.Labels()))
    expected = csv_bytes(facts.facts_detail(whole, RULES_2026))
    # its repeated columns are categorical (each text converted once): the same text as the plain table's
    assert expected == csv_bytes(_detail_by_sort_values(whole, RULES_2026))
    parts = facts.facts_detail_parts(classified, members, RULES_2026, facts.Labels(), households=2)
    assert len(parts.pieces) == 4
    assert sum(len(p[1]) for p in parts.pieces) == len(members)  # every member goes with its household's part
    parts.write(tmp_path / "chi-tiet.csv")
    assert (tmp_path / "chi-tiet.csv").read_bytes() == expected
    parts.write(tmp_path / "spread.csv", workers=2)  # parts made in worker processes
    assert (tmp_path / "spread.csv").read_bytes() == expected
    facts.facts_detail_parts(classified.iloc[:0], members.iloc[:0], RULES_2026, facts.Labels()).write(tmp_path / "empty.csv")
    assert (tmp_path / "empty.csv").read_bytes() == csv_bytes(facts.facts_detail(whole.iloc[:0], RULES_2026))


def test_the_detail_parts_read_only_the_columns_the_facts_name():
    classified, members = _commune()
    household_columns, member_columns = facts._fact_columns(RULES_2026, classified, members)
    assert {"submission_id", "household_id", "hamlet", "water_source", "floor_area"} <= set(household_columns) < set(classified)
    assert {f"deprived_{ind.id}" for ind in RULES_2026.indicators} <= set(household_columns)
    assert {"submission_id", "position", "age", "health_insurance"} <= set(member_columns) < set(members)
