"""The portal's own database: accounts, sessions, the audit log and the reruns.

A SQLite file at ``<data>/portal/portal.sqlite3`` (folder mode 0700, file 0600), SQLAlchemy Core
as in `rasoat.pipeline.rawstore`. Times are seconds since the epoch (UTC) as REAL.

Sessions keep only the SHA-256 of their token. The audit log is append-only: who, what, when,
outcome and the client address; never a household's name or ID number (the targets are file
paths inside a publication, which carry hamlet codes and list names only).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from rasoat.portal.access import ROLES, Principal

__all__ = ["PortalStore", "User", "Session", "UserError", "portal_db_path", "normalise_name"]

_meta = sa.MetaData()
users = sa.Table(
    "users", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("hamlet", sa.Text, nullable=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sessions = sa.Table(
    "sessions", _meta,
    sa.Column("token_sha256", sa.Text, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)
audit = sa.Table(
    "audit_log", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("user_name", sa.Text, nullable=True),
    sa.Column("action", sa.Text, nullable=False),  # download, view, upload, sign_in, sign_out, user_*
    sa.Column("target", sa.Text, nullable=True),  # <publication>/<path>, an uploaded file name, a user name
    sa.Column("outcome", sa.Text, nullable=False),  # ok, denied, not_found, invalid, failed, rate_limited
    sa.Column("client", sa.Text, nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)
reruns = sa.Table(
    "reruns", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_by", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("status", sa.Text, nullable=False),  # running, done, failed
    sa.Column("upload_name", sa.Text, nullable=True),
    sa.Column("stored_as", sa.Text, nullable=True),
    sa.Column("previous_publication", sa.Text, nullable=True),
    sa.Column("publication", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")


class UserError(Exception):
    """An account operation that cannot be done (message in Vietnamese, for the officer)."""


def normalise_name(name: str) -> str:
    return (name or "").strip().lower()


def portal_db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "portal" / "portal.sqlite3"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    hamlet: str | None
    password_hash: str
    disabled: bool
    created_at: float
    updated_at: float

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role, self.hamlet)


@dataclass(frozen=True)
class Session:
    token_sha256: str
    user: User
    csrf: str
    created_at: float
    last_seen: float


def _user(row) -> User:
    return User(row.id, row.name, row.role, row.hamlet, row.password_hash, bool(row.disabled), row.created_at, row.updated_at)


class PortalStore:
    """Accounts, sessions, audit log and reruns in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(self.path.parent, 0o700)
        except OSError:
            pass
        self.engine = sa.create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        _meta.create_all(self.engine)
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> "PortalStore":
        return cls(portal_db_path(data_dir))

    def close(self) -> None:
        self.engine.dispose()

    # --- accounts -----------------------------------------------------------------------------

    def add_user(self, name: str, role: str, hamlet: str | None, password_hash: str, now: float) -> User:
        name = normalise_name(name)
        if not _NAME.match(name):
            raise UserError(f"Tên đăng nhập {name!r} không hợp lệ: 2–40 ký tự a-z, 0-9, dấu chấm, gạch dưới, gạch ngang.")
        if role not in ROLES:
            raise UserError(f"Vai trò {role!r} không có; chọn một trong: {', '.join(ROLES)}.")
        if role == "hamlet_head" and not hamlet:
            raise UserError("Trưởng ấp cần mã ấp: thêm --hamlet MÃ_ẤP.")
        if role != "hamlet_head" and hamlet:
            raise UserError("Chỉ vai trò hamlet_head mới gắn với một ấp; bỏ --hamlet.")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
                raise UserError(f"Tài khoản {name!r} đã có. Dùng `rasoat users reset {name}` để đặt lại mật khẩu.")
            conn.execute(users.insert().values(name=name, role=role, hamlet=hamlet, password_hash=password_hash,
                                               disabled=False, created_at=now, updated_at=now))
        return self.get_user(name)

    def get_user(self, name: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == normalise_name(name))).first()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]

    def _update_user(self, name: str, now: float, **values) -> User:
        with self.engine.begin() as conn:
            result = conn.execute(users.update().where(users.c.name == normalise_name(name)).values(updated_at=now, **values))
            if result.rowcount == 0:
                raise UserError(f"Không có tài khoản {normalise_name(name)!r}. Xem danh sách: `rasoat users list`.")
        return self.get_user(name)

    def set_password(self, name: str, password_hash: str, now: float, *, end_sessions: bool = True) -> User:
        user = self._update_user(name, now, password_hash=password_hash)
        if end_sessions:
            self.end_sessions_of(user.id)
        return user

    def set_disabled(self, name: str, disabled: bool, now: float) -> User:
        user = self._update_user(name, now, disabled=disabled)
        if disabled:
            self.end_sessions_of(user.id)
        return user

    def has_users(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(users.c.id).limit(1)).first() is not None

    # --- sessions -----------------------------------------------------------------------------

    def create_session(self, user_id: int, token_sha256: str, csrf: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.insert().values(token_sha256=token_sha256, user_id=user_id, csrf=csrf, created_at=now, last_seen=now))

    def get_session(self, token_sha256: str) -> Session | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions.c.token_sha256, sessions.c.csrf, sessions.c.created_at.label("s_created"),
                          sessions.c.last_seen, users).join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.token_sha256 == token_sha256)
            ).first()
        if row is None:
            return None
        return Session(row.token_sha256, _user(row), row.csrf, row.s_created, row.last_seen)

    def touch_session(self, token_sha256: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.update().where(sessions.c.token_sha256 == token_sha256).values(last_seen=now))

    def end_session(self, token_sha256: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_sha256 == token_sha256))

    def end_sessions_of(self, user_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def purge_sessions(self, idle_before: float, created_before: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sessions.delete().where(
                (sessions.c.last_seen < idle_before) | (sessions.c.created_at < created_before))).rowcount

    # --- audit log ----------------------------------------------------------------------------

    def log(self, now: float, user_name: str | None, action: str, target: str | None, outcome: str,
            client: str | None = None, detail: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit.insert().values(at=now, user_name=user_name, action=action, target=(target or "")[:300] or None,
                                               outcome=outcome, client=client, detail=(detail or "")[:500] or None))

    def audit_rows(self, limit: int = 200, offset: int = 0) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit).offset(offset)))

    def audit_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar_one()

    # --- reruns -------------------------------------------------------------------------------

    def start_rerun(self, started_by: str, now: float, upload_name: str | None, stored_as: str | None,
                    previous_publication: str | None) -> int:
        with self.engine.begin() as conn:
            return conn.execute(reruns.insert().values(started_by=started_by, started_at=now, status="running", upload_name=upload_name,
                                                       stored_as=stored_as, previous_publication=previous_publication)).inserted_primary_key[0]

    def finish_rerun(self, rerun_id: int, now: float, status: str, publication: str | None = None, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(reruns.update().where(reruns.c.id == rerun_id).values(finished_at=now, status=status, publication=publication,
                                                                               error=error))

    def get_rerun(self, rerun_id: int):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(reruns).where(reruns.c.id == rerun_id)).first()

    def list_reruns(self, limit: int = 20) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(reruns).order_by(reruns.c.id.desc()).limit(limit)))

    def fail_unfinished_reruns(self, now: float) -> int:
        """Reruns left 'running' by a stopped server: they will never finish."""
        with self.engine.begin() as conn:
            return conn.execute(reruns.update().where(reruns.c.status == "running").values(
                status="failed", finished_at=now, error="Máy chủ đã dừng trong lúc chạy lại; hãy tải tệp lên lại.")).rowcount
