"""Issue 9: a sync against a server that fails 30% of its requests finishes with nothing lost or duplicated.

The fakes' seeded random faults (`random_faults(p=0.3, seed=...)`) make about 30% of all requests
(login included) fail: 500 or 503 errors, dropped connections, bodies cut in half, slow answers
(0.3 s, below the client's 1 s timeout). The client runs with the shipped number of attempts
(`server.retries` 5 → 6 tries) but a tiny backoff so the test stays fast. A run that gives up is
simply run again, the way the nightly schedule would, and the number of runs it took must stay small
(with the shipped retries one run is enough; a Central variant with only 2 tries gives up many times
and shows that each new run resumes from the saved cursor without losing or doubling anything).
Then the store must hold exactly the server's set: every live submission once, in its newest version
(instance id and checksum of the payload the server serves now), no version stored twice.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from _servers import households, kobo_record, questionnaire, settings
from fake_central import FakeCentral
from fake_kobo import FakeKobo
from rasoat.pipeline.rawstore import RawStore, checksum_of
from rasoat.pipeline.sources.central import Central, raw_of
from rasoat.pipeline.sources.http import RetryPolicy, ServerError
from rasoat.pipeline.sources.kobo import Kobo
from rasoat.pipeline.sources.sync import sync_central, sync_kobo
from test_central import _edit_on_page, assert_exact, seed as seed_central, store_state, target as central_target
from test_kobo import check as check_kobo, deploy as deploy_kobo, target as kobo_target

P = 0.3
SEED = int(os.environ.get("RASOAT_FAULT_SEED", "20261127"))  # another seed: another sequence of faults
MAX_RUNS = 4  # a nightly schedule that needed more than this many tries would be a failure to report
ATTEMPTS = settings().server.retries + 1  # what `rasoat sync` / `rasoat run` use
POLICY = RetryPolicy(attempts=ATTEMPTS, backoff=0.001, max_backoff=0.01, timeout=1.0)


@pytest.fixture(autouse=True)
def _pyodk_files(tmp_path, monkeypatch):
    """Never touch the user's ~/.pyodk_config.toml or token cache."""
    monkeypatch.setenv("PYODK_CONFIG_FILE", str(tmp_path / "no-pyodk-config.toml"))
    monkeypatch.setenv("PYODK_CACHE_FILE", str(tmp_path / "pyodk-cache.toml"))


def until_complete(run, max_runs: int = MAX_RUNS) -> tuple[object, list[str]]:
    """Call run() until it completes (a sync that gives up raises ServerError); (report, failures)."""
    failures: list[str] = []
    for _ in range(max_runs):
        try:
            return run(), failures
        except ServerError as exc:
            failures.append(str(exc))
    pytest.fail(f"the sync did not complete in {max_runs} runs: {failures}")


def assert_rate(fake, low: float = 0.2, high: float = 0.4) -> str:
    injected = sum(fake.injected.values())
    assert fake.eligible >= 50, fake.eligible
    assert low <= fake.fault_rate <= high, (fake.fault_rate, dict(fake.injected), fake.eligible)
    assert set(fake.injected) == {"500", "503", "drop", "truncate", "slow"}, dict(fake.injected)
    return f"{injected}/{fake.eligible} = {fake.fault_rate:.0%} {dict(fake.injected)}"


# --- ODK Central ------------------------------------------------------------------------------------


def assert_central_exact(fake, url: str) -> None:
    """assert_exact, and: no version stored twice, every stored version one the server had, and each
    current version's checksum that of the element the server serves now."""
    assert_exact(fake, url)
    versions, current, excluded, _ = store_state(url)
    # one version per (instance, review state): a review keeps the instance id but is a new version
    keys = list(zip(versions["submission_id"], versions["instance_id"], versions["review_state"]))
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
    for sid, instance, _ in keys:
        assert instance in {v["meta"]["instanceID"] for v in fake.submissions[sid]["versions"]}, (sid, instance)
    form_id = questionnaire().form_id
    for row in current.itertuples():
        served = json.loads(json.dumps(fake.element(fake.submissions[row.submission_id])))
        assert row.checksum == checksum_of(raw_of(served, form_id, "x").payload), row.submission_id


def assert_media(data, media: dict) -> None:
    """Every photo on the server saved once, complete; nothing half-written left behind."""
    saved = {p.relative_to(data / "attachments").parts[0]: p.read_bytes() for p in (data / "attachments").rglob("photo.jpg")}
    expected = {sid.replace(":", "_"): files["photo.jpg"] for sid, files in media.items()}
    assert saved == expected
    assert not list((data / "attachments").rglob(".*.part"))


@pytest.mark.parametrize("attempts, max_runs", [(ATTEMPTS, MAX_RUNS), (2, 25)], ids=["shipped-retries", "2-tries"])
def test_central_sync_with_30_percent_random_faults_is_exact(tmp_path, attempts, max_runs):
    """With the shipped retries a run hardly ever gives up; with 2 tries most runs give up part-way, and
    the next run resumes from the saved cursor: still nothing lost or duplicated."""
    policy = RetryPolicy(attempts=attempts, backoff=0.001, max_backoff=0.01, timeout=1.0)
    fake = FakeCentral().start()
    try:
        url = f"sqlite:///{tmp_path / 'raw.sqlite3'}"
        ids = seed_central(fake, 300)
        media = {sid: {"photo.jpg": f"jpeg {k} ".encode() * 400, "missing.jpg": None}  # 40 with a photo (3-4 kB)
                 for k, sid in enumerate(ids[100:140])}
        for sid, files in media.items():
            fake.submissions[sid]["attachments"] = dict(files)
        fake.on_page(_edit_on_page(4))  # an edit, a deletion and a new submission while the first sync pages
        fake.random_faults(P, seed=SEED, delay=0.3)

        def run():
            with Central(central_target(fake), policy) as c, RawStore(url) as store:
                return sync_central(c, store, tmp_path, overlap_minutes=5, page_size=10)

        report, failures = until_complete(run, max_runs)
        assert report.received >= 1
        assert_central_exact(fake, url)
        assert_media(tmp_path, media)
        assert len(fake.live_ids()) == 300  # 300 - 1 deleted + 1 added

        # the next night: more edits, a deletion, new submissions, the same faulty server
        fake._page_hooks.clear()
        fake.advance(hours=20)
        fake.edit(ids[10], lambda d: d["meta"].update(instanceName="sửa lần 2"))
        fake.review(ids[11], "approved")
        fake.delete(ids[12])
        from _servers import odata_elements

        for element in odata_elements(20, seed=3):
            fake.add_element(element)
        fake.advance(hours=1)
        report2, failures2 = until_complete(run, max_runs)
        assert not report2.full
        assert_central_exact(fake, url)
        rate = assert_rate(fake)
        print(f"\nCentral: faults {rate}; runs {len(failures) + 1} then {len(failures2) + 1}; "
              f"gave up: {failures + failures2}")
    finally:
        fake.stop()


# --- KoboToolbox ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from rasoat.forms.build import build_form

    return build_form(settings(), tmp_path_factory.mktemp("forms"), validate=False)


def _kobo_midway(uid: str, page_number: int):
    """While the sync pages: edit and delete records on pages not read yet, add a new one."""
    state = {"n": 0}

    def hook(fake, query):
        state["n"] += 1
        if state["n"] == page_number:
            records = fake.records[uid]
            fake.edit(uid, records[-1]["_id"], lambda r: r.update({"meta/instanceName": "sửa giữa chừng"}))
            fake.delete(uid, records[-2]["_id"])
            sub = dict(households(1, seed=99)[0], instance_id="uuid:00000000-0000-4000-8000-999999999999")
            fake.add_record(uid, kobo_record(sub, questionnaire()))
    return hook


def assert_kobo_exact(fake, uid: str, url: str) -> None:
    versions, _, _ = check_kobo(fake, uid, url)
    pairs = list(zip(versions["submission_id"], versions["instance_id"]))
    assert len(pairs) == len(set(pairs)), "a version is stored twice"


def test_kobo_sync_with_30_percent_random_faults_is_exact(tmp_path, built):
    fake = FakeKobo().start()
    try:
        url = f"sqlite:///{tmp_path / 'raw.sqlite3'}"
        _, uid = deploy_kobo(fake, built, tmp_path)
        q = questionnaire()
        base = households(60)
        for k in range(300):
            sub = dict(base[k % len(base)], instance_id=f"uuid:00000000-0000-4000-8000-{k:012d}")
            fake.add_record(uid, kobo_record(sub, q), submitted=fake.now() - timedelta(days=1))
        fake.on_page(_kobo_midway(uid, 15))
        fake.random_faults(P, seed=SEED, delay=0.3)

        def run():
            with Kobo(kobo_target(fake, uid), POLICY) as kobo, RawStore(url) as store:
                return sync_kobo(kobo, store, tmp_path, window_days=30, page_size=5)

        report, failures = until_complete(run)
        assert report.received >= 300
        assert_kobo_exact(fake, uid, url)

        # the next night: an edit and a deletion of records read the night before
        fake._page_hooks.clear()
        fake.advance(hours=24)
        fake.edit(uid, fake.records[uid][5]["_id"], lambda r: r.update({"meta/instanceName": "sửa"}))
        fake.delete(uid, fake.records[uid][6]["_id"])
        report2, failures2 = until_complete(run)
        assert report2.deleted == 1 and report2.new_versions == 1
        assert_kobo_exact(fake, uid, url)
        rate = assert_rate(fake)
        print(f"\nKobo: faults {rate}; runs {len(failures) + 1} then {len(failures2) + 1}; "
              f"gave up: {failures + failures2}")
    finally:
        fake.stop()
