"""`rasoat forms deploy`: put the built form on ODK Central or KoboToolbox, idempotently.

Each function reads the server's state, computes the plan with a pure function
(`central.plan_deploy`, `kobo.plan_deploy`) and carries it out. An unchanged form makes no
write request. A form the server refuses raises `ServerError` with the server's message.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .http import RetryPolicy


def deploy_central(target, policy: RetryPolicy, xform: str, version: str, attachments: dict[str, bytes]):
    from .central import Central, plan_deploy

    with Central(target, policy) as central:
        form, draft = central.form_state()
        plan = plan_deploy(version, form, draft)
        central.deploy(plan, xform, attachments)
    return plan


def deploy_kobo(target, policy: RetryPolicy, xlsx: bytes, version: str, title: str, attachments: dict[str, bytes],
                data_dir: Path, poll_seconds: float = 0.5):
    from .kobo import Kobo, KoboTarget, plan_deploy
    from .sync import remember_kobo_asset

    with Kobo(target, policy) as kobo:
        asset = kobo.asset(target.asset_uid) if target.asset_uid else None
        media = kobo.media(target.asset_uid) if asset is not None else {}
        wanted = {name: hashlib.md5(content).hexdigest() for name, content in attachments.items()}
        media_ok = all(media.get(name) == digest for name, digest in wanted.items())
        plan = plan_deploy(version, asset, media_ok)
        if not plan.writes:
            return plan, target.asset_uid
        uid = target.asset_uid
        deployed = bool(asset and asset.get("has_deployment"))
        if plan.action in ("create", "replace"):
            uid = kobo.import_xlsform(xlsx, title, uid if plan.action == "replace" else "", poll_seconds=poll_seconds)
            remember_kobo_asset(data_dir, uid)
            kobo.target = KoboTarget(target.url, target.token, uid, target.form_id)
        if plan.action in ("create", "replace", "media"):
            current = kobo.media(uid)
            for name, content in sorted(attachments.items()):
                if current.get(name) != wanted[name]:
                    kobo.upload_media(uid, name, content, current)
        kobo.deploy(uid, redeploy=deployed)
        return plan, uid
