"""Small hand-made submissions for rule tests: one clean synthetic household, changed per test."""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import pandas as pd

from rasoat.flows.review import questionnaire_for
from rasoat.pipeline import synthetic
from rasoat.pipeline.sources import CENTRAL_ODATA
from rasoat.pipeline.tidy import tidy_submissions
from rasoat.settings import load_settings

SETTINGS = load_settings()
QUESTIONNAIRE = questionnaire_for(SETTINGS)


@lru_cache(maxsize=1)
def _templates() -> tuple[dict, ...]:
    subs = synthetic.generate_commune(list(SETTINGS.hamlets[:2]), QUESTIONNAIRE, seed=7, scale=0.03, dirt=False)
    # households of 3+ members with a head, a spouse-or-other and a child, all consenting
    return tuple(s for s in subs if s["answers"].get("consent") == "yes" and len(s["members"]) >= 3)


def household(k: int = 0, **answers) -> dict:
    """A neutral submission dict (see `synthetic.generate_commune`), answers overridden."""
    s = copy.deepcopy(_templates()[k])
    s["answers"].update(answers)
    s["__id"] = s["instance_id"] = f"uuid:test-{k}-{abs(hash(json.dumps(answers, default=str, sort_keys=True))) % 10**8}"
    return s


def current(subs: list[dict]) -> pd.DataFrame:
    """The raw store's current-versions frame for these submissions (OData payloads)."""
    rows = []
    for s in subs:
        rec = synthetic.odata_row(s, 0, QUESTIONNAIRE)
        rows.append({"submission_id": s["__id"], "instance_id": s["instance_id"], "form_version": s["form_version"],
                     "submitted_at": s["submitted_at"], "review_state": s["review_state"], "payload_format": CENTRAL_ODATA,
                     "payload": json.dumps(rec, ensure_ascii=False, default=str)})
    return pd.DataFrame(rows)


def tidy(subs: list[dict]):
    return tidy_submissions(current(subs), QUESTIONNAIRE)


def rules_of(issues: pd.DataFrame, submission_id: str | None = None) -> set[str]:
    sel = issues if submission_id is None else issues[issues["submission_id"] == submission_id]
    return set(sel["rule"])


def patched(sub: dict, **paths) -> pd.DataFrame:
    """The current frame of one submission with payload values set by path ("housing/floor_area": value)."""
    frame = current([sub])
    record = json.loads(frame.loc[0, "payload"])
    for path, value in paths.items():
        *parents, key = path.split("__")
        target = record
        for p in parents:
            target = target[p] if not p.isdigit() else target[int(p)]
        target[key] = value
    frame.loc[0, "payload"] = json.dumps(record, ensure_ascii=False)
    return frame
