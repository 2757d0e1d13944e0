"""The raw store: every submission version exactly as received, never edited or deleted.

One table, `raw_submission_versions`, keyed by (submission_id, checksum): ingesting the same
export twice stores nothing new, and a changed payload of a known submission is stored beside the
old one. SQLAlchemy Core only, so any SQLAlchemy URL works: a SQLite file by default
(`default_store_url`), PostgreSQL via `postgresql+psycopg://...`.

Everything downstream reads `RawStore.versions()` and picks the version to use with the pure
function `current_versions`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url

from .cycles import no_cycle_collection
from .sources import RawSubmission

__all__ = [
    "TABLE_NAME",
    "VERSION_COLUMNS",
    "IngestReport",
    "RawStore",
    "checksum_of",
    "current_versions",
    "default_store_url",
    "redacted_url",
]

TABLE_NAME = "raw_submission_versions"
BATCH_SIZE = 1000  # rows per executemany batch
SQLITE_BUSY_TIMEOUT_MS = 60_000
_RETRIES = 5  # PostgreSQL deadlock / serialization failures, retried from the start

_SUBMISSION_FIELDS = [f.name for f in fields(RawSubmission)]
VERSION_COLUMNS = [
    "store_id",
    "submission_id",
    "instance_id",
    "form_id",
    "form_version",
    "submitted_at",
    "updated_at",
    "review_state",
    "payload_format",
    "payload",
    "checksum",
    "source",
    "stored_at",
    "deleted_at",  # when the server deleted the submission (latest deletion event), else None
]
_STORED_COLUMNS = VERSION_COLUMNS[:-1]
_INDEX_COLUMNS = [name for name in _STORED_COLUMNS if name != "payload"]  # the version index
DELETIONS_TABLE = "raw_submission_deletions"
VERSION_INDEX = "ix_raw_submission_versions_index"
FETCH_BATCH = 20_000  # rows per DBAPI fetchmany while reading the version index
_SHARE_LIMIT = 1000  # distinct values per column up to which equal strings are shared (see _Column)

_metadata = sa.MetaData()
_table = sa.Table(
    TABLE_NAME,
    _metadata,
    # BIGINT on PostgreSQL; SQLite needs exactly INTEGER for an autoincrementing rowid alias.
    sa.Column(
        "store_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("submission_id", sa.Text, nullable=False),
    sa.Column("instance_id", sa.Text, nullable=False),
    sa.Column("form_id", sa.Text, nullable=False),
    sa.Column("form_version", sa.Text, nullable=False),
    sa.Column("submitted_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=True),
    sa.Column("review_state", sa.Text, nullable=True),
    sa.Column("payload_format", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("checksum", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("stored_at", sa.Text, nullable=False),
    sa.UniqueConstraint("submission_id", "checksum", name="uq_raw_submission_versions_version"),
    sa.Index("ix_raw_submission_versions_form_id", "form_id"),
    sa.Index("ix_raw_submission_versions_instance_id", "instance_id"),
)
# SQLite stores checksum, source and stored_at after the ~5 KB payload in each record, so reading
# them walks the payload's overflow pages. This index holds every column of the version index,
# ordered by store_id, so `versions(payloads=False)` reads it alone (a few % of the file).
# PostgreSQL keeps large payloads out of line (TOAST) already: no index there.
_version_index = sa.Index(VERSION_INDEX, *(_table.c[name] for name in _INDEX_COLUMNS)).ddl_if(dialect="sqlite")
# Deletions on the server, as events: a row with deleted_at set says "deleted then", one with
# deleted_at None says "restored". The latest event (highest event_id) of a submission counts.
# Stored versions are never removed: a deleted submission only leaves processing.
_deletions = sa.Table(
    DELETIONS_TABLE,
    _metadata,
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.Text, nullable=False),
    sa.Column("deleted_at", sa.Text, nullable=True),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Index("ix_raw_submission_deletions_submission_id", "submission_id"),
)


@dataclass(frozen=True)
class IngestReport:
    """What one `RawStore.ingest` call did."""

    received: int  # submissions handed in
    new_versions: int  # rows added to the store
    unchanged: int  # already stored (same submission_id and payload), or repeated in the input


def checksum_of(payload: str) -> str:
    """sha256 hex digest of the payload text encoded as UTF-8."""
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_store_url(data_dir: Path) -> str:
    """SQLite URL of `<data_dir>/store/raw.sqlite3`, creating the `store` folder."""
    store_dir = Path(data_dir).expanduser().resolve() / "store"
    store_dir.mkdir(parents=True, exist_ok=True)
    url = URL.create("sqlite", database=str(store_dir / "raw.sqlite3"))
    return url.render_as_string(hide_password=False)


def redacted_url(url: str | URL) -> str:
    """The URL with any password replaced by `***`, safe to print or log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even parseable: print nothing of it
        return "<unparseable database URL>"


def _now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised via engine
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in ("40P01", "40001"):  # deadlock_detected, serialization_failure
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "database is busy" in text


class RawStore:
    """Append-only store of submission versions. Use as a context manager or call `close()`."""

    def __init__(self, url: str):
        self.url = str(url)
        sa_url = make_url(self.url)
        self._dialect_name = sa_url.get_backend_name()
        if self._dialect_name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported database for the raw store: {redacted_url(self.url)} "
                "(use sqlite:///... or postgresql+psycopg://...)"
            )
        connect_args: dict = {}
        if self._dialect_name == "sqlite":
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
        self._engine = sa.create_engine(sa_url, connect_args=connect_args, future=True)
        if self._dialect_name == "sqlite":
            _configure_sqlite(self._engine)
        self._insert = (
            sqlite.insert(_table) if self._dialect_name == "sqlite" else postgresql.insert(_table)
        )
        self._insert = self._insert.on_conflict_do_nothing(
            index_elements=["submission_id", "checksum"]
        ).returning(_table.c.store_id)
        self._create_schema()

    # -- lifecycle -----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        for attempt in range(_RETRIES):
            try:
                # checkfirst: two processes opening a fresh store at once may race; retry once.
                _metadata.create_all(self._engine, checkfirst=True)
                self._add_version_index()
                return
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _add_version_index(self) -> None:
        """Give a SQLite store made before the version index its index (reads the whole file, once)."""
        if self._dialect_name != "sqlite":
            return
        with self._engine.begin() as conn:
            conn.execute(sa.schema.CreateIndex(_version_index, if_not_exists=True))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> RawStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RawStore({redacted_url(self.url)!r})"

    # -- writing -------------------------------------------------------------------------------

    def ingest(self, submissions: Iterable[RawSubmission]) -> IngestReport:
        """Store every version not stored yet, in one transaction. Safe to run concurrently."""
        rows: list[dict] = []
        seen: set[tuple[str, str]] = set()
        received = 0
        stored_at = _now_utc()
        for sub in submissions:
            received += 1
            row = self._row_of(sub, stored_at)
            key = (row["submission_id"], row["checksum"])
            if key in seen:  # the same version twice in one input
                continue
            seen.add(key)
            rows.append(row)
        # A stable sort by submission_id: concurrent ingests then take row locks in the same
        # order (no deadlocks on PostgreSQL), and one submission's versions keep their order.
        rows.sort(key=lambda r: r["submission_id"])

        new_versions = 0
        for attempt in range(_RETRIES):
            try:
                new_versions = self._insert_rows(rows)
                break
            except sa.exc.DBAPIError as exc:
                if attempt == _RETRIES - 1 or not _is_retryable(exc):
                    raise
                time.sleep(0.1 * (attempt + 1))
        return IngestReport(
            received=received, new_versions=new_versions, unchanged=received - new_versions
        )

    def record_deletions(self, events: Iterable[tuple[str, str | None]], source: str) -> int:
        """Record (submission_id, deleted_at or None for "restored") events that change the state.

        Only events that differ from a submission's current deletion state are written, so
        recording the same deletions twice stores nothing. Returns the number of events written.
        """
        wanted = {sid: when for sid, when in events if sid}
        if not wanted:
            return 0
        current = self.deletions()
        rows = []
        recorded_at = _now_utc()
        for sid in sorted(wanted):
            when = wanted[sid]
            was = current.get(sid)
            if (when is None and was is None) or (when is not None and was is not None):
                continue  # no change: still live, or already recorded as deleted
            rows.append({"submission_id": sid, "deleted_at": when, "recorded_at": recorded_at, "source": source})
        if rows:
            with self._engine.begin() as conn:
                conn.execute(_deletions.insert(), rows)
        return len(rows)

    def deletions(self) -> dict[str, str]:
        """{submission_id: deleted_at} of the submissions deleted on the server (restored ones left out)."""
        t = _deletions
        with self._engine.connect() as conn:
            events = conn.execute(sa.select(t.c.submission_id, t.c.deleted_at).order_by(t.c.event_id)).all()
        state: dict[str, str | None] = {}
        for sid, when in events:
            state[sid] = when
        return {sid: when for sid, when in state.items() if when is not None}

    def _insert_rows(self, rows: list[dict]) -> int:
        inserted = 0
        with self._engine.begin() as conn:
            for start in range(0, len(rows), BATCH_SIZE):
                batch = rows[start : start + BATCH_SIZE]
                result = conn.execute(self._insert, batch)
                inserted += len(result.all())
        return inserted

    @staticmethod
    def _row_of(sub: RawSubmission, stored_at: str) -> dict:
        if not isinstance(sub, RawSubmission):
            raise TypeError(f"expected RawSubmission, got {type(sub).__name__}")
        row = {name: getattr(sub, name) for name in _SUBMISSION_FIELDS}
        for name in ("submission_id", "instance_id", "form_id", "form_version", "submitted_at",
                     "payload_format", "payload", "source"):
            if not isinstance(row[name], str):
                raise TypeError(
                    f"submission {sub.submission_id!r}: {name} must be text, "
                    f"got {type(row[name]).__name__}"
                )
        if not sub.submission_id:
            raise ValueError(f"a submission from {sub.source!r} has an empty submission_id")
        try:
            row["checksum"] = checksum_of(sub.payload)
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"submission {sub.submission_id!r}: payload is not valid Unicode text ({exc})"
            ) from None
        if "\x00" in sub.payload:
            raise ValueError(
                f"submission {sub.submission_id!r}: payload contains a NUL character, "
                "which PostgreSQL cannot store as text"
            )
        row["stored_at"] = stored_at
        return row

    # -- reading -------------------------------------------------------------------------------

    def versions(self, payloads: bool = True, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Every stored version, one row each, ordered by store_id.

        `store_id` is int64; every other column holds Python `str` (or `None` for
        `updated_at` / `review_state`), exactly as stored. With `payloads=False` the payload
        column is None: a million payloads do not fit in memory at once; read them in chunks
        with `payloads_of`. With `columns`, only those stored columns (and store_id, submission_id)
        are read and the others are None too: a review reads 9 of the index's 12 (at a million
        versions 3.8 s instead of 6.5).
        """
        names = _STORED_COLUMNS if payloads else _INDEX_COLUMNS
        if columns is not None:
            wanted = {"store_id", "submission_id", *columns}
            unknown = wanted - set(_STORED_COLUMNS)
            if unknown:
                raise ValueError(f"not stored columns: {', '.join(sorted(unknown))}")
            names = [name for name in names if name in wanted]
        deleted = self.deletions()
        read = {name: _Column(share=name != "store_id") for name in names}
        with no_cycle_collection():
            for batch in self._fetch(f"SELECT {', '.join(names)} FROM {TABLE_NAME} ORDER BY store_id"):
                for column, values in zip(read.values(), zip(*batch)):
                    column.extend(values)
        return _version_frame({name: column.values for name, column in read.items()}, deleted)

    def _fetch(self, sql: str) -> Iterator[list[tuple]]:
        """The rows of `sql` as DBAPI tuples, in batches: building a SQLAlchemy Row per row was most
        of `versions()`' time at a million rows (profiled)."""
        with self._engine.connect() as conn:
            dbapi_connection = conn.connection.dbapi_connection
            # A named (server-side) cursor streams from PostgreSQL instead of holding every row
            # in client memory; SQLite's cursor steps through the file as it is fetched anyway.
            cursor = (dbapi_connection.cursor(name="rasoat_fetch") if self._dialect_name == "postgresql"
                      else dbapi_connection.cursor())
            try:
                cursor.execute(sql)
                while batch := cursor.fetchmany(FETCH_BATCH):
                    yield batch
            finally:
                cursor.close()

    def payloads_of(self, store_ids: Iterable[int], batch: int = 5000, utf8: bool = False) -> dict[int, str] | dict[int, bytes]:
        """{store_id: payload} for the given versions, read in batches; with `utf8` each payload is its
        UTF-8 bytes, as the database holds them (no decoding to text for a reader that wants bytes).
        Read through the DBAPI cursor, as `versions` is: a SQLAlchemy Row per payload cost a tidy worker
        a fifth of its time at a million households (profiled)."""
        ids = sorted({int(i) for i in store_ids})
        payload = "payload"
        if utf8:  # PostgreSQL's text → bytea cast would read backslashes as escapes: convert_to encodes
            payload = "convert_to(payload, 'UTF8')" if self._dialect_name == "postgresql" else "CAST(payload AS BLOB)"
        out: dict = {}
        for start in range(0, len(ids), batch):
            listed = ", ".join(map(str, ids[start:start + batch]))  # integers: nothing to quote
            for rows in self._fetch(f"SELECT store_id, {payload} FROM {TABLE_NAME} WHERE store_id IN ({listed})"):
                out.update(rows)
        return out

    def count(self) -> int:
        """Number of stored versions."""
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(_table)).scalar_one())

    def check_integrity(self) -> list[str]:
        """Problems found in the stored rows; an empty list means the store is sound."""
        problems: list[str] = []
        t = _table
        with self._engine.connect() as conn:
            stmt = sa.select(t.c.store_id, t.c.submission_id, t.c.payload, t.c.checksum).order_by(
                t.c.store_id
            )
            for store_id, submission_id, payload, checksum in conn.execution_options(
                yield_per=2000
            ).execute(stmt):
                if payload is None:
                    problems.append(
                        f"store_id {store_id} (submission {submission_id}): payload is missing"
                    )
                    continue
                try:
                    actual = checksum_of(payload)
                except UnicodeEncodeError:
                    actual = "<payload is not valid Unicode>"
                if actual != checksum:
                    problems.append(
                        f"store_id {store_id} (submission {submission_id}): payload sha256 "
                        f"{actual} does not match the stored checksum {checksum}"
                    )

            duplicates = conn.execute(
                sa.select(t.c.submission_id, t.c.checksum, sa.func.count().label("n"))
                .group_by(t.c.submission_id, t.c.checksum)
                .having(sa.func.count() > 1)
                .order_by(t.c.submission_id, t.c.checksum)
            )
            for submission_id, checksum, n in duplicates:
                problems.append(
                    f"submission {submission_id}: version {checksum} is stored {n} times"
                )

            empty = conn.execute(
                sa.select(t.c.store_id)
                .where(
                    sa.or_(
                        t.c.submission_id == "",
                        t.c.instance_id == "",
                        t.c.checksum == "",
                        t.c.stored_at == "",
                    )
                )
                .order_by(t.c.store_id)
            )
            for (store_id,) in empty:
                problems.append(f"store_id {store_id}: a required field is empty")

        # The uniqueness rule itself must still be in place, or duplicates can creep in.
        inspector = sa.inspect(self._engine)
        unique_sets = {
            tuple(u["column_names"]) for u in inspector.get_unique_constraints(TABLE_NAME)
        } | {
            tuple(i["column_names"])
            for i in inspector.get_indexes(TABLE_NAME)
            if i.get("unique")
        }
        if ("submission_id", "checksum") not in unique_sets:
            problems.append(
                f"table {TABLE_NAME} has lost its UNIQUE(submission_id, checksum) constraint"
            )
        return problems


def _version_frame(columns: dict[str, list], deleted: dict[str, str]) -> pd.DataFrame:
    """The `versions()` frame of the fetched columns (emptied on the way); payload None where not read."""
    rows = len(columns["store_id"])
    data = {"store_id": pd.Series(np.fromiter(columns.pop("store_id"), dtype=np.int64, count=rows), copy=False)}
    owners = columns["submission_id"]
    data["deleted_at"] = _objects(map(deleted.get, owners) if deleted else [None] * rows, rows)
    for name in VERSION_COLUMNS[1:-1]:
        # each list goes as soon as it is an array: the lists and arrays never all sit in memory
        data[name] = _objects(columns.pop(name) if name in columns else [None] * rows, rows)
    return pd.DataFrame(data, columns=VERSION_COLUMNS)


def _objects(values: Iterable, rows: int) -> pd.Series:
    return pd.Series(np.fromiter(values, dtype=object, count=rows), dtype=object, copy=False)


class _Column:
    """One column's values while reading, equal strings shared while the column has few distinct ones.

    The database hands out a new `str` for every value; a form id, source or ingest time repeated
    on a million rows then costs ~60 MB each. Sharing them costs one dict look-up a value.
    """

    def __init__(self, share: bool = True) -> None:
        self.values: list = []
        self._seen: dict | None = {} if share else None

    def extend(self, values: tuple) -> None:
        if self._seen is None:
            self.values.extend(values)
            return
        self.values.extend(map(self._seen.setdefault, values, values))
        if len(self._seen) > _SHARE_LIMIT:  # mostly distinct (ids, checksums): stop looking
            self._seen = None


def current_versions(
    versions: pd.DataFrame, processed_review_states: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pick each submission's newest version; split off those whose review state is not processed.

    Submissions deleted on the server (`deleted_at` set) leave processing: they appear in
    neither result, though every version stays in the store.

    Newest = latest `updated_at`, falling back to `submitted_at` when there is none (ISO 8601,
    compared as instants; unparseable times count as oldest), ties broken by the higher store_id.
    A review state of None counts as "received". Returns (current, excluded); `excluded` has the
    extra column `reason`. Older versions appear in neither. The input is not modified.
    """
    columns = list(versions.columns)
    if "deleted_at" in versions.columns and versions["deleted_at"].notna().any():
        versions = versions[versions["deleted_at"].isna().to_numpy()]
    if versions.empty:
        return versions.iloc[0:0].copy(), versions.iloc[0:0].assign(reason=pd.Series(dtype=object))

    newest = versions.iloc[_newest_positions(versions)]
    if not newest["store_id"].is_monotonic_increasing:  # as read from the store it already is
        newest = newest.sort_values("store_id", kind="stable")

    states = newest["review_state"].astype(object).where(newest["review_state"].notna(), None)
    effective = states.map(lambda s: "received" if s is None or s == "" else str(s))
    keep = effective.isin(set(processed_review_states))
    current = newest[keep.to_numpy()].reset_index(drop=True)[columns]
    excluded = newest[~keep.to_numpy()].reset_index(drop=True)[columns]
    excluded["reason"] = ["review state " + s for s in effective[~keep].tolist()]
    excluded["reason"] = excluded["reason"].astype(object)
    return current, excluded


def _newest_positions(versions: pd.DataFrame) -> np.ndarray:
    """Ascending positions of each submission's newest version (see `current_versions`)."""
    repeated = versions["submission_id"].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return np.arange(len(versions))
    # Only submissions with several versions need their times parsed and compared: at a
    # million rows that is most of the work saved.
    several = np.flatnonzero(repeated)
    when = _version_times(versions, several)
    order = pd.DataFrame(
        {
            "submission_id": versions["submission_id"].to_numpy()[several],
            "when": when.to_numpy(),
            "store_id": versions["store_id"].to_numpy()[several],
            "pos": several,
        }
    ).sort_values(["submission_id", "when", "store_id"], na_position="first", kind="stable")
    newest = order.drop_duplicates("submission_id", keep="last")["pos"].to_numpy()
    return np.sort(np.concatenate([np.flatnonzero(~repeated), newest]))


def _version_times(versions: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """updated_at, else submitted_at, as instants, of the versions at positions `rows`."""
    updated, submitted = _instants(versions["updated_at"].iloc[rows]), _instants(versions["submitted_at"].iloc[rows])
    if _beyond_nanoseconds(updated) or _beyond_nanoseconds(submitted):
        # pandas parses a column at the finest precision any of its strings needs, and at
        # nanoseconds a time past 2262 becomes NaT (or fails): only the whole columns, parsed as
        # before, then give the same answer.
        updated, submitted = _instants(versions["updated_at"]).iloc[rows], _instants(versions["submitted_at"]).iloc[rows]
    return updated.where(updated.notna(), submitted)


def _instants(values: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC instants; None, NaN and unparseable text as NaT."""
    values = values.astype(object).where(values.notna(), None)
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


def _beyond_nanoseconds(times: pd.Series) -> bool:
    """Whether some time lies outside what datetime64[ns] holds (1677-2262)."""
    try:
        times.dt.as_unit("ns")
    except pd.errors.OutOfBoundsDatetime:
        return True
    return False
