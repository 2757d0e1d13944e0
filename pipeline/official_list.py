"""Reading the commune's existing official lists (spreadsheets) into the history table.

`rasoat import-list FILE.xlsx --year 2025 [--mapping mapping.yaml] [--class poor]` reads the first
sheet of a list as communes keep them: a title block, a header row somewhere below it, merged
cells, Vietnamese headers. A small mapping file (default `config/import-list.yaml`) names the
header of each column we need (household ID, head's name, hamlet name or code, class) and the
words used for each class. Hamlets match by code or by name without accents or case ("Ấp Ví Dụ
01" = "ap vi du 01" = "Ví Dụ 01"). A row is accepted only when everything is certain; every other
row is reported with its spreadsheet row number — unknown or ambiguous hamlet, missing household
ID, unknown class, a household twice in the file, a household already on another imported list
of the same year with another class. Nothing is guessed.

The reading of the workbook is the only IO (`read_sheet`); `parse_official_list` is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rasoat.pipeline.history import household_key
from rasoat.pipeline.tidy import fold
from rasoat.settings import ConfigError, Hamlet

PROBLEM_COLUMNS = ["row", "household_id", "head_name", "hamlet_value", "problem", "message"]
ACCEPTED_COLUMNS = ["household_id", "year", "household_class", "hamlet", "head_name", "source_row"]
MESSAGES = {
    "missing_household_id": "thiếu mã hộ",
    "unknown_hamlet": "không tìm thấy ấp này trong cấu hình",
    "ambiguous_hamlet": "tên ấp khớp với nhiều ấp; ghi mã ấp để phân biệt",
    "unknown_class": "không đọc được phân loại (hộ nghèo / hộ cận nghèo)",
    "duplicate_household": "mã hộ xuất hiện nhiều lần trong tệp",
    "conflicting_list": "hộ đã có trong danh sách khác cùng năm với phân loại khác",
}
_PREFIXES = ("ap", "khom", "thon", "xom", "to")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnNames(_Model):
    household_id: list[str] = Field(min_length=1)
    head_name: list[str] = []
    hamlet: list[str] = Field(min_length=1)
    household_class: list[str] = []


class Mapping(_Model):
    columns: ColumnNames
    classes: dict[str, list[str]] = {}
    header_search_rows: int = Field(default=30, ge=1)


def load_mapping(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the mapping file ({type(exc).__name__})") from None
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: invalid mapping\n{lines}") from None
    unknown = sorted(set(mapping.classes) - {"poor", "near_poor"})
    if unknown:
        raise ConfigError(f"{path}: classes may only be poor and near_poor (got {', '.join(unknown)})")
    return mapping


def read_sheet(path: Path) -> list[list[object]]:
    """The first sheet as rows of values; a merged range's value fills every cell of the range."""
    import openpyxl

    wb = openpyxl.load_workbook(path, data_only=True)
    try:
        ws = wb.worksheets[0]
        rows = [[c.value for c in row] for row in ws.iter_rows()]
        for merged in ws.merged_cells.ranges:
            value = ws.cell(merged.min_row, merged.min_col).value
            for r in range(merged.min_row, merged.max_row + 1):
                for c in range(merged.min_col, merged.max_col + 1):
                    if r - 1 < len(rows) and c - 1 < len(rows[r - 1]):
                        rows[r - 1][c - 1] = value
        return rows
    finally:
        wb.close()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value == int(value):
        value = int(value)
    return re.sub(r"\s+", " ", str(value)).strip()


def _folded(value: object) -> str:
    return fold(_text(value)) or ""


def _find_header(rows: list[list[object]], mapping: Mapping, need_class: bool) -> tuple[int, dict[str, int]]:
    wanted = {key: {fold(n) for n in names} for key, names in mapping.columns.model_dump().items() if names}
    required = ["household_id", "hamlet"] + (["household_class"] if need_class else [])
    for r, row in enumerate(rows[: mapping.header_search_rows]):
        cells = [_folded(v) for v in row]
        found = {}
        for key, names in wanted.items():
            position = next((c for c, text in enumerate(cells) if text in names), None)
            if position is not None:
                found[key] = position
        if all(k in found for k in required):
            return r, found
    missing = ", ".join(f"{k} ({' / '.join(getattr(mapping.columns, k))})" for k in required)
    raise ConfigError(f"no header row with the mapped columns in the first {mapping.header_search_rows} rows; "
                      f"looked for: {missing}")


def match_hamlet(value: str, hamlets: tuple[Hamlet, ...]) -> tuple[str | None, str | None]:
    """(hamlet code, None) when certain, else (None, 'unknown_hamlet' | 'ambiguous_hamlet')."""
    text = _text(value)
    if not text:
        return None, "unknown_hamlet"
    by_code = [h.code for h in hamlets if h.code.upper() == text.upper()]
    if len(by_code) == 1:
        return by_code[0], None
    folded = fold(text)
    exact = [h.code for h in hamlets if fold(h.name) == folded]
    if len(exact) == 1:
        return exact[0], None
    if len(exact) > 1:
        return None, "ambiguous_hamlet"

    def bare(name: str) -> str:
        words = (fold(name) or "").split()
        return " ".join(words[1:] if words and words[0] in _PREFIXES else words)

    loose = [h.code for h in hamlets if bare(h.name) == bare(text)]
    if len(loose) == 1:
        return loose[0], None
    return None, ("ambiguous_hamlet" if loose else "unknown_hamlet")


@dataclass(frozen=True)
class ImportResult:
    accepted: pd.DataFrame  # ACCEPTED_COLUMNS
    problems: pd.DataFrame  # PROBLEM_COLUMNS
    header_row: int  # 1-based spreadsheet row of the header
    rows_read: int
    columns: dict[str, int] = field(default_factory=dict)


def parse_official_list(rows: list[list[object]], mapping: Mapping, hamlets: tuple[Hamlet, ...], year: int,
                        fixed_class: str | None = None, existing: pd.DataFrame | None = None) -> ImportResult:
    """The accepted rows and the problems of one sheet (pure).

    `existing`: households already imported for the same year from other files (history columns);
    a household there with another class is a conflict, reported and not accepted.
    """
    header, columns = _find_header(rows, mapping, need_class=fixed_class is None)
    class_words = {fold(w): cls for cls, words in mapping.classes.items() for w in [*words, cls]}
    records, problems = [], []
    for r in range(header + 1, len(rows)):
        row = rows[r]
        cell = lambda key: _text(row[columns[key]]) if key in columns and columns[key] < len(row) else ""  # noqa: E731
        hid, name, hamlet_value = household_key(cell("household_id")), cell("head_name"), cell("hamlet")
        if not hid and not name:
            continue  # a blank row, or a merged block with nothing of ours
        if header + 1 == r and hid and re.fullmatch(r"\(?\d+\)?", hid) and re.fullmatch(r"\(?\d*\)?", hamlet_value or ""):
            continue  # the column-numbering row under a header: (1) (2) (3)
        base = {"row": r + 1, "household_id": hid, "head_name": name, "hamlet_value": hamlet_value}
        if not hid:
            problems.append({**base, "problem": "missing_household_id"})
            continue
        code, problem = match_hamlet(hamlet_value, hamlets)
        if problem:
            problems.append({**base, "problem": problem})
            continue
        cls = fixed_class or class_words.get(_folded(cell("household_class")))
        if cls not in ("poor", "near_poor"):
            problems.append({**base, "problem": "unknown_class"})
            continue
        records.append({"household_id": hid, "year": int(year), "household_class": cls, "hamlet": code, "head_name": name,
                        "source_row": r + 1})
    accepted = pd.DataFrame(records, columns=ACCEPTED_COLUMNS)
    if len(accepted):
        twice = accepted["household_id"].duplicated(keep=False)
        for rec in accepted[twice].to_dict("records"):
            problems.append({"row": rec["source_row"], "household_id": rec["household_id"], "head_name": rec["head_name"],
                             "hamlet_value": rec["hamlet"], "problem": "duplicate_household"})
        accepted = accepted[~twice]
    if existing is not None and len(existing) and len(accepted):
        other = dict(zip(existing["household_id"], existing["household_class"]))
        clash = accepted["household_id"].map(other).notna() & (accepted["household_id"].map(other) != accepted["household_class"])
        for rec in accepted[clash].to_dict("records"):
            problems.append({"row": rec["source_row"], "household_id": rec["household_id"], "head_name": rec["head_name"],
                             "hamlet_value": rec["hamlet"], "problem": "conflicting_list"})
        accepted = accepted[~clash]
    problem_frame = pd.DataFrame(problems, columns=PROBLEM_COLUMNS[:-1])
    problem_frame["message"] = problem_frame["problem"].map(MESSAGES)
    problem_frame = problem_frame.sort_values("row", kind="mergesort").reset_index(drop=True)
    return ImportResult(accepted.reset_index(drop=True), problem_frame, header + 1, len(rows) - header - 1, columns)


def problems_table(problems: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"Dòng": problems["row"], "Mã hộ": problems["household_id"], "Họ và tên chủ hộ": problems["head_name"],
                         "Ấp (trong tệp)": problems["hamlet_value"], "Mã lỗi": problems["problem"], "Nội dung": problems["message"]})


def import_official_list(path: Path, year: int, hamlets: tuple[Hamlet, ...], history_dir: Path, mapping: Mapping,
                         fixed_class: str | None = None) -> tuple[ImportResult, Path, Path]:
    """Read one list and store the accepted rows as `<history_dir>/official-<year>-<file>.csv`.

    Returns (result, stored file, problems report). Re-importing the same file replaces it.
    """
    from rasoat.pipeline.history import official_file_name, read_official_history
    from rasoat.pipeline.publish import csv_bytes

    history_dir = Path(history_dir)
    target = history_dir / official_file_name(year, Path(path).name)
    existing = read_official_history(history_dir)
    if len(existing):
        existing = existing[(existing["year"] == int(year)) & (existing["source"] != f"official:{target.name}")]
    result = parse_official_list(read_sheet(Path(path)), mapping, hamlets, year, fixed_class, existing)
    history_dir.mkdir(parents=True, exist_ok=True)
    stored = result.accepted.assign(source_file=Path(path).name)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(csv_bytes(stored))
    tmp.replace(target)
    report = history_dir / target.name.replace("official-", "import-report-", 1)
    report.write_bytes(csv_bytes(problems_table(result.problems)))
    return result, target, report
