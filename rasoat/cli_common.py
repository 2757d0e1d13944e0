"""What every command module shares: the consoles, the two folder options, the error exit."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

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


def fail(message: str, code: int = 2) -> None:
    """A short error an officer can act on, never a traceback."""
    err_console.print(f"[bold red]Lỗi / Error:[/] {message}")
    raise typer.Exit(code)
