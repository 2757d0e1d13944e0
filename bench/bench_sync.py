"""Syncing 10,000 submissions (4 members each) from the fake Central: our cost against the server's.

    .venv/bin/python bench/bench_sync.py [--households 10000] [--page-size 1000]

The fake Central runs in a child process (its JSON rendering is "the server"), so the sync's own
cost — parsing JSON, converting elements, storing them in SQLite — is measured apart from waiting
for the server. Reports: the full sync (wall, server, own, peak memory of this process), the sync
with nothing new (one small request after the login; the command's start-up work included,
Python's import time reported separately), and the import time of the sync command's modules.
Goal (issue 8): own cost < server cost and < 5 s for 10,000; nothing new < 0.5 s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def serve(n: int, queue) -> None:
    from _servers import odata_elements, questionnaire  # noqa: F401  (the same synthetic households as the tests)
    from fake_central import FakeCentral
    from test_central import published_form

    os.environ["PYODK_CACHE_FILE"] = tempfile.mktemp(suffix=".toml")
    fake = FakeCentral().start()
    published_form(fake)
    elements = odata_elements(min(n, 2000), seed=3)
    for k in range(n):
        e = dict(elements[k % len(elements)])
        e["__id"] = f"uuid:00000000-0000-4000-8000-{k:012d}"
        e["meta"] = {**e["meta"], "instanceID": e["__id"]}
        members = list(e["member"])
        while len(members) < 4:
            members.append(dict(members[0], __id=f"{members[0]['__id']}-{len(members)}"))
        e["member"] = members[:4]
        fake.add_element(e)
    fake.advance(hours=1)
    queue.put((fake.url, fake.email, fake.password))
    queue.get()  # wait for "stop"
    fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    import_started = time.perf_counter()
    from rasoat.pipeline.rawstore import RawStore
    from rasoat.pipeline.sources.central import Central, CentralTarget
    from rasoat.pipeline.sources.http import RetryPolicy
    from rasoat.pipeline.sources.sync import sync_central
    imports = time.perf_counter() - import_started

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=serve, args=(args.households, queue), daemon=True)
    setup = time.perf_counter()
    child.start()
    url, email, password = queue.get(timeout=600)
    print(f"fake Central with {args.households:,} submissions ready in {time.perf_counter() - setup:.1f} s")
    os.environ["PYODK_CACHE_FILE"] = tempfile.mktemp(suffix=".toml")
    target = CentralTarget(url, 1, "rasoat_household", email, password)
    policy = RetryPolicy()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        store_url = f"sqlite:///{data / 'raw.sqlite3'}"
        started = time.perf_counter()
        with Central(target, policy) as central, RawStore(store_url) as store:
            report = sync_central(central, store, data, overlap_minutes=5, page_size=args.page_size)
            stored = store.count()
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"full sync: {report.received:,} submissions ({stored:,} stored) in {report.pages} pages, "
              f"{report.requests} requests")
        print(f"  wall {wall:.2f} s = server {report.server_seconds:.2f} s + own {wall - report.server_seconds:.2f} s "
              f"(parsing + converting + storing); peak RSS {peak:.0f} MB")

        started = time.perf_counter()
        with Central(target, policy) as central, RawStore(store_url) as store:
            again = sync_central(central, store, data, overlap_minutes=5, page_size=args.page_size)
        nothing = time.perf_counter() - started
        print(f"sync with nothing new: {nothing * 1000:.0f} ms (login, store open, {again.requests} data request(s), "
              f"{again.received} received)")
    queue.put("stop")
    child.join(10)

    code = ("import time; t=time.perf_counter(); import rasoat.server_commands, rasoat.pipeline.sources.sync, "
            "rasoat.pipeline.sources.central, rasoat.pipeline.rawstore, pyodk.client; print(time.perf_counter()-t)")
    cold = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    print(f"python imports for the sync command: {cold:.2f} s in a fresh process ({imports:.2f} s here)")


if __name__ == "__main__":
    main()
