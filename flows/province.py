"""Province mode: many communes in one Prefect flow run, one task per commune, spread by Dask.

Each commune's review is one Prefect task (the unit the run page shows), running the review's
steps as plain functions inside it: nested Prefect tasks on Dask workers only add overhead. The
task holds that commune's run lock like `review_flow` does, and catches its own failure, so one
broken commune is reported in the outcome table and never stops the others.

The tasks go to a temporary local Dask cluster (one worker process per core by default) or to an
existing cluster given by its scheduler address. Workers of a cluster on other machines must have
rasoat installed, see the same folder paths and reach the Prefect API (a real server).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from rasoat.flows.review import TASKS, DataFolder, _review, pull_task
from rasoat.pipeline.publish import remove_incomplete
from rasoat.pipeline.province import Commune
from rasoat.pipeline.runlock import RunSkipped, run_lock
from rasoat.settings import ConfigError

OK, SKIPPED, FAILED = "ok", "skipped", "failed"
OUTCOME_COLUMNS = ["commune", "status", "publication", "households", "poor", "near_poor", "seconds", "error"]
ERROR_CHARS = 300

# Counts only, never names or ID numbers (the outcome table holds the per-commune errors).
province_log = logging.getLogger("rasoat.province")

_LONG_DIGITS = re.compile(r"\d{9,}")  # ID card and phone numbers are 9–12 digit runs
_SQL_PARTS = re.compile(r"\s*\[(SQL|parameters):.*", re.DOTALL)  # SQLAlchemy appends the statement and its values


def describe_error(exc: BaseException) -> str:
    """`Type: message` without personal data: first line only, no SQL values, long digit runs masked."""
    orig = getattr(exc, "orig", None)  # a SQLAlchemy error: the driver's own message names the problem
    message = f"{type(orig).__name__}: {orig}" if isinstance(orig, BaseException) else str(exc)
    message = _SQL_PARTS.sub("", message).strip()
    first = message.splitlines()[0] if message else ""
    if isinstance(exc, ConfigError) and len(message.splitlines()) > 1:
        first = " ".join(line.strip() for line in message.splitlines()[:3])  # which file, then which key
    first = _LONG_DIGITS.sub("…", first)
    if len(first) > ERROR_CHARS:
        first = first[: ERROR_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def outcome(commune: str, status: str, seconds: float, result=None, error: str | None = None) -> dict:
    """One row of the outcome table."""
    by_hamlet = getattr(result, "by_hamlet", None)
    total = by_hamlet.iloc[-1] if by_hamlet is not None and len(by_hamlet) else None  # the commune total row
    return {
        "commune": commune, "status": status,
        "publication": result.publication.name if result is not None else None,
        "households": int(result.households_classified) if result is not None else None,
        "poor": int(total["poor"]) if total is not None else None,
        "near_poor": int(total["near_poor"]) if total is not None else None,
        "seconds": round(seconds, 1), "error": error,
    }


SERVER_SOURCES = ("central", "kobo")


def retrying_pull(pull, delays: list[float]):
    """The plain pull step, retried after `delays` like `pull_task` when the source is a field server.

    Only a server can fail for a moment; a broken inbox or store fails the same way every time.
    """
    def pull_with_retries(folder, url, form_id, settings=None):
        if settings is None or settings.source.kind not in SERVER_SOURCES:
            return pull(folder, url, form_id, settings)
        for delay in delays:
            try:
                return pull(folder, url, form_id, settings)
            except Exception as exc:
                province_log.warning("pull:retry in=%ss after=%s", delay, type(exc).__name__)
                time.sleep(delay)
        return pull(folder, url, form_id, settings)

    return pull_with_retries


def plain_steps():
    """The review's steps as plain functions, the pull keeping `pull_task`'s retries."""
    plain = TASKS.plain()
    return replace(plain, pull=retrying_pull(plain.pull, list(pull_task.retry_delay_seconds or [])))


def shared_store_problem() -> str | None:
    """RASOAT_STORE_URL names one raw store; every commune of a province run would write into it."""
    if os.environ.get("RASOAT_STORE_URL"):
        return ("RASOAT_STORE_URL đang đặt: mọi xã sẽ ghi chung một kho dữ liệu gốc; hãy bỏ biến này và đặt store.url "
                "trong commune.yaml của từng xã. RASOAT_STORE_URL is set: every commune would share one raw store; "
                "unset it and give each commune its store.url in its commune.yaml.")
    return None


def review_commune(commune: Commune, reference_year: int | None = None, pull: bool = True,
                   lock_wait_seconds: float | None = None) -> dict:
    """One commune's whole review, as `review_flow` does it, with plain steps; never raises."""
    started = time.monotonic()
    try:
        if shared_store_problem():
            raise ConfigError(shared_store_problem())
        if not Path(commune.data_dir).is_dir():  # the run lock would create it, and publish an empty review
            raise FileNotFoundError(f"không thấy thư mục dữ liệu / data folder not found: {commune.data_dir}")
        with run_lock(commune.data_dir, lock_wait_seconds):
            remove_incomplete(DataFolder(Path(commune.data_dir)).publications)
            result = _review(str(commune.data_dir), str(commune.config_dir), reference_year, pull, steps=plain_steps())
    except RunSkipped as exc:  # another run is reviewing this commune: not a failure
        return outcome(commune.name, SKIPPED, time.monotonic() - started, error=describe_error(exc))
    except Exception as exc:
        return outcome(commune.name, FAILED, time.monotonic() - started, error=describe_error(exc))
    return outcome(commune.name, OK, time.monotonic() - started, result)


@task(name="commune-review", task_run_name="review-{commune.name}", cache_policy=NO_CACHE)
def commune_review_task(commune: Commune, reference_year: int | None = None, pull: bool = True,
                        lock_wait_seconds: float | None = None):
    """The commune's outcome row; a failed commune's task run ends Failed (red on the run page), its row as the data."""
    row = review_commune(commune, reference_year, pull, lock_wait_seconds)
    return Failed(message=f"{commune.name}: {row['error']}", data=row) if row["status"] == FAILED else row


def outcomes_table(outcomes: list[dict]) -> pd.DataFrame:
    """One row per commune; missing counts are <NA> and a missing publication or error stays None."""
    table = pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS, dtype=object)
    for column in ("households", "poor", "near_poor"):
        table[column] = table[column].astype("Int64")
    table["seconds"] = table["seconds"].astype(float)
    return table


def _artifact_rows(table: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}
            for row in table.to_dict("records")]


@flow(name="province", log_prints=False, validate_parameters=False)
def province_review(communes: list[Commune], reference_year: int | None = None, pull: bool = True,
                    lock_wait_seconds: float | None = None) -> pd.DataFrame:
    """Every commune's review as one task on the flow's task runner; the outcome table."""
    futures = [commune_review_task.submit(c, reference_year, pull, lock_wait_seconds) for c in communes]
    outcomes = []
    for commune, future in zip(communes, futures):
        try:
            row = future.result(raise_on_failure=False)  # a failed commune's row is its Failed state's data
        except Exception as exc:  # the task itself could not run (a worker died): still only this commune
            row = exc
        outcomes.append(row if isinstance(row, dict) else outcome(commune.name, FAILED, 0.0, error=describe_error(row)))
    table = outcomes_table(outcomes)
    counts = table["status"].value_counts()
    get_run_logger().info("province:done communes=%d ok=%d skipped=%d failed=%d", len(table), counts.get(OK, 0),
                          counts.get(SKIPPED, 0), counts.get(FAILED, 0))  # on the flow run's page
    try:
        from prefect.artifacts import create_table_artifact

        create_table_artifact(_artifact_rows(table), key="province-outcomes",
                              description="Kết quả rà soát từng xã / outcome per commune")
    except Exception as exc:  # the reviews are done; a missing artifact must not fail the run
        province_log.warning("artifacts:failed %s", type(exc).__name__)
    failed = int(counts.get(FAILED, 0))
    if failed:  # every commune ran; the run still shows red, naming how many failed
        return Failed(message=f"{failed} of {len(table)} communes failed", data=table)
    return table


def task_runner(address: str | None = None, workers: int | None = None, communes: int | None = None):
    """A DaskTaskRunner: on the cluster at `address`, else a temporary local one of worker processes."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    n = workers or os.cpu_count() or 1
    if communes:
        n = min(n, communes)  # an idle worker process costs memory and start-up time
    # one thread per process: the review is pandas and file writing, which hold the GIL
    return DaskTaskRunner(cluster_kwargs={"n_workers": max(n, 1), "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": ":0"})  # any free port: no clash with another cluster


def _api_settings():
    """Without PREFECT_API_URL, start Prefect's embedded server here and name it in the settings.

    The settings travel with each task to the Dask workers; otherwise every worker process would
    start its own embedded server on the same database.
    """
    from contextlib import nullcontext

    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        return nullcontext()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    return temporary_settings(updates={PREFECT_API_URL: server.api_url})


def province_flow(communes: list, reference_year: int | None = None, pull: bool = True, address: str | None = None,
                  workers: int | None = None, lock_wait_seconds: float | None = None) -> pd.DataFrame:
    """Review every commune, each as one task on Dask; the outcome table (one row per commune, in order).

    `communes`: `Commune`s or (name, config_dir, data_dir) tuples. `address`: an existing Dask
    scheduler (tcp://host:8786); else a local cluster of `workers` processes (default: the cores).
    """
    if shared_store_problem():  # refuse before starting any worker
        raise ConfigError(shared_store_problem())
    communes = [c if isinstance(c, Commune) else Commune(str(c[0]), Path(c[1]).resolve(), Path(c[2]).resolve())
                for c in communes]
    runner = task_runner(address, workers, len(communes))
    with _api_settings():
        state = province_review.with_options(task_runner=runner)(communes, reference_year, pull, lock_wait_seconds,
                                                                 return_state=True)
    table = state.result(raise_on_failure=False)  # Failed when a commune failed, the outcome table still its data
    if isinstance(table, BaseException):  # the flow itself broke: no table to show
        raise table
    return table
