"""One review run at a time per data folder: `<data>/run.lock`, held with `fcntl.flock`.

The lock belongs to the open file, not to the file's existence: when the holder ends, even by
SIGKILL or a power cut, the kernel drops the lock, so a stale `run.lock` never blocks the next run.
The file holds the holder's pid and start time (JSON), only to tell the waiting run who it waits for.

A run that finds the lock taken polls for `wait_seconds` (default 10 s, or RASOAT_LOCK_WAIT_SECONDS),
then raises `RunSkipped`: the other run is doing the work, this one is not needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = "run.lock"
DEFAULT_WAIT_SECONDS = 10.0


class RunSkipped(Exception):
    """Another run holds the data folder's lock; this run did nothing."""

    def __init__(self, lock_path: str | Path, holder: dict | None = None, waited: float = 0.0):
        self.lock_path, self.holder, self.waited = str(lock_path), holder or {}, waited
        super().__init__(lock_path, holder, waited)

    def __str__(self) -> str:
        who = ""
        if self.holder.get("pid"):
            who = f" (tiến trình {self.holder['pid']}, bắt đầu lúc {self.holder.get('started_at', '?')})"
        return (f"Bỏ qua: một lần chạy khác đang xử lý thư mục dữ liệu này{who}; đã chờ {self.waited:.0f} giây. "
                f"Skipped: another run holds {self.lock_path}.")


def default_wait_seconds() -> float:
    value = os.environ.get("RASOAT_LOCK_WAIT_SECONDS")
    try:
        return max(float(value), 0.0) if value not in (None, "") else DEFAULT_WAIT_SECONDS
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def read_holder(data_dir: str | Path) -> dict | None:
    """Who holds (or last held) the lock, from the file's content; None when unreadable."""
    try:
        text = (Path(data_dir) / LOCK_NAME).read_text(encoding="utf-8").strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


@contextmanager
def run_lock(data_dir: str | Path, wait_seconds: float | None = None, poll_seconds: float = 0.2) -> Iterator[Path]:
    """Hold `<data_dir>/run.lock` for the block, or raise `RunSkipped` after `wait_seconds`."""
    wait = default_wait_seconds() if wait_seconds is None else max(float(wait_seconds), 0.0)
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait:
                    raise RunSkipped(path, read_holder(root), waited) from None
                time.sleep(min(poll_seconds, max(wait - waited, 0.01)))
        holder = {"pid": os.getpid(), "started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
