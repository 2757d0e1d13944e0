"""Each household's class across the years: one history table from earlier publications and
from the commune's official lists imported with `rasoat import-list`.

History table columns (`HISTORY_COLUMNS`): household_id (upper-case, trimmed), year (the
reference year of the list), household_class (poor, near_poor, average, not_poor), hamlet,
head_name, source (``publication:<id>`` or ``official:<file>``).

* Our own publications: the latest publication of each reference year (by manifest
  `created_at`, then id) gives that year's classes from its ``commune/households.csv``.
  Households waiting for fixes (``excluded``) carry no class for that year.
* Imported official lists (``<data>/history/official-<year>-*.csv``): the list the commune
  chairman recognised. For a year that has an imported official list, the official list wins
  over our own publication of that year (it is the legal record); a household on no official
  list of that year counts as on no list.

Reading files is at the edges (`read_publication_history`, `read_official_history`); combining
is pure (`combine_history`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

HISTORY_COLUMNS = ["household_id", "year", "household_class", "hamlet", "head_name", "source"]
CLASSES = ("poor", "near_poor", "average", "not_poor")


def household_key(value) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip().upper()
    return text or None


def household_keys(values: pd.Series) -> pd.Series:
    """`household_key` of a whole column at once (object Series, None for no ID)."""
    raw = values.to_numpy(dtype=object)
    missing = pd.isna(raw)
    text = pd.Series(raw, index=values.index, dtype=object).where(~missing, "").astype(str).str.strip().str.upper().astype(object)
    return text.where(text != "", None).infer_objects()  # dtype as `.map(household_key)` infers it


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=HISTORY_COLUMNS)


def history_from_record(record: pd.DataFrame, year: int, source: str) -> pd.DataFrame:
    """A publication's households record (commune/households.csv) as history rows of one year."""
    if record is None or record.empty:
        return _empty()
    out = pd.DataFrame({
        "household_id": household_keys(record["household_id"]),
        "year": int(year),
        "household_class": record["household_class"],
        "hamlet": record.get("hamlet"),
        "head_name": record.get("head_name"),
        "source": source,
    })
    out = out[out["household_id"].notna() & out["household_class"].isin(CLASSES)]
    return out.drop_duplicates("household_id", keep="first").reset_index(drop=True)


def read_publication_history(publications_dir: Path, before_year: int | None = None) -> pd.DataFrame:
    """History from every publication folder: for each reference year, its latest publication."""
    from rasoat.pipeline.corrections import read_households_record

    publications_dir = Path(publications_dir)
    latest: dict[int, tuple[str, str, Path]] = {}
    if not publications_dir.is_dir():
        return _empty()
    for folder in publications_dir.iterdir():
        if folder.is_symlink() or not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            year = int(manifest["reference_year"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if before_year is not None and year >= before_year:
            continue
        key = (str(manifest.get("created_at", "")), folder.name)
        if year not in latest or key > latest[year][:2]:
            latest[year] = (*key, folder)
    parts = []
    for year, (_, name, folder) in sorted(latest.items()):
        record = read_households_record(folder / "commune" / "households.csv")
        if record is not None:
            parts.append(history_from_record(record, year, f"publication:{name}"))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else _empty()


def official_file_name(year: int, source_file: str) -> str:
    from rasoat.pipeline.publish import _ascii_slug

    return f"official-{int(year)}-{_ascii_slug(Path(source_file).stem) or 'list'}.csv"


def read_official_history(history_dir: Path, before_year: int | None = None) -> pd.DataFrame:
    """Every imported official list in `<data>/history/` (official-<year>-*.csv)."""
    history_dir = Path(history_dir)
    parts = []
    for path in sorted(history_dir.glob("official-*.csv")) if history_dir.is_dir() else []:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if table.empty:
            continue
        table = table.replace({"": None})
        table["year"] = pd.to_numeric(table["year"], errors="coerce")
        table = table[table["year"].notna()]
        table["year"] = table["year"].astype(int)
        if before_year is not None:
            table = table[table["year"] < before_year]
        table["household_id"] = household_keys(table["household_id"])
        table["source"] = f"official:{path.name}"
        parts.append(table.reindex(columns=HISTORY_COLUMNS))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else _empty()


def combine_history(publications: pd.DataFrame, official: pd.DataFrame) -> pd.DataFrame:
    """One row per household and year; an official list's year replaces our publication's."""
    official_years = set(official["year"].astype(int)) if len(official) else set()
    ours = publications[~publications["year"].astype(int).isin(official_years)] if len(publications) else publications
    parts = [p for p in (ours, official) if len(p)]
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    out["year"] = out["year"].astype(int)
    out = out[out["household_id"].notna()]
    return out.drop_duplicates(["household_id", "year"], keep="first").sort_values(["year", "household_id"]).reset_index(drop=True)


def load_history(data_dir: Path, before_year: int) -> pd.DataFrame:
    """The history a run for `before_year` uses: publications and official lists of earlier years."""
    data_dir = Path(data_dir)
    return combine_history(read_publication_history(data_dir / "publications", before_year),
                           read_official_history(data_dir / "history", before_year))
