"""The raw store, on SQLite and on the real PostgreSQL that scripts/test-all starts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import unicodedata
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from rasoat.pipeline.rawstore import (
    VERSION_COLUMNS,
    IngestReport,
    RawStore,
    current_versions,
    default_store_url,
    redacted_url,
)
from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA, RawSubmission

PG_ENV = "RASOAT_TEST_DATABASE_URL"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'raw.sqlite3'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.fail(
            f"{PG_ENV} is not set, so the PostgreSQL raw-store tests cannot run. "
            "Run the tests with `scripts/test-all` (it starts a private PostgreSQL and sets "
            f"{PG_ENV}), or export {PG_ENV}=postgresql+psycopg://... yourself.",
            pytrace=False,
        )
    # Each test gets its own schema, dropped afterwards: tests are independent and re-runnable.
    schema = f"rasoat_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def make_sub(i: int, *, text: str = "Nguyễn Văn An", **overrides) -> RawSubmission:
    payload = json.dumps(
        {"__id": f"uuid:{i:06d}", "head_name": text, "household_size": i % 7 + 1},
        ensure_ascii=False,
        sort_keys=True,
    )
    fields = dict(
        submission_id=f"uuid:{i:06d}",
        instance_id=f"uuid:{i:06d}",
        form_id="rasoat_household",
        form_version="2025010101",
        submitted_at="2025-03-01T08:00:00.000Z",
        updated_at=None,
        review_state=None,
        payload_format=CENTRAL_ODATA,
        payload=payload,
        source="page-1.json",
    )
    fields.update(overrides)
    return RawSubmission(**fields)


def tamper(url: str, store_id: int, payload: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE raw_submission_versions SET payload = :p WHERE store_id = :id"),
            {"p": payload, "id": store_id},
        )
    engine.dispose()


# --- ingest -----------------------------------------------------------------------------------


def test_ingest_twice_changes_nothing(store_url):
    subs = [make_sub(i) for i in range(25)]
    with RawStore(store_url) as store:
        assert store.ingest(subs) == IngestReport(received=25, new_versions=25, unchanged=0)
        first = store.versions()
        assert store.ingest(subs) == IngestReport(received=25, new_versions=0, unchanged=25)
        pd.testing.assert_frame_equal(store.versions(), first)
    # and again from a fresh connection (the table already exists)
    with RawStore(store_url) as store:
        assert store.ingest(iter(subs)).new_versions == 0
        assert store.count() == 25
        assert store.ingest([]) == IngestReport(0, 0, 0)


def test_repeated_version_within_one_input(store_url):
    with RawStore(store_url) as store:
        report = store.ingest([make_sub(1), make_sub(1), make_sub(2)])
        assert report == IngestReport(received=3, new_versions=2, unchanged=1)


def test_new_version_is_stored_beside_the_old(store_url):
    old = make_sub(7)
    new = make_sub(
        7,
        text="Nguyễn Văn Ân",
        instance_id="uuid:edit-1",
        updated_at="2025-03-05T10:00:00.000Z",
        review_state="edited",
    )
    with RawStore(store_url) as store:
        store.ingest([old, make_sub(8)])
        assert store.ingest([new, make_sub(8)]) == IngestReport(2, 1, 1)
        v = store.versions()
    assert list(v.columns) == VERSION_COLUMNS
    assert v["store_id"].is_monotonic_increasing
    mine = v[v["submission_id"] == "uuid:000007"]
    assert mine["payload"].tolist() == [old.payload, new.payload]
    assert mine["instance_id"].tolist() == ["uuid:000007", "uuid:edit-1"]
    assert mine["review_state"].tolist() == [None, "edited"]
    assert mine["updated_at"].tolist() == [None, "2025-03-05T10:00:00.000Z"]


def test_versions_returns_exact_text(store_url):
    nfc = unicodedata.normalize("NFC", "Trần Thị Hồng Nhung, ấp Mỹ Phước")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    # payloads are text exactly as received: not necessarily canonical JSON
    subs = [
        make_sub(1, payload='{"head_name": "' + nfc + '"}'),
        make_sub(2, payload='{"head_name": "' + nfd + '"}'),
        make_sub(3, payload='{ "a" : "tab\\there",\n  "b": "  trailing  " }\r\n',
                 payload_format=CENTRAL_CSV, source="export.zip:rasoat_household.csv",
                 review_state="hasIssues", form_version="v 2 ", submitted_at="2025-03-01"),
    ]
    with RawStore(store_url) as store:
        store.ingest(subs)
        v = store.versions()
    assert len(v) == 3
    for sub, (_, row) in zip(subs, v.iterrows()):
        assert row["payload"].encode("utf-8") == sub.payload.encode("utf-8")
        assert row["checksum"] == hashlib.sha256(sub.payload.encode("utf-8")).hexdigest()
        for name in ("submission_id", "instance_id", "form_id", "form_version", "submitted_at",
                     "updated_at", "review_state", "payload_format", "source"):
            assert row[name] == getattr(sub, name), name
        assert row["stored_at"].endswith("+00:00")
    assert v["store_id"].dtype == "int64"


# --- integrity --------------------------------------------------------------------------------


def test_integrity_detects_a_tampered_payload(store_url):
    with RawStore(store_url) as store:
        store.ingest([make_sub(i) for i in range(5)])
        assert store.check_integrity() == []
        target = int(store.versions()["store_id"].iloc[2])
    tamper(store_url, target, make_sub(2, text="Nguyễn Văn Bình").payload)
    with RawStore(store_url) as store:
        problems = store.check_integrity()
    assert len(problems) == 1
    assert f"store_id {target}" in problems[0]
    assert "uuid:000002" in problems[0]
    assert "does not match" in problems[0]


def test_integrity_detects_duplicates_once_the_constraint_is_gone(store_url):
    with RawStore(store_url) as store:
        store.ingest([make_sub(1)])
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "ALTER TABLE raw_submission_versions "
                "DROP CONSTRAINT uq_raw_submission_versions_version"
            )
        else:  # SQLite cannot drop a table constraint: rebuild the table without it
            conn.exec_driver_sql(
                "CREATE TABLE copy AS SELECT * FROM raw_submission_versions"
            )
            conn.exec_driver_sql("DROP TABLE raw_submission_versions")
            conn.exec_driver_sql("ALTER TABLE copy RENAME TO raw_submission_versions")
        conn.exec_driver_sql(
            "INSERT INTO raw_submission_versions (store_id, submission_id, instance_id, form_id, "
            "form_version, submitted_at, updated_at, review_state, payload_format, payload, "
            "checksum, source, stored_at) SELECT store_id + 100, submission_id, instance_id, "
            "form_id, form_version, submitted_at, updated_at, review_state, payload_format, "
            "payload, checksum, source, stored_at FROM raw_submission_versions"
        )
    engine.dispose()
    store = RawStore.__new__(RawStore)  # open without re-creating anything
    store.url = store_url
    store._engine = sa.create_engine(store_url)
    try:
        problems = store.check_integrity()
    finally:
        store.close()
    assert any("uuid:000001" in p and "stored 2 times" in p for p in problems), problems
    assert any("UNIQUE(submission_id, checksum)" in p for p in problems), problems


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_ingests_in_threads(store_url):
    with RawStore(store_url):
        pass  # table exists before the race, as after any first run
    batch_a = [make_sub(i) for i in range(0, 600)]
    batch_b = [make_sub(i) for i in reversed(range(300, 900))]  # overlapping, other order
    reports: list[IngestReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(batch):
        try:
            with RawStore(store_url) as store:
                barrier.wait()
                reports.append(store.ingest(batch))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (batch_a, batch_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(r.new_versions for r in reports) == 900
    assert sum(r.unchanged for r in reports) == 300
    with RawStore(store_url) as store:
        v = store.versions()
        assert store.check_integrity() == []
    assert len(v) == 900
    assert not v.duplicated(["submission_id", "checksum"]).any()


_WORKER = textwrap.dedent(
    """
    import json, sys
    from rasoat.pipeline.rawstore import RawStore
    from rasoat.pipeline.sources import RawSubmission
    url, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    subs = [
        RawSubmission(f"uuid:{i:06d}", f"uuid:{i:06d}", "rasoat_household", "1",
                      "2025-03-01T08:00:00Z", None, None, "central-odata",
                      json.dumps({"__id": f"uuid:{i:06d}", "ten": "Lê Thị Mười"},
                                 ensure_ascii=False), "p.json")
        for i in range(start, stop)
    ]
    with RawStore(url) as store:
        r = store.ingest(subs)
    print(r.new_versions, r.unchanged)
    """
)


def test_concurrent_ingests_in_two_processes(store_url):
    # Both processes may also be the first to open the store: the table is created in the race.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, store_url, str(start), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start, stop in ((0, 3000), (1500, 4500))
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    counts = [tuple(int(x) for x in out.split()) for out, _ in outputs]
    assert sum(new for new, _ in counts) == 4500
    assert sum(same for _, same in counts) == 1500
    with RawStore(store_url) as store:
        v = store.versions()
        assert store.check_integrity() == []
    assert len(v) == 4500
    assert v["submission_id"].is_unique


# --- URLs -------------------------------------------------------------------------------------


def test_redacted_url_hides_the_password():
    url = "postgresql+psycopg://rasoat:S3cr%40t-pass@db.example:5432/rasoat"
    shown = redacted_url(url)
    assert "S3cr" not in shown and "pass" not in shown
    assert shown == "postgresql+psycopg://rasoat:***@db.example:5432/rasoat"
    assert redacted_url("sqlite:////tmp/raw.sqlite3") == "sqlite:////tmp/raw.sqlite3"


def test_store_repr_hides_the_password(tmp_path):
    with RawStore(f"sqlite:///{tmp_path / 'r.sqlite3'}") as store:
        assert "r.sqlite3" in repr(store)
    with pytest.raises(ValueError) as info:
        RawStore("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)


def test_default_store_url(tmp_path):
    data_dir = tmp_path / "dữ liệu" / "2025"
    url = default_store_url(data_dir)
    assert (data_dir / "store").is_dir()
    assert make_url(url).database == str((data_dir / "store" / "raw.sqlite3").resolve())
    with RawStore(url) as store:
        store.ingest([make_sub(1)])
    assert (data_dir / "store" / "raw.sqlite3").is_file()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


# --- current_versions -------------------------------------------------------------------------

PROCESSED = {"received", "edited", "hasIssues", "approved"}


def test_current_versions_from_the_store(store_url):
    subs = [
        make_sub(1),
        make_sub(2),
        make_sub(3),
        # 1 edited on the server: the edit wins
        make_sub(1, text="Nguyễn Văn Ân", instance_id="uuid:e1",
                 updated_at="2025-03-05T10:00:00.000Z", review_state="edited"),
        # 2 rejected by the reviewer
        make_sub(2, text="Hộ trùng", updated_at="2025-03-06T10:00:00.000Z",
                 review_state="rejected"),
    ]
    with RawStore(store_url) as store:
        store.ingest(subs)
        current, excluded = current_versions(store.versions(), PROCESSED)
    assert current["submission_id"].tolist() == ["uuid:000001", "uuid:000003"]
    edited = current.set_index("submission_id").loc["uuid:000001"]
    assert edited["instance_id"] == "uuid:e1"
    assert "Nguyễn Văn Ân" in edited["payload"]
    assert excluded["submission_id"].tolist() == ["uuid:000002"]
    assert excluded["reason"].tolist() == ["review state rejected"]
    assert list(excluded.columns) == VERSION_COLUMNS + ["reason"]
    assert list(current.columns) == VERSION_COLUMNS


def _frame(rows):
    base = {name: None for name in VERSION_COLUMNS}
    out = []
    for i, r in enumerate(rows, start=1):
        row = dict(base, store_id=i, payload=f"p{i}", checksum=f"c{i}",
                   submitted_at="2025-03-01T08:00:00Z")
        row.update(r)
        out.append(row)
    return pd.DataFrame(out, columns=VERSION_COLUMNS)


def test_current_versions_ordering_rules():
    v = _frame(
        [
            # A: the newer updated_at wins even though it was stored first
            {"submission_id": "A", "updated_at": "2025-03-09T00:00:00Z", "review_state": "approved"},
            {"submission_id": "A", "updated_at": "2025-03-02T00:00:00Z", "review_state": "edited"},
            # B: no updated_at anywhere; same submitted_at -> the higher store_id wins
            {"submission_id": "B"},
            {"submission_id": "B", "payload": "B-later"},
            # C: offsets are compared as instants (08:00+07:00 is 01:00Z, before 02:00Z)
            {"submission_id": "C", "updated_at": "2025-03-02T08:00:00+07:00", "payload": "C-old"},
            {"submission_id": "C", "updated_at": "2025-03-02T02:00:00Z", "payload": "C-new"},
            # D: only a received version, but "received" is processed -> kept
            {"submission_id": "D", "review_state": None},
            # E: newest has issues (processed); older rejected one is just history
            {"submission_id": "E", "review_state": "rejected"},
            {"submission_id": "E", "updated_at": "2025-03-03T00:00:00Z", "review_state": "hasIssues"},
            # F: rejected newest, older approved -> excluded, the old one is not used instead
            {"submission_id": "F", "updated_at": "2025-03-01T09:00:00Z", "review_state": "approved"},
            {"submission_id": "F", "updated_at": "2025-03-04T00:00:00Z", "review_state": "rejected"},
        ]
    )
    before = v.copy()
    current, excluded = current_versions(v, PROCESSED)
    pd.testing.assert_frame_equal(v, before)  # input untouched
    got = current.set_index("submission_id")
    assert sorted(got.index) == ["A", "B", "C", "D", "E"]
    assert got.loc["A", "store_id"] == 1
    assert got.loc["B", "payload"] == "B-later"
    assert got.loc["C", "payload"] == "C-new"
    assert got.loc["E", "review_state"] == "hasIssues"
    assert excluded[["submission_id", "store_id", "reason"]].values.tolist() == [
        ["F", 11, "review state rejected"]
    ]

    # when "received" is not processed, a never-reviewed submission is excluded, named so
    _, excluded = current_versions(v, {"approved"})
    reasons = dict(zip(excluded["submission_id"], excluded["reason"]))
    assert reasons["D"] == "review state received"
    assert reasons["B"] == "review state received"
    assert "A" not in reasons


def test_current_versions_of_nothing():
    current, excluded = current_versions(_frame([]), PROCESSED)
    assert current.empty and excluded.empty
    assert list(excluded.columns) == VERSION_COLUMNS + ["reason"]


# --- the version index: fast reading, same frame -----------------------------------------------


def _reference_versions(url: str, payloads: bool) -> pd.DataFrame:
    """versions() as first written: SQLAlchemy rows, one Python tuple each."""
    engine = sa.create_engine(url)
    names = [n for n in VERSION_COLUMNS if n != "deleted_at"]
    cols = ", ".join(n if payloads or n != "payload" else "NULL AS payload" for n in names)
    with engine.connect() as conn:
        events = conn.exec_driver_sql(
            "SELECT submission_id, deleted_at FROM raw_submission_deletions ORDER BY event_id").all()
        rows = conn.exec_driver_sql(f"SELECT {cols} FROM raw_submission_versions ORDER BY store_id").all()
    engine.dispose()
    state = dict(events)
    deleted = {sid: when for sid, when in state.items() if when is not None}
    records = [(*r, deleted.get(r[1])) for r in rows]
    columns = list(zip(*records)) if records else [()] * len(VERSION_COLUMNS)
    return pd.DataFrame(
        {name: pd.Series(list(values), dtype="int64" if name == "store_id" else object)
         for name, values in zip(VERSION_COLUMNS, columns)},
        columns=VERSION_COLUMNS,
    )


def _mixed_store(store: RawStore) -> None:
    subs = [make_sub(i, review_state=[None, "approved", "", "rejected"][i % 4],
                     updated_at=None if i % 3 else f"2025-03-0{i % 9 + 1}T10:00:00.000Z",
                     source=f"page-{i % 3}.json")
            for i in range(60)]
    subs += [make_sub(i, text="Lê Thị Mười", updated_at="2025-04-01T00:00:00+07:00", review_state="edited")
             for i in range(0, 60, 7)]
    store.ingest(subs[:40])
    store.ingest(subs[40:])
    store.record_deletions([("uuid:000003", "2025-05-01T00:00:00Z"), ("uuid:000014", "2025-05-02T00:00:00Z")], "t")
    store.record_deletions([("uuid:000003", None)], "t")  # restored again


def test_versions_equal_the_row_by_row_reading(store_url):
    with RawStore(store_url) as store:
        assert store.versions(payloads=False).empty
        pd.testing.assert_frame_equal(store.versions(payloads=False), _reference_versions(store_url, False))
        _mixed_store(store)
        for payloads in (False, True):
            got = store.versions(payloads=payloads)
            pd.testing.assert_frame_equal(got, _reference_versions(store_url, payloads), check_exact=True)
        got = store.versions(payloads=False)
    assert len(got) == 69
    assert got["payload"].isna().all()
    assert got.loc[got["submission_id"] == "uuid:000014", "deleted_at"].tolist() == ["2025-05-02T00:00:00Z"] * 2
    assert got.loc[got["submission_id"] == "uuid:000003", "deleted_at"].isna().all()
    assert got["review_state"].isna().sum() == 15 + 0 and (got["review_state"] == "").sum() == 15


def test_versions_of_some_columns_are_those_columns_of_all_versions(store_url):
    """A review reads only the index columns it uses: the same values, the others None."""
    from rasoat.flows.review import REVIEW_INDEX_COLUMNS

    with RawStore(store_url) as store:
        _mixed_store(store)
        full = store.versions(payloads=False)
        some = store.versions(payloads=False, columns=REVIEW_INDEX_COLUMNS)
        with pytest.raises(ValueError, match="not stored columns: nope"):
            store.versions(payloads=False, columns=["checksum", "nope"])
    read = ["store_id", *REVIEW_INDEX_COLUMNS, "deleted_at"]
    assert list(some.columns) == list(full.columns)
    pd.testing.assert_frame_equal(some[read], full[read], check_exact=True)
    assert {"form_id", "source", "stored_at", "payload"} == {c for c in some.columns if c not in read}
    assert some[["form_id", "source", "stored_at", "payload"]].isna().all().all()
    assert full[["form_id", "source", "stored_at"]].notna().all().all()
    # the current versions picked from either are the same versions
    processed = {"received", "approved", "edited", "hasIssues"}
    assert current_versions(some, processed)[0]["store_id"].tolist() == current_versions(full, processed)[0]["store_id"].tolist()


def test_versions_in_batches_larger_than_one_fetch(store_url, monkeypatch):
    monkeypatch.setattr("rasoat.pipeline.rawstore.FETCH_BATCH", 7)
    with RawStore(store_url) as store:
        _mixed_store(store)
        got = store.versions(payloads=False)
    pd.testing.assert_frame_equal(got, _reference_versions(store_url, False), check_exact=True)


def _plan(url: str) -> str:
    from rasoat.pipeline.rawstore import _INDEX_COLUMNS
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT {', '.join(_INDEX_COLUMNS)} FROM raw_submission_versions "
            "ORDER BY store_id").all()
    engine.dispose()
    return " ".join(str(r[-1]) for r in rows)


def test_an_old_sqlite_store_gets_the_version_index_on_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'raw.sqlite3'}"
    with RawStore(url) as store:
        _mixed_store(store)
        before = store.versions(payloads=False)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # as a store written before the index existed
        conn.exec_driver_sql("DROP INDEX ix_raw_submission_versions_index")
    engine.dispose()
    assert "COVERING INDEX" not in _plan(url)
    with RawStore(url) as store:
        after = store.versions(payloads=False)
        store.ingest([make_sub(1000)])  # writing still works with the index in place
        assert store.check_integrity() == []
    assert "USING COVERING INDEX ix_raw_submission_versions_index" in _plan(url)
    pd.testing.assert_frame_equal(after, before)


def _reference_current(versions: pd.DataFrame, processed: set[str]):
    """current_versions as first written: every time parsed, every row sorted."""
    columns = list(versions.columns)
    if versions["deleted_at"].notna().any():
        versions = versions[versions["deleted_at"].isna().to_numpy()]

    def instants(col):
        values = versions[col].astype(object).where(versions[col].notna(), None)
        return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")

    when = instants("updated_at")
    when = when.where(when.notna(), instants("submitted_at"))
    order = pd.DataFrame({"submission_id": versions["submission_id"].to_numpy(), "when": when.to_numpy(),
                          "store_id": versions["store_id"].to_numpy(), "pos": range(len(versions))}
                         ).sort_values(["submission_id", "when", "store_id"], na_position="first", kind="stable")
    newest = versions.iloc[sorted(order.drop_duplicates("submission_id", keep="last")["pos"])]
    newest = newest.sort_values("store_id", kind="stable")
    states = newest["review_state"].astype(object).where(newest["review_state"].notna(), None)
    effective = states.map(lambda s: "received" if s is None or s == "" else str(s))
    keep = effective.isin(processed)
    current = newest[keep.to_numpy()].reset_index(drop=True)[columns]
    excluded = newest[~keep.to_numpy()].reset_index(drop=True)[columns]
    excluded["reason"] = ["review state " + s for s in effective[~keep].tolist()]
    excluded["reason"] = excluded["reason"].astype(object)
    return current, excluded


def test_current_versions_equal_the_first_implementation(store_url):
    with RawStore(store_url) as store:
        _mixed_store(store)
        v = store.versions(payloads=False)
    for processed in (PROCESSED, {"approved"}):
        for got, want in zip(current_versions(v, processed), _reference_current(v, processed)):
            pd.testing.assert_frame_equal(got, want, check_exact=True)
    current, _ = current_versions(v, PROCESSED)
    assert "uuid:000014" not in set(current["submission_id"])  # deleted
    assert current.set_index("submission_id").loc["uuid:000007", "review_state"] == "edited"


def test_current_versions_far_future_time_with_nanosecond_times_elsewhere():
    # pandas parses a column at nanoseconds when any string has 9 fraction digits, and a year
    # past 2262 then becomes NaT ("oldest"): the answer must not depend on which rows are parsed.
    v = _frame(
        [
            {"submission_id": "A", "updated_at": "3025-01-01T00:00:00Z", "payload": "A-far"},
            {"submission_id": "A", "updated_at": "2025-03-02T00:00:00Z", "payload": "A-now"},
            {"submission_id": "B", "updated_at": "2025-03-02T00:00:00.123456789Z"},
        ]
    )
    got, want = current_versions(v, PROCESSED), _reference_current(v, PROCESSED)
    for g, w in zip(got, want):
        pd.testing.assert_frame_equal(g, w, check_exact=True)
    assert got[0].set_index("submission_id").loc["A", "payload"] == "A-now"
    # without the nanosecond time the far-future edit is simply the newest
    got = current_versions(v[v["submission_id"] == "A"], PROCESSED)[0]
    assert got["payload"].tolist() == ["A-far"]


def test_payloads_are_read_as_text_or_as_their_utf8_bytes(store_url):
    """The column reader takes each payload's UTF-8 bytes straight from the database: the same
    payloads as the text, backslashes (JSON escapes, which PostgreSQL's bytea cast would read) included."""
    subs = [make_sub(1), make_sub(2, text='Lê "Tư" \\ Ánh\\u00e1 ✓'), make_sub(3, text="")]
    with RawStore(store_url) as store:
        store.ingest(subs)
        ids = store.versions(payloads=False)["store_id"].tolist()
        as_text = store.payloads_of(ids)
        as_bytes = store.payloads_of(ids, utf8=True)
    assert sorted(as_text.values()) == sorted(s.payload for s in subs)
    assert as_bytes == {k: v.encode("utf-8") for k, v in as_text.items()}
    assert all(type(v) is bytes for v in as_bytes.values())
