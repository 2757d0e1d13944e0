"""Where submissions come from. Every source yields `RawSubmission` records, kept as received."""

from __future__ import annotations

from dataclasses import dataclass

# Payload formats, exactly as a server hands them out.
CENTRAL_ODATA = "central-odata"  # one object of an OData `value` array, repeats nested ($expand=*)
CENTRAL_CSV = "central-csv"  # {"row": {header: text}, "repeats": {name: [{header: text}, ...]}}
KOBO_JSON = "kobo-json"  # one record of KPI v2 `/data/` results: flat "group/field" keys, repeats as arrays


@dataclass(frozen=True)
class RawSubmission:
    """One version of one submission, as received from a server or an export file."""

    submission_id: str  # stable across edits: Central's __id / KEY
    instance_id: str  # this version: meta/instanceID
    form_id: str
    form_version: str
    submitted_at: str  # ISO 8601, when the server first received it
    updated_at: str | None  # ISO 8601, last edit or review on the server; None if never
    review_state: str | None  # Central: None (received), edited, hasIssues, approved, rejected
    payload_format: str  # CENTRAL_ODATA, CENTRAL_CSV or KOBO_JSON
    payload: str  # the record as received, as JSON text
    source: str  # where it was read from, e.g. the export file's name


@dataclass(frozen=True)
class SourceProblem:
    """Something a source could not read; reported, never silently dropped."""

    source: str  # file name
    record: str  # row number, KEY or "" when the whole file is affected
    field: str  # column or key, "" when not about one field
    message: str
