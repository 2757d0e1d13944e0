"""Reading publications for the portal: manifests, file lists and the small aggregate tables.

Read-only; the pipeline (`rasoat.pipeline.publish`) is the only writer. Every path goes through
`rasoat.portal.access` first.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rasoat.pipeline.publish import current_publication
from rasoat.portal import access

__all__ = ["PublicationInfo", "list_publications", "publication_info", "publication_files", "read_csv", "number",
           "hamlet_rates", "target_progress", "movements", "movement_table", "changes_csv", "current_id"]


@dataclass(frozen=True)
class PublicationInfo:
    id: str
    path: Path
    reference_year: int | None
    rule_set_version: str
    provisional: bool
    counts: dict = field(default_factory=dict)
    created_at: str = ""
    is_current: bool = False
    hamlets_are_example: bool = False


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def current_id(publications_dir: Path) -> str | None:
    current = current_publication(Path(publications_dir))
    return current.name if current else None


def publication_info(folder: Path, current: str | None) -> PublicationInfo:
    m = _manifest(folder)
    rule_set = m.get("rule_set") if isinstance(m.get("rule_set"), dict) else {}
    counts = m.get("counts") if isinstance(m.get("counts"), dict) else {}
    year = m.get("reference_year")
    return PublicationInfo(
        id=folder.name, path=folder, reference_year=year if isinstance(year, int) else None,
        rule_set_version=str(rule_set.get("version", "")), provisional=bool(rule_set.get("provisional", False)),
        counts={k: v for k, v in counts.items() if isinstance(v, int)}, created_at=str(m.get("created_at", "")),
        is_current=folder.name == current, hamlets_are_example=bool(m.get("hamlets_are_example", False)),
    )


def list_publications(publications_dir: Path) -> list[PublicationInfo]:
    """Every publication folder (not the `current` link), newest first."""
    base = Path(publications_dir)
    if not base.is_dir():
        return []
    current = current_id(base)
    found = []
    for child in base.iterdir():
        folder = access.resolve_publication(base, child.name)
        if folder is not None:
            found.append(publication_info(folder, current))
    return sorted(found, key=lambda p: (p.created_at, p.id), reverse=True)


def publication_files(folder: Path) -> list[str]:
    """Relative paths of the servable files: ``commune/<file>`` and ``hamlets/<code>/<file>``, sorted."""
    out: list[str] = []
    commune = folder / "commune"
    if commune.is_dir() and not commune.is_symlink():
        out += [f"commune/{p.name}" for p in sorted(commune.iterdir()) if p.is_file() and not p.is_symlink()]
    hamlets = folder / "hamlets"
    if hamlets.is_dir() and not hamlets.is_symlink():
        for h in sorted(hamlets.iterdir()):
            if h.is_dir() and not h.is_symlink():
                out += [f"hamlets/{h.name}/{p.name}" for p in sorted(h.iterdir()) if p.is_file() and not p.is_symlink()]
    return [p for p in out if access.split_relpath(p)]


def read_csv(path: Path, limit: int = 5000) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a published CSV (UTF-8 with BOM); at most `limit` rows."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = []
    for row in reader:
        if len(rows) >= limit:
            break
        rows.append(row)
    return header, rows


def number(text: str) -> float | None:
    try:
        return float(str(text).strip().lstrip("'"))
    except (TypeError, ValueError):
        return None


def _col(header: list[str], *starts: str) -> int | None:
    for i, h in enumerate(header):
        if any(h.strip().startswith(s) for s in starts):
            return i
    return None


def hamlet_rates(publication: Path) -> list[dict]:
    """Per hamlet (and the commune last): name, poor rate, near-poor rate, counts; from ty-le-theo-ap.csv."""
    path = access.resolve_file(publication, "commune/ty-le-theo-ap.csv")
    if path is None:
        return []
    header, rows = read_csv(path)
    idx = {k: _col(header, k) for k in ("Mã ấp", "Tên ấp", "Số hộ rà soát", "Hộ nghèo", "Hộ cận nghèo", "Tỷ lệ hộ nghèo",
                                         "Tỷ lệ hộ cận nghèo")}
    if idx["Tên ấp"] is None or idx["Tỷ lệ hộ nghèo"] is None:
        return []

    def get(row, key):
        i = idx[key]
        return row[i] if i is not None and i < len(row) else ""

    return [{"code": get(r, "Mã ấp"), "name": get(r, "Tên ấp"), "reviewed": number(get(r, "Số hộ rà soát")),
             "poor": number(get(r, "Hộ nghèo")), "near_poor": number(get(r, "Hộ cận nghèo")),
             "poor_rate": number(get(r, "Tỷ lệ hộ nghèo")) or 0.0, "near_poor_rate": number(get(r, "Tỷ lệ hộ cận nghèo")) or 0.0}
            for r in rows if r]


def target_progress(publication: Path) -> list[dict]:
    """Per target: name, target value, direction, result, met; from tien-do-muc-tieu.csv."""
    path = access.resolve_file(publication, "commune/tien-do-muc-tieu.csv")
    if path is None:
        return []
    header, rows = read_csv(path)
    i_name, i_target = _col(header, "Mục tiêu"), _col(header, "Chỉ tiêu")
    i_dir, i_result, i_met = _col(header, "Hướng"), _col(header, "Kết quả"), _col(header, "Đánh giá")
    if i_name is None or i_result is None:
        return []
    out = []
    for r in rows:
        def get(i):
            return r[i] if i is not None and i < len(r) else ""
        out.append({"name": get(i_name), "target": number(get(i_target)), "direction": get(i_dir), "result": number(get(i_result)),
                    "assessment": get(i_met), "target_label": header[i_target] if i_target is not None else "Chỉ tiêu"})
    return out


def changes_csv(publication: Path) -> str | None:
    """The class-change table of a publication: ``commune/thay-doi*.csv`` (relative path), or None."""
    commune = publication / "commune"
    if not commune.is_dir():
        return None
    names = sorted(p.name for p in commune.iterdir() if p.name.startswith("thay-doi") and p.name.endswith(".csv"))
    for name in names:
        if access.resolve_file(publication, f"commune/{name}") is not None:
            return f"commune/{name}"
    return None


def movements(publication: Path) -> list[tuple[str, str, int]]:
    """Counts of households by (class before, class now) from the class-change table; no names."""
    rel = changes_csv(publication)
    if rel is None:
        return []
    header, rows = read_csv(access.resolve_file(publication, rel), limit=1_000_000)
    i_before, i_now = _col(header, "Phân loại lần trước"), _col(header, "Phân loại lần này")
    if i_before is None or i_now is None:
        return []
    counts = Counter((r[i_before] or "—", r[i_now] or "—") for r in rows if len(r) > max(i_before, i_now))
    return sorted(((a, b, n) for (a, b), n in counts.items()), key=lambda t: (-t[2], t[0], t[1]))


def movement_table(publication: Path) -> tuple[list[str], list[list[str]]] | None:
    """The movements table by hamlet (``commune/bien-dong*.csv``: counts only), when the publication has one."""
    commune = publication / "commune"
    if not commune.is_dir():
        return None
    for name in sorted(p.name for p in commune.iterdir() if p.name.startswith("bien-dong") and p.name.endswith(".csv")):
        path = access.resolve_file(publication, f"commune/{name}")
        if path is not None:
            return read_csv(path, limit=500)
    return None
