"""Issue 9: one run at a time per data folder, the rerun flow, its artifacts, `rasoat schedule serve`."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rasoat.cli import app
from rasoat.flows import review as review_module
from rasoat.flows.review import DataFolder, questionnaire_for, rerun_flow, review_flow
from rasoat.pipeline import synthetic
from rasoat.pipeline.publish import current_publication, remove_incomplete
from rasoat.pipeline.rawstore import RawStore, default_store_url
from rasoat.pipeline.runlock import RunSkipped, read_holder, run_lock
from rasoat.settings import load_settings

SETTINGS = load_settings()


# --- the lock alone ------------------------------------------------------------------------------


def test_lock_writes_the_holder_and_a_second_taker_is_skipped_after_waiting(tmp_path: Path):
    with run_lock(tmp_path, wait_seconds=0):
        holder = read_holder(tmp_path)
        assert holder["pid"] == os.getpid() and holder["started_at"].endswith("Z")
        started = time.monotonic()
        with pytest.raises(RunSkipped) as caught:
            with run_lock(tmp_path, wait_seconds=0.4, poll_seconds=0.05):
                pytest.fail("the second taker must not run")
        assert 0.4 <= time.monotonic() - started < 2
        assert caught.value.holder["pid"] == os.getpid()
        assert "Bỏ qua" in str(caught.value) and "run.lock" in str(caught.value)
    with run_lock(tmp_path, wait_seconds=0):  # released at exit: free again, the stale file is harmless
        pass


def test_a_waiting_run_goes_ahead_when_the_holder_finishes_in_time(tmp_path: Path):
    ran = []
    released = threading.Event()

    def hold():
        with run_lock(tmp_path, wait_seconds=0):
            released.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    while read_holder(tmp_path) is None:
        time.sleep(0.01)
    threading.Timer(0.3, released.set).start()
    with run_lock(tmp_path, wait_seconds=5, poll_seconds=0.05):
        ran.append(True)
    holder.join()
    assert ran == [True]


def test_wait_comes_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RASOAT_LOCK_WAIT_SECONDS", "0.1")
    with run_lock(tmp_path):
        started = time.monotonic()
        with pytest.raises(RunSkipped):
            with run_lock(tmp_path):
                pass
        assert time.monotonic() - started < 1.5


def test_remove_incomplete_keeps_publications(tmp_path: Path):
    pubs = tmp_path / "publications"
    (pubs / "2026-a" / "commune").mkdir(parents=True)
    (pubs / ".incoming-2026-b-abc" / "commune").mkdir(parents=True)
    os.symlink("2026-b", pubs / ".current-123")
    (pubs / ".CURRENT.tmp-9").write_text("x")
    os.symlink("2026-a", pubs / "current")
    assert sorted(remove_incomplete(pubs)) == [".CURRENT.tmp-9", ".current-123", ".incoming-2026-b-abc"]
    assert sorted(p.name for p in pubs.iterdir()) == ["2026-a", "current"]


# --- through the flow ------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = DataFolder(tmp_path / "data")
    folder.inbox.mkdir(parents=True)
    q = questionnaire_for(SETTINGS)
    subs = synthetic.generate_commune(list(SETTINGS.hamlets), q, seed=9, scale=0.02)
    synthetic.write_central_csv_zip(subs, q, folder.inbox / "rasoat_household.csv.zip")
    return folder.root


@pytest.mark.usefixtures("prefect_harness")
def test_two_runs_started_together_one_runs_one_is_skipped(data_dir: Path, monkeypatch):
    outcomes: list = []
    go = threading.Barrier(2)
    skipped_one = threading.Event()
    review_inside_lock = review_module._review

    def holder_waits_for_the_other(*args, **kwargs):
        # Prefect may take seconds to enter the second flow's body; the holder keeps the lock until
        # the other run has given up, so the test does not depend on how fast the holder runs.
        skipped_one.wait(120)
        return review_inside_lock(*args, **kwargs)

    monkeypatch.setattr(review_module, "_review", holder_waits_for_the_other)

    def one():
        go.wait()
        try:
            outcomes.append(review_flow(data_dir=str(data_dir), reference_year=2026, lock_wait_seconds=0.2))
        except RunSkipped as exc:
            outcomes.append(exc)
            skipped_one.set()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    skipped = [o for o in outcomes if isinstance(o, RunSkipped)]
    done = [o for o in outcomes if not isinstance(o, RunSkipped)]
    assert len(skipped) == 1 and len(done) == 1, outcomes
    assert current_publication(data_dir / "publications") == done[0].publication
    assert sorted(p.name for p in (data_dir / "publications").iterdir() if p.is_dir() and not p.is_symlink()) == [done[0].publication.name]
    with RawStore(default_store_url(data_dir)) as store:
        assert store.check_integrity() == []


@pytest.mark.usefixtures("prefect_harness")
def test_the_command_line_prints_the_skip_and_exits_0(data_dir: Path, monkeypatch):
    monkeypatch.setenv("RASOAT_LOCK_WAIT_SECONDS", "0.2")
    with run_lock(data_dir, wait_seconds=0):
        result = CliRunner().invoke(app, ["run", "--data-dir", str(data_dir), "--year", "2026"])
    assert result.exit_code == 0, result.output
    assert "Bỏ qua" in result.output and "Publication" not in result.output
    assert current_publication(data_dir / "publications") is None


@pytest.mark.usefixtures("prefect_harness")
def test_rerun_flow_reads_no_inbox_and_attaches_counts_only_artifacts(data_dir: Path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    first = review_flow(data_dir=str(data_dir), reference_year=2026)
    extra = DataFolder(data_dir).inbox / "more.csv.zip"
    q = questionnaire_for(SETTINGS)
    synthetic.write_central_csv_zip(synthetic.generate_commune(list(SETTINGS.hamlets), q, seed=10, scale=0.01), q, extra)
    again = rerun_flow(data_dir=str(data_dir), reference_year=2026)
    assert again.new_versions == 0 and again.households_classified == first.households_classified
    assert current_publication(data_dir / "publications") == again.publication
    with get_client(sync_client=True) as client:
        tables = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["review-by-hamlet"])))
        links = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["review-publication"])))
    ours = [a for a in tables if again.publication.name in (a.description or "")]  # the harness holds other tests' runs too
    assert len(ours) == 1 and links
    rows = json.loads(ours[0].data) if isinstance(ours[0].data, str) else ours[0].data
    assert {h.code for h in SETTINGS.hamlets} <= {r["hamlet"] for r in rows}
    assert set(rows[0]) <= {"hamlet", "reviewed", "poor", "poor_rate", "near_poor", "near_poor_rate"}  # no names
    assert any(again.publication.name in a.data for a in links)


# --- rasoat schedule serve --------------------------------------------------------------------------


def test_schedule_serve_without_a_server_explains_both_options(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr("rasoat.schedule_commands.api_url", lambda: None)
    result = CliRunner().invoke(app, ["schedule", "serve", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "prefect server start" in text and "PREFECT_API_URL" in text and "crontab" in text and "rasoat run" in text


def test_schedule_serve_registers_a_vietnam_time_cron(monkeypatch, tmp_path: Path):
    from rasoat.flows import review

    monkeypatch.setattr("rasoat.schedule_commands.api_url", lambda: "http://127.0.0.1:4200/api")
    seen = {}
    monkeypatch.setattr(review.review_flow, "serve", lambda **kw: seen.update(kw), raising=False)
    result = CliRunner().invoke(app, ["schedule", "serve", "--data-dir", str(tmp_path / "d"), "--cron", "30 1 * * *"])
    assert result.exit_code == 0, result.output
    (schedule,) = seen["schedules"]
    assert seen["name"] == "nightly" and schedule.cron == "30 1 * * *" and schedule.timezone == "Asia/Ho_Chi_Minh"
    assert seen["parameters"]["data_dir"] == str((tmp_path / "d").resolve()) and seen["parameters"]["pull"] is True
    bad = CliRunner().invoke(app, ["schedule", "serve", "--data-dir", str(tmp_path / "d"), "--cron", "nonsense"])
    assert bad.exit_code == 2 and "cron" in bad.output
