"""The household XForm in ODK's own web form engine (@getodk/xforms-engine), headless under Node.

`tests/form_engine/fill.mjs` loads the XForm pyxform builds from `forms/household.md`, fills it from
a JSON request and returns the engine's submission XML or its violations (see the header of
fill.mjs for the request and response). These tests check that the form behaves on a phone the
way the pipeline expects: a complete household submits, constraint messages fire in Vietnamese,
relevance hides what it should, and the engine's XML, turned into Central's OData JSON, goes
through ingestion and tidying with the values entered.

Field paths, choice codes and messages are read from the questionnaire, so a field moved into
another group or a renamed choice list needs no change here. Node and the npm packages are
installed by scripts/test-all; without `node` these tests fail rather than skip.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rasoat.flows.review import questionnaire_for
from rasoat.forms import VI
from rasoat.settings import load_settings

HERE = Path(__file__).resolve().parent
ENGINE_DIR = HERE / "form_engine"
FILL = ENGINE_DIR / "fill.mjs"
ROOT = "data"  # the instance root element: convert(..., form_name=ROOT)

SETTINGS = load_settings()
Q = questionnaire_for(SETTINGS)
INTERVIEW_DATE = "2026-06-15"  # ages below are counted from this year
HEAD_NAME = "Nguyễn Thị Hồng"
HOUSEHOLD_ID = "A01-0350"


# --- the questionnaire's structure ------------------------------------------------------------


def _structure() -> tuple[dict[str, str], set[str], dict[str, dict]]:
    """(instance path of every named row, names of repeats, survey row of every name).

    Repeat steps are marked "name[]" so `xpath` can put the index in.
    """
    paths: dict[str, str] = {}
    repeats: set[str] = set()
    rows: dict[str, dict] = {}
    stack: list[str] = []
    for row in Q.definition["survey"]:
        kind = (row.get("type") or "").strip().split(" ")[0]
        name = row.get("name")
        if kind in ("end_group", "end_repeat"):
            stack.pop()
            continue
        if not name:
            continue
        rows[name] = row
        paths[name] = "/".join(["", ROOT, *stack, name])
        if kind == "begin_group":
            stack.append(name)
        elif kind == "begin_repeat":
            repeats.add(name)
            stack.append(f"{name}[]")
    return paths, repeats, rows


PATHS, REPEATS, ROWS = _structure()
MEMBER = Q.member_repeat


def xpath(name: str, member: int | None = None) -> str:
    """Instance path of a field; `member` is the 1-based member index for roster fields."""
    path = PATHS[name]
    if "[]" in path:
        if member is None:
            raise ValueError(f"{name} sits in a repeat: give its index")
        path = path.replace(f"/{MEMBER}[]/", f"/{MEMBER}[{member}]/")
    return path.replace("[]", "")


def code(choice_list: str, wanted: str) -> str:
    """A choice code, checked against the questionnaire (fails loudly when a list changes)."""
    assert wanted in Q.choices[choice_list], f"{wanted!r} is no longer a {choice_list} code"
    return wanted


def vi_constraint_message(name: str) -> str:
    return ROWS[name][f"constraint_message::{VI}"]


# --- building requests -------------------------------------------------------------------------


# Types with no control on the phone: the engine computes or preloads them.
NOT_ANSWERED = {"calculate", "start", "end", "today", "deviceid", "username", "phonenumber",
                "email", "audit", "note", "hidden", "simserial", "subscriberid", "start-geopoint"}


def answerable(field) -> bool:
    return field.type not in NOT_ANSWERED


def default_answer(field) -> object:
    """A valid-looking answer for a required field the scenario does not set itself.

    "no" where the list has it: it opens the fewest follow-up questions (and screens no one out).
    """
    if field.type == "select_one":
        codes = Q.choices[field.choice_list]
        return "no" if "no" in codes else codes[0]
    if field.type == "select_multiple":
        return Q.choices[field.choice_list][0]
    if field.type == "integer":
        return 0
    if field.type == "decimal":
        return 1
    if field.type == "date":
        return INTERVIEW_DATE
    if field.type == "geopoint":
        return "9.95 106.34 5 10"
    return "x"


def household_answers(household: dict[str, object], members: list[dict[str, object]]) -> list[dict]:
    """Answers for the harness: the given values, every other required field defaulted.

    Household fields first (the member count drives the roster), then the members. Names the
    form does not have, or computes itself, are skipped: a scenario may name both the old and
    the new spelling of a field.
    """
    answers: list[dict] = []
    for f in Q.household_fields:
        if not answerable(f):
            continue
        if f.name in household:
            value = household[f.name]
        elif f.required:
            value = default_answer(f)
        else:
            continue
        answers.append({"path": xpath(f.name), "value": value})
    answers.append({"path": PATHS[MEMBER].replace("[]", ""), "add": len(members)})
    for i, member in enumerate(members, start=1):
        for f in Q.member_fields:
            if not answerable(f):
                continue
            if f.name in member:
                value = member[f.name]
            elif f.required:
                value = default_answer(f)
            else:
                continue
            answers.append({"path": xpath(f.name, i), "value": value})
    return answers


def person(name: str, sex: str, born: int, relationship: str, labour: str, **more) -> dict:
    return {
        "member_name": name,
        "sex": code("sex", sex),
        "birth_year": born,
        "relationship": code("relationship", relationship),
        "member_ethnicity": code("ethnicity", "kinh"),
        "labour_status": code("labour_status", labour),
        **more,
    }


def family_of_four() -> tuple[dict, list[dict]]:
    yes, no = code("yes_no", "yes"), code("yes_no", "no")
    household = {
        "hamlet": Q.choices["hamlet"][0],
        "household_id": HOUSEHOLD_ID,  # answered while the form asks for it directly
        "new_household_id": HOUSEHOLD_ID,  # a new household (not picked from last year's list)
        "head_name": HEAD_NAME,
        "head_id_number": "087123456789",
        "phone": "0912345678",
        "address": "Tổ 3, ấp Mới",
        "location": "9.9512 106.3421 3 8",
        "ethnicity": code("ethnicity", "kinh"),
        "area_type": code("area_type", "rural"),
        "consent": yes,
        "household_size": 4,
        "wall_material": code("wall_material", "brick_concrete"),
        "roof_material": code("roof_material", "metal_sheet"),
        "floor_area": 45.5,
        "info_assets": " ".join([code("info_asset", "tv"), code("info_asset", "smartphone")]),
        "income_crops": 24_000_000,
        "income_wages": 36_000_000,
        "production_costs": 8_000_000,
        "poverty_reasons": code("poverty_reason", "capital"),
        "enumerator": "Trần Văn Bình",
        "interview_date": INTERVIEW_DATE,
    }
    members = [
        person(HEAD_NAME, "female", 1980, "head", "wage_worker", labour_contract=yes, in_school=no,
               qualification=code("qualification", "upper_secondary")),
        person("Lê Văn Tâm", "male", 1978, "spouse", "self_employed", in_school=no,
               qualification=code("qualification", "lower_secondary")),
        person("Lê Thị Mai", "female", 2014, "child", "student", in_school=yes,
               school_level=code("school_level", "lower_secondary"),
               qualification=code("qualification", "primary"),
               child_nutrition=code("nutrition", "normal")),
        person("Lê Văn An", "male", 2022, "child", "student", in_school=yes,
               school_level=code("school_level", "preschool"),
               qualification=code("qualification", "none"),
               child_nutrition=code("nutrition", "stunted")),
    ]
    return household, members


# --- running the engine ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_harness() -> Path:
    """`node`, with tests/form_engine/node_modules installed from the lockfile."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the form-engine tests need Node.js 20+ "
                    "(run bash scripts/test-all, which installs it)")
    if not (ENGINE_DIR / "node_modules" / "@getodk" / "xforms-engine").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: run bash scripts/test-all")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ENGINE_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {ENGINE_DIR} failed:\n{done.stdout}\n{done.stderr}")
    return Path(node)


@pytest.fixture(scope="session")
def form_xml(tmp_path_factory) -> Path:
    from pyxform.xls2xform import convert

    path = tmp_path_factory.mktemp("xform") / f"{Q.form_id}.xml"
    path.write_text(convert(Q.definition, form_name=ROOT).xform, encoding="utf-8")
    return path


_FILE_CSV = re.compile(r"""<instance id="([^"]+)" src="jr://file-csv/([^"]+)"\s*/?>""")


def placeholder_attachments(xform: str) -> dict[str, str]:
    """A small CSV for every `jr://file-csv/...` the form references (the engine will not load
    the form without them): the columns its itemsets and pulldata() calls read, one example row.
    The scenarios here are new households, so no row is picked.
    """
    files: dict[str, str] = {}
    for instance_id, file_name in _FILE_CSV.findall(xform):
        columns = ["name", "label"]
        itemset = re.search(
            rf"""instance\('{re.escape(instance_id)}'\)/root/item"><value ref="([^"]+)"/><label ref="([^"]+)"/>""",
            xform)
        if itemset:
            columns = list(itemset.groups())
        for args in re.findall(rf"""pulldata\(\s*'{re.escape(instance_id)}'\s*,\s*'([^']+)'\s*,\s*'([^']+)'""", xform):
            columns += [c for c in args if c not in columns]
        row = [f"EX-{i:04d}" if i == 0 else f"ví dụ {c}" for i, c in enumerate(columns)]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([columns, row])
        files[file_name] = buffer.getvalue()
    return files


def run_fill(node: Path, form: Path, request: dict, workdir: Path) -> dict:
    """Run fill.mjs on a request; the parsed response."""
    attachments = placeholder_attachments(form.read_text(encoding="utf-8"))
    request = {"form_xml_path": str(form), "language": VI, "attachments": attachments, **request}
    req = workdir / f"request-{os.getpid()}-{id(request)}.json"
    req.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([str(node), str(FILL), str(req)], cwd=ENGINE_DIR,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, f"no response from fill.mjs; stderr:\n{done.stderr}"
    return json.loads(lines[-1])


def summary(response: dict) -> str:
    """What to show when an assertion on a response fails."""
    slim = {k: v for k, v in response.items() if k != "submission_xml"}
    return json.dumps(slim, ensure_ascii=False, indent=1)[:4000]


@pytest.fixture(scope="module")
def complete(node_harness, form_xml, tmp_path_factory) -> dict:
    household, members = family_of_four()
    return run_fill(node_harness, form_xml, {"answers": household_answers(household, members)},
                    tmp_path_factory.mktemp("complete"))


# --- the tests ---------------------------------------------------------------------------------


def test_complete_household_is_ready(complete):
    assert complete["status"] == "ready", summary(complete)
    assert complete["errors"] == [], summary(complete)
    assert complete["violations"] == []
    root = ET.fromstring(complete["submission_xml"])
    assert root.tag == ROOT
    assert root.get("id") == Q.form_id and root.get("version") == Q.version
    assert root.findtext("meta/instanceID", "").startswith("uuid:")
    head = root.find(xpath("head_name")[len(ROOT) + 2:])
    assert head is not None and head.text == HEAD_NAME  # exactly as set, Vietnamese intact
    assert len(root.findall(MEMBER)) == 4
    names = [m.findtext("member_name") for m in root.findall(MEMBER)]
    assert names == [m["member_name"] for m in family_of_four()[1]]


def test_constraint_messages_are_the_forms_vietnamese_ones(node_harness, form_xml, tmp_path):
    household, members = family_of_four()
    bad = {"head_id_number": "12345", "phone": "12345", "floor_area": 0, "household_size": 0}
    household.update(bad)
    answers = [a for a in household_answers(household, members) if "add" not in a]
    answers = [a for a in answers if f"/{MEMBER}[" not in a["path"]]  # no roster: size is 0
    response = run_fill(node_harness, form_xml, {"answers": answers}, tmp_path)
    assert response["status"] == "pending", summary(response)
    by_path = {v["path"]: v for v in response["violations"]}
    for name in bad:
        violation = by_path.get(xpath(name))
        assert violation is not None, f"no violation on {name}:\n{summary(response)}"
        assert violation["condition"] == "constraint"
        assert violation["message"] == vi_constraint_message(name)
    assert set(by_path) == {xpath(n) for n in bad}, summary(response)


def test_relevance_hides_what_it_should(node_harness, form_xml, tmp_path):
    household, members = family_of_four()
    wage, other, older_child, younger_child = 1, 2, 3, 4
    assert members[wage - 1]["labour_status"] == "wage_worker" and members[wage - 1]["birth_year"] == 1980
    assert members[other - 1]["labour_status"] != "wage_worker"
    members[older_child - 1]["in_school"] = code("yes_no", "no")  # 12 years old, left school
    members[younger_child - 1]["birth_year"] = 2018
    members[younger_child - 1]["school_level"] = code("school_level", "primary")
    assert members[younger_child - 1]["in_school"] == "yes"
    inspect = {
        "contract_wage": xpath("labour_contract", wage),
        "contract_other": xpath("labour_contract", other),
        "school_level_not_in_school": xpath("school_level", older_child),
        "school_level_in_school": xpath("school_level", younger_child),
        "nutrition_adult_1980": xpath("child_nutrition", wage),
        "nutrition_child_2018": xpath("child_nutrition", younger_child),
    }
    response = run_fill(node_harness, form_xml, {
        "answers": household_answers(household, members), "inspect": list(inspect.values()),
    }, tmp_path)
    assert response["errors"] == [], summary(response)
    relevant = {k: response["inspected"][p]["relevant"] for k, p in inspect.items()}
    assert relevant == {
        "contract_wage": True,
        "contract_other": False,
        "school_level_not_in_school": False,
        "school_level_in_school": True,
        "nutrition_adult_1980": False,
        "nutrition_child_2018": True,
    }
    # The chosen language reaches the labels too.
    assert response["inspected"][inspect["contract_wage"]]["label"] == Q.get_field("labour_contract").label_vi


def test_no_consent_hides_the_housing_questions(node_harness, form_xml, tmp_path):
    housing = [f.name for f in Q.household_fields if f.groups[:1] == ("housing",)]
    assert housing, "the questionnaire has no housing group any more"
    answers = [
        {"path": xpath("hamlet"), "value": Q.choices["hamlet"][0]},
        {"path": xpath("consent"), "value": code("yes_no", "no")},
    ]
    inspect = [PATHS["housing"], *(xpath(n) for n in housing)]
    response = run_fill(node_harness, form_xml, {"answers": answers, "inspect": inspect}, tmp_path)
    assert response["errors"] == [], summary(response)
    shown = [p for p in inspect if response["inspected"][p]["relevant"]]
    assert shown == []
    root = ET.fromstring(response["submission_xml"])
    assert root.find("housing") is None  # non-relevant groups are left out of the submission
    assert not any(xpath(n) in {v["path"] for v in response["violations"]} for n in housing)


def test_bad_paths_are_reported_not_fatal(node_harness, form_xml, tmp_path):
    response = run_fill(node_harness, form_xml, {
        "answers": [
            {"path": f"/{ROOT}/no_such_field", "value": "1"},
            {"path": xpath("sex", 9), "value": "female"},
            {"path": xpath("hamlet"), "value": "not-a-hamlet-code"},
            {"path": xpath("head_name"), "value": HEAD_NAME},
        ],
        "inspect": [f"/{ROOT}/nothing/here", xpath("head_name")],
    }, tmp_path)
    assert response["status"] == "pending"
    errors = {e["path"]: e["message"] for e in response["errors"]}
    assert errors[f"/{ROOT}/no_such_field"] == "no such node"
    assert errors[xpath("sex", 9)].startswith("no such node")
    assert "not a choice" in errors[xpath("hamlet")]
    assert errors[f"/{ROOT}/nothing/here"] == "no such node"
    assert response["inspected"][f"/{ROOT}/nothing/here"] is None
    assert response["inspected"][xpath("head_name")]["value"] == HEAD_NAME


# --- through the pipeline ----------------------------------------------------------------------


def _leaf_value(name: str, text: str | None):
    if text is None or text == "":
        return None
    kind = FIELD_TYPES.get(name)
    if kind == "integer":
        return int(text)
    if kind == "decimal":
        return float(text)
    if kind == "geopoint":
        parts = [float(p) for p in text.split()]
        lat, lon = parts[0], parts[1]
        point = {"type": "Point", "coordinates": [lon, lat, *parts[2:3]]}
        if len(parts) > 3:
            point["properties"] = {"accuracy": parts[3]}
        return point
    return text


FIELD_TYPES = {f.name: f.type for f in Q.fields}


def _odata_node(element: ET.Element, instance_id: str, trail: str) -> dict:
    out: dict = {}
    counts: dict[str, int] = {}
    for child in element:
        name = child.tag
        if name in REPEATS:
            counts[name] = counts.get(name, 0) + 1
            item_trail = f"{trail}/{name}[{counts[name]}]"
            item = _odata_node(child, instance_id, item_trail)
            item["__id"] = hashlib.sha1(f"{instance_id}{item_trail}".encode()).hexdigest()
            item["__Submissions-id"] = instance_id
            out.setdefault(name, []).append(item)
        elif len(child):
            out[name] = _odata_node(child, instance_id, f"{trail}/{name}")
        else:
            out[name] = _leaf_value(name, child.text)
    return out


def submission_to_odata(xml: str, submitted_at: str) -> dict:
    """The engine's submission XML as one element of Central's OData Submissions feed."""
    root = ET.fromstring(xml)
    instance_id = root.findtext("meta/instanceID")
    element = {"__id": instance_id, **_odata_node(root, instance_id, "")}
    for name in REPEATS:  # Central gives an empty list for a repeat with no instance
        element.setdefault(name, [])
    element["__system"] = {
        "submissionDate": submitted_at,
        "updatedAt": None,
        "submitterId": "1",
        "submitterName": "enumerator",
        "attachmentsPresent": 0,
        "attachmentsExpected": 0,
        "status": None,
        "reviewState": None,
        "deviceId": root.findtext("device_id") or None,
        "edits": 0,
        "formVersion": root.get("version"),
        "deletedAt": None,
    }
    return element


def ingest_engine_submission(response: dict, tmp_path: Path):
    """The engine's submission XML, as Central's OData would serve it, through the pipeline's
    folder source, raw store and tidy step: (OData element, tidy tables)."""
    from rasoat.pipeline.rawstore import RawStore, current_versions
    from rasoat.pipeline.sources.folder import read_export_folder
    from rasoat.pipeline.tidy import tidy_submissions

    submitted = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    element = submission_to_odata(response["submission_xml"], submitted)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    page = {
        "@odata.context": f"https://central.example.org/v1/projects/1/forms/{Q.form_id}.svc/$metadata#Submissions",
        "value": [element],
    }
    (inbox / "submissions-001.json").write_text(json.dumps(page, ensure_ascii=False), encoding="utf-8")

    read = read_export_folder(inbox)
    assert read.problems == []
    assert len(read.submissions) == 1 and read.submissions[0].form_id == Q.form_id
    with RawStore(f"sqlite:///{tmp_path / 'raw.sqlite3'}") as store:
        store.ingest(read.submissions)
        versions = store.versions()
    current, excluded = current_versions(versions, set(SETTINGS.review.processed_review_states))
    assert excluded.empty
    return element, tidy_submissions(current, Q)


def test_engine_submission_goes_through_ingestion(complete, tmp_path):
    import pandas as pd

    assert complete["status"] == "ready", summary(complete)
    element, tables = ingest_engine_submission(complete, tmp_path)

    household, members = family_of_four()
    assert len(tables.households) == 1
    hh = tables.households.iloc[0]
    assert hh["submission_id"] == element["__id"]
    assert hh["hamlet"] == household["hamlet"]
    assert hh["head_name"] == HEAD_NAME
    assert hh["household_id"] == HOUSEHOLD_ID
    assert hh["floor_area"] == pytest.approx(household["floor_area"])
    assert hh["income_crops"] == household["income_crops"]
    assert hh["members"] == 4
    assert hh["location_lat"] == pytest.approx(9.9512) and hh["location_lon"] == pytest.approx(106.3421)
    assert hh["info_assets__tv"] and hh["info_assets__smartphone"] and not hh["info_assets__radio"]

    got = tables.members.sort_values("position")
    assert list(got["member_name"]) == [m["member_name"] for m in members]
    interview_year = int(INTERVIEW_DATE[:4])
    assert list(got["age"]) == [interview_year - m["birth_year"] for m in members] == [46, 48, 12, 4]
    assert list(got["relationship"]) == [m["relationship"] for m in members]
    contract = [None if pd.isna(v) else bool(v) for v in got["labour_contract"]]
    assert contract == [True, None, None, None]  # asked of the wage worker only
    errors = tables.issues[tables.issues["severity"] == "error"]
    assert errors.empty, errors.to_string()


def test_engine_timings_are_reported(complete, form_xml):
    """Not a limit, a record: `pytest -s` shows it; bench/bench_form_engine.py measures properly."""
    t = complete["timings_ms"]
    assert all(isinstance(t[k], (int, float)) for k in ("load", "fill", "serialize"))
    print(f"\nXForm {form_xml.stat().st_size} bytes; engine load {t['load']} ms, "
          f"fill (4 members) {t['fill']} ms, serialize {t['serialize']} ms")


def test_phone_summary_agrees_with_the_pipeline(complete, tmp_path):
    """The summary page's calculates are translated from the rule set; the pipeline classifies the
    same answers with pandas. Both must reach the same flags, count, income and class."""
    from rasoat.pipeline.checks import check_tables
    from rasoat.pipeline.classify import classify_households

    _, tables = ingest_engine_submission(complete, tmp_path)
    checked = check_tables(tables, Q, SETTINGS.commune.bounding_box)
    ruleset = SETTINGS.ruleset_for(SETTINGS.review.reference_year)
    row = classify_households(checked.households, checked.members, ruleset, SETTINGS.hamlets).iloc[0]
    phone = ET.fromstring(complete["submission_xml"]).find("summary")
    flags = {i.id: int(phone.find(f"dep_{i.id}").text) for i in ruleset.indicators}
    assert flags == {i.id: int(row[f"deprived_{i.id}"]) for i in ruleset.indicators}
    assert sum(flags.values()) >= 3  # the family is deprived enough for the comparison to mean something
    assert int(phone.find("deprivation_count").text) == row["deprivation_count"]
    assert round(float(phone.find("income_per_capita").text)) == row["income_per_capita_month"]
    assert phone.find("preliminary_class").text == row["household_class"] == "poor"
    assert phone.find("preliminary_class_label").text == "Hộ nghèo"
