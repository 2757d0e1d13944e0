"""Shared fixtures. One Prefect test harness serves the whole session (it takes ~10 s to start)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def data_dir(tmp_path):
    """A data folder whose inbox holds a small Central CSV export (about 300 households)."""
    from rasoat.flows.review import DataFolder, questionnaire_for
    from rasoat.pipeline import synthetic
    from rasoat.settings import load_settings

    settings = load_settings()
    folder = DataFolder(tmp_path / "data")
    folder.inbox.mkdir(parents=True)
    q = questionnaire_for(settings)
    subs = synthetic.generate_commune(list(settings.hamlets), q, seed=5, scale=0.04)
    synthetic.write_central_csv_zip(subs, q, folder.inbox / "rasoat_household.csv.zip")
    return folder.root
