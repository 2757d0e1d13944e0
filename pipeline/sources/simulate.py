"""`rasoat simulate`: synthetic households submitted to Central the way ODK Collect sends them.

For training days, demos and tests: an app user `rasoat-simulate` (created once, assigned the
form) POSTs each household as OpenRosa multipart (`xml_submission_file`) to
/v1/key/{token}/projects/{pid}/submission. The same seed gives the same households and the same
instance IDs, so running it twice submits nothing new (Central answers 409 for a known instanceID).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .central import Central, openrosa_session, submission_xml, submit_openrosa
from .http import RetryPolicy, ServerError

SIMULATE_USER = "rasoat-simulate"


@dataclass(frozen=True)
class SimulateReport:
    submitted: int
    already_there: int


def synthetic_households(settings, questionnaire, n: int, seed: int) -> list[dict]:
    """n clean synthetic households spread over the commune's hamlets (deterministic for a seed)."""
    from rasoat.pipeline import synthetic

    hamlets = list(settings.hamlets)
    total = sum(h.resident_households or 100 for h in hamlets)
    scale = max(n / total * 1.2, 0.0001)
    subs = synthetic.generate_commune(hamlets, questionnaire, seed=seed, scale=scale, dirt=False)
    random.Random(seed).shuffle(subs)
    if len(subs) < n:
        raise ServerError(f"chỉ tạo được {len(subs)} hộ / could only generate {len(subs)} households")
    return subs[:n]


def simulate(target, policy: RetryPolicy, settings, questionnaire, version: str, n: int, seed: int,
             progress: Callable[[int], None] | None = None) -> SimulateReport:
    with Central(target, policy) as central:
        users = central.app_users()
        user = next((u for u in users if u.get("displayName") == SIMULATE_USER and u.get("token")), None)
        if user is None:
            user = central.create_app_user(SIMULATE_USER)
        if int(user["id"]) not in central.assigned_actor_ids():
            central.assign(int(user["id"]))
        token = user["token"]
    session = openrosa_session(policy)
    new = old = 0
    try:
        for sub in synthetic_households(settings, questionnaire, n, seed):
            if submit_openrosa(session, target, token, submission_xml(sub, questionnaire, version=version), policy):
                new += 1
            else:
                old += 1
            if progress:
                progress(1)
    finally:
        session.close()
    return SimulateReport(new, old)
