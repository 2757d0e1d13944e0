"""Benchmark: the review from the raw store to the publication, on synthetic communes.

    .venv/bin/python bench/bench_review.py                       # 10k households
    .venv/bin/python bench/bench_review.py 10000 100000 1000000
    RASOAT_BENCH_CACHE=/var/tmp/rasoat-bench .venv/bin/python bench/bench_review.py 1000000   # keep the stores

For each size, in its own process (so peak memory is that size's own):

1. setup, not timed as part of the review: a synthetic commune streamed as ODK Central's OData
   elements (what `rasoat sync` stores) into a SQLite raw store;
2. the review exactly as `rasoat rerun` runs it (`flows.review._review` with the steps' plain
   functions, i.e. without Prefect), timed per stage from the stage log, with the process's
   peak resident memory after each stage, and the peak of the process with its worker processes
   (from 60k households tidy and publication run parts in them, see `pipeline/workers.py`), over
   the whole run and within each stage ("+workers");
3. the baseline, in the same process on the same checked tables: a plain vectorised pandas
   script doing only the indicator and class arithmetic of the 2022–2026 rules, the floor for
   the classification stage.

`--prefect` also runs a commune-sized review (the example commune, ~7,500 households) twice on
the same store, once as the Prefect flow and once as plain functions, and prints the difference:
Prefect's own overhead per run, its embedded server's start-up reported apart.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil


def _resident_mb() -> float:
    """This process's resident memory now (the peak only grows; this shows what a stage leaves behind)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_classification(hh: pd.DataFrame, m: pd.DataFrame) -> pd.Series:
    """Hand-written vectorised arithmetic of the 2022–2026 rules: the least the stage can cost.

    Each member's household is looked up once (a position per member) and the "any member" and
    share indicators are counted with `np.bincount`, not by a text `isin` and a groupby per
    indicator: the same classes in about a third of the time at 1M (1.6 against 5.5–6.2 s), so the
    floor is what a careful hand-written script costs."""
    n = len(hh)
    home = pd.Index(hh["submission_id"]).get_indexer(m["submission_id"])

    def any_member(mask: np.ndarray) -> np.ndarray:
        return np.bincount(home[mask], minlength=n) > 0

    def flag(frame: pd.DataFrame, column: str, missing: bool) -> np.ndarray:
        return frame[column].fillna(missing).to_numpy(bool)

    def outside(column: str, good: list[str]) -> np.ndarray:
        return ~hh[column].isin(good).to_numpy()

    age = m["age"].to_numpy(float, na_value=np.nan)  # comparisons with a missing age are False
    status = m["labour_status"].to_numpy(object)
    in_school = flag(m, "in_school", True)
    qualification = m["qualification"]
    # a member is dependent if any reason is known to hold; one whose age is missing and no other reason holds is left out of the share
    other_reason = flag(m, "disability", False) | (status == "unable_to_work")
    dependent = other_reason | (age < 16) | (age >= 60)
    known = other_reason | ~np.isnan(age)
    members = hh["members"].to_numpy(float, na_value=np.nan)
    flags = [
        any_member((age >= 15) & (age <= 60) & ((status == "unemployed") | ((status == "wage_worker") & ~flag(m, "labour_contract", True)))),
        np.bincount(home, weights=dependent & known, minlength=n) > 0.5 * np.bincount(home, weights=known, minlength=n),
        any_member((age < 16) & m["child_nutrition"].isin(["stunted", "underweight"]).to_numpy()),
        any_member((age >= 6) & ~flag(m, "health_insurance", True)),
        any_member(~in_school & (((age >= 16) & (age < 18) & qualification.isin(["none", "primary"]).to_numpy())
                                 | ((age >= 18) & (age <= 30) & qualification.isin(["none", "primary", "lower_secondary"]).to_numpy()))),
        any_member((age >= 3) & (age < 16) & ~in_school),
        outside("wall_material", ["brick_concrete", "wood_durable", "metal_sheet"]).astype(int)
        + outside("frame_material", ["reinforced_concrete", "steel", "wood_durable"])
        + outside("roof_material", ["concrete", "tiles", "metal_sheet", "fibre_cement"]) >= 2,
        hh["floor_area"].to_numpy(float, na_value=np.nan) / members < 8,
        outside("water_source", ["piped", "borehole", "protected_well", "protected_spring", "rainwater", "bottled"]),
        outside("latrine", ["septic", "semi_septic", "pour_flush"]),
        ~any_member(flag(m, "uses_phone", False) | flag(m, "uses_internet", False)),
        ~(hh["info_assets__tv"] | hh["info_assets__radio"] | hh["info_assets__computer"] | hh["info_assets__smartphone"]).fillna(False).to_numpy(bool)
        & ~flag(hh, "loudspeaker_reach", True),
    ]
    count = np.sum(flags, axis=0)
    line = np.where(hh["hamlet"].str.startswith("K").to_numpy(bool), 2_000_000, 1_500_000)
    income = (hh["income_sources_year"].fillna(0).to_numpy(float) - hh["production_costs"].fillna(0).to_numpy(float)) / 12 / members
    below = income <= line  # a missing income (no members) is not below
    return pd.Series(pd.Categorical.from_codes((below & (count >= 3)) * 2 + (below & (count < 3)), ["other", "near_poor", "poor"]),
                     index=hh.index)


HOUSEHOLDS_PER_HAMLET = 8_000  # the form numbers households <hamlet>-0001 … -9999


def bench_config(households: int, folder: Path) -> Path | None:
    """A config folder for a commune of this size: the bundled one, its hamlets split so that none
    holds more households than the form can number (None: the bundled config as it is)."""
    import shutil as _shutil

    import yaml

    from rasoat.config import BUNDLED_CONFIG_DIR
    from rasoat.settings import load_settings

    hamlets = load_settings().hamlets
    total = sum(h.resident_households for h in hamlets)
    split = -(-households // (HOUSEHOLDS_PER_HAMLET * len(hamlets)))
    if split <= 1:
        return None
    config = folder / "config"
    if not config.exists():
        _shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=_shutil.ignore_patterns("*.py", "__pycache__"))
        rows = [{"code": f"{h.code}{k:02d}", "name": f"{h.name} - {k:02d}", "area_type": h.area_type,
                 "resident_households": max(1, round(h.resident_households * households / total / split))}
                for h in hamlets for k in range(1, split + 1)]
        (config / "hamlets.yaml").write_text(yaml.safe_dump({"example": True, "hamlets": rows}, allow_unicode=True), encoding="utf-8")
    return config


def build_store(data_dir: Path, households: int, config: Path | None = None) -> int:
    """Stream a synthetic commune of about `households` households into `data_dir`'s raw store.

    Each household goes through the same conversion as an element `rasoat sync` reads from
    Central's OData feed, in batches so a million households never sit in memory at once.
    """
    from itertools import islice

    from rasoat.flows.review import DataFolder, questionnaire_for, store_url
    from rasoat.pipeline import synthetic
    from rasoat.pipeline.rawstore import RawStore
    from rasoat.settings import load_settings

    settings = load_settings(config)
    q = questionnaire_for(settings)
    total = sum(h.resident_households for h in settings.hamlets)
    stored = 0
    versions = synthetic.raw_submissions(list(settings.hamlets), q, seed=1, scale=households / total, source="bench")
    with RawStore(store_url(settings, DataFolder(data_dir))) as store:
        while batch := list(islice(versions, 20_000)):
            stored += store.ingest(batch).new_versions
    return stored


class TreeMemory(threading.Thread):
    """Peak memory of this process and its worker processes together, sampled every 0.2 s: this
    process's resident size plus each worker's anonymous resident memory (its RSS less its
    file-backed pages), read from /proc/<pid>/statm.

    A worker's file-backed pages are mostly the libraries this process maps too, so they count once.
    A process still between its fork and its exec shows all of its parent's pages (at 1M households a
    sample caught one and read 8.2 GB for 4.5 GB in use): only started workers (spawned, running
    `--multiprocessing-fork`) are counted. Proportional set sizes (PSS) say the same more exactly,
    but reading them walks each process's page tables, which stalls it: sampled every 0.2 s at a
    million households that slowed the run by a tenth or more (tidy's workers: 55 → 61 s)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = 0, threading.Event()
        self.samples: list[tuple[float, float]] = []  # (perf_counter, MB): each stage's own peak
        self.start()

    def peak_between(self, start: float, stop: float) -> float:
        return max((mb for t, mb in self.samples if start <= t <= stop), default=0.0)

    def run(self) -> None:
        me = psutil.Process()
        while not self.done.wait(0.2):
            total = me.memory_info().rss
            for worker in me.children(recursive=True):
                try:
                    if "--multiprocessing-fork" in worker.cmdline():
                        info = worker.memory_info()
                        total += info.rss - info.shared
                except psutil.Error:  # a worker that just ended
                    pass
            self.peak = max(self.peak, total)
            self.samples.append((time.perf_counter(), total / 2**20))

    def stop(self) -> float:
        self.done.set()
        self.join()
        return max(self.peak / 2**20, _peak_mb())


class StageClock(logging.Handler):
    """Times the review's stages from its stage log ("clean:start", "clean:done", ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, float, float, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append((record.getMessage().split(" ", 1)[0], time.perf_counter(), _peak_mb(), _resident_mb()))


WARM_REPEATS_UP_TO = 100_000  # households up to which the floor and the classification are also timed best of 5


def best_of_both(households: pd.DataFrame, members: pd.DataFrame, ruleset, hamlets, repeats: int = 5) -> dict:
    """The floor and `classify_households` on the same checked tables, alternating, best of `repeats`
    each: at 10k both take tens of milliseconds, where one cold call of each is mostly noise."""
    from rasoat.pipeline.classify import classify_households

    best = {"floor": float("inf"), "classify": float("inf")}
    for _ in range(repeats):
        for name, run in (("floor", lambda: floor_classification(households, members)),
                          ("classify", lambda: classify_households(households, members, ruleset, hamlets))):
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def run_one(households: int) -> dict:
    from rasoat.flows import review

    # RASOAT_BENCH_CACHE keeps each size's raw store between runs (a million households take
    # ~20 min to generate); the review only reads the store, so reusing it changes nothing measured.
    cache = os.environ.get("RASOAT_BENCH_CACHE")
    data_dir = Path(cache) / str(households) if cache else Path(tempfile.mkdtemp(prefix="rasoat-bench-"))
    t = time.perf_counter()
    if cache and (data_dir / "store" / "complete").exists():
        stored = int((data_dir / "store" / "complete").read_text())
        shutil.rmtree(data_dir / "publications", ignore_errors=True)
        config = bench_config(households, data_dir)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        config = bench_config(households, data_dir)
        stored = build_store(data_dir, households, config)
        (data_dir / "store" / "complete").write_text(str(stored))
    setup = time.perf_counter() - t

    floor: dict = {}
    steps = review.TASKS.plain()
    real_classify = steps.classify

    def classify_with_floor(checked, settings, year):
        start = time.perf_counter()
        floor["classes"] = floor_classification(checked.households, checked.members)
        floor["seconds"] = time.perf_counter() - start
        clock.emit(logging.LogRecord("bench", logging.INFO, "", 0, "classify:begin", None, None))
        out = real_classify(checked, settings, year)
        mine = out[0].set_index("submission_id")["household_class"].astype(object)
        theirs = pd.Series(floor["classes"].to_numpy(), index=checked.households["submission_id"]).astype(object)
        floor["agreement"] = float((mine.where(mine.isin(["poor", "near_poor"]), "other") == theirs.reindex(mine.index)).mean())
        if len(checked.households) <= WARM_REPEATS_UP_TO:  # timed again after the run, so nothing measured in it is warmed
            floor["tables"] = (checked.households, checked.members, settings.ruleset_for(year), settings.hamlets)
        return out

    steps = review.ReviewSteps(steps.pull, steps.clean, classify_with_floor, steps.movements, steps.aggregate, steps.report, steps.publish)
    clock = StageClock()
    tree = TreeMemory()
    log = logging.getLogger("rasoat.stages")
    log.addHandler(clock)
    log.setLevel(logging.INFO)
    clock.emit(logging.LogRecord("bench", logging.INFO, "", 0, "begin", None, None))
    result = review._review(str(data_dir), str(config) if config else None, reference_year=2026, pull=False, steps=steps)
    clock.emit(logging.LogRecord("bench", logging.INFO, "", 0, "end", None, None))

    tree_peak = tree.stop()
    warm = best_of_both(*floor.pop("tables")) if "tables" in floor else None
    stages = [(f"{a[0]} → {b[0]}", b[1] - a[1], b[2], b[3], tree.peak_between(a[1], b[1])) for a, b in zip(clock.events, clock.events[1:])
              if b[0] != "classify:begin"]  # up to "classify:begin" the floor ran: its own time is reported apart
    total = sum(stage[1] for stage in stages)
    return {"households": result.households_classified + result.households_excluded, "stored": stored, "setup": setup,
            "hamlets": len(result.by_hamlet) - 1, "excluded": result.households_excluded, "issues": result.issues,
            "stages": stages, "total": total, "floor_seconds": floor["seconds"], "warm": warm, "agreement": floor["agreement"], "peak_mb": _peak_mb(),
            "tree_peak_mb": tree_peak}


def prefect_overhead() -> dict:
    """A commune-sized review twice on the same store: as the Prefect flow and as plain functions."""
    from prefect.testing.utilities import prefect_test_harness

    from rasoat.flows import review
    from rasoat.settings import load_settings

    settings = load_settings()
    data_dir = Path(tempfile.mkdtemp(prefix="rasoat-bench-prefect-"))
    build_store(data_dir, sum(h.resident_households for h in settings.hamlets))
    start = time.perf_counter()
    with prefect_test_harness():
        server_up = time.perf_counter() - start
        review.rerun_flow(str(data_dir), reference_year=2026)  # warm: imports, first flow run's registration
        times = {}
        for label in ("plain", "flow", "plain ", "flow "):
            t = time.perf_counter()
            if label.strip() == "flow":
                review.rerun_flow(str(data_dir), reference_year=2026)
            else:
                review._review(str(data_dir), reference_year=2026, pull=False, steps=review.TASKS.plain())
            times[label] = time.perf_counter() - t
    plain = min(times["plain"], times["plain "])
    flow = min(times["flow"], times["flow "])
    return {"server_start": server_up, "plain": plain, "flow": flow, "overhead": flow - plain}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv if a.isdigit()] or [10_000]
    if "--child" in argv:
        print(json.dumps(prefect_overhead() if "--prefect" in argv else run_one(sizes[0])))
        return
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, str(n), "--child"], capture_output=True, text=True, env=os.environ)
        if out.returncode:
            print(out.stderr[-3000:])
            raise SystemExit(f"the {n:,}-household run failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n== {r['households']:,} households in {r['hamlets']} hamlets ({r['excluded']:,} excluded, {r['issues']:,} issues; "
              f"setup: {r['stored']:,} versions stored in {r['setup']:.1f} s) ==")
        print(f"{'stage':44} {'seconds':>9} {'peak MB':>9} {'now MB':>9} {'+workers':>9}")
        for name, sec, mb, now, tree in r["stages"]:
            print(f"{name:44} {sec:9.2f} {mb:9.0f} {now:9.0f} " + (f"{tree:9.0f}" if tree else f"{'':>9}"))  # no sample in a short stage
        print(f"{'raw store → publication':44} {r['total']:9.2f} {r['peak_mb']:9.0f}")
        print(f"{'with its worker processes (sampled, peak MB)':44} {'':9} {r['tree_peak_mb']:9.0f}")
        classify = sum(sec for name, sec, *_ in r["stages"] if name == "classify:start → classify:classes")
        print(f"{'baseline: plain pandas classification':44} {r['floor_seconds']:9.2f}")
        print(f"classify (classes and reasons) ÷ floor: {classify / r['floor_seconds']:.1f}×; classes agree with the floor's on "
              f"{100 * r['agreement']:.2f}% of households")
        if r.get("warm"):
            w = r["warm"]
            print(f"best of 5 on the same tables, after the run: floor {w['floor']:.3f} s, classify_households {w['classify']:.3f} s, "
                  f"{w['classify'] / w['floor']:.1f}×")
    if "--prefect" in argv:
        out = subprocess.run([sys.executable, __file__, "--child", "--prefect"], capture_output=True, text=True, env=os.environ)
        if out.returncode:
            print(out.stderr[-3000:])
            raise SystemExit("the Prefect overhead run failed")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n== Prefect overhead, commune-sized review ==\nembedded server start {r['server_start']:.2f} s; "
              f"plain {r['plain']:.2f} s; flow {r['flow']:.2f} s; overhead per run {r['overhead']:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
