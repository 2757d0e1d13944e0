"""Issue 9: the `deploy_forms` flow puts the form on (a fake) ODK Central, idempotently; only its deploy step retries."""

from __future__ import annotations

import pytest

from _servers import config_folder
from fake_central import FakeCentral

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture()
def fake():
    server = FakeCentral().start()
    yield server
    server.stop()


def test_deploy_forms_flow_deploys_once_then_changes_nothing(fake, tmp_path, monkeypatch):
    from rasoat.flows.forms import build_form_task, deploy_form_task, deploy_forms_flow

    monkeypatch.setenv("PYODK_CONFIG_FILE", str(tmp_path / "no-pyodk-config.toml"))
    monkeypatch.setenv("PYODK_CACHE_FILE", str(tmp_path / "pyodk-cache.toml"))
    monkeypatch.setenv("RASOAT_CENTRAL_USER", fake.email)
    monkeypatch.setenv("RASOAT_CENTRAL_PASSWORD", fake.password)
    config = config_folder(tmp_path, {"kind": "central", "url": fake.url, "project_id": 1, "retries": 1, "timeout_seconds": 5})
    data = tmp_path / "data"
    first = deploy_forms_flow(data_dir=str(data), config_dir=str(config))
    assert first["writes"] and fake.forms["rasoat_household"]["published"] is not None
    again = deploy_forms_flow(data_dir=str(data), config_dir=str(config))
    assert again["action"] == "nothing" and again["version"] == first["version"]
    assert deploy_form_task.retries == 2 and build_form_task.retries == 0
