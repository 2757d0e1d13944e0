"""Passwords, tokens, the sign-in throttle and session expiry. Pure, with the clock injected.

* Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed on sign-in when the
  defaults grow).
* Session and CSRF tokens are 256-bit random URL-safe strings; the database keeps only the
  SHA-256 of a session token, so a copy of the database does not let anyone sign in.
* `LoginThrottle`: after `max_failures` failed sign-ins within `window` seconds for one key
  (a username, a client address), that key is refused for `lockout` seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Hashable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "Clock", "hash_password", "verify_password", "needs_rehash", "password_problem", "new_token", "token_digest",
    "csrf_ok", "session_expired", "LoginThrottle", "MIN_PASSWORD", "request_is_https", "client_address",
]

Clock = Callable[[], float]
MIN_PASSWORD = 8
_hasher = PasswordHasher()
# Checked against when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches `stored_hash`; False for a mismatch, a missing or broken hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def password_problem(password: str) -> str | None:
    """What is wrong with a new password, in Vietnamese, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự."
    if len(password) > 256:
        return "Mật khẩu quá dài (tối đa 256 ký tự)."
    if password.strip() != password:
        return "Mật khẩu không được bắt đầu hay kết thúc bằng khoảng trắng."
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_ok(expected: str | None, submitted: str | None) -> bool:
    """The form's token equals the one the server issued (constant-time; missing is never ok)."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


def session_expired(last_seen: float, created: float, now: float, idle_seconds: float, max_seconds: float) -> bool:
    """Idle longer than `idle_seconds`, or older than `max_seconds` whatever the activity."""
    return now - last_seen > idle_seconds or now - created > max_seconds or now < created - 300


class LoginThrottle:
    """Counts failed sign-ins per key and refuses a key for `lockout` seconds after too many."""

    def __init__(self, max_failures: int = 5, window: float = 15 * 60, lockout: float = 15 * 60, clock: Clock = time.time) -> None:
        self.max_failures, self.window, self.lockout, self.clock = max_failures, window, lockout, clock
        self._failures: dict[Hashable, list[float]] = {}
        self._locked_until: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: Hashable) -> float:
        """Seconds until the most locked of `keys` may try again (0 when none is locked)."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for key in keys:
                until = self._locked_until.get(key)
                if until is None:
                    continue
                if until <= now:
                    del self._locked_until[key]
                    self._failures.pop(key, None)
                else:
                    wait = max(wait, until - now)
            return wait

    def failure(self, *keys: Hashable) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < self.window]
                recent.append(now)
                self._failures[key] = recent
                if len(recent) >= self.max_failures:
                    self._locked_until[key] = now + self.lockout
            if len(self._failures) > 10_000:  # forget stale keys so a scan cannot grow memory without end
                for key in [k for k, ts in self._failures.items() if now - ts[-1] >= self.window and k not in self._locked_until]:
                    del self._failures[key]

    def success(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)


def request_is_https(scheme: str, headers, behind_proxy: bool) -> bool:
    """Served over HTTPS: directly, or (only with --behind-proxy) as the proxy's X-Forwarded-Proto says."""
    if scheme == "https":
        return True
    if behind_proxy:
        return (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower() == "https"
    return False


def client_address(peer: str | None, headers, behind_proxy: bool) -> str:
    """The client's address: the socket peer, or behind a trusted proxy the address the proxy added last."""
    if behind_proxy:
        forwarded = (headers.get("x-forwarded-for") or "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:64]
    return (peer or "?")[:64]
