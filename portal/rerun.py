"""An uploaded corrections file, and the rerun it starts in a background thread.

`check_upload` reads the upload with the pipeline's own reader (`rasoat.pipeline.corrections`)
before anything is replaced, so a file with missing columns is refused with the reader's message.
`install_corrections` makes it ``<data>/corrections/corrections.<ext>``: the file(s) there before
(``corrections.csv`` and ``corrections.xlsx``, since the pipeline reads both) are kept as
``corrections-<UTC time>.<ext>``, so the upload is the one corrections ledger from then on.

`RerunRunner` runs `review_flow(..., pull=False)` (the stored raw data, the corrections, the
configuration; never the network) in one thread at a time and records the outcome in the portal
database. A failed run publishes nothing, so the previous publication stays current.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rasoat.portal.store import PortalStore

__all__ = ["ALLOWED_EXTENSIONS", "MAX_UPLOAD_BYTES", "upload_problem", "check_upload", "install_corrections", "RerunRunner"]

ALLOWED_EXTENSIONS = (".csv", ".xlsx")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_FILE_NAMES = ("corrections.csv", "corrections.xlsx")


def upload_problem(filename: str, data: bytes) -> str | None:
    """What is wrong with the upload's name or bytes, in Vietnamese (before reading it), or None."""
    ext = Path(filename or "").suffix.lower()
    if ext not in ALLOWED_EXTENSIONS:
        return "Chỉ nhận tệp .csv hoặc .xlsx."
    if not data:
        return "Tệp rỗng."
    if len(data) > MAX_UPLOAD_BYTES:
        return f"Tệp quá lớn (tối đa {MAX_UPLOAD_BYTES // (1024 * 1024)} MB)."
    if ext == ".xlsx" and not data.startswith(b"PK\x03\x04"):
        return "Tệp .xlsx không đúng định dạng Excel."
    if ext == ".csv":
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "Tệp CSV phải được lưu với mã hóa UTF-8 (trong Excel: CSV UTF-8)."
    return None


def check_upload(filename: str, data: bytes) -> str | None:
    """`upload_problem`, then the pipeline's reader on a copy: its complaint about the file, or None."""
    problem = upload_problem(filename, data)
    if problem:
        return problem
    from rasoat.pipeline import corrections

    ext = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "corrections" + ext).write_bytes(data)
        table = corrections.read_corrections(Path(tmp))
    bad = table[table["field"] == "#file"] if "field" in table.columns else table.iloc[0:0]
    if len(bad):
        return "Không đọc được tệp: " + "; ".join(str(v) for v in bad["new_value"])
    if len(table) == 0:
        return "Tệp không có dòng sửa lỗi nào."
    return None


def _stamp(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def install_corrections(folder: Path, filename: str, data: bytes, now: float) -> tuple[Path, list[Path]]:
    """Write the upload as the corrections file; returns (its path, the previous files' new paths)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ext = Path(filename).suffix.lower()
    kept: list[Path] = []
    for name in _FILE_NAMES:
        old = folder / name
        if old.is_file():
            suffix = Path(name).suffix
            target = folder / f"corrections-{_stamp(now)}{suffix}"
            n = 1
            while target.exists():
                target = folder / f"corrections-{_stamp(now)}-{n}{suffix}"
                n += 1
            os.replace(old, target)
            kept.append(target)
    final = folder / f"corrections{ext}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=ext)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final, kept


class RerunRunner:
    """Runs the review again from stored data, one run at a time, in a background thread."""

    def __init__(self, store: PortalStore, data_dir: Path, config_dir: Path | None, clock: Callable[[], float] = time.time,
                 flow: Callable | None = None) -> None:
        self.store, self.data_dir, self.config_dir, self.clock = store, Path(data_dir), config_dir, clock
        self._flow = flow
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def claim(self) -> bool:
        """Reserve the runner (False when a rerun is going on); `start` or `release` must follow."""
        if not self._lock.acquire(blocking=False):
            return False
        if self.busy():
            self._lock.release()
            return False
        return True

    def release(self) -> None:
        self._lock.release()

    def start(self, rerun_id: int, reference_year: int | None) -> threading.Thread:
        """Start rerun `rerun_id` (after `claim`)."""
        thread = threading.Thread(target=self._run, args=(rerun_id, reference_year), name=f"rasoat-rerun-{rerun_id}", daemon=True)
        self._thread = thread
        thread.start()
        self._lock.release()
        return thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, rerun_id: int, reference_year: int | None) -> None:
        flow = self._flow
        try:
            if flow is None:
                from rasoat.flows.review import review_flow as flow
            result = flow(data_dir=str(self.data_dir), config_dir=str(self.config_dir) if self.config_dir else None,
                          reference_year=reference_year, pull=False)
            publication = Path(getattr(result, "publication", "")).name or None
            self.store.finish_rerun(rerun_id, self.clock(), "done", publication=publication)
        except BaseException as exc:  # recorded for the officer; never printed to the server log
            message = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else ""
            self.store.finish_rerun(rerun_id, self.clock(), "failed", error=f"{type(exc).__name__}: {message}".rstrip(": "))
