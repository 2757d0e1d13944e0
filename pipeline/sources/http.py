"""What every request to a field server shares: timeouts, retries with backoff, clear errors, no secrets in logs.

One `requests.Session` per command run (pyodk's own for Central, a plain one for KoboToolbox) gets
`mount_timeouts` on http:// and https:// alike (pyodk mounts its adapter on https:// only), and
every call goes through `send`, which

* retries dropped connections, timeouts, truncated bodies, 429 and 5xx with exponential backoff
  (POSTs only when the caller says the request is idempotent);
* turns 401/403/404 into a `ServerError` naming the server, the project and the form;
* turns any other refusal into a `ServerError` carrying the server's own message.

`redact` removes passwords, bearer/API tokens and app-user key paths from any text, and
`install_log_redaction` puts it on the loggers that print URLs (urllib3, pyodk), so credentials
never reach a log or the terminal.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger("rasoat.server")

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_SECRET_PATTERNS = [
    (re.compile(r"(/v1/key/)[^/\s?#\"']+"), r"\1***"),  # ODK app-user key in a URL path
    (re.compile(r"(/v1/test/)[^/\s?#\"']+"), r"\1***"),  # draft test token
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9!$._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?token\s+)[A-Za-z0-9]+"), r"\1***"),
    (re.compile(r"(?i)(\btoken\s+)[0-9a-f]{20,}"), r"\1***"),  # Kobo API key after "Token "
    (re.compile(r"(?i)([\"']?(?:password|token)[\"']?\s*[:=]\s*[\"']?)[^\"',}\s]+"), r"\1***"),
    (re.compile(r"(://[^/:@\s]+:)[^/@\s]+@"), r"\1***@"),  # user:password@host
]
_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret (password, token) so `redact` hides it wherever it appears."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def redact(text: str) -> str:
    """The text with every known secret and secret-shaped fragment replaced by ***."""
    for secret in sorted(_extra_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text of an HTTP error may carry a URL with a key: keep only the redacted message.
            record.msg = f"{cleaned} ({redact(str(record.exc_info[1]))})"
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = _RedactingFilter()
_REDACTED_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests", "pyodk",
                     "pyodk._utils.session", "pyodk._endpoints.auth", "pyodk._utils.config", "rasoat.server")


def install_log_redaction() -> None:
    """Put the redacting filter on every logger that may print a URL or a server answer (idempotent)."""
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # pyodk logs every error at ERROR with a traceback; our own message says it better.
    logging.getLogger("pyodk").setLevel(logging.CRITICAL)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, without any user or password: how a server is named in messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else redact(url)


@dataclass(frozen=True)
class Where:
    """What a message names: the server, and the project and form when known."""

    server: str
    project: str = ""
    form: str = ""
    kind: str = "ODK Central"

    def __str__(self) -> str:
        bits = [f"máy chủ {self.kind} {origin_of(self.server)}"]
        if self.project:
            bits.append(f"dự án {self.project}")
        if self.form:
            bits.append(f"phiếu {self.form}")
        return ", ".join(bits)


class ServerError(Exception):
    """A field server refused or could not be reached; the message is ready for an officer."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(redact(message))
        self.status = status
        self.body = body


@dataclass
class RetryPolicy:
    attempts: int = 6  # tries in all, the first included
    backoff: float = 0.5  # seconds before the 2nd try; doubles each time
    max_backoff: float = 30.0
    timeout: float = 60.0  # seconds to wait for the server to answer (read); connecting gets min(10, this)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base * (0.5 + random.random() / 2)

    @property
    def timeouts(self) -> tuple[float, float]:
        return (min(10.0, self.timeout), self.timeout)


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that never waits forever: every request gets the policy's timeout unless it sets one."""

    def __init__(self, timeout: tuple[float, float], **kwargs):
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def mount_timeouts(session: requests.Session, policy: RetryPolicy) -> requests.Session:
    """Mount a timeout adapter on http:// and https://. Retrying is `send`'s job (one place, one count);
    urllib3 only retries a failed connect once, which is always safe."""
    retry = Retry(total=1, connect=1, read=0, status=0, redirect=3, other=0, backoff_factor=0.2, raise_on_status=False)
    adapter = _TimeoutAdapter(policy.timeouts, max_retries=retry, pool_connections=4, pool_maxsize=8)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def server_message(response: requests.Response) -> str:
    """The server's own explanation: Central's `message`, Kobo's `error`/`detail`, else the text."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return redact(text[:300]) if text else response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if value:
                details = body.get("details")
                extra = f" ({details})" if isinstance(details, (dict, list)) and details and key == "message" else ""
                return redact(f"{value}{extra}"[:600])
        return redact(str(body)[:600])
    return redact(str(body)[:600])


def status_error(response: requests.Response, where: Where, action: str) -> ServerError:
    """A `ServerError` for a refused request: 401/403/404 explained, anything else with the server's words."""
    status = response.status_code
    said = server_message(response)
    if status == 401:
        text = (f"{where} từ chối đăng nhập (401) khi {action}: kiểm tra tài khoản và mật khẩu "
                f"(RASOAT_CENTRAL_USER / RASOAT_CENTRAL_PASSWORD, ~/.pyodk_config.toml hoặc RASOAT_KOBO_TOKEN). "
                f"Login refused.")
    elif status == 403:
        text = (f"{where}: tài khoản không có quyền (403) khi {action}; cần quyền quản lý dự án. "
                f"Forbidden: the account lacks the right on this project.")
    elif status == 404:
        text = (f"{where}: không tìm thấy (404) khi {action}; kiểm tra địa chỉ máy chủ, mã dự án và mã phiếu "
                f"trong config (server:). Not found.")
    else:
        text = f"{where} từ chối ({status}) khi {action}: {said}"
    if status in (401, 403, 404) and said:
        text += f" Máy chủ nói / server said: {said}"
    try:
        body = response.json()
    except ValueError:
        body = None
    return ServerError(text, status=status, body=body)


_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def send(
    session: requests.Session,
    method: str,
    url: str,
    where: Where,
    action: str,
    policy: RetryPolicy,
    *,
    ok: tuple[int, ...] = (200, 201),
    allow: tuple[int, ...] = (),
    idempotent: bool | None = None,
    parse_json: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """One request, retried on network errors, 429 and 5xx; a `ServerError` for anything not `ok`.

    Statuses in `allow` are returned to the caller instead of raising (e.g. 404 meaning "not there
    yet", 409 meaning "already exists"). `parse_json` checks that a 2xx body is complete JSON and
    retries when it is not (a connection dropped mid-body); the parsed body is on `response.parsed`.
    """
    if idempotent is None:
        idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
    kwargs.setdefault("timeout", policy.timeouts)
    last: str = ""
    for attempt in range(1, max(1, policy.attempts) + 1):
        retry_after = None
        try:
            response = session.request(method, url, **kwargs)
        except _NETWORK_ERRORS as exc:
            last = f"lỗi mạng / network error: {type(exc).__name__}"
            if not idempotent or attempt >= policy.attempts:
                break
            log.info("%s: %s; retry %d", action, last, attempt)
            policy.sleep(policy.delay(attempt))
            continue
        status = response.status_code
        if status in RETRY_STATUS and attempt < policy.attempts and (idempotent or status in (429, 503)):
            last = f"{status} {response.reason}"
            header = response.headers.get("Retry-After", "")
            retry_after = float(header) if header.isdigit() else None
            log.info("%s: server answered %s; retry %d", action, status, attempt)
            policy.sleep(min(policy.max_backoff, retry_after) if retry_after is not None else policy.delay(attempt))
            continue
        if status in ok:
            if parse_json:
                try:
                    parse_started = time.perf_counter()
                    response.parsed = response.json()  # type: ignore[attr-defined]
                    response.parse_seconds = time.perf_counter() - parse_started  # type: ignore[attr-defined]
                except ValueError:
                    last = "câu trả lời bị cắt / truncated answer"
                    if attempt >= policy.attempts:
                        break
                    policy.sleep(policy.delay(attempt))
                    continue
            return response
        if status in allow:
            return response
        if status in RETRY_STATUS:
            last = f"{status} {response.reason}: {server_message(response)}"
            break
        raise status_error(response, where, action)
    raise ServerError(f"{where}: không kết nối được khi {action} sau {policy.attempts} lần thử ({last}). "
                      f"Could not reach the server; try again later.")
