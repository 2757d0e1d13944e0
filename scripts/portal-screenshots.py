"""Takes the screenshots of docs/portal.md with headless Chromium (Debian's /usr/bin/chromium).

    .venv/bin/python scripts/portal-screenshots.py [--out docs/portal]

Builds a small synthetic commune in a temporary folder, publishes it, creates three accounts,
starts the portal on a free loopback port, uploads one correction through the browser and
photographs the main pages on a desktop and a phone-sized screen.
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PASSWORD = "mat-khau-minh-hoa"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "portal")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    import uvicorn
    from playwright.sync_api import sync_playwright
    from prefect.testing.utilities import prefect_test_harness

    from rasoat.flows.review import DataFolder, questionnaire_for, review_flow
    from rasoat.pipeline import synthetic
    from rasoat.pipeline.publish import current_publication
    from rasoat.portal.app import PortalConfig, create_app
    from rasoat.portal.security import hash_password
    from rasoat.portal.store import PortalStore
    from rasoat.settings import load_settings

    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=60):
        folder = DataFolder(Path(tmp) / "data")
        folder.inbox.mkdir(parents=True)
        q = questionnaire_for(settings)
        synthetic.write_central_csv_zip(synthetic.generate_commune(list(settings.hamlets), q, seed=7, scale=0.1), q,
                                        folder.inbox / "rasoat_household.csv.zip")
        review_flow(data_dir=str(folder.root), reference_year=2026)
        store = PortalStore.for_data_dir(folder.root)
        for name, role, hamlet in [("canbo.xa", "commune_officer", None), ("truongap.a01", "hamlet_head", "A01"),
                                   ("xem", "viewer", None)]:
            store.add_user(name, role, hamlet, hash_password(PASSWORD), time.time())
        pub = current_publication(folder.publications)
        with (pub / "commune" / "households.csv").open(encoding="utf-8-sig", newline="") as f:
            poor = [r for r in csv.DictReader(f) if r["household_class"] == "poor"][:2]
        correction = Path(tmp) / "sua-loi-thang-11.csv"
        with correction.open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Mã hộ", "Trường", "Giá trị cũ", "Giá trị mới", "Lý do", "Người sửa", "Ngày"])
            for r in poor:
                w.writerow([r["household_id"], "income_wages", "", "900.000.000", "xác minh lại thu nhập tại hộ", "Cán bộ xã",
                            "2026-11-20"])

        app = create_app(PortalConfig(data_dir=folder.root, hamlet_names={h.code: h.name for h in settings.hamlets}))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

            def session(name: str, width: int, height: int, scale: float = 1):
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale, locale="vi-VN")
                page.goto(base + "/dang-nhap")
                page.fill("#ten", name)
                page.fill("#mat_khau", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(base + "/tong-quan")
                return page

            phone = browser.new_page(viewport={"width": 390, "height": 720}, device_scale_factor=2, locale="vi-VN")
            phone.goto(base + "/dang-nhap")
            phone.screenshot(path=str(out / "dang-nhap-dien-thoai.png"))

            officer = session("canbo.xa", 1100, 900)
            officer.screenshot(path=str(out / "tong-quan.png"), full_page=True)
            officer.goto(f"{base}/cong-bo/{pub.name}")
            officer.locator("details").first.evaluate("d => d.open = true")
            officer.screenshot(path=str(out / "cong-bo-can-bo-xa.png"), full_page=True)
            officer.goto(f"{base}/sua-loi")
            officer.set_input_files("#tep", str(correction))
            officer.click("form[action='/sua-loi'] button[type=submit]")
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if officer.locator("#trang-thai").get_attribute("data-status", timeout=5000) in ("done", "failed"):
                        break
                except Exception:
                    pass
                time.sleep(1)
            officer.screenshot(path=str(out / "sua-loi-ket-qua.png"), full_page=True)
            officer.goto(f"{base}/nhat-ky")
            officer.screenshot(path=str(out / "nhat-ky.png"))

            head = session("truongap.a01", 390, 800, 2)
            head.goto(f"{base}/cong-bo/{current_publication(folder.publications).name}")
            head.screenshot(path=str(out / "cong-bo-truong-ap-dien-thoai.png"), full_page=True)

            viewer = session("xem", 390, 800, 2)
            viewer.screenshot(path=str(out / "tong-quan-nguoi-xem-dien-thoai.png"), full_page=True)
            browser.close()
        server.should_exit = True
        store.close()
    for png in sorted(out.glob("*.png")):
        print(png)


if __name__ == "__main__":
    main()
