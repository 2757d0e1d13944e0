"""`rasoat sync`: pull what is new or changed on the field server into the raw store.

ODK Central. One OData query, `$expand=*` (repeats nested: never page a repeat table on its own,
field-tech.md §6), paged on the main table with `$top`, following `@odata.nextLink`:

    $filter=__system/submissionDate gt T or __system/updatedAt gt T or __system/deletedAt gt T

where T = the stored watermark minus `server.overlap_minutes` (nothing at the boundary is missed;
ingest is idempotent, so reading a record twice is harmless). Naming `__system/deletedAt` makes
Central include submissions deleted since T: they are recorded as deletions, never removed from
the store. The first sync has no filter. Each page is ingested as it arrives (one transaction),
and the cursor of the next page is saved, so a sync that fails half-way resumes where it stopped.
The watermark is the server's clock (`Date` header) when the sync began, written atomically after
everything was ingested; a sync that read several pages then re-reads once what changed since it
began (an edit between two page reads). With nothing new, a sync is one small request after login.

KoboToolbox. No modified time exists, so the sync re-pulls the submissions of the last
`server.kobo_window_days` days (everything on the first sync), keyset-paged by `_id`, and
reconciles by `_id`: a changed record is a new version of the same submission; a record of the
window that is gone was deleted.

One sync at a time per data folder (a lock file); a second one waits, then pulls what is left.
"""

from __future__ import annotations

import email.utils
import fcntl
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from . import SourceProblem
from .http import RetryPolicy, ServerError

Progress = Callable[[int, int | None], None]  # (records done, total or None)


@dataclass
class SyncReport:
    server: str = ""
    received: int = 0
    new_versions: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0
    attachments: int = 0
    pages: int = 0
    requests: int = 0
    resumed: bool = False
    full: bool = False
    watermark: str = ""
    server_seconds: float = 0.0  # waiting for the server (requests and bodies)
    own_seconds: float = 0.0  # parsing, converting, storing
    problems: list[SourceProblem] = field(default_factory=list)

    def as_pull_report(self) -> dict:
        return {"received": self.received, "new_versions": self.new_versions, "unchanged": self.unchanged,
                "files": [], "deleted": self.deleted, "server": self.server}


# --- state: watermark, resume cursor, Kobo's _id map --------------------------------------------


def sync_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "sync"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_state(data_dir: Path, key: str) -> dict:
    path = sync_dir(data_dir) / "state.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a broken state only costs a full re-read; ingest is idempotent
    return data.get(key, {}) if isinstance(data, dict) else {}


def write_state(data_dir: Path, key: str, value: dict) -> None:
    """Replace one target's state atomically (write a temporary file, then rename)."""
    path = sync_dir(data_dir) / "state.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        data = {}
    data[key] = value
    tmp = path.with_name(f".state.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def sync_lock(data_dir: Path, timeout: float = 3600) -> Iterator[None]:
    """One sync per data folder at a time, across processes and threads."""
    path = sync_dir(data_dir) / "sync.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerError(f"một lần đồng bộ khác vẫn đang chạy trên {data_dir} / another sync is running")
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def server_time(response) -> datetime:
    """The server's clock from its Date header (our own clock if it sent none)."""
    header = response.headers.get("Date") if response is not None else None
    if header:
        try:
            return email.utils.parsedate_to_datetime(header).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def central_filter(since: datetime) -> str:
    t = iso(since)
    return f"__system/submissionDate gt {t} or __system/updatedAt gt {t} or __system/deletedAt gt {t}"


# --- ODK Central --------------------------------------------------------------------------------


def sync_central(central, store, data_dir: Path, overlap_minutes: float, page_size: int = 1000,
                 progress: Progress | None = None, attachments: bool = True) -> SyncReport:
    """Pull from Central into `store` (see the module doc). `central` is an open `central.Central`."""
    from .central import raw_of

    target = central.target
    key = f"central|{target.url}|{target.project_id}|{target.form_id}"
    report = SyncReport(server=str(central.where))
    source = f"{target.url.split('://')[-1]}/projects/{target.project_id}/forms/{target.form_id}"
    media = Path(data_dir) / "attachments"
    started_requests, started_server = central.requests, central.server_seconds
    wall = time.perf_counter()
    with sync_lock(data_dir):
        state = read_state(data_dir, key)
        done = 0

        def ingest_page(page: dict) -> None:
            nonlocal done
            subs, deletions = [], []
            for element in page["value"]:
                system = element.get("__system") if isinstance(element, dict) else None
                deleted_at = system.get("deletedAt") if isinstance(system, dict) else None
                if deleted_at:
                    deletions.append((element.get("__id"), str(deleted_at)))
                    continue
                read = raw_of(element, target.form_id, source)
                if isinstance(read, SourceProblem):
                    report.problems.append(read)
                    continue
                subs.append(read)
                deletions.append((read.submission_id, None))  # seen alive: restored if it was deleted
            result = store.ingest(subs)
            report.received += result.received
            report.new_versions += result.new_versions
            report.unchanged += result.unchanged
            before = store.deletions() if deletions else {}
            store.record_deletions(deletions, source)
            report.deleted += sum(1 for sid, when in deletions if when and sid not in before)
            report.restored += sum(1 for sid, when in deletions if when is None and sid in before)
            if attachments:
                for element in page["value"]:
                    system = element.get("__system") or {}
                    if not system.get("deletedAt") and (system.get("attachmentsPresent") or 0) > 0:
                        report.attachments += central.download_attachments(element, media)
            done += len(page["value"])
            report.pages += 1

        def run_pass(url: str, remember: dict | None) -> tuple[datetime | None, int]:
            """Read every page from url; returns (server time of the first answer, pages)."""
            first_time, pages, total = None, 0, None
            for page, response in central.odata_pages(url):
                if first_time is None:
                    first_time = server_time(response)
                    total = page.get("@odata.count")
                own = time.perf_counter()
                ingest_page(page)
                pages += 1
                if remember is not None:
                    next_link = page.get("@odata.nextLink")
                    if next_link:
                        remember.setdefault("started", iso(first_time))
                        write_state(data_dir, key, {**state, "pending": {**remember, "next": next_link}})
                report.own_seconds += time.perf_counter() - own
                if progress:
                    progress(done, total if isinstance(total, int) else None)
            return first_time, pages

        params = {"$expand": "*", "$top": str(page_size), "$count": "true"}
        pending = state.get("pending") if isinstance(state.get("pending"), dict) else None
        started: datetime | None = None
        pages = 0
        if pending and pending.get("next"):
            report.resumed = True
            try:
                first, pages = run_pass(pending["next"], dict(pending))
                started = parse_iso(pending["started"]) if pending.get("started") else first
            except ServerError as exc:
                if exc.status is None or exc.status >= 500:
                    raise
                pending = None  # the cursor is no longer valid: read again from the watermark
        if started is None:
            watermark = state.get("watermark")
            if watermark:
                since = parse_iso(watermark) - timedelta(minutes=overlap_minutes)
                params["$filter"] = central_filter(since)
            else:
                report.full = True
            remember = {"filter": params.get("$filter", "")}
            started, pages = run_pass(central.odata_url(params), remember)
        if pages > 1 or report.resumed:
            # Records edited while we paged: re-read once what changed since the sync began.
            catch_up = {"$expand": "*", "$top": str(page_size),
                        "$filter": central_filter((started or datetime.now(timezone.utc)) - timedelta(seconds=1))}
            run_pass(central.odata_url(catch_up), None)
        new_state = {k: v for k, v in state.items() if k != "pending"}
        new_state["watermark"] = iso(started or datetime.now(timezone.utc))
        new_state["last_success"] = iso(datetime.now(timezone.utc))
        write_state(data_dir, key, new_state)
        report.watermark = new_state["watermark"]
    report.requests = central.requests - started_requests
    report.server_seconds = central.server_seconds - started_server
    report.own_seconds = max(0.0, time.perf_counter() - wall - report.server_seconds)
    return report


# --- KoboToolbox -------------------------------------------------------------------------------


def sync_kobo(kobo, store, data_dir: Path, window_days: float, page_size: int = 1000,
              progress: Progress | None = None) -> SyncReport:
    """Pull from Kobo into `store`: a rolling window, reconciled by `_id` (see the module doc)."""
    from .kobo import raw_of, submission_id_of

    target = kobo.target
    uid = target.asset_uid
    if not uid:
        raise ServerError(f"{kobo.where}: chưa biết mã biểu mẫu (asset uid); chạy `rasoat forms deploy` "
                          "hoặc đặt server.kobo_asset_uid")
    key = f"kobo|{target.url}|{uid}"
    report = SyncReport(server=str(kobo.where))
    source = f"{target.url.split('://')[-1]}/assets/{uid}"
    started_requests, started_server = kobo.requests, kobo.server_seconds
    wall = time.perf_counter()
    with sync_lock(data_dir):
        state = read_state(data_dir, key)
        ids: dict[str, dict] = dict(state.get("ids") or {})  # str(_id) -> {"sid", "submitted"}
        now_local = datetime.now(timezone.utc)
        since: str | None = None
        if state.get("last_success"):
            since_dt = parse_iso(state["last_success"]) - timedelta(days=window_days)
            since = since_dt.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            report.full = True
        seen: set[str] = set()
        done, first_time = 0, None
        for records, response, count in kobo.data_pages(uid, since, page_size):
            if first_time is None:
                first_time = server_time(response)
            own = time.perf_counter()
            seen_at = iso(first_time)
            subs = []
            for record in records:
                rid = str(record.get("_id"))
                entry = ids.get(rid)
                if entry is None:
                    entry = ids[rid] = {"sid": submission_id_of(record), "submitted": str(record.get("_submission_time") or "")}
                seen.add(rid)
                subs.append(raw_of(record, entry["sid"], target.form_id, source, seen_at))
            result = store.ingest(subs)
            report.received += result.received
            report.new_versions += result.new_versions
            report.unchanged += result.unchanged
            report.pages += 1
            done += len(records)
            report.own_seconds += time.perf_counter() - own
            if progress:
                progress(done, count if isinstance(count, int) else None)
        moment = iso(first_time or now_local)
        gone = [entry["sid"] for rid, entry in ids.items()
                if rid not in seen and (since is None or entry.get("submitted", "") >= since)]
        before = store.deletions()
        events = [(sid, moment) for sid in gone] + [(ids[rid]["sid"], None) for rid in seen]
        store.record_deletions(events, source)
        report.deleted = sum(1 for sid in gone if sid not in before)
        report.restored = sum(1 for rid in seen if ids[rid]["sid"] in before)
        write_state(data_dir, key, {"ids": ids, "last_success": moment, "window_start": since or ""})
        report.watermark = moment
    report.requests = kobo.requests - started_requests
    report.server_seconds = kobo.server_seconds - started_server
    report.own_seconds = max(0.0, time.perf_counter() - wall - report.server_seconds)
    return report


# --- one entry point for the flow --------------------------------------------------------------


def kobo_asset_uid(data_dir: Path) -> str:
    """The asset `forms deploy` created, remembered in <data>/sync/kobo-asset.json."""
    path = sync_dir(data_dir) / "kobo-asset.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("uid", "")
    except (OSError, ValueError):
        return ""


def remember_kobo_asset(data_dir: Path, uid: str) -> None:
    path = sync_dir(data_dir) / "kobo-asset.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"uid": uid}), encoding="utf-8")
    os.replace(tmp, path)


def policy_of(settings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.server.retries + 1, timeout=settings.server.timeout_seconds)


def run_sync(settings, data_dir: Path, store, form_id: str, progress: Progress | None = None,
             policy: RetryPolicy | None = None) -> SyncReport:
    """Sync the configured server (settings.server.kind) into `store`."""
    policy = policy or policy_of(settings)
    server = settings.server
    if server.kind == "kobo":
        from .kobo import Kobo, resolve_target

        target = resolve_target(server, form_id, kobo_asset_uid(data_dir))
        with Kobo(target, policy) as kobo:
            return sync_kobo(kobo, store, data_dir, server.kobo_window_days, server.page_size, progress)
    from .central import Central, resolve_target as central_target

    with Central(central_target(server, form_id), policy) as central:
        return sync_central(central, store, data_dir, server.overlap_minutes, server.page_size, progress)


def pull_from_server(settings, data_folder, form_id: str | None = None, store_url: str | None = None,
                     progress: Progress | None = None) -> tuple[dict, list[SourceProblem]]:
    """Sync the field server into the raw store; for the flow's pull step when source.kind is central/kobo.

    Returns (report, problems) like the pull task: report has received, new_versions, unchanged,
    files ([]), deleted, server. A server that cannot be reached raises `ServerError` (the pull
    task's retries then apply). `data_folder` is the data folder (a Path or the flow's DataFolder).
    """
    from rasoat.pipeline.rawstore import RawStore, default_store_url

    root = Path(getattr(data_folder, "root", data_folder))
    if form_id is None:
        from rasoat.forms.build import questionnaire_for

        form_id = settings.server.form_id or questionnaire_for(settings).form_id
    url = store_url or os.environ.get("RASOAT_STORE_URL") or settings.store.url or default_store_url(root)
    with RawStore(url) as store:
        report = run_sync(settings, root, store, form_id, progress)
    return report.as_pull_report(), list(report.problems)


__all__ = ["SyncReport", "sync_central", "sync_kobo", "run_sync", "pull_from_server", "read_state", "write_state",
           "central_filter"]
