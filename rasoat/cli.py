"""The `rasoat` command line: what a commune officer types."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import rasoat

# Prefect's embedded server is chatty; officers need our summary, not its logs.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
# The embedded server gets 20 s to start by default; a busy small machine at night may need more.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

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
users_app = typer.Typer(help="Tài khoản cổng thông tin / portal accounts: add, reset, disable, list.", no_args_is_help=True)
app.add_typer(users_app, name="users")
from rasoat.cli_common import CONFIG_OPTION, DATA_DIR_OPTION, console, fail
STAGES = [("pull", "Đọc dữ liệu và lưu bản gốc"), ("clean", "Làm sạch, kiểm tra"), ("classify", "Phân loại hộ"),
          ("aggregate", "Tổng hợp chỉ số"), ("publish", "Xuất bản danh sách")]


def _fail(message: str, code: int = 2) -> None:
    fail(message, code)


def _write_error_message(exc: OSError, publications: Path) -> str | None:
    """A clear message for a full disk or a folder that cannot be written (read-only, no permission);
    None for any other error. Names the publications folder when the failed write was inside it."""
    import errno

    full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if not full and exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        return None
    where = Path(exc.filename) if exc.filename else publications
    try:
        where.resolve().relative_to(publications.resolve())
        where = publications
    except ValueError:
        where = where if where.is_dir() else where.parent
    said = exc.strerror or str(exc)
    kept = "Bản công bố trước vẫn giữ nguyên / the previous publication is unchanged."
    if full:
        return (f"ổ đĩa đầy, không ghi được vào thư mục {where} ({said}). Disk full: could not write to {where}. "
                f"{kept} Giải phóng chỗ trống rồi chạy lại / free some space and run again.")
    return (f"thư mục {where} chỉ đọc hoặc không có quyền ghi ({said}). The folder {where} is read-only or not "
            f"writable. {kept} Cho phép ghi vào thư mục (ổ đĩa gắn chế độ đọc-ghi, quyền của thư mục) rồi chạy lại / "
            f"make it writable (disk mounted read-write, folder permissions) and run again.")


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
    from rasoat.pipeline.posting_pdf import FONT_HINT, find_font

    if find_font() is None:
        console.print(f"[yellow]No PDF posting lists: no font with Vietnamese letters on this machine; {FONT_HINT}.[/]")
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
    rule_set: Optional[str] = typer.Option(None, "--rule-set", help="Classify under this rule set id (config/rulesets/) instead of the year's."),
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
        settings = settings.with_rule_set(rule_set)
        settings.ruleset_for(year)
    except ConfigError as exc:
        _fail(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    if not debug:  # Prefect logs task failures with a trace; the officer gets our one-line message instead
        os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"
    from rasoat.flows.review import DataFolder, ensure_demo_inbox, review_flow, stage_log
    from rasoat.pipeline.runlock import RunSkipped

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
            result = review_flow(data_dir=str(folder.root), config_dir=str(config) if config else None, reference_year=year, pull=not no_pull,
                                 rule_set=rule_set)
        except ConfigError as exc:
            _fail(str(exc))
        except RunSkipped as exc:  # another run holds <data>/run.lock: not an error, nothing to do
            console.print(f"[yellow]{exc}[/]")
            raise typer.Exit(0)
        except Exception as exc:  # unexpected: a short message, the trace only on request
            if debug:
                raise
            if isinstance(exc, OSError) and (message := _write_error_message(exc, folder.publications)):
                _fail(message, code=1)  # a full disk or a read-only folder: say which folder and what to do
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


# --- the web portal: accounts and `rasoat serve` ------------------------------------------------


def _portal_store(data_dir: Path):
    from rasoat.portal.store import PortalStore

    return PortalStore.for_data_dir(data_dir)


def _new_password() -> str:
    """RASOAT_NEW_PASSWORD (scripts, tests), else asked twice without echo."""
    from rasoat.portal.security import password_problem

    password = os.environ.get("RASOAT_NEW_PASSWORD")
    if password is None:
        password = typer.prompt("Mật khẩu mới / new password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        _fail(problem)
    return password


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Tên đăng nhập / user name: 2–40 of a-z 0-9 . _ -"),
    role: str = typer.Option(..., "--role", "-r", help="commune_officer (cán bộ xã) | hamlet_head (trưởng ấp) | viewer (người xem)."),
    hamlet: Optional[str] = typer.Option(None, "--hamlet", help="Mã ấp của trưởng ấp / the hamlet head's hamlet code."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Tạo tài khoản / add a portal account. Asks the password twice (or reads RASOAT_NEW_PASSWORD)."""
    import time

    from rasoat.portal.access import ROLES
    from rasoat.portal.security import hash_password
    from rasoat.portal.store import UserError

    if role not in ROLES:
        _fail(f"vai trò {role!r} không có; chọn một trong: {', '.join(ROLES)}")
    if hamlet is not None:
        settings = _load(config)
        if settings.hamlet(hamlet) is None:
            _fail(f"không có ấp mã {hamlet!r} trong {settings.config_dir / 'hamlets.yaml'}; "
                  f"các mã: {', '.join(h.code for h in settings.hamlets)}")
    store = _portal_store(data_dir)
    if store.get_user(name) is not None:
        _fail(f"tài khoản {name.strip().lower()!r} đã có; đặt lại mật khẩu: rasoat users reset {name.strip().lower()}")
    password = _new_password()
    try:
        user = store.add_user(name, role, hamlet, hash_password(password), time.time())
    except UserError as exc:
        _fail(str(exc))
    where = f", ấp {user.hamlet}" if user.hamlet else ""
    console.print(f"[green]Đã tạo[/] tài khoản [bold]{user.name}[/] ({user.role}{where}) trong {store.path}")


@users_app.command("reset")
def users_reset(name: str = typer.Argument(..., help="Tên đăng nhập / user name."), data_dir: Path = DATA_DIR_OPTION) -> None:
    """Đặt lại mật khẩu / set a new password (ends the account's open sessions)."""
    import time

    from rasoat.portal.security import hash_password
    from rasoat.portal.store import UserError

    store = _portal_store(data_dir)
    if store.get_user(name) is None:
        _fail(f"không có tài khoản {name.strip().lower()!r}; xem: rasoat users list")
    password = _new_password()
    try:
        user = store.set_password(name, hash_password(password), time.time())
    except UserError as exc:
        _fail(str(exc))
    console.print(f"[green]Đã đặt lại[/] mật khẩu cho [bold]{user.name}[/]; các phiên đăng nhập cũ đã kết thúc.")


@users_app.command("disable")
def users_disable(
    name: str = typer.Argument(..., help="Tên đăng nhập / user name."),
    data_dir: Path = DATA_DIR_OPTION,
    enable: bool = typer.Option(False, "--enable", help="Mở khóa lại / enable the account again."),
) -> None:
    """Khóa tài khoản / disable an account (signs it out at once); --enable reverses it."""
    import time

    from rasoat.portal.store import UserError

    store = _portal_store(data_dir)
    try:
        user = store.set_disabled(name, not enable, time.time())
    except UserError as exc:
        _fail(str(exc))
    state = "mở khóa" if enable else "khóa"
    console.print(f"[green]Đã {state}[/] tài khoản [bold]{user.name}[/].")


@users_app.command("list")
def users_list(data_dir: Path = DATA_DIR_OPTION) -> None:
    """Danh sách tài khoản / list the portal accounts."""
    from rasoat.portal.access import ROLE_LABELS

    store = _portal_store(data_dir)
    users = store.list_users()
    if not users:
        console.print("Chưa có tài khoản nào. Tạo: rasoat users add TÊN --role commune_officer")
        return
    table = Table(title=f"Tài khoản cổng thông tin ({store.path})")
    for header in ("Tên đăng nhập", "Vai trò", "Ấp", "Trạng thái"):
        table.add_column(header)
    for u in users:
        table.add_row(u.name, f"{ROLE_LABELS.get(u.role, u.role)} ({u.role})", u.hamlet or "", "đã khóa" if u.disabled else "hoạt động")
    console.print(table)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Địa chỉ lắng nghe / address to listen on."),
    port: int = typer.Option(8080, "--port", "-p", help="Cổng / port."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    session_hours: float = typer.Option(8.0, "--session-hours", help="Phiên hết hạn sau bấy nhiêu giờ không dùng / idle hours before a session expires."),
    behind_proxy: bool = typer.Option(False, "--behind-proxy", help="Chạy sau reverse proxy HTTPS: tin X-Forwarded-Proto và X-Forwarded-For."),
) -> None:
    """Chạy cổng thông tin web / run the web portal: sign in, downloads by role, dashboard, corrections upload."""
    import socket

    import uvicorn

    from rasoat.portal.app import PortalConfig, create_app

    settings = _load(config)
    if session_hours <= 0:
        _fail("--session-hours phải lớn hơn 0")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_LOGGING_LEVEL"] = "CRITICAL"  # reruns run inside the server; their traces go to the rerun page
    cfg = PortalConfig(data_dir=data_dir.resolve(), config_dir=config.resolve() if config else None,
                       session_idle_seconds=session_hours * 3600, behind_proxy=behind_proxy,
                       hamlet_names={h.code: h.name for h in settings.hamlets}, time_zone=settings.commune.time_zone)
    application = create_app(cfg)
    if not application.state.portal.store.has_users():
        console.print("[yellow]Chưa có tài khoản nào.[/] Tạo: rasoat users add TÊN --role commune_officer")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        _fail(f"không mở được {host}:{port} ({exc.strerror or exc}); chọn cổng khác với --port")
    if host not in ("127.0.0.1", "localhost", "::1") and not behind_proxy:
        console.print("[yellow]Cảnh báo:[/] máy chủ nghe trên mạng bằng HTTP thường; hãy đặt sau reverse proxy HTTPS "
                      "(xem docs/portal.md) và chạy với --behind-proxy.")
    console.print(f"Cổng thông tin rasoat: [bold]http://{host}:{port}/[/] (dữ liệu: {cfg.data_dir}) — Ctrl+C để dừng")
    # No access log: URLs carry file names only, but the server log is kept free of who did what (that is in the audit log).
    uvicorn.run(application, host=host, port=port, access_log=False, log_level="warning", proxy_headers=False,
                server_header=False)


# --- checking the rules, official lists, two rule sets side by side (issue 5; rasoat/commands.py) ---
from rasoat.commands import register as _register_issue5_commands  # noqa: E402

_register_issue5_commands(app)

# --- field servers: forms deploy, enumerators, sync, simulate (issue 8; rasoat/server_commands.py) ---
from rasoat.server_commands import register as _register_server_commands  # noqa: E402

_register_server_commands(app, forms_app)

# --- scheduling: schedule serve (issue 9; rasoat/schedule_commands.py) ---
from rasoat.schedule_commands import register as _register_schedule_commands  # noqa: E402

_register_schedule_commands(app)

# --- review rounds: meetings, posting, complaints, decision, documents (issue 7; rasoat/round_commands.py) ---
from rasoat.round_commands import register as _register_round_commands  # noqa: E402

_register_round_commands(app)

# --- province mode: many communes in one run on Dask (rasoat/province_commands.py) ---
from rasoat.province_commands import province_app  # noqa: E402

app.add_typer(province_app, name="province")

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
