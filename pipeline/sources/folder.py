"""ODK Central exports dropped into a folder: CSV zip exports, loose CSVs, OData JSON pages.

`read_export_folder` reads the folder's files (not sub-folders) in sorted name order and turns
every submission into a `RawSubmission`, kept as received. Whatever cannot be read becomes a
`SourceProblem` naming the file and the record; everything else still proceeds. Zip archives are
read in memory, never extracted. Files other than .zip, .csv and .json are ignored.

Row numbers in problems count like a spreadsheet: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import CENTRAL_CSV, CENTRAL_ODATA, RawSubmission, SourceProblem

__all__ = ["FolderRead", "read_export_folder", "odata_element", "DEFAULT_FORM_ID"]

DEFAULT_FORM_ID = "rasoat_household"
MAX_MEMBER_BYTES = 2 * 1024**3  # a zip member larger than this, uncompressed, is refused
_ODATA_FORM = re.compile(r"forms/([^/?#]+)\.svc")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FolderRead:
    submissions: list[RawSubmission] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # names of the files read, in order


# --- CSV tables -------------------------------------------------------------------------------


@dataclass
class _Table:
    source: str  # "file.csv" or "export.zip:member.csv"
    stem: str  # file name without .csv
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (spreadsheet row number, cells)
    kind: str  # "main" or "repeat"


def _is_bad_text(text: str) -> bool:
    """True when the text came from bytes that are not UTF-8 (decoded with surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parse_csv(data: bytes, source: str, stem: str, problems: list[SourceProblem]) -> _Table | None:
    if data.startswith(_BOM):  # the utf-8-sig rule, applied to the bytes
        data = data[len(_BOM) :]
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:
        problems.append(
            SourceProblem(source, f"row {len(records) + 1}", "", f"unreadable CSV: {exc}; "
                          "the rest of this file is not read")
        )
    if not records or not any(cell for cell in records[0]):
        problems.append(SourceProblem(source, "", "", "empty CSV file: no header row"))
        return None
    header = records[0]
    if any(_is_bad_text(h) for h in header):
        problems.append(
            SourceProblem(source, "row 1", "", "the header row has bytes that are not UTF-8; "
                          "file not read (export it again as UTF-8)")
        )
        return None
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        problems.append(
            SourceProblem(source, "row 1", ", ".join(duplicated),
                          "duplicate column names in the header; file not read")
        )
        return None
    if header[0] == "SubmissionDate":
        kind = "main"
    elif len(header) >= 2 and header[-2:] == ["PARENT_KEY", "KEY"]:
        kind = "repeat"
    else:
        problems.append(
            SourceProblem(source, "", "", "not an ODK Central export table: the header neither "
                          "starts with SubmissionDate nor ends with PARENT_KEY, KEY")
        )
        return None
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(records[1:], start=2):
        if not cells:  # a blank line
            continue
        if len(cells) != len(header):
            problems.append(
                SourceProblem(source, f"row {number}", "", f"row has {len(cells)} cells but the "
                              f"header has {len(header)} columns; row not read")
            )
            continue
        bad = [h for h, c in zip(header, cells) if _is_bad_text(c)]
        if bad:
            problems.append(
                SourceProblem(source, f"row {number}", ", ".join(bad),
                              "cell has bytes that are not UTF-8; row not read")
            )
            continue
        rows.append((number, cells))
    return _Table(source=source, stem=stem, header=header, rows=rows, kind=kind)


def _csv_group(
    tables: list[_Table], problems: list[SourceProblem]
) -> list[RawSubmission]:
    """Join main tables with their repeat tables (one zip, or the loose CSVs of the folder)."""
    mains: dict[str, _Table] = {}
    for table in tables:
        if table.kind != "main":
            continue
        if table.stem in mains:
            problems.append(SourceProblem(table.source, "", "", f"a second main table for form "
                                          f"{table.stem!r} (first: {mains[table.stem].source}); "
                                          "file not read"))
            continue
        mains[table.stem] = table

    # repeat tables, by form: {form_id: {repeat_name: table}}
    repeats: dict[str, dict[str, _Table]] = {stem: {} for stem in mains}
    unusable_mains: set[str] = set()
    for table in tables:
        if table.kind != "repeat":
            continue
        owners = [s for s in mains if table.stem.startswith(s + "-")]
        if not owners:
            problems.append(SourceProblem(table.source, "", "", "repeat table without its main "
                                          "table (expected <form_id>.csv beside it); "
                                          f"{len(table.rows)} rows not read"))
            continue
        form_id = max(owners, key=len)
        name = table.stem[len(form_id) + 1 :]
        repeats[form_id][name] = table

    submissions: list[RawSubmission] = []
    for form_id, main in mains.items():
        header = main.header
        if "KEY" not in header:
            problems.append(SourceProblem(main.source, "", "KEY", "the main table has no KEY "
                                          "column; file not read"))
            unusable_mains.add(form_id)
            for rep in repeats[form_id].values():
                problems.append(SourceProblem(rep.source, "", "PARENT_KEY", f"its main table "
                                              f"{main.source} could not be read; "
                                              f"{len(rep.rows)} rows not read"))
            continue
        col = {h: i for i, h in enumerate(header)}
        keyed: dict[str, tuple[int, dict[str, str]]] = {}
        for number, cells in main.rows:
            key = cells[col["KEY"]]
            if not key:
                problems.append(SourceProblem(main.source, f"row {number}", "KEY",
                                              "empty KEY; row not read"))
                continue
            if key in keyed:
                problems.append(SourceProblem(main.source, key, "KEY", f"KEY repeated on row "
                                              f"{number} (first on row {keyed[key][0]}); "
                                              "the repeated row is not read"))
                continue
            keyed[key] = (number, dict(zip(header, cells)))

        members: dict[str, dict[str, list[dict[str, str]]]] = {
            key: {name: [] for name in sorted(repeats[form_id])} for key in keyed
        }
        for name, rep in sorted(repeats[form_id].items()):
            for number, cells in rep.rows:
                parent = cells[-2]
                # a top-level repeat points at the main KEY; a nested one at "<KEY>/group[n]"
                root = parent if parent in keyed else parent.split("/", 1)[0]
                if root not in keyed:
                    problems.append(SourceProblem(rep.source, f"row {number}", "PARENT_KEY",
                                                  f"PARENT_KEY {parent!r} matches no submission "
                                                  f"in {main.source}; row not read"))
                    continue
                members[root][name].append(dict(zip(rep.header, cells)))

        for key, (_number, row) in keyed.items():
            payload = json.dumps(
                {"row": row, "repeats": members[key]}, ensure_ascii=False, sort_keys=True
            )
            submissions.append(
                RawSubmission(
                    submission_id=key,
                    instance_id=row.get("meta-instanceID") or key,
                    form_id=form_id,
                    form_version=row.get("FormVersion", ""),
                    submitted_at=row.get("SubmissionDate", ""),
                    updated_at=None,
                    review_state=row.get("ReviewState") or None,
                    payload_format=CENTRAL_CSV,
                    payload=payload,
                    source=main.source,
                )
            )
    return submissions


def _safe_member_name(name: str) -> bool:
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        return False
    if re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def _read_zip(path: Path, problems: list[SourceProblem]) -> list[RawSubmission]:
    tables: list[_Table] = []
    try:
        with zipfile.ZipFile(path) as archive:
            seen: set[str] = set()
            for info in archive.infolist():
                name = info.filename
                if info.is_dir():
                    continue
                if not _safe_member_name(name):
                    problems.append(SourceProblem(f"{path.name}:{name}", "", "", "unsafe member "
                                                  "path in the zip (absolute or '..'); not read"))
                    continue
                if not name.lower().endswith(".csv"):
                    continue  # attachments (media/...) and anything else
                source = f"{path.name}:{name}"
                base = PurePosixPath(name).name
                if base in seen:
                    problems.append(SourceProblem(source, "", "", f"a second {base} in the zip; "
                                                  "not read"))
                    continue
                seen.add(base)
                if info.file_size > MAX_MEMBER_BYTES:
                    problems.append(SourceProblem(source, "", "", f"member is {info.file_size} "
                                                  "bytes uncompressed, over the limit; not read"))
                    continue
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
                        NotImplementedError, ValueError) as exc:
                    problems.append(SourceProblem(source, "", "", f"cannot read the zip member: "
                                                  f"{exc}"))
                    continue
                table = _parse_csv(data, source, base[: -len(".csv")], problems)
                if table is not None:
                    tables.append(table)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        problems.append(SourceProblem(path.name, "", "", f"not a readable zip file: {exc}"))
        return []
    return _csv_group(tables, problems)


# --- OData JSON pages -------------------------------------------------------------------------


def _read_odata(path: Path, default_form_id: str, problems: list[SourceProblem]) -> list[RawSubmission]:
    source = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.append(SourceProblem(source, "", "", f"cannot read the file: {exc}"))
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(SourceProblem(source, f"line {line}", "", "bytes that are not UTF-8 "
                                      f"(offset {exc.start}); file not read"))
        return []
    try:
        page = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(SourceProblem(source, f"line {exc.lineno}", "", f"invalid JSON: {exc.msg} "
                                      f"(line {exc.lineno}, column {exc.colno}); file not read"))
        return []
    except RecursionError:
        problems.append(SourceProblem(source, "", "", "JSON nested too deeply; file not read"))
        return []
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        problems.append(SourceProblem(source, "", "value", "not an OData Submissions page: "
                                      "expected an object with a \"value\" list; file not read"))
        return []
    form_id = default_form_id
    context = page.get("@odata.context")
    if isinstance(context, str):
        match = _ODATA_FORM.search(context)
        if match:
            form_id = urllib.parse.unquote(match.group(1))

    submissions: list[RawSubmission] = []
    seen: dict[str, int] = {}
    for index, element in enumerate(page["value"], start=1):
        sub_id = element.get("__id") if isinstance(element, dict) else None
        if isinstance(sub_id, str) and sub_id in seen:
            problems.append(SourceProblem(source, sub_id, "__id", f"__id repeated in element "
                                          f"{index} (first in element {seen[sub_id]}); not read"))
            continue
        read = odata_element(element, form_id, source, f"element {index}")
        if isinstance(read, SourceProblem):
            problems.append(read)
            continue
        seen[read.submission_id] = index
        submissions.append(read)
    return submissions


def odata_element(element: object, form_id: str, source: str, record: str = "") -> RawSubmission | SourceProblem:
    """One element of an OData `value` array (Central, `$expand=*`) as a `RawSubmission`, kept as received.

    The one conversion of OData elements: export folders and the Central sync both use it.
    `record` names the element in a problem when it has no usable `__id`.
    """
    if not isinstance(element, dict):
        return SourceProblem(source, record, "", "element is not a JSON object; not read")
    sub_id = element.get("__id")
    if not isinstance(sub_id, str) or not sub_id:
        return SourceProblem(source, record, "__id", "element has no __id; not read")
    system = element.get("__system")
    system = system if isinstance(system, dict) else {}
    submitted_at = system.get("submissionDate")
    if not isinstance(submitted_at, str) or not submitted_at:
        return SourceProblem(source, sub_id, "__system.submissionDate",
                             "element has no __system.submissionDate; not read")
    meta = element.get("meta")
    instance_id = meta.get("instanceID") if isinstance(meta, dict) else None

    def text_or_none(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    return RawSubmission(
        submission_id=sub_id,
        instance_id=instance_id if isinstance(instance_id, str) and instance_id else sub_id,
        form_id=form_id,
        form_version=str(system.get("formVersion") or ""),
        submitted_at=submitted_at,
        updated_at=text_or_none(system.get("updatedAt")),
        review_state=text_or_none(system.get("reviewState")),
        payload_format=CENTRAL_ODATA,
        payload=json.dumps(element, ensure_ascii=False, sort_keys=True),
        source=source,
    )


# --- the folder -------------------------------------------------------------------------------


def read_export_folder(folder: Path, form_id: str = DEFAULT_FORM_ID) -> FolderRead:
    """Read every Central export file directly inside `folder`, in sorted file-name order.

    `form_id` is used for OData pages whose `@odata.context` does not name the form.
    """
    folder = Path(folder)
    submissions: list[RawSubmission] = []
    problems: list[SourceProblem] = []
    files: list[str] = []
    if not folder.is_dir():
        problems.append(SourceProblem(str(folder), "", "", "export folder not found"))
        return FolderRead(submissions, problems, files)

    per_file: dict[str, list[RawSubmission]] = {}
    loose_csv: list[_Table] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix == ".zip":
            files.append(path.name)
            per_file[path.name] = _read_zip(path, problems)
        elif suffix == ".json":
            files.append(path.name)
            per_file[path.name] = _read_odata(path, form_id, problems)
        elif suffix == ".csv":
            files.append(path.name)
            per_file[path.name] = []
            try:
                data = path.read_bytes()
            except OSError as exc:
                problems.append(SourceProblem(path.name, "", "", f"cannot read the file: {exc}"))
                continue
            table = _parse_csv(data, path.name, path.name[: -len(path.suffix)], problems)
            if table is not None:
                loose_csv.append(table)
    # Loose CSVs join up only once all are read (a repeat table may sort before its main table);
    # their submissions then take the place of their main table's file.
    for sub in _csv_group(loose_csv, problems):
        per_file[sub.source].append(sub)
    for name in files:
        submissions.extend(per_file[name])
    return FolderRead(submissions, problems, files)
