"""ODK Central: deploy, enumerators, sync with faults, simulate — against the in-process fake Central."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _servers import FAST, config_folder, odata_elements, questionnaire
from fake_central import FakeCentral
from rasoat.pipeline.enumerators import (Enumerator, collect_settings, decode_payload, plan_enumerators, plan_revoke,
                                         qr_payload, read_roster)
from rasoat.pipeline.rawstore import RawStore, current_versions
from rasoat.pipeline.sources.central import Central, CentralTarget, plan_deploy
from rasoat.pipeline.sources.http import RetryPolicy, ServerError, redact
from rasoat.pipeline.sources.sync import central_filter, read_state, sync_central

STATES = {"received", "edited", "hasIssues", "approved"}


@pytest.fixture()
def fake():
    server = FakeCentral().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _pyodk_files(tmp_path, monkeypatch):
    """Never touch the user's ~/.pyodk_config.toml or token cache."""
    monkeypatch.setenv("PYODK_CONFIG_FILE", str(tmp_path / "no-pyodk-config.toml"))
    monkeypatch.setenv("PYODK_CACHE_FILE", str(tmp_path / "pyodk-cache.toml"))


def target(fake, project=1, password=None) -> CentralTarget:
    return CentralTarget(fake.url, project, questionnaire().form_id, fake.email, password or fake.password, "Rà soát")


def published_form(fake) -> None:
    """Put the questionnaire on the fake (as `forms deploy` would) without going through the CLI."""
    from rasoat.forms.build import build_form
    from _servers import settings

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        built = build_form(settings(), Path(tmp), validate=False)
        xml = built.xform_path.read_text(encoding="utf-8")
    with Central(target(fake), FAST) as c:
        c.deploy(plan_deploy(built.version, *c.form_state()), xml, {})


def seed(fake, n: int) -> list[str]:
    published_form(fake)
    ids = [fake.add_element(e) for e in odata_elements(n)]
    fake.advance(hours=1)  # the nightly sync runs well after the interviews
    return ids


def sync(fake, data: Path, store_url: str, page_size=10, policy=FAST, **kw):
    with Central(target(fake), policy) as c, RawStore(store_url) as store:
        return sync_central(c, store, data, overlap_minutes=5, page_size=page_size, **kw)


def store_state(url: str):
    with RawStore(url) as store:
        versions = store.versions()
        problems = store.check_integrity()
    current, excluded = current_versions(versions, STATES)
    return versions, current, excluded, problems


def assert_exact(fake, url: str) -> None:
    """The store's current submissions are exactly the server's live set, each once, each its newest version."""
    versions, current, excluded, problems = store_state(url)
    assert problems == []
    ids = list(current["submission_id"]) + list(excluded["submission_id"])
    assert len(ids) == len(set(ids)), "a submission appears twice"
    assert set(ids) == fake.live_ids()
    for row in current.itertuples():
        payload = json.loads(row.payload)
        assert payload["meta"]["instanceID"] == fake.submissions[row.submission_id]["data"]["meta"]["instanceID"]


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'raw.sqlite3'}"


# --- pure plans ------------------------------------------------------------------------------------


def test_deploy_plan_cases():
    assert plan_deploy("2", None, None).action == "create"
    assert plan_deploy("2", {"version": "2", "publishedAt": "x"}, None).action == "nothing"
    assert not plan_deploy("2", {"version": "2", "publishedAt": "x"}, None).writes
    assert plan_deploy("3", {"version": "2", "publishedAt": "x"}, None).action == "update"
    assert plan_deploy("3", {"version": "2", "publishedAt": "x"}, {"version": "3"}).action == "resume"
    assert plan_deploy("3", {"version": "3", "publishedAt": None}, {"version": "3"}).action == "resume"
    assert plan_deploy("3", {"version": "2", "publishedAt": "x"}, {"version": "1"}).action == "update"


def test_enumerator_plan_and_revoke_plan():
    roster = [Enumerator("Nguyễn Văn An", "A01"), Enumerator("Lê Thị Bé", "A02")]
    users = [{"id": 5, "displayName": "A01 · Nguyễn Văn An", "token": "t5"},
             {"id": 6, "displayName": "A02 · Lê Thị Bé", "token": None}]  # revoked: a new one is made
    plan = plan_enumerators(roster, users, assigned=set())
    assert [p.name for p in plan.create] == ["Lê Thị Bé"]
    assert [u["id"] for _, u in plan.keep] == [5] and plan.assign == (5,)
    assert plan_enumerators(roster, users, assigned={5}).assign == ()
    chosen, unknown = plan_revoke(["Nguyễn Văn An", "Nobody"], users)
    assert [u["id"] for u in chosen] == [5] and unknown == ["Nobody"]


def test_qr_payload_is_centrals_format():
    s = collect_settings("https://central.example.org", "TOKEN123", 7, "Rà soát")
    payload = qr_payload(s)
    assert decode_payload(payload) == s
    assert s["general"]["server_url"] == "https://central.example.org/v1/key/TOKEN123/projects/7"
    assert s["admin"] == {} and s["general"]["form_update_mode"] == "match_exactly"


def test_roster_reading(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("Họ tên,Ấp\nNguyễn Văn  An,a01\n\nLê Thị Bé,A02\n", encoding="utf-8")
    assert read_roster(path, {"A01", "A02"}) == [Enumerator("Nguyễn Văn An", "A01"), Enumerator("Lê Thị Bé", "A02")]
    path.write_text("name,hamlet\nAn,ZZ9\n", encoding="utf-8")
    from rasoat.pipeline.enumerators import RosterError

    with pytest.raises(RosterError, match="dòng 2"):
        read_roster(path, {"A01"})


def test_filter_and_redaction():
    from datetime import datetime, timezone

    f = central_filter(datetime(2026, 10, 1, 2, 3, 4, 500000, tzinfo=timezone.utc))
    assert f == ("__system/submissionDate gt 2026-10-01T02:03:04.500Z or __system/updatedAt gt 2026-10-01T02:03:04.500Z"
                 " or __system/deletedAt gt 2026-10-01T02:03:04.500Z")
    assert "abc123" not in redact("GET /v1/key/abc123/projects/1/submission")
    assert "sekret" not in redact('{"email": "a", "password": "sekret"}')
    assert "tok" not in redact("Authorization: Bearer tokXYZ")


# --- errors name the server, project, form ----------------------------------------------------------


def test_401_403_404_messages(fake, tmp_path):
    published_form(fake)
    (tmp_path / "pyodk-cache.toml").unlink()  # pyodk would reuse its cached session token
    with pytest.raises(ServerError) as err:
        Central(target(fake, password="wrong-password"), FAST).open()
    assert "401" in str(err.value) and "127.0.0.1" in str(err.value) and "wrong-password" not in str(err.value)
    with pytest.raises(ServerError) as err, Central(target(fake, project=99), FAST) as c:
        c.form_state()
    assert "404" in str(err.value) and "dự án 99" in str(err.value) and "phiếu rasoat_household" in str(err.value)
    fake.forbidden = True
    with pytest.raises(ServerError) as err, Central(target(fake), FAST) as c:
        c.form_state()
    assert "403" in str(err.value) and "dự án 1" in str(err.value) and fake.url.split("//")[1] in str(err.value)


def test_unreachable_server_is_a_clear_message():
    t = CentralTarget("http://127.0.0.1:9", 1, "f", "u", "p")
    with pytest.raises(ServerError, match="không kết nối được"):
        Central(t, RetryPolicy(attempts=2, backoff=0.001, timeout=0.5)).open()


# --- sync ------------------------------------------------------------------------------------------


def test_first_and_incremental_sync(fake, tmp_path, store_url):
    seed(fake, 35)
    report = sync(fake, tmp_path, store_url)
    assert report.full and report.received == 35 and report.new_versions == 35 and report.pages >= 4
    assert_exact(fake, store_url)
    fake.advance(hours=20)
    fake.requests.clear()
    report = sync(fake, tmp_path, store_url)
    assert report.received == 0 and report.new_versions == 0
    data = fake.data_requests()
    assert len(data) == 1, data  # nothing new: one small request (after the login)
    assert "%24filter" in data[0][1] or "$filter" in data[0][1]


def test_edits_reviews_deletions(fake, tmp_path, store_url):
    ids = seed(fake, 12)
    sync(fake, tmp_path, store_url)
    fake.advance(hours=2)
    fake.edit(ids[0], lambda d: d.setdefault("meta", {}).update(instanceName="sửa"))
    fake.review(ids[1], "rejected")
    fake.review(ids[2], "approved")
    fake.delete(ids[3])
    fake.advance(hours=1)
    report = sync(fake, tmp_path, store_url)
    assert report.deleted == 1 and report.new_versions == 3
    versions, current, excluded, _ = store_state(store_url)
    assert (versions["submission_id"] == ids[0]).sum() == 2  # both versions kept
    assert ids[3] in set(versions["submission_id"])  # deleted: still in the raw store
    assert ids[3] not in set(current["submission_id"]) | set(excluded["submission_id"])  # but not processed
    assert list(excluded["submission_id"]) == [ids[1]] and excluded["reason"].iloc[0] == "review state rejected"
    assert current.set_index("submission_id").loc[ids[0], "review_state"] == "edited"
    assert_exact(fake, store_url)
    fake.advance(hours=1)
    fake.restore(ids[3])
    fake.review(ids[3], "approved")  # restoring and reviewing bumps updatedAt
    fake.advance(hours=1)
    report = sync(fake, tmp_path, store_url)
    assert report.restored == 1
    assert_exact(fake, store_url)


def _edit_on_page(page_number: int):
    state = {"n": 0}

    def hook(fake, query):
        state["n"] += 1
        if state["n"] == page_number:
            first = sorted(fake.submissions.values(), key=lambda r: (r["createdAt"], r["seq"]))[-1]["id"]
            fake.edit(first, lambda d: d["meta"].update(instanceName="edited between pages"))
            victim = sorted(fake.submissions.values(), key=lambda r: (r["createdAt"], r["seq"]))[0]["id"]
            fake.delete(victim)
            fake.add_element(odata_elements(1, seed=99)[0])
    return hook


FAULTS = {
    "dropped connection": lambda f: f.fault("drop", path=".svc/Submissions", times=2, after=1),
    "500 errors": lambda f: f.fault("500", path=".svc/Submissions", times=3, after=2),
    "503 on login": lambda f: f.fault("503", path="/v1/sessions", times=2),
    "slow answer": lambda f: f.fault("slow", path=".svc/Submissions", times=1, after=1, delay=1.5),
    "truncated body": lambda f: f.fault("truncate", path=".svc/Submissions", times=2, after=2),
    "record edited between page reads": lambda f: f.on_page(_edit_on_page(3)),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_matrix_completed_sync_is_exact(fake, tmp_path, store_url, fault):
    seed(fake, 57)
    FAULTS[fault](fake)
    report = sync(fake, tmp_path, store_url, policy=RetryPolicy(attempts=5, backoff=0.001, max_backoff=0.01, timeout=0.7))
    assert report.received >= 57
    assert_exact(fake, store_url)


def test_failed_sync_resumes_where_it_stopped(fake, tmp_path, store_url):
    seed(fake, 45)
    fake.fault("500", path=".svc/Submissions", times=50, after=2)  # pages 1-2 arrive, then the server fails
    with pytest.raises(ServerError, match="không kết nối được"):
        sync(fake, tmp_path, store_url, policy=RetryPolicy(attempts=3, backoff=0.001, timeout=0.5))
    key = next(iter(json.loads((tmp_path / "sync" / "state.json").read_text())))
    state = read_state(tmp_path, key)
    assert "watermark" not in state and state["pending"]["next"]  # no watermark yet; the cursor is saved
    with RawStore(store_url) as store:
        assert store.count() == 20  # what arrived is kept
    fake._faults.clear()
    fake.requests.clear()
    report = sync(fake, tmp_path, store_url)
    assert report.resumed
    first_data = fake.data_requests()[0][1]
    assert "skiptoken" in first_data  # it continued from the cursor, not from the start
    assert_exact(fake, store_url)
    assert read_state(tmp_path, key)["watermark"]


def test_two_syncs_at_once(fake, tmp_path, store_url):
    seed(fake, 40)
    errors = []

    def run():
        try:
            sync(fake, tmp_path, store_url)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert_exact(fake, store_url)
    with RawStore(store_url) as store:
        assert store.count() == 40


def test_attachments_are_downloaded(fake, tmp_path, store_url):
    ids = seed(fake, 3)
    fake.submissions[ids[0]]["attachments"] = {"photo.jpg": b"\xff\xd8jpeg", "missing.jpg": None}
    report = sync(fake, tmp_path, store_url)
    assert report.attachments == 1
    files = list((tmp_path / "attachments").rglob("photo.jpg"))
    assert len(files) == 1 and files[0].read_bytes() == b"\xff\xd8jpeg"


# --- the command line ---------------------------------------------------------------------------------


@pytest.fixture()
def cli(fake, tmp_path, monkeypatch):
    from rasoat.cli import app

    monkeypatch.setenv("RASOAT_CENTRAL_USER", fake.email)
    monkeypatch.setenv("RASOAT_CENTRAL_PASSWORD", fake.password)
    monkeypatch.delenv("RASOAT_STORE_URL", raising=False)
    config = config_folder(tmp_path, {"kind": "central", "url": fake.url, "project_id": 1, "retries": 2,
                                      "timeout_seconds": 5})
    data = tmp_path / "data"
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, [*args, "--config", str(config), "--data-dir", str(data)], catch_exceptions=False)
        return result
    invoke.data = data
    invoke.config = config
    return invoke


def writes(fake) -> list:
    return [r for r in fake.requests if r[0] != "GET" and not r[1].startswith("/v1/sessions")]


def test_cli_deploy_is_idempotent_and_updates(fake, cli):
    first = cli("forms", "deploy")
    assert first.exit_code == 0, first.output
    form = fake.forms["rasoat_household"]
    assert form["published"] is not None and "previous_households.csv" in form["files"]
    version = form["published"].version
    fake.requests.clear()
    again = cli("forms", "deploy")
    assert again.exit_code == 0 and "Không đổi" in again.output
    assert writes(fake) == []  # an unchanged form: no write request at all
    # a changed attachment → a new version: new draft, the attachment, publish
    pubs = cli.data / "publications" / "p1" / "commune"
    pubs.mkdir(parents=True)
    (pubs / "households.csv").write_text("household_id,head_name,hamlet,household_class\nH1,An,A01,poor\n", encoding="utf-8")
    (cli.data / "publications" / "current").symlink_to("p1")
    fake.requests.clear()
    third = cli("forms", "deploy")
    assert third.exit_code == 0, third.output
    assert form["published"].version != version and b"H1" in form["files"]["previous_households.csv"]
    paths = [p for _, p in writes(fake)]
    assert any(p.endswith("/draft?ignoreWarnings=true") for p in paths) and any("publish" in p for p in paths)


def add_publication(data: Path) -> None:
    pubs = data / "publications" / "p1" / "commune"
    pubs.mkdir(parents=True)
    (pubs / "households.csv").write_text("household_id,head_name,hamlet,household_class\nH1,An,A01,poor\n", encoding="utf-8")
    (data / "publications" / "current").symlink_to("p1")


def test_cli_deploy_409_shows_the_server_message(fake, cli):
    assert cli("forms", "deploy").exit_code == 0
    from datetime import date

    from rasoat.forms.build import next_version

    ledger = json.loads((cli.data / "forms" / "versions.json").read_text())
    fake.forms["rasoat_household"]["versions"].add(next_version(list(ledger.values()), date.today()))  # taken already
    add_publication(cli.data)  # the content changes, so the build takes that next version
    result = cli("forms", "deploy")
    assert result.exit_code == 1
    assert "409" in result.output and "already exists" in result.output and "Traceback" not in result.output


def test_cli_errors_name_server_project_form(fake, cli, monkeypatch):
    monkeypatch.setenv("RASOAT_CENTRAL_PASSWORD", "not-the-password")
    result = cli("sync")
    assert result.exit_code == 1 and "401" in result.output and "127.0.0.1" in result.output
    assert "not-the-password" not in result.output and "Traceback" not in result.output


def test_cli_enumerators_simulate_sync_and_no_secrets_in_logs(fake, cli, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    roster = tmp_path / "roster.csv"
    roster.write_text("name,hamlet\nNguyễn Văn An,A01\nLê Thị Bé,A02\n", encoding="utf-8")
    outputs = []
    assert cli("forms", "deploy").exit_code == 0
    result = cli("enumerators", "add", str(roster))
    outputs.append(result.output)
    assert result.exit_code == 0, result.output
    assert len(fake.app_users) == 2 and all(u["id"] in fake.assignments["rasoat_household"] for u in fake.app_users)
    pdf = cli.data / "enumerators" / "ma-qr-dieu-tra-vien.pdf"
    from rasoat.pipeline.posting_pdf import find_font

    assert pdf.is_file() == (find_font() is not None)
    pngs = sorted((cli.data / "enumerators").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    registry = json.loads((cli.data / "enumerators" / "enumerators.json").read_text())
    assert {r["name"] for r in registry} == {"Nguyễn Văn An", "Lê Thị Bé"} and "token" not in json.dumps(registry)
    again = cli("enumerators", "add", str(roster))
    outputs.append(again.output)
    assert again.exit_code == 0 and len(fake.app_users) == 2  # nobody created twice

    sim = cli("simulate", "--households", "30")
    outputs.append(sim.output)
    assert sim.exit_code == 0, sim.output
    assert len(fake.submissions) == 30
    sim2 = cli("simulate", "--households", "30")
    assert sim2.exit_code == 0 and len(fake.submissions) == 30 and "30 đã có sẵn" in sim2.output
    fake.advance(hours=1)
    synced = cli("sync")
    outputs.append(synced.output)
    assert synced.exit_code == 0, synced.output
    assert "30 bài nhận" in synced.output

    listed = cli("enumerators", "list")
    outputs.append(listed.output)
    revoke = cli("enumerators", "revoke", "Lê Thị Bé")
    outputs.append(revoke.output)
    assert revoke.exit_code == 0, revoke.output
    assert {u["displayName"]: u["token"] is None for u in fake.app_users} == {
        "A01 · Nguyễn Văn An": False, "A02 · Lê Thị Bé": True, "rasoat-simulate": False}

    # the pipeline tidies what simulate sent and sync pulled
    from rasoat.pipeline import tidy
    from rasoat.pipeline.rawstore import default_store_url

    _, current, _, _ = store_state(default_store_url(cli.data))
    tables = tidy.tidy_submissions(current, questionnaire())
    assert len(tables.households) == 30 and tables.households["readable"].all()
    assert len(tables.members) >= 30
    assert not (tables.issues["severity"] == "error").any(), tables.issues.head().to_dict("records")

    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err + "".join(outputs)
    secrets = [fake.password] + list(fake.sessions) + [u["token"] for u in fake.app_users if u["token"]]
    for secret in secrets:
        assert secret not in text
    for png in pngs:  # the tokens live in the QR codes only
        assert png.stat().st_size > 200


@pytest.mark.usefixtures("prefect_harness")
def test_rasoat_run_syncs_the_server_then_publishes(fake, cli):
    """With `source.kind: central`, the nightly `rasoat run` pulls from Central before classifying."""
    from rasoat.pipeline.publish import current_publication

    assert cli("forms", "deploy").exit_code == 0
    assert cli("simulate", "--households", "25").exit_code == 0
    fake.advance(hours=1)
    result = cli("run")
    assert result.exit_code == 0, result.output
    assert "Toàn xã" in result.output
    manifest = json.loads((current_publication(cli.data / "publications") / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["new_versions"] == 25
    assert manifest["counts"]["households_classified"] + manifest["counts"]["households_excluded"] == 25
    again = cli("run")  # nothing new on the server: nothing new stored, the same classification
    assert again.exit_code == 0, again.output
    manifest2 = json.loads((current_publication(cli.data / "publications") / "manifest.json").read_text(encoding="utf-8"))
    assert manifest2["inputs"]["new_versions"] == 0 and manifest2["counts"] == manifest["counts"]
