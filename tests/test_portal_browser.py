"""The portal in a real browser: Debian's headless Chromium driven by Playwright, against the real server
(uvicorn on 127.0.0.1) serving a publication made by the review flow on a small synthetic commune.

These tests never skip: without /usr/bin/chromium they fail and say how to install it.
"""

from __future__ import annotations

import csv
import socket
import threading
import time
from pathlib import Path

import pytest

from rasoat.flows.review import DataFolder, questionnaire_for, review_flow
from rasoat.pipeline import synthetic
from rasoat.pipeline.publish import current_publication
from rasoat.portal.access import AGGREGATE_FILES
from rasoat.portal.app import PortalConfig, create_app
from rasoat.portal.security import hash_password
from rasoat.portal.store import PortalStore
from rasoat.settings import load_settings

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("prefect_harness")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "mat-khau-trinh-duyet"
SETTINGS = load_settings()


def rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, prefect_harness) -> Path:
    folder = DataFolder(tmp_path_factory.mktemp("portal") / "data")
    folder.inbox.mkdir(parents=True)
    q = questionnaire_for(SETTINGS)
    synthetic.write_central_csv_zip(synthetic.generate_commune(list(SETTINGS.hamlets), q, seed=5, scale=0.04), q,
                                    folder.inbox / "rasoat_household.csv.zip")
    review_flow(data_dir=str(folder.root), reference_year=2026)
    store = PortalStore.for_data_dir(folder.root)
    password_hash = hash_password(PASSWORD)
    for name, role, hamlet in [("canbo", "commune_officer", None), ("truongap1", "hamlet_head", "A01"), ("xem", "viewer", None)]:
        store.add_user(name, role, hamlet, password_hash, time.time())
    store.close()
    return folder.root


@pytest.fixture(scope="module")
def server(data_dir: Path):
    import uvicorn

    app = create_app(PortalConfig(data_dir=data_dir, hamlet_names={h.code: h.name for h in SETTINGS.hamlets}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning", proxy_headers=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "the portal server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium package. Run `bash scripts/test-all`, "
                    f"which installs it (or: apt-get install -y chromium).", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, locale="vi-VN", viewport={"width": 1000, "height": 900})
    # nothing may be fetched from anywhere but the portal itself
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith("http://127.0.0.1:") else None)
    pg = context.new_page()
    yield pg
    context.close()
    assert outside == []


def sign_in(page, base: str, name: str) -> None:
    page.goto(base + "/")
    assert page.url.startswith(base + "/dang-nhap")
    page.fill("#ten", name)
    page.fill("#mat_khau", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/tong-quan")


def test_officer_signs_in_and_downloads_a_list(page, server, data_dir: Path):
    base, _ = server
    pub = current_publication(data_dir / "publications")
    page.goto(base + "/")
    page.fill("#ten", "canbo")
    page.fill("#mat_khau", "sai-mat-khau")
    page.click("button[type=submit]")
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in page.inner_text("[role=alert]")
    sign_in(page, base, "canbo")
    assert "Tỷ lệ hộ nghèo, cận nghèo theo ấp" in page.inner_text("main")
    assert page.locator("svg.chart").count() >= 2
    page.click("text=Công bố")
    page.click(f"a[href='/cong-bo/{pub.name}']")
    with page.expect_download() as info:
        page.click(f"a[href='/tai/{pub.name}/commune/ho-ngheo.csv']")
    download = info.value
    assert download.suggested_filename == "ho-ngheo.csv"
    got = Path(download.path()).read_bytes()
    assert got == (pub / "commune" / "ho-ngheo.csv").read_bytes()
    names = [r["Họ và tên chủ hộ"] for r in rows(pub / "commune" / "ho-ngheo.csv")]
    assert names and names[0] in got.decode("utf-8-sig")
    page.goto(base + "/nhat-ky")
    log = page.inner_text("#nhat-ky")
    assert f"{pub.name}/commune/ho-ngheo.csv" in log and "thành công" in log


def test_hamlet_head_is_denied_another_hamlets_list(page, server, data_dir: Path):
    base, _ = server
    pub = current_publication(data_dir / "publications").name
    sign_in(page, base, "truongap1")
    page.goto(f"{base}/cong-bo/{pub}")
    text = page.inner_text("main")
    assert "Ấp Ví Dụ 01" in text and "Ấp Ví Dụ 02" not in text
    assert page.locator(f"a[href='/tai/{pub}/hamlets/A02/ho-ngheo.csv']").count() == 0
    assert page.locator(f"a[href='/tai/{pub}/commune/ho-ngheo.csv']").count() == 0
    response = page.goto(f"{base}/tai/{pub}/hamlets/A02/ho-ngheo.csv")
    assert response.status == 403 and "Bạn không có quyền tải tệp này." in page.inner_text("main")
    response = page.goto(f"{base}/tai/{pub}/commune/ho-ngheo.csv")
    assert response.status == 403
    with page.expect_download() as info:
        page.goto(f"{base}/cong-bo/{pub}")
        page.click(f"a[href='/tai/{pub}/hamlets/A01/ho-ngheo.csv']")
    assert Path(info.value.path()).read_bytes() == (data_dir / "publications" / pub / "hamlets" / "A01" / "ho-ngheo.csv").read_bytes()


def test_viewer_is_denied_personal_data(page, server, data_dir: Path):
    base, _ = server
    pub_path = current_publication(data_dir / "publications")
    pub = pub_path.name
    sign_in(page, base, "xem")
    assert page.locator("svg.chart").count() >= 1
    assert page.locator("a[href='/sua-loi']").count() == 0 and page.locator("a[href='/chat-luong']").count() == 0
    page.goto(f"{base}/cong-bo/{pub}")
    links = page.locator("a[href^='/tai/']").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert set(links) <= {f"/tai/{pub}/commune/{n}" for n in AGGREGATE_FILES}
    assert {f"/tai/{pub}/commune/{n}" for n in ("thieu-hut-theo-chi-so.csv", "tien-do-muc-tieu.csv", "ty-le-theo-ap.csv")} <= set(links)
    for denied in ["commune/ho-ngheo.csv", "commune/niem-yet-ho-ngheo.csv", "hamlets/A01/ho-ngheo.csv", "commune/bang-chi-so.xlsx"]:
        response = page.goto(f"{base}/tai/{pub}/{denied}")
        assert response.status == 403, denied
    response = page.goto(f"{base}/xem/{pub}/commune/bao-cao-chat-luong.html")
    assert response.status == 403
    head_names = [r["Họ và tên chủ hộ"] for r in rows(pub_path / "commune" / "ho-ngheo.csv")]
    page.goto(f"{base}/tong-quan")
    assert not any(name in page.content() for name in head_names)


def test_officer_uploads_a_correction_and_sees_the_diff(page, server, data_dir: Path, tmp_path: Path):
    base, app = server
    before = current_publication(data_dir / "publications")
    poor = next(r for r in rows(before / "commune" / "households.csv") if r["household_class"] == "poor")
    upload = tmp_path / "sua-loi.csv"
    with upload.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Mã hộ", "Trường", "Giá trị cũ", "Giá trị mới", "Lý do", "Người sửa", "Ngày"])
        w.writerow([poor["household_id"], "income_wages", "", "1.200.000.000", "xác minh lại thu nhập", "Cán bộ A", "2026-11-20"])
    sign_in(page, base, "canbo")
    page.click("text=Sửa lỗi & chạy lại")
    page.set_input_files("#tep", str(upload))
    page.click("form[action='/sua-loi'] button[type=submit]")
    page.wait_for_url(f"{base}/sua-loi/*")
    deadline = time.time() + 90
    status = None
    while time.time() < deadline:
        try:
            status = page.locator("#trang-thai").get_attribute("data-status", timeout=5000)
        except Exception:  # the page is reloading itself every 3 s
            status = None
        if status in ("done", "failed"):
            break
        time.sleep(1)
    assert status == "done", page.inner_text("main")
    after = current_publication(data_dir / "publications")
    assert after != before and after.name in page.inner_text("#trang-thai")
    table = page.inner_text("#thay-doi")
    assert poor["household_id"] in table and "Hộ nghèo" in table
    assert "đã áp dụng" in page.inner_text("#sua-loi")
    assert (data_dir / "corrections" / "corrections.csv").read_bytes() == upload.read_bytes()
    page.goto(base + "/tong-quan")
    assert "→" in page.inner_text("main")  # the movement shows on the dashboard
