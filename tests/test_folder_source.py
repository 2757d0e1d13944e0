"""Reading ODK Central exports dropped into a folder."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
import zipfile
from pathlib import Path

from rasoat.pipeline.sources import CENTRAL_CSV, CENTRAL_ODATA, RawSubmission, SourceProblem
from rasoat.pipeline.sources.folder import FolderRead, read_export_folder

META = ["KEY", "SubmitterID", "SubmitterName", "AttachmentsPresent", "AttachmentsExpected",
        "Status", "ReviewState", "DeviceID", "Edits", "FormVersion"]
MAIN_HEADER = ["SubmissionDate", "started_at", "identification-hamlet",
               "identification-head_name", "identification-address", "household_size",
               "income-income_crops", "meta-instanceID", *META]
MEMBER_HEADER = ["member_name", "sex", "birth_year", "relationship", "PARENT_KEY", "KEY"]

NFD_NAME = unicodedata.normalize("NFD", "Lê Thị Hồng")


def main_row(key, *, name, date="2025-03-01T08:00:00.000Z", instance=None, review="",
             version="2025010101", address="Ấp Mẫu 1, xã Ví Dụ", size="2"):
    return [date, "2025-03-01T07:40:00.000+07:00", "EX01", name, address, size, "12000000",
            instance if instance is not None else key, key, "5", "Điều tra viên Hà", "0", "0",
            "", review, "collect:abc", "0", version]


def member_row(parent, n, *, name, sex="female", year="1980", rel="head"):
    return [name, sex, year, rel, parent, f"{parent}/member[{n}]"]


def csv_bytes(header, rows, *, bom=False, newline="\r\n") -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


MAIN_ROWS = [
    main_row("uuid:aaa", name="Nguyễn Văn Ân", review="approved"),
    main_row("uuid:bbb", name=NFD_NAME, instance="uuid:bbb-2", review="edited", size="1",
             address='Tổ 3, "ấp Mới",\nxã Ví Dụ'),  # quotes, comma and a newline in one cell
    main_row("uuid:ccc", name="Trần Văn Bảy", instance="", size="0"),  # no instanceID -> KEY
]
MEMBER_ROWS = [
    member_row("uuid:aaa", 1, name="Nguyễn Văn Ân", sex="male", year="1975"),
    member_row("uuid:aaa", 2, name="Phạm Thị Mai", rel="spouse", year="1978"),
    member_row("uuid:bbb", 1, name=NFD_NAME),
]


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def dict_of(header, row):
    return dict(zip(header, row))


def by_id(read: FolderRead) -> dict[str, RawSubmission]:
    return {s.submission_id: s for s in read.submissions}


def problems_of(read: FolderRead, source: str) -> list[SourceProblem]:
    return [p for p in read.problems if p.source == source]


# --- CSV exports ------------------------------------------------------------------------------


def test_central_csv_zip(tmp_path):
    write_zip(
        tmp_path / "rasoat_household.zip",
        {
            "rasoat_household.csv": csv_bytes(MAIN_HEADER, MAIN_ROWS, bom=True),
            "rasoat_household-member.csv": csv_bytes(MEMBER_HEADER, MEMBER_ROWS, bom=True),
            "media/photo.jpg": b"\xff\xd8\xff not a csv",
        },
    )
    (tmp_path / "notes.txt").write_text("không đọc", encoding="utf-8")
    (tmp_path / "subfolder").mkdir()
    (tmp_path / "subfolder" / "rasoat_household.csv").write_bytes(b"ignored: not recursive")

    read = read_export_folder(tmp_path)
    assert read.problems == []
    assert read.files == ["rasoat_household.zip"]
    assert [s.submission_id for s in read.submissions] == ["uuid:aaa", "uuid:bbb", "uuid:ccc"]
    subs = by_id(read)

    a = subs["uuid:aaa"]
    assert a == RawSubmission(
        submission_id="uuid:aaa",
        instance_id="uuid:aaa",
        form_id="rasoat_household",
        form_version="2025010101",
        submitted_at="2025-03-01T08:00:00.000Z",
        updated_at=None,
        review_state="approved",
        payload_format=CENTRAL_CSV,
        payload=a.payload,
        source="rasoat_household.zip:rasoat_household.csv",
    )
    assert a.payload == json.dumps(
        {
            "row": dict_of(MAIN_HEADER, MAIN_ROWS[0]),
            "repeats": {"member": [dict_of(MEMBER_HEADER, r) for r in MEMBER_ROWS[:2]]},
        },
        ensure_ascii=False,
        sort_keys=True,
    )
    assert "Nguyễn Văn Ân" in a.payload  # not \\u-escaped

    b = subs["uuid:bbb"]
    assert (b.instance_id, b.review_state) == ("uuid:bbb-2", "edited")
    payload = json.loads(b.payload)
    assert payload["row"]["identification-head_name"] == NFD_NAME  # NFD kept, not normalised
    assert payload["row"]["identification-address"] == 'Tổ 3, "ấp Mới",\nxã Ví Dụ'
    assert payload["repeats"]["member"] == [dict_of(MEMBER_HEADER, MEMBER_ROWS[2])]

    c = subs["uuid:ccc"]
    assert c.instance_id == "uuid:ccc"  # empty meta-instanceID falls back to KEY
    assert c.review_state is None  # empty ReviewState
    assert json.loads(c.payload) == {
        "row": dict_of(MAIN_HEADER, MAIN_ROWS[2]),
        "repeats": {"member": []},
    }
    assert json.loads(c.payload)["row"]["Status"] == ""  # empty cells are empty strings


def test_loose_csvs(tmp_path):
    # repeat table sorts before the main table; plain UTF-8 without BOM, LF line ends
    (tmp_path / "rasoat_household-member.csv").write_bytes(
        csv_bytes(MEMBER_HEADER, MEMBER_ROWS, newline="\n"))
    (tmp_path / "rasoat_household.csv").write_bytes(csv_bytes(MAIN_HEADER, MAIN_ROWS[:2],
                                                              newline="\n"))
    read = read_export_folder(tmp_path)
    assert read.problems == []
    assert read.files == ["rasoat_household-member.csv", "rasoat_household.csv"]
    assert [s.source for s in read.submissions] == ["rasoat_household.csv"] * 2
    a = by_id(read)["uuid:aaa"]
    assert a.payload_format == CENTRAL_CSV and a.form_id == "rasoat_household"
    assert json.loads(a.payload)["repeats"]["member"][1]["member_name"] == "Phạm Thị Mai"
    # the same rows give the same payload whether read from a zip or loose
    write_zip(tmp_path / "x.zip", {"rasoat_household.csv": csv_bytes(MAIN_HEADER, MAIN_ROWS[:2]),
                                   "rasoat_household-member.csv": csv_bytes(MEMBER_HEADER,
                                                                            MEMBER_ROWS)})
    again = read_export_folder(tmp_path)
    zipped = [s for s in again.submissions if s.source.startswith("x.zip:")]
    assert [s.payload for s in zipped] == [s.payload for s in read.submissions]


# --- OData pages ------------------------------------------------------------------------------


def odata_element(sub_id, *, name, review=None, updated=None, instance=None, members=()):
    return {
        "__id": sub_id,
        "__system": {
            "submissionDate": "2025-03-02T09:15:00.000Z",
            "updatedAt": updated,
            "submitterId": "5",
            "submitterName": "Điều tra viên Hà",
            "attachmentsPresent": 0,
            "attachmentsExpected": 0,
            "status": None,
            "reviewState": review,
            "deviceId": "collect:abc",
            "edits": 1 if updated else 0,
            "formVersion": "2025010101",
        },
        "meta": {"instanceID": instance or sub_id},
        "identification": {"hamlet": "EX01", "head_name": name},
        "household_size": len(members),
        "member": [{"member_name": m, "birth_year": 1990} for m in members],
        "member@odata.navigationLink": f"Submissions('{sub_id}')/member",
    }


def test_odata_pages(tmp_path):
    context = "https://central.example/v1/projects/3/forms/rasoat_household.svc/$metadata#Submissions"
    page1 = {
        "@odata.context": context,
        "value": [
            odata_element("uuid:111", name="Võ Thị Sáu", members=["Võ Thị Sáu", NFD_NAME]),
            odata_element("uuid:222", name="Đặng Văn Tư", review="edited",
                          updated="2025-03-04T10:00:00.000Z", instance="uuid:222-v2"),
        ],
        "@odata.nextLink": "https://central.example/v1/projects/3/forms/rasoat_household.svc/"
                           "Submissions?%24expand=*&%24skiptoken=abc",
    }
    page2 = {"value": [odata_element("uuid:333", name="Hồ Văn Mười", review="rejected")]}
    (tmp_path / "page-01.json").write_text(json.dumps(page1, ensure_ascii=False), "utf-8")
    (tmp_path / "page-02.json").write_text(json.dumps(page2, indent=2), "utf-8")

    read = read_export_folder(tmp_path, form_id="other_form")
    assert read.problems == []
    assert read.files == ["page-01.json", "page-02.json"]
    assert [s.submission_id for s in read.submissions] == ["uuid:111", "uuid:222", "uuid:333"]
    one, two, three = read.submissions
    assert one == RawSubmission(
        submission_id="uuid:111",
        instance_id="uuid:111",
        form_id="rasoat_household",  # from @odata.context
        form_version="2025010101",
        submitted_at="2025-03-02T09:15:00.000Z",
        updated_at=None,
        review_state=None,
        payload_format=CENTRAL_ODATA,
        payload=json.dumps(page1["value"][0], ensure_ascii=False, sort_keys=True),
        source="page-01.json",
    )
    assert json.loads(one.payload)["member"][1]["member_name"] == NFD_NAME
    assert (two.instance_id, two.updated_at, two.review_state) == (
        "uuid:222-v2", "2025-03-04T10:00:00.000Z", "edited")
    assert three.form_id == "other_form"  # no @odata.context: the argument
    assert three.review_state == "rejected"
    assert three.payload == json.dumps(page2["value"][0], ensure_ascii=False, sort_keys=True)

    assert read_export_folder(tmp_path).submissions[2].form_id == "rasoat_household"


# --- bad input --------------------------------------------------------------------------------


def test_bad_inputs_are_reported_and_good_records_kept(tmp_path):
    good_page = {"value": [odata_element("uuid:g1", name="Lý Văn Tốt")]}
    # 1. a corrupt zip
    (tmp_path / "a-corrupt.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    # 2. main table without a KEY column (its repeat rows cannot be attached either)
    header_no_key = [h for h in MAIN_HEADER if h != "KEY"]
    rows_no_key = [[c for h, c in zip(MAIN_HEADER, r) if h != "KEY"] for r in MAIN_ROWS]
    write_zip(tmp_path / "b-nokey.zip", {
        "rasoat_household.csv": csv_bytes(header_no_key, rows_no_key),
        "rasoat_household-member.csv": csv_bytes(MEMBER_HEADER, MEMBER_ROWS),
    })
    # 3. orphan repeat row, 4. a row with the wrong number of cells, 5. non-UTF-8 bytes in a row
    main = csv_bytes(MAIN_HEADER, MAIN_ROWS[:1]) + csv_bytes(MAIN_HEADER, [
        MAIN_ROWS[2][:-1],  # one cell short: row 3
    ]).split(b"\r\n", 1)[1]
    bad_bytes_row = main_row("uuid:latin", name="XXX")
    main += csv_bytes(MAIN_HEADER, [bad_bytes_row]).split(b"\r\n", 1)[1].replace(
        b"XXX", "Trà Vinh".encode("cp1258"))  # row 4, cp1258 bytes
    members = csv_bytes(MEMBER_HEADER, MEMBER_ROWS[:2] + [
        member_row("uuid:zzz", 1, name="Mồ Côi"),  # row 4: no such submission
    ])
    write_zip(tmp_path / "c-rows.zip", {
        "rasoat_household.csv": main,
        "rasoat_household-member.csv": members,
        "../../etc/evil.csv": csv_bytes(MAIN_HEADER, MAIN_ROWS),
        "/abs/evil.csv": csv_bytes(MAIN_HEADER, MAIN_ROWS),
    })
    # 6. invalid JSON, 7. element without __id, 8. non-UTF-8 JSON
    (tmp_path / "d-invalid.json").write_text('{"value": [ {"__id": "uuid:x"} ', "utf-8")
    (tmp_path / "e-page.json").write_text(json.dumps({"value": [
        {"__system": {"submissionDate": "2025-03-02T00:00:00Z"}, "meta": {}},
        good_page["value"][0],
    ]}), "utf-8")
    (tmp_path / "f-latin.json").write_bytes('{"value": [], "x": "Hà"}'.encode("latin-1"))
    # 9. a loose CSV that is not a Central table; a loose repeat table without its main table
    (tmp_path / "g-other.csv").write_text("ten,tuoi\nAn,3\n", "utf-8")
    (tmp_path / "h_form-member.csv").write_bytes(csv_bytes(MEMBER_HEADER, MEMBER_ROWS[:1]))

    read = read_export_folder(tmp_path)  # never raises
    assert read.files == ["a-corrupt.zip", "b-nokey.zip", "c-rows.zip", "d-invalid.json",
                          "e-page.json", "f-latin.json", "g-other.csv", "h_form-member.csv"]
    # the good records still come through
    assert [s.submission_id for s in read.submissions] == ["uuid:aaa", "uuid:g1"]
    aaa = json.loads(read.submissions[0].payload)
    assert [m["member_name"] for m in aaa["repeats"]["member"]] == ["Nguyễn Văn Ân",
                                                                    "Phạm Thị Mai"]

    def one(source, record=None, field=None):
        found = [p for p in problems_of(read, source)
                 if (record is None or p.record == record) and (field is None or p.field == field)]
        assert len(found) == 1, (source, record, field, read.problems)
        assert found[0].message
        return found[0]

    assert "zip" in one("a-corrupt.zip").message
    one("b-nokey.zip:rasoat_household.csv", "", "KEY")
    assert "3 rows not read" in one("b-nokey.zip:rasoat_household-member.csv").message
    assert "cells" in one("c-rows.zip:rasoat_household.csv", "row 3").message
    assert "UTF-8" in one("c-rows.zip:rasoat_household.csv", "row 4",
                          "identification-head_name").message
    assert "uuid:zzz" in one("c-rows.zip:rasoat_household-member.csv", "row 4",
                             "PARENT_KEY").message
    assert "unsafe" in one("c-rows.zip:../../etc/evil.csv").message
    assert "unsafe" in one("c-rows.zip:/abs/evil.csv").message
    assert "invalid JSON" in one("d-invalid.json").message
    one("e-page.json", "element 1", "__id")
    assert "UTF-8" in one("f-latin.json").message
    assert "not an ODK Central export table" in one("g-other.csv").message
    assert "without its main table" in one("h_form-member.csv").message
    assert len(read.problems) == 13


def test_more_bad_inputs(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "dup.csv").write_bytes(csv_bytes(MAIN_HEADER, [
        main_row("uuid:d1", name="Một"), main_row("uuid:d1", name="Hai"),
        main_row("", name="Ba"),
    ]))
    (tmp_path / "list.json").write_text("[1, 2]", "utf-8")
    (tmp_path / "mixed.json").write_text(json.dumps({"value": [
        "not an object", {"__id": "uuid:nodate"}, odata_element("uuid:ok", name="Ổn"),
        odata_element("uuid:ok", name="Ổn lần hai"),
    ]}), "utf-8")
    read = read_export_folder(tmp_path)
    assert [s.submission_id for s in read.submissions] == ["uuid:d1", "uuid:ok"]
    assert json.loads(read.submissions[0].payload)["row"]["identification-head_name"] == "Một"
    got = {(p.source, p.record, p.field) for p in read.problems}
    assert got == {
        ("empty.csv", "", ""),
        ("dup.csv", "uuid:d1", "KEY"),
        ("dup.csv", "row 4", "KEY"),
        ("list.json", "", "value"),
        ("mixed.json", "element 1", ""),
        ("mixed.json", "uuid:nodate", "__system.submissionDate"),
        ("mixed.json", "uuid:ok", "__id"),
    }


def test_missing_folder(tmp_path):
    read = read_export_folder(tmp_path / "không có")
    assert read.submissions == [] and read.files == []
    assert len(read.problems) == 1 and "not found" in read.problems[0].message


def test_into_the_raw_store(tmp_path):
    """Reading the same exports twice stores nothing new."""
    from rasoat.pipeline.rawstore import RawStore

    write_zip(tmp_path / "export.zip", {
        "rasoat_household.csv": csv_bytes(MAIN_HEADER, MAIN_ROWS),
        "rasoat_household-member.csv": csv_bytes(MEMBER_HEADER, MEMBER_ROWS),
    })
    with RawStore(f"sqlite:///{tmp_path / 'raw.sqlite3'}") as store:
        assert store.ingest(read_export_folder(tmp_path).submissions).new_versions == 3
        assert store.ingest(read_export_folder(tmp_path).submissions).new_versions == 0
