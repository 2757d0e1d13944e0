"""Benchmark: the household XForm in ODK's web form engine (@getodk/xforms-engine) under Node.

    .venv/bin/python bench/bench_form_engine.py            # 10 members, 5 runs
    .venv/bin/python bench/bench_form_engine.py 20 9       # 20 members, 9 runs

Builds the XForm from forms/household.md (with the configured hamlets), fills one household of
N members with tests/form_engine/fill.mjs, each run in a fresh Node process, and prints the
XForm's size and the median of the engine's own timings: load (parse the form and create the
instance), fill (set every answer, recomputing relevance, constraints and calculates) and
serialize (validate and produce the submission XML), plus the wall time of the whole process.
Needs node and `npm ci` in tests/form_engine (scripts/test-all does both).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_form_engine as fe  # noqa: E402  (the scenario builders the tests use)


def household_of(n: int) -> tuple[dict, list[dict]]:
    household, members = fe.family_of_four()
    yes, no = fe.code("yes_no", "yes"), fe.code("yes_no", "no")
    extra = [
        fe.person("Lê Văn Bảy", "male", 1950, "parent", "retired", in_school=no,
                  qualification=fe.code("qualification", "primary")),
        fe.person("Phạm Thị Tám", "female", 1953, "parent", "retired", in_school=no,
                  qualification=fe.code("qualification", "none")),
        fe.person("Lê Văn Chín", "male", 2000, "child", "wage_worker", labour_contract=no, in_school=no,
                  qualification=fe.code("qualification", "vocational_certificate")),
        fe.person("Võ Thị Mười", "female", 2001, "child_in_law", "homemaker", in_school=no,
                  qualification=fe.code("qualification", "upper_secondary")),
        fe.person("Lê Thị Út", "female", 2024, "grandchild", "student", in_school=no,
                  child_nutrition=fe.code("nutrition", "normal")),
        fe.person("Lê Văn Tư", "male", 2008, "child", "student", in_school=yes,
                  school_level=fe.code("school_level", "upper_secondary"),
                  qualification=fe.code("qualification", "lower_secondary"),
                  child_nutrition=fe.code("nutrition", "normal")),
    ]
    while len(members) < n:
        members.append(dict(extra[(len(members) - 4) % len(extra)]))
    members = members[:n]
    household["household_size"] = n
    return household, members


def main(argv: list[str]) -> int:
    import shutil

    from pyxform.xls2xform import convert

    size = int(argv[0]) if argv else 10
    runs = int(argv[1]) if len(argv) > 1 else 5
    node = shutil.which("node")
    if node is None or not (fe.ENGINE_DIR / "node_modules").is_dir():
        print("needs node and `npm ci` in tests/form_engine (run bash scripts/test-all)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        form = work / f"{fe.Q.form_id}.xml"
        t0 = time.perf_counter()
        xform = convert(fe.Q.definition, form_name=fe.ROOT).xform
        build_ms = (time.perf_counter() - t0) * 1000
        form.write_text(xform, encoding="utf-8")
        xform_bytes = len(xform.encode("utf-8"))
        household, members = household_of(size)
        request = {"answers": fe.household_answers(household, members)}
        timings, walls = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = fe.run_fill(Path(node), form, request, work)
            walls.append((time.perf_counter() - t0) * 1000)
            if response["status"] != "ready" or response["errors"]:
                print(fe.summary(response), file=sys.stderr)
                return 1
            timings.append(response["timings_ms"])
    median = {k: statistics.median(t[k] for t in timings) for k in ("load", "fill", "serialize")}
    print(f"XForm: {xform_bytes} bytes (pyxform build {build_ms:.0f} ms)")
    print(f"household of {size} members, {len(request['answers'])} answers, {runs} runs, medians:")
    print(f"  engine load      {median['load']:8.1f} ms")
    print(f"  fill             {median['fill']:8.1f} ms")
    print(f"  serialize        {median['serialize']:8.1f} ms")
    print(f"  node process     {statistics.median(walls):8.1f} ms  (start-up, imports, jsdom, all of the above)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
