"""Scheduling (issue 9): `rasoat schedule serve` runs the review every night through a Prefect server.

Prefect's embedded ("ephemeral") server has no scheduler, so serving needs PREFECT_API_URL pointing
at a `prefect server start`. Without one, the plain-cron alternative in docs/operations.md does the
same job with `rasoat run`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from rasoat.cli_common import CONFIG_OPTION, DATA_DIR_OPTION, console, fail

schedule_app = typer.Typer(help="Lịch chạy / scheduling: the nightly review through a Prefect server.", no_args_is_help=True)

TIME_ZONE = "Asia/Ho_Chi_Minh"
NO_SERVER_MESSAGE = (
    "Chưa có máy chủ Prefect: biến PREFECT_API_URL chưa đặt. Máy chủ nhúng của Prefect không có bộ lập lịch.\n"
    "No Prefect server: PREFECT_API_URL is not set, and Prefect's embedded server has no scheduler. Two options:\n"
    "  1. A Prefect server (history and reruns in its web UI):\n"
    "       prefect server start --host 127.0.0.1          # in its own terminal or service\n"
    "       export PREFECT_API_URL=http://127.0.0.1:4200/api\n"
    "       rasoat schedule serve --data-dir ... --config ...\n"
    "  2. Plain cron, no server (one line in `crontab -e`; 02:00 on a machine set to Asia/Ho_Chi_Minh,\n"
    "     `0 19 * * *` on one kept on UTC; see docs/operations.md):\n"
    "       0 2 * * * /path/to/.venv/bin/rasoat run --data-dir /path/data --config /path/config >> /path/data/logs/run.log 2>&1"
)


def api_url() -> str | None:
    """The Prefect API URL in force (environment or Prefect profile), or None."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        return url
    try:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url or None
    except Exception:  # pragma: no cover - settings unreadable: treat as no server
        return None


@schedule_app.command("serve")
def schedule_serve(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    cron: str = typer.Option("0 2 * * *", "--cron", help="Giờ chạy (cron, giờ Việt Nam) / when to run, cron in Asia/Ho_Chi_Minh."),
    name: str = typer.Option("nightly", "--name", help="Tên deployment / deployment name."),
    no_pull: bool = typer.Option(False, "--no-pull", help="Rerun from the stored raw data only (no server, no inbox)."),
) -> None:
    """Chạy rà soát hằng đêm / serve the nightly review on a Prefect server (runs until Ctrl+C).

    Registers the deployment `review/<name>` with a Cron schedule in Asia/Ho_Chi_Minh and runs
    the scheduled runs, and any started with `prefect deployment run 'review/<name>' -p ...`.
    """
    from prefect.schedules import Cron

    if not api_url():
        fail(NO_SERVER_MESSAGE)
    try:
        schedule = Cron(cron, timezone=TIME_ZONE)
    except Exception as exc:  # croniter's message names the bad field
        fail(f"--cron {cron!r} không hợp lệ / is not a valid cron expression ({exc})")
    from rasoat.flows.review import review_flow

    data_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"data_dir": str(data_dir.resolve()), "config_dir": str(config.resolve()) if config else None, "pull": not no_pull}
    console.print(f"Lịch / schedule: [bold]{cron}[/] ({TIME_ZONE}) → deployment [bold]review/{name}[/], dữ liệu {parameters['data_dir']}"
                  " — Ctrl+C để dừng")
    review_flow.serve(name=name, schedules=[schedule], parameters=parameters)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
