"""An in-process fake KoboToolbox KPI (API v2) on 127.0.0.1, following kobotoolbox/kpi's views.

* `Authorization: Token <key>`; 401 {"detail": "Invalid token."} otherwise
* POST /api/v2/imports/ (multipart `file`, `name`, `library`, `destination`) answers 201 with a
  task that is `processing` on the first poll and `complete` (messages.created/updated) after
* GET /api/v2/assets/{uid}/: content.settings.version, version_id, deployed_version_id,
  has_deployment, deployment__active; every import over an asset makes a new version_id
* POST /deployment/ (400 "Use PATCH" when deployed), PATCH /deployment/ (only the current version_id)
* form media: GET/POST /files/, DELETE /files/{uid}/ (metadata.hash = "md5:…")
* GET /data/?format=json&limit=&start=&query=&sort=: `limit` capped at 1,000 (default 100),
  {count, next, previous, results}; `query` supports $gt/$gte/$lt on `_id` and `_submission_time`
* records: `_id` (stable), `_uuid`, `meta/instanceID`, `meta/rootUuid`, `_submission_time`
  (never changed by an edit), `_validation_status`, flat "group/field" keys, repeats as arrays
* faults as in fake_central: `fault(kind, path=, times=)`, `on_page(fn)` and seeded
  `random_faults(p, seed=, path=)` (each matching request fails with probability p; `injected` counts)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import time
import uuid
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from fake_central import FakeServer, multipart_fields

MAX_PAGE, DEFAULT_PAGE = 1000, 100


class FakeKobo(FakeServer):
    def __init__(self, token: str = "0123456789abcdef0123456789abcdef01234567"):
        self.token = token
        self.assets: dict[str, dict] = {}
        self.imports: dict[str, dict] = {}
        self.records: dict[str, list[dict]] = {}  # asset uid -> records
        self._next_id = 1
        self._serve(self._handler())

    def write_requests(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    # --- data helpers -------------------------------------------------------------------------

    def add_record(self, uid: str, record: dict, submitted: datetime | None = None) -> dict:
        with self.lock:
            rec = dict(record)
            rec["_id"] = self._next_id
            self._next_id += 1
            u = rec.get("_uuid") or str(uuid.uuid4())
            rec["_uuid"] = u
            rec.setdefault("meta/instanceID", f"uuid:{u}")
            rec.setdefault("meta/rootUuid", rec["meta/instanceID"])
            rec["_submission_time"] = (submitted or self.now()).strftime("%Y-%m-%dT%H:%M:%S")
            rec.setdefault("_validation_status", {})
            rec.setdefault("__version__", self.assets.get(uid, {}).get("version_id", "v1"))
            rec.setdefault("_xform_id_string", self.assets.get(uid, {}).get("form_id", "form"))
            self.records.setdefault(uid, []).append(rec)
            return rec

    def edit(self, uid: str, rid: int, change=None) -> None:
        with self.lock:
            for i, rec in enumerate(self.records[uid]):
                if rec["_id"] == rid:
                    new = json.loads(json.dumps(rec))
                    if change:
                        change(new)
                    u = str(uuid.uuid4())
                    new["meta/deprecatedID"] = rec["meta/instanceID"]
                    new["_uuid"], new["meta/instanceID"] = u, f"uuid:{u}"
                    self.records[uid][i] = new
                    return
            raise KeyError(rid)

    def validate(self, uid: str, rid: int, status: str) -> None:
        with self.lock:
            for rec in self.records[uid]:
                if rec["_id"] == rid:
                    rec["_validation_status"] = {"uid": status, "timestamp": int(time.time()), "by_whom": "officer"}

    def delete(self, uid: str, rid: int) -> None:
        with self.lock:
            self.records[uid] = [r for r in self.records[uid] if r["_id"] != rid]

    # --- the handler --------------------------------------------------------------------------

    def _new_version(self, asset: dict) -> None:
        asset["version_id"] = "v" + secrets.token_hex(6)

    def _import(self, fields: dict) -> dict:
        import openpyxl

        name = (fields.get("name") or (None, b""))[1].decode() or "form"
        content = {"settings": {}, "survey": []}
        data = (fields.get("file") or (None, b""))[1]
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
            rows = list(wb["settings"].iter_rows(values_only=True))
            content["settings"] = dict(zip(rows[0], rows[1]))
            content["survey"] = [r for r in wb["survey"].iter_rows(values_only=True)][:3]
        except Exception as exc:  # noqa: BLE001 - the fake answers like Kobo: an import error
            task = {"uid": "i" + secrets.token_hex(8), "status": "error", "polls": 0,
                    "messages": {"error": f"could not read the XLSForm: {type(exc).__name__}"}}
            self.imports[task["uid"]] = task
            return task
        destination = (fields.get("destination") or (None, b""))[1].decode()
        uid = destination.rstrip("/").rsplit("/", 1)[-1] if destination else "a" + secrets.token_hex(10)
        asset = self.assets.get(uid) or {"uid": uid, "name": name, "has_deployment": False, "deployment__active": False,
                                         "deployed_version_id": None, "files": []}
        asset["content"] = content
        asset["form_id"] = content["settings"].get("form_id") or content["settings"].get("id_string")
        self._new_version(asset)
        self.assets[uid] = asset
        task = {"uid": "i" + secrets.token_hex(8), "status": "processing", "polls": 0,
                "messages": {("updated" if destination else "created"): [{"uid": uid, "kind": "asset"}]}}
        self.imports[task["uid"]] = task
        return task

    def data_page(self, uid: str, query: dict) -> dict:
        q = {k: v[0] for k, v in query.items()}
        limit = min(MAX_PAGE, int(q.get("limit", DEFAULT_PAGE)))
        start = int(q.get("start", 0))
        rows = list(self.records.get(uid, []))
        flt = json.loads(q["query"]) if q.get("query") else {}
        for field, cond in flt.items():
            for op, value in (cond.items() if isinstance(cond, dict) else [("$eq", cond)]):
                test = {"$gt": lambda x, v: x > v, "$gte": lambda x, v: x >= v, "$lt": lambda x, v: x < v,
                        "$lte": lambda x, v: x <= v, "$eq": lambda x, v: x == v}[op]
                rows = [r for r in rows if r.get(field) is not None and test(r.get(field), value)]
        sort = json.loads(q["sort"]) if q.get("sort") else {"_id": 1}
        for field, direction in reversed(list(sort.items())):
            rows.sort(key=lambda r: r.get(field), reverse=direction == -1)
        chunk = rows[start:start + limit]
        base = f"{self.url}/api/v2/assets/{uid}/data/"
        nxt = None
        if start + limit < len(rows):
            nxt = base + "?" + urlencode({**q, "start": str(start + limit), "limit": str(limit)})
        prev = base + "?" + urlencode({**q, "start": str(max(0, start - limit))}) if start else None
        return {"count": len(rows), "next": nxt, "previous": prev, "results": json.loads(json.dumps(chunk))}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def date_time_string(self, timestamp=None):
                return format_datetime(fake.now().replace(microsecond=0), usegmt=True)

            def _send(self, status, body=None, fault=None):
                fault = fault or getattr(self, "_fault", None)  # a truncate fault cuts whatever answer is sent
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if fault and fault["kind"] == "truncate":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: max(1, len(data) // 2)])
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PATCH(self):
                self._dispatch("PATCH")

            def do_DELETE(self):
                self._dispatch("DELETE")

            def _dispatch(self, method):
                parts = urlsplit(self.path)
                with fake.lock:
                    fake.requests.append((method, self.path))
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fault = fake._take_fault(method, parts.path)
                self._fault = fault
                if fault:
                    if fault["kind"] == "drop":
                        self.close_connection = True
                        try:
                            self.connection.shutdown(2)
                        except OSError:
                            pass
                        return
                    if fault["kind"] in ("500", "502", "503"):
                        return self._send(int(fault["kind"]), {"detail": "injected server error"})
                    if fault["kind"] == "slow":
                        time.sleep(fault["delay"])
                if self.headers.get("Authorization") != f"Token {fake.token}":
                    return self._send(401, {"detail": "Invalid token."})
                try:
                    self._route(method, parts.path, parse_qs(parts.query), body, fault)
                except BrokenPipeError:
                    pass

            def _route(self, method, path, query, body, fault):
                if path == "/api/v2/imports/" and method == "POST":
                    task = fake._import(multipart_fields(self.headers.get("Content-Type", ""), body))
                    return self._send(201, {"uid": task["uid"], "url": f"{fake.url}/api/v2/imports/{task['uid']}/",
                                            "status": "processing"})
                m = re.fullmatch(r"/api/v2/imports/([^/]+)/", path)
                if m and method == "GET":
                    task = fake.imports.get(m.group(1))
                    if task is None:
                        return self._send(404, {"detail": "Not found."})
                    task["polls"] += 1
                    if task["status"] == "processing" and task["polls"] >= 2:
                        task["status"] = "complete"
                    return self._send(200, {"uid": task["uid"], "status": task["status"], "messages": task["messages"]})
                m = re.fullmatch(r"/api/v2/assets/([^/]+)/(.*)", path)
                if not m or m.group(1) not in fake.assets:
                    return self._send(404, {"detail": "Not found."})
                uid, rest = m.group(1), m.group(2)
                asset = fake.assets[uid]
                if rest == "" and method == "GET":
                    return self._send(200, {k: v for k, v in asset.items() if k != "files"})
                if rest == "deployment/":
                    payload = json.loads(body or b"{}")
                    if method == "POST":
                        if asset["has_deployment"]:
                            return self._send(400, {"detail": "This form already has a deployment. Use PATCH."})
                        asset.update(has_deployment=True, deployment__active=True, deployed_version_id=asset["version_id"])
                        return self._send(200, {"active": True, "version_id": asset["version_id"]})
                    if method == "PATCH":
                        if not asset["has_deployment"]:
                            return self._send(400, {"detail": "The form has no deployment. Use POST."})
                        if "version_id" in payload and payload["version_id"] != asset["version_id"]:
                            return self._send(400, {"version_id": ["Only the current version can be deployed"]})
                        asset["deployment__active"] = bool(payload.get("active", True))
                        if "version_id" in payload:
                            asset["deployed_version_id"] = asset["version_id"]
                        return self._send(200, {"active": asset["deployment__active"], "version_id": asset["version_id"]})
                if rest == "files/":
                    if method == "GET":
                        return self._send(200, {"count": len(asset["files"]), "next": None, "previous": None,
                                                "results": asset["files"]})
                    if method == "POST":
                        fields = multipart_fields(self.headers.get("Content-Type", ""), body)
                        content = fields.get("content", (None, b""))[1]
                        meta = json.loads(fields.get("metadata", (None, b"{}"))[1])
                        row = {"uid": "af" + secrets.token_hex(6), "file_type": "form_media",
                               "metadata": {"filename": meta.get("filename"), "hash": "md5:" + hashlib.md5(content).hexdigest()}}
                        asset["files"].append(row)
                        return self._send(201, row)
                m2 = re.fullmatch(r"files/([^/]+)/", rest)
                if m2 and method == "DELETE":
                    asset["files"] = [f for f in asset["files"] if f["uid"] != m2.group(1)]
                    return self._send(204, {})
                if rest == "data/" and method == "GET":
                    for hook in list(fake._page_hooks):
                        hook(fake, query)
                    with fake.lock:
                        page = fake.data_page(uid, query)
                    return self._send(200, page, fault=fault)
                return self._send(404, {"detail": "Not found."})

        return Handler
