"""The review as a Prefect flow: pull → store raw → clean → classify → aggregate → publish.

A few coarse tasks passing tables (Prefect costs milliseconds per task run, so never one per
household). Only the pull talks to the outside world and may be retried. The flow runs on
Prefect's embedded server when no PREFECT_API_URL is set, or on a real server when one is.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

import rasoat
from rasoat.forms import Questionnaire, build
from rasoat.pipeline import aggregate, checks, classify, corrections, csv_rows, quality, tidy
from rasoat.pipeline import facts as facts_mod
from rasoat.pipeline import history as history_mod
from rasoat.pipeline import movements as movements_mod
from rasoat.pipeline import points as points_mod
from rasoat.pipeline.publish import (LIST_COLUMNS, PARALLEL_FROM, CsvParts, PublicationHeading, current_publication, member_list, printable_lists,
                                     publish, remove_incomplete)
from rasoat.pipeline.cycles import rare_cycle_collection
from rasoat.pipeline.runlock import run_lock
from rasoat.pipeline.rawstore import RawStore, current_versions, default_store_url, redacted_url
from rasoat.pipeline.sources.folder import read_export_folder
from rasoat.pipeline.stored_tidy import tidy_stored
from rasoat.pipeline.workers import release_freed_memory, run_parts, worker_pool, workers_for
from rasoat.settings import Settings, load_settings

# Stage progress goes to this logger (counts and IDs only, never names or ID numbers);
# the command line turns it into a progress bar.
stage_log = logging.getLogger("rasoat.stages")


@dataclass(frozen=True)
class DataFolder:
    """One commune's data folder: inbox, raw store, publications. Never edited in place."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def publications(self) -> Path:
        return self.root / "publications"

    @property
    def corrections(self) -> Path:
        """Officers' corrections: corrections.csv or corrections.xlsx (see `rasoat.pipeline.corrections`)."""
        return self.root / "corrections"

    @property
    def history(self) -> Path:
        """Imported official lists of earlier years (`rasoat import-list`; see `rasoat.pipeline.history`)."""
        return self.root / "history"


@dataclass(frozen=True)
class ReviewResult:
    publication: Path
    reference_year: int
    rule_set_version: str
    provisional: bool
    by_hamlet: pd.DataFrame
    households_classified: int
    households_excluded: int
    issues: int
    errors: int
    new_versions: int
    source_problems: int
    corrections_applied: int = 0
    corrections_not_applied: int = 0
    class_changes: pd.DataFrame | None = None  # households whose class changed since the previous publication
    movements: pd.DataFrame | None = None  # per household: start-of-year class, this year's class, the movement


def questionnaire_for(settings: Settings, reference_year: int | None = None) -> Questionnaire:
    return build.questionnaire_for(settings, reference_year)


def ensure_demo_inbox(settings: Settings, folder: DataFolder) -> Path | None:
    """With the `synthetic` source and an empty inbox, write the example commune's export there.

    The export is exactly what ODK Central's CSV download gives, so the demo exercises the same
    path real data takes. Returns the file written, or None when nothing was needed.
    """
    from rasoat.pipeline import synthetic

    folder.inbox.mkdir(parents=True, exist_ok=True)
    if settings.source.kind != "synthetic" or any(folder.inbox.iterdir()):
        return None
    questionnaire = questionnaire_for(settings)
    submissions = synthetic.generate_commune(list(settings.hamlets), questionnaire, seed=settings.source.synthetic_seed)
    target = folder.inbox / f"{questionnaire.form_id}.csv.zip"
    synthetic.write_central_csv_zip(submissions, questionnaire, target)
    return target


def store_url(settings: Settings, folder: DataFolder) -> str:
    """RASOAT_STORE_URL (keeps a database password out of the config folder), else config, else SQLite."""
    return os.environ.get("RASOAT_STORE_URL") or settings.store.url or default_store_url(folder.root)


@task(name="pull", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def pull_task(folder: DataFolder, url: str, form_id: str, settings: Settings | None = None) -> tuple[dict, list]:
    """Sync the field server (when the source is one), then read the inbox folder; store both raw."""
    stage_log.info("pull:start")
    served, problems = {"received": 0, "new_versions": 0, "unchanged": 0}, []
    if settings is not None and settings.source.kind in ("central", "kobo"):
        from rasoat.pipeline.sources.sync import pull_from_server

        served, problems = pull_from_server(settings, folder, form_id=form_id, store_url=url)
    read = read_export_folder(folder.inbox, form_id=form_id)
    with RawStore(url) as store:
        report = store.ingest(read.submissions)
    stage_log.info("pull:done server_new=%d files=%d received=%d new=%d problems=%d store=%s", served["new_versions"], len(read.files),
                   report.received, report.new_versions, len(read.problems) + len(problems), redacted_url(url))
    return {"received": report.received + served["received"], "new_versions": report.new_versions + served["new_versions"],
            "unchanged": report.unchanged + served["unchanged"], "files": read.files}, [*problems, *read.problems]


@dataclass(frozen=True)
class CleanReport:
    """What the clean step found besides the checked tables: the corrections' audit, every household."""

    corrections: pd.DataFrame  # corrections.AUDIT_COLUMNS, one row per correction
    households: pd.DataFrame  # every current household after corrections (kept and excluded)
    inputs: pd.DataFrame | None = None  # the input snapshot: submission_id, instance_id, checksum


def input_snapshot(current: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, str]:
    """(the rows' order by submission id, the snapshot: submission, instance and checksum in that
    order, the SHA-256 of its `to_csv(index=False)`) of the current versions read."""
    order = current["submission_id"].argsort(kind="stable").to_numpy()  # submission ids are unique
    snapshot = current[["submission_id", "instance_id", "checksum"]].iloc[order]
    return order, snapshot, hashlib.sha256(csv_rows.frame_csv(snapshot)).hexdigest()  # to_csv's bytes, made in Arrow


# What the clean step reads of the version index: to pick the current versions (times, review
# state), to tidy them and to list them in the input snapshot.
REVIEW_INDEX_COLUMNS = ("store_id", *tidy.META_COLUMNS, "updated_at", "payload_format", "checksum")


@task(name="clean", cache_policy=NO_CACHE)
def clean_task(url: str, settings: Settings, questionnaire: Questionnaire, source_problems: list,
               corrections_dir: Path | None = None) -> tuple[checks.CheckedTables, dict, CleanReport]:
    stage_log.info("clean:start")
    with RawStore(url) as store:
        versions = store.versions(payloads=False, columns=REVIEW_INDEX_COLUMNS)
    current, by_state = current_versions(versions, set(settings.review.processed_review_states))
    stored_versions = len(versions)
    del versions  # a province's index is a gigabyte of text: keep only what the steps below read
    stage_log.info("clean:loaded versions=%d current=%d", stored_versions, len(current))
    current_count = len(current)
    # the snapshot's digest is worked out while the worker processes tidy (~2.6 s at a million households)
    with ThreadPoolExecutor(1) as background:
        snapshot_job = background.submit(input_snapshot, current[["submission_id", "instance_id", "checksum"]])
        tidy_tables = tidy_stored(url, current[["store_id", *tidy.META_COLUMNS, "payload_format"]], questionnaire)
        del current
        order, snapshot, digest = snapshot_job.result()
    # the same ids as the households hold them (one row per current submission, in its order): one copy of a province's ids
    ids = tidy_tables.households[["submission_id", "instance_id"]].iloc[order]
    if len(ids) == len(snapshot) and all((ids[c].to_numpy() == snapshot[c].to_numpy()).all() for c in ids):
        snapshot = snapshot.assign(**{c: pd.Series(ids[c].to_numpy(), index=snapshot.index, dtype=snapshot[c].dtype) for c in ids})
    stage_log.info("clean:tidied households=%d members=%d", len(tidy_tables.households), len(tidy_tables.members))
    ledger = corrections.read_corrections(corrections_dir) if corrections_dir is not None else pd.DataFrame(columns=corrections.CORRECTION_COLUMNS)
    tidy_tables, audit = corrections.apply_corrections(tidy_tables, ledger, questionnaire)
    stage_log.info("clean:corrections rows=%d applied=%d not_applied=%d", len(audit), int(audit["applied"].sum()),
                   int((~audit["applied"]).sum()))
    checked = checks.check_tables(tidy_tables, questionnaire, settings.commune.bounding_box)
    stage_log.info("clean:checked issues=%d", len(checked.issues))
    problems = pd.DataFrame(
        [{"submission_id": p.record, "field": p.field, "value": p.source, "rule": "unreadable_source", "severity": tidy.ERROR,
          "message": p.message} for p in source_problems],
        columns=tidy.ISSUE_COLUMNS,
    )
    issues = pd.concat([checked.issues, problems], ignore_index=True) if len(problems) else checked.issues
    excluded = pd.concat(
        [checked.excluded, by_state.assign(household_id=None, hamlet=None)[["submission_id", "household_id", "hamlet", "reason"]]],
        ignore_index=True,
    )
    stage_log.info("clean:done current=%d households=%d excluded=%d issues=%d", current_count, len(checked.households),
                   len(excluded), len(issues))
    inputs = {"stored_versions": stored_versions, "current_submissions": current_count + len(by_state),
              "excluded_by_review_state": len(by_state), "snapshot_sha256": digest}
    return checks.CheckedTables(checked.households, checked.members, excluded, issues), inputs, CleanReport(audit, tidy_tables.households, snapshot)


def load_clean_tables(settings: Settings, data_dir: Path, reference_year: int | None = None) -> checks.CheckedTables:
    """The stored households, tidied, corrected and checked, without Prefect (for `rasoat compare`).

    Reads only the raw store and the corrections; never the inbox or the network.
    """
    folder = DataFolder(Path(data_dir))
    questionnaire = questionnaire_for(settings, reference_year)
    checked, _, _ = clean_task.fn(store_url(settings, folder), settings, questionnaire, [], folder.corrections)
    return checked


@task(name="report", cache_policy=NO_CACHE)
def report_task(classified: pd.DataFrame, checked: checks.CheckedTables, report: CleanReport, settings: Settings,
                questionnaire: Questionnaire, folder: DataFolder, published_on: date, reference_year: int | None = None,
                movements: pd.DataFrame | None = None) -> tuple[dict, dict, pd.DataFrame]:
    """The quality report, the corrections' audit, the households record and the diff with the last publication.

    Returns (extra tables for the workbook, extra files by relative path, the class changes).
    """
    stage_log.info("report:start")
    hamlet_names = {h.code: h.name for h in settings.hamlets}
    ruleset = settings.ruleset_for(reference_year) if reference_year is not None else None
    # A province's hamlets' movement lists and quality reports (a workbook or two each) are rendered
    # by worker processes while this process makes the other files: otherwise one core idles through
    # ~20 s of them at a million households. A commune renders them here, at the end.
    workers = workers_for(len(classified), PARALLEL_FROM, len(hamlet_names))
    with worker_pool(workers) as pool, ThreadPoolExecutor(1) as background:
        rendered: list = []  # the workers' {path: bytes} per hamlet, as futures
        if ruleset is not None and movements is not None:
            heading = publication_heading(settings, ruleset, reference_year, classified, published_on)
            commune_lists = movements_mod.movement_lists(movements, movements_mod.reasons_by_submission(classified))
            by_hamlet = movements_mod.hamlet_movement_lists(commune_lists, list(hamlet_names))
            jobs = [(by_hamlet[code], heading, f"hamlets/{code}/bien-dong", "bien-dong", name) for code, name in hamlet_names.items()]
            if pool is not None:
                rendered.append(background.submit(run_parts, printable_lists, jobs, workers, pool))
                del jobs
            commune_movement_files = printable_lists(commune_lists, heading, "commune/bien-dong", "bien-dong")
            del by_hamlet, commune_lists  # (as files: a million households' lists are not held through the rest)
        record = corrections.households_record(classified, checked.excluded)
        previous_folder = current_publication(folder.publications)
        previous = corrections.read_households_record(previous_folder / "commune" / "households.csv") if previous_folder else None
        changes = corrections.class_changes(previous, record, report.corrections)
        del previous
        commune_report, *hamlet_reports = quality.report_pages(checked.issues, report.households, checked.excluded, questionnaire,
                                                               hamlet_names=hamlet_names, commune_name=settings.commune.name,
                                                               published_on=published_on)
        if pool is not None:
            rendered.append(background.submit(run_parts, quality.rendered_report, [(page,) for page in hamlet_reports], workers, pool))
            background.submit(pool.executor.shutdown)  # the workers exit once done: their memory is not held through the rest
            del hamlet_reports
        files = quality.rendered_report(commune_report)
        files["commune/households.csv"] = CsvParts.rows_of(record)
        # who lives in each listed household, for the certificates `rasoat round documents` prints
        files["commune/thanh-vien.csv"] = CsvParts.rows_of(member_list(classified, checked.members,
                                                                       questionnaire.choice_labels.get("relationship", {})))
        if report.inputs is not None:  # which raw submission versions this publication read, with checksums
            files["inputs.csv"] = CsvParts.rows_of(report.inputs.reset_index(drop=True))
        # next year's phones preload this publication's households (rasoat forms build reads the same record)
        preloaded = record.loc[(record["household_class"] != corrections.EXCLUDED).to_numpy(dtype=bool), list(build.PRELOAD_COLUMNS)]
        files["preload/previous_households.csv"] = build.previous_households_csv(preloaded)  # (its columns only: no copy of the whole record)
        if ruleset is not None and ruleset.indicators:  # the facts are worked out as the file is written, a part at a time
            files["commune/chi-tiet-chi-so.csv"] = facts_mod.facts_detail_parts(classified, checked.members, ruleset, fact_labels())
        if ruleset is not None and movements is not None:
            files.update(commune_movement_files)
            files["commune/bien-dong/movements.csv"] = CsvParts.rows_of(movements)
        if pool is None:
            parts = [*(run_parts(printable_lists, jobs, 1) if ruleset is not None and movements is not None else []),
                     *(quality.rendered_report(page) for page in hamlet_reports)]
        else:
            parts = [part for future in rendered for part in future.result()]
            release_freed_memory()  # what the thread that waited for the workers allocated, in its own heap
        for part in parts:
            files.update(part)
    tables = {"Sửa lỗi đã ghi nhận": corrections.audit_table(report.corrections),
              "Thay đổi so với lần trước": corrections.class_changes_table(changes)}
    stage_log.info("report:done files=%d class_changes=%d previous=%s", len(files), len(changes),
                   previous_folder.name if previous_folder else "none")
    return tables, files, changes


def fact_labels() -> facts_mod.Labels:
    from rasoat.forms import load_questionnaire

    return facts_mod.labels_from_questionnaire(load_questionnaire())


def with_points(classified: pd.DataFrame, members: pd.DataFrame, settings: Settings, ruleset) -> pd.DataFrame:
    """With a points table, both methods side by side (and the points' class when the commune uses them).

    The facts per indicator are not columns here: the detail CSV works them out a part at a time."""
    if settings.points_table is not None:
        classified = points_mod.classify_by_points(classified, members, ruleset, settings.points_table)
        if settings.review.classification_method == "points" and points_mod.points_applicable(ruleset, settings.points_table):
            classified = points_mod.use_points_as_class(classified)
    return classified


@task(name="history", cache_policy=NO_CACHE)
def movements_task(classified: pd.DataFrame, folder: DataFolder, reference_year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history of earlier years, movements per household) from earlier publications and imported official lists."""
    history = history_mod.load_history(folder.root, reference_year)
    movements = movements_mod.household_movements(classified, history, reference_year)
    stage_log.info("history:done years=%s households=%d", ",".join(str(y) for y in sorted(set(history["year"]))) or "none", len(movements))
    return history, movements


def publication_heading(settings: Settings, ruleset, reference_year: int, classified: pd.DataFrame, published_on: date) -> PublicationHeading:
    return PublicationHeading(
        authority=settings.commune.authority, commune_name=settings.commune.name, province=settings.commune.province,
        reference_year=reference_year, rule_set_version=ruleset.label,
        provisional=bool(ruleset.provisional or classified["provisional"].any()), published_on=published_on,
    )


@task(name="classify", cache_policy=NO_CACHE)
def classify_task(checked: checks.CheckedTables, settings: Settings, reference_year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(classified households, issue rows where the phone's summary disagrees)."""
    stage_log.info("classify:start")
    ruleset = settings.ruleset_for(reference_year)
    classified = classify.classify_households(checked.households, checked.members, ruleset, settings.hamlets)
    stage_log.info("classify:classes households=%d", len(classified))
    classified = with_points(classified, checked.members, settings, ruleset)
    hamlet_names = {h.code: h.name for h in settings.hamlets}
    classified["hamlet_name"] = classified["hamlet"].map(hamlet_names)
    stage_log.info("classify:done households=%d poor=%d near_poor=%d rule_set=%s", len(classified),
                   int((classified["household_class"] == classify.POOR).sum()),
                   int((classified["household_class"] == classify.NEAR_POOR).sum()), ruleset.version)
    return classified, classify.phone_disagreements(classified, ruleset)


@task(name="aggregate", cache_policy=NO_CACHE)
def aggregate_task(classified: pd.DataFrame, checked: checks.CheckedTables, settings: Settings, reference_year: int,
                   movements: pd.DataFrame | None = None) -> aggregate.IndicatorTables:
    stage_log.info("aggregate:start")
    ruleset = settings.ruleset_for(reference_year)
    tables = aggregate.build_indicator_tables(classified, checked.members, checked.excluded, checked.issues, settings.hamlets,
                                              ruleset, settings.targets, reference_year, reports=settings.reports,
                                              movements=movements, labels=fact_labels().columns)
    if settings.points_table is not None and "points_class" in classified:
        tables.tables["So sánh hai phương pháp"] = points_mod.methods_side_by_side(classified, settings.points_table)
    stage_log.info("aggregate:done tables=%d", len(tables.tables))
    return tables


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(classified: pd.DataFrame, tables: aggregate.IndicatorTables, settings: Settings, folder: DataFolder,
                 reference_year: int, manifest: dict, published_on: date, extra_tables: dict | None = None,
                 files: dict | None = None) -> Path:
    stage_log.info("publish:start")
    ruleset = settings.ruleset_for(reference_year)
    heading = publication_heading(settings, ruleset, reference_year, classified, published_on)
    path = publish(classified, {**tables.tables, **(extra_tables or {})}, heading, manifest, folder.publications, charts=tables.charts,
                   hamlets={h.code: h.name for h in settings.hamlets}, files=files)
    stage_log.info("publish:done publication=%s", path.name)
    return path


@flow(name="review", log_prints=False, validate_parameters=False)
def review_flow(data_dir: str, config_dir: str | None = None, reference_year: int | None = None, pull: bool = True,
                lock_wait_seconds: float | None = None, rule_set: str | None = None) -> ReviewResult:
    """One review run. `pull=False` is a rerun: the stored raw data only, no source read.

    Holds `<data_dir>/run.lock` for the whole run; raises `RunSkipped` when another run holds it
    for longer than `lock_wait_seconds` (default 10 s, or RASOAT_LOCK_WAIT_SECONDS).
    """
    with run_lock(data_dir, lock_wait_seconds):
        remove_incomplete(DataFolder(Path(data_dir)).publications)  # what a killed run left; no other run is going
        result = _review(data_dir, config_dir, reference_year, pull, rule_set=rule_set)
    attach_artifacts(result)
    return result


@flow(name="rerun", log_prints=False, validate_parameters=False)
def rerun_flow(data_dir: str, config_dir: str | None = None, reference_year: int | None = None,
               lock_wait_seconds: float | None = None, rule_set: str | None = None) -> ReviewResult:
    """Process and publish again from the stored raw data with the current corrections; no network, no inbox."""
    with run_lock(data_dir, lock_wait_seconds):
        remove_incomplete(DataFolder(Path(data_dir)).publications)
        result = _review(data_dir, config_dir, reference_year, pull=False, rule_set=rule_set)
    attach_artifacts(result)
    return result


def attach_artifacts(result: ReviewResult) -> None:
    """The run's per-hamlet counts and a link to its publication, as Prefect artifacts (counts and IDs only)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    columns = [c for c in ("hamlet", "reviewed", "poor", "poor_rate", "near_poor", "near_poor_rate") if c in result.by_hamlet]
    table = [{c: (v.item() if hasattr(v, "item") else v) for c, v in row.items()}
             for row in result.by_hamlet[columns].to_dict("records")]
    try:
        create_table_artifact(table, key="review-by-hamlet",
                              description=f"Hộ nghèo, cận nghèo theo ấp — {result.publication.name}")
        create_markdown_artifact(
            f"## Publication {result.publication.name}\n\n"
            f"[{result.publication}]({result.publication.resolve().as_uri()})\n\n"
            f"| | |\n|---|---|\n| reference year | {result.reference_year} |\n| rule set | {result.rule_set_version} |\n"
            f"| households classified | {result.households_classified} |\n| excluded or waiting | {result.households_excluded} |\n"
            f"| issues (errors) | {result.issues} ({result.errors}) |\n| new versions stored | {result.new_versions} |\n"
            f"| corrections applied | {result.corrections_applied} |\n",
            key="review-publication", description="The publication this run made current")
    except Exception as exc:  # the publication is done; a missing artifact must not fail the run
        stage_log.warning("artifacts:failed %s", type(exc).__name__)


@dataclass(frozen=True)
class ReviewSteps:
    """The review's steps: Prefect tasks in the flows, their plain functions in benchmarks.

    One wiring (`_review`) serves both, so a benchmark measures exactly what a run does and the
    difference between the two is Prefect's own overhead.
    """

    pull: object
    clean: object
    classify: object
    movements: object
    aggregate: object
    report: object
    publish: object

    def plain(self) -> ReviewSteps:
        return ReviewSteps(*(getattr(step, "fn", step) for step in (self.pull, self.clean, self.classify, self.movements,
                                                                     self.aggregate, self.report, self.publish)))


@rare_cycle_collection()
def _review(data_dir: str, config_dir: str | None = None, reference_year: int | None = None, pull: bool = True,
            steps: ReviewSteps | None = None, rule_set: str | None = None) -> ReviewResult:
    """The review's steps, run inside `review_flow` or `rerun_flow` (which hold the lock).

    `rule_set` (a rule set id) classifies under that rule set instead of the one of the year.
    """
    steps = steps or TASKS
    settings = load_settings(Path(config_dir) if config_dir else None).with_rule_set(rule_set)
    folder = DataFolder(Path(data_dir))
    year = reference_year or settings.review.reference_year
    ruleset = settings.ruleset_for(year)
    questionnaire = questionnaire_for(settings, year)
    url = store_url(settings, folder)
    pulled, problems = steps.pull(folder, url, questionnaire.form_id, settings) if pull else ({"received": 0, "new_versions": 0, "unchanged": 0, "files": []}, [])
    checked, inputs, clean_report = steps.clean(url, settings, questionnaire, problems, folder.corrections)
    release_freed_memory()  # each step's freed work goes back to the system, not kept for the next (a province: GBs)
    classified, disagreements = steps.classify(checked, settings, year)
    release_freed_memory()
    checked = checks.CheckedTables(checked.households, checked.members, checked.excluded,
                                   tidy.concat_issues([checked.issues, disagreements]))
    history, movements = steps.movements(classified, folder, year)
    tables = steps.aggregate(classified, checked, settings, year, movements)
    published_on = datetime.now(timezone.utc).date()
    extra_tables, files, changes = steps.report(classified, checked, clean_report, settings, questionnaire, folder, published_on,
                                               year, movements)
    audit = clean_report.corrections
    # Publishing reads only the lists' columns of the households and none of the members' answers (the
    # detail file keeps the few it reads, in `files`): a province's other answers, GBs, go first.
    classified = classified[list(LIST_COLUMNS)]
    # (empty copies: an empty slice would be a view keeping each whole column alive)
    checked = checks.CheckedTables(checked.households.iloc[:0].copy(), checked.members.iloc[:0].copy(), checked.excluded, checked.issues)
    del clean_report
    release_freed_memory()
    manifest = {
        "commune": settings.commune.name,
        "reference_year": year,
        "rule_set": {"id": ruleset.id, "version": ruleset.version, "provisional": ruleset.provisional, "file": Path(ruleset.source_file).name,
                     "label": ruleset.label,
                     "override": None if ruleset.override is None else {
                         "extends": ruleset.extends, "base_version": ruleset.base_version, "authority": ruleset.override.authority,
                         "decision": ruleset.override.decision, "file": Path(ruleset.source_file).name}},
        "history": {"years": sorted(int(y) for y in set(history["year"])), "sources": sorted(set(history["source"]))},
        "points_table": None if settings.points_table is None else {
            "id": settings.points_table.id, "example": settings.points_table.example,
            "method_deciding_class": settings.review.classification_method},
        "code_version": rasoat.__version__,
        "form": {"id": questionnaire.form_id, "version": questionnaire.version},
        "inputs": {**inputs, "files_read": pulled["files"], "new_versions": pulled["new_versions"]},
        "counts": {
            "households_classified": len(classified),
            "households_excluded": len(checked.excluded),
            "issues": len(checked.issues),
            "poor": int((classified["household_class"] == classify.POOR).sum()),
            "near_poor": int((classified["household_class"] == classify.NEAR_POOR).sum()),
            "corrections_applied": int(audit["applied"].sum()),
            "corrections_not_applied": int((~audit["applied"]).sum()),
            "class_changes": len(changes),
            "movements": {k: int(v) for k, v in movements["movement"].value_counts().sort_index().items()},
        },
        "hamlets_are_example": settings.hamlets_are_example,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    path = steps.publish(classified, tables, settings, folder, year, manifest, published_on, extra_tables, files)
    return ReviewResult(
        publication=path, reference_year=year, rule_set_version=ruleset.version,
        provisional=bool(ruleset.provisional or classified["provisional"].any()), by_hamlet=tables.by_hamlet,
        households_classified=len(classified), households_excluded=len(checked.excluded), issues=len(checked.issues),
        errors=int((checked.issues["severity"] == tidy.ERROR).sum()), new_versions=pulled["new_versions"],
        source_problems=len(problems), corrections_applied=int(audit["applied"].sum()),
        corrections_not_applied=int((~audit["applied"]).sum()), class_changes=changes, movements=movements,
    )


TASKS = ReviewSteps(pull_task, clean_task, classify_task, movements_task, aggregate_task, report_task, publish_task)
