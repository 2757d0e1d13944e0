"""The publisher: list layout, files, formula neutralisation, manifest, atomic switch-over."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
import os
import unicodedata
from pathlib import Path

import openpyxl
import numpy as np
import pandas as pd
import pytest

from rasoat.pipeline import publish as pub
from rasoat.pipeline.publish import (
    CsvParts,
    RowPieces,
    PublicationHeading,
    csv_bytes,
    current_publication,
    household_lists,
    neutralise,
    posting_list,
    publish,
)

NFD_NAME = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")
NFC_NAME = unicodedata.normalize("NFC", NFD_NAME)
EVIL_NAME = "=HYPERLINK(\"http://x\",\"Lê\")"
ID_POOR_A = "089123456789"
PHONE_POOR_A = "0912345678"

HEADING = PublicationHeading(
    authority="Ủy ban nhân dân xã Vĩnh Phong",
    commune_name="Xã Vĩnh Phong",
    province="Tỉnh An Giang",
    reference_year=2027,
    rule_set_version="NĐ 07/2021/NĐ-CP (2022–2025)",
    provisional=True,
    published_on=dt.date(2026, 12, 15),
)


def _household(hid, hamlet, hamlet_name, name, idn, phone, eth, cls, label, income, reason,
               provisional=False, members=4, dep=2, inds="H2, W1"):
    return {
        "household_id": hid, "hamlet": hamlet, "hamlet_name": hamlet_name, "head_name": name,
        "head_id_number": idn, "phone": phone, "address": pd.NA, "ethnicity": eth,
        "area_type": "rural", "members": members, "income_per_capita_month": income,
        "deprivation_count": dep, "deprived_indicators": inds, "household_class": cls,
        "class_label": label, "reason": reason, "provisional": provisional,
    }


@pytest.fixture
def classified() -> pd.DataFrame:
    rows = [
        _household("A02-0002", "A02", "Ấp Hòa Bình", "Trần Văn Bình", "089000000222", pd.NA,
                   "khmer", "poor", "Hộ nghèo", 1_200_000,
                   "Thu nhập 1.200.000 đồng/người/tháng ≤ 1.500.000; thiếu hụt 3 chỉ số"),
        _household("A01-0001", "A01", "Ấp Vĩnh Lợi", NFD_NAME, ID_POOR_A, PHONE_POOR_A,
                   "kinh", "poor", "Hộ nghèo", 1_450_000,
                   "Thu nhập 1.450.000 đồng/người/tháng ≤ 1.500.000", provisional=True),
        _household("A01-0003", "A01", "Ấp Vĩnh Lợi", EVIL_NAME, "089000000333", "+84912000333",
                   "cham", "near_poor", "Hộ cận nghèo", 1_600_000,
                   "-Thu nhập trên chuẩn nghèo, thiếu hụt dưới 3 chỉ số"),
        _household("A02-0004", "A02", "Ấp Hòa Bình", "Lâm Thị Hoa", pd.NA, "0909000444",
                   "hoa", "average", "Hộ có mức sống trung bình", 2_100_000,
                   "Thu nhập 2.100.000 đồng/người/tháng ≤ 2.250.000"),
        _household("A02-0005", "A02", "Ấp Hòa Bình", "Phạm Văn Khá", "089000000555", pd.NA,
                   "other", "not_poor", "Hộ không nghèo", 5_000_000, "Thu nhập trên chuẩn",
                   dep=0, inds=""),
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    return {
        "Tỷ lệ theo ấp": pd.DataFrame({
            "Ấp": ["Ấp Vĩnh Lợi", "Ấp Hòa Bình"],
            "Số hộ nghèo": [1, 1],
            "Tỷ lệ hộ nghèo (%)": [0.29, 0.34],
        }),
        "Thiếu hụt theo chỉ số": pd.DataFrame({
            "Chỉ số": ["H2", "W1"], "Số hộ thiếu hụt": [3, 2],
        }),
    }


MANIFEST = {"input_snapshot": "sha256:abc", "counts": {"poor": 2, "near_poor": 1},
            "note": "Ghi chú tiếng Việt"}

LISTS = ["ho-ngheo", "ho-can-ngheo", "ho-muc-song-trung-binh",
         "niem-yet-ho-ngheo", "niem-yet-ho-can-ngheo"]


def _publish(classified, tables, root: Path, pid="2027-test", **kw) -> Path:
    return publish(classified, tables, HEADING, MANIFEST, root, pid, **kw)


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def _all_cells(ws) -> list:
    return [c.value for row in ws.iter_rows() for c in row if c.value is not None]


# ---------------------------------------------------------------------------- pure layout


def test_neutralise():
    for bad in ["=1+1", "+84", "-5", "@SUM(A1)", "\tx", "\rx"]:
        assert neutralise(bad) == "'" + bad
    for ok in ["Nguyễn", "", "1.200.000", "'quoted", "'"]:
        assert neutralise(ok) == ok
    for quoted in ["'=already", "''", "'-5"]:  # a reader would take their quote off: one more is put first
        assert neutralise(quoted) == "'" + quoted


def test_household_lists_layout(classified):
    lists = household_lists(classified)
    assert list(lists) == ["ho-ngheo", "ho-can-ngheo", "ho-muc-song-trung-binh"]
    poor = lists["ho-ngheo"]
    assert list(poor.columns) == pub.OFFICER_COLUMNS
    for col in ["STT", "Mã hộ", "Họ và tên chủ hộ", "Ấp", "Dân tộc", "Số nhân khẩu",
                pub.MONEY_HEADER, "Số chỉ số thiếu hụt", "Các chỉ số thiếu hụt", "Lý do",
                "Số CCCD chủ hộ", "Số điện thoại"]:
        assert col in poor.columns
    # sorted by hamlet code then household id; STT from 1
    assert poor["Mã hộ"].tolist() == ["A01-0001", "A02-0002"]
    assert poor["STT"].tolist() == [1, 2]
    assert poor["Họ và tên chủ hộ"].tolist() == [NFC_NAME, "Trần Văn Bình"]
    assert poor["Dân tộc"].tolist() == ["Kinh", "Khmer"]
    assert poor[pub.MONEY_HEADER].tolist() == [1_450_000, 1_200_000]
    assert poor["Số điện thoại"].tolist() == [PHONE_POOR_A, ""]
    assert poor["Quy tắc tạm thời"].tolist() == ["Có", ""]
    assert lists["ho-can-ngheo"]["Dân tộc"].tolist() == ["Chăm"]
    assert lists["ho-muc-song-trung-binh"]["Dân tộc"].tolist() == ["Hoa"]
    assert lists["ho-muc-song-trung-binh"]["Số CCCD chủ hộ"].tolist() == [""]


def test_posting_list_has_no_private_data(classified):
    # a reason quoting an ID number must not leak it either
    classified.loc[classified["household_id"] == "A02-0002", "reason"] = (
        f"Xác minh theo CCCD {ID_POOR_A}")
    posting = posting_list(classified)
    assert list(posting) == ["niem-yet-ho-ngheo", "niem-yet-ho-can-ngheo"]
    for table in posting.values():
        assert list(table.columns) == ["STT", "Họ và tên chủ hộ", "Ấp", "Phân loại", "Lý do"]
        text = " ".join(str(v) for v in table.to_numpy().ravel())
        for secret in classified["head_id_number"].dropna().tolist() + \
                classified["phone"].dropna().tolist():
            assert secret not in text
    assert posting["niem-yet-ho-ngheo"]["Phân loại"].tolist() == ["Hộ nghèo", "Hộ nghèo"]


def test_unknown_ethnicity_is_refused(classified):
    classified.loc[0, "ethnicity"] = "martian"
    with pytest.raises(ValueError, match="martian"):
        household_lists(classified)


def test_date_line():
    assert pub.date_line(HEADING) == "Vĩnh Phong, ngày 15 tháng 12 năm 2026"
    early = PublicationHeading(**{**HEADING.__dict__, "published_on": dt.date(2027, 2, 3)})
    assert pub.date_line(early) == "Vĩnh Phong, ngày 03 tháng 02 năm 2027"


# ---------------------------------------------------------------------------- the files


def test_layout_of_files(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    assert out == tmp_path / "2027-test"
    for name in LISTS:
        assert (out / "commune" / f"{name}.xlsx").is_file()
        assert (out / "commune" / f"{name}.csv").is_file()
        for hamlet in ("A01", "A02"):
            assert (out / "hamlets" / hamlet / f"{name}.xlsx").is_file()
            assert (out / "hamlets" / hamlet / f"{name}.csv").is_file()
    assert (out / "commune" / "bang-chi-so.xlsx").is_file()
    assert (out / "commune" / "ty-le-theo-ap.csv").is_file()
    assert (out / "commune" / "thieu-hut-theo-chi-so.csv").is_file()
    assert (out / "manifest.json").is_file()
    wb = openpyxl.load_workbook(out / "commune" / "bang-chi-so.xlsx")
    assert wb.sheetnames == ["Tỷ lệ theo ấp", "Thiếu hụt theo chỉ số"]
    assert not list(tmp_path.glob(".incoming-*"))

    # A01 has no average household: the file still exists, with headers only
    empty = _read_csv(out / "hamlets" / "A01" / "ho-muc-song-trung-binh.csv")
    assert list(empty.columns) == pub.OFFICER_COLUMNS and len(empty) == 0
    a02 = _read_csv(out / "hamlets" / "A02" / "ho-ngheo.csv")
    assert a02["Mã hộ"].tolist() == ["A02-0002"] and a02["STT"].tolist() == ["1"]


def test_hamlet_without_households_gets_header_only_files(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path, hamlets={"A03": "Ấp Mới"})
    for name in LISTS:
        table = _read_csv(out / "hamlets" / "A03" / f"{name}.csv")
        assert len(table) == 0 and len(table.columns) > 0


def test_csv_encoding_and_round_trip(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    path = out / "commune" / "ho-ngheo.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    back = _read_csv(path)
    expected = household_lists(classified)["ho-ngheo"]
    assert list(back.columns) == list(expected.columns)
    assert back["Họ và tên chủ hộ"].tolist() == [NFC_NAME, "Trần Văn Bình"]
    assert back["Lý do"].tolist() == expected["Lý do"].tolist()
    assert back["Ấp"].tolist() == ["Ấp Vĩnh Lợi", "Ấp Hòa Bình"]
    assert back["Số CCCD chủ hộ"].tolist() == [ID_POOR_A, "089000000222"]
    assert back[pub.MONEY_HEADER].tolist() == ["1450000", "1200000"]
    # tables written as given
    rates = _read_csv(out / "commune" / "ty-le-theo-ap.csv")
    assert rates.to_dict("list") == {"Ấp": ["Ấp Vĩnh Lợi", "Ấp Hòa Bình"],
                                     "Số hộ nghèo": ["1", "1"],
                                     "Tỷ lệ hộ nghèo (%)": ["0.29", "0.34"]}


def test_xlsx_heading_data_and_print_setup(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    wb = openpyxl.load_workbook(out / "commune" / "ho-ngheo.xlsx")
    ws = wb.active
    cells = _all_cells(ws)
    assert "ỦY BAN NHÂN DÂN XÃ VĨNH PHONG" in cells
    assert "DANH SÁCH HỘ NGHÈO NĂM 2027" in cells
    assert "Xã Vĩnh Phong, Tỉnh An Giang" in cells
    assert "Chuẩn nghèo: NĐ 07/2021/NĐ-CP (2022–2025)" in cells
    assert "Áp dụng quy tắc tạm thời (chưa có văn bản chính thức)" in cells
    assert "Vĩnh Phong, ngày 15 tháng 12 năm 2026" in cells
    for text in ["NGƯỜI LẬP BIỂU", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "(Ký, ghi rõ họ tên)"]:
        assert text in cells

    header_row = next(r for r in ws.iter_rows() if r[0].value == "STT")[0].row
    header = [c.value for c in ws[header_row]][: len(pub.OFFICER_COLUMNS)]
    assert header == pub.OFFICER_COLUMNS
    assert ws.cell(header_row, 1).font.b
    first = [c.value for c in ws[header_row + 1]][: len(pub.OFFICER_COLUMNS)]
    assert first[:4] == [1, "A01-0001", NFC_NAME, ID_POOR_A]
    money_col = pub.OFFICER_COLUMNS.index(pub.MONEY_HEADER) + 1
    money = ws.cell(header_row + 1, money_col)
    assert money.value == 1_450_000 and isinstance(money.value, int)
    assert money.number_format == "#,##0"

    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9
    assert ws.print_title_rows.replace("$", "") == f"{header_row}:{header_row}"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    # fitToWidth omitted = 1 (the default); fitToHeight 0 = as many pages tall as needed
    assert int(ws.page_setup.fitToWidth or 1) == 1 and int(ws.page_setup.fitToHeight) == 0
    assert "Trang &P / &N" in ws.oddFooter.center.text
    assert ws.column_dimensions["C"].width > ws.column_dimensions["A"].width

    hamlet = openpyxl.load_workbook(out / "hamlets" / "A02" / "ho-ngheo.xlsx").active
    assert "Ấp Hòa Bình, Xã Vĩnh Phong, Tỉnh An Giang" in _all_cells(hamlet)


def test_provisional_line_absent_when_not_provisional(classified, tables, tmp_path):
    heading = PublicationHeading(**{**HEADING.__dict__, "provisional": False})
    out = publish(classified, tables, heading, MANIFEST, tmp_path, "x")
    cells = _all_cells(openpyxl.load_workbook(out / "commune" / "ho-ngheo.xlsx").active)
    assert pub.PROVISIONAL_NOTE not in cells


def test_posting_files_have_no_id_or_phone(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    secrets = [s for s in classified["head_id_number"].dropna().tolist()
               + classified["phone"].dropna().tolist()]
    for path in list(out.rglob("niem-yet-*.csv")) + list(out.rglob("niem-yet-*.xlsx")):
        if path.suffix == ".csv":
            table = _read_csv(path)
            cells = list(table.columns) + table.to_numpy().ravel().tolist()
        else:
            cells = [str(v) for ws in openpyxl.load_workbook(path) for v in _all_cells(ws)]
        assert not any("CCCD" in str(c) or "điện thoại" in str(c) for c in cells), path
        for secret in secrets:
            assert not any(secret.lstrip("+") in str(c) for c in cells), (path, secret)


def test_formula_like_text_is_neutralised(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    back = _read_csv(out / "commune" / "ho-can-ngheo.csv")
    assert back["Họ và tên chủ hộ"].tolist() == ["'" + EVIL_NAME]
    assert back["Lý do"].iloc[0].startswith("'-Thu nhập")
    assert back["Số điện thoại"].tolist() == ["'+84912000333"]

    wb = openpyxl.load_workbook(out / "commune" / "ho-can-ngheo.xlsx")
    ws = wb.active
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in cells)
    assert not any(isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))
                   for c in cells)
    assert "'" + EVIL_NAME in [c.value for c in cells]
    posted = openpyxl.load_workbook(out / "hamlets" / "A01" / "niem-yet-ho-can-ngheo.xlsx")
    assert "'" + EVIL_NAME in _all_cells(posted.active)


def test_manifest_lists_every_file_with_sha256(classified, tables, tmp_path):
    out = _publish(classified, tables, tmp_path)
    raw = (out / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(raw)
    assert "Ghi chú tiếng Việt" in raw  # ensure_ascii=False
    assert manifest["input_snapshot"] == "sha256:abc"
    assert manifest["publication_id"] == "2027-test"
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if p.is_file() and p.name != "manifest.json")
    listed = [f["path"] for f in manifest["files"]]
    assert listed == on_disk
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert raw == json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def test_current_points_at_new_publication(classified, tables, tmp_path):
    assert current_publication(tmp_path) is None
    first = _publish(classified, tables, tmp_path, "2027-a")
    second = _publish(classified, tables, tmp_path, "2027-b")
    assert first.is_dir() and second.is_dir()
    assert os.readlink(tmp_path / "current") == "2027-b"
    assert (tmp_path / "current" / "manifest.json").is_file()
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8").strip() == "2027-b"
    assert current_publication(tmp_path) == second
    (tmp_path / "current").unlink()  # systems without symlinks use CURRENT
    assert current_publication(tmp_path) == second
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_existing_id_fails_clearly(classified, tables, tmp_path):
    _publish(classified, tables, tmp_path, "2027-a")
    with pytest.raises(FileExistsError, match="2027-a"):
        _publish(classified, tables, tmp_path, "2027-a")
    with pytest.raises(ValueError):
        _publish(classified, tables, tmp_path, "../evil")


def test_default_id(classified, tables, tmp_path):
    out = publish(classified, tables, HEADING, MANIFEST, tmp_path)
    assert out.name.startswith("2027-")
    assert dt.datetime.strptime(out.name[5:], "%Y%m%dT%H%M%SZ")


def test_failure_mid_write_leaves_previous_current(classified, tables, tmp_path, monkeypatch):
    first = _publish(classified, tables, tmp_path, "2027-a")
    real = pub.write_xlsx
    calls = {"n": 0}

    def flaky(path, sheets, heading):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("disk full")
        return real(path, sheets, heading)

    monkeypatch.setattr(pub, "write_xlsx", flaky)
    with pytest.raises(OSError, match="disk full"):
        _publish(classified, tables, tmp_path, "2027-b")
    assert calls["n"] == 4
    assert not (tmp_path / "2027-b").exists()
    assert not list(tmp_path.glob(".incoming-*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2027-a", "CURRENT", "current"]
    assert current_publication(tmp_path) == first
    assert os.readlink(tmp_path / "current") == "2027-a"


def test_same_inputs_give_identical_bytes(classified, tables, tmp_path):
    one = _publish(classified, tables, tmp_path / "one", "2027-same")
    two = _publish(classified.sample(frac=1, random_state=3), tables, tmp_path / "two",
                   "2027-same")
    files_one = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    files_two = sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert files_one == files_two
    assert any(p.suffix == ".xlsx" for p in files_one)
    for rel in files_one:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_list_files_written_by_worker_processes_are_the_same_bytes(classified, tables, tmp_path, monkeypatch):
    monkeypatch.setenv("RASOAT_WORKERS", "1")
    alone = _publish(classified, tables, tmp_path / "alone", "2027-same")
    monkeypatch.setenv("RASOAT_WORKERS", "2")  # what a province-sized run does on two cores
    spread = _publish(classified, tables, tmp_path / "spread", "2027-same")
    files = sorted(p.relative_to(alone) for p in alone.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(spread) for p in spread.rglob("*") if p.is_file())
    assert {p.suffix for p in files} >= {".csv", ".xlsx", ".pdf"}
    for rel in files:
        assert (alone / rel).read_bytes() == (spread / rel).read_bytes(), rel


def test_a_failing_worker_fails_the_publication_and_the_previous_one_stays(classified, tables, tmp_path, monkeypatch):
    first = _publish(classified, tables, tmp_path, "2027-first")
    fonts = tmp_path / "fonts"  # a broken font: every worker fails when it draws a posting PDF
    fonts.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        (fonts / name).write_bytes(b"not a font")
    monkeypatch.setenv("RASOAT_FONT_DIR", str(fonts))
    monkeypatch.setenv("RASOAT_WORKERS", "2")
    with pytest.raises(Exception):
        _publish(classified, tables, tmp_path, "2027-second")
    assert current_publication(tmp_path) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incoming") or p.name == "2027-second"]


# ---------------------------------------------------------------------------- posting PDFs


def _pdf_text(path: Path) -> str:
    import shutil
    import subprocess

    tool = shutil.which("pdftotext")
    assert tool, "pdftotext is missing: run bash scripts/test-all (it installs poppler-utils)"
    return subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_posting_lists_are_pdfs_with_an_embedded_vietnamese_font(classified, tables, tmp_path):
    from rasoat.pipeline.posting_pdf import find_font

    assert find_font() is not None, "no DejaVu Sans: run bash scripts/test-all (it installs fonts-dejavu-core)"
    pub_dir = _publish(classified, tables, tmp_path / "pubs")
    commune_pdf = pub_dir / "commune" / "niem-yet-ho-ngheo.pdf"
    data = commune_pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data  # the TrueType font travels inside the file
    text = unicodedata.normalize("NFC", _pdf_text(commune_pdf))
    assert "DANH SÁCH NIÊM YẾT CÔNG KHAI HỘ NGHÈO" in text.replace("\n", " ")
    assert "Trần Văn Bình" in text and "Ấp Hòa Bình" in text and "Trang 1 / 1" in text
    assert "CHỦ TỊCH" in text and "(Ký, ghi rõ họ tên, đóng dấu)" in text
    for secret in (ID_POOR_A, PHONE_POOR_A, "089000000222"):  # never an ID number or phone on a posted list
        assert secret not in text
    hamlet_pdf = pub_dir / "hamlets" / "A02" / "niem-yet-ho-ngheo.pdf"
    assert "Trần Văn Bình" in _pdf_text(hamlet_pdf) and "Vĩnh Lợi" not in _pdf_text(hamlet_pdf)
    assert (pub_dir / "hamlets" / "A01" / "niem-yet-ho-can-ngheo.pdf").is_file()
    listed = {f["path"] for f in json.loads((pub_dir / "manifest.json").read_text(encoding="utf-8"))["files"]}
    assert "commune/niem-yet-ho-ngheo.pdf" in listed


def test_without_a_vietnamese_font_no_pdf_is_written(classified, tables, tmp_path, monkeypatch):
    from rasoat.pipeline import posting_pdf

    monkeypatch.setattr(posting_pdf, "find_font", lambda: None)
    pub_dir = _publish(classified, tables, tmp_path / "pubs")
    assert not list(pub_dir.rglob("*.pdf"))
    assert (pub_dir / "commune" / "niem-yet-ho-ngheo.csv").is_file()


def test_indicator_workbook_draws_charts_from_its_own_cells(classified, tables, tmp_path):
    from rasoat.pipeline.publish import ChartSpec

    tables = {**tables, "Tỷ lệ theo ấp": tables["Tỷ lệ theo ấp"].assign(**{"Chỉ tiêu (%)": [0.68, 0.68]})}
    charts = {"Tỷ lệ theo ấp": ChartSpec("Tỷ lệ hộ nghèo theo ấp so với chỉ tiêu", "Ấp", ("Tỷ lệ hộ nghèo (%)",), line="Chỉ tiêu (%)"),
              "Thiếu hụt theo chỉ số": ChartSpec("Số hộ thiếu hụt", "Chỉ số", ("Số hộ thiếu hụt",), horizontal=True)}
    pub_dir = _publish(classified, tables, tmp_path / "a", charts=charts)
    book = pub_dir / "commune" / "bang-chi-so.xlsx"
    import zipfile

    with zipfile.ZipFile(book) as z:
        drawn = sorted(n for n in z.namelist() if n.startswith("xl/charts/chart"))
        chart_xml = z.read(drawn[0]).decode("utf-8")
    assert len(drawn) == 2
    assert "Tỷ lệ hộ nghèo theo ấp so với chỉ tiêu" in chart_xml and "<c:lineChart>" in chart_xml
    # charts keep the workbook byte-identical for the same inputs
    again = _publish(classified, tables, tmp_path / "b", charts=charts)
    assert (again / "commune" / "bang-chi-so.xlsx").read_bytes() == book.read_bytes()
    with pytest.raises(ValueError, match="not in the table"):
        _publish(classified, tables, tmp_path / "c", charts={"Tỷ lệ theo ấp": ChartSpec("x", "Ấp", ("Không có",))})
    assert current_publication(tmp_path / "c") is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_table_written_in_parts_is_the_csv_of_the_whole_table_and_listed_in_the_manifest(classified, tables, tmp_path,
                                                                                          monkeypatch, workers):
    monkeypatch.setenv("RASOAT_WORKERS", workers)  # 2: the parts are made in worker processes, as for a province
    awkward = pd.DataFrame({"Mã hộ": ["H1", "=SUM(A1)", None, "H, \"4\"", "H5"], "Số": pd.array([1, None, 3, 4, 5], dtype="Int64"),
                            "Căn cứ": ["thu nhập 1.500.000 đồng", "dòng\nmới", "", None, "Nguyễn"],
                            "Có": [True, False, True, None, False]})
    whole = csv_bytes(awkward)
    parts = CsvParts(operator.getitem, [(awkward, slice(i, i + 2)) for i in range(0, len(awkward), 2)])
    empty = CsvParts(operator.getitem, [(awkward, slice(0, 0))])
    pub = _publish(classified, tables, tmp_path, files={"commune/chi-tiet.csv": parts, "commune/rong.csv": empty})
    assert (pub / "commune" / "chi-tiet.csv").read_bytes() == whole
    assert (pub / "commune" / "rong.csv").read_bytes() == csv_bytes(awkward.iloc[:0])
    listed = {f["path"]: f for f in json.loads((pub / "manifest.json").read_text(encoding="utf-8"))["files"]}
    assert listed["commune/chi-tiet.csv"] == {"path": "commune/chi-tiet.csv", "sha256": hashlib.sha256(whole).hexdigest(),
                                              "bytes": len(whole)}


def test_parts_that_yield_nothing_fail_the_publication_and_leave_none_behind(classified, tables, tmp_path):
    with pytest.raises(ValueError, match="no part"):
        _publish(classified, tables, tmp_path, files={"commune/x.csv": CsvParts(operator.getitem, [])})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incoming")] and current_publication(tmp_path) is None


@pytest.mark.parametrize("rows", [1, 2, 5, 100])
def test_a_table_written_rows_at_a_time_is_its_whole_csv(tmp_path, rows):
    awkward = pd.DataFrame({"Mã hộ": ["H1", "=SUM(A1)", None, "H, \"4\"", "H5"], "Số": pd.array([1, None, 3, 4, 5], dtype="Int64"),
                            "Căn cứ": ["thu nhập 1.500.000 đồng", "dòng\nmới", "", None, "Nguyễn"],
                            "Có": [True, False, True, None, False]})
    for table in (awkward, awkward.iloc[:0], awkward[["Căn cứ"]]):
        digest = CsvParts.rows_of(table, rows).write(tmp_path / "x.csv")
        assert (tmp_path / "x.csv").read_bytes() == csv_bytes(table)
        assert digest == hashlib.sha256(csv_bytes(table)).hexdigest()  # worked out as written, for the manifest


def test_row_pieces_take_their_rows_only_when_asked():
    taken = []

    class Counting(pd.DataFrame):  # records each take, so laziness is visible
        @property
        def _constructor(self):
            return Counting

        def take(self, indices, *args, **kwargs):
            taken.append(list(indices))
            return super().take(indices, *args, **kwargs)

    table = Counting({"x": list("abcde")})
    pieces = RowPieces(table, 2, order=np.array([4, 3, 2, 1, 0]), extra=("rules",))
    assert len(pieces) == 3 and not taken
    first, extra = pieces[0]
    assert first["x"].tolist() == ["e", "d"] and extra == "rules" and taken == [[4, 3]]
    assert [p[0]["x"].tolist() for p in pieces] == [["e", "d"], ["c", "b"], ["a"]]
    with pytest.raises(IndexError):
        pieces[3]
    assert len(RowPieces(table.iloc[:0], 2)) == 1 and RowPieces(table.iloc[:0], 2)[0][0].empty
