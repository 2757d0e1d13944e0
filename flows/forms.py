"""`deploy_forms`: build the questionnaire and put it on ODK Central or KoboToolbox, as a Prefect flow.

The same steps as `rasoat forms deploy` (rasoat/server_commands.py), for a Prefect server
(`prefect deployment run`) or a schedule. Only the deploy step talks to a server, so only it is
retried; it is idempotent (an unchanged form makes no write, a half-done deploy is resumed).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from rasoat.settings import Settings, load_settings


@task(name="build-form", cache_policy=NO_CACHE)
def build_form_task(settings: Settings, data_dir: Path, reference_year: int | None = None):
    from rasoat.cli import _previous_households
    from rasoat.forms.build import build_form

    return build_form(settings, data_dir / "forms", previous=_previous_households(data_dir), reference_year=reference_year)


@task(name="deploy-form", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def deploy_form_task(settings: Settings, data_dir: Path, built) -> dict:
    """Returns the plan as counts and IDs: action, version, steps, where."""
    from rasoat.forms.build import questionnaire_for
    from rasoat.pipeline.sources.deploy import deploy_central, deploy_kobo
    from rasoat.pipeline.sources.sync import kobo_asset_uid, policy_of

    form_id = settings.server.form_id or questionnaire_for(settings).form_id
    attachments = {p.name: p.read_bytes() for p in built.attachments}
    if settings.server.kind == "kobo":
        from rasoat.pipeline.sources.kobo import resolve_target

        target = resolve_target(settings.server, form_id, kobo_asset_uid(data_dir))
        plan, uid = deploy_kobo(target, policy_of(settings), built.xlsx_path.read_bytes(), built.version,
                                settings.commune.name + " — rà soát hộ nghèo", attachments, data_dir)
        where = f"{target.where} (asset {uid})"
    else:
        from rasoat.pipeline.sources.central import resolve_target

        target = resolve_target(settings.server, form_id)
        plan = deploy_central(target, policy_of(settings), built.xform_path.read_text(encoding="utf-8"), built.version, attachments)
        where = str(target.where)
    return {"action": plan.action, "version": plan.version, "steps": list(plan.steps), "writes": bool(plan.writes), "where": where}


@flow(name="deploy_forms", log_prints=False, validate_parameters=False)
def deploy_forms_flow(data_dir: str, config_dir: str | None = None, reference_year: int | None = None) -> dict:
    """Build the form (with the last publication's households as the preload list) and deploy it."""
    from prefect.artifacts import create_markdown_artifact

    settings = load_settings(Path(config_dir) if config_dir else None)
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    built = build_form_task(settings, folder, reference_year)
    result = deploy_form_task(settings, folder, built)
    try:
        create_markdown_artifact(f"Form version **{result['version']}**: {result['action']} "
                                 f"({', '.join(result['steps']) or 'no change'})", key="deploy-forms")
    except Exception:  # the deploy is done; a missing artifact must not fail it
        pass
    return result
