"""Enumerators on ODK Central: one app user per person, the form assigned, a QR code that sets up ODK Collect.

The roster is a CSV or XLSX with the columns `name` and `hamlet` (Vietnamese headers `họ tên`,
`ấp` also work). `plan_enumerators` (pure) says who is created and who is kept; the QR payload is
exactly Central's (field-tech.md §2): base64(zlib(JSON settings)). Codes are written as PNG files
under `<data>/enumerators/` plus one printable PDF sheet with names and hamlets. Tokens are in the
QR codes only: never printed, never logged, never in the registry file.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

NAME_HEADERS = ("name", "họ tên", "ho ten", "tên", "ten", "họ và tên")
HAMLET_HEADERS = ("hamlet", "ấp", "ap", "mã ấp", "ma ap", "thôn")


class RosterError(Exception):
    """The roster file cannot be read; the message names the file and the row."""


@dataclass(frozen=True)
class Enumerator:
    name: str
    hamlet: str

    @property
    def display_name(self) -> str:
        """The app user's name on Central: hamlet code, then the person (unique per hamlet)."""
        return f"{self.hamlet} · {self.name}"


def _nfc(text: object) -> str:
    return " ".join(unicodedata.normalize("NFC", str(text or "")).split())


def read_roster(path: Path, hamlet_codes: set[str] | None = None) -> list[Enumerator]:
    """Enumerators from a CSV/XLSX roster; RosterError naming the row for anything unusable."""
    path = Path(path)
    if not path.is_file():
        raise RosterError(f"{path}: không thấy tệp danh sách / roster file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    else:
        text = path.read_bytes().decode("utf-8-sig", errors="strict")
        rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise RosterError(f"{path}: tệp trống / empty roster")
    header = [_nfc(h).lower() for h in rows[0]]
    try:
        name_col = next(i for i, h in enumerate(header) if h in NAME_HEADERS)
        hamlet_col = next(i for i, h in enumerate(header) if h in HAMLET_HEADERS)
    except StopIteration:
        raise RosterError(f"{path}: dòng 1 cần hai cột `name` (họ tên) và `hamlet` (ấp); có: {rows[0]}") from None
    out: list[Enumerator] = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(str(c).strip() for c in row):
            continue
        name = _nfc(row[name_col] if name_col < len(row) else "")
        hamlet = _nfc(row[hamlet_col] if hamlet_col < len(row) else "").upper()
        if not name or not hamlet:
            raise RosterError(f"{path}: dòng {number}: thiếu họ tên hoặc ấp / name or hamlet missing")
        if hamlet_codes is not None and hamlet not in hamlet_codes:
            raise RosterError(f"{path}: dòng {number}: không có ấp mã {hamlet!r} trong cấu hình "
                              f"(các mã: {', '.join(sorted(hamlet_codes))})")
        if (name, hamlet) in seen:
            raise RosterError(f"{path}: dòng {number}: {name} ({hamlet}) đã có ở dòng trên / listed twice")
        seen.add((name, hamlet))
        out.append(Enumerator(name, hamlet))
    if not out:
        raise RosterError(f"{path}: không có điều tra viên nào / no enumerator in the roster")
    return out


@dataclass(frozen=True)
class EnumeratorPlan:
    create: tuple[Enumerator, ...]
    keep: tuple[tuple[Enumerator, dict], ...]  # with the server's app user
    assign: tuple[int, ...]  # app user ids still lacking the form


def plan_enumerators(roster: list[Enumerator], app_users: list[dict], assigned: set[int]) -> EnumeratorPlan:
    """Who to create, who exists already (active, same display name), which assignments are missing."""
    active = {u.get("displayName"): u for u in app_users if u.get("token")}
    create, keep, assign = [], [], []
    for person in roster:
        user = active.get(person.display_name)
        if user is None:
            create.append(person)
        else:
            keep.append((person, user))
            if int(user["id"]) not in assigned:
                assign.append(int(user["id"]))
    return EnumeratorPlan(tuple(create), tuple(keep), tuple(assign))


def plan_revoke(names: list[str], app_users: list[dict]) -> tuple[list[dict], list[str]]:
    """(active app users to revoke, names that match none). A name matches the display name,
    or the person's name alone when that is unambiguous."""
    active = [u for u in app_users if u.get("token")]
    chosen, unknown = [], []
    for raw in names:
        name = _nfc(raw)
        exact = [u for u in active if u.get("displayName") == name]
        loose = [u for u in active if str(u.get("displayName", "")).split(" · ", 1)[-1] == name]
        match = exact or (loose if len(loose) == 1 else [])
        if not match:
            unknown.append(name)
        chosen.extend(u for u in match if u not in chosen)
    return chosen, unknown


def collect_settings(origin: str, token: str, project_id: int, project_name: str) -> dict:
    """ODK Collect's settings as Central's QR code carries them (managed: the form list matches the server)."""
    return {"general": {"server_url": f"{origin.rstrip('/')}/v1/key/{token}/projects/{project_id}",
                        "form_update_mode": "match_exactly", "autosend": "wifi_and_cellular"},
            "project": {"name": project_name},
            "admin": {}}


def qr_payload(settings: dict) -> str:
    """base64(zlib(JSON)), as Central's frontend builds it (pako.deflate is zlib format)."""
    return base64.b64encode(zlib.compress(json.dumps(settings).encode("utf-8"))).decode("ascii")


def decode_payload(payload: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(payload)))


def _file_stem(person: Enumerator) -> str:
    folded = unicodedata.normalize("NFD", person.name).replace("đ", "d").replace("Đ", "D")
    ascii_ = "".join(c for c in folded if not unicodedata.combining(c))
    return f"{person.hamlet}-" + "-".join("".join(ch for ch in w if ch.isalnum()) for w in ascii_.split()).lower()


def write_qr_png(payload: str, path: Path) -> Path:
    import segno

    path.parent.mkdir(parents=True, exist_ok=True)
    segno.make(payload, error="m", micro=False).save(str(path), scale=6, border=4)
    return path


def write_qr_codes(entries: list[tuple[Enumerator, str]], folder: Path, title: str) -> tuple[list[Path], Path | None]:
    """PNG per enumerator and one A4 PDF sheet (names, hamlets, codes). Returns (pngs, pdf or None without a font)."""
    folder.mkdir(parents=True, exist_ok=True)
    pngs = [write_qr_png(payload, folder / f"{_file_stem(person)}.png") for person, payload in entries]
    from rasoat.pipeline.posting_pdf import find_font

    font = find_font()
    if font is None or not entries:
        return pngs, None
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_font("body", "", str(font[0]))
    pdf.add_font("body", "B", str(font[1]))
    pdf.set_auto_page_break(False)
    per_row, per_page, size = 3, 9, 52
    for index, ((person, _), png) in enumerate(zip(entries, pngs)):
        if index % per_page == 0:
            pdf.add_page()
            pdf.set_font("body", "B", 13)
            pdf.cell(0, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("body", "", 8)
            pdf.cell(0, 5, "Quét bằng ODK Collect: Cài đặt dự án → Quét mã QR. Mỗi mã chỉ dành cho một người; không chia sẻ.",
                     align="C", new_x="LMARGIN", new_y="NEXT")
        slot = index % per_page
        x = 12 + (slot % per_row) * 64
        y = 26 + (slot // per_row) * 88
        pdf.image(str(png), x=x + 3, y=y, w=size, h=size)
        pdf.set_xy(x, y + size + 2)
        pdf.set_font("body", "B", 10)
        pdf.multi_cell(60, 5, person.name, align="C")
        pdf.set_x(x)
        pdf.set_font("body", "", 9)
        pdf.multi_cell(60, 5, f"Ấp {person.hamlet}", align="C")
    out = folder / "ma-qr-dieu-tra-vien.pdf"
    pdf.output(str(out))
    return pngs, out


def write_registry(folder: Path, rows: list[dict]) -> Path:
    """<data>/enumerators/enumerators.json: who has which app user (ids and names, never tokens)."""
    folder.mkdir(parents=True, exist_ok=True)
    clean = [{k: v for k, v in r.items() if k != "token"} for r in rows]
    path = folder / "enumerators.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(clean, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path
