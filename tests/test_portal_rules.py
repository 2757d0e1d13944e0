"""The portal's pure rules: who may read which path, safe paths, passwords, CSRF, the sign-in throttle,
session expiry, HTTPS and client address behind a proxy, uploads, charts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _portal import PUB_ID, FakeClock, make_publication
from rasoat.portal import access, charts, security
from rasoat.portal.access import Principal
from rasoat.portal.rerun import check_upload, install_corrections, upload_problem

OFFICER = Principal("canbo", "commune_officer")
HEAD_A01 = Principal("truongap", "hamlet_head", "A01")
HEAD_NO_HAMLET = Principal("truongap2", "hamlet_head", None)
VIEWER = Principal("xem", "viewer")
STRANGER = Principal("la", "superuser")

# path -> (officer, hamlet head of A01, viewer)
MATRIX = {
    "commune/ho-ngheo.csv": (True, False, False),
    "commune/ho-ngheo.xlsx": (True, False, False),
    "commune/ho-can-ngheo.csv": (True, False, False),
    "commune/ho-muc-song-trung-binh.csv": (True, False, False),
    "commune/niem-yet-ho-ngheo.csv": (True, False, False),
    "commune/households.csv": (True, False, False),
    "commune/bang-chi-so.xlsx": (True, False, False),
    "commune/ho-cho-xu-ly.csv": (True, False, False),
    "commune/kiem-tra-du-lieu.csv": (True, False, False),
    "commune/bao-cao-chat-luong.html": (True, False, False),
    "commune/thay-doi-so-voi-lan-truoc.csv": (True, False, False),
    "commune/sua-loi-da-ghi-nhan.csv": (True, False, False),
    "commune/ty-le-theo-ap.csv": (True, True, True),
    "commune/thieu-hut-theo-chi-so.csv": (True, True, True),
    "commune/tien-do-muc-tieu.csv": (True, True, True),
    "commune/bien-dong-theo-ap.csv": (True, True, True),
    "commune/thoat-ngheo.csv": (True, False, False),  # a movement list names households
    "hamlets/A01/ho-ngheo.csv": (True, True, False),
    "hamlets/A01/niem-yet-ho-ngheo.xlsx": (True, True, False),
    "hamlets/A01/bao-cao-chat-luong.html": (True, True, False),
    "hamlets/A02/ho-ngheo.csv": (True, False, False),
    "hamlets/A02/ty-le-theo-ap.csv": (True, False, False),  # an aggregate name in another hamlet's folder
    "hamlets/a01/ho-ngheo.csv": (True, False, False),  # case matters
    "manifest.json": (False, False, False),
    "commune": (False, False, False),
    "hamlets/A01": (False, False, False),
    "hamlets/A01/sub/ho-ngheo.csv": (False, False, False),
    "other/ty-le-theo-ap.csv": (False, False, False),
}

TRAVERSALS = [
    "", "/", "/etc/passwd", "commune/../hamlets/A02/ho-ngheo.csv", "hamlets/A01/../A02/ho-ngheo.csv", "hamlets/../commune/ho-ngheo.csv",
    "../commune/ty-le-theo-ap.csv", "commune/../../secret.txt", "commune/./ty-le-theo-ap.csv", "commune//ty-le-theo-ap.csv",
    "commune\\ty-le-theo-ap.csv", "commune/%2e%2e/secret.txt", "commune/%252e%252e/x", "commune/ty-le-theo-ap.csv\x00.txt",
    "commune/.hidden", "hamlets/A01/.", "hamlets/A01/..", "commune/ty-le-theo-ap.csv/", "C:/commune/ty-le-theo-ap.csv",
    "hamlets/A01/" + "a" * 600,
]


@pytest.mark.parametrize("path", list(MATRIX))
def test_role_by_path_matrix(path):
    officer, head, viewer = MATRIX[path]
    assert access.may_read(OFFICER, path) is officer
    assert access.may_read(HEAD_A01, path) is head
    assert access.may_read(VIEWER, path) is viewer
    assert access.may_read(STRANGER, path) is False
    # a hamlet head without a hamlet gets the aggregates only
    assert access.may_read(HEAD_NO_HAMLET, path) is (viewer and path.startswith("commune/"))


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_and_odd_paths_are_refused_for_every_role(path):
    assert access.split_relpath(path) is None or access._scope(access.split_relpath(path)) is None
    for who in (OFFICER, HEAD_A01, VIEWER):
        assert access.may_read(who, path) is False


def test_actions_by_role():
    table = {action: tuple(access.may(w, action) for w in (OFFICER, HEAD_A01, VIEWER))
             for action in ("publications", "dashboard", "quality", "upload", "changes", "audit", "anything-else")}
    assert table == {
        "publications": (True, True, True), "dashboard": (True, True, True), "quality": (True, True, False),
        "upload": (True, False, False), "changes": (True, False, False), "audit": (True, False, False),
        "anything-else": (False, False, False),
    }


def test_quality_report_names():
    assert access.is_quality_report("commune/bao-cao-chat-luong.html")
    assert access.is_quality_report("hamlets/A01/bao-cao-chat-luong.xlsx")
    assert access.is_quality_report("commune/kiem-tra-du-lieu.csv")
    assert not access.is_quality_report("commune/ho-ngheo.csv")


def test_resolve_file_stays_inside_the_publication(tmp_path: Path):
    pubs = tmp_path / "publications"
    root = make_publication(pubs)
    secret = tmp_path / "secret.txt"
    secret.write_text("bí mật", encoding="utf-8")
    os.symlink(secret, root / "commune" / "link.csv")  # a symlink pointing outside
    os.symlink(root / "commune" / "ho-ngheo.csv", root / "commune" / "inside-link.csv")  # even inside: refused
    os.symlink(tmp_path, root / "hamlets" / "A09")  # a symlinked folder
    assert access.resolve_file(root, "commune/ho-ngheo.csv") == (root / "commune" / "ho-ngheo.csv").resolve()
    assert access.resolve_file(root, "hamlets/A01/ho-ngheo.csv") is not None
    for bad in ["commune/link.csv", "commune/inside-link.csv", "hamlets/A09/secret.txt", "commune/missing.csv", "commune",
                "hamlets/A01", "manifest.json", *TRAVERSALS]:
        assert access.resolve_file(root, bad) is None, bad


def test_resolve_publication_refuses_current_link_and_bad_ids(tmp_path: Path):
    pubs = tmp_path / "publications"
    make_publication(pubs)
    (pubs / "no-manifest").mkdir()
    os.symlink(tmp_path, pubs / "elsewhere")
    assert access.resolve_publication(pubs, PUB_ID) == pubs / PUB_ID
    for bad in ["current", "CURRENT", "..", ".", "", "no-manifest", "elsewhere", "../publications", PUB_ID + "/commune", "%2e%2e"]:
        assert access.resolve_publication(pubs, bad) is None, bad


def test_encoded_traversal_in_the_raw_url_is_spotted():
    assert access.raw_path_suspicious(b"/tai/x/commune/%2e%2e/secret")
    assert access.raw_path_suspicious(b"/tai/x/commune/..%2Fsecret")
    assert access.raw_path_suspicious(b"/tai/x/commune/%252e%252e/secret")
    assert access.raw_path_suspicious(b"/tai/x/commune/%5c..")
    assert not access.raw_path_suspicious(b"/tai/2026-1/commune/ho-ngheo.csv")
    assert not access.raw_path_suspicious(None)


def test_after_sign_in_only_local_paths():
    assert access.safe_next("/cong-bo") == "/cong-bo"
    assert access.safe_next("/tai/x/commune/ty-le-theo-ap.csv?a=1") == "/tai/x/commune/ty-le-theo-ap.csv?a=1"
    for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", None, "/x\r\nSet-Cookie: a=b"]:
        assert access.safe_next(bad) == "/"


# --- passwords, tokens ------------------------------------------------------------------------


def test_password_hashing_is_argon2id_and_verifies():
    stored = security.hash_password("mật khẩu tiếng Việt 1")
    assert stored.startswith("$argon2id$") and "mật khẩu" not in stored
    assert security.verify_password(stored, "mật khẩu tiếng Việt 1")
    assert not security.verify_password(stored, "mật khẩu tiếng Việt 2")
    assert not security.verify_password(None, "anything")  # unknown user: no error, just False
    assert not security.verify_password("not-a-hash", "anything")
    assert security.hash_password("same-password") != security.hash_password("same-password")  # salted
    assert not security.needs_rehash(stored) and security.needs_rehash("garbage")


def test_password_rules():
    assert security.password_problem("ngắn") is not None
    assert security.password_problem(" leading-space") is not None
    assert security.password_problem("x" * 300) is not None
    assert security.password_problem("đủ-dài-rồi") is None


def test_csrf_tokens():
    token = security.new_token()
    assert len(token) >= 40 and token != security.new_token()
    assert security.csrf_ok(token, token)
    assert not security.csrf_ok(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert not security.csrf_ok(token, "")
    assert not security.csrf_ok(token, None)
    assert not security.csrf_ok(None, None)
    assert not security.csrf_ok("", "")
    assert security.token_digest(token) != token and len(security.token_digest(token)) == 64


def test_session_expiry_idle_and_absolute():
    idle, absolute = 8 * 3600, 24 * 3600
    start = 1000.0
    assert not security.session_expired(start, start, start + idle - 1, idle, absolute)
    assert security.session_expired(start, start, start + idle + 1, idle, absolute)
    # kept alive by activity, but not beyond the absolute limit
    assert not security.session_expired(start + 20 * 3600, start, start + 21 * 3600, idle, absolute)
    assert security.session_expired(start + 24 * 3600, start, start + 24 * 3600 + 1, idle, absolute)
    # a clock that went far backwards does not revive anything
    assert security.session_expired(start, start, start - 3600, idle, absolute)


def test_throttle_locks_a_key_after_five_failures_for_fifteen_minutes():
    clock = FakeClock()
    throttle = security.LoginThrottle(clock=clock)
    user, addr = ("user", "canbo"), ("addr", "10.0.0.9")
    for _ in range(4):
        throttle.failure(user, addr)
        clock.advance(10)
    assert throttle.retry_after(user, addr) == 0
    throttle.failure(user, addr)
    assert throttle.retry_after(user) == pytest.approx(15 * 60)
    assert throttle.retry_after(("addr", "10.0.0.9")) == pytest.approx(15 * 60)
    assert throttle.retry_after(("user", "other"), ("addr", "10.0.0.10")) == 0
    clock.advance(14 * 60)
    assert throttle.retry_after(user) == pytest.approx(60)
    throttle.success(user)  # a success does not lift a lock early (retry_after is checked before the password)
    clock.advance(61)
    assert throttle.retry_after(user, addr) == 0
    throttle.failure(user)  # the counter starts again from zero after the lock
    assert throttle.retry_after(user) == 0


def test_throttle_forgets_failures_older_than_the_window():
    clock = FakeClock()
    throttle = security.LoginThrottle(clock=clock)
    key = ("user", "slow")
    for _ in range(4):
        throttle.failure(key)
    clock.advance(15 * 60 + 1)
    throttle.failure(key)
    assert throttle.retry_after(key) == 0


def test_success_clears_a_username_count():
    throttle = security.LoginThrottle(clock=FakeClock())
    key = ("user", "canbo")
    for _ in range(4):
        throttle.failure(key)
    throttle.success(key)
    throttle.failure(key)
    assert throttle.retry_after(key) == 0


def test_https_and_client_address_trust_the_proxy_only_when_told():
    headers = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7, 10.0.0.2"}
    assert security.request_is_https("https", {}, False)
    assert not security.request_is_https("http", headers, False)
    assert security.request_is_https("http", headers, True)
    assert not security.request_is_https("http", {"x-forwarded-proto": "http"}, True)
    assert security.client_address("127.0.0.1", headers, False) == "127.0.0.1"
    assert security.client_address("127.0.0.1", headers, True) == "10.0.0.2"  # the address the proxy itself saw
    assert security.client_address(None, {}, False) == "?"


# --- uploads ------------------------------------------------------------------------------------


def test_upload_checks():
    assert upload_problem("sua.txt", b"x") is not None
    assert upload_problem("sua.csv", b"") is not None
    assert upload_problem("sua.xlsx", b"not a zip") is not None
    assert "UTF-8" in upload_problem("sua.csv", b"M\xe3 h\xf4,Tr\xfd\xf4ng\n")
    assert upload_problem("sua.csv", b"x" * (6 * 1024 * 1024)) is not None
    assert upload_problem("SUA.CSV", "Mã hộ,Trường,Giá trị mới\nA01-0001,floor_area,40\n".encode()) is None
    assert "thiếu cột" in check_upload("sua.csv", "Mã hộ,Ghi chú\nA01-0001,x\n".encode())
    assert check_upload("sua.csv", "Mã hộ,Trường,Giá trị mới\n".encode()) is not None  # no rows
    assert check_upload("sua.csv", "Mã hộ,Trường,Giá trị mới\nA01-0001,floor_area,40\n".encode("utf-8-sig")) is None


def test_install_corrections_keeps_the_previous_files(tmp_path: Path):
    folder = tmp_path / "corrections"
    first, kept = install_corrections(folder, "a.csv", b"one", 1_790_000_000.0)
    assert first == folder / "corrections.csv" and kept == []
    (folder / "corrections.xlsx").write_bytes(b"PK\x03\x04old")
    second, kept = install_corrections(folder, "b.xlsx", b"PK\x03\x04new", 1_790_000_060.0)
    assert second == folder / "corrections.xlsx" and second.read_bytes() == b"PK\x03\x04new"
    assert not (folder / "corrections.csv").exists()  # the pipeline reads both: the upload is the one ledger now
    assert sorted(p.name for p in kept) == ["corrections-20260921T141420Z.csv", "corrections-20260921T141420Z.xlsx"]
    assert (folder / "corrections-20260921T141420Z.csv").read_bytes() == b"one"
    _, kept = install_corrections(folder, "c.xlsx", b"PK\x03\x04third", 1_790_000_060.0)  # same second: no overwrite
    assert [p.name for p in kept] == ["corrections-20260921T141420Z-1.xlsx"]
    assert not list(folder.glob(".upload-*"))


# --- charts -------------------------------------------------------------------------------------


def test_charts_are_svg_with_escaped_labels():
    svg = charts.grouped_bars("Tỷ lệ", [("Ấp <Một>", [2.5, 4.0]), ("Ấp Hai", [0.0, None])], [("Hộ nghèo", "bar-poor"), ("Cận", "bar-near")])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Ấp &lt;Một&gt;" in svg and "<Một>" not in svg
    assert "2,5%" in svg and 'class="bar-poor"' in svg
    bars = charts.target_bars("Mục tiêu", [{"name": "Tỷ lệ hộ nghèo", "result": 1.2, "target": 0.68, "direction": "không quá",
                                            "assessment": "Chưa đạt"},
                                           {"name": "Nước sạch", "result": 92.5, "target": 90.0, "direction": "ít nhất",
                                            "assessment": "Đạt"}])
    assert bars.count('class="target-line"') == 2 and "bar-met" in bars and "bar-unmet" in bars
    assert charts.fmt(1234567.891) == "1.234.567,89" and charts.fmt(None) == "—" and charts.fmt(2.0) == "2"
