"""KoboToolbox: deploy through KPI v2, paging over 1,000 records, the rolling window reconciled by _id."""

from __future__ import annotations

import json
import logging

import pytest

from _servers import FAST, households, kobo_record, questionnaire, settings
from fake_kobo import FakeKobo
from rasoat.forms.build import build_form
from rasoat.pipeline import tidy
from rasoat.pipeline.rawstore import RawStore, current_versions
from rasoat.pipeline.sources.deploy import deploy_kobo
from rasoat.pipeline.sources.http import ServerError
from rasoat.pipeline.sources.kobo import Kobo, KoboTarget, plan_deploy
from rasoat.pipeline.sources.sync import kobo_asset_uid, sync_kobo

STATES = {"received", "edited", "hasIssues", "approved"}


@pytest.fixture()
def fake():
    server = FakeKobo().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_form(settings(), tmp_path_factory.mktemp("forms"), validate=False)


def target(fake, uid="") -> KoboTarget:
    return KoboTarget(fake.url, fake.token, uid, questionnaire().form_id)


def deploy(fake, built, data, uid=""):
    return deploy_kobo(target(fake, uid), FAST, built.xlsx_path.read_bytes(), built.version, "Rà soát",
                       {p.name: p.read_bytes() for p in built.attachments}, data, poll_seconds=0.001)


def test_plan_cases():
    asset = {"content": {"settings": {"version": "2"}}, "has_deployment": True, "version_id": "a",
             "deployed_version_id": "a", "deployment__active": True}
    assert plan_deploy("2", None, True).action == "create"
    assert plan_deploy("2", asset, True).action == "nothing"
    assert plan_deploy("3", asset, True).action == "replace"
    assert plan_deploy("2", asset, False).action == "media"
    assert plan_deploy("2", {**asset, "deployed_version_id": "old"}, True).action == "redeploy"
    assert plan_deploy("2", {**asset, "has_deployment": False}, True).action == "deploy"


def test_deploy_create_then_nothing_then_replace(fake, built, tmp_path):
    plan, uid = deploy(fake, built, tmp_path)
    assert plan.action == "create" and kobo_asset_uid(tmp_path) == uid
    asset = fake.assets[uid]
    assert asset["has_deployment"] and asset["deployed_version_id"] == asset["version_id"]
    assert [f["metadata"]["filename"] for f in asset["files"]] == ["previous_households.csv"]
    fake.requests.clear()
    plan, _ = deploy(fake, built, tmp_path, uid)
    assert plan.action == "nothing" and fake.write_requests() == []
    asset["content"]["settings"]["version"] = "1999010101"  # the server holds an older version
    plan, uid2 = deploy(fake, built, tmp_path, uid)
    assert plan.action == "replace" and uid2 == uid
    assert fake.assets[uid]["deployed_version_id"] == fake.assets[uid]["version_id"]


def test_refused_import_shows_the_message(fake, tmp_path):
    with pytest.raises(ServerError, match="refused the form"), Kobo(target(fake), FAST) as kobo:
        kobo.import_xlsform(b"not a workbook", "x", poll_seconds=0.001)


def test_bad_token_is_401_naming_the_server(fake):
    with pytest.raises(ServerError) as err, Kobo(KoboTarget(fake.url, "wrong", "aXYZ", "f"), FAST) as kobo:
        kobo.asset("aXYZ")
    assert "401" in str(err.value) and "KoboToolbox" in str(err.value) and "127.0.0.1" in str(err.value)


def seed(fake, built, data, n: int) -> str:
    _, uid = deploy(fake, built, data)
    q = questionnaire()
    base = households(min(n, 60))
    for k in range(n):
        sub = dict(base[k % len(base)])
        sub["instance_id"] = f"uuid:00000000-0000-4000-8000-{k:012d}"
        fake.add_record(uid, kobo_record(sub, q), submitted=fake.now() - __import__("datetime").timedelta(days=60 if k < 5 else 1))
    return uid


def pull(fake, uid, data, url, policy=FAST):
    with Kobo(target(fake, uid), policy) as kobo, RawStore(url) as store:
        return sync_kobo(kobo, store, data, window_days=30, page_size=1000)


def check(fake, uid, url):
    with RawStore(url) as store:
        versions = store.versions()
        assert store.check_integrity() == []
    current, excluded = current_versions(versions, STATES)
    ids = list(current["submission_id"]) + list(excluded["submission_id"])
    assert len(ids) == len(set(ids))
    live = {r["meta/rootUuid"] for r in fake.records[uid]}
    assert set(ids) == live
    for row in current.itertuples():
        record = next(r for r in fake.records[uid] if r["meta/rootUuid"] == row.submission_id)
        assert json.loads(row.payload)["_uuid"] == record["_uuid"]
    return versions, current, excluded


def test_paging_over_1000_and_rolling_window(fake, built, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"sqlite:///{tmp_path / 'raw.sqlite3'}"
    uid = seed(fake, built, tmp_path, 1234)
    fake.fault("drop", path="/data/", times=1, after=1)
    fake.fault("truncate", path="/data/", times=1, after=1)
    report = pull(fake, uid, tmp_path, url)
    assert report.full and report.received == 1234 and report.pages == 2  # 1,000 + 234
    assert all("limit=1000" in p for m, p in fake.requests if "/data/" in p)
    check(fake, uid, url)

    old = fake.records[uid][0]["_id"]  # submitted 60 days ago: outside the window
    recent = [r["_id"] for r in fake.records[uid][10:14]]
    fake.edit(uid, recent[0], lambda r: r.update({"hamlet": r.get("hamlet")}))
    fake.validate(uid, recent[1], "validation_status_not_approved")
    fake.validate(uid, recent[2], "validation_status_approved")
    fake.delete(uid, recent[3])
    fake.advance(hours=24)
    fake.requests.clear()
    report = pull(fake, uid, tmp_path, url)
    assert not report.full and report.received == 1228  # the window: everything but the 5 old ones and the deleted one
    assert report.new_versions == 3 and report.deleted == 1
    versions, current, excluded = check(fake, uid, url)
    assert any("_submission_time" in p for _, p in fake.requests)  # the window's query
    edited_sid = next(r["meta/rootUuid"] for r in fake.records[uid] if r["_id"] == recent[0])
    assert (versions["submission_id"] == edited_sid).sum() == 2
    assert current.set_index("submission_id").loc[edited_sid, "review_state"] == "edited"
    assert len(excluded) == 1 and excluded["reason"].iloc[0] == "review state rejected"
    assert old in {r["_id"] for r in fake.records[uid]}  # outside the window: kept, not declared deleted

    tables = tidy.tidy_submissions(current.head(50), questionnaire())
    assert tables.households["readable"].all() and len(tables.members) > 50
    assert not (tables.issues["severity"] == "error").any(), tables.issues.head().to_dict("records")
    assert fake.token not in caplog.text
