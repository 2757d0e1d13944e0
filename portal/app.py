"""The portal's web application (Starlette). Handlers stay thin: the rules live in `access`,
`security`, `pubs`, `charts`, `rerun` and `store`.

URLs (Vietnamese words, ASCII):

=====================================  ===========================================================
``/dang-nhap``, ``/dang-xuat``          sign in, sign out
``/cong-bo``                            the publications, with each manifest's key facts
``/cong-bo/<id>``                       a publication's files, filtered by role
``/cong-bo/<id>/chat-luong``            its quality report (officers, hamlet heads)
``/tai/<id>/<path>``                    download a file (logged)
``/xem/<id>/<path>``                    view an HTML report in the browser, sandboxed (logged)
``/tong-quan``                          dashboard of the current publication (SVG charts)
``/sua-loi``, ``/sua-loi/<n>``          upload corrections and start a rerun; its status and diff
``/nhat-ky``                            the audit log (commune officers)
=====================================  ===========================================================
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import urllib.parse
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rasoat.portal import access, charts, pubs, security
from rasoat.portal.rerun import MAX_UPLOAD_BYTES, RerunRunner, check_upload, install_corrections
from rasoat.portal.store import PortalStore, Session, normalise_name

__all__ = ["PortalConfig", "Portal", "create_app", "SESSION_COOKIE"]

HERE = Path(__file__).parent
server_log = logging.getLogger("rasoat.portal")
SESSION_COOKIE = "rasoat_session"
PRE_COOKIE = "rasoat_csrf"  # double-submit token for the sign-in form (no session yet)
MAX_SESSION_SECONDS = 24 * 3600
_TOUCH_EVERY = 30.0
_MEDIA = {".csv": "text/csv; charset=utf-8", ".html": "text/html; charset=utf-8",
          ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".pdf": "application/pdf",
          ".json": "application/json"}
_PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
             "base-uri 'none'")
_REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"

FILE_LABELS = {
    "ho-ngheo": "Danh sách hộ nghèo (có CCCD, số điện thoại — không niêm yết)",
    "ho-can-ngheo": "Danh sách hộ cận nghèo (có CCCD, số điện thoại — không niêm yết)",
    "ho-muc-song-trung-binh": "Danh sách hộ có mức sống trung bình",
    "thanh-vien": "Thành viên các hộ trong danh sách (có CCCD — không niêm yết; cho giấy chứng nhận)",
    "niem-yet-ho-ngheo": "Danh sách niêm yết công khai hộ nghèo",
    "niem-yet-ho-can-ngheo": "Danh sách niêm yết công khai hộ cận nghèo",
    "bang-chi-so": "Bảng chỉ số (tất cả bảng tổng hợp)",
    "ty-le-theo-ap": "Tỷ lệ hộ nghèo, cận nghèo theo ấp",
    "thieu-hut-theo-chi-so": "Thiếu hụt theo chỉ số",
    "tien-do-muc-tieu": "Tiến độ thực hiện mục tiêu",
    "ho-cho-xu-ly": "Hộ chờ xử lý (lỗi dữ liệu, trùng hộ)",
    "kiem-tra-du-lieu": "Kiểm tra dữ liệu (danh sách lỗi)",
    "bao-cao-chat-luong": "Báo cáo chất lượng dữ liệu",
    "sua-loi-da-ghi-nhan": "Sửa lỗi đã ghi nhận",
    "thay-doi-so-voi-lan-truoc": "Thay đổi phân loại so với lần trước",
    "households": "Dữ liệu hộ (máy đọc, cho lần rà soát sau)",
}


@dataclass
class PortalConfig:
    data_dir: Path
    config_dir: Path | None = None
    session_idle_seconds: float = 8 * 3600
    behind_proxy: bool = False
    clock: Callable[[], float] = time.time
    flow: Callable | None = None  # the review flow; tests may pass a stand-in
    hamlet_names: dict[str, str] = field(default_factory=dict)
    time_zone: str = "Asia/Ho_Chi_Minh"


class Portal:
    """What the handlers share: the configuration, the database, the throttle, the rerun runner."""

    def __init__(self, cfg: PortalConfig) -> None:
        self.cfg = cfg
        self.data_dir = Path(cfg.data_dir).resolve()
        self.publications = self.data_dir / "publications"
        self.store = PortalStore.for_data_dir(self.data_dir)
        self.throttle = security.LoginThrottle(clock=cfg.clock)
        self.runner = RerunRunner(self.store, self.data_dir, cfg.config_dir, clock=cfg.clock, flow=cfg.flow)
        self.store.fail_unfinished_reruns(cfg.clock())
        try:
            self.tz = zoneinfo.ZoneInfo(cfg.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.tz = dt.timezone(dt.timedelta(hours=7))
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.globals.update(role_labels=access.ROLE_LABELS, fmt=charts.fmt, file_label=file_label,
                           hamlet_names=cfg.hamlet_names)
        env.filters["local_time"] = self.local_time

    def now(self) -> float:
        return self.cfg.clock()

    def local_time(self, value) -> str:
        if value in (None, ""):
            return ""
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
        else:
            moment = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
        return moment.astimezone(self.tz).strftime("%d/%m/%Y %H:%M")

    # --- requests -----------------------------------------------------------------------------

    def https(self, request: Request) -> bool:
        return security.request_is_https(request.url.scheme, request.headers, self.cfg.behind_proxy)

    def client(self, request: Request) -> str:
        return security.client_address(request.client.host if request.client else None, request.headers, self.cfg.behind_proxy)

    def set_cookie(self, response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(name, value, httponly=True, samesite="lax", secure=self.https(request), path="/")

    def session_of(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token or len(token) > 100:
            return None
        digest = security.token_digest(token)
        session = self.store.get_session(digest)
        if session is None:
            return None
        now = self.now()
        if session.user.disabled or security.session_expired(session.last_seen, session.created_at, now,
                                                             self.cfg.session_idle_seconds, MAX_SESSION_SECONDS):
            self.store.end_session(digest)
            return None
        if now - session.last_seen >= _TOUCH_EVERY:
            self.store.touch_session(digest, now)
        return session

    def log(self, request: Request, user: str | None, action: str, target: str | None, outcome: str, detail: str | None = None) -> None:
        self.store.log(self.now(), user, action, target, outcome, self.client(request), detail)

    def render(self, request: Request, name: str, context: dict, status_code: int = 200, headers: dict | None = None) -> Response:
        session: Session | None = getattr(request.state, "session", None)
        who = session.user.principal if session else None
        base = {"session": session, "user": who, "csrf": session.csrf if session else "",
                "may": (lambda action: who is not None and access.may(who, action)),
                "current_id": pubs.current_id(self.publications)}
        response = self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code, headers=headers)
        response.headers["Cache-Control"] = "no-store"
        return response

    def error(self, request: Request, status: int, message: str) -> Response:
        titles = {400: "Yêu cầu không hợp lệ", 403: "Không có quyền", 404: "Không tìm thấy", 409: "Đang bận",
                  413: "Tệp quá lớn", 429: "Tạm khóa"}
        return self.render(request, "error.html", {"title": titles.get(status, "Lỗi"), "message": message}, status_code=status)


def file_label(relpath: str) -> str:
    name = relpath.rsplit("/", 1)[-1]
    stem, _, ext = name.rpartition(".")
    label = FILE_LABELS.get(stem) or next((v for k, v in FILE_LABELS.items() if stem.startswith(k)), stem)
    return f"{label} ({ext.upper()})" if ext else label


def _portal(request: Request) -> Portal:
    return request.app.state.portal


def page(action: str | None = None):
    """Signed-in users only (and `action` allowed for their role); POST forms must carry the CSRF token."""

    def decorate(handler):
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            portal = _portal(request)
            session = await run_in_threadpool(portal.session_of, request)
            if session is None:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse("/dang-nhap?" + urllib.parse.urlencode({"tiep": target}), status_code=303)
                return RedirectResponse("/dang-nhap", status_code=303)
            request.state.session = session
            if action and not access.may(session.user.principal, action):
                return portal.error(request, 403, "Vai trò của bạn không được xem trang này.")
            if request.method == "POST":
                form = await request.form(max_files=1, max_fields=20)
                if not security.csrf_ok(session.csrf, form.get("csrf") if isinstance(form.get("csrf"), str) else None):
                    return portal.error(request, 403, "Biểu mẫu đã hết hạn hoặc không hợp lệ. Tải lại trang rồi thử lại.")
            return await handler(request, portal, session)

        return endpoint

    return decorate


# --- sign in / out ------------------------------------------------------------------------------


def _login_page(request: Request, portal: Portal, message: str | None, status: int, next_url: str, name: str = "") -> Response:
    token = security.new_token()
    response = portal.render(request, "login.html", {"message": message, "next": next_url, "login_csrf": token, "name": name},
                             status_code=status)
    portal.set_cookie(response, request, PRE_COOKIE, token)
    return response


async def sign_in_form(request: Request) -> Response:
    portal = _portal(request)
    if await run_in_threadpool(portal.session_of, request):
        return RedirectResponse("/", status_code=303)
    return _login_page(request, portal, None, 200, access.safe_next(request.query_params.get("tiep")))


async def sign_in(request: Request) -> Response:
    portal = _portal(request)
    form = await request.form(max_files=0, max_fields=10)
    next_url = access.safe_next(str(form.get("tiep") or ""))
    name = normalise_name(str(form.get("ten") or ""))[:64]
    password = str(form.get("mat_khau") or "")
    if not security.csrf_ok(request.cookies.get(PRE_COOKIE), str(form.get("csrf") or "")):
        return _login_page(request, portal, "Biểu mẫu đã hết hạn. Vui lòng đăng nhập lại.", 400, next_url, name)
    client = portal.client(request)
    keys = (("user", name), ("addr", client))
    wait = portal.throttle.retry_after(*keys)
    if wait > 0:
        portal.log(request, name or None, "sign_in", None, "rate_limited")
        minutes = max(1, int(wait // 60) + (1 if wait % 60 else 0))
        return _login_page(request, portal, f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.", 429, next_url, name)
    user = portal.store.get_user(name) if name else None
    ok = await run_in_threadpool(security.verify_password, user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        portal.throttle.failure(*keys)
        portal.log(request, name or None, "sign_in", None, "disabled" if (ok and user and user.disabled) else "failed")
        message = ("Tài khoản này đã bị khóa. Liên hệ cán bộ xã." if ok and user and user.disabled
                   else "Tên đăng nhập hoặc mật khẩu không đúng.")
        return _login_page(request, portal, message, 401, next_url, name)
    portal.throttle.success(("user", name))
    if security.needs_rehash(user.password_hash):
        new_hash = await run_in_threadpool(security.hash_password, password)
        portal.store.set_password(user.name, new_hash, portal.now(), end_sessions=False)
    token = security.new_token()
    portal.store.create_session(user.id, security.token_digest(token), security.new_token(), portal.now())
    portal.log(request, user.name, "sign_in", None, "ok")
    response = RedirectResponse(next_url, status_code=303)
    portal.set_cookie(response, request, SESSION_COOKIE, token)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@page()
async def sign_out(request: Request, portal: Portal, session: Session) -> Response:
    portal.store.end_session(session.token_sha256)
    portal.log(request, session.user.name, "sign_out", None, "ok")
    response = RedirectResponse("/dang-nhap", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- publications -------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    return RedirectResponse("/tong-quan", status_code=303)


@page("publications")
async def publications(request: Request, portal: Portal, session: Session) -> Response:
    items = await run_in_threadpool(pubs.list_publications, portal.publications)
    return portal.render(request, "publications.html", {"items": items})


def _publication(portal: Portal, publication_id: str) -> pubs.PublicationInfo | None:
    folder = access.resolve_publication(portal.publications, publication_id)
    return pubs.publication_info(folder, pubs.current_id(portal.publications)) if folder else None


def _grouped(portal: Portal, who: access.Principal, files: list[str]) -> tuple[list[str], list[tuple[str, str, list[str]]]]:
    visible = access.visible_files(who, files)
    commune = [f for f in visible if f.startswith("commune/")]
    by_hamlet: dict[str, list[str]] = {}
    for f in visible:
        if f.startswith("hamlets/"):
            by_hamlet.setdefault(f.split("/")[1], []).append(f)
    hamlets = [(code, portal.cfg.hamlet_names.get(code, code), by_hamlet[code]) for code in sorted(by_hamlet)]
    return commune, hamlets


@page("publications")
async def publication(request: Request, portal: Portal, session: Session) -> Response:
    info = _publication(portal, request.path_params["pub"])
    if info is None:
        return portal.error(request, 404, "Không có công bố này.")
    files = await run_in_threadpool(pubs.publication_files, info.path)
    commune, hamlets = _grouped(portal, session.user.principal, files)
    quality = [f for f in access.visible_files(session.user.principal, files) if access.is_quality_report(f)]
    return portal.render(request, "publication.html", {"info": info, "commune": commune, "hamlets": hamlets,
                                                       "has_quality": bool(quality)})


@page("quality")
async def quality(request: Request, portal: Portal, session: Session) -> Response:
    info = _publication(portal, request.path_params["pub"])
    if info is None:
        return portal.error(request, 404, "Không có công bố này.")
    files = await run_in_threadpool(pubs.publication_files, info.path)
    reports = [f for f in files if access.is_quality_report(f)]
    commune, hamlets = _grouped(portal, session.user.principal, reports)
    return portal.render(request, "quality.html", {"info": info, "commune": commune, "hamlets": hamlets})


@page("quality")
async def quality_current(request: Request, portal: Portal, session: Session) -> Response:
    current = pubs.current_id(portal.publications)
    if current is None:
        return portal.error(request, 404, "Chưa có công bố nào.")
    return RedirectResponse(f"/cong-bo/{current}/chat-luong", status_code=303)


async def _serve_file(request: Request, portal: Portal, session: Session, inline: bool) -> Response:
    publication_id, relpath = request.path_params["pub"], request.path_params["path"]
    who = session.user.principal
    action = "view" if inline else "download"
    target = f"{publication_id}/{relpath}"[:300]
    if access.raw_path_suspicious(request.scope.get("raw_path")) or access.split_relpath(relpath) is None:
        portal.log(request, who.name, action, target, "invalid")
        return portal.error(request, 400, "Đường dẫn không hợp lệ.")
    if not access.may_read(who, relpath):
        portal.log(request, who.name, action, target, "denied")
        return portal.error(request, 403, "Bạn không có quyền tải tệp này.")
    folder = access.resolve_publication(portal.publications, publication_id)
    path = access.resolve_file(folder, relpath) if folder else None
    if path is None or (inline and path.suffix != ".html"):
        portal.log(request, who.name, action, target, "not_found")
        return portal.error(request, 404, "Không có tệp này.")
    portal.log(request, who.name, action, target, "ok")
    parts = relpath.split("/")
    download_name = f"{parts[1]}-{parts[2]}" if parts[0] == "hamlets" else parts[-1]
    media = _MEDIA.get(path.suffix, "application/octet-stream")
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if inline:
        headers["Content-Security-Policy"] = _REPORT_CSP
        return FileResponse(path, media_type=media, headers=headers)
    return FileResponse(path, media_type=media, filename=download_name, headers=headers)


@page()
async def download(request: Request, portal: Portal, session: Session) -> Response:
    return await _serve_file(request, portal, session, inline=False)


@page("quality")
async def view(request: Request, portal: Portal, session: Session) -> Response:
    return await _serve_file(request, portal, session, inline=True)


# --- dashboard ------------------------------------------------------------------------------


@page("dashboard")
async def dashboard(request: Request, portal: Portal, session: Session) -> Response:
    wanted = request.query_params.get("cb") or pubs.current_id(portal.publications)
    info = _publication(portal, wanted) if wanted else None
    if info is None:
        return portal.render(request, "dashboard.html", {"info": None})

    def gather():
        rates = pubs.hamlet_rates(info.path)
        targets = pubs.target_progress(info.path)
        has_changes = pubs.changes_csv(info.path) is not None
        return rates, targets, (pubs.movements(info.path) if has_changes else None), pubs.movement_table(info.path)

    rates, targets, moves, movement_table = await run_in_threadpool(gather)
    hamlet_rows = [r for r in rates if r["code"]]
    commune_row = next((r for r in rates if not r["code"]), None)
    rate_chart = charts.grouped_bars(
        "Tỷ lệ hộ nghèo, cận nghèo theo ấp (%)",
        [(r["name"], [r["poor_rate"], r["near_poor_rate"]]) for r in hamlet_rows],
        [("Hộ nghèo", "bar-poor"), ("Hộ cận nghèo", "bar-near")],
    ) if hamlet_rows else None
    target_chart = charts.target_bars("Tiến độ so với mục tiêu", [t for t in targets if t["result"] is not None]) if targets else None
    return portal.render(request, "dashboard.html", {"info": info, "rates": hamlet_rows, "commune_row": commune_row,
                                                     "rate_chart": rate_chart, "targets": targets, "target_chart": target_chart,
                                                     "movements": moves, "movement_table": movement_table})


# --- corrections and reruns -----------------------------------------------------------------


def _corrections_files(portal: Portal) -> list[tuple[str, int, float]]:
    folder = portal.data_dir / "corrections"
    if not folder.is_dir():
        return []
    return [(p.name, p.stat().st_size, p.stat().st_mtime) for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.is_file() and p.name.startswith("corrections")]


def _corrections_page(request: Request, portal: Portal, message: str | None = None, status: int = 200) -> Response:
    return portal.render(request, "corrections.html", {"files": _corrections_files(portal), "reruns": portal.store.list_reruns(20),
                                                       "busy": portal.runner.busy(), "message": message,
                                                       "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024)}, status_code=status)


@page("upload")
async def corrections_form(request: Request, portal: Portal, session: Session) -> Response:
    return _corrections_page(request, portal)


@page("upload")
async def corrections_upload(request: Request, portal: Portal, session: Session) -> Response:
    form = await request.form()
    upload = form.get("tep")
    user = session.user.name
    if not isinstance(upload, UploadFile) or not upload.filename:
        portal.log(request, user, "upload", None, "invalid", "no file")
        return _corrections_page(request, portal, "Chưa chọn tệp.", 400)
    filename = Path(upload.filename.replace("\\", "/")).name[:120]
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    problem = await run_in_threadpool(check_upload, filename, data)
    if problem:
        portal.log(request, user, "upload", filename, "invalid", problem)
        return _corrections_page(request, portal, problem, 400)
    if not portal.runner.claim():
        portal.log(request, user, "upload", filename, "busy")
        return _corrections_page(request, portal, "Đang chạy lại từ lần tải trước; vui lòng đợi xong rồi tải lên lại.", 409)
    try:
        now = portal.now()
        stored, kept = await run_in_threadpool(install_corrections, portal.data_dir / "corrections", filename, data, now)
        previous = pubs.current_id(portal.publications)
        year = _publication(portal, previous).reference_year if previous else None
        rerun_id = portal.store.start_rerun(user, now, filename, stored.name, previous)
    except BaseException:
        portal.runner.release()
        raise
    portal.runner.start(rerun_id, year)
    portal.log(request, user, "upload", filename, "ok", f"saved as {stored.name}; kept {', '.join(p.name for p in kept) or '-'}; "
                                                         f"rerun {rerun_id}")
    return RedirectResponse(f"/sua-loi/{rerun_id}", status_code=303)


@page("changes")
async def rerun_status(request: Request, portal: Portal, session: Session) -> Response:
    try:
        rerun_id = int(request.path_params["n"])
    except ValueError:
        return portal.error(request, 404, "Không có lần chạy này.")
    row = portal.store.get_rerun(rerun_id)
    if row is None:
        return portal.error(request, 404, "Không có lần chạy này.")
    changes = audit_table = None
    changes_path = None
    new_pub = _publication(portal, row.publication) if row.status == "done" and row.publication else None
    if new_pub is not None:
        rel = pubs.changes_csv(new_pub.path)
        if rel:
            changes_path = rel
            changes = await run_in_threadpool(pubs.read_csv, access.resolve_file(new_pub.path, rel), 2000)
        audit_file = access.resolve_file(new_pub.path, "commune/sua-loi-da-ghi-nhan.csv")
        if audit_file:
            audit_table = await run_in_threadpool(pubs.read_csv, audit_file, 2000)
    return portal.render(request, "rerun.html", {"row": row, "new_pub": new_pub, "changes": changes, "changes_path": changes_path,
                                                 "audit_table": audit_table})


# --- audit log ------------------------------------------------------------------------------


@page("audit")
async def audit_log(request: Request, portal: Portal, session: Session) -> Response:
    try:
        page_no = max(1, int(request.query_params.get("trang", "1")))
    except ValueError:
        page_no = 1
    per_page = 100
    rows = portal.store.audit_rows(per_page, (page_no - 1) * per_page)
    total = portal.store.audit_count()
    return portal.render(request, "audit.html", {"rows": rows, "page_no": page_no, "has_next": page_no * per_page < total,
                                                 "total": total})


# --- the application ------------------------------------------------------------------------


class SecurityHeaders:
    """Adds the security headers every response needs (unless the handler set its own)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for key, value in (("Content-Security-Policy", _PAGE_CSP), ("X-Content-Type-Options", "nosniff"),
                                   ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer")):
                    if key not in headers:
                        headers[key] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # The exception's text may quote data; the server log gets its type and place only.
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else "?"
            server_log.error("portal: unexpected %s at %s", type(exc).__name__, where)
            if started:
                raise
            body = "Lỗi máy chủ. Vui lòng thử lại; nếu vẫn lỗi, báo cán bộ phụ trách.".encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                                    (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]})
            await send({"type": "http.response.body", "body": body})


def create_app(cfg: PortalConfig) -> Starlette:
    portal = Portal(cfg)
    routes = [
        Route("/", home),
        Route("/dang-nhap", sign_in_form, methods=["GET"]),
        Route("/dang-nhap", sign_in, methods=["POST"]),
        Route("/dang-xuat", sign_out, methods=["POST"]),
        Route("/cong-bo", publications),
        Route("/cong-bo/{pub}", publication),
        Route("/cong-bo/{pub}/chat-luong", quality),
        Route("/chat-luong", quality_current),
        Route("/tai/{pub}/{path:path}", download),
        Route("/xem/{pub}/{path:path}", view),
        Route("/tong-quan", dashboard),
        Route("/sua-loi", corrections_form, methods=["GET"]),
        Route("/sua-loi", corrections_upload, methods=["POST"]),
        Route("/sua-loi/{n}", rerun_status),
        Route("/nhat-ky", audit_log),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)], max_body_size=MAX_UPLOAD_BYTES + 256 * 1024)
    app.state.portal = portal
    return app
