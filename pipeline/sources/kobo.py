"""KoboToolbox (KPI API v2): deploy the XLSForm, pull data page by page, reconcile edits by `_id`.

No Python client is worth depending on (field-tech.md §3), so this is a small one over one
`requests.Session` with `Authorization: Token …`, timeouts and `http.send`'s retries.

Kobo facts that shape it: `/data/` pages hold at most 1,000 records; `_submission_time` is the
creation time and never changes on edit; there is no modified time. So the sync re-pulls a
rolling window (config `server.kobo_window_days`) and reconciles by `_id`: an edit keeps `_id`
and gets a new `_uuid` (stored as a new version of the same submission), a record missing from
the window was deleted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import requests

from . import KOBO_JSON, RawSubmission
from .http import RetryPolicy, ServerError, Where, install_log_redaction, mount_timeouts, register_secret, send

ENV_URL, ENV_TOKEN = "RASOAT_KOBO_URL", "RASOAT_KOBO_TOKEN"
MAX_PAGE = 1000  # KPI's MAX_API_PAGE_SIZE
VALIDATION_STATES = {
    "validation_status_approved": "approved",
    "validation_status_not_approved": "rejected",
    "validation_status_on_hold": "hasIssues",
}


@dataclass(frozen=True)
class KoboTarget:
    url: str  # e.g. https://kf.kobotoolbox.org
    token: str = field(repr=False)
    asset_uid: str = ""
    form_id: str = ""

    @property
    def where(self) -> Where:
        return Where(self.url, "", self.asset_uid or self.form_id, "KoboToolbox")


def resolve_target(server, form_id: str, asset_uid: str = "", environ: dict | None = None) -> KoboTarget:
    env = os.environ if environ is None else environ
    url = (server.url or env.get(ENV_URL) or "").strip().rstrip("/")
    token = env.get(ENV_TOKEN, "")
    missing = [w for w, v in (("địa chỉ máy chủ / server URL (server.url, RASOAT_KOBO_URL)", url),
                              ("khóa API / API token (RASOAT_KOBO_TOKEN)", token)) if not v]
    if missing:
        raise ServerError("thiếu cấu hình KoboToolbox: " + "; ".join(missing) + " (xem docs/servers.md).")
    register_secret(token)
    return KoboTarget(url=url, token=token, asset_uid=server.kobo_asset_uid or asset_uid, form_id=form_id)


# --- the deploy plan (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class KoboPlan:
    action: str  # "create" | "replace" | "deploy" | "redeploy" | "media" | "nothing"
    steps: tuple[str, ...]
    version: str

    @property
    def writes(self) -> bool:
        return self.action != "nothing"


def asset_version(asset: dict) -> str | None:
    content = asset.get("content") or {}
    settings = content.get("settings") if isinstance(content, dict) else None
    if isinstance(settings, list):  # older assets keep settings as a one-row list
        settings = settings[0] if settings else {}
    value = (settings or {}).get("version")
    return str(value) if value is not None else None


def plan_deploy(local_version: str, asset: dict | None, media_ok: bool) -> KoboPlan:
    """What `forms deploy` must do on Kobo, from the asset (None if there is none yet)."""
    if asset is None:
        return KoboPlan("create", ("import XLSForm", "upload media", "deploy"), local_version)
    same = asset_version(asset) == local_version
    deployed = bool(asset.get("has_deployment"))
    current = deployed and asset.get("deployed_version_id") == asset.get("version_id") and asset.get("deployment__active", True)
    if not same:
        return KoboPlan("replace", ("import XLSForm over the asset", "upload media", "redeploy" if deployed else "deploy"),
                        local_version)
    if not media_ok:
        return KoboPlan("media", ("upload media", "redeploy" if deployed else "deploy"), local_version)
    if not deployed:
        return KoboPlan("deploy", ("deploy",), local_version)
    if not current:
        return KoboPlan("redeploy", ("redeploy",), local_version)
    return KoboPlan("nothing", (), local_version)


# --- the client ---------------------------------------------------------------------------


class Kobo:
    def __init__(self, target: KoboTarget, policy: RetryPolicy | None = None):
        install_log_redaction()
        self.target = target
        self.policy = policy or RetryPolicy()
        self.session = requests.Session()
        mount_timeouts(self.session, self.policy)
        self.session.headers.update({"Authorization": f"Token {target.token}", "Accept": "application/json",
                                     "Accept-Encoding": "gzip, deflate"})
        self.requests = 0
        self.server_seconds = 0.0

    def __enter__(self) -> "Kobo":
        return self

    def __exit__(self, *exc) -> None:
        self.session.close()

    @property
    def where(self) -> Where:
        return self.target.where

    def call(self, method: str, path: str, action: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else f"{self.target.url}{path}"
        started = time.perf_counter()
        response = None
        try:
            response = send(self.session, method, url, self.where, action, self.policy, **kwargs)
            return response
        finally:
            self.requests += 1
            # our own JSON parsing is not the server's time
            self.server_seconds += time.perf_counter() - started - getattr(response, "parse_seconds", 0.0)

    # --- deploy ---------------------------------------------------------------------------

    def asset(self, uid: str) -> dict | None:
        if not uid:
            return None
        response = self.call("GET", f"/api/v2/assets/{uid}/?format=json", "đọc biểu mẫu / reading the asset", allow=(404,))
        return None if response.status_code == 404 else response.json()

    def media(self, uid: str) -> dict[str, str]:
        """{file name: md5 hash} of the asset's form media."""
        rows = self.call("GET", f"/api/v2/assets/{uid}/files/?file_type=form_media&format=json",
                         "đọc tệp đính kèm / listing media").json()
        out = {}
        for row in rows.get("results", rows) if isinstance(rows, dict) else rows:
            meta = row.get("metadata") or {}
            out[meta.get("filename", "")] = str(meta.get("hash", "")).removeprefix("md5:")
        return out

    def import_xlsform(self, xlsx: bytes, name: str, destination_uid: str = "", poll_seconds: float = 0.5,
                       max_wait: float = 300) -> str:
        """POST /api/v2/imports/ and wait for the background task; returns the asset uid."""
        data = {"name": name, "library": "false"}
        if destination_uid:
            data["destination"] = f"{self.target.url}/api/v2/assets/{destination_uid}/"
        files = {"file": (f"{self.target.form_id or 'form'}.xlsx", xlsx,
                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
        task = self.call("POST", "/api/v2/imports/", "tải phiếu lên / importing the XLSForm", data=data, files=files).json()
        uid = task.get("uid")
        waited = 0.0
        while True:
            state = self.call("GET", f"/api/v2/imports/{uid}/?format=json", "chờ nhập phiếu / waiting for the import").json()
            status = state.get("status")
            if status == "complete":
                messages = state.get("messages") or {}
                for key in ("updated", "created"):
                    for item in messages.get(key) or []:
                        if item.get("uid"):
                            return item["uid"]
                return destination_uid
            if status == "error":
                raise ServerError(f"{self.where}: KoboToolbox không nhận phiếu / refused the form: "
                                  f"{json.dumps(state.get('messages'), ensure_ascii=False)[:600]}")
            if waited >= max_wait:
                raise ServerError(f"{self.where}: nhập phiếu quá lâu / the import did not finish in {max_wait:.0f} s")
            self.policy.sleep(poll_seconds)
            waited += poll_seconds

    def upload_media(self, uid: str, name: str, content: bytes, existing: dict[str, str]) -> None:
        rows = self.call("GET", f"/api/v2/assets/{uid}/files/?file_type=form_media&format=json", "đọc tệp / listing media").json()
        for row in rows.get("results", rows) if isinstance(rows, dict) else rows:
            if (row.get("metadata") or {}).get("filename") == name:
                self.call("DELETE", f"/api/v2/assets/{uid}/files/{row['uid']}/", "xóa tệp cũ / removing old media", allow=(404,))
        self.call("POST", f"/api/v2/assets/{uid}/files/", f"tải {name} / uploading {name}",
                  data={"file_type": "form_media", "description": "rasoat", "metadata": json.dumps({"filename": name})},
                  files={"content": (name, content, "text/csv")})

    def deploy(self, uid: str, redeploy: bool) -> None:
        asset = self.asset(uid) or {}
        if redeploy:
            self.call("PATCH", f"/api/v2/assets/{uid}/deployment/", "triển khai lại / redeploying",
                      json={"version_id": asset.get("version_id"), "active": True})
        else:
            self.call("POST", f"/api/v2/assets/{uid}/deployment/", "triển khai / deploying", json={"active": True})

    # --- data -----------------------------------------------------------------------------

    def data_pages(self, uid: str, since: str | None, page_size: int = MAX_PAGE) -> Iterator[tuple[list[dict], requests.Response, int | None]]:
        """Pages of records (sorted by `_id`), keyset-paged on `_id` so a deletion mid-way skips nothing.

        `since`: only records whose `_submission_time` is at or after it (the rolling window).
        Yields (records, response, count of matching records on the first page).
        """
        limit = max(1, min(MAX_PAGE, page_size))
        last_id: int | None = None
        first = True
        while True:
            query: dict[str, Any] = {}
            if since:
                query["_submission_time"] = {"$gte": since}
            if last_id is not None:
                query["_id"] = {"$gt": last_id}
            params = {"format": "json", "limit": str(limit), "sort": json.dumps({"_id": 1})}
            if query:
                params["query"] = json.dumps(query, separators=(",", ":"))
            response = self.call("GET", f"/api/v2/assets/{uid}/data/", "đọc dữ liệu / reading data",
                                 params=params, parse_json=True)
            body = response.parsed  # type: ignore[attr-defined]
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ServerError(f"{self.where}: câu trả lời /data/ không đúng dạng / not a data page")
            yield results, response, (body.get("count") if first else None)
            first = False
            if len(results) < limit or not body.get("next"):
                return
            last_id = max(int(r["_id"]) for r in results)


def review_state(record: dict) -> str | None:
    status = record.get("_validation_status") or {}
    state = VALIDATION_STATES.get(status.get("uid", "")) if isinstance(status, dict) else None
    if state:
        return state
    return "edited" if record.get("meta/deprecatedID") else None


def raw_of(record: dict, submission_id: str, form_id: str, source: str, seen_at: str) -> RawSubmission:
    """One KPI data record, kept exactly as received, as a version of `submission_id`."""
    uuid_ = record.get("_uuid") or ""
    instance = record.get("meta/instanceID") or (f"uuid:{uuid_}" if uuid_ else submission_id)
    return RawSubmission(
        submission_id=submission_id,
        instance_id=str(instance),
        form_id=str(record.get("_xform_id_string") or form_id),
        form_version=str(record.get("__version__") or ""),
        submitted_at=str(record.get("_submission_time") or ""),
        updated_at=seen_at if record.get("meta/deprecatedID") else None,  # Kobo has no modified time
        review_state=review_state(record),
        payload_format=KOBO_JSON,
        payload=json.dumps(record, ensure_ascii=False, sort_keys=True),
        source=source,
    )


def submission_id_of(record: dict) -> str:
    """The stable ID of a new record: meta/rootUuid (kept across edits), else its first instance ID."""
    root = record.get("meta/rootUuid")
    if root:
        return str(root) if str(root).startswith("uuid:") else f"uuid:{root}"
    instance = record.get("meta/instanceID")
    if instance:
        return str(instance)
    return f"uuid:{record.get('_uuid')}" if record.get("_uuid") else f"kobo:{record.get('_id')}"
