"""Who may see what: the portal's access rules as small pure functions, and safe path resolution.

A publication holds ``commune/<file>`` (the whole commune) and ``hamlets/<code>/<file>`` (one
hamlet). The portal serves only files at exactly those two depths, and only when

* the role allows it (`may_read`):

  ============== ====================================================================
  role           may read
  ============== ====================================================================
  commune_officer every file of ``commune/`` and of every ``hamlets/<code>/``
  hamlet_head    its own ``hamlets/<code>/`` (lists and quality report) and the
                 aggregate tables of ``commune/`` (`AGGREGATE_FILES`)
  viewer         the aggregate tables of ``commune/`` only: no list, no report with names
  ============== ====================================================================

* and the path is safe (`split_relpath`, `resolve_file`): every segment is a plain file name
  (letters, digits, ``.``, ``_``, ``-``; never ``..``, never starting with a dot), no absolute
  path, no backslash, no percent sign left after decoding (double encoding), no symlink on the
  way, and the resolved file lies inside the publication's folder.

Viewers get an explicit allow-list rather than "everything without a name column": a new file
added to publications stays hidden from them until someone decides it is aggregate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COMMUNE_OFFICER", "HAMLET_HEAD", "VIEWER", "ROLES", "ROLE_LABELS", "AGGREGATE_FILES", "Principal",
    "split_relpath", "may_read", "may", "is_quality_report", "visible_files", "resolve_publication", "resolve_file",
    "raw_path_suspicious", "safe_next",
]

COMMUNE_OFFICER = "commune_officer"
HAMLET_HEAD = "hamlet_head"
VIEWER = "viewer"
ROLES = (COMMUNE_OFFICER, HAMLET_HEAD, VIEWER)
ROLE_LABELS = {COMMUNE_OFFICER: "Cán bộ xã", HAMLET_HEAD: "Trưởng ấp", VIEWER: "Người xem"}

# Commune-wide tables with counts and rates only: no name, no ID, no household code.
AGGREGATE_FILES = frozenset({"ty-le-theo-ap.csv", "thieu-hut-theo-chi-so.csv", "tien-do-muc-tieu.csv", "bien-dong-theo-ap.csv"})

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ENCODED = re.compile(rb"%(2e|2f|5c|00|25)", re.IGNORECASE)

# Actions other than reading a file: which roles may do them.
_ACTIONS = {
    "publications": set(ROLES),  # the list with each manifest's counts (aggregates)
    "dashboard": set(ROLES),  # charts of aggregate tables
    "quality": {COMMUNE_OFFICER, HAMLET_HEAD},  # quality report (names of households, enumerators)
    "upload": {COMMUNE_OFFICER},  # corrections file, starts a rerun
    "changes": {COMMUNE_OFFICER},  # rerun status and class-change table (household codes)
    "audit": {COMMUNE_OFFICER},  # the download/upload log
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user as the rules see it."""

    name: str
    role: str
    hamlet: str | None = None


def split_relpath(relpath: str) -> tuple[str, ...] | None:
    """The segments of a publication-relative path, or None when it is not a plain safe path."""
    if not isinstance(relpath, str) or not relpath or len(relpath) > 512:
        return None
    if relpath.startswith("/") or "\\" in relpath or "\x00" in relpath or "%" in relpath:
        return None
    parts = tuple(relpath.split("/"))
    if not all(_SEGMENT.match(p) and p not in (".", "..") for p in parts):
        return None
    return parts


def _scope(parts: tuple[str, ...]) -> tuple[str, str | None, str] | None:
    """('commune', None, name) or ('hamlet', code, name); None for any other shape."""
    if len(parts) == 2 and parts[0] == "commune":
        return "commune", None, parts[1]
    if len(parts) == 3 and parts[0] == "hamlets":
        return "hamlet", parts[1], parts[2]
    return None


def may_read(who: Principal, relpath: str) -> bool:
    """May `who` read the file at `relpath` (relative to a publication folder)?"""
    parts = split_relpath(relpath)
    scope = _scope(parts) if parts else None
    if scope is None:
        return False
    kind, hamlet, name = scope
    if who.role == COMMUNE_OFFICER:
        return True
    if who.role == HAMLET_HEAD:
        if kind == "hamlet":
            return bool(who.hamlet) and hamlet == who.hamlet
        return name in AGGREGATE_FILES
    if who.role == VIEWER:
        return kind == "commune" and name in AGGREGATE_FILES
    return False


def may(who: Principal, action: str) -> bool:
    """May `who` do `action` (publications, dashboard, quality, upload, changes, audit)?"""
    return who.role in _ACTIONS.get(action, set())


def is_quality_report(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return "chat-luong" in name or "kiem-tra" in name


def visible_files(who: Principal, relpaths: list[str]) -> list[str]:
    return [p for p in relpaths if may_read(who, p)]


def resolve_publication(publications_dir: Path, publication_id: str) -> Path | None:
    """The folder of publication `publication_id`, or None (bad id, missing, a symlink such as `current`)."""
    if not isinstance(publication_id, str) or not _SEGMENT.match(publication_id) or publication_id in (".", ".."):
        return None
    base = Path(publications_dir)
    folder = base / publication_id
    if folder.is_symlink() or not folder.is_dir():
        return None
    try:
        if not folder.resolve(strict=True).is_relative_to(base.resolve(strict=True)):
            return None
    except OSError:
        return None
    return folder if (folder / "manifest.json").is_file() else None


def resolve_file(publication: Path, relpath: str) -> Path | None:
    """The file at `relpath` inside `publication`, or None: unsafe path, symlink on the way, outside, missing."""
    parts = split_relpath(relpath)
    if parts is None or _scope(parts) is None:
        return None
    root = Path(publication)
    if root.is_symlink():
        return None
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            return None
    try:
        resolved = path.resolve(strict=True)
        inside = resolved.is_relative_to(root.resolve(strict=True))
    except OSError:
        return None
    return resolved if inside and resolved.is_file() else None


def raw_path_suspicious(raw_path: bytes | None) -> bool:
    """True when the URL as sent encodes a dot, slash, backslash, NUL or percent (traversal tricks)."""
    return bool(raw_path) and bool(_ENCODED.search(raw_path))


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a local path only (never another site), else '/'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target or "\r" in target:
        return "/"
    return target
