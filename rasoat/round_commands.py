"""Review rounds (issue 7): `rasoat round open|status|meeting|post|complaint|close|decide|documents`.

The procedure of Decision 24/2021/QĐ-TTg around the numbers (rasoat/pipeline/rounds.py); state in
<data>/rounds/rounds.sqlite3, documents in <data>/rounds/<round id>/documents/.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from rasoat.cli_common import CONFIG_OPTION, DATA_DIR_OPTION, console, fail

round_app = typer.Typer(help="Đợt rà soát / review rounds: họp dân, niêm yết, khiếu nại, quyết định công nhận.",
                        no_args_is_help=True)
complaint_app = typer.Typer(help="Khiếu nại, đề nghị / complaints and requests.", no_args_is_help=True)
round_app.add_typer(complaint_app, name="complaint")

WHO_OPTION = typer.Option(None, "--who", envvar="RASOAT_OFFICER", help="Người thực hiện (ghi vào nhật ký) / who does it.")
TODAY_OPTION = typer.Option(None, "--today", help="Ngày hôm nay YYYY-MM-DD (mặc định: hôm nay, giờ Việt Nam).")
ROUND_OPTION = typer.Option(None, "--round", help="Mã đợt (mặc định: đợt mở gần nhất).")


def _who(who: Optional[str]) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover
        return "unknown"


def _day(text: Optional[str], what: str = "--today") -> dt.date:
    if not text:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{what}: ngày {text!r} không đúng dạng YYYY-MM-DD")


def _settings(config: Optional[Path]):
    from rasoat.settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(str(exc))


def _store(data_dir: Path):
    from rasoat.pipeline.rounds import RoundStore

    return RoundStore(data_dir)


def _round_id(store, round_id: Optional[str]) -> str:
    rid = round_id or store.current_round()
    if not rid:
        fail("Chưa mở đợt rà soát nào: rasoat round open --year NĂM")
    if rid not in store.round_ids():
        fail(f"Không có đợt {rid} (các đợt: {', '.join(store.round_ids()) or 'chưa có'})")
    return rid


def _append(store, rid: str, kind: str, who: str, hamlet: str = "", data: dict | None = None):
    from rasoat.pipeline.rounds import RoundError

    try:
        return store.append(rid, kind, who, hamlet, data or {})
    except RoundError as exc:
        fail(str(exc))


def _one_of(value: str, allowed, flag: str) -> None:
    """Refuse an option value outside its list, naming the flag and the accepted values."""
    if value not in allowed:
        fail(f"{flag} phải là một trong: {', '.join(allowed)}")


@round_app.command("open")
def round_open(
    year: int = typer.Option(..., "--year", help="Năm của danh sách / reference year."),
    kind: str = typer.Option("periodic", "--kind", help="periodic (định kỳ 1/9–14/12) | monthly (thường xuyên)."),
    scope: str = typer.Option("lists+requests", "--scope", help="lists+requests (hộ trong danh sách + hộ có đơn) | all."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    who: Optional[str] = WHO_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """Mở đợt rà soát / open a review round from the current publication."""
    from rasoat.pipeline.publish import current_publication
    from rasoat.pipeline.rounds import KINDS, SCOPES, load_round_config, new_round_id, round_deadline, scope_households

    _one_of(kind, KINDS, "--kind")
    _one_of(scope, SCOPES, "--scope")
    settings = _settings(config)
    publication = current_publication(data_dir / "publications")
    if publication is None:
        fail(f"Chưa có bản công bố nào trong {data_dir / 'publications'}: chạy `rasoat run` trước")
    day = _day(today)
    cfg = load_round_config(settings.config_dir)
    store = _store(data_dir)
    rid = new_round_id(year, kind, day, store.round_ids())
    households = scope_households(publication, scope)
    state = _append(store, rid, "opened", _who(who), data={
        "round_id": rid, "year": year, "kind": kind, "scope": scope, "opened_on": day.isoformat(),
        "deadline": round_deadline(kind, year, day, cfg).isoformat(), "publication": publication.name,
        "households": households})
    console.print(f"Đã mở đợt [bold]{rid}[/]: {len(state.households)} hộ, {len(state.hamlets)} ấp; "
                  f"hạn quyết định {state.deadline:%d/%m/%Y} (bản công bố {publication.name}).")


@round_app.command("status")
def round_status(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """Tình hình từng ấp / where each hamlet stands; late ones in red."""
    from rasoat.pipeline.rounds import STATE_LABELS, late_hamlets, overdue, recognition_blockers

    settings = _settings(config)
    store = _store(data_dir)
    state = store.state(_round_id(store, round_id))
    day = _day(today)
    late = late_hamlets(state, day)
    table = Table(title=f"Đợt {state.round_id} — năm {state.year} ({state.kind}, {state.scope}); hạn {state.deadline:%d/%m/%Y}")
    for col in ("Ấp", "Trạng thái", "Số hộ", "Họp dân (đồng ý/dự)", "Niêm yết", "Khiếu nại mở"):
        table.add_column(col)
    for code, h in sorted(state.hamlets.items()):
        name = settings.hamlet(code).name if settings.hamlet(code) else code
        style = "red" if code in late else None
        vote = f"{h.agree}/{h.attended}" if h.attended is not None else ""
        posting = f"{h.posting_start:%d/%m}–{h.posting_end:%d/%m/%Y}" if h.posting_start else ""
        table.add_row(f"{code} {name}", STATE_LABELS[h.state], str(len(state.hamlet_households(code))), vote, posting,
                      str(len(state.open_complaints(code))), style=style)
    console.print(table)
    for what, why in overdue(state, day):
        console.print(f"[red]Quá hạn:[/] {what}: {why}")
    if not state.decided:
        blockers = recognition_blockers(state, day)
        console.print("Có thể ra quyết định công nhận." if not blockers else f"Chưa ra quyết định được: {len(blockers)} vướng mắc.")
    else:
        console.print(f"Đã có quyết định công nhận ngày {state.decided:%d/%m/%Y}.")


def _votes(items: List[str]) -> dict[str, int]:
    out = {}
    for item in items:
        m = re.fullmatch(r"\s*([^:=\s]+)\s*[:=]\s*(\d+)\s*", item)
        if not m:
            fail(f"--household {item!r}: viết MÃ_HỘ:SỐ_ĐỒNG_Ý, ví dụ A01-0007:12")
        out[m.group(1)] = int(m.group(2))
    return out


@round_app.command("meeting")
def round_meeting(
    hamlet: str = typer.Argument(..., help="Mã ấp / hamlet code."),
    attended: int = typer.Option(..., "--attended", help="Số người dự họp."),
    agree: int = typer.Option(..., "--agree", help="Số người đồng ý với cả danh sách."),
    household: List[str] = typer.Option([], "--household", help="Biểu quyết riêng một hộ: MÃ_HỘ:SỐ_ĐỒNG_Ý (lặp lại được)."),
    data_dir: Path = DATA_DIR_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
) -> None:
    """Ghi kết quả họp dân / record the hamlet meeting (below 50% agreement → re-survey)."""
    from rasoat.pipeline.rounds import passes

    store = _store(data_dir)
    rid = _round_id(store, round_id)
    votes = _votes(household)
    state = _append(store, rid, "meeting", _who(who), hamlet, {"attended": attended, "agree": agree, "households": votes})
    if not passes(agree, attended):
        console.print(f"[yellow]Ấp {hamlet}: {agree}/{attended} đồng ý (< 50%) — không đạt; ấp trở lại rà soát.[/]")
        return
    console.print(f"Ấp {hamlet}: {agree}/{attended} đồng ý — đạt.")
    for hid in sorted(votes):
        if hid in state.resurvey:
            console.print(f"[yellow]Hộ {hid}: {votes[hid]}/{attended} đồng ý (< 50%) — rà soát lại hộ này.[/]")


@round_app.command("post")
def round_post(
    hamlet: str = typer.Argument(..., help="Mã ấp / hamlet code."),
    start: str = typer.Option(..., "--start", help="Ngày bắt đầu niêm yết YYYY-MM-DD."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
) -> None:
    """Niêm yết công khai / post the lists publicly (the end date skips weekends and holidays)."""
    from rasoat.pipeline.rounds import load_round_config, posting_period

    settings = _settings(config)
    cfg = load_round_config(settings.config_dir)
    first, last = posting_period(_day(start, "--start"), cfg.posting_working_days, cfg.holidays)
    store = _store(data_dir)
    rid = _round_id(store, round_id)
    _append(store, rid, "posted", _who(who), hamlet, {"start": first.isoformat(), "end": last.isoformat()})
    console.print(f"Ấp {hamlet}: niêm yết từ {first:%d/%m/%Y} đến hết {last:%d/%m/%Y} ({cfg.posting_working_days} ngày làm việc).")
    if cfg.unconfirmed_holidays:
        console.print("[yellow]Lưu ý: ngày nghỉ lễ trong config/holidays.yaml chưa được xác nhận; kiểm tra theo thông báo chính thức.[/]")


@round_app.command("close")
def round_close(
    hamlet: str = typer.Argument(..., help="Mã ấp / hamlet code."),
    data_dir: Path = DATA_DIR_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """Kết thúc niêm yết / close the posting (period over, no open complaint)."""
    store = _store(data_dir)
    rid = _round_id(store, round_id)
    _append(store, rid, "closed", _who(who), hamlet, {"today": _day(today).isoformat()})
    console.print(f"Ấp {hamlet}: đã kết thúc niêm yết, không còn khiếu nại.")


@complaint_app.command("add")
def complaint_add(
    hamlet: str = typer.Option(..., "--hamlet", help="Mã ấp."),
    household: List[str] = typer.Option(..., "--household", help="Mã hộ liên quan (lặp lại được)."),
    by: str = typer.Option(..., "--by", help="Người khiếu nại / đề nghị."),
    kind: str = typer.Option("dispute", "--kind", help="add | remove | dispute | other."),
    text: str = typer.Option(..., "--text", help="Nội dung."),
    received: Optional[str] = typer.Option(None, "--received", help="Ngày nhận YYYY-MM-DD (mặc định hôm nay)."),
    head_name: str = typer.Option("", "--head-name", help="Tên chủ hộ (hộ xin vào danh sách, chưa có trong đợt)."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
) -> None:
    """Ghi nhận khiếu nại, đề nghị / record a complaint or request (opens a re-check)."""
    from rasoat.pipeline.rounds import COMPLAINT_KINDS, load_round_config

    _one_of(kind, COMPLAINT_KINDS, "--kind")
    cfg = load_round_config(_settings(config).config_dir)
    store = _store(data_dir)
    rid = _round_id(store, round_id)
    day = _day(received, "--received")
    number = len(store.state(rid).complaints) + 1
    state = _append(store, rid, "complaint_added", _who(who), hamlet, {
        "id": number, "households": list(household), "complainant": by, "kind": kind, "text": text,
        "received": day.isoformat(), "due": (day + dt.timedelta(days=cfg.complaint_reply_days)).isoformat(),
        "head_name": head_name})
    console.print(f"Đã ghi khiếu nại số {number} (ấp {hamlet}, hộ {', '.join(household)}); hạn trả lời "
                  f"{state.complaints[number].due:%d/%m/%Y}. Rà soát lại: khảo sát lại hộ hoặc ghi đính chính "
                  f"({data_dir / 'corrections' / 'corrections.csv'}).")


@complaint_app.command("close")
def complaint_close(
    number: int = typer.Argument(..., help="Số khiếu nại."),
    result: str = typer.Option(..., "--result", help="Kết quả rà soát lại."),
    reply: str = typer.Option(..., "--reply", help="Văn bản trả lời (nội dung hoặc số văn bản)."),
    new_class: str = typer.Option("", "--new-class", help="Phân loại mới của hộ: poor | near_poor | average | not_poor."),
    data_dir: Path = DATA_DIR_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """Đóng khiếu nại với kết quả và văn bản trả lời / close a complaint with its result and reply."""
    store = _store(data_dir)
    rid = _round_id(store, round_id)
    _append(store, rid, "complaint_closed", _who(who), "", {"id": number, "result": result, "reply": reply,
                                                          "new_class": new_class, "closed": _day(today).isoformat()})
    console.print(f"Đã đóng khiếu nại số {number}." + (f" Hộ chuyển sang: {new_class}." if new_class else ""))


@round_app.command("decide")
def round_decide(
    number: str = typer.Option("", "--number", help="Số quyết định."),
    data_dir: Path = DATA_DIR_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    who: Optional[str] = WHO_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """Quyết định công nhận / the chairman's recognition decision (refused while anything blocks it)."""
    from rasoat.pipeline.rounds import recognised_households

    store = _store(data_dir)
    rid = _round_id(store, round_id)
    state = _append(store, rid, "decided", _who(who), "", {"today": _day(today).isoformat(), "number": number})
    rec = recognised_households(state)
    console.print(f"Đã công nhận {int((rec['household_class'] == 'poor').sum())} hộ nghèo, "
                  f"{int((rec['household_class'] == 'near_poor').sum())} hộ cận nghèo. In văn bản: rasoat round documents")


@round_app.command("documents")
def round_documents(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    round_id: Optional[str] = ROUND_OPTION,
    today: Optional[str] = TODAY_OPTION,
) -> None:
    """In văn bản của đợt (PDF) / write the round's documents: minutes, notices, decision, certificates, report."""
    from rasoat.pipeline.round_documents import Heading, write_documents
    from rasoat.pipeline.rounds import official_details

    settings = _settings(config)
    store = _store(data_dir)
    rid = _round_id(store, round_id)
    state = store.state(rid)
    publication = data_dir / "publications" / state.publication if state.publication else None
    if publication is not None and not publication.is_dir():
        publication = None
    heading = Heading(authority=settings.commune.authority, commune=settings.commune.name, province=settings.commune.province,
                      hamlet_names={h.code: h.name for h in settings.hamlets}, today=state.decided or _day(today))
    try:
        written = write_documents(state, data_dir / "rounds" / rid / "documents", heading, publication,
                                  official_details(publication) if publication else {})
    except RuntimeError as exc:
        fail(str(exc))
    console.print(f"Đã ghi {len(written)} tệp vào {data_dir / 'rounds' / rid / 'documents'}")
    if not state.decided:
        console.print("Chưa có quyết định công nhận: chưa in quyết định và giấy chứng nhận.")


def register(app: typer.Typer) -> None:
    app.add_typer(round_app, name="round")

