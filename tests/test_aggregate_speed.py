"""The report tables sum all hamlets in one pass over the households and members (not one pass per
hamlet): each hamlet's row must be what a run on that hamlet alone gives as its commune row, and
households of hamlets not configured or members of households not classified count in no hamlet's row
(only the index's commune row counts every household)."""

from __future__ import annotations

import pandas as pd

from test_classify import RULES_2026, SETTINGS, adult, frames, household

from rasoat.pipeline.aggregate import build_indicator_tables
from rasoat.pipeline.classify import NEAR_POOR, POOR, classify_households

HAMLETS = SETTINGS.hamlets[:3]
# the per-hamlet report sheets and the column naming the hamlet in each
PER_HAMLET = {"Hộ DTTS theo ấp": "Mã ấp", "Thiếu hụt theo ấp": "Mã ấp", "Thiếu hụt của trẻ em": "Mã ấp", "Nguyên nhân nghèo": "Mã ấp",
              "Nhóm chính sách": "Mã ấp", "BHYT hộ nghèo, cận nghèo": "Mã ấp", "Nước sạch và điện": "Mã ấp",
              "Chỉ số MPI (Alkire-Foster)": "Ấp"}


def commune() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hamlet k: k + 1 poor households, each with a child out of school (uninsured in the first); k + 2 near-poor
    ones, the first with a merit member, the last with nobody able to work; a deprived household that is not poor."""
    households, members = [], []
    for k, h in enumerate(HAMLETS):
        for j in range(k + 1):
            sid = f"{h.code}-p{j}"
            households.append(household(sid, h.code, 400_000, members=3, water_source="surface", latrine="over_water",
                                        ethnicity="khmer" if j % 2 == 0 else "kinh", poverty_reasons__land=True,
                                        poverty_reasons__capital=j == k))
            members += [adult(sid), adult(sid, age=9 + j, relationship="child"),
                        adult(sid, age=7, relationship="child", health_insurance=j > 0, in_school=False)]
        for j in range(k + 2):
            sid = f"{h.code}-n{j}"
            households.append(household(sid, h.code, 1_000_000, members=2, ethnicity="cham" if j == k else "kinh", merit_member=j == 0))
            members += [adult(sid, age=80 if j == k + 1 else 40, labour_status="unable_to_work" if j == k + 1 else "self_employed",
                              health_insurance=j % 2 == 0),
                        adult(sid, age=5 + j, relationship="child", in_school=True)]
        sid = f"{h.code}-d"
        households.append(household(sid, h.code, 6_000_000, members=1, water_source="surface", latrine="over_water", floor_area=5.0,
                                    electricity="none"))
        members.append(adult(sid, labour_status="unemployed"))
    hh, m = frames(households, members)
    for c in ["poverty_reasons__land", "poverty_reasons__capital", "merit_member"]:
        hh[c] = hh[c].astype("boolean")
    return classify_households(hh, m, RULES_2026, SETTINGS.hamlets), m


def tables(classified: pd.DataFrame, members: pd.DataFrame, hamlets) -> dict[str, pd.DataFrame]:
    empty = pd.DataFrame()
    return build_indicator_tables(classified, members, empty, empty, hamlets, RULES_2026, SETTINGS.targets, 2026,
                                  reports=SETTINGS.reports).tables


def test_the_example_differs_from_hamlet_to_hamlet():
    classified, _ = commune()
    counts = classified.groupby("hamlet")["household_class"].value_counts().unstack()
    assert counts[POOR].tolist() == [1, 2, 3] and counts[NEAR_POOR].tolist() == [2, 3, 4]


def test_each_hamlet_row_is_that_hamlet_alone():
    classified, members = commune()
    everything = tables(classified, members, HAMLETS)
    for h in HAMLETS:
        # the other hamlets' members stay in: their households are not classified in this run
        alone = tables(classified[classified["hamlet"] == h.code], members, (h,))
        for name, key in PER_HAMLET.items():
            row = everything[name][everything[name][key] == h.code].drop(columns=[key, "Tên ấp"]).reset_index(drop=True)
            total = alone[name][alone[name][key] == ""].drop(columns=[key, "Tên ấp"]).reset_index(drop=True)
            pd.testing.assert_frame_equal(row, total, check_exact=True, obj=f"{name}, {h.code}")


def test_unconfigured_hamlets_and_unclassified_members_count_nowhere():
    classified, members = commune()
    plain = tables(classified, members, HAMLETS)
    stray = classified[classified["hamlet"] == HAMLETS[0].code].assign(
        hamlet="Z99", submission_id=lambda d: "stray-" + d["submission_id"])
    orphans = members.assign(submission_id="gone-" + members["submission_id"])
    # shuffled, with index labels that are not row positions
    more = pd.concat([classified, stray], ignore_index=True).sample(frac=1, random_state=1)
    extra = tables(more, pd.concat([members, orphans]).sample(frac=1, random_state=2), HAMLETS)
    for name, key in PER_HAMLET.items():
        configured = extra[name][key] != ""
        pd.testing.assert_frame_equal(extra[name][configured], plain[name][configured], check_exact=True, obj=name)
        if key == "Mã ấp":  # the commune of the report sheets is the configured hamlets'
            pd.testing.assert_frame_equal(extra[name][~configured], plain[name][~configured], check_exact=True, obj=name)
    # the index's commune row counts every household
    mpi = "Chỉ số MPI (Alkire-Foster)"
    assert extra[mpi].iloc[-1]["Tổng số người"] > plain[mpi].iloc[-1]["Tổng số người"]
