"""Helpers for the portal tests: a hand-made publication, a fake clock, signing in."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from rasoat.pipeline.publish import csv_bytes

import pandas as pd

PUB_ID = "2026-20261120T080000Z"
OLD_PUB_ID = "2026-20261101T080000Z"
SECRET_NAME = "Nguyễn Thị Bí Mật"
SECRET_CCCD = "079123456789"
PASSWORD = "mat-khau-dai-1"


class FakeClock:
    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _csv(rows: list[dict]) -> bytes:
    return csv_bytes(pd.DataFrame(rows))


def officer_list(name: str, cccd: str, hamlet: str) -> bytes:
    return _csv([{"STT": 1, "Mã hộ": f"{hamlet}-0001", "Họ và tên chủ hộ": name, "Số CCCD chủ hộ": cccd, "Ấp": hamlet}])


def make_publication(publications: Path, pub_id: str = PUB_ID, current: bool = True, changes: list[dict] | None = None) -> Path:
    """A small publication laid out as `rasoat.pipeline.publish` does, with known contents."""
    root = publications / pub_id
    files = {
        "commune/ho-ngheo.csv": officer_list(SECRET_NAME, SECRET_CCCD, "A01"),
        "commune/niem-yet-ho-ngheo.csv": _csv([{"STT": 1, "Họ và tên chủ hộ": SECRET_NAME, "Ấp": "Ấp Ví Dụ 01"}]),
        "commune/bang-chi-so.xlsx": b"PK\x03\x04 not really a workbook",
        "commune/ty-le-theo-ap.csv": _csv([
            {"Mã ấp": "A01", "Tên ấp": "Ấp Ví Dụ 01", "Số hộ rà soát": 10, "Hộ nghèo": 1, "Hộ cận nghèo": 2,
             "Tỷ lệ hộ nghèo (%)": 2.5, "Tỷ lệ hộ cận nghèo (%)": 4.0},
            {"Mã ấp": "A02", "Tên ấp": "Ấp Ví Dụ 02", "Số hộ rà soát": 12, "Hộ nghèo": 0, "Hộ cận nghèo": 1,
             "Tỷ lệ hộ nghèo (%)": 0.0, "Tỷ lệ hộ cận nghèo (%)": 1.5},
            {"Mã ấp": "", "Tên ấp": "Toàn xã", "Số hộ rà soát": 22, "Hộ nghèo": 1, "Hộ cận nghèo": 3,
             "Tỷ lệ hộ nghèo (%)": 1.2, "Tỷ lệ hộ cận nghèo (%)": 2.7},
        ]),
        "commune/tien-do-muc-tieu.csv": _csv([
            {"Mã mục tiêu": "poor_rate", "Mục tiêu": "Tỷ lệ hộ nghèo", "Chỉ tiêu năm 2026": 0.68, "Hướng": "không quá",
             "Kết quả rà soát": 1.2, "Đánh giá": "Chưa đạt"},
            {"Mã mục tiêu": "water", "Mục tiêu": "Dân số sử dụng nước sạch", "Chỉ tiêu năm 2026": 90.0, "Hướng": "ít nhất",
             "Kết quả rà soát": 92.5, "Đánh giá": "Đạt"},
        ]),
        "commune/bien-dong-theo-ap.csv": _csv([{"Ấp": "A01", "Tên ấp": "Ấp Ví Dụ 01", "Hộ nghèo đầu kỳ": 2, "Thoát nghèo sang cận nghèo": 1,
                                                 "Hộ nghèo cuối kỳ": 1}]),
        "commune/thieu-hut-theo-chi-so.csv": _csv([{"Mã chỉ số": "E1", "Chỉ số": "Việc làm", "Tổng số hộ thiếu hụt": 3}]),
        "commune/kiem-tra-du-lieu.csv": _csv([{"Mã hộ": "A01-0001", "Điều tra viên": "Trần Văn Điều Tra", "Nội dung": "thiếu"}]),
        "commune/bao-cao-chat-luong.html": f"<html><body><h1>BÁO CÁO</h1><p>{SECRET_NAME}</p></body></html>".encode(),
        "hamlets/A01/ho-ngheo.csv": officer_list(SECRET_NAME, SECRET_CCCD, "A01"),
        "hamlets/A01/bao-cao-chat-luong.html": "<html><body>A01</body></html>".encode(),
        "hamlets/A02/ho-ngheo.csv": officer_list("Lê Văn Ấp Hai", "079000000002", "A02"),
        "hamlets/A02/bao-cao-chat-luong.html": "<html><body>A02</body></html>".encode(),
    }
    if changes is not None:
        files["commune/thay-doi-so-voi-lan-truoc.csv"] = _csv(changes) if changes else (
            "\ufeffMã hộ,Mã phiếu,Ấp,Phân loại lần trước,Phân loại lần này,Nguyên nhân\r\n".encode())
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    manifest = {"publication_id": pub_id, "reference_year": 2026, "created_at": pub_id[5:9] + "-" + pub_id[9:11] + "-" + pub_id[11:13] + "T08:00:00Z",
                "rule_set": {"version": "2022-2026.1", "provisional": False},
                "counts": {"households_classified": 22, "poor": 1, "near_poor": 3, "households_excluded": 0, "issues": 1},
                "files": [{"path": rel} for rel in files]}
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    if current:
        link = publications / "current"
        if link.is_symlink():
            link.unlink()
        os.symlink(pub_id, link)
        (publications / "CURRENT").write_text(pub_id, encoding="utf-8")
    return root


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_in(client, name: str, password: str = PASSWORD, follow: bool = False):
    page = client.get("/dang-nhap")
    return client.post("/dang-nhap", data={"csrf": csrf_of(page.text), "ten": name, "mat_khau": password, "tiep": "/cong-bo"},
                       follow_redirects=follow)
