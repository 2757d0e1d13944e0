"""The posting lists (niêm yết) as PDF, with a Vietnamese font embedded, ready to print and post.

fpdf2 embeds a subset of a TrueType font; Vietnamese needs one with its diacritics, such as
DejaVu Sans (Debian's fonts-dejavu-core). Where no such font is found, no PDF is written and the
caller reports it: a list is never printed with missing letters.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

# Where DejaVu Sans is found: RASOAT_FONT_DIR first, then the usual system folders.
_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts", "/Library/Fonts")
_REGULAR, _BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FONT_HINT = "install a font with Vietnamese letters (Debian: apt-get install fonts-dejavu-core) or set RASOAT_FONT_DIR"


@lru_cache(maxsize=1)
def find_font() -> tuple[Path, Path] | None:
    """(regular, bold) DejaVu Sans files, or None when the machine has none."""
    folders = [os.environ["RASOAT_FONT_DIR"]] if os.environ.get("RASOAT_FONT_DIR") else []
    for folder in [*folders, *_FONT_DIRS]:
        regular, bold = Path(folder) / _REGULAR, Path(folder) / _BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Posting(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("body", size=8)
        self.cell(0, 6, f"Trang {self.page_no()} / {{nb}}", align="C")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value)


# Relative column widths of the posting table: STT, name, hamlet, class, reason.
_WIDTHS = {"STT": 4, "Họ và tên chủ hộ": 16, "Ấp": 11, "Phân loại": 11, "Lý do": 58}


def posting_pdf(table: pd.DataFrame, *, authority: str, title: str, place: str, rule_line: str, provisional_note: str | None,
                date_line: str, created: dt.date) -> bytes | None:
    """One posting list as PDF bytes (A4 landscape, heading, repeated header row, page numbers,
    signature block); None when no Vietnamese font is available."""
    fonts = find_font()
    if fonts is None:
        return None
    pdf = _Posting(orientation="L", unit="mm", format="A4")
    pdf.set_creation_date(dt.datetime.combine(created, dt.time(0, 0), dt.timezone.utc))  # same inputs, same bytes
    pdf.set_title(title)
    pdf.set_author(authority)
    pdf.add_font("body", style="", fname=str(fonts[0]))
    pdf.add_font("body", style="B", fname=str(fonts[1]))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(12, 12, 12)
    pdf.alias_nb_pages()
    pdf.add_page()
    half = (pdf.w - 24) / 2
    pdf.set_font("body", "B", 10)
    pdf.cell(half, 5, authority.upper(), align="C")
    pdf.cell(half, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(half, 5, "")
    pdf.cell(half, 5, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("body", "B", 13)
    pdf.cell(0, 7, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 10)
    for line in (place, rule_line, provisional_note):
        if line:
            pdf.cell(0, 5, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    columns = list(table.columns)
    widths = tuple(_WIDTHS.get(c, 12) for c in columns)
    pdf.set_font("body", "", 9)
    with pdf.table(col_widths=widths, repeat_headings=1, headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
                   line_height=5, text_align=tuple("CENTER" if c == "STT" else "LEFT" for c in columns)) as grid:
        grid.row(columns)
        for values in table.itertuples(index=False, name=None):
            grid.row([_text(v) for v in values])
    if table.empty:
        pdf.cell(0, 8, "Không có hộ nào trong danh sách này.", align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(6)
    if pdf.will_page_break(30):
        pdf.add_page()
    pdf.set_font("body", "", 10)
    pdf.cell(half, 5, "")
    pdf.cell(half, 5, date_line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "B", 10)
    pdf.cell(half, 5, "NGƯỜI LẬP BIỂU", align="C")
    pdf.cell(half, 5, "TM. ỦY BAN NHÂN DÂN", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(half, 5, "")
    pdf.cell(half, 5, "CHỦ TỊCH", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 9)
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên)", align="C")
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên, đóng dấu)", align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
