"""The posting lists (niêm yết) as PDF, with a Vietnamese font embedded, ready to print and post.

fpdf2 embeds a subset of a TrueType font; Vietnamese needs one with its diacritics, such as
DejaVu Sans (Debian's fonts-dejavu-core). Where no such font is found, no PDF is written and the
caller reports it: a list is never printed with missing letters.

A commune of a million households posts tens of thousands of rows, so the table is laid out here
rather than by fpdf's ``table()`` (which measures every cell twice, a character at a time): each
cell is word-wrapped once with the font's width table, rows are broken across pages by hand with
the header row repeated, and each row goes out as the operators fpdf's ``rect()`` and ``text()``
would write. The parsed font is kept per process; each document gets its own copy of the
per-document state (glyph subset, font file object), so documents stay independent and
byte-identical for the same input.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import os
import threading
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import pandas as pd
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.util import escape_parens

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
        self.cell(0, 6, f"Trang {self.page_no()} / {self.str_alias_nb_pages}", align="C")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    return str(value)


# Relative column widths of the posting table: STT, name, hamlet, class, reason.
_WIDTHS = {"STT": 4, "Họ và tên chủ hộ": 16, "Ấp": 11, "Phân loại": 11, "Lý do": 58}

# ---------------------------------------------------------------------------- fonts, parsed once per process


class _Font(TTFFont):
    """fpdf's TrueType font with a faster `encode_text`: one `str.translate` per string instead of a
    cached call per character. Characters are added to the document's glyph subset in order of first
    use, as fpdf does, so the output stays deterministic."""

    __slots__ = ("_codes", "_seen")

    def encode_text(self, text: str) -> str:
        if not self._seen.issuperset(text):
            self._learn(text)
        return f"({text.translate(self._codes)}) Tj"

    def _learn(self, text: str) -> None:
        """Gives each new character of `text` its code in the subset, stored as it is written in the
        content stream: the code's two bytes (UTF-16BE, Identity-H) with PDF's string escapes."""
        new = set(text).difference(self._seen)
        for char in sorted(new, key=text.index):  # first use decides the subset position, as in fpdf
            mapped = self.subset.pick(ord(char))
            code = None if mapped is None else chr(mapped).encode("utf-16-be").decode("latin-1")
            self._codes[ord(char)] = None if code is None else escape_parens(code)
        self._seen.update(new)


# What a posting list is written in, narrowest first. A document whose text stays within one of these
# embeds from a copy of the font cut down to it (made once per process): fpdf subsets the font anew for
# every document, at a cost that grows with the glyphs it starts from (CPU per font and document: whole
# font, 6,250 glyphs, ~25 ms; _LATIN ~6 ms; _VIETNAMESE, ~370 glyphs, ~4 ms). Any other document embeds
# from the whole font, as before. The reasons the pipeline writes use → and ≤ (classify.py, compare.py):
# they must be in the sets, or every real list takes the whole font.
_VIETNAMESE = (*range(0x20, 0x7F), *range(0xA0, 0x100),  # ASCII, Latin-1 (À Á Â Ã È É Ê Ì Í Ò Ó Ô Õ Ù Ú Ý ...)
               0x102, 0x103, 0x110, 0x111, 0x128, 0x129, 0x168, 0x169, 0x1A0, 0x1A1, 0x1AF, 0x1B0,  # Ă Đ Ĩ Ũ Ơ Ư
               *range(0x300, 0x305), 0x306, 0x309, 0x31B, 0x323,  # the marks of decomposed Vietnamese letters
               *range(0x1EA0, 0x1EFA),  # Ạ ... ỹ
               *range(0x2010, 0x2028), *range(0x2030, 0x203B), 0x20AB, 0x20AC, 0x2116,  # dashes, quotes, … ‰ ₫ € №
               0x2190, 0x2192, 0x2212, 0x2260, 0x2264, 0x2265, 0xFFFD)  # ← → − ≠ ≤ ≥, the replacement character
_LATIN = (*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x2B0, 0x370), *range(0x1E00, 0x1F00),
          *range(0x2000, 0x2070), *range(0x20A0, 0x20D0), *range(0x2100, 0x2300), 0xFFFD)  # + arrows, maths
_REPERTOIRES = (_VIETNAMESE, _LATIN)
# The tables fpdf drops when it subsets a font for embedding (fpdf/output.py).
_DROPPED_TABLES = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT", "EBLC",
                   "EBSC", "SVG ", "CPAL", "COLR"]


def _cut_down(data: bytes, repertoire: tuple[int, ...]) -> bytes:
    """The font reduced to `repertoire` (outlines, hinting and every cmap subtable kept), as TrueType bytes.

    Cut with fpdf's own subsetting options, so the name table keeps just what fpdf's subsetting would
    (less to read per document). A document embeds the same bytes from it as from the whole font."""
    from fontTools import subset as ftsubset

    # bounding boxes and maxima not recalculated: the embedded font and its descriptor's FontBBox keep
    # the whole font's values, whichever template a document was made from
    font = ttLib.TTFont(BytesIO(data), recalcTimestamp=False, recalcBBoxes=False)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += _DROPPED_TABLES
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=repertoire)
    subsetter.subset(font)
    out = BytesIO()
    font.save(out)
    return out.getvalue()


class _Metrics:
    """Advance widths of a font in 1/1000 em, for wrapping text without asking fpdf per character."""

    def __init__(self, font: TTFFont):
        self.default_width = font.desc.missing_width
        self.widths = dict(font.cw)  # a plain dict: unlike fpdf's defaultdict it never grows
        self.word_widths: dict[str, int] = {}

    def width(self, word: str) -> int:
        """Width of a word (cached: reasons repeat the same words)."""
        w = self.word_widths.get(word)
        if w is None:
            w = sum(map(self.widths.get, map(ord, word), itertools.repeat(self.default_width, len(word))))
            if len(self.word_widths) > 200_000:
                self.word_widths.clear()
            self.word_widths[word] = w
        return w


class _Template:
    """A font parsed once per process: fpdf's TTFFont (widths, cmap, descriptor) and the bytes each
    document's own font object is read from."""

    def __init__(self, path: Path, style: str, repertoire: tuple[int, ...] | None):
        data = path.read_bytes()
        self.data = data if repertoire is None else _cut_down(data, repertoire)
        font = TTFFont(FPDF(), BytesIO(self.data), "body" + style, style)  # what FPDF.add_font builds
        font.ttffile = path
        self.font = font
        self.chars = frozenset(map(chr, font.cmap))
        self.glyph_order = tuple(font.ttfont.getGlyphOrder())  # worked out once (from the cmap: no glyph names kept)
        # only a plain TrueType font is shared; one that fpdf converts or patches is read per document
        self.shareable = (not font.is_compressed and not font.is_cff and not font.is_symbol and font.color_font is None
                          and ".notdef" in self.glyph_order)
        font.ttfont.close()
        self.metrics = _Metrics(font)


_TEMPLATES: dict[tuple, _Template] = {}
_TEMPLATES_LOCK = threading.Lock()


def _template(path: Path, style: str, repertoire: tuple[int, ...] | None) -> _Template:
    """The font cut down to `repertoire` (None: the whole font), made on first use in this process."""
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, style, repertoire)
    with _TEMPLATES_LOCK:
        found = _TEMPLATES.get(key)
        if found is None:
            found = _TEMPLATES[key] = _Template(path, style, repertoire)
        return found


def _templates(regular: Path, bold: Path, used: set[str]) -> list[_Template]:
    """The (regular, bold) templates from the narrowest repertoire that has every character in `used`;
    the whole fonts when none has (fpdf then reports what even they lack)."""
    for repertoire in (*_REPERTOIRES, None):
        templates = [_template(regular, "", repertoire), _template(bold, "B", repertoire)]
        if all(used <= t.chars for t in templates):
            break
    return templates


def _add_fonts(pdf: FPDF, fonts: tuple[Path, Path], used: set[str]) -> tuple[_Metrics, _Metrics]:
    """`pdf.add_font("body", "")` and `("body", "B")` without parsing the fonts again: for each, a copy of
    the parsed font with this document's own font file object, glyph subset and descriptor. `used`:
    every character the document writes, to choose the smallest font that has them all.
    Returns the (regular, bold) widths."""
    regular, bold = Path(fonts[0]), Path(fonts[1])
    try:
        templates = _templates(regular, bold, used)
    except Exception:  # noqa: BLE001 - a font file fontTools cannot cut down: let fpdf read it its own way
        templates = []
    if not templates or not all(t.shareable for t in templates):
        pdf.add_font("body", style="", fname=str(regular))
        pdf.add_font("body", style="B", fname=str(bold))
        return _Metrics(pdf.fonts["body"]), _Metrics(pdf.fonts["bodyB"])
    for style, template in zip(("", "B"), templates):
        src = template.font
        font = _Font.__new__(_Font)
        for slot in TTFFont.__slots__:
            if hasattr(src, slot):  # fpdf leaves some slots unset
                setattr(font, slot, getattr(src, slot))
        font.i = len(pdf.fonts) + 1
        # subsetting at output rewrites the font object in place: each document reads its own (lazily)
        font.ttfont = ttLib.TTFont(BytesIO(template.data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
        font.ttfont.setGlyphOrder(list(template.glyph_order))
        font.desc = copy.copy(src.desc)  # output() numbers it and hangs the font file on it
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None
        font.subset = SubsetMap(font)
        font._codes, font._seen = {}, set()
        pdf.fonts["body" + style] = font
    return templates[0].metrics, templates[1].metrics


# ---------------------------------------------------------------------------- the table, laid out by hand


def _wrap(text: str, room: int, metrics: _Metrics) -> list[tuple[str, int]]:
    """Greedy word wrap of `text` into lines no wider than `room` (1/1000 em units): (line, width).
    Breaks at spaces and newlines; a word wider than a line is cut between characters."""
    lines: list[tuple[str, int]] = []
    known, width = metrics.word_widths, metrics.width
    space = width(" ")
    for para in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line: list[str] = []
        used = 0
        for word in para.split(" "):
            w = known.get(word)
            if w is None:
                w = width(word)
            if line and used + space + w <= room:
                line.append(word)
                used += space + w
                continue
            if line:
                lines.append((" ".join(line), used))
            if w > room and len(word) > 1:  # too long for any line: cut it
                get, default = metrics.widths.get, metrics.default_width
                piece, piece_w = [], 0
                for char in word:
                    cw = get(ord(char), default)
                    if piece and piece_w + cw > room:
                        lines.append(("".join(piece), piece_w))
                        piece, piece_w = [], 0
                    piece.append(char)
                    piece_w += cw
                line, used = ["".join(piece)], piece_w
            else:
                line, used = [word], w
        lines.append((" ".join(line), used))
    return lines


class _Grid:
    """The posting table: column geometry, wrapping and drawing of one row at a time."""

    LINE = 5.0  # mm per text line

    def __init__(self, pdf: FPDF, columns: list[str], size: float):
        self.pdf = pdf
        weights = [_WIDTHS.get(c, 12) for c in columns]
        total = sum(weights)
        self.widths = [pdf.epw * w / total for w in weights]
        self.xs = [pdf.l_margin + sum(self.widths[:i]) for i in range(len(columns))]
        self.centered = [c == "STT" for c in columns]
        self.k = pdf.k
        self.font_mm = size / pdf.k
        self.to_mm = size / 1000 / pdf.k  # 1/1000 em -> mm at this size
        self.rooms = [int((w - 2 * pdf.c_margin) / self.to_mm) for w in self.widths]
        # the fixed numbers of each row, formatted once as rect() and text() format them
        self.boxes_pt = [(f"{x * pdf.k:.2f}", f"{w * pdf.k:.2f}") for x, w in zip(self.xs, self.widths)]
        self.left_pt = [f"{(x + pdf.c_margin) * pdf.k:.2f}" for x in self.xs]

    def lay_out(self, values: list[str], metrics: _Metrics) -> list[list[tuple[str, int]]]:
        out = []
        for value, room in zip(values, self.rooms):
            if not value:
                out.append([])
                continue
            if len(value) <= 48 and "\n" not in value and "\r" not in value:  # names, hamlets: usually one line
                w = metrics.width(value)
                if w <= room:
                    out.append([(value, w)])
                    continue
            out.append(_wrap(value, room, metrics))
        return out

    def draw(self, y: float, cells: list[list[tuple[str, int]]], start: int, count: int, *, fill: bool) -> float:
        """Draws lines start..start+count of each cell as one row at height y; returns the row height.

        What fpdf's rect() and text() would write, written directly: one call per row instead of one
        per border and per line. Where text() would do more (set the font on a new page, or switch to
        the text colour because the fill colour differs), text() itself is called."""
        pdf, line_h, k, page_h = self.pdf, self.LINE, self.k, self.pdf.h
        height = count * line_h
        top, minus_h, op = (page_h - y) * k, -height * k, "B" if fill else "S"
        ops = [f"{x_pt} {top:.2f} {w_pt} {minus_h:.2f} re {op}" for x_pt, w_pt in self.boxes_pt]
        font, direct = pdf.current_font, pdf.fill_color == pdf.text_color
        cm, to_mm, shift = pdf.c_margin, self.to_mm, 0.5 * line_h + 0.3 * self.font_mm
        for x, w, lines, centered, left_pt in zip(self.xs, self.widths, cells, self.centered, self.left_pt):
            shown = lines[start:start + count] if start or len(lines) > count else lines
            if not shown:
                continue
            base = y + (height - len(shown) * line_h) / 2 + shift  # vertically centred, like fpdf's table
            for i, (line, units) in enumerate(shown):
                if not line:
                    continue
                tx = x + cm + ((w - 2 * cm - units * to_mm) / 2 if centered else 0)
                ty = base + i * line_h
                if direct and pdf.current_font_is_set_on_page:
                    x_pt = f"{tx * k:.2f}" if centered else left_pt
                    ops.append(f"BT {x_pt} {(page_h - ty) * k:.2f} Td {font.encode_text(line)} ET")
                else:
                    if ops:
                        pdf._out("\n".join(ops))
                        ops = []
                    pdf.text(tx, ty, line)
        if ops:
            pdf._out("\n".join(ops))
        return height


class _Table:
    """The table laid out before anything is drawn: the wrapped lines of every cell and, from those,
    which rows start a new page, so the page count is known before the first footer is written."""

    def __init__(self, pdf: FPDF, columns: list[str], rows: list[list[str]], regular: _Metrics, bold: _Metrics):
        self.pdf = pdf
        self.grid = grid = _Grid(pdf, columns, 9)
        line_h = grid.LINE
        self.header = grid.lay_out(columns, bold)
        self.header_lines = header_lines = max((len(c) for c in self.header), default=1) or 1
        bottom = pdf.page_break_trigger
        per_page = int((bottom - pdf.t_margin - header_lines * line_h + 1e-6) // line_h)  # lines under the header
        # (new page before?, cells, first line, line count) per piece of a row
        self.pieces: list[tuple[bool, list[list[tuple[str, int]]], int, int]] = []
        y = pdf.get_y()
        self.first_page_break = bool(rows) and y + (header_lines + 1) * line_h > bottom
        self.pages = 1 + self.first_page_break
        if self.first_page_break:
            y = pdf.t_margin
        y += header_lines * line_h
        new_page = False  # whether the next piece starts a page (so it is drawn whatever the room)
        for values in rows:
            cells = grid.lay_out(values, regular)
            n = max((len(c) for c in cells), default=1) or 1
            start = 0
            while start < n:
                room = int((bottom - y + 1e-6) // line_h)
                if not new_page and ((start == 0 and n <= per_page and room < n) or room < 1):
                    y, new_page = pdf.t_margin + header_lines * line_h, True  # does not fit: a new page, header again
                    self.pages += 1
                    continue
                count = max(1, min(room, n - start))  # a row taller than a page is continued on the next one
                self.pieces.append((new_page, cells, start, count))
                new_page = False
                y += count * line_h
                start += count

    def draw(self) -> None:
        pdf, grid = self.pdf, self.grid

        def header(y: float) -> float:
            pdf.set_font("body", "B", 9)
            pdf.set_fill_color(235)
            y += grid.draw(y, self.header, 0, self.header_lines, fill=True)
            pdf.set_fill_color(0)  # the text colour: text() then needs no colour switch
            pdf.set_font("body", "", 9)
            return y

        if self.first_page_break:
            pdf.add_page()
        y = header(pdf.get_y())
        for new_page, cells, start, count in self.pieces:
            if new_page:
                pdf.add_page()
                y = header(pdf.get_y())
            y += grid.draw(y, cells, start, count, fill=False)
        pdf.set_xy(pdf.l_margin, y)


_LABELS = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Không có hộ nào trong danh sách này.",
           "NGƯỜI LẬP BIỂU", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "(Ký, ghi rõ họ tên)", "(Ký, ghi rõ họ tên, đóng dấu)",
           "Trang 0123456789 / {}")


def posting_pdf(table: pd.DataFrame, *, authority: str, title: str, place: str, rule_line: str, provisional_note: str | None,
                date_line: str, created: dt.date) -> bytes | None:
    """One posting list as PDF bytes (A4 landscape, heading, repeated header row, page numbers,
    signature block); None when no Vietnamese font is available."""
    fonts = find_font()
    if fonts is None:
        return None
    columns = [str(c) for c in table.columns]
    rows = [[_text(v) for v in values] for values in table.itertuples(index=False, name=None)]
    used = set("".join(itertools.chain(itertools.chain.from_iterable(rows), columns, _LABELS, authority.upper(),
                                       (title, place, rule_line, provisional_note or "", date_line))))
    used.discard("\n")
    used.discard("\r")
    pdf = _Posting(orientation="L", unit="mm", format="A4")
    pdf.set_creation_date(dt.datetime.combine(created, dt.time(0, 0), dt.timezone.utc))  # same inputs, same bytes
    pdf.set_title(title)
    pdf.set_author(authority)
    regular, bold = _add_fonts(pdf, fonts, used)
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

    laid_out = _Table(pdf, columns, rows, regular, bold)
    digits = len(str(laid_out.pages + 1))  # the signature block may take one more page
    if digits > 3:  # "{nb}" leaves room for three digits in the centred footer; make room for more
        pdf.alias_nb_pages("{" + "N" * (digits - 2) + "}")
    laid_out.draw()
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
