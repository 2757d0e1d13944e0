"""Commands for checking the rules and the lists: `classify`, `import-list`, `compare`.

Registered on the main `rasoat` app by `register(app)` (see the end of rasoat/cli.py).

* ``rasoat classify FILE.csv --reference-year 2026 [--members members.csv] [--out result.csv]``
  classifies households given as tables (docs/data-contract.md) — anyone can check the rules
  without the questionnaire.
* ``rasoat import-list FILE.xlsx --year 2025 [--mapping mapping.yaml] [--class poor]`` reads an
  official list the commune keeps in a spreadsheet into ``<data>/history/`` for the movements.
* ``rasoat compare --from-year 2026 --to-year 2027`` classifies the stored households under two
  rule sets side by side: who enters and who leaves each list, and why, per hamlet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from rasoat.cli_common import CONFIG_OPTION, DATA_DIR_OPTION, console, fail


def _fail(message: str, code: int = 2) -> None:
    fail(message, code)


def _settings(config: Optional[Path]):
    from rasoat.settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


def _ruleset(settings, year: Optional[int], ruleset_id: Optional[str], what: str):
    from rasoat.settings import ConfigError

    try:
        if ruleset_id:
            return settings.ruleset_by_id(ruleset_id)
        if year is None:
            _fail(f"give {what} as a reference year or a rule set id")
        return settings.ruleset_for(year)
    except ConfigError as exc:
        _fail(str(exc))


def _heading(settings, label: str, year: int, provisional: bool):
    import datetime as dt

    from rasoat.pipeline.publish import PublicationHeading

    return PublicationHeading(authority=settings.commune.authority, commune_name=settings.commune.name,
                              province=settings.commune.province, reference_year=year, rule_set_version=label,
                              provisional=provisional, published_on=dt.date.today())


def classify_command(
    households_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Households CSV (docs/data-contract.md)."),
    reference_year: int = typer.Option(..., "--reference-year", "-y", help="The list's reference year; it selects the rule set."),
    members_file: Optional[Path] = typer.Option(None, "--members", "-m", help="Members CSV (default: members.csv next to FILE)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Result CSV (default: FILE with -ket-qua.csv)."),
    config: Optional[Path] = CONFIG_OPTION,
    national: bool = typer.Option(False, "--national", help="Use the national rule set even when a province override exists."),
) -> None:
    """Phân loại hộ từ bảng / classify households given as tables, to check the rules without the form."""
    from rasoat.forms import load_questionnaire
    from rasoat.pipeline import classify, facts, points
    from rasoat.pipeline.publish import csv_bytes
    from rasoat.pipeline.table_input import AREA_COLUMN, InputError, classified_output, prepare_tables, read_household_tables
    from rasoat.settings import ConfigError

    settings = _settings(config)
    try:
        ruleset = settings.ruleset_for(reference_year, national=national)
    except ConfigError as exc:
        _fail(str(exc))
    members_file = members_file or households_file.with_name("members.csv")
    if not members_file.is_file():
        _fail(f"no members table: {members_file} (give --members FILE; see docs/data-contract.md)")
    questionnaire = load_questionnaire()
    try:
        hh_raw, mm_raw = read_household_tables(households_file, members_file)
        households, members = prepare_tables(hh_raw, mm_raw, questionnaire, settings.hamlets,
                                             names=(households_file.name, members_file.name))
        result = classify.classify_households(households, members, ruleset, settings.hamlets, area_column=AREA_COLUMN)
        result = facts.with_facts(result, facts.facts_table(result, members, ruleset, facts.labels_from_questionnaire(questionnaire)))
        if settings.points_table is not None:
            result = points.classify_by_points(result, members, ruleset, settings.points_table)
    except (InputError, ConfigError) as exc:
        _fail(str(exc))
    target = out or households_file.with_name(households_file.stem + "-ket-qua.csv")
    target.write_bytes(csv_bytes(classified_output(result, ruleset)))
    table = Table(title=f"Phân loại theo chuẩn {ruleset.label} (danh sách năm {reference_year})")
    for header in ("Mã hộ", "Thu nhập BQ", "Chuẩn", "Thiếu hụt", "Phân loại"):
        table.add_column(header)
    for _, r in result.iterrows():
        table.add_row(str(r["household_id"]), classify.vnd(r["income_per_capita_month"]), classify.vnd(r["income_line"]),
                      f"{r['deprivation_count']} ({r['deprived_indicators']})", r["class_label"])
    console.print(table)
    if ruleset.provisional or bool(result["provisional"].any()):
        console.print("[yellow]Áp dụng quy tắc tạm thời (chưa có văn bản chính thức).[/]")
    console.print(f"Kết quả / result: [bold]{target}[/]")


def import_list_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The official list (.xlsx), first sheet."),
    year: int = typer.Option(..., "--year", "-y", help="The reference year the list is valid for."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Column mapping (default: import-list.yaml of the configuration)."),
    fixed_class: Optional[str] = typer.Option(None, "--class", help="The class of every row (poor | near_poor) when the list has no class column."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Nhập danh sách chính thức / import an official list (spreadsheet) as history for the movements."""
    from rasoat.config import BUNDLED_CONFIG_DIR
    from rasoat.pipeline.official_list import import_official_list, load_mapping
    from rasoat.settings import ConfigError

    settings = _settings(config)
    if fixed_class not in (None, "poor", "near_poor"):
        _fail("--class is poor or near_poor")
    mapping_path = mapping or (Path(config) / "import-list.yaml" if config and (Path(config) / "import-list.yaml").is_file()
                               else BUNDLED_CONFIG_DIR / "import-list.yaml")
    try:
        result, stored, report = import_official_list(file, year, settings.hamlets, data_dir / "history", load_mapping(mapping_path),
                                                      fixed_class)
    except ConfigError as exc:
        _fail(f"{file}: {exc}")
    except Exception as exc:  # an unreadable workbook
        _fail(f"{file}: cannot read the workbook ({type(exc).__name__}: {exc})")
    counts = result.accepted["household_class"].value_counts()
    console.print(f"Header row {result.header_row}; {len(result.accepted)} households accepted "
                  f"(poor {int(counts.get('poor', 0))}, near-poor {int(counts.get('near_poor', 0))}), "
                  f"{len(result.problems)} row(s) not imported.")
    if len(result.problems):
        table = Table(title="Dòng không nhập được (không đoán) / rows not imported")
        for header in ("Dòng", "Mã hộ", "Chủ hộ", "Ấp", "Vấn đề"):
            table.add_column(header)
        for r in result.problems.itertuples():
            table.add_row(str(r.row), str(r.household_id or ""), str(r.head_name or ""), str(r.hamlet_value or ""), r.message)
        console.print(table)
    console.print(f"Stored: [bold]{stored}[/]\nReport: {report}")
    if len(result.problems):
        raise typer.Exit(1)


def compare_command(
    from_year: Optional[int] = typer.Option(None, "--from-year", help="Reference year of the first rule set (e.g. 2026)."),
    to_year: Optional[int] = typer.Option(None, "--to-year", help="Reference year of the second rule set (e.g. 2027)."),
    from_rules: Optional[str] = typer.Option(None, "--from-rules", help="Or a rule set id (e.g. vn-2022-2026)."),
    to_rules: Optional[str] = typer.Option(None, "--to-rules", help="Or a rule set id (e.g. vn-2027-2030)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder (default: <data>/compare)."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """So sánh hai chuẩn / the stored households under two rule sets: who enters and leaves each list, and why."""
    from rasoat.flows.review import load_clean_tables
    from rasoat.pipeline.compare import compare_by_hamlet, compare_households_table, compare_rulesets
    from rasoat.pipeline.publish import _Sheet, _ascii_slug, csv_bytes, write_xlsx
    from rasoat.settings import ConfigError

    settings = _settings(config)
    a = _ruleset(settings, from_year, from_rules, "--from-year/--from-rules")
    b = _ruleset(settings, to_year, to_rules, "--to-year/--to-rules")
    if not (os.environ.get("RASOAT_STORE_URL") or settings.store.url or (data_dir / "store" / "raw.sqlite3").is_file()):
        _fail(f"no raw store in {data_dir} (store/raw.sqlite3); run `rasoat run` first, or give --data-dir")
    try:
        checked = load_clean_tables(settings, data_dir, to_year or from_year)
    except ConfigError as exc:
        _fail(str(exc))
    if checked.households.empty:
        _fail(f"no stored households in {data_dir}; run `rasoat run` first")
    comparison = compare_rulesets(checked.households, checked.members, a, b, settings.hamlets)
    summary = compare_by_hamlet(comparison, settings.hamlets, a, b)
    changed = compare_households_table(comparison, a, b)
    target = out or data_dir / "compare"
    target.mkdir(parents=True, exist_ok=True)
    stem = f"so-sanh-{_ascii_slug(a.version)}-{_ascii_slug(b.version)}"
    (target / f"{stem}-theo-ap.csv").write_bytes(csv_bytes(summary))
    (target / f"{stem}-ho-thay-doi.csv").write_bytes(csv_bytes(changed))
    heading = _heading(settings, f"{a.label} so với {b.label}", (to_year or b.reference_years.first), bool(a.provisional or b.provisional))
    place = f"{settings.commune.name}, {settings.commune.province}"
    write_xlsx(target / f"{stem}.xlsx", [
        _Sheet(name="So sánh theo ấp", title=f"SO SÁNH PHÂN LOẠI THEO HAI CHUẨN: {a.version} VÀ {b.version}", place=place, table=summary),
        _Sheet(name="Hộ thay đổi", title="CÁC HỘ THAY ĐỔI PHÂN LOẠI VÀ LÝ DO", place=place, table=changed),
    ], heading)
    table = Table(title=f"{a.label} → {b.label}: {len(comparison):,} hộ")
    for header in ("Ấp", f"Nghèo {a.version}", f"Nghèo {b.version}", "Vào", "Ra", f"Cận nghèo {a.version}", f"Cận nghèo {b.version}", "Vào", "Ra"):
        table.add_column(header, justify="right")
    for r in summary.itertuples(index=False):
        table.add_row(str(r[1]), *(f"{v:,}" for v in r[3:]))
    console.print(table)
    if a.provisional or b.provisional:
        console.print("[yellow]Một chuẩn áp dụng quy tắc tạm thời (chưa có văn bản chính thức).[/]")
    console.print(f"Report: [bold]{target / (stem + '.xlsx')}[/] (and the two CSV files beside it)")


def register(app: typer.Typer) -> None:
    """Add the commands to the main `rasoat` app."""
    app.command("classify")(classify_command)
    app.command("import-list")(import_list_command)
    app.command("compare")(compare_command)
