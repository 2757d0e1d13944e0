"""ODK Central: the server the commune's phones send to.

pyodk's `Client` (the official client) owns the session, the login and the token cache; this
module opens a fresh one per command run (Central sessions last 24 h and pyodk never logs in
again), mounts timeouts on http:// and https://, and sends everything pyodk lacks through the
same session with `http.send` (retries, clear errors): OData paging that follows
`@odata.nextLink`, app users, assignments, draft attachments, attachment downloads.

Pure planning first, server calls second: `plan_deploy` decides create / update / resume /
nothing from what the server says, and is tested on its own.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import requests

from . import RawSubmission, SourceProblem
from .folder import odata_element
from .http import RetryPolicy, ServerError, Where, install_log_redaction, mount_timeouts, register_secret, send

ENV_URL, ENV_USER, ENV_PASSWORD, ENV_PROJECT = (
    "RASOAT_CENTRAL_URL", "RASOAT_CENTRAL_USER", "RASOAT_CENTRAL_PASSWORD", "RASOAT_CENTRAL_PROJECT")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class CentralTarget:
    """Where and as whom: resolved from config, environment and pyodk's config file."""

    url: str  # origin, e.g. https://central.example.org (no /v1)
    project_id: int
    form_id: str
    username: str
    password: str = field(repr=False)
    project_name: str = ""

    @property
    def where(self) -> Where:
        return Where(self.url, str(self.project_id), self.form_id, "ODK Central")


def _pyodk_config() -> dict:
    """[central] of pyodk's config file (PYODK_CONFIG_FILE or ~/.pyodk_config.toml), {} when there is none."""
    from pyodk._utils.config import get_config_path

    path = get_config_path()
    if not Path(path).is_file():
        return {}
    import toml

    try:
        data = toml.load(path)
    except (OSError, toml.TomlDecodeError) as exc:
        raise ServerError(f"không đọc được tệp cấu hình pyodk {path}: {exc}") from None
    central = data.get("central")
    return central if isinstance(central, dict) else {}


def resolve_target(server, form_id: str, environ: dict | None = None) -> CentralTarget:
    """The Central target of `settings.server`: url and project from config, else the environment,
    else pyodk's config file; user and password from the environment or pyodk's config only."""
    env = os.environ if environ is None else environ
    pyodk = _pyodk_config()
    url = (server.url or env.get(ENV_URL) or str(pyodk.get("base_url") or "")).strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    project = server.project_id or env.get(ENV_PROJECT) or pyodk.get("default_project_id")
    user = env.get(ENV_USER) or str(pyodk.get("username") or "")
    password = env.get(ENV_PASSWORD) or str(pyodk.get("password") or "")
    missing = [what for what, value in (("địa chỉ máy chủ / server URL (server.url, RASOAT_CENTRAL_URL)", url),
                                        ("mã dự án / project id (server.project_id, RASOAT_CENTRAL_PROJECT)", project),
                                        ("tài khoản / user (RASOAT_CENTRAL_USER)", user),
                                        ("mật khẩu / password (RASOAT_CENTRAL_PASSWORD)", password)) if not value]
    if missing:
        raise ServerError("thiếu cấu hình ODK Central: " + "; ".join(missing)
                          + ". Đặt biến môi trường hoặc dùng ~/.pyodk_config.toml (xem docs/servers.md).")
    try:
        project_id = int(project)
    except (TypeError, ValueError):
        raise ServerError(f"mã dự án ODK Central phải là số, không phải {project!r}") from None
    register_secret(password)
    return CentralTarget(url=url, project_id=project_id, form_id=form_id or server.form_id,
                         username=user, password=password, project_name=server.project_name)


# --- the deploy plan (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class DeployPlan:
    action: str  # "create" | "update" | "resume" | "nothing"
    steps: tuple[str, ...]
    version: str

    @property
    def writes(self) -> bool:
        return self.action != "nothing"


def plan_deploy(local_version: str, form: dict | None, draft: dict | None) -> DeployPlan:
    """What `forms deploy` must do, from the form (GET .../forms/{id}, None if 404) and its draft.

    * no form: create it as a draft, upload the attachments, publish;
    * the published version is ours: nothing (deploying an unchanged form writes nothing);
    * a draft of our version is waiting (an earlier deploy stopped half-way): attachments, publish;
    * otherwise: a new draft with our XML, the attachments, publish.
    """
    published = (form or {}).get("version") if (form or {}).get("publishedAt") else None
    if form is None:
        return DeployPlan("create", ("create draft", "upload attachments", "publish"), local_version)
    if published == local_version:
        return DeployPlan("nothing", (), local_version)
    if draft is not None and draft.get("version") == local_version:
        return DeployPlan("resume", ("upload attachments", "publish"), local_version)
    return DeployPlan("update", ("new draft", "upload attachments", "publish"), local_version)


# --- the session ------------------------------------------------------------------------------


class Central:
    """One command run's connection to Central: a fresh pyodk Client, logged in once."""

    def __init__(self, target: CentralTarget, policy: RetryPolicy | None = None):
        from pyodk._utils.config import CentralConfig, Config, get_cache_path
        from pyodk._utils.session import Session
        from pyodk.client import Client

        install_log_redaction()
        self.target = target
        self.policy = policy or RetryPolicy()
        self.where = target.where
        session = Session(base_url=target.url, api_version="v1", username=target.username,
                          password=target.password, cache_path=get_cache_path())
        mount_timeouts(session, self.policy)
        session.headers["Accept-Encoding"] = "gzip, deflate"
        config = Config(central=CentralConfig(base_url=target.url, username=target.username,
                                              password=target.password, default_project_id=target.project_id))
        self.client = Client(config=config, session=session, project_id=target.project_id)
        self.session = session
        self.requests = 0  # requests sent after the login, for the "nothing new costs one request" promise
        self.server_seconds = 0.0

    # lifecycle: log in with retries and a clear message
    def __enter__(self) -> "Central":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def open(self) -> None:
        from pyodk.errors import PyODKError

        for attempt in range(1, self.policy.attempts + 1):
            try:
                self.client.open()
                token = self.session.headers.get("Authorization", "")
                register_secret(token.partition(" ")[2])
                return
            except requests.RequestException:
                failure = "lỗi mạng / network error"
            except PyODKError as exc:
                response = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], requests.Response) else None
                if response is None or response.status_code < 500:
                    if response is not None and response.status_code in (400, 401, 403):
                        from .http import status_error

                        response.status_code = 401 if response.status_code == 400 else response.status_code
                        raise status_error(response, Where(self.target.url, kind="ODK Central"),
                                           "đăng nhập / logging in") from None
                    raise ServerError(f"{Where(self.target.url)}: đăng nhập không được / login failed "
                                      f"({exc.args[0] if exc.args else exc})") from None
                failure = f"{response.status_code}"
            if attempt < self.policy.attempts:
                self.policy.sleep(self.policy.delay(attempt))
        raise ServerError(f"{Where(self.target.url)}: không kết nối được để đăng nhập ({failure}). "
                          "Could not reach the server; try again later.")

    # every call goes through here
    def call(self, method: str, path: str, action: str, **kwargs: Any) -> requests.Response:
        import time

        started = time.perf_counter()
        response = None
        try:
            response = send(self.session, method, path, self.where, action, self.policy, **kwargs)
            return response
        finally:
            self.requests += 1
            # our own JSON parsing is not the server's time
            self.server_seconds += time.perf_counter() - started - getattr(response, "parse_seconds", 0.0)

    @property
    def form_path(self) -> str:
        return f"projects/{self.target.project_id}/forms/{quote(self.target.form_id, safe='')}"

    # --- forms ------------------------------------------------------------------------------

    def form_state(self) -> tuple[dict | None, dict | None]:
        form = self.call("GET", self.form_path, "đọc phiếu / reading the form", allow=(404,))
        if form.status_code == 404:
            self.call("GET", f"projects/{self.target.project_id}", "đọc dự án / reading the project")  # a missing project fails here
            return None, None
        draft = self.call("GET", f"{self.form_path}/draft", "đọc bản nháp / reading the draft", allow=(404,))
        return form.json(), (draft.json() if draft.status_code == 200 else None)

    def deploy(self, plan: DeployPlan, xform: str, attachments: dict[str, bytes]) -> None:
        """Carry out a plan: draft (create or new), attachments, publish. Shows the server's refusals."""
        if plan.action == "nothing":
            return
        body = xform.encode("utf-8")
        headers = {"Content-Type": "application/xml"}
        if plan.action == "create":
            self.call("POST", f"projects/{self.target.project_id}/forms?ignoreWarnings=true&publish=false",
                      "tạo phiếu / creating the form", data=body, headers=headers)
        elif plan.action == "update":
            self.call("POST", f"{self.form_path}/draft?ignoreWarnings=true", "tải bản nháp mới / uploading a new draft",
                      data=body, headers=headers)
        expected = self.call("GET", f"{self.form_path}/draft/attachments", "đọc tệp đính kèm / listing attachments").json()
        slots = {a.get("name") for a in expected if isinstance(a, dict)}
        for name, content in sorted(attachments.items()):
            if name not in slots:
                continue  # the form does not use it
            self.call("POST", f"{self.form_path}/draft/attachments/{quote(name, safe='')}",
                      f"tải tệp đính kèm {name} / uploading {name}", data=content,
                      headers={"Content-Type": "text/csv" if name.endswith(".csv") else "application/octet-stream"},
                      idempotent=True)
        response = self.call("POST", f"{self.form_path}/draft/publish", "công bố phiếu / publishing", allow=(409,))
        if response.status_code == 409:
            from .http import server_message

            raise ServerError(
                f"{self.where}: máy chủ đã có phiên bản {plan.version} của phiếu (409) nên không công bố lại được. "
                f"Chạy lại `rasoat forms build` để có phiên bản mới rồi deploy. Server said: {server_message(response)}",
                status=409)

    # --- app users --------------------------------------------------------------------------

    def app_users(self) -> list[dict]:
        return self.call("GET", f"projects/{self.target.project_id}/app-users", "đọc danh sách điều tra viên / listing app users").json()

    def assigned_actor_ids(self) -> set[int]:
        rows = self.call("GET", f"{self.form_path}/assignments/app-user", "đọc phân quyền / listing assignments").json()
        return {int(r.get("actorId", r.get("id"))) for r in rows if isinstance(r, dict)}

    def create_app_user(self, display_name: str) -> dict:
        user = self.call("POST", f"projects/{self.target.project_id}/app-users", "tạo điều tra viên / creating an app user",
                         json={"displayName": display_name}).json()
        register_secret(user.get("token"))
        return user

    def assign(self, actor_id: int) -> None:
        self.call("POST", f"{self.form_path}/assignments/app-user/{int(actor_id)}", "giao phiếu / assigning the form",
                  idempotent=True, allow=(409,))

    def revoke(self, token: str) -> None:
        self.call("DELETE", f"sessions/{quote(token, safe='')}", "thu hồi quyền / revoking", allow=(404,))

    # --- submissions ------------------------------------------------------------------------

    def odata_url(self, params: dict[str, str]) -> str:
        return f"{self.form_path}.svc/Submissions?{urlencode(params, safe='$*,/:', quote_via=quote)}"

    def odata_pages(self, url: str) -> Iterator[tuple[dict, requests.Response]]:
        """Every page from `url` on, following `@odata.nextLink` (pyodk's get_table does not)."""
        while url:
            response = self.call("GET", url, "đọc bài nộp / reading submissions", parse_json=True)
            page = response.parsed  # type: ignore[attr-defined]
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ServerError(f"{self.where}: câu trả lời OData không đúng dạng / not an OData page")
            yield page, response
            url = page.get("@odata.nextLink") or ""

    def download_attachments(self, element: dict, folder: Path) -> int:
        """Save the media of one submission under folder/<submission>/<version>/; returns files written."""
        sid = element.get("__id")
        instance = (element.get("meta") or {}).get("instanceID") or sid
        target = folder / _safe(sid) / _safe(instance)
        listing = self.call("GET", f"{self.form_path}/submissions/{quote(sid, safe='')}/attachments",
                            "đọc tệp đính kèm / listing attachments", allow=(404,))
        if listing.status_code == 404:
            return 0
        written = 0
        for item in listing.json():
            name = item.get("name") if isinstance(item, dict) else None
            if not name or not item.get("exists") or (target / _safe(name)).exists():
                continue
            data = self.call("GET", f"{self.form_path}/submissions/{quote(sid, safe='')}/attachments/{quote(name, safe='')}",
                             f"tải tệp {name} / downloading {name}").content
            target.mkdir(parents=True, exist_ok=True)
            tmp = target / f".{_safe(name)}.part"
            tmp.write_bytes(data)
            os.replace(tmp, target / _safe(name))
            written += 1
        return written


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:120] or "_"


def raw_of(element: dict, form_id: str, source: str) -> RawSubmission | SourceProblem:
    """An OData element as received → RawSubmission (the same conversion as exports in a folder)."""
    return odata_element(element, form_id, source)


# --- OpenRosa submission, as ODK Collect sends it ------------------------------------------


def submission_xml(sub: dict, questionnaire, version: str | None = None, root: str = "data") -> bytes:
    """One synthetic household (pipeline.synthetic's neutral dict) as the submission XML Collect sends."""
    from rasoat.pipeline.synthetic import _xml_text

    q = questionnaire
    top = ET.Element(root, {"id": q.form_id, "version": version or q.version})
    repeat = q.member_repeat

    def place(parent: ET.Element, groups: tuple[str, ...]) -> ET.Element:
        node = parent
        for g in groups:
            found = node.find(g)
            node = found if found is not None else ET.SubElement(node, g)
        return node

    answers = sub["answers"]
    members_done = False
    for f in q.fields:
        if f.repeat == repeat:
            if not members_done:
                members_done = True
                for m in sub["members"]:
                    item = ET.SubElement(top, repeat)
                    for mf in q.member_fields:
                        ET.SubElement(place(item, mf.groups), mf.name).text = _xml_text(m.get(mf.name))
            continue
        if f.repeat is not None:
            continue
        ET.SubElement(place(top, f.groups), f.name).text = _xml_text(answers.get(f.name))
    meta = ET.SubElement(top, "meta")
    ET.SubElement(meta, "instanceID").text = sub.get("instance_id") or f"uuid:{uuid.uuid4()}"
    if sub.get("deprecated_id"):
        ET.SubElement(meta, "deprecatedID").text = sub["deprecated_id"]
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def openrosa_session(policy: RetryPolicy) -> requests.Session:
    session = requests.Session()
    mount_timeouts(session, policy)
    session.headers.update({"X-OpenRosa-Version": "1.0", "User-Agent": "rasoat-simulate (like org.odk.collect.android)"})
    return session


def submit_openrosa(session: requests.Session, target: CentralTarget, token: str, xml: bytes, policy: RetryPolicy) -> bool:
    """POST one submission to /v1/key/{token}/projects/{pid}/submission; True if new, False if already there.

    Safe to retry: Central keys submissions by instanceID and refuses a second copy with 409.
    """
    register_secret(token)
    url = f"{target.url}/v1/key/{token}/projects/{target.project_id}/submission"
    files = {"xml_submission_file": ("submission.xml", xml, "text/xml")}
    response = send(session, "POST", url, Where(target.url, str(target.project_id), target.form_id),
                    "gửi bài nộp / submitting", policy, files=files, ok=(200, 201, 202), allow=(409,), idempotent=True)
    return response.status_code != 409
