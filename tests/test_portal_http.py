"""The portal over HTTP (Starlette's TestClient): sign in, downloads by role, traversal, CSRF, throttle,
session expiry, cookies, uploads and reruns, the audit log; and the `rasoat users` commands."""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from _portal import (
    OLD_PUB_ID, PASSWORD, PUB_ID, SECRET_CCCD, SECRET_NAME, FakeClock, csrf_of, make_publication, sign_in,
)
from rasoat.cli import app as cli_app
from rasoat.pipeline.publish import current_publication
from rasoat.portal.app import SESSION_COOKIE, PortalConfig, create_app
from rasoat.portal.security import hash_password
from rasoat.portal.store import PortalStore

HAMLETS = {"A01": "Ấp Ví Dụ 01", "A02": "Ấp Ví Dụ 02"}
_HASH = hash_password(PASSWORD)
NEW_PUB_ID = "2026-20261121T080000Z"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    make_publication(data / "publications", OLD_PUB_ID, current=False)
    make_publication(data / "publications", PUB_ID, current=True)
    (data / "secret.txt").write_text("bí mật ngoài thư mục công bố", encoding="utf-8")
    os.symlink(data / "secret.txt", data / "publications" / PUB_ID / "commune" / "lien-ket.csv")
    store = PortalStore.for_data_dir(data)
    for name, role, hamlet in [("canbo", "commune_officer", None), ("truongap1", "hamlet_head", "A01"), ("xem", "viewer", None),
                               ("nghiviec", "commune_officer", None)]:
        store.add_user(name, role, hamlet, _HASH, 0.0)
    store.close()
    return data


class Portal:
    """A test client with its clock, its store and the rerun flow's calls."""

    def __init__(self, data_dir: Path, flow=None, base_url: str = "http://testserver", behind_proxy: bool = False) -> None:
        self.clock = FakeClock()
        self.app = create_app(PortalConfig(data_dir=data_dir, clock=self.clock, flow=flow, hamlet_names=HAMLETS,
                                           behind_proxy=behind_proxy))
        self.portal = self.app.state.portal
        self.client = TestClient(self.app, base_url=base_url)

    def audit(self) -> list[tuple]:
        return [(r.user_name, r.action, r.target, r.outcome) for r in reversed(self.portal.store.audit_rows(1000))]


@pytest.fixture
def web(data_dir: Path) -> Portal:
    return Portal(data_dir)


def test_officer_signs_in_and_downloads_a_list_byte_for_byte(web: Portal, data_dir: Path):
    response = sign_in(web.client, "canbo")
    assert response.status_code == 303 and response.headers["location"] == "/cong-bo"
    cookie = response.headers["set-cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain HTTP in this test
    got = web.client.get(f"/tai/{PUB_ID}/commune/ho-ngheo.csv")
    assert got.status_code == 200
    assert got.content == (data_dir / "publications" / PUB_ID / "commune" / "ho-ngheo.csv").read_bytes()
    assert SECRET_CCCD in got.content.decode("utf-8-sig")
    assert got.headers["content-disposition"].startswith("attachment") and "ho-ngheo.csv" in got.headers["content-disposition"]
    assert got.headers["cache-control"] == "no-store"
    hamlet = web.client.get(f"/tai/{PUB_ID}/hamlets/A02/ho-ngheo.csv")
    assert hamlet.status_code == 200 and "A02-ho-ngheo.csv" in hamlet.headers["content-disposition"]
    assert web.audit()[-2:] == [("canbo", "download", f"{PUB_ID}/commune/ho-ngheo.csv", "ok"),
                                ("canbo", "download", f"{PUB_ID}/hamlets/A02/ho-ngheo.csv", "ok")]
    pages = {path: web.client.get(path) for path in ["/cong-bo", f"/cong-bo/{PUB_ID}", f"/cong-bo/{PUB_ID}/chat-luong", "/tong-quan",
                                                      "/sua-loi", "/nhat-ky"]}
    assert {p: r.status_code for p, r in pages.items()} == dict.fromkeys(pages, 200)
    assert "Hiện hành" in pages["/cong-bo"].text and OLD_PUB_ID in pages["/cong-bo"].text
    assert f"/tai/{PUB_ID}/hamlets/A02/ho-ngheo.csv" in pages[f"/cong-bo/{PUB_ID}"].text
    assert "<svg" in pages["/tong-quan"].text and "Ấp Ví Dụ 01" in pages["/tong-quan"].text
    assert "canbo" in pages["/nhat-ky"].text and "ho-ngheo.csv" in pages["/nhat-ky"].text


def test_signing_in_returns_to_the_page_asked_for(web: Portal):
    asked = web.client.get(f"/tai/{PUB_ID}/commune/ty-le-theo-ap.csv", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/dang-nhap?tiep=%2Ftai%2F")
    page = web.client.get(asked.headers["location"])
    response = web.client.post("/dang-nhap", data={"csrf": csrf_of(page.text), "ten": "xem", "mat_khau": PASSWORD,
                                                   "tiep": f"/tai/{PUB_ID}/commune/ty-le-theo-ap.csv"}, follow_redirects=False)
    assert response.headers["location"] == f"/tai/{PUB_ID}/commune/ty-le-theo-ap.csv"
    other = TestClient(web.app)
    evil = other.post("/dang-nhap", data={"csrf": csrf_of(other.get("/dang-nhap").text), "ten": "xem",
                                               "mat_khau": PASSWORD, "tiep": "//evil.example/"}, follow_redirects=False)
    assert evil.status_code == 303 and evil.headers["location"] == "/"


def test_hamlet_head_gets_own_hamlet_only(web: Portal):
    sign_in(web.client, "truongap1")
    own = web.client.get(f"/tai/{PUB_ID}/hamlets/A01/ho-ngheo.csv")
    assert own.status_code == 200 and SECRET_NAME in own.content.decode("utf-8-sig")
    assert web.client.get(f"/tai/{PUB_ID}/commune/ty-le-theo-ap.csv").status_code == 200
    for denied in ["hamlets/A02/ho-ngheo.csv", "hamlets/A02/bao-cao-chat-luong.html", "commune/ho-ngheo.csv",
                   "commune/niem-yet-ho-ngheo.csv", "commune/bao-cao-chat-luong.html", "commune/bang-chi-so.xlsx"]:
        response = web.client.get(f"/tai/{PUB_ID}/{denied}")
        assert response.status_code == 403, denied
        assert "Lê Văn Ấp Hai" not in response.text and SECRET_CCCD not in response.text
    assert web.client.get(f"/tai/{PUB_ID}/hamlets/A02/khong-co.csv").status_code == 403  # no probing what exists
    listing = web.client.get(f"/cong-bo/{PUB_ID}").text
    assert "hamlets/A01/ho-ngheo.csv" in listing and "hamlets/A02/" not in listing and "commune/ho-ngheo.csv" not in listing
    quality = web.client.get(f"/cong-bo/{PUB_ID}/chat-luong").text
    assert "hamlets/A01/bao-cao-chat-luong.html" in quality and "commune/bao-cao-chat-luong.html" not in quality
    view = web.client.get(f"/xem/{PUB_ID}/hamlets/A01/bao-cao-chat-luong.html")
    assert view.status_code == 200 and "sandbox" in view.headers["content-security-policy"]
    assert web.client.get(f"/xem/{PUB_ID}/hamlets/A02/bao-cao-chat-luong.html").status_code == 403
    for officer_only in ["/sua-loi", "/nhat-ky", "/sua-loi/1"]:
        assert web.client.get(officer_only).status_code == 403
    audit = web.audit()
    assert ("truongap1", "download", f"{PUB_ID}/hamlets/A02/ho-ngheo.csv", "denied") in audit
    assert ("truongap1", "download", f"{PUB_ID}/hamlets/A01/ho-ngheo.csv", "ok") in audit


def test_viewer_gets_aggregates_and_no_personal_data(web: Portal):
    sign_in(web.client, "xem")
    for allowed in ["commune/ty-le-theo-ap.csv", "commune/tien-do-muc-tieu.csv", "commune/thieu-hut-theo-chi-so.csv",
                    "commune/bien-dong-theo-ap.csv"]:
        assert web.client.get(f"/tai/{PUB_ID}/{allowed}").status_code == 200, allowed
    for denied in ["commune/ho-ngheo.csv", "commune/niem-yet-ho-ngheo.csv", "commune/bang-chi-so.xlsx", "commune/kiem-tra-du-lieu.csv",
                   "commune/bao-cao-chat-luong.html", "hamlets/A01/ho-ngheo.csv"]:
        assert web.client.get(f"/tai/{PUB_ID}/{denied}").status_code == 403, denied
    assert web.client.get(f"/xem/{PUB_ID}/commune/bao-cao-chat-luong.html").status_code == 403
    assert web.client.get(f"/cong-bo/{PUB_ID}/chat-luong").status_code == 403
    dashboard = web.client.get("/tong-quan").text
    assert 'id="bien-dong"' in dashboard and "Thoát nghèo sang cận nghèo" in dashboard
    for page in ["/cong-bo", f"/cong-bo/{PUB_ID}", "/tong-quan"]:
        text = web.client.get(page).text
        assert SECRET_NAME not in text and SECRET_CCCD not in text and "Trần Văn Điều Tra" not in text
    listing = web.client.get(f"/cong-bo/{PUB_ID}").text
    assert "ty-le-theo-ap.csv" in listing and "ho-ngheo" not in listing and "Chất lượng" not in listing
    assert ("xem", "download", f"{PUB_ID}/commune/ho-ngheo.csv", "denied") in web.audit()


@pytest.mark.parametrize("url", [
    f"/tai/{PUB_ID}/commune/%2e%2e/%2e%2e/secret.txt",
    f"/tai/{PUB_ID}/commune/..%2F..%2Fsecret.txt",
    f"/tai/{PUB_ID}/commune/%252e%252e/secret.txt",
    f"/tai/{PUB_ID}/commune/..%5C..%5Csecret.txt",
    "/tai/%2e%2e/secret.txt",
])
def test_encoded_traversal_is_refused(web: Portal, url: str):
    sign_in(web.client, "canbo")
    response = web.client.get(url)
    assert response.status_code in (400, 403, 404)
    assert "bí mật" not in response.text
    last = web.audit()[-1]
    assert last[1] != "download" or last[3] in ("invalid", "denied", "not_found")


def test_paths_outside_the_publication_are_unreachable(web: Portal):
    sign_in(web.client, "canbo")
    for url in [f"/tai/{PUB_ID}/commune/lien-ket.csv",  # a symlink pointing outside
                "/tai/current/commune/ho-ngheo.csv",  # the `current` link is not a publication id
                f"/tai/{PUB_ID}/manifest.json", f"/tai/{PUB_ID}/commune", "/tai/publications/secret.txt",
                f"/tai/{PUB_ID}/commune/khong-co.csv", "/cong-bo/current", "/cong-bo/..", "/tong-quan?cb=.."]:
        response = web.client.get(url)
        assert "bí mật" not in response.text, url
        assert response.status_code in (200, 400, 403, 404), url
        if url.startswith("/tai/"):
            assert response.status_code in (400, 403, 404), url
    # httpx normalises a literal ../ before sending; a raw request proves the server's side too
    raw = web.client.get(f"/tai/{PUB_ID}/commune/../../../secret.txt")
    assert raw.status_code in (400, 403, 404) and "bí mật" not in raw.text


def test_every_post_needs_the_csrf_token(web: Portal):
    sign_in(web.client, "canbo")
    assert web.client.post("/dang-xuat", data={}).status_code == 403
    assert web.client.post("/dang-xuat", data={"csrf": "sai"}).status_code == 403
    assert web.client.get("/cong-bo").status_code == 200  # still signed in
    upload = web.client.post("/sua-loi", data={"csrf": "sai"}, files={"tep": ("sua.csv", b"x", "text/csv")})
    assert upload.status_code == 403 and not (web.portal.data_dir / "corrections").exists()
    token = csrf_of(web.client.get("/cong-bo").text)
    out = web.client.post("/dang-xuat", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and web.client.get("/cong-bo", follow_redirects=False).status_code == 303
    # the sign-in form has its own double-submit token
    fresh = TestClient(web.app)
    assert fresh.post("/dang-nhap", data={"csrf": "x", "ten": "canbo", "mat_khau": PASSWORD}).status_code == 400


def test_five_failures_lock_a_username_for_fifteen_minutes(web: Portal):
    for _ in range(5):
        assert sign_in(web.client, "canbo", "sai-mat-khau").status_code == 401
    locked = sign_in(web.client, "canbo")  # even the right password is refused now
    assert locked.status_code == 429 and "thử lại sau 15 phút" in locked.text
    web.clock.advance(14 * 60)
    assert "thử lại sau 1 phút" in sign_in(web.client, "canbo").text
    web.clock.advance(61)
    assert sign_in(web.client, "canbo").status_code == 303
    outcomes = [a[3] for a in web.audit() if a[1] == "sign_in"]
    assert outcomes == ["failed"] * 5 + ["rate_limited"] * 2 + ["ok"]


def test_five_failures_from_one_address_lock_that_address(web: Portal):
    for name in ["a1", "a2", "a3", "a4", "a5"]:
        sign_in(web.client, name, "sai")
    response = sign_in(web.client, "xem")
    assert response.status_code == 429 and "Đăng nhập sai quá nhiều lần" in response.text


def test_sessions_expire_after_idle_time(web: Portal):
    sign_in(web.client, "canbo")
    web.clock.advance(7 * 3600)
    assert web.client.get("/cong-bo", follow_redirects=False).status_code == 200  # activity keeps it alive
    web.clock.advance(7 * 3600)
    assert web.client.get("/cong-bo", follow_redirects=False).status_code == 200
    web.clock.advance(8 * 3600 + 1)
    expired = web.client.get("/cong-bo", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"].startswith("/dang-nhap")


def test_a_disabled_account_is_signed_out(web: Portal):
    sign_in(web.client, "nghiviec")
    assert web.client.get("/cong-bo", follow_redirects=False).status_code == 200
    web.portal.store.set_disabled("nghiviec", True, web.clock())
    assert web.client.get("/cong-bo", follow_redirects=False).status_code == 303
    again = sign_in(web.client, "nghiviec")
    assert again.status_code == 401 and "đã bị khóa" in again.text


def test_cookies_are_secure_over_https_and_behind_a_trusted_proxy(data_dir: Path):
    https = Portal(data_dir, base_url="https://testserver")
    assert "Secure" in sign_in(https.client, "canbo").headers["set-cookie"]
    plain = Portal(data_dir)
    plain.client.headers["X-Forwarded-Proto"] = "https"
    assert "Secure" not in sign_in(plain.client, "canbo").headers["set-cookie"]  # not trusted without --behind-proxy
    proxied = Portal(data_dir, behind_proxy=True)
    proxied.client.headers["X-Forwarded-Proto"] = "https"
    proxied.client.headers["X-Forwarded-For"] = "203.0.113.9"
    page = proxied.client.get("/dang-nhap")
    assert "Secure" in page.headers["set-cookie"]
    # the test client talks plain HTTP, so it holds back Secure cookies: send the form's cookie by hand, as the proxy would
    pre = re.search(r"rasoat_csrf=([^;]+)", page.headers["set-cookie"]).group(1)
    proxied.client.cookies.clear()
    response = proxied.client.post("/dang-nhap", data={"csrf": csrf_of(page.text), "ten": "canbo", "mat_khau": PASSWORD},
                                   headers={"Cookie": f"rasoat_csrf={pre}"}, follow_redirects=False)
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]
    assert proxied.portal.store.audit_rows(1)[0].client == "203.0.113.9"


def test_pages_carry_security_headers_and_no_external_resources(web: Portal):
    sign_in(web.client, "canbo")
    for path in ["/dang-nhap", "/tong-quan", f"/cong-bo/{PUB_ID}"]:
        response = web.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r'(src|href)="(https?:)?//', response.text), path
    css = web.client.get("/static/style.css")
    assert css.status_code == 200 and "@import" not in css.text and "url(" not in css.text


def _changes_flow(data_dir: Path, calls: list):
    def flow(data_dir: str, config_dir, reference_year, pull):
        calls.append({"pull": pull, "reference_year": reference_year,
                      "corrections": (Path(data_dir) / "corrections" / "corrections.csv").read_text(encoding="utf-8-sig")})
        path = make_publication(Path(data_dir) / "publications", NEW_PUB_ID, changes=[
            {"Mã hộ": "A01-0001", "Mã phiếu": "uuid:1", "Ấp": "A01", "Phân loại lần trước": "Hộ nghèo",
             "Phân loại lần này": "Hộ không nghèo", "Nguyên nhân": "income_wages = 1.200.000.000"}])
        return SimpleNamespace(publication=path)
    return flow


def _upload(client: TestClient, name: str, data: bytes):
    token = csrf_of(client.get("/sua-loi").text)
    return client.post("/sua-loi", data={"csrf": token}, files={"tep": (name, data, "application/octet-stream")}, follow_redirects=False)


CORRECTION = "Mã hộ,Trường,Giá trị cũ,Giá trị mới,Lý do,Người sửa,Ngày\nA01-0001,income_wages,,1.200.000.000,đo lại,Cán bộ A,2026-11-20\n"


def test_upload_starts_a_rerun_and_shows_the_diff(data_dir: Path):
    calls: list = []
    web = Portal(data_dir, flow=_changes_flow(data_dir, calls))
    sign_in(web.client, "canbo")
    (data_dir / "corrections").mkdir()
    (data_dir / "corrections" / "corrections.csv").write_text("cũ", encoding="utf-8")
    response = _upload(web.client, "sua-loi.csv", CORRECTION.encode("utf-8"))
    assert response.status_code == 303 and response.headers["location"] == "/sua-loi/1"
    web.portal.runner.join(30)
    assert calls == [{"pull": False, "reference_year": 2026, "corrections": CORRECTION}]
    kept = sorted(p.name for p in (data_dir / "corrections").iterdir())
    assert kept[0] == "corrections-" + kept[0][12:] and len(kept) == 2 and "corrections.csv" in kept
    page = web.client.get("/sua-loi/1")
    assert page.status_code == 200 and 'data-status="done"' in page.text
    assert NEW_PUB_ID in page.text and "A01-0001" in page.text and "Hộ không nghèo" in page.text
    assert "http-equiv=\"refresh\"" not in page.text
    assert current_publication(data_dir / "publications").name == NEW_PUB_ID
    assert ("canbo", "upload", "sua-loi.csv", "ok") in web.audit()
    dashboard = web.client.get("/tong-quan").text
    assert "Hộ nghèo" in dashboard and "→ Hộ không nghèo" in dashboard and "A01-0001" not in dashboard


def test_a_rerun_without_changes_says_so(data_dir: Path):
    def flow(data_dir: str, config_dir, reference_year, pull):
        return SimpleNamespace(publication=make_publication(Path(data_dir) / "publications", NEW_PUB_ID, changes=[]))

    web = Portal(data_dir, flow=flow)
    sign_in(web.client, "canbo")
    assert _upload(web.client, "sua.csv", CORRECTION.encode()).status_code == 303
    web.portal.runner.join(30)
    assert "Không có thay đổi" in web.client.get("/sua-loi/1").text


def test_a_failed_rerun_shows_the_error_and_keeps_the_publication(data_dir: Path):
    started, release = threading.Event(), threading.Event()

    def failing(data_dir: str, config_dir, reference_year, pull):
        started.set()
        release.wait(10)
        raise RuntimeError("rule set broken: health_insurence")

    web = Portal(data_dir, flow=failing)
    sign_in(web.client, "canbo")
    assert _upload(web.client, "sua.xlsx", b"PK\x03\x04" + b"0" * 10).status_code == 400  # not a real workbook: refused
    assert _upload(web.client, "sua.csv", CORRECTION.encode()).status_code == 303
    started.wait(10)
    running = web.client.get("/sua-loi/1").text
    assert 'data-status="running"' in running and 'http-equiv="refresh"' in running
    busy = _upload(web.client, "sua2.csv", CORRECTION.encode())
    assert busy.status_code == 409 and "Đang chạy lại" in busy.text
    release.set()
    web.portal.runner.join(30)
    page = web.client.get("/sua-loi/1").text
    assert 'data-status="failed"' in page and "RuntimeError: rule set broken: health_insurence" in page
    assert "vẫn là công bố hiện hành" in page
    assert current_publication(data_dir / "publications").name == PUB_ID
    outcomes = [(a[1], a[3]) for a in web.audit() if a[1] == "upload"]
    assert outcomes == [("upload", "invalid"), ("upload", "ok"), ("upload", "busy")]


def test_only_officers_upload_and_bad_files_are_refused(data_dir: Path):
    web = Portal(data_dir, flow=lambda **kw: pytest.fail("must not run"))
    sign_in(web.client, "truongap1")
    assert web.client.post("/sua-loi", data={"csrf": "x"}, files={"tep": ("a.csv", b"x", "text/csv")}).status_code == 403
    officer = Portal(data_dir, flow=lambda **kw: pytest.fail("must not run"))
    sign_in(officer.client, "canbo")
    for name, data, message in [("sua.txt", b"abc", "Chỉ nhận tệp .csv hoặc .xlsx"),
                                ("sua.csv", "Mã hộ,Ghi chú\nA01,x\n".encode(), "thiếu cột"),
                                ("sua.csv", b"M\xe3 h\xf4\n", "UTF-8")]:
        response = _upload(officer.client, name, data)
        assert response.status_code == 400 and message in response.text, name
    assert not (data_dir / "corrections").exists()


def test_server_logs_hold_no_names_or_ids(web: Portal, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(web.client, "canbo", "sai-mat-khau")
    sign_in(web.client, "canbo")
    web.client.get(f"/tai/{PUB_ID}/commune/ho-ngheo.csv")
    web.client.get(f"/cong-bo/{PUB_ID}")
    text = caplog.text
    for secret in ("canbo", SECRET_NAME, SECRET_CCCD, PASSWORD, "sai-mat-khau"):
        assert secret not in text


def test_users_commands(tmp_path: Path):
    runner = CliRunner()
    data = str(tmp_path / "data")
    env = {"RASOAT_NEW_PASSWORD": "mot-mat-khau-dai", "RASOAT_DATA_DIR": data}
    add = runner.invoke(cli_app, ["users", "add", "Lan.Nguyen", "--role", "hamlet_head", "--hamlet", "A03"], env=env)
    assert add.exit_code == 0, add.output
    assert "lan.nguyen" in add.output
    store = PortalStore.for_data_dir(Path(data))
    user = store.get_user("lan.nguyen")
    assert user.role == "hamlet_head" and user.hamlet == "A03" and user.password_hash.startswith("$argon2id$")
    assert "mot-mat-khau-dai" not in (Path(data) / "portal" / "portal.sqlite3").read_bytes().decode("latin-1")
    for args, message in [(["users", "add", "lan.nguyen", "--role", "viewer"], "đã có"),
                          (["users", "add", "b", "--role", "viewer"], "không hợp lệ"),
                          (["users", "add", "binh", "--role", "admin"], "vai trò"),
                          (["users", "add", "binh", "--role", "hamlet_head"], "--hamlet"),
                          (["users", "add", "binh", "--role", "hamlet_head", "--hamlet", "Z99"], "không có ấp"),
                          (["users", "reset", "khong-co"], "không có tài khoản")]:
        result = runner.invoke(cli_app, args, env=env)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    short = runner.invoke(cli_app, ["users", "add", "binh", "--role", "viewer"], env={**env, "RASOAT_NEW_PASSWORD": "ngan"})
    assert short.exit_code == 2 and "ít nhất 8 ký tự" in short.output
    prompted = runner.invoke(cli_app, ["users", "add", "binh", "--role", "viewer"], env={"RASOAT_DATA_DIR": data},
                             input="mat-khau-hoi-2-lan\nmat-khau-hoi-2-lan\n")
    assert prompted.exit_code == 0, prompted.output
    old_hash = store.get_user("binh").password_hash
    assert runner.invoke(cli_app, ["users", "reset", "binh"], env={**env, "RASOAT_NEW_PASSWORD": "mat-khau-moi-3"}).exit_code == 0
    assert store.get_user("binh").password_hash != old_hash
    assert runner.invoke(cli_app, ["users", "disable", "binh"], env=env).exit_code == 0 and store.get_user("binh").disabled
    listing = runner.invoke(cli_app, ["users", "list"], env=env)
    assert listing.exit_code == 0 and "binh" in listing.output and "đã khóa" in listing.output and "A03" in listing.output
    assert runner.invoke(cli_app, ["users", "disable", "binh", "--enable"], env=env).exit_code == 0
    assert not store.get_user("binh").disabled
