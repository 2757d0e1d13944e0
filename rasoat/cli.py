"""The `rasoat` command line: what a commune officer types."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import rasoat

# Prefect's embedded server is chatty; officers need our summary, not its logs.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")

app = typer.Typer(
    help="rasoat — rà soát hộ nghèo, hộ cận nghèo: the yearly review of poor and near-poor households.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the configuration (commune, hamlets, targets, rule sets).", no_args_is_help=True)
app.add_typer(config_app, name="config")
forms_app = typer.Typer(help="The household questionnaire: build it for ODK Central and KoboToolbox.", no_args_is_help=True)
app.add_typer(forms_app, name="forms")
console = Console()
err_console = Console(stderr=True)

DATA_DIR_OPTION = typer.Option(
    Path("rasoat-data"), "--data-dir", "-d", envvar="RASOAT_DATA_DIR",
    help="The commune's data folder: inbox, raw store, publications.",
)
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="RASOAT_CONFIG_DIR",
    help="Configuration folder (default: the bundled xã Vĩnh Phong configuration with example hamlets).",
)
STAGES = [("pull", "Đọc dữ liệu và lưu bản gốc"), ("clean", "Làm sạch, kiểm tra"), ("classify", "Phân loại hộ"),
          ("aggregate", "Tổng hợp chỉ số"), ("publish", "Xuất bản danh sách")]


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]Lỗi / Error:[/] {message}")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"rasoat {rasoat.__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit.")) -> None:
    """rasoat — the household review of a Vietnamese commune."""


class _StageProgress(logging.Handler):
    """Turns stage log lines ("clean:start") into a rich progress bar."""

    def __init__(self, progress: Progress, task_id) -> None:
        super().__init__()
        self.progress, self.task_id = progress, task_id
        self.labels = dict(STAGES)

    def emit(self, record: logging.LogRecord) -> None:
        stage, _, rest = record.getMessage().partition(":")
        if rest.startswith("start"):
            self.progress.update(self.task_id, description=self.labels.get(stage, stage))
        elif rest.startswith("done"):
            self.progress.advance(self.task_id)


def _load(config: Optional[Path]):
    from rasoat.settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


def _summary(result, settings) -> None:
    table = Table(title=f"Kết quả rà soát — danh sách năm {result.reference_year} (chuẩn {result.rule_set_version})")
    for header, justify in [("Mã", "left"), ("Ấp", "left"), ("Hộ rà soát", "right"), ("Hộ nghèo", "right"), ("Tỷ lệ %", "right"),
                            ("Hộ cận nghèo", "right"), ("Tỷ lệ %", "right")]:
        table.add_column(header, justify=justify)
    rows = result.by_hamlet
    for i, row in rows.iterrows():
        last = i == len(rows) - 1
        style = "bold" if last else None
        table.add_row(str(row["hamlet"]), str(row["hamlet_name"]), f"{row['reviewed']:,}", f"{row['poor']:,}", f"{row['poor_rate']:.2f}",
                      f"{row['near_poor']:,}", f"{row['near_poor_rate']:.2f}", style=style, end_section=i == len(rows) - 2)
    console.print(table)
    console.print(f"Households classified: {result.households_classified:,} · waiting for fixes or excluded: "
                  f"{result.households_excluded:,} · data issues: {result.issues:,} ({result.errors:,} errors)")
    if result.source_problems:
        console.print(f"[yellow]{result.source_problems} record(s) in the inbox could not be read; see the 'Kiểm tra dữ liệu' sheet.[/]")
    if result.provisional:
        console.print("[yellow]Áp dụng quy tắc tạm thời: some rules of this rule set are provisional (no official text yet).[/]")
    if settings.hamlets_are_example:
        console.print("[yellow]The hamlet list is the bundled EXAMPLE (config/hamlets.yaml); replace it with the commune's own.[/]")
    console.print(f"Publication: [bold]{result.publication}[/]")
    console.print(f"  lists per hamlet: {result.publication / 'hamlets'}   commune lists and tables: {result.publication / 'commune'}")


@app.command()
def run(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    year: Optional[int] = typer.Option(None, "--year", "-y", help="Reference year of the list (default: from the configuration)."),
    no_pull: bool = typer.Option(False, "--no-pull", help="Rerun from the stored raw data only; read no new files."),
    debug: bool = typer.Option(False, "--debug", help="Show the full error trace when something unexpected fails."),
) -> None:
    """Run the whole review: read submissions, store them raw, clean, classify, aggregate, publish.

    With no configuration it uses the bundled synthetic commune (about 7,500 households), so a new
    user sees the whole review before any server exists.
    """
    from rasoat.settings import ConfigError

    settings = _load(config)
    year = year or settings.review.reference_year
    try:
        settings.ruleset_for(year)
    except ConfigError as exc:
        _fail(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    if not debug:  # Prefect logs task failures with a trace; the officer gets our one-line message instead
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    from rasoat.flows.review import DataFolder, ensure_demo_inbox, review_flow, stage_log

    folder = DataFolder(data_dir.resolve())
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task_id = progress.add_task("Chuẩn bị dữ liệu mẫu", total=len(STAGES))
        made = ensure_demo_inbox(settings, folder)
        if made:
            progress.console.print(f"Generated the synthetic example commune into {made}")
        progress.update(task_id, description="Khởi động Prefect (máy chủ nhúng)")
        handler = _StageProgress(progress, task_id)
        stage_log.addHandler(handler)
        stage_log.setLevel(logging.INFO)
        stage_log.propagate = debug  # the bar shows the stages; the log lines only with --debug
        try:
            result = review_flow(data_dir=str(folder.root), config_dir=str(config) if config else None, reference_year=year, pull=not no_pull)
        except ConfigError as exc:
            _fail(str(exc))
        except Exception as exc:  # unexpected: a short message, the trace only on request
            if debug:
                raise
            _fail(f"the run failed ({type(exc).__name__}: {exc}). The previous publication is unchanged. "
                  f"Run again with --debug for details.", code=1)
        finally:
            stage_log.removeHandler(handler)
            stage_log.propagate = True
    _summary(result, settings)


@config_app.command("check")
def config_check(config: Optional[Path] = CONFIG_OPTION) -> None:
    """Check every configuration file and say what is wrong, file by file."""
    settings = _load(config)
    console.print(f"[green]OK[/] {settings.config_dir}: {settings.commune.name}, {len(settings.hamlets)} hamlets"
                  f"{' (EXAMPLE list)' if settings.hamlets_are_example else ''}, {len(settings.targets)} targets")
    for r in settings.rulesets:
        flag = " [yellow](provisional)[/]" if r.provisional else ""
        console.print(f"  rule set {r.version}: reference years {r.reference_years.first}–{r.reference_years.last}, "
                      f"{len(r.indicators)} indicators{flag}")


def _previous_households(data_dir: Path) -> list[dict]:
    """Last publication's households, for the phone's preload list (empty before the first run)."""
    import csv

    from rasoat.pipeline.publish import current_publication

    current = current_publication(data_dir / "publications")
    path = current / "commune" / "households.csv" if current else None
    if path is None or not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = [{k: row.get(k) for k in ("household_id", "head_name", "hamlet", "household_class")} for row in csv.DictReader(f)]
    return [r for r in rows if r["household_id"] and r["household_class"] != "excluded"]


@forms_app.command("build")
def forms_build(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the form files (default: <data>/forms)."),
    year: Optional[int] = typer.Option(None, "--year", "-y", help="Reference year whose rule set the phone's summary uses."),
) -> None:
    """Build the questionnaire: XForm XML (ODK Central), XLSForm .xlsx (KoboToolbox), preload CSV.

    Runs pyxform's checks and ODK Validate (needs Java). The version goes up only when the form
    or its attachment changed, so deploying an unchanged form changes nothing.
    """
    from rasoat.forms.build import FormBuildError, build_form
    from rasoat.settings import ConfigError

    settings = _load(config)
    previous = _previous_households(data_dir)
    target = out or data_dir / "forms"
    with console.status("Đang dựng phiếu và kiểm tra bằng ODK Validate…"):
        try:
            built = build_form(settings, target, previous=previous, reference_year=year)
        except (ConfigError, FormBuildError) as exc:
            _fail(str(exc))
    state = "new version" if built.changed else "unchanged, same version"
    console.print(f"[green]Built[/] form version {built.version} ({state}); {len(previous):,} households preloaded from the last publication")
    for path in (built.xform_path, built.xlsx_path, *built.attachments):
        console.print(f"  {path}")
    for warning in built.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
