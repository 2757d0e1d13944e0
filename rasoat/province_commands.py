"""Province mode: `rasoat province run FILE` reviews many communes in one run, spread by Dask.

Exit codes: 0 every commune published or was skipped (another run held its lock), 1 at least one
commune failed (the others still published), 2 the province file or an option is wrong.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from rasoat.cli_common import console, fail

province_app = typer.Typer(help="Chế độ tỉnh / province mode: many communes in one run, on the cores or a Dask cluster.",
                           no_args_is_help=True)

STATUS_LABELS = {"ok": "[green]xong[/]", "skipped": "[yellow]bỏ qua[/]", "failed": "[bold red]lỗi[/]"}


def _cell(value, count: bool = False) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return ""
    return f"{int(value):,}" if count else escape(str(value))


def outcomes_rich_table(table) -> Table:
    """The outcome per commune, as printed by `rasoat province run` (the errors follow, one line each)."""
    out = Table(title="Kết quả rà soát từng xã / outcome per commune")
    for header, justify in [("Xã", "left"), ("Kết quả", "left"), ("Bản công bố", "left"), ("Hộ", "right"),
                            ("Nghèo", "right"), ("Cận nghèo", "right"), ("Giây", "right")]:
        out.add_column(header, justify=justify, overflow="fold")
    for row in table.to_dict("records"):
        out.add_row(escape(str(row["commune"])), STATUS_LABELS.get(row["status"], escape(str(row["status"]))),
                    _cell(row["publication"]), *(_cell(row[c], count=True) for c in ("households", "poor", "near_poor")),
                    f"{row['seconds']:.1f}")
    return out


def error_lines(table) -> list[str]:
    """`commune: error` for each commune that failed or was skipped (whole lines read better in a cron log)."""
    return [f"{escape(str(row['commune']))}: {escape(str(row['error']))}" for row in table.to_dict("records")
            if row["status"] != "ok" and isinstance(row["error"], str)]


@province_app.command("run")
def province_run(
    file: Path = typer.Argument(..., help="Tệp tỉnh / the province file (YAML: communes with name, config, data)."),
    year: Optional[int] = typer.Option(None, "--year", "-y", help="Reference year of the lists (default: each commune's configuration)."),
    no_pull: bool = typer.Option(False, "--no-pull", help="Rerun from each commune's stored raw data only; read no new files."),
    address: Optional[str] = typer.Option(None, "--address", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Worker processes of the local cluster (default: the number of cores)."),
    debug: bool = typer.Option(False, "--debug", help="Show Prefect's and Dask's logs and the full trace of an unexpected failure."),
) -> None:
    """Rà soát nhiều xã / review every commune of a province file, one Dask task per commune.

    A commune that fails is reported in the table and does not stop the others.
    """
    from rasoat.pipeline.province import load_province
    from rasoat.settings import ConfigError

    if workers is not None and workers < 1:
        fail("--workers phải từ 1 trở lên / must be at least 1")
    if address and workers is not None:
        fail("--workers chỉ dùng với cụm cục bộ / only for the local cluster; an existing cluster (--address) has its own workers")
    try:
        communes = load_province(file)
    except ConfigError as exc:
        fail(str(exc))
    if not debug:  # the table says what failed; Prefect's and Dask's logs only on request
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
        os.environ["DASK_LOGGING__DISTRIBUTED"] = "error"  # read when distributed is imported, here and in the workers
        logging.getLogger("distributed").setLevel(logging.ERROR)  # in case it was imported already
    from rasoat.flows.province import FAILED, province_flow

    where = f"cụm Dask / Dask cluster {address}" if address else f"{workers or os.cpu_count() or 1} tiến trình / processes"
    with console.status(f"Đang rà soát {len(communes)} xã trên {where}…"):
        try:
            table = province_flow(communes, reference_year=year, pull=not no_pull, address=address, workers=workers)
        except ConfigError as exc:
            fail(str(exc))
        except Exception as exc:  # the run itself (cluster, Prefect) failed, not one commune
            if debug:
                raise
            fail(f"the province run failed ({type(exc).__name__}: {exc}); each commune's last complete publication "
                 f"stays current. Run again with --debug for details.", code=1)
    console.print(outcomes_rich_table(table))
    for line in error_lines(table):
        console.print(f"  [red]•[/] {line}", soft_wrap=True)
    counts = table["status"].value_counts()
    console.print(f"{counts.get('ok', 0)} xong / ok · {counts.get('skipped', 0)} bỏ qua / skipped · "
                  f"{counts.get(FAILED, 0)} lỗi / failed")
    if counts.get(FAILED, 0):
        raise typer.Exit(1)
