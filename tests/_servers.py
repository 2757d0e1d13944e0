"""Shared helpers for the field-server tests: a built form, synthetic data shaped for each server."""

from __future__ import annotations

import shutil
import sys
from functools import lru_cache
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from rasoat.config import BUNDLED_CONFIG_DIR  # noqa: E402
from rasoat.pipeline import synthetic  # noqa: E402
from rasoat.pipeline.sources.http import RetryPolicy  # noqa: E402
from rasoat.settings import load_settings  # noqa: E402

FAST = RetryPolicy(attempts=5, backoff=0.001, max_backoff=0.01, timeout=1.0)


@lru_cache(maxsize=1)
def settings():
    return load_settings()


@lru_cache(maxsize=1)
def questionnaire():
    from rasoat.forms.build import questionnaire_for

    return questionnaire_for(settings())


def households(n: int, seed: int = 7) -> list[dict]:
    from rasoat.pipeline.sources.simulate import synthetic_households

    return synthetic_households(settings(), questionnaire(), n, seed)


def odata_elements(n: int, seed: int = 7) -> list[dict]:
    q = questionnaire()
    return [synthetic.odata_row(s, 0, q) for s in households(n, seed)]


def kobo_record(sub: dict, q=None) -> dict:
    """A synthetic household as KPI's /data/ gives it: flat "group/field" keys, the repeat as a list, text values."""
    from rasoat.pipeline.synthetic import _xml_text

    q = q or questionnaire()
    rec: dict = {}
    for f in q.household_fields:
        value = sub["answers"].get(f.name)
        if value not in (None, ""):
            rec["/".join((*f.groups, f.name))] = _xml_text(value)
    rows = []
    for m in sub["members"]:
        row = {}
        for f in q.member_fields:
            value = m.get(f.name)
            if value not in (None, ""):
                row["/".join((q.member_repeat, *f.groups, f.name))] = _xml_text(value)
        rows.append(row)
    rec[q.member_repeat] = rows
    rec["meta/instanceID"] = sub["instance_id"]
    rec["_uuid"] = sub["instance_id"].removeprefix("uuid:")
    return rec


def config_folder(tmp: Path, server: dict) -> Path:
    """A copy of the bundled configuration whose commune.yaml has the given `server:` section."""
    target = tmp / "config"
    shutil.copytree(BUNDLED_CONFIG_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = target / "commune.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["server"] = {**(data.get("server") or {}), **server}
    data["source"] = {"kind": server.get("kind", "central")}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target
