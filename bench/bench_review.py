"""Benchmark: the review's stages from the inbox to the publication, on synthetic communes.

    .venv/bin/python bench/bench_review.py            # 10k households
    .venv/bin/python bench/bench_review.py 10000 100000

For each size it prints wall time and the process's peak memory after each stage, and, as the
baseline measured in the same run, a plain vectorised pandas script doing only the indicator and
class arithmetic on the same tidy tables: the floor for the classification stage.
Each size runs in its own process so peak memory is that size's own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_classification(hh: pd.DataFrame, m: pd.DataFrame) -> pd.Series:
    """Hand-written vectorised arithmetic of the 2022–2026 rules: the least the stage can cost."""
    line = hh["hamlet"].str.startswith("K").map({True: 2_000_000, False: 1_500_000})
    income = (hh["income_sources_year"].fillna(0) - hh["production_costs"].fillna(0)) / 12 / hh["members"]
    age = m["age"]
    sid = m["submission_id"]

    def any_member(mask):
        return hh["submission_id"].isin(sid[mask.fillna(False).astype(bool)])

    ls = m["labour_status"]
    dep = (age < 16) | (age >= 60) | m["disability"].fillna(False) | (ls == "unable_to_work")
    flags = pd.DataFrame({
        "E1": any_member((age >= 15) & (age <= 60) & ((ls == "unemployed") | ((ls == "wage_worker") & ~m["labour_contract"].fillna(True)))),
        "E2": hh["submission_id"].map(dep.astype(float).groupby(sid).mean()) > 0.5,
        "H1": any_member((age < 16) & m["child_nutrition"].isin(["stunted", "underweight"])),
        "H2": any_member((age >= 6) & ~m["health_insurance"].fillna(True)),
        "D1": any_member(~m["in_school"].fillna(True) & (((age >= 16) & (age < 18) & m["qualification"].isin(["none", "primary"]))
                                                         | ((age >= 18) & (age <= 30) & m["qualification"].isin(["none", "primary", "lower_secondary"])))),
        "D2": any_member((age >= 3) & (age < 16) & ~m["in_school"].fillna(True)),
        "N1": (~hh["wall_material"].isin(["brick_concrete", "wood_durable", "metal_sheet"])).astype(int)
        + (~hh["frame_material"].isin(["reinforced_concrete", "steel", "wood_durable"])).astype(int)
        + (~hh["roof_material"].isin(["concrete", "tiles", "metal_sheet", "fibre_cement"])).astype(int) >= 2,
        "N2": hh["floor_area"] / hh["members"] < 8,
        "W1": ~hh["water_source"].isin(["piped", "borehole", "protected_well", "protected_spring", "rainwater", "bottled"]),
        "W2": ~hh["latrine"].isin(["septic", "semi_septic", "pour_flush"]),
        "I1": ~any_member(m["uses_phone"].fillna(False) | m["uses_internet"].fillna(False)),
        "I2": ~(hh["info_assets__tv"] | hh["info_assets__radio"] | hh["info_assets__computer"] | hh["info_assets__smartphone"]).fillna(False)
        & ~hh["loudspeaker_reach"].fillna(True),
    }).fillna(False)
    count = flags.sum(axis=1)
    below = income <= line
    return pd.Series(["poor" if b and c >= 3 else "near_poor" if b else "other" for b, c in zip(below, count)], index=hh.index)


def run_one(households: int) -> dict:
    from rasoat.flows.review import questionnaire_for
    from rasoat.pipeline import aggregate, checks, classify, synthetic, tidy
    from rasoat.pipeline.publish import PublicationHeading, publish
    from rasoat.pipeline.rawstore import RawStore, current_versions
    from rasoat.pipeline.sources.folder import read_export_folder
    from rasoat.settings import load_settings

    settings = load_settings()
    q = questionnaire_for(settings)
    total = sum(h.resident_households for h in settings.hamlets)
    stages: list[tuple[str, float, float]] = []
    work = Path(tempfile.mkdtemp(prefix="rasoat-bench-"))
    (work / "inbox").mkdir()

    def stage(name, fn):
        t = time.perf_counter()
        out = fn()
        stages.append((name, time.perf_counter() - t, _peak_mb()))
        return out

    subs = stage("generate (synthetic)", lambda: synthetic.generate_commune(list(settings.hamlets), q, seed=1, scale=households / total))
    stage("write Central CSV zip", lambda: synthetic.write_central_csv_zip(subs, q, work / "inbox" / "export.csv.zip"))
    del subs
    read = stage("read export folder", lambda: read_export_folder(work / "inbox"))
    store = RawStore(f"sqlite:///{work / 'raw.sqlite3'}")
    stage("ingest raw store", lambda: store.ingest(read.submissions))
    del read
    versions = stage("load current versions", lambda: current_versions(store.versions(), set(settings.review.processed_review_states))[0])
    tidy_tables = stage("tidy tables", lambda: tidy.tidy_submissions(versions, q))
    del versions
    checked = stage("checks", lambda: checks.check_tables(tidy_tables, q, settings.commune.bounding_box))
    ruleset = settings.ruleset_for(2026)
    classified = stage("classify", lambda: classify.classify_households(checked.households, checked.members, ruleset, settings.hamlets))
    floor = stage("baseline: plain pandas classification", lambda: floor_classification(checked.households, checked.members))
    classified["hamlet_name"] = classified["hamlet"]
    tables = stage("aggregate", lambda: aggregate.build_indicator_tables(classified, checked.members, checked.excluded, checked.issues,
                                                                      settings.hamlets, ruleset, settings.targets, 2026))
    heading = PublicationHeading(settings.commune.authority, settings.commune.name, settings.commune.province, 2026, ruleset.version,
                                 False, pd.Timestamp("2026-12-01").date())
    stage("publish", lambda: publish(classified, tables.tables, heading, {}, work / "publications",
                                     hamlets={h.code: h.name for h in settings.hamlets}))
    agree = (floor == classified["household_class"].where(classified["household_class"].isin(["poor", "near_poor"]), "other")).mean()
    return {"households": len(classified) + len(checked.excluded), "stages": stages, "floor_agreement": agree}


def main(sizes: list[int]) -> None:
    if len(sizes) == 1 and "--child" in sys.argv:
        print(json.dumps(run_one(sizes[0])))
        return
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, str(n), "--child"], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        stages = {name: (sec, mb) for name, sec, mb in result["stages"]}
        pipeline = [s for s in stages if not s.startswith(("generate", "write", "baseline"))]
        total = sum(stages[s][0] for s in pipeline)
        print(f"\n== {result['households']:,} households ==")
        print(f"{'stage':40} {'seconds':>9} {'peak MB':>9}")
        for name, (sec, mb) in stages.items():
            print(f"{name:40} {sec:9.2f} {mb:9.0f}")
        print(f"{'inbox → publication (sum of stages)':40} {total:9.2f}")
        ratio = stages["classify"][0] / stages["baseline: plain pandas classification"][0]
        print(f"classify ÷ plain-pandas floor: {ratio:.1f}×  (classes agree on {100 * result['floor_agreement']:.2f}% of households)")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:] if a.isdigit()] or [10_000])
