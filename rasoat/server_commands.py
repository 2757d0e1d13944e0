"""Field-server commands (issue 8): `forms deploy`, `enumerators add|list|revoke`, `sync`, `simulate`.

Registered on the main app by `register(app, forms_app)` at the end of rasoat/cli.py. The server
comes from `server:` in commune.yaml; passwords and tokens from the environment or pyodk's config
file (docs/servers.md). Expected failures (server refused, unreachable, bad roster) end with a
one-line message, never a traceback; tokens and passwords are never printed.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from rasoat.cli_common import CONFIG_OPTION, DATA_DIR_OPTION, console, err_console


def _fail(message: str, code: int = 2) -> None:
    from rasoat.pipeline.sources.http import redact

    err_console.print(f"[bold red]Lỗi / Error:[/] {redact(message)}", highlight=False)
    raise typer.Exit(code)


def _load(config: Optional[Path]):
    from rasoat.settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        _fail(str(exc))


@contextmanager
def _server_errors() -> Iterator[None]:
    from rasoat.pipeline.enumerators import RosterError
    from rasoat.pipeline.sources.http import ServerError
    from rasoat.settings import ConfigError

    try:
        yield
    except (ServerError, RosterError, ConfigError) as exc:
        _fail(str(exc), code=1)


def _form_id(settings) -> str:
    from rasoat.forms.build import questionnaire_for

    return settings.server.form_id or questionnaire_for(settings).form_id


def _policy(settings):
    from rasoat.pipeline.sources.sync import policy_of

    return policy_of(settings)


def _central_target(settings):
    from rasoat.pipeline.sources.central import resolve_target

    if settings.server.kind != "central":
        _fail("lệnh này chỉ dùng với ODK Central (server.kind: central); KoboToolbox không có app user "
              "— this command needs ODK Central")
    return resolve_target(settings.server, _form_id(settings))


def _build(settings, data_dir: Path, year: Optional[int]):
    from rasoat.cli import _previous_households
    from rasoat.forms.build import FormBuildError, build_form
    from rasoat.settings import ConfigError

    try:
        return build_form(settings, data_dir / "forms", previous=_previous_households(data_dir), reference_year=year)
    except (ConfigError, FormBuildError) as exc:
        _fail(str(exc))


# --- forms deploy -------------------------------------------------------------------------------


def forms_deploy(
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
    year: Optional[int] = typer.Option(None, "--year", "-y", help="Reference year whose rule set the phone's summary uses."),
) -> None:
    """Đưa phiếu lên máy chủ / deploy the form to ODK Central or KoboToolbox (builds it first).

    Creates the form, or uploads a new draft with its attachment (the previous-households list)
    and publishes it under the new version. Deploying an unchanged form changes nothing.
    """
    from rasoat.pipeline.sources.deploy import deploy_central, deploy_kobo

    settings = _load(config)
    data_dir.mkdir(parents=True, exist_ok=True)
    with console.status("Đang dựng phiếu và kiểm tra bằng ODK Validate…"):
        built = _build(settings, data_dir, year)
    attachments = {p.name: p.read_bytes() for p in built.attachments}
    with _server_errors():
        if settings.server.kind == "kobo":
            from rasoat.pipeline.sources.kobo import resolve_target
            from rasoat.pipeline.sources.sync import kobo_asset_uid

            target = resolve_target(settings.server, _form_id(settings), kobo_asset_uid(data_dir))
            with console.status(f"Đang đưa phiếu lên {target.where}…"):
                plan, uid = deploy_kobo(target, _policy(settings), built.xlsx_path.read_bytes(), built.version,
                                        settings.commune.name + " — rà soát hộ nghèo", attachments, data_dir)
            where = f"{target.where} (asset {uid})"
        else:
            target = _central_target(settings)
            with console.status(f"Đang đưa phiếu lên {target.where}…"):
                plan = deploy_central(target, _policy(settings), built.xform_path.read_text(encoding="utf-8"),
                                      built.version, attachments)
            where = str(target.where)
    if not plan.writes:
        console.print(f"[green]Không đổi[/] / unchanged: phiên bản {plan.version} đã có trên {where}; không gửi gì.")
        return
    labels = {"create": "Đã tạo phiếu / created", "update": "Đã cập nhật / new version published",
              "resume": "Đã hoàn tất lần đưa dở / finished the earlier deploy", "replace": "Đã thay phiếu / replaced",
              "deploy": "Đã triển khai / deployed", "redeploy": "Đã triển khai lại / redeployed",
              "media": "Đã cập nhật tệp đính kèm / media updated"}
    console.print(f"[green]{labels.get(plan.action, plan.action)}[/]: phiên bản {plan.version} trên {where} "
                  f"({', '.join(plan.steps)})")


# --- enumerators --------------------------------------------------------------------------------

enumerators_app = typer.Typer(help="Điều tra viên / enumerators: app users on ODK Central with QR codes for ODK Collect.",
                              no_args_is_help=True)


def _qr_entries(settings, target, users: list[tuple]) -> list[tuple]:
    from rasoat.pipeline.enumerators import collect_settings, qr_payload

    name = settings.server.project_name or settings.commune.name
    return [(person, qr_payload(collect_settings(target.url, user["token"], target.project_id, name)))
            for person, user in users]


@enumerators_app.command("add")
def enumerators_add(
    roster: Path = typer.Argument(..., help="CSV or XLSX with the columns name (họ tên) and hamlet (ấp)."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Tạo app user cho từng điều tra viên, giao phiếu, in mã QR / create app users, assign the form, make QR codes.

    Running it again with the same roster creates nobody twice; it rewrites every QR code (PNG
    files and one printable PDF in <data>/enumerators/).
    """
    from rasoat.pipeline.enumerators import plan_enumerators, read_roster, write_qr_codes, write_registry
    from rasoat.pipeline.sources.central import Central

    settings = _load(config)
    with _server_errors():
        people = read_roster(roster, {h.code for h in settings.hamlets})
        target = _central_target(settings)
        with Central(target, _policy(settings)) as central:
            if central.form_state()[0] is None:
                _fail(f"{target.where}: chưa có phiếu; chạy `rasoat forms deploy` trước / deploy the form first")
            plan = plan_enumerators(people, central.app_users(), central.assigned_actor_ids())
            created = []
            for person in plan.create:
                user = central.create_app_user(person.display_name)
                central.assign(int(user["id"]))
                created.append((person, user))
            for actor in plan.assign:
                central.assign(actor)
        everyone = created + list(plan.keep)
        folder = data_dir / "enumerators"
        pngs, pdf = write_qr_codes(_qr_entries(settings, target, everyone), folder,
                                   f"Mã QR điều tra viên — {settings.commune.name}")
        write_registry(folder, [{"name": p.name, "hamlet": p.hamlet, "app_user_id": u["id"],
                                 "display_name": p.display_name} for p, u in everyone])
    console.print(f"[green]Điều tra viên[/]: {len(created)} tạo mới / created, {len(plan.keep)} đã có / kept, "
                  f"{len(plan.assign)} được giao lại phiếu / re-assigned — trên {target.where}")
    console.print(f"  Mã QR: {len(pngs)} tệp PNG trong {folder}")
    if pdf:
        console.print(f"  Tờ in / printable sheet: {pdf}")
    else:
        console.print("[yellow]Không có phông chữ tiếng Việt (DejaVu Sans) nên không tạo được tờ PDF; các tệp PNG vẫn dùng được.[/]")


@enumerators_app.command("list")
def enumerators_list(data_dir: Path = DATA_DIR_OPTION, config: Optional[Path] = CONFIG_OPTION) -> None:
    """Danh sách app user trên máy chủ / list the app users on the server and whether they can still send."""
    from rasoat.pipeline.sources.central import Central

    settings = _load(config)
    with _server_errors():
        target = _central_target(settings)
        with Central(target, _policy(settings)) as central:
            users = central.app_users()
            assigned = central.assigned_actor_ids()
    table = Table(title=f"Điều tra viên trên {target.where}")
    for header in ("ID", "Tên (ấp · họ tên)", "Trạng thái", "Được giao phiếu"):
        table.add_column(header)
    for u in sorted(users, key=lambda u: str(u.get("displayName"))):
        state = "hoạt động / active" if u.get("token") else "đã thu hồi / revoked"
        table.add_row(str(u.get("id")), str(u.get("displayName")), state, "có" if int(u["id"]) in assigned else "không")
    console.print(table)


@enumerators_app.command("revoke")
def enumerators_revoke(
    names: list[str] = typer.Argument(..., help="Display names ('A01 · Nguyễn Văn An') or names, as `enumerators list` shows."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Thu hồi quyền gửi của điều tra viên / revoke app users on the server (their QR code stops working)."""
    from rasoat.pipeline.enumerators import plan_revoke
    from rasoat.pipeline.sources.central import Central

    settings = _load(config)
    with _server_errors():
        target = _central_target(settings)
        with Central(target, _policy(settings)) as central:
            chosen, unknown = plan_revoke(names, central.app_users())
            if unknown:
                _fail(f"không có app user đang hoạt động tên: {', '.join(unknown)} (xem `rasoat enumerators list`)")
            for user in chosen:
                central.revoke(user["token"])
    console.print(f"[green]Đã thu hồi[/] / revoked: {', '.join(str(u.get('displayName')) for u in chosen)} trên {target.where}")


# --- sync ---------------------------------------------------------------------------------------


def sync(data_dir: Path = DATA_DIR_OPTION, config: Optional[Path] = CONFIG_OPTION) -> None:
    """Lấy bài nộp mới hoặc đã sửa từ máy chủ / pull new and changed submissions into the raw store.

    Incremental (a watermark with an overlap), resumable after a failure, safe to run twice or at
    once. Every version is kept; deleted submissions leave processing but stay in the store.
    """
    from rasoat.pipeline.rawstore import RawStore, default_store_url
    from rasoat.pipeline.sources.sync import run_sync

    settings = _load(config)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("RASOAT_STORE_URL") or settings.store.url or default_store_url(data_dir.resolve())
    with _server_errors(), RawStore(url) as store, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True) as bar:
        task = bar.add_task("Đồng bộ / syncing", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total if total is not None and total >= done else None)

        report = run_sync(settings, data_dir.resolve(), store, _form_id(settings), progress)
    resumed = " (tiếp tục lần trước / resumed)" if report.resumed else ""
    console.print(f"[green]Đã đồng bộ[/]{resumed} từ {report.server}: {report.received:,} bài nhận, "
                  f"{report.new_versions:,} phiên bản mới, {report.deleted:,} bị xóa trên máy chủ"
                  + (f", {report.attachments:,} tệp đính kèm" if report.attachments else "")
                  + f" — {report.requests} yêu cầu, mốc / watermark {report.watermark}")
    if report.problems:
        console.print(f"[yellow]{len(report.problems)} bản ghi không đọc được / records not readable[/]")


# --- simulate -----------------------------------------------------------------------------------


def simulate(
    households: int = typer.Option(..., "--households", "-n", min=1, help="How many synthetic households to submit."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same households (a second run submits nothing new)."),
    data_dir: Path = DATA_DIR_OPTION,
    config: Optional[Path] = CONFIG_OPTION,
) -> None:
    """Gửi hộ giả lập lên ODK Central như ODK Collect / submit synthetic households as an app user (training, demos)."""
    from rasoat.forms.build import questionnaire_for
    from rasoat.pipeline.sources.central import Central
    from rasoat.pipeline.sources.simulate import simulate as run

    settings = _load(config)
    questionnaire = questionnaire_for(settings)
    with _server_errors():
        target = _central_target(settings)
        with Central(target, _policy(settings)) as central:
            form, _ = central.form_state()
        if form is None or not form.get("publishedAt"):
            _fail(f"{target.where}: chưa có phiếu đã công bố; chạy `rasoat forms deploy` trước / deploy the form first")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("Gửi bài / submitting", total=households)
            report = run(target, _policy(settings), settings, questionnaire, str(form.get("version") or ""),
                         households, seed, progress=lambda k: bar.advance(task, k))
    console.print(f"[green]Đã gửi[/] {report.submitted:,} hộ giả lập lên {target.where}"
                  + (f"; {report.already_there:,} đã có sẵn / already there" if report.already_there else ""))


def register(app: typer.Typer, forms_app: typer.Typer) -> None:
    """Add the field-server commands to the `rasoat` app."""
    forms_app.command("deploy")(forms_deploy)
    app.add_typer(enumerators_app, name="enumerators")
    app.command("sync")(sync)
    app.command("simulate")(simulate)
