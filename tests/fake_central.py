"""An in-process fake ODK Central that follows the published API (central-backend docs/api.yaml).

A real HTTP server on 127.0.0.1 (ThreadingHTTPServer in a thread), so pyodk, requests, retries
and timeouts run exactly as against a real server. What it implements:

* sessions: POST /v1/sessions (401 on a bad password), GET /v1/users/current, DELETE /v1/sessions/{token}
* projects, forms: create as a draft (or `?publish=true`), new draft, draft attachments (slots from
  the XForm's jr://file-csv/ references), publish with `?version=` and 409 on a version seen before
* app users (token in the answer; null once revoked) and form assignments
* OData `Submissions` with `$expand=*` (repeats nested with `__id`), `$top` + `$skiptoken`
  `@odata.nextLink` (a cursor that stays stable while submissions arrive), `$filter` on
  `__system/submissionDate|updatedAt|deletedAt` (`gt lt ge le eq ne`, `and`, `or`, `not`, `null`),
  `$count`; deleted submissions only when the filter names `__system/deletedAt`
* review states and edits: a new version keeps `__id`, bumps `updatedAt`, reviewState 'edited'
* submission attachments, OpenRosa POST /v1/key/{token}/projects/{pid}/submission (multipart
  `xml_submission_file`), typed from the XForm's binds
* faults: `fault(kind, path=..., times=n)` with kind drop | 500 | 503 | slow | truncate, and
  `on_page(fn)` to change data between two page reads; a settable clock (`advance`)
* random faults: `random_faults(p, seed=, path=)` makes each request (whose path matches the regex
  `path`) fail with probability p, the kind drawn from a seeded generator; `injected` counts them
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

XF = "{http://www.w3.org/2002/xforms}"
RANDOM_FAULT_KINDS = ("500", "503", "drop", "truncate", "slow")
JR = "{http://openrosa.org/javarosa}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def multipart_file(content_type: str, body: bytes, name: str) -> bytes | None:
    """The content of one part of a multipart/form-data body, by field name."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts() if message.is_multipart() else []:
        if part.get_param("name", header="content-disposition") == name:
            return part.get_payload(decode=True)
    return None


def multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """{field name: (file name, content)} of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    out = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        field = part.get_param("name", header="content-disposition")
        out[field] = (part.get_filename(), part.get_payload(decode=True))
    return out


class FakeServer:
    """What the fake Central and the fake KPI share: a threaded HTTP server on a free port, a clock
    that tests can move, scripted faults (`fault`), seeded random faults (`random_faults`) and
    hooks before each page. A subclass calls `_serve(handler_class)` from its __init__ and
    `_take_fault(method, path)` for each request."""

    _random: dict | None = None
    eligible = 0  # requests the random faults could hit
    injected: Counter = Counter()  # random faults injected, by kind

    def _serve(self, handler) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path?query), tokens redacted for assertions
        self.lock = threading.RLock()
        self._faults: list[dict] = []
        self._page_hooks: list = []
        self.injected = Counter()
        self.offset = timedelta(0)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, **delta) -> None:
        self.offset += timedelta(**delta)

    def fault(self, kind: str, path: str = "", times: int = 1, method: str = "", delay: float = 2.0, after: int = 0) -> None:
        """Inject a fault on the next `times` requests whose path contains `path` (after skipping `after`)."""
        with self.lock:
            self._faults.append({"kind": kind, "path": path, "times": times, "method": method, "delay": delay, "skip": after})

    def on_page(self, fn) -> None:
        """Call fn(fake, page_number) just before serving each page (e.g. to edit a record)."""
        self._page_hooks.append(fn)

    def _take_fault(self, method: str, path: str) -> dict | None:
        with self.lock:
            for f in self._faults:
                if f["path"] in path and (not f["method"] or f["method"] == method) and f["times"] > 0:
                    if f["skip"] > 0:
                        f["skip"] -= 1
                        return None
                    f["times"] -= 1
                    return f
            return self._random_fault(method, path)

    def random_faults(self, p: float, seed: int = 0, path: str = "", kinds: tuple[str, ...] = RANDOM_FAULT_KINDS,
                      delay: float = 0.3, method: str = "") -> None:
        """From now on each request whose path matches the regex `path` (every request by default) fails
        with probability `p`, the kind drawn evenly from `kinds` (500, 503, drop, truncate, slow); one
        `random.Random(seed)` decides, so a client sending its requests one at a time sees the same
        faults each run. `slow` waits `delay` seconds then answers normally (keep it below the client's
        timeout). `p=0` turns it off. `eligible` and `injected` (a Counter by kind) are reset."""
        with self.lock:
            self._random = {"p": p, "rng": random.Random(seed), "path": re.compile(path), "kinds": tuple(kinds),
                            "delay": delay, "method": method} if p > 0 else None
            self.eligible = 0
            self.injected = Counter()

    @property
    def fault_rate(self) -> float:
        """Random faults injected / requests they could hit."""
        return sum(self.injected.values()) / self.eligible if self.eligible else 0.0

    def _random_fault(self, method: str, path: str) -> dict | None:
        """The random fault for this request, if the draw says so (call with the server's lock held)."""
        r = self._random
        if r is None or not r["path"].search(path) or (r["method"] and r["method"] != method):
            return None
        self.eligible += 1
        if r["rng"].random() >= r["p"]:
            return None
        kind = r["rng"].choice(r["kinds"])
        self.injected[kind] += 1
        return {"kind": kind, "path": path, "times": 0, "method": method, "delay": r["delay"], "skip": 0, "random": True}


class FormDef:
    """What the fake needs from an XForm: id, version, attachment names, repeats, typed binds."""

    def __init__(self, xml: str):
        root = ET.fromstring(xml)
        instance = root.find(f".//{XF}instance")
        data = list(instance)[0]
        self.xml = xml
        self.form_id = data.get("id")
        self.version = data.get("version") or ""
        self.root_tag = data.tag.split("}")[-1]
        self.attachments = sorted(set(re.findall(r"jr://file(?:-csv)?/([^\"'<> ]+)", xml)))
        self.types = {b.get("nodeset"): b.get("type", "string") for b in root.iter(f"{XF}bind")}
        self.repeats = {r.get("nodeset") for r in root.iter(f"{XF}repeat")}

    def to_json(self, xml: bytes) -> tuple[dict, str, str | None]:
        """(OData-shaped data, instanceID, deprecatedID) of a submission XML."""
        node = ET.fromstring(xml)

        def convert(el: ET.Element, path: str, sid: str) -> dict:
            out: dict = {}
            counts: dict[str, int] = {}
            for child in el:
                tag = child.tag.split("}")[-1]
                cpath = f"{path}/{tag}"
                if cpath in self.repeats:
                    counts[tag] = counts.get(tag, 0) + 1
                    item = convert(child, cpath, sid)
                    item["__id"] = hashlib.sha1(f"{sid}{cpath}[{counts[tag]}]".encode()).hexdigest()
                    out.setdefault(tag, []).append(item)
                    out[f"{tag}@odata.navigationLink"] = f"Submissions('{quote(sid, safe='')}')/{tag}"
                elif len(child):
                    out[tag] = convert(child, cpath, sid)
                else:
                    out[tag] = self.typed(cpath, child.text)
            for r in self.repeats:
                parent, _, tag = r.rpartition("/")
                if parent == path and tag not in out:
                    out[tag] = []
            return out

        meta = node.find("meta")
        instance_id = meta.findtext("instanceID") if meta is not None else None
        deprecated = meta.findtext("deprecatedID") if meta is not None else None
        data = convert(node, f"/{node.tag}", instance_id or "")
        return data, instance_id, deprecated

    def typed(self, path: str, text: str | None):
        if text is None or text == "":
            return None
        kind = self.types.get(path, "string")
        try:
            if kind == "int":
                return int(text)
            if kind == "decimal":
                return float(text)
            if kind == "geopoint":
                parts = [float(p) for p in text.split()]
                point = {"type": "Point", "coordinates": [parts[1], parts[0]] + parts[2:3]}
                if len(parts) > 3:
                    point["properties"] = {"accuracy": parts[3]}
                return point
        except ValueError:
            return text
        return text


class FakeCentral(FakeServer):
    def __init__(self, email: str = "officer@example.org", password: str = "s3cret-Passw0rd!", project_id: int = 1):
        self.email, self.password, self.project_id = email, password, project_id
        self.sessions: set[str] = set()
        self.forms: dict[str, dict] = {}  # xmlFormId -> {"published": FormDef|None, "draft": FormDef|None, "versions": set, attachments}
        self.app_users: list[dict] = []
        self.assignments: dict[str, set[int]] = {}
        self.submissions: dict[str, dict] = {}  # __id -> record
        self.forbidden = False
        self._seq = 0
        self._serve(self._handler())

    def data_requests(self) -> list[tuple[str, str]]:
        """Requests other than logging in and checking the session."""
        return [r for r in self.requests if not (r[1].startswith("/v1/sessions") or r[1].startswith("/v1/users/current"))]

    # --- data helpers for tests ----------------------------------------------------------------

    def add_element(self, element: dict, created: datetime | None = None, review_state: str | None = None) -> str:
        """Add one submission given as an OData element (e.g. pipeline.synthetic.odata_row)."""
        with self.lock:
            self._seq += 1
            sid = element["__id"]
            data = {k: v for k, v in element.items() if k != "__system"}
            system = element.get("__system") or {}
            self.submissions[sid] = {
                "seq": self._seq, "id": sid, "data": data, "versions": [data],
                "createdAt": created or self.now(), "updatedAt": None, "reviewState": review_state,
                "deletedAt": None, "submitterId": str(system.get("submitterId") or "5"),
                "submitterName": system.get("submitterName") or "app user", "deviceId": system.get("deviceId"),
                "formVersion": system.get("formVersion") or "", "attachments": {},
            }
            return sid

    def edit(self, sid: str, change=None) -> None:
        """A new version of a submission: same __id, new meta/instanceID, reviewState 'edited'."""
        with self.lock:
            rec = self.submissions[sid]
            data = json.loads(json.dumps(rec["data"]))
            if change:
                change(data)
            data.setdefault("meta", {})["instanceID"] = f"uuid:{uuid.uuid4()}"
            rec["data"] = data
            rec["versions"].append(data)
            rec["reviewState"] = "edited"
            rec["updatedAt"] = self.now()

    def review(self, sid: str, state: str) -> None:
        with self.lock:
            rec = self.submissions[sid]
            rec["reviewState"], rec["updatedAt"] = state, self.now()

    def delete(self, sid: str) -> None:
        with self.lock:
            self.submissions[sid]["deletedAt"] = self.now()

    def restore(self, sid: str) -> None:
        with self.lock:
            self.submissions[sid]["deletedAt"] = None

    def element(self, rec: dict) -> dict:
        out = dict(rec["data"])
        out["__id"] = rec["id"]
        out["__system"] = {
            "submissionDate": _iso(rec["createdAt"]),
            "updatedAt": _iso(rec["updatedAt"]) if rec["updatedAt"] else None,
            "submitterId": rec["submitterId"], "submitterName": rec["submitterName"],
            "attachmentsPresent": sum(1 for v in rec["attachments"].values() if v is not None),
            "attachmentsExpected": len(rec["attachments"]), "status": None,
            "reviewState": rec["reviewState"], "deviceId": rec["deviceId"],
            "edits": len(rec["versions"]) - 1, "formVersion": rec["formVersion"],
            "deletedAt": _iso(rec["deletedAt"]) if rec["deletedAt"] else None,
        }
        return out

    def live_ids(self) -> set[str]:
        return {sid for sid, r in self.submissions.items() if r["deletedAt"] is None}

    # --- OData ------------------------------------------------------------------------------

    def _filter(self, text: str):
        """A predicate for Central's $filter subset: comparisons on __system fields, and/or/not, null."""
        tokens = re.findall(r"\(|\)|[^\s()]+", text)
        pos = 0

        def peek():
            return tokens[pos] if pos < len(tokens) else None

        def take():
            nonlocal pos
            pos += 1
            return tokens[pos - 1]

        fields = {"__system/submissionDate": "createdAt", "__system/updatedAt": "updatedAt",
                  "__system/deletedAt": "deletedAt", "__system/reviewState": "reviewState", "__id": "id"}

        def value(tok: str):
            if tok == "null":
                return None
            if tok.startswith("'"):
                return tok.strip("'")
            return datetime.fromisoformat(tok.replace("Z", "+00:00"))

        def primary():
            tok = take()
            if tok == "(":
                inner = expr()
                take()  # ")"
                return inner
            if tok == "not":
                inner = primary()
                return lambda r: not inner(r)
            if tok not in fields:
                raise ValueError(f"unsupported field {tok}")
            op, raw = take(), take()
            v = value(raw)
            key = fields[tok]

            def cmp(r):
                x = r[key]
                if op == "eq":
                    return x == v
                if op == "ne":
                    return x != v
                if x is None or v is None:
                    return False
                return {"gt": x > v, "ge": x >= v, "lt": x < v, "le": x <= v}[op]
            return cmp

        def conj():
            left = primary()
            while peek() == "and":
                take()
                right = primary()
                left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
            return left

        def expr():
            left = conj()
            while peek() == "or":
                take()
                right = conj()
                left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
            return left

        return expr()

    def odata(self, form_id: str, query: dict) -> dict:
        q = {k: v[0] for k, v in query.items()}
        with self.lock:
            filt = q.get("$filter")
            include_deleted = bool(filt and "__system/deletedAt" in filt)
            pred = self._filter(filt) if filt else (lambda r: True)
            rows = [r for r in self.submissions.values() if (include_deleted or r["deletedAt"] is None) and pred(r)]
            rows.sort(key=lambda r: (r["createdAt"], r["seq"]), reverse=True)  # createdAt desc, id desc
            token = q.get("$skiptoken")
            if token:
                cursor = json.loads(base64.b64decode(token[2:]))
                rows = [r for r in rows if (r["createdAt"].timestamp(), r["seq"]) < (cursor["t"], cursor["s"])]
            total = len(rows)
            top = int(q["$top"]) if "$top" in q else None
            chunk = rows[:top] if top is not None else rows
            page = {"@odata.context": f"{self.url}/v1/projects/{self.project_id}/forms/{form_id}.svc/$metadata#Submissions",
                    "value": [self.element(r) for r in chunk]}
            if q.get("$count") == "true":
                page["@odata.count"] = total + (0 if not token else 0)
            if top is not None and len(rows) > top:
                last = chunk[-1]
                cursor = "01" + base64.b64encode(json.dumps({"t": last["createdAt"].timestamp(), "s": last["seq"]}).encode()).decode()
                params = {k: v for k, v in q.items() if k not in ("$skiptoken", "$count")}
                params["$skiptoken"] = cursor
                qs = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
                page["@odata.nextLink"] = f"{self.url}/v1/projects/{self.project_id}/forms/{form_id}.svc/Submissions?{qs}"
            if "$expand" not in q:  # without $expand repeats are navigation links only
                for el in page["value"]:
                    for k in [k for k, v in el.items() if isinstance(v, list)]:
                        del el[k]
            return page

    # --- the HTTP handler -------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def date_time_string(self, timestamp=None):
                return format_datetime(fake.now().replace(microsecond=0), usegmt=True)

            # plumbing
            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status: int, body=None, ctype="application/json", fault=None):
                fault = fault or getattr(self, "_fault", None)  # a truncate fault cuts whatever answer is sent
                data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if fault and fault["kind"] == "truncate":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[: max(1, len(data) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(data)

            def _problem(self, status: int, code: float, message: str):
                self._send(status, {"code": code, "message": message})

            def _authed(self) -> bool:
                auth = self.headers.get("Authorization", "")
                return auth.startswith("Bearer ") and auth[7:] in fake.sessions

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_DELETE(self):
                self._dispatch("DELETE")

            def do_PATCH(self):
                self._dispatch("PATCH")

            def _dispatch(self, method: str):
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                logged = re.sub(r"/v1/key/[^/]+", "/v1/key/***", self.path)
                logged = re.sub(r"/v1/sessions/[^/?]+", "/v1/sessions/***", logged)
                with fake.lock:
                    fake.requests.append((method, logged))
                body = self._body()
                fault = fake._take_fault(method, path)
                self._fault = fault
                if fault:
                    kind = fault["kind"]
                    if kind == "drop":
                        self.close_connection = True
                        try:
                            self.connection.shutdown(2)
                        except OSError:
                            pass
                        return
                    if kind in ("500", "502", "503"):
                        return self._problem(int(kind), 500.1, "injected server error")
                    if kind == "slow":
                        time.sleep(fault["delay"])
                try:
                    self._route(method, path, parse_qs(parts.query), body, fault)
                except BrokenPipeError:
                    pass

            def _route(self, method, path, query, body, fault):
                m = re.fullmatch(r"/v1/key/([^/]+)/projects/(\d+)/submission", path)
                if m and method == "POST":
                    return self._openrosa(m.group(1), int(m.group(2)), body)
                if path == "/v1/sessions" and method == "POST":
                    try:
                        creds = json.loads(body)
                    except ValueError:
                        return self._problem(400, 400.1, "Could not parse the request body")
                    if creds.get("email") != fake.email or creds.get("password") != fake.password:
                        return self._problem(401, 401.2, "Could not authenticate with the provided credentials.")
                    token = secrets.token_urlsafe(48)
                    fake.sessions.add(token)
                    return self._send(200, {"token": token, "createdAt": _iso(fake.now()),
                                            "expiresAt": _iso(fake.now() + timedelta(hours=24))})
                m = re.fullmatch(r"/v1/sessions/([^/]+)", path)
                if m and method == "DELETE":
                    if not self._authed():
                        return self._problem(401, 401.2, "Could not authenticate")
                    token = m.group(1)
                    for u in fake.app_users:
                        if u["token"] == token:
                            u["token"] = None
                            return self._send(200, {"success": True})
                    fake.sessions.discard(token)
                    return self._send(200, {"success": True})
                if not self._authed():
                    return self._problem(401, 401.2, "Could not authenticate with the provided credentials.")
                if path == "/v1/users/current":
                    return self._send(200, {"id": 1, "email": fake.email, "displayName": "Officer"})
                m = re.fullmatch(r"/v1/projects/(\d+)(/.*)?", path)
                if not m:
                    return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                if int(m.group(1)) != fake.project_id:
                    return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                if fake.forbidden:
                    return self._problem(403, 403.1, "The authenticated actor does not have rights to perform that action.")
                rest = m.group(2) or ""
                return self._project(method, rest, query, body, fault)

            def _project(self, method, rest, query, body, fault):
                pid = fake.project_id
                if rest == "" and method == "GET":
                    return self._send(200, {"id": pid, "name": "Rà soát"})
                if rest == "/app-users":
                    if method == "GET":
                        return self._send(200, [dict(u) for u in fake.app_users])
                    if method == "POST":
                        name = json.loads(body).get("displayName")
                        with fake.lock:
                            user = {"id": 100 + len(fake.app_users), "displayName": name, "type": "field_key",
                                    "token": secrets.token_urlsafe(48), "projectId": pid, "createdAt": _iso(fake.now())}
                            fake.app_users.append(user)
                        return self._send(200, dict(user))
                if rest == "/forms" and method == "POST":
                    return self._create_form(query, body)
                m = re.fullmatch(r"/forms/([^/]+?)\.svc/Submissions", rest)
                if m and method == "GET":
                    form_id = m.group(1)
                    if form_id not in fake.forms:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    for hook in list(fake._page_hooks):
                        hook(fake, query)
                    try:
                        page = fake.odata(form_id, query)
                    except (ValueError, KeyError) as exc:
                        return self._problem(400, 400.18, f"The OData filter is not supported: {exc}")
                    return self._send(200, page, fault=fault)
                m = re.fullmatch(r"/forms/([^/]+)(/.*)?", rest)
                if not m:
                    return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                form_id, sub = m.group(1), m.group(2) or ""
                form = fake.forms.get(form_id)
                if form is None:
                    return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                return self._form(method, form_id, form, sub, query, body, fault)

            def _create_form(self, query, body):
                try:
                    fd = FormDef(body.decode("utf-8"))
                except (ET.ParseError, AttributeError, IndexError, UnicodeDecodeError):
                    return self._problem(400, 400.2, "The XForm could not be parsed: it is not valid XML.")
                if fd.form_id in fake.forms:
                    return self._problem(409, 409.3, f"A resource already exists with xmlFormId value(s) of {fd.form_id}.")
                form = {"published": None, "draft": fd, "versions": set(), "draft_files": {}, "files": {}, "publishedAt": None}
                fake.forms[fd.form_id] = form
                if query.get("publish", ["false"])[0] == "true":
                    self._publish(fd.form_id, form, None)
                return self._send(200, {"xmlFormId": fd.form_id, "version": fd.version, "projectId": fake.project_id})

            def _publish(self, form_id, form, version):
                fd = form["draft"]
                if version:
                    fd.version = version
                if fd.version in form["versions"]:
                    return False
                form["versions"].add(fd.version)
                form["published"], form["draft"] = fd, None
                form["files"], form["draft_files"] = form["draft_files"], {}
                form["publishedAt"] = _iso(fake.now())
                return True

            def _form(self, method, form_id, form, sub, query, body, fault):
                if sub == "" and method == "GET":
                    pub = form["published"]
                    return self._send(200, {"xmlFormId": form_id, "projectId": fake.project_id,
                                            "version": pub.version if pub else (form["draft"].version if form["draft"] else ""),
                                            "publishedAt": form["publishedAt"], "state": "open"})
                if sub == "/draft":
                    if method == "GET":
                        if form["draft"] is None:
                            return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                        return self._send(200, {"xmlFormId": form_id, "version": form["draft"].version, "draftToken": "d"})
                    if method == "POST":
                        if body:
                            try:
                                fd = FormDef(body.decode("utf-8"))
                            except (ET.ParseError, AttributeError, IndexError):
                                return self._problem(400, 400.2, "The XForm could not be parsed.")
                            if fd.form_id != form_id:
                                return self._problem(400, 400.8, f"The form ID in the XForm ({fd.form_id}) does not match the URL ({form_id}).")
                        else:
                            fd = form["published"]
                        form["draft"] = fd
                        form["draft_files"] = {k: v for k, v in form["files"].items() if k in fd.attachments}
                        return self._send(200, {"success": True})
                if sub == "/draft/attachments" and method == "GET":
                    if form["draft"] is None:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    return self._send(200, [{"name": n, "type": "file", "exists": n in form["draft_files"]}
                                            for n in form["draft"].attachments])
                m = re.fullmatch(r"/draft/attachments/(.+)", sub)
                if m and method == "POST":
                    name = m.group(1)
                    if form["draft"] is None or name not in form["draft"].attachments:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    form["draft_files"][name] = body
                    return self._send(200, {"success": True})
                if sub == "/draft/publish" and method == "POST":
                    if form["draft"] is None:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    if not self._publish(form_id, form, query.get("version", [None])[0]):
                        return self._problem(409, 409.6, "The form version you are trying to publish already exists: "
                                                         "change the version and try again.")
                    return self._send(200, {"success": True})
                if sub == "/assignments/app-user" and method == "GET":
                    return self._send(200, [{"actorId": a, "roleId": 2} for a in sorted(fake.assignments.get(form_id, set()))])
                m = re.fullmatch(r"/assignments/(?:app-user|2)/(\d+)", sub)
                if m and method == "POST":
                    fake.assignments.setdefault(form_id, set()).add(int(m.group(1)))
                    return self._send(200, {"success": True})
                m = re.fullmatch(r"/submissions/([^/]+)/attachments(?:/(.+))?", sub)
                if m and method == "GET":
                    rec = fake.submissions.get(m.group(1))
                    if rec is None:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    if m.group(2) is None:
                        return self._send(200, [{"name": n, "exists": v is not None} for n, v in sorted(rec["attachments"].items())])
                    data = rec["attachments"].get(m.group(2))
                    if data is None:
                        return self._problem(404, 404.1, "Could not find the resource you were looking for.")
                    return self._send(200, data, ctype="application/octet-stream")
                return self._problem(404, 404.1, "Could not find the resource you were looking for.")

            def _openrosa(self, token, pid, body):
                user = next((u for u in fake.app_users if u["token"] == token), None)
                if user is None or pid != fake.project_id:
                    return self._problem(403, 403.1, "The authenticated actor does not have rights to perform that action.")
                xml = multipart_file(self.headers.get("Content-Type", ""), body, "xml_submission_file")
                if xml is None:
                    return self._problem(400, 400.2, "Expected a multipart form with xml_submission_file")
                root = ET.fromstring(xml)
                form_id = root.get("id")
                entry = fake.forms.get(form_id)
                if entry is None or entry["published"] is None:
                    return self._problem(404, 404.1, "Could not find the form you were trying to submit to.")
                if not any(a == user["id"] for a in fake.assignments.get(form_id, set())):
                    return self._problem(403, 403.1, "The authenticated actor does not have rights to perform that action.")
                fd = entry["published"]
                data, instance_id, _ = fd.to_json(xml)
                with fake.lock:
                    if instance_id in fake.submissions:
                        return self._problem(409, 409.3, f"A resource already exists with instanceID value(s) of {instance_id}.")
                    element = dict(data, __id=instance_id, __system={"submitterId": str(user["id"]),
                                                                     "submitterName": user["displayName"],
                                                                     "formVersion": root.get("version") or fd.version})
                    fake.add_element(element)
                self.send_response(201)
                self.send_header("Content-Type", "text/xml")
                reply = b'<OpenRosaResponse xmlns="http://openrosa.org/http/response"><message>full submission</message></OpenRosaResponse>'
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("X-OpenRosa-Version", "1.0")
                self.end_headers()
                self.wfile.write(reply)

        return Handler
