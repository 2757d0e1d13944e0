"""The documents of a review round as PDF (Vietnamese, DejaVu Sans like posting_pdf.py), ready to print and sign.

Written under ``<data>/rounds/<round id>/documents/``:

    bien-ban-hop-<hamlet>.pdf          hamlet meeting minutes (biên bản họp dân), pre-filled
    thong-bao-niem-yet-<hamlet>.pdf    public posting notice with the lists and the dates
    quyet-dinh-cong-nhan.pdf           the chairman's recognition decision with its annex lists
    giay-chung-nhan/<household>.pdf    one certificate per recognised household
    bao-cao/bia-bao-cao.pdf, bao-cao/bang-chi-so.xlsx   the report upward (cover + indicator workbook)
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from rasoat.pipeline.posting_pdf import FONT_HINT, find_font
from rasoat.pipeline.rounds import CLASS_TEXT, COMPLAINT_KINDS, LISTED, RoundState, passes, recognised_households

REPORT_TO = "Sở Nông nghiệp và Môi trường"


@dataclass(frozen=True)
class Heading:
    authority: str  # "Ủy ban nhân dân xã Vĩnh Phong"
    commune: str  # "Xã Vĩnh Phong"
    province: str  # "Tỉnh An Giang"
    hamlet_names: dict
    today: dt.date


class _Doc(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("body", size=8)
        self.cell(0, 6, f"Trang {self.page_no()} / {{nb}}", align="C")


def _new(title: str, h: Heading, landscape: bool = False) -> _Doc:
    fonts = find_font()
    if fonts is None:
        raise RuntimeError(f"Không có phông chữ tiếng Việt: {FONT_HINT}")
    pdf = _Doc(orientation="L" if landscape else "P", unit="mm", format="A4")
    pdf.set_creation_date(dt.datetime.combine(h.today, dt.time(0, 0), dt.timezone.utc))
    pdf.set_title(title)
    pdf.set_author(h.authority)
    pdf.add_font("body", style="", fname=str(fonts[0]))
    pdf.add_font("body", style="B", fname=str(fonts[1]))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_margins(15, 12, 15)
    pdf.alias_nb_pages()
    return pdf


def _top(pdf: _Doc, h: Heading, title: str, subtitle: str = "", number: str = "") -> None:
    pdf.add_page()
    half = (pdf.w - 30) / 2
    pdf.set_font("body", "B", 10)
    pdf.cell(half, 5, h.authority.upper(), align="C")
    pdf.cell(half, 5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 10)
    pdf.cell(half, 5, number, align="C")
    pdf.set_font("body", "B", 10)
    pdf.cell(half, 5, "Độc lập - Tự do - Hạnh phúc", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 10)
    pdf.cell(half, 5, "")
    pdf.cell(half, 5, f"{_place(h)}, ngày {h.today.day:02d} tháng {h.today.month:02d} năm {h.today.year}", align="C",
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("body", "B", 13)
    pdf.multi_cell(0, 7, title, align="C", new_x="LMARGIN", new_y="NEXT")
    if subtitle:
        pdf.set_font("body", "B", 11)
        pdf.multi_cell(0, 6, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("body", "", 10)


def _place(h: Heading) -> str:
    name = h.commune
    for prefix in ("Xã ", "Phường ", "Thị trấn "):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _lower_first(text: str) -> str:
    """"Xã Vĩnh Phong" → "xã Vĩnh Phong" (inside a sentence)."""
    return text[:1].lower() + text[1:]


def _para(pdf: _Doc, text: str, bold: bool = False) -> None:
    pdf.set_font("body", "B" if bold else "", 10)
    pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")


def _table(pdf: _Doc, columns: list[str], rows: list[list], widths: tuple) -> None:
    pdf.set_font("body", "", 9)
    with pdf.table(col_widths=widths, repeat_headings=1, line_height=5,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235))) as grid:
        grid.row(columns)
        for r in rows:
            grid.row(["" if v is None else str(v) for v in r])
    if not rows:
        pdf.cell(0, 7, "Không có hộ nào.", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _signatures(pdf: _Doc, left: str, right: str, right2: str = "") -> None:
    pdf.ln(6)
    if pdf.will_page_break(35):
        pdf.add_page()
    half = (pdf.w - 30) / 2
    pdf.set_font("body", "B", 10)
    pdf.cell(half, 5, left, align="C")
    pdf.cell(half, 5, right, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(half, 5, "")
    pdf.cell(half, 5, right2, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("body", "", 9)
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên)" if left else "", align="C")
    pdf.cell(half, 5, "(Ký, ghi rõ họ tên" + (", đóng dấu)" if right2 else ")"), align="C", new_x="LMARGIN", new_y="NEXT")


def _money(value) -> str:
    try:
        return f"{int(float(value)):,}".replace(",", ".")
    except (TypeError, ValueError):
        return ""


def _reason(r: dict) -> str:
    parts = []
    if _money(r.get("income_per_capita_month")):
        parts.append(f"Thu nhập {_money(r.get('income_per_capita_month'))} đ/người/tháng")
    if str(r.get("deprivation_count") or "") not in ("", "0"):
        parts.append(f"thiếu hụt {r['deprivation_count']} chỉ số ({r.get('deprived_indicators', '')})")
    if r.get("requested"):
        parts.append("hộ có đơn đề nghị")
    return "; ".join(parts)


_NEW_POOR = "Đề nghị công nhận hộ nghèo (phát sinh, hoặc từ hộ cận nghèo)"
_NEW_NEAR = "Đề nghị công nhận hộ cận nghèo (phát sinh, hoặc thoát nghèo sang cận nghèo)"
_ESCAPING = "Hộ thoát nghèo, thoát cận nghèo"
_REMAINING = "Hộ tiếp tục là hộ nghèo, hộ cận nghèo"
_REQUESTED = "Hộ có đơn đề nghị, đang rà soát (chưa có kết quả)"


def proposals(state: RoundState, hamlet: str) -> dict[str, list[dict]]:
    """The hamlet's households grouped as the minutes list them."""
    groups: dict[str, list[dict]] = {_NEW_POOR: [], _NEW_NEAR: [], _ESCAPING: [], _REMAINING: [], _REQUESTED: []}
    for hid in state.hamlet_households(hamlet):
        r = state.households[hid]
        cls, start = state.final_class(hid), r.get("start_class", "")
        if cls in LISTED and start == cls:
            groups[_REMAINING].append(r)
        elif cls == "poor":
            groups[_NEW_POOR].append(r)
        elif cls == "near_poor":
            groups[_NEW_NEAR].append(r)
        elif start in LISTED:
            groups[_ESCAPING].append(r)
        elif r.get("requested"):
            groups[_REQUESTED].append(r)
    return groups


def minutes_pdf(state: RoundState, hamlet: str, h: Heading) -> bytes:
    name = h.hamlet_names.get(hamlet, hamlet)
    pdf = _new("Biên bản họp dân", h)
    _top(pdf, h, "BIÊN BẢN HỌP DÂN", f"Bình xét kết quả rà soát hộ nghèo, hộ cận nghèo năm {state.year} — {name}")
    hs = state.hamlets[hamlet]
    attended = str(hs.attended) if hs.attended is not None else "……"
    agree = str(hs.agree) if hs.agree is not None else "……"
    _para(pdf, f"Thời gian: ……… giờ, ngày …/…/……  Địa điểm: {name}, {h.commune}, {h.province}.")
    _para(pdf, "Chủ trì: Trưởng ấp ……………………………  Thư ký: ……………………………")
    _para(pdf, f"Thành phần: đại diện các hộ gia đình trong ấp; số người dự họp: {attended}; số người đồng ý với kết quả: {agree}.")
    _para(pdf, "Kết quả được thông qua khi có từ 50% số người dự họp trở lên đồng ý (Quyết định 24/2021/QĐ-TTg); "
               "hộ không đạt được rà soát lại.")
    if hs.attended is not None:
        _para(pdf, f"Kết quả biểu quyết cả danh sách: {agree}/{attended} — "
                   + ("ĐẠT" if passes(hs.agree, hs.attended) else "KHÔNG ĐẠT, rà soát lại"), bold=True)
    for title, rows in proposals(state, hamlet).items():
        _para(pdf, title, bold=True)
        table = []
        for i, r in enumerate(rows, 1):
            vote = state.votes.get(r["household_id"])
            shown = f"{vote[0]}/{vote[1]}" if vote else ""
            table.append([i, r["household_id"], r.get("head_name", ""), CLASS_TEXT.get(state.final_class(r["household_id"]), ""),
                          _reason(r), shown])
        _table(pdf, ["STT", "Mã hộ", "Chủ hộ", "Đề xuất", "Lý do", "Đồng ý/Dự họp"], table, (8, 22, 30, 24, 60, 18))
    _para(pdf, "Biên bản lập thành 02 bản, 01 bản lưu tại ấp, 01 bản gửi Ủy ban nhân dân xã.")
    _signatures(pdf, "THƯ KÝ", "CHỦ TRÌ (TRƯỞNG ẤP)")
    return bytes(pdf.output())


def _list_rows(state: RoundState, hids: list[str], h: Heading) -> list[list]:
    rows = []
    for i, hid in enumerate(hids, 1):
        r = state.households[hid]
        rows.append([i, hid, r.get("head_name", ""), h.hamlet_names.get(r["hamlet"], r["hamlet"]),
                     CLASS_TEXT.get(state.final_class(hid), "")])
    return rows


def posting_notice_pdf(state: RoundState, hamlet: str, h: Heading) -> bytes:
    name = h.hamlet_names.get(hamlet, hamlet)
    hs = state.hamlets[hamlet]
    if hs.posting_start:
        h = replace(h, today=hs.posting_start)  # the notice is dated the day the posting starts
    pdf = _new("Thông báo niêm yết", h)
    _top(pdf, h, "THÔNG BÁO NIÊM YẾT CÔNG KHAI", f"Danh sách hộ nghèo, hộ cận nghèo năm {state.year} — {name}")
    _para(pdf, f"Địa điểm niêm yết: trụ sở Ủy ban nhân dân {_lower_first(h.commune)} "
               f"và nhà văn hóa (điểm sinh hoạt) {name}.")
    start = f"{hs.posting_start:%d/%m/%Y}" if hs.posting_start else "…/…/……"
    end = f"{hs.posting_end:%d/%m/%Y}" if hs.posting_end else "…/…/……"
    _para(pdf, f"Thời gian niêm yết: từ ngày {start} đến hết ngày {end} (tính theo ngày làm việc, không kể thứ Bảy, "
               "Chủ nhật và ngày nghỉ lễ, Tết).", bold=True)
    _para(pdf, "Trong thời gian niêm yết, người dân có ý kiến, khiếu nại xin gửi về Ủy ban nhân dân xã hoặc Trưởng ấp "
               "để được xem xét, rà soát lại.")
    hids = state.hamlet_households(hamlet)
    for cls in LISTED:
        _para(pdf, f"Danh sách {CLASS_TEXT[cls].lower()}", bold=True)
        chosen = [x for x in hids if state.final_class(x) == cls and x not in state.resurvey]
        _table(pdf, ["STT", "Mã hộ", "Chủ hộ", "Ấp", "Phân loại"], _list_rows(state, chosen, h), (10, 30, 50, 40, 40))
    _signatures(pdf, "", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    return bytes(pdf.output())


def decision_pdf(state: RoundState, h: Heading, number: str = "") -> bytes:
    pdf = _new("Quyết định công nhận", h)
    _top(pdf, h, "QUYẾT ĐỊNH", f"Về việc công nhận hộ nghèo, hộ cận nghèo năm {state.year} trên địa bàn {_lower_first(h.commune)}",
         number=f"Số: {number or '……'}/QĐ-UBND")
    _para(pdf, f"CHỦ TỊCH ỦY BAN NHÂN DÂN {h.commune.upper()}", bold=True)
    _para(pdf, "Căn cứ Quyết định số 24/2021/QĐ-TTg ngày 16/7/2021 của Thủ tướng Chính phủ quy định quy trình rà soát "
               "hộ nghèo, hộ cận nghèo; xác định thu nhập của hộ làm nông nghiệp, lâm nghiệp, ngư nghiệp và diêm nghiệp "
               "có mức sống trung bình;")
    _para(pdf, f"Căn cứ biên bản họp dân của các ấp và kết quả niêm yết công khai đợt rà soát {state.round_id};")
    rec = recognised_households(state)
    counts = rec["household_class"].value_counts().to_dict() if len(rec) else {}
    _para(pdf, "QUYẾT ĐỊNH:", bold=True)
    _para(pdf, f"Điều 1. Công nhận {counts.get('poor', 0)} hộ nghèo và {counts.get('near_poor', 0)} hộ cận nghèo năm "
               f"{state.year} trên địa bàn {_lower_first(h.commune)} (danh sách kèm theo).")
    _para(pdf, "Điều 2. Cấp giấy chứng nhận hộ nghèo, hộ cận nghèo cho các hộ có tên trong danh sách kèm theo.")
    _para(pdf, "Điều 3. Quyết định có hiệu lực kể từ ngày ký. Công chức phụ trách, Trưởng các ấp và các hộ có tên tại "
               "Điều 1 chịu trách nhiệm thi hành quyết định này.")
    _signatures(pdf, "Nơi nhận: như Điều 3; Sở NN&MT", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    for cls in LISTED:
        hids = rec.loc[rec["household_class"] == cls, "household_id"].tolist() if len(rec) else []
        _top(pdf, h, f"PHỤ LỤC: DANH SÁCH {CLASS_TEXT[cls].upper()} NĂM {state.year}",
             f"(Kèm theo Quyết định số {number or '……'}/QĐ-UBND)")
        _table(pdf, ["STT", "Mã hộ", "Chủ hộ", "Ấp", "Phân loại"], _list_rows(state, hids, h), (10, 30, 50, 40, 40))
    return bytes(pdf.output())


def certificate_pdf(state: RoundState, hid: str, details: dict, h: Heading, number: str = "") -> bytes:
    r = state.households[hid]
    cls = state.final_class(hid)
    pdf = _new("Giấy chứng nhận", h)
    _top(pdf, h, f"GIẤY CHỨNG NHẬN {CLASS_TEXT[cls].upper()}", f"Năm {state.year}", number="Số: ……/GCN-UBND")
    d = details.get(hid, {})
    name = h.hamlet_names.get(r["hamlet"], r["hamlet"])
    lines = [
        ("Họ và tên chủ hộ", r.get("head_name", "")),
        ("Dân tộc", d.get("Dân tộc", "")),
        ("Số định danh cá nhân (CCCD)", d.get("Số CCCD chủ hộ", "")),
        ("Nơi cư trú", f"{name}, {h.commune}, {h.province}"),
        ("Mã hộ", hid),
        ("Số nhân khẩu", d.get("Số nhân khẩu", "")),
        ("Là", f"{CLASS_TEXT[cls]} năm {state.year}"),
        ("Theo quyết định", f"Số {number or '……'}/QĐ-UBND ngày {h.today:%d/%m/%Y} của Chủ tịch {h.authority}"),
    ]
    pdf.set_font("body", "", 11)
    for label, value in lines:
        pdf.set_font("body", "B", 11)
        pdf.cell(72, 7, f"{label}:")
        pdf.set_font("body", "", 11)
        pdf.multi_cell(0, 7, str(value or "……………………"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _para(pdf, "Thành viên hộ gia đình (ghi theo sổ hộ khẩu / dữ liệu cư trú):", bold=True)
    members = [[m["STT"], m["Họ và tên"], m["Năm sinh"], m["Quan hệ với chủ hộ"], m["Số định danh cá nhân"]]
               for m in d.get("members", [])]
    # from the publication; a household without (added by a complaint, an older publication) gets rows to fill by hand
    _table(pdf, ["STT", "Họ và tên", "Năm sinh", "Quan hệ với chủ hộ", "Số định danh"],
           members or [[i, "", "", "", ""] for i in range(1, 5)], (10, 60, 25, 40, 45))
    _signatures(pdf, "", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    return bytes(pdf.output())


def report_cover_pdf(state: RoundState, h: Heading) -> bytes:
    pdf = _new("Báo cáo kết quả rà soát", h)
    _top(pdf, h, "BÁO CÁO", f"Kết quả rà soát hộ nghèo, hộ cận nghèo năm {state.year} — đợt {state.round_id}",
         number="Số: ……/BC-UBND")
    _para(pdf, f"Kính gửi: {REPORT_TO} {h.province.replace('Tỉnh ', 'tỉnh ')}.", bold=True)
    rec = recognised_households(state)
    counts = rec["household_class"].value_counts().to_dict() if len(rec) else {}
    _para(pdf, f"Số hộ trong phạm vi rà soát: {len(state.households)}; số ấp: {len(state.hamlets)}.")
    _para(pdf, f"Kết quả công nhận: {counts.get('poor', 0)} hộ nghèo, {counts.get('near_poor', 0)} hộ cận nghèo.")
    closed = [c for c in state.complaints.values() if not c.open]
    _para(pdf, f"Khiếu nại, đề nghị: {len(state.complaints)} (đã giải quyết {len(closed)}).")
    for c in sorted(state.complaints.values(), key=lambda c: c.id):
        _para(pdf, f"  - Số {c.id} ({COMPLAINT_KINDS.get(c.kind, c.kind)}, ấp {c.hamlet}, hộ {', '.join(c.households)}): "
                   f"{c.result or 'chưa giải quyết'}")
    _para(pdf, "Các bảng chỉ số kèm theo: tệp bang-chi-so.xlsx (từ bản công bố kết quả rà soát).")
    _signatures(pdf, "", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH")
    return bytes(pdf.output())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)) or "_"


def write_documents(state: RoundState, out: Path, h: Heading, publication: Path | None, details: dict) -> list[Path]:
    """Every document the round's state allows now; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(rel: str, data: bytes) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    for code, hs in sorted(state.hamlets.items()):
        put(f"bien-ban-hop-{code}.pdf", minutes_pdf(state, code, h))
        if hs.posting_start:
            put(f"thong-bao-niem-yet-{code}.pdf", posting_notice_pdf(state, code, h))
    if state.decided:
        put("quyet-dinh-cong-nhan.pdf", decision_pdf(state, h, state.decision_number))
        for hid in recognised_households(state)["household_id"]:
            put(f"giay-chung-nhan/{_safe(hid)}.pdf", certificate_pdf(state, hid, details, h, state.decision_number))
    put("bao-cao/bia-bao-cao.pdf", report_cover_pdf(state, h))
    if publication is not None and (publication / "commune" / "bang-chi-so.xlsx").is_file():
        shutil.copyfile(publication / "commune" / "bang-chi-so.xlsx", out / "bao-cao" / "bang-chi-so.xlsx")
        written.append(out / "bao-cao" / "bang-chi-so.xlsx")
    return written
