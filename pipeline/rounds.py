"""Review rounds (issue 7): the legal procedure of Decision 24/2021/QĐ-TTg around the numbers.

A round has a reference year, a kind (periodic 1 Sep – 14 Dec, or a monthly regular round), a scope
(the households to review) and a state per hamlet:

    surveying → meeting_held → posted → complaints_closed → recognised

Everything that happens is an event appended to ``<data>/rounds/rounds.sqlite3`` (who, when, what);
the current state is derived from the events by the pure function `derive`. Each transition is
checked by `apply_event`, which raises `RoundError` (Vietnamese message) when the law's order is not
kept: a meeting needs a vote record, posting needs a passed meeting, closing needs the posting period
over and no open complaint of the hamlet, and the decision (`recognition_blockers`) needs every hamlet
closed and no household waiting for a re-survey or a complaint answer.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

STATES = ("surveying", "meeting_held", "posted", "complaints_closed", "recognised")
STATE_LABELS = {
    "surveying": "Đang rà soát",
    "meeting_held": "Đã họp dân",
    "posted": "Đang niêm yết",
    "complaints_closed": "Hết niêm yết, khiếu nại đã giải quyết",
    "recognised": "Đã công nhận",
}
KINDS = ("periodic", "monthly")
SCOPES = ("lists+requests", "all")
LISTED = ("poor", "near_poor")
CLASS_TEXT = {"poor": "Hộ nghèo", "near_poor": "Hộ cận nghèo", "average": "Hộ có mức sống trung bình",
              "not_poor": "Hộ không nghèo"}
COMPLAINT_KINDS = {"add": "Đề nghị đưa vào danh sách", "remove": "Đề nghị đưa ra khỏi danh sách",
                   "dispute": "Khiếu nại kết quả phân loại", "other": "Khác"}


class RoundError(Exception):
    """A step the procedure does not allow now; the message says why (Vietnamese)."""


# --------------------------------------------------------------------------------------------
# Configuration: posting duration, deadlines, holidays
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundConfig:
    posting_working_days: int = 3
    complaint_reply_days: int = 15
    monthly_decision_days: int = 15
    periodic_last_day: str = "12-14"
    holidays: frozenset[dt.date] = frozenset()
    unconfirmed_holidays: int = 0


def load_round_config(config_dir: Path) -> RoundConfig:
    """config/rounds.yaml and config/holidays.yaml (both optional; defaults when missing)."""
    values: dict[str, Any] = {}
    path = Path(config_dir) / "rounds.yaml"
    if path.is_file():
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    holidays: set[dt.date] = set()
    unconfirmed = 0
    hpath = Path(config_dir) / "holidays.yaml"
    if hpath.is_file():
        for item in (yaml.safe_load(hpath.read_text(encoding="utf-8")) or {}).get("holidays", []) or []:
            day = item["date"] if isinstance(item["date"], dt.date) else dt.date.fromisoformat(str(item["date"]))
            holidays.add(day)
            unconfirmed += 0 if item.get("confirmed") else 1
    known = {k: values[k] for k in ("posting_working_days", "complaint_reply_days", "monthly_decision_days", "periodic_last_day")
             if k in values}
    return RoundConfig(**known, holidays=frozenset(holidays), unconfirmed_holidays=unconfirmed)


def is_working_day(day: dt.date, holidays: Iterable[dt.date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def posting_period(start: dt.date, working_days: int, holidays: Iterable[dt.date]) -> tuple[dt.date, dt.date]:
    """(first, last) day of a public posting lasting `working_days` working days from `start`.

    Weekends and `holidays` are not counted; a start on a day off moves to the next working day.
    The posting has ended on the day after `last`.
    """
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    off = set(holidays)
    day = start
    while not is_working_day(day, off):
        day += dt.timedelta(days=1)
    first, counted = day, 1
    while counted < working_days:
        day += dt.timedelta(days=1)
        if is_working_day(day, off):
            counted += 1
    return first, day


def round_deadline(kind: str, year: int, opened_on: dt.date, cfg: RoundConfig) -> dt.date:
    """The day by which the round's decision is due."""
    if kind == "monthly":
        return opened_on + dt.timedelta(days=cfg.monthly_decision_days)
    month, day = (int(x) for x in cfg.periodic_last_day.split("-"))
    return dt.date(year - 1, month, day) if opened_on <= dt.date(year - 1, month, day) else dt.date(opened_on.year, month, day)


# --------------------------------------------------------------------------------------------
# State derived from events (pure)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    kind: str
    who: str
    at: str  # ISO timestamp (UTC)
    hamlet: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class Complaint:
    id: int
    hamlet: str
    households: list[str]
    complainant: str
    kind: str
    text: str
    received: dt.date
    due: dt.date
    closed: dt.date | None = None
    result: str = ""
    reply: str = ""
    new_class: str = ""

    @property
    def open(self) -> bool:
        return self.closed is None


@dataclass
class HamletState:
    code: str
    state: str = "surveying"
    attended: int | None = None
    agree: int | None = None
    posting_start: dt.date | None = None
    posting_end: dt.date | None = None
    meetings: int = 0
    failed_meetings: int = 0


@dataclass
class RoundState:
    round_id: str = ""
    year: int = 0
    kind: str = "periodic"
    scope: str = "lists+requests"
    opened_on: dt.date | None = None
    deadline: dt.date | None = None
    publication: str = ""
    households: dict[str, dict] = field(default_factory=dict)  # id -> record (hamlet, head_name, class, ...)
    hamlets: dict[str, HamletState] = field(default_factory=dict)
    resurvey: set[str] = field(default_factory=set)  # households whose vote failed
    votes: dict[str, tuple[int, int]] = field(default_factory=dict)  # household -> (agree, attended)
    class_changes: dict[str, tuple[str, int]] = field(default_factory=dict)  # household -> (new class, complaint id)
    complaints: dict[int, Complaint] = field(default_factory=dict)
    decided: dt.date | None = None
    decision_number: str = ""
    log: list[Event] = field(default_factory=list)

    def hamlet_households(self, code: str) -> list[str]:
        return sorted(h for h, r in self.households.items() if r["hamlet"] == code)

    def final_class(self, household_id: str) -> str:
        if household_id in self.class_changes:
            return self.class_changes[household_id][0]
        return str(self.households[household_id].get("household_class") or "")

    def open_complaints(self, hamlet: str | None = None) -> list[Complaint]:
        return [c for c in self.complaints.values() if c.open and (hamlet is None or c.hamlet == hamlet)]


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _hamlet(state: RoundState, code: str) -> HamletState:
    if code not in state.hamlets:
        raise RoundError(f"Ấp {code} không thuộc đợt rà soát này (các ấp: {', '.join(sorted(state.hamlets))})")
    return state.hamlets[code]


def passes(agree: int, attended: int) -> bool:
    """The meeting's result passes with at least 50% of the attendees agreeing."""
    return attended > 0 and 2 * agree >= attended


def apply_event(state: RoundState, event: Event) -> RoundState:
    """The state after `event`; raises RoundError when the procedure does not allow it. Mutates a copy."""
    import copy

    s = copy.deepcopy(state)
    d = event.data
    k = event.kind
    if k != "opened" and not s.round_id:
        raise RoundError("Chưa mở đợt rà soát nào: rasoat round open --year NĂM")
    if s.decided and k != "opened":
        raise RoundError(f"Đợt {s.round_id} đã có quyết định công nhận ngày {s.decided:%d/%m/%Y}; mở đợt mới")
    if k == "opened":
        s = RoundState(round_id=d["round_id"], year=int(d["year"]), kind=d["kind"], scope=d["scope"],
                       opened_on=_date(d["opened_on"]), deadline=_date(d["deadline"]), publication=d.get("publication", ""),
                       households={r["household_id"]: r for r in d["households"]})
        s.hamlets = {code: HamletState(code) for code in sorted({r["hamlet"] for r in d["households"]})}
    elif k == "meeting":
        h = _hamlet(s, event.hamlet)
        if h.state not in ("surveying", "meeting_held"):
            raise RoundError(f"Ấp {h.code} đã niêm yết ({STATE_LABELS[h.state]}); không họp lại được")
        attended, agree = int(d.get("attended", 0)), int(d.get("agree", -1))
        if attended <= 0 or not 0 <= agree <= attended:
            raise RoundError("Biên bản họp cần số người dự họp (> 0) và số đồng ý (0 … số dự họp)")
        h.meetings += 1
        h.attended, h.agree = attended, agree
        for hid, yes in (d.get("households") or {}).items():
            if hid not in s.households or s.households[hid]["hamlet"] != h.code:
                raise RoundError(f"Hộ {hid} không thuộc ấp {h.code} trong đợt này")
            if not 0 <= int(yes) <= attended:
                raise RoundError(f"Hộ {hid}: số đồng ý phải từ 0 đến {attended}")
        if not passes(agree, attended):
            h.state = "surveying"  # the whole hamlet goes back to re-survey
            h.failed_meetings += 1
        else:
            h.state = "meeting_held"
            for hid, yes in (d.get("households") or {}).items():
                s.votes[hid] = (int(yes), attended)
                if passes(int(yes), attended):
                    s.resurvey.discard(hid)
                else:
                    s.resurvey.add(hid)
    elif k == "posted":
        h = _hamlet(s, event.hamlet)
        if h.state != "meeting_held":
            raise RoundError(f"Ấp {h.code} chưa có cuộc họp dân đạt (≥ 50% đồng ý); chưa niêm yết được "
                             f"(trạng thái: {STATE_LABELS[h.state]})")
        h.state, h.posting_start, h.posting_end = "posted", _date(d["start"]), _date(d["end"])
    elif k == "complaint_added":
        h = _hamlet(s, event.hamlet)
        for hid in d["households"]:
            if hid not in s.households:
                # a household asking to be added is brought into the scope of the round
                s.households[hid] = {"household_id": hid, "hamlet": h.code, "head_name": d.get("head_name", ""),
                                     "household_class": "", "requested": True}
        c = Complaint(id=int(d["id"]), hamlet=h.code, households=list(d["households"]), complainant=d["complainant"],
                      kind=d["kind"], text=d["text"], received=_date(d["received"]), due=_date(d["due"]))
        s.complaints[c.id] = c
        if h.state == "complaints_closed":
            h.state = "posted"
    elif k == "complaint_closed":
        c = s.complaints.get(int(d["id"]))
        if c is None:
            raise RoundError(f"Không có khiếu nại số {d['id']}")
        if not c.open:
            raise RoundError(f"Khiếu nại số {c.id} đã đóng ngày {c.closed:%d/%m/%Y}")
        if not d.get("result") or not d.get("reply"):
            raise RoundError("Đóng khiếu nại cần kết quả (--result) và văn bản trả lời (--reply)")
        new_class = d.get("new_class") or ""
        if new_class and new_class not in CLASS_TEXT:
            raise RoundError(f"Phân loại {new_class!r} không hợp lệ ({', '.join(CLASS_TEXT)})")
        c.closed, c.result, c.reply, c.new_class = _date(d["closed"]), d["result"], d["reply"], new_class
        if new_class:
            for hid in c.households:
                s.class_changes[hid] = (new_class, c.id)
    elif k == "closed":
        h = _hamlet(s, event.hamlet)
        if h.state != "posted":
            raise RoundError(f"Ấp {h.code} chưa niêm yết (trạng thái: {STATE_LABELS[h.state]})")
        today = _date(d["today"])
        if today <= h.posting_end:
            raise RoundError(f"Ấp {h.code}: thời gian niêm yết đến hết ngày {h.posting_end:%d/%m/%Y}; chưa kết thúc được")
        still = s.open_complaints(h.code)
        if still:
            raise RoundError(f"Ấp {h.code} còn khiếu nại chưa giải quyết: số {', '.join(str(c.id) for c in still)}")
        h.state = "complaints_closed"
    elif k == "decided":
        blockers = recognition_blockers(s, _date(d["today"]))
        if blockers:
            raise RoundError("Chưa ra quyết định công nhận được:\n" + "\n".join(f"  - {w}: {why}" for w, why in blockers))
        s.decided, s.decision_number = _date(d["today"]), d.get("number", "")
        for h in s.hamlets.values():
            h.state = "recognised"
    else:
        raise RoundError(f"Sự kiện không biết: {k}")
    s.log.append(event)
    return s


def derive(events: Iterable[Event]) -> RoundState:
    """The round's current state from its event log (pure)."""
    state = RoundState()
    for event in events:
        state = apply_event(state, event)
    return state


def recognition_blockers(state: RoundState, today: dt.date) -> list[tuple[str, str]]:
    """What stops the chairman's decision today: (hamlet or household, why). Empty: the decision may be made."""
    out: list[tuple[str, str]] = []
    for code, h in sorted(state.hamlets.items()):
        where = f"Ấp {code}"
        if h.state == "surveying":
            why = "họp dân không đạt, đang rà soát lại" if h.failed_meetings else "chưa họp dân"
            out.append((where, why))
        elif h.state == "meeting_held":
            out.append((where, "chưa niêm yết công khai"))
        elif h.state == "posted":
            if today <= h.posting_end:
                out.append((where, f"đang niêm yết đến hết ngày {h.posting_end:%d/%m/%Y}"))
            elif not state.open_complaints(code):
                out.append((where, "hết niêm yết nhưng chưa xác nhận kết thúc (rasoat round close)"))
    for c in sorted(state.open_complaints(), key=lambda c: c.id):
        out.append((f"Hộ {', '.join(c.households)} (ấp {c.hamlet})", f"khiếu nại số {c.id} chưa giải quyết"))
    for hid in sorted(state.resurvey):
        out.append((f"Hộ {hid} (ấp {state.households[hid]['hamlet']})", "biểu quyết dưới 50%, đang rà soát lại"))
    return out


def overdue(state: RoundState, today: dt.date) -> list[tuple[str, str]]:
    """Late things: the round's decision and unanswered complaints past their due date."""
    out = []
    if state.deadline and not state.decided and today > state.deadline:
        out.append((f"Đợt {state.round_id}", f"quá hạn quyết định ({state.deadline:%d/%m/%Y})"))
    for c in sorted(state.open_complaints(), key=lambda c: c.id):
        if today > c.due:
            out.append((f"Khiếu nại số {c.id} (ấp {c.hamlet})", f"quá hạn trả lời ({c.due:%d/%m/%Y})"))
    return out


def late_hamlets(state: RoundState, today: dt.date) -> set[str]:
    if state.decided or not state.deadline or today <= state.deadline:
        return set()
    return {code for code, h in state.hamlets.items() if h.state != "recognised"}


def recognised_households(state: RoundState) -> pd.DataFrame:
    """The recognised poor and near-poor households (after complaint outcomes), by hamlet then id."""
    rows = []
    for hid in sorted(state.households, key=lambda h: (state.households[h]["hamlet"], h)):
        cls = state.final_class(hid)
        if cls in LISTED and hid not in state.resurvey:
            rows.append({**state.households[hid], "household_class": cls, "changed_by_complaint": hid in state.class_changes})
    columns = ["household_id", "head_name", "hamlet", "household_class", "income_per_capita_month", "deprivation_count",
               "deprived_indicators", "start_class", "changed_by_complaint"]
    return pd.DataFrame(rows).reindex(columns=columns) if rows else pd.DataFrame(columns=columns)


# --------------------------------------------------------------------------------------------
# The scope, from the current publication
# --------------------------------------------------------------------------------------------
def scope_households(publication: Path, scope: str) -> list[dict]:
    """The households to review: those on the current poor/near-poor lists (now or at the start of the
    year, from commune/bien-dong/movements.csv when present), or everyone with scope 'all'."""
    record = pd.read_csv(publication / "commune" / "households.csv", dtype=str, keep_default_na=False)
    record = record[record["household_class"] != "excluded"]
    start: dict[str, str] = {}
    moves = publication / "commune" / "bien-dong" / "movements.csv"
    if moves.is_file():
        m = pd.read_csv(moves, dtype=str, keep_default_na=False)
        start = dict(zip(m["household_id"], m["start_class"]))
    keep = []
    for row in record.to_dict("records"):
        row = {k: row.get(k, "") for k in ("household_id", "head_name", "hamlet", "household_class", "income_per_capita_month",
                                           "deprivation_count", "deprived_indicators")}
        row["start_class"] = start.get(row["household_id"], "")
        if scope == "all" or row["household_class"] in LISTED or row["start_class"] in LISTED:
            keep.append(row)
    return keep


def official_details(publication: Path) -> dict[str, dict]:
    """Head's ID number, ethnicity, member count and hamlet name per household, from the officers' lists,
    and under "members" its members (`publish.MEMBER_COLUMNS` rows) from commune/thanh-vien.csv."""
    out: dict[str, dict] = {}
    for name in ("ho-ngheo", "ho-can-ngheo", "ho-muc-song-trung-binh"):
        path = publication / "commune" / f"{name}.csv"
        if path.is_file():
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            for row in table.to_dict("records"):
                out[row.get("Mã hộ", "")] = row
    path = publication / "commune" / "thanh-vien.csv"  # publications before it have no member list
    if path.is_file():
        for row in pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records"):
            out.setdefault(row["Mã hộ"], {}).setdefault("members", []).append(row)
    return out


# --------------------------------------------------------------------------------------------
# The event store: <data>/rounds/rounds.sqlite3 (append-only)
# --------------------------------------------------------------------------------------------
class RoundStore:
    def __init__(self, data_dir: Path):
        import sqlalchemy as sa

        self.folder = Path(data_dir) / "rounds"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(f"sqlite:///{self.folder / 'rounds.sqlite3'}")
        meta = sa.MetaData()
        self.events = sa.Table(
            "events", meta,
            sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("round_id", sa.String, nullable=False, index=True),
            sa.Column("at", sa.String, nullable=False),
            sa.Column("who", sa.String, nullable=False),
            sa.Column("kind", sa.String, nullable=False),
            sa.Column("hamlet", sa.String, nullable=False, default=""),
            sa.Column("data", sa.Text, nullable=False),
        )
        meta.create_all(self.engine)
        self._sa = sa

    def round_ids(self) -> list[str]:
        sa = self._sa
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.events.c.round_id).where(self.events.c.kind == "opened").order_by(self.events.c.seq))
            return [r[0] for r in rows]

    def current_round(self) -> str | None:
        ids = self.round_ids()
        return ids[-1] if ids else None

    def load(self, round_id: str) -> list[Event]:
        sa = self._sa
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.events).where(self.events.c.round_id == round_id).order_by(self.events.c.seq))
            return [Event(kind=r.kind, who=r.who, at=r.at, hamlet=r.hamlet, data=json.loads(r.data)) for r in rows]

    def state(self, round_id: str) -> RoundState:
        return derive(self.load(round_id))

    def append(self, round_id: str, kind: str, who: str, hamlet: str = "", data: dict | None = None,
               at: dt.datetime | None = None) -> RoundState:
        """Check the event against the current state, then store it; returns the new state."""
        event = Event(kind=kind, who=who, at=(at or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
                      hamlet=hamlet, data=data or {})
        events = self.load(round_id) if kind != "opened" else []
        if kind == "opened" and self.load(round_id):
            raise RoundError(f"Đợt {round_id} đã mở")
        new_state = apply_event(derive(events), event)
        with self.engine.begin() as conn:
            conn.execute(self.events.insert().values(round_id=round_id, at=event.at, who=who, kind=kind, hamlet=hamlet,
                                                     data=json.dumps(event.data, ensure_ascii=False, sort_keys=True, default=str)))
        return new_state


def new_round_id(year: int, kind: str, opened_on: dt.date, existing: list[str]) -> str:
    base = f"{year}-{kind}" if kind == "periodic" else f"{year}-monthly-{opened_on:%Y%m%d}"
    rid, n = base, 2
    while rid in existing:
        rid, n = f"{base}-{n}", n + 1
    return rid
