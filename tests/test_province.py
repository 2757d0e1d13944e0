"""Province mode: three small communes on Dask, one broken; a run on an existing cluster; the province file's errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rasoat.cli import app
from rasoat.config import BUNDLED_CONFIG_DIR
from rasoat.pipeline.province import Commune, load_province
from rasoat.pipeline.publish import current_publication
from rasoat.pipeline.runlock import run_lock
from rasoat.settings import ConfigError

# `data_dir` (a small synthetic inbox) comes from conftest.py


def make_commune(root: Path, name: str, inbox_from: Path) -> Commune:
    """A commune folder pair under `root/name`: the bundled config and a copy of the small inbox."""
    config, data = root / name / "config", root / name / "data"
    shutil.copytree(BUNDLED_CONFIG_DIR, config, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(inbox_from / "inbox", data / "inbox")
    # three hamlets keep each review to a few seconds (the other hamlets' households are excluded as unknown)
    hamlets = yaml.safe_load((config / "hamlets.yaml").read_text(encoding="utf-8"))
    hamlets["hamlets"] = hamlets["hamlets"][:3]
    (config / "hamlets.yaml").write_text(yaml.safe_dump(hamlets, allow_unicode=True), encoding="utf-8")
    return Commune(name, config, data)


def write_province(path: Path, communes: list[Commune]) -> Path:
    entries = [{"name": c.name, "config": str(c.config_dir.relative_to(path.parent)), "data": str(c.data_dir.relative_to(path.parent))}
               for c in communes]
    path.write_text(yaml.safe_dump({"communes": entries}, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.usefixtures("prefect_harness")
def test_province_run_publishes_the_good_communes_and_reports_the_broken_one(tmp_path: Path, data_dir: Path, monkeypatch):
    from rasoat.cli_common import console

    monkeypatch.setattr(console, "_width", 240)  # wide enough that no cell of the outcome table wraps
    good = [make_commune(tmp_path / "province", n, data_dir) for n in ("xa-a", "xa-b")]
    broken = make_commune(tmp_path / "province", "xa-hong", data_dir)
    store = broken.data_dir / "store" / "raw.sqlite3"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"this is not a SQLite database" * 200)
    province = write_province(tmp_path / "province" / "province.yaml", [good[0], broken, good[1]])

    result = CliRunner().invoke(app, ["province", "run", str(province), "--year", "2026", "--workers", "2"])

    assert result.exit_code == 1, result.output
    for name in ("xa-a", "xa-b", "xa-hong"):
        assert name in result.output
    assert "xa-hong: DatabaseError: DatabaseError: file is not a database" in result.output
    assert "2 xong / ok · 0 bỏ qua / skipped · 1 lỗi / failed" in result.output
    for commune in good:
        pub = current_publication(commune.data_dir / "publications")
        assert pub is not None and (pub / "commune" / "households.csv").is_file()
        assert json.loads((pub / "manifest.json").read_text(encoding="utf-8"))["counts"]["households_classified"] > 0
        assert pub.name in result.output  # the table names each good commune's publication
    assert current_publication(broken.data_dir / "publications") is None
    # On Prefect's run page the broken commune's task and the province run are red, the good ones green
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=["review-xa-a", "review-xa-b", "review-xa-hong"])))
        flows = client.read_flow_runs()
    assert sorted((t.name, t.state.type.value) for t in tasks) == [
        ("review-xa-a", "COMPLETED"), ("review-xa-b", "COMPLETED"), ("review-xa-hong", "FAILED")]
    (province_run,) = [f for f in flows if f.flow_id and f.state and f.state.message and "communes failed" in f.state.message]
    assert province_run.state.type.value == "FAILED" and province_run.state.message == "1 of 3 communes failed"


@pytest.mark.usefixtures("prefect_harness")
def test_province_flow_on_an_existing_cluster_reports_outcomes_and_skips_a_locked_commune(tmp_path: Path, data_dir: Path):
    from distributed import LocalCluster

    from rasoat.flows.province import province_flow

    ok = make_commune(tmp_path, "xa-a", data_dir)
    locked = make_commune(tmp_path, "xa-khoa", data_dir)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            run_lock(locked.data_dir, 0):  # another run is reviewing this commune
        table = province_flow([(ok.name, ok.config_dir, ok.data_dir), locked], reference_year=2026, pull=True,
                              address=cluster.scheduler_address, lock_wait_seconds=0)

    assert list(table["commune"]) == ["xa-a", "xa-khoa"]
    first, second = table.to_dict("records")
    assert first["status"] == "ok" and first["error"] is None
    pub = current_publication(ok.data_dir / "publications")
    assert first["publication"] == pub.name
    counts = json.loads((pub / "manifest.json").read_text(encoding="utf-8"))["counts"]
    assert first["households"] == counts["households_classified"] > 0
    assert (first["poor"], first["near_poor"]) == (counts["poor"], counts["near_poor"])
    assert second["status"] == "skipped" and second["error"].startswith("RunSkipped: Bỏ qua")
    assert current_publication(locked.data_dir / "publications") is None
    # Prefect tracks one task per commune, and the outcome table as an artifact
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=["review-xa-khoa"])))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["province-outcomes"])))
    assert [r.state.type.value for r in runs] == ["COMPLETED"]
    assert any("xa-khoa" in str(a.data) and "skipped" in str(a.data) for a in artifacts)


def test_describe_error_keeps_the_problem_and_drops_personal_data():
    from sqlalchemy.exc import IntegrityError

    from rasoat.flows.province import describe_error

    exc = IntegrityError("INSERT INTO x VALUES (?)", ("Nguyễn Văn A",), Exception("UNIQUE constraint failed: x.id"))
    assert describe_error(exc) == "IntegrityError: Exception: UNIQUE constraint failed: x.id"
    assert describe_error(ValueError("bad card 079123456789\nNguyễn Văn A")) == "ValueError: bad card …"


def test_province_file_errors_name_the_file_and_the_entry(tmp_path: Path):
    path = tmp_path / "province.yaml"
    path.write_text("communes:\n  - {name: Xã A, config: a/config, data: a/data}\n  - {name: Xã B, confg: b/config, data: b/data}\n"
                    "  - {name: Xã C, config: c/config, data: a/data}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_province(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid province file")
    assert "communes[1] ('Xã B'): 'config' is missing" in message and "unknown key(s) 'confg'" in message
    assert "communes[2] ('Xã C'): same data folder as communes[0]" in message

    path.write_text("communes:\n  - {name: Xã A, config: a/config, data: a/data}\n", encoding="utf-8")
    (commune,) = load_province(path)
    assert commune == Commune("Xã A", (tmp_path / "a" / "config").resolve(), (tmp_path / "a" / "data").resolve())

    for text, expected in [("communes: []\n", "communes: expected a non-empty list"),
                           ("communes:\n  - just-a-name\n", "communes[0]: expected a mapping"),
                           ("communes: [\n", "not valid YAML"), ("xa: []\n", "one top-level key 'communes'")]:
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=re.escape(expected)):
            load_province(path)

    result = CliRunner().invoke(app, ["province", "run", str(tmp_path / "missing.yaml")])
    # rich wraps the message at the console's width, which depends on the length of the tmp path
    assert result.exit_code == 2 and "file not found" in " ".join(result.output.split())


def test_the_example_province_file_parses():
    example = Path(__file__).parents[1] / "docs" / "examples" / "province.yaml"
    communes = load_province(example)
    assert len(communes) >= 2 and all(c.config_dir.is_absolute() and c.data_dir.is_absolute() for c in communes)


def test_the_pull_is_retried_only_for_a_field_server():
    from types import SimpleNamespace

    from rasoat.flows.province import retrying_pull

    calls = []

    def flaky(folder, url, form_id, settings=None):
        calls.append(settings.source.kind)
        if len(calls) < 3:
            raise ConnectionError("server busy")
        return "pulled"

    server = SimpleNamespace(source=SimpleNamespace(kind="central"))
    assert retrying_pull(flaky, [0, 0])("f", "u", "form", server) == "pulled" and len(calls) == 3
    calls.clear()
    with pytest.raises(ConnectionError):  # an inbox folder fails the same way every time: no retry
        retrying_pull(flaky, [0, 0])("f", "u", "form", SimpleNamespace(source=SimpleNamespace(kind="folder")))
    assert calls == ["folder"]
