"""The posting-list PDF lays its table out itself (for speed on lists of tens of thousands of rows):
what it prints must still be all there, readable by pdftotext, paged with the header repeated, and
byte-identical for the same input."""

from __future__ import annotations

import datetime as dt
import pickle
import random
import re
import shutil
import subprocess
import sys
import unicodedata

import pandas as pd
import pytest

from rasoat.pipeline import posting_pdf as module
from rasoat.pipeline.posting_pdf import find_font, posting_pdf

pytestmark = pytest.mark.skipif(find_font() is None or shutil.which("pdftotext") is None,
                                reason="needs DejaVu Sans and pdftotext")

COLUMNS = ["STT", "Họ và tên chủ hộ", "Ấp", "Phân loại", "Lý do"]
WORDS = ("thu nhập bình quân đầu người thấp hơn chuẩn nghèo thiếu hụt chỉ số nhà ở nước sinh hoạt bảo hiểm y tế "
         "giáo dục người lớn trẻ em đi học việc làm người phụ thuộc dịch vụ viễn thông hộ gia đình").split()
KW = dict(authority="Ủy ban nhân dân xã Vĩnh Lợi", title="DANH SÁCH NIÊM YẾT CÔNG KHAI HỘ NGHÈO NĂM 2026",
          place="Xã Vĩnh Lợi, Tỉnh Cà Mau", rule_line="Chuẩn nghèo: 2022-2025", provisional_note="Danh sách tạm thời",
          date_line="Vĩnh Lợi, ngày 01 tháng 01 năm 2027", created=dt.date(2027, 1, 1))


def _table(rows: int, seed: int = 1) -> pd.DataFrame:
    r = random.Random(seed)
    data = []
    for i in range(rows):
        reason = f"Thu nhập {r.randint(500, 2000)}.000 đồng/người/tháng; " + " ".join(r.choice(WORDS) for _ in range(26))
        data.append([i + 1, f"Nguyễn Thị {r.choice(['Ánh', 'Bình', 'Hương', 'Lộc', 'Ước'])} {i}", f"Ấp Hòa Bình {i % 7}",
                     "Hộ nghèo", f"{reason} #{i}."])
    return pd.DataFrame(data, columns=COLUMNS)


def _text(data: bytes, tmp_path, *, raw: bool = True) -> str:
    path = tmp_path / "list.pdf"
    path.write_bytes(data)
    args = ["pdftotext", *(["-raw"] if raw else []), str(path), "-"]
    return unicodedata.normalize("NFC", subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_long_list_keeps_every_row_pages_and_header(tmp_path):
    table = _table(400)
    data = posting_pdf(table, **KW)
    assert data.startswith(b"%PDF") and b"/FontFile2" in data and b"MPDFAA+DejaVuSans" in data
    flat = _flat(_text(data, tmp_path))
    for name, reason in zip(table["Họ và tên chủ hộ"], table["Lý do"]):
        assert name in flat and _flat(reason) in flat  # the wrapped reason reads back whole, diacritics and all
    pages = [int(n) for n in re.findall(r"Trang (\d+) / \d+", flat)]
    total = int(re.search(r"Trang \d+ / (\d+)", flat).group(1))
    assert pages == list(range(1, total + 1)) and 10 < total < 40
    assert flat.count("STT Họ và tên chủ hộ Ấp Phân loại Lý do") == total  # the header row on every page
    assert "DANH SÁCH NIÊM YẾT CÔNG KHAI HỘ NGHÈO NĂM 2026" in flat and "Danh sách tạm thời" in flat
    assert "TM. ỦY BAN NHÂN DÂN" in flat and "(Ký, ghi rõ họ tên, đóng dấu)" in flat
    assert flat.index("Nguyễn Thị") < flat.index("NGƯỜI LẬP BIỂU")  # the signature block after the table


def test_same_input_same_bytes_and_documents_do_not_share_glyphs(tmp_path):
    first, second = _table(40, seed=1), _table(40, seed=2)
    second.loc[0, "Họ và tên chủ hộ"] = "Đặng Thị Ỷ Ưỡn"
    a1, b, a2 = posting_pdf(first, **KW), posting_pdf(second, **KW), posting_pdf(first, **KW)
    assert a1 == a2 and a1 != b
    assert "Đặng Thị Ỷ Ưỡn" in _text(b, tmp_path) and "Đặng Thị Ỷ Ưỡn" not in _text(a1, tmp_path)
    assert all(_flat(r) in _flat(_text(a2, tmp_path)) for r in first["Lý do"])


def test_letters_beyond_vietnamese_still_print(tmp_path):
    table = _table(5)
    table.loc[1, "Lý do"] = "Ghi chú: Ω λ (trích) \\ mục 3"
    text = _flat(_text(posting_pdf(table, **KW), tmp_path))
    assert "Ghi chú: Ω λ (trích) \\ mục 3" in text


def test_a_row_taller_than_a_page_continues_on_the_next(tmp_path):
    table = _table(6)
    table.loc[2, "Lý do"] = " ".join(["thiếu hụt bảo hiểm y tế"] * 300) + " HẾT."
    table.loc[3, "Lý do"] = "X" * 400  # one word wider than the column: cut, not lost
    flat = _flat(_text(posting_pdf(table, **KW), tmp_path))
    assert "HẾT." in flat and flat.count("thiếu hụt bảo hiểm y tế") == 300
    assert flat.replace(" ", "").count("X" * 400) == 1
    assert "Trang 2 /" in flat


def test_empty_list_and_missing_values(tmp_path):
    empty = _flat(_text(posting_pdf(_table(3).iloc[:0], **KW), tmp_path))
    assert "Không có hộ nào trong danh sách này." in empty and "Trang 1 / 1" in empty
    table = _table(3)
    table.loc[1, "Lý do"] = None
    table.loc[2, "Ấp"] = float("nan")
    flat = _flat(_text(posting_pdf(table, **KW), tmp_path))
    assert "nan" not in flat and "None" not in flat and table.loc[0, "Lý do"] in flat


def test_no_font_no_pdf(monkeypatch):
    monkeypatch.setattr(module, "find_font", lambda: None)
    assert posting_pdf(_table(3), **KW) is None


# ---------------------------------------------------------------------------- the cut-down fonts

# What classify.py writes: the income line compared with ≤, the class after →.
REASON = "Thu nhập bình quân 1.206.250 đ/người/tháng ≤ chuẩn 1.500.000 đ; thiếu hụt 1 chỉ số: bảo hiểm y tế → hộ cận nghèo"


def _chosen(text: str) -> list[module._Template]:
    return module._templates(*find_font(), set(text))


def _whole_font() -> bytes:
    return find_font()[0].read_bytes()


def test_the_pipelines_reasons_embed_from_the_smallest_cut_down_font(tmp_path):
    chosen = _chosen(REASON + "Nguyễn Thị Ánh Ấp Hòa Bình ₫ – … “”")
    assert chosen[0].data != _whole_font() and len(chosen[0].glyph_order) < 600  # not the 6,000-glyph font
    table = _table(20)
    table.loc[4, "Lý do"] = REASON
    assert REASON in _flat(_text(posting_pdf(table, **KW), tmp_path))


def test_a_character_beyond_the_cut_down_fonts_takes_the_whole_font(tmp_path):
    assert len(_chosen("Ŋoa ℃ ‰")[0].glyph_order) > len(_chosen("Nga")[0].glyph_order)  # Latin, beyond Vietnamese
    assert _chosen("Ghi chú: Ω")[0].data == _whole_font()  # Greek: in neither cut-down set
    table = _table(5)
    table.loc[1, "Họ và tên chủ hộ"] = "Ŋoa ℃ ‰ Ω ∑"
    assert "Ŋoa ℃ ‰ Ω ∑" in _flat(_text(posting_pdf(table, **KW), tmp_path))


@pytest.mark.parametrize("extra", ["", "Ŋ ℃", "Ω"])
def test_the_font_a_document_is_made_from_does_not_change_its_bytes(monkeypatch, extra):
    """A cut-down template keeps the whole font's glyphs, boxes and names: the embedded subset is the same."""
    table = _table(30)
    table.loc[2, "Lý do"] = f"{REASON} {extra}"
    cut = posting_pdf(table, **KW)
    monkeypatch.setattr(module, "_REPERTOIRES", ())  # every document from the whole font
    assert posting_pdf(table, **KW) == cut


def test_a_fresh_process_writes_the_same_bytes(tmp_path):
    """Worker processes build their own templates: the bytes must not depend on which exist already."""
    table = _table(30)
    table.loc[2, "Lý do"] = REASON
    for text in ("Ω", "Ŋ"):  # this process holds every template; the fresh one only what it needs
        _chosen(text)
    table.to_pickle(tmp_path / "table.pkl")
    script = ("import sys, pickle, datetime as dt, pandas as pd; from rasoat.pipeline.posting_pdf import posting_pdf; "
              f"kw = pickle.loads({pickle.dumps(KW)!r}); "
              "sys.stdout.buffer.write(posting_pdf(pd.read_pickle(sys.argv[1]), **kw))")
    fresh = subprocess.run([sys.executable, "-c", script, str(tmp_path / "table.pkl")], check=True, capture_output=True).stdout
    assert fresh == posting_pdf(table, **KW)
