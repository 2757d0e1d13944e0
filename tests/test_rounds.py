"""Review rounds (issue 7): a whole round on a small hand-built publication, through the CLI."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from rasoat.cli import app
from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.pipeline.posting_pdf import find_font
from rasoat.pipeline.rounds import (
    Event, RoundError, apply_event, derive, load_round_config, posting_period, recognition_blockers, RoundStore,
)

D = dt.date

HOUSEHOLDS = [
    # id, head, hamlet, class now, class at the start of the year
    ("A01-001", "Nguyễn Văn Ánh", "A01", "poor", "poor"),
    ("A01-002", "Trần Thị Bích", "A01", "near_poor", ""),
    ("A01-003", "Lê Văn Cường", "A01", "average", "poor"),
    ("A01-004", "Phạm Thị Dung", "A01", "not_poor", ""),
    ("A02-001", "Võ Văn Đức", "A02", "poor", "near_poor"),
    ("A02-002", "Huỳnh Thị Én", "A02", "average", "near_poor"),
]


def _publication(data: Path) -> Path:
    pub = data / "publications" / "2027-test"
    (pub / "commune" / "bien-dong").mkdir(parents=True)
    pd.DataFrame([{"submission_id": f"s{i}", "household_id": h, "head_name": n, "hamlet": a, "household_class": c,
                   "income_per_capita_month": 1_500_000 + i * 100_000, "deprivation_count": 3 if c == "poor" else 1,
                   "deprived_indicators": "B1; C2", "corrected_fields": ""} for i, (h, n, a, c, _) in enumerate(HOUSEHOLDS)]
                 ).to_csv(pub / "commune" / "households.csv", index=False)
    pd.DataFrame([{"household_id": h, "hamlet": a, "head_name": n, "start_class": s, "household_class": c}
                  for h, n, a, c, s in HOUSEHOLDS]).to_csv(pub / "commune" / "bien-dong" / "movements.csv", index=False)
    lists = {"ho-ngheo": "poor", "ho-can-ngheo": "near_poor", "ho-muc-song-trung-binh": "average"}
    for name, cls in lists.items():
        pd.DataFrame([{"STT": 1, "Mã hộ": h, "Họ và tên chủ hộ": n, "Số CCCD chủ hộ": f"0890{i:08d}", "Dân tộc": "Khmer" if i == 5 else "Kinh",
                       "Số nhân khẩu": 4} for i, (h, n, a, c, _) in enumerate(HOUSEHOLDS) if c == cls]
                     ).to_csv(pub / "commune" / f"{name}.csv", index=False)
    pd.DataFrame([{"Mã hộ": "A02-002", "STT": k, "Họ và tên": name, "Năm sinh": year, "Quan hệ với chủ hộ": rel,
                   "Số định danh cá nhân": number} for k, (name, year, rel, number) in enumerate(
        [("Huỳnh Thị Én", 1979, "Chủ hộ", "089000000005"), ("Danh Thạch Phúc", 2012, "Con", "")], start=1)]
                 ).to_csv(pub / "commune" / "thanh-vien.csv", index=False)
    wb = Workbook()
    wb.active["A1"] = "Bảng chỉ số"
    wb.save(pub / "commune" / "bang-chi-so.xlsx")
    (data / "publications" / "CURRENT").write_text("2027-test\n", encoding="utf-8")
    return pub


def _run(*args: str, ok: bool = True):
    result = CliRunner().invoke(app, ["round", *args], env={"COLUMNS": "200", "RASOAT_OFFICER": "can-bo-lđtbxh"})
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


HOLIDAYS = load_round_config(BUNDLED_CONFIG_DIR).holidays


def test_posting_period_skips_weekend_and_holidays():
    # Fri 28 Aug 2026; Sat/Sun skipped, Mon 31 counts, Tue 1 + Wed 2 Sep (National Day) skipped → Thu 3 Sep.
    assert posting_period(D(2026, 8, 28), 3, HOLIDAYS) == (D(2026, 8, 28), D(2026, 9, 3))
    assert posting_period(D(2026, 8, 28), 3, []) == (D(2026, 8, 28), D(2026, 9, 1))
    # a start on a Saturday moves to Monday
    assert posting_period(D(2026, 10, 3), 1, []) == (D(2026, 10, 5), D(2026, 10, 5))
    assert D(2027, 2, 8) in HOLIDAYS  # Tết 2027 is in the bundled holiday list


def test_transitions_are_checked():
    opened = Event("opened", "x", "t", data={"round_id": "r", "year": 2027, "kind": "periodic", "scope": "all",
                                             "opened_on": "2026-09-01", "deadline": "2026-12-14",
                                             "households": [{"household_id": "H1", "hamlet": "A01", "household_class": "poor"}]})
    state = derive([opened])
    with pytest.raises(RoundError, match="họp dân"):
        apply_event(state, Event("posted", "x", "t", "A01", {"start": "2026-09-02", "end": "2026-09-04"}))
    with pytest.raises(RoundError, match="số người dự họp"):
        apply_event(state, Event("meeting", "x", "t", "A01", {"attended": 0, "agree": 0}))
    held = apply_event(state, Event("meeting", "x", "t", "A01", {"attended": 10, "agree": 5}))  # exactly 50% passes
    assert held.hamlets["A01"].state == "meeting_held"
    posted = apply_event(held, Event("posted", "x", "t", "A01", {"start": "2026-09-02", "end": "2026-09-04"}))
    with pytest.raises(RoundError, match="niêm yết đến hết"):
        apply_event(posted, Event("closed", "x", "t", "A01", {"today": "2026-09-04"}))
    assert recognition_blockers(posted, D(2026, 9, 4)) == [("Ấp A01", "đang niêm yết đến hết ngày 04/09/2026")]


@pytest.mark.skipif(find_font() is None or shutil.which("pdftotext") is None, reason="needs DejaVu Sans and pdftotext")
def test_whole_round(tmp_path):
    data = tmp_path / "data"
    _publication(data)
    d = ["--data-dir", str(data)]
    out = _run("open", "--year", "2027", "--today", "2026-08-20", *d).output
    assert "2027-periodic" in out and "5 hộ" in out  # A01-004 (never on a list) is out of scope

    # A01 fails its vote (8/20 < 50%) and goes back to re-survey; posting it is refused
    assert "không đạt" in _run("meeting", "A01", "--attended", "20", "--agree", "8", *d).output
    assert "chưa có cuộc họp dân đạt" in _run("post", "A01", "--start", "2026-08-28", *d, ok=False).output
    _run("meeting", "A01", "--attended", "20", "--agree", "15", *d)
    # A02 passes as a list but one household fails its own vote, then passes a second vote
    assert "rà soát lại hộ này" in _run("meeting", "A02", "--attended", "10", "--agree", "7", "--household", "A02-001:3", *d).output
    _run("meeting", "A02", "--attended", "10", "--agree", "7", "--household", "A02-001:8", *d)

    # posting: Fri 28 Aug → Thu 3 Sep (weekend and the National Day holidays skipped)
    assert "đến hết 03/09/2026" in _run("post", "A01", "--start", "2026-08-28", *d).output
    _run("post", "A02", "--start", "2026-08-28", *d)
    _run("complaint", "add", "--hamlet", "A02", "--household", "A02-002", "--by", "Huỳnh Thị Én", "--kind", "dispute",
         "--text", "Gia đình có người ốm nặng, thu nhập giảm", "--received", "2026-09-01", *d)

    # refused: the complaint is open, names the household
    refused = _run("decide", "--today", "2026-09-04", *d, ok=False).output
    assert "A02-002" in refused and "khiếu nại số 1" in refused
    _run("close", "A01", "--today", "2026-09-04", *d)
    assert "còn khiếu nại" in _run("close", "A02", "--today", "2026-09-04", *d, ok=False).output
    status = _run("status", "--today", "2026-09-04", *d).output
    assert "Đang niêm yết" in status and "Hết niêm yết" in status

    # the complaint is re-checked: the household is near-poor after all
    _run("complaint", "close", "1", "--result", "Rà soát lại: thu nhập 1.900.000 đ/người/tháng", "--reply", "Văn bản số 12/UBND",
         "--new-class", "near_poor", "--today", "2026-09-05", *d)
    _run("close", "A02", "--today", "2026-09-07", *d)
    assert "2 hộ nghèo, 2 hộ cận nghèo" in _run("decide", "--number", "15", "--today", "2026-09-07", *d).output
    _run("meeting", "A01", "--attended", "5", "--agree", "5", *d, ok=False)  # nothing changes after the decision

    _run("documents", *d)
    docs = data / "rounds" / "2027-periodic" / "documents"
    decision = " ".join(_pdf_text(docs / "quyet-dinh-cong-nhan.pdf").split())
    assert "Số: 15/QĐ-UBND" in decision
    assert "Công nhận 2 hộ nghèo và 2 hộ cận nghèo năm 2027" in decision
    assert "Huỳnh Thị Én" in decision and "Lê Văn Cường" not in decision  # the escaping household is not recognised
    certificates = sorted(p.name for p in (docs / "giay-chung-nhan").glob("*.pdf"))
    assert certificates == ["A01-001.pdf", "A01-002.pdf", "A02-001.pdf", "A02-002.pdf"]
    cert = " ".join(_pdf_text(docs / "giay-chung-nhan" / "A02-002.pdf").split())
    assert "GIẤY CHỨNG NHẬN HỘ CẬN NGHÈO" in cert and "Huỳnh Thị Én" in cert and "Khmer" in cert and "089000000005" in cert
    assert "Ấp Ví Dụ 02, Xã Vĩnh Phong, Tỉnh An Giang" in cert
    # its members from the publication's member list, each on a row of the certificate's table
    assert "1 Huỳnh Thị Én 1979 Chủ hộ 089000000005" in cert and "2 Danh Thạch Phúc 2012 Con" in cert
    other = " ".join(_pdf_text(docs / "giay-chung-nhan" / "A01-001.pdf").split())
    assert "Huỳnh Thị Én" not in other and "Danh Thạch Phúc" not in other  # a household without members listed: rows to fill
    minutes = " ".join(_pdf_text(docs / "bien-ban-hop-A01.pdf").split())
    assert "BIÊN BẢN HỌP DÂN" in minutes and "Hộ thoát nghèo" in minutes and "Lê Văn Cường" in minutes and "15/20" in minutes
    notice = " ".join(_pdf_text(docs / "thong-bao-niem-yet-A01.pdf").split())
    assert "từ ngày 28/08/2026 đến hết ngày 03/09/2026" in notice
    assert (docs / "bao-cao" / "bang-chi-so.xlsx").is_file()
    assert "Sở Nông nghiệp và Môi trường" in _pdf_text(docs / "bao-cao" / "bia-bao-cao.pdf")

    # every state change is in the log, with who and when
    events = RoundStore(data).load("2027-periodic")
    assert [e.kind for e in events].count("meeting") == 4 and events[-1].kind == "decided"
    assert all(e.who == "can-bo-lđtbxh" and e.at for e in events)


def test_monthly_round_request_and_deadlines(tmp_path):
    from rasoat.pipeline.rounds import overdue, recognised_households, round_deadline, scope_households

    cfg = load_round_config(BUNDLED_CONFIG_DIR)
    assert round_deadline("monthly", 2027, D(2027, 3, 15), cfg) == D(2027, 3, 30)
    assert round_deadline("periodic", 2027, D(2026, 9, 1), cfg) == D(2026, 12, 14)
    pub = _publication(tmp_path / "data")
    assert len(scope_households(pub, "all")) == 6 and len(scope_households(pub, "lists+requests")) == 5
    opened = Event("opened", "x", "t", data={"round_id": "m", "year": 2027, "kind": "monthly", "scope": "lists+requests",
                                             "opened_on": "2027-03-15", "deadline": "2027-03-30",
                                             "households": scope_households(pub, "lists+requests")})
    # a household not on any list asks to be added: it enters the round's scope and blocks until answered
    request = Event("complaint_added", "x", "t", "A01", {"id": 1, "households": ["A01-009"], "complainant": "Đỗ Văn Giàu",
                                                         "kind": "add", "text": "Xin vào danh sách hộ nghèo",
                                                         "received": "2027-03-16", "due": "2027-03-31", "head_name": "Đỗ Văn Giàu"})
    state = derive([opened, request])
    assert "A01-009" in state.households
    assert overdue(state, D(2027, 4, 1)) == [("Đợt m", "quá hạn quyết định (30/03/2027)"),
                                             ("Khiếu nại số 1 (ấp A01)", "quá hạn trả lời (31/03/2027)")]
    assert ("Hộ A01-009 (ấp A01)", "khiếu nại số 1 chưa giải quyết") in recognition_blockers(state, D(2027, 3, 20))
    answered = apply_event(state, Event("complaint_closed", "x", "t", "", {"id": 1, "result": "Khảo sát lại: hộ nghèo",
                                                                          "reply": "Văn bản 3/UBND", "new_class": "poor",
                                                                          "closed": "2027-03-20"}))
    assert "A01-009" in set(recognised_households(answered)["household_id"])
    with pytest.raises(RoundError, match="đã đóng"):
        apply_event(answered, Event("complaint_closed", "x", "t", "", {"id": 1, "result": "r", "reply": "r", "closed": "2027-03-21"}))
