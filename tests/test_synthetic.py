"""The synthetic commune: determinism, validity against the questionnaire, household structure,
Central-shaped exports, the documented dirt and the calibration of the demo data."""

from __future__ import annotations

import collections
import csv
import io
import json
import re
import unicodedata
import zipfile
from datetime import date, datetime
from urllib.parse import quote

import pytest

from rasoat.pipeline import synthetic as S

SEED = 20261127
YEAR = 2026
LINE = {"rural": 1_500_000, "urban": 2_000_000}


@pytest.fixture(scope="module")
def hamlets():
    return S.load_example_hamlets()


@pytest.fixture(scope="module")
def q(hamlets):
    return S.questionnaire_for(hamlets)


@pytest.fixture(scope="module")
def commune(hamlets, q):
    return S.generate_commune(hamlets, q, SEED)


@pytest.fixture(scope="module")
def current(commune):
    """The newest version of each submission."""
    return [s for s, _ in S.newest_versions(commune)]


@pytest.fixture(scope="module")
def small(hamlets, q):
    return S.generate_commune(hamlets, q, 7, scale=0.05)


def _norm(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


# ---------------------------------------------------------------------------------------------
# Determinism and size
# ---------------------------------------------------------------------------------------------


def test_same_seed_same_output(hamlets, q, small, tmp_path):
    again = S.generate_commune(hamlets, q, 7, scale=0.05)
    assert again == small
    a = S.write_central_csv_zip(small, q, tmp_path / "a.zip").read_bytes()
    b = S.write_central_csv_zip(again, q, tmp_path / "b.zip").read_bytes()
    assert a == b


def test_different_seed_differs(hamlets, q, small):
    other = S.generate_commune(hamlets, q, 8, scale=0.05)
    assert [s["__id"] for s in other] != [s["__id"] for s in small]
    assert [s["answers"]["head_name"] for s in other] != [s["answers"]["head_name"] for s in small]


def test_one_household_per_resident_household(hamlets, commune):
    clean = [s for s in commune if s.get("deprecated_id") is None]
    counts = collections.Counter(s["answers"]["hamlet"] for s in clean)
    for h in hamlets:
        expected = h.resident_households + (1 if counts[h.code] > h.resident_households else 0)
        assert counts[h.code] == expected  # the one duplicate survey adds a row to one hamlet
    assert len(clean) == sum(h.resident_households for h in hamlets) + 1


def test_scale_and_dict_hamlets(q):
    hs = [{"code": "A01", "name": "Ấp Ví Dụ 01", "area_type": "rural", "resident_households": 300},
          {"code": "K01", "name": "Khóm Ví Dụ 01", "area_type": "urban", "resident_households": 3}]
    subs = S.generate_commune(hs, q, 1, scale=0.1, dirt=False)
    counts = collections.Counter(s["answers"]["hamlet"] for s in subs)
    assert counts == {"A01": 30, "K01": 1}


def test_iter_commune_matches_clean_generation(hamlets, q):
    clean = S.generate_commune(hamlets, q, 3, scale=0.02, dirt=False)
    assert list(S.iter_commune(hamlets, q, 3, scale=0.02)) == clean


# ---------------------------------------------------------------------------------------------
# Validity against the questionnaire
# ---------------------------------------------------------------------------------------------


def test_fields_and_codes_come_from_the_questionnaire(q, commune):
    hh = {f.name: f for f in q.household_fields}
    mm = {f.name: f for f in q.member_fields}

    def check(fields, values):
        assert list(values) == list(fields)  # every field, form order, nothing else
        for name, v in values.items():
            f = fields[name]
            if v is None:
                continue
            if f.type == "select_one":
                assert v in q.choices[f.choice_list], (name, v)
            elif f.type == "select_multiple":
                codes = v.split(" ")
                assert codes and all(c in q.choices[f.choice_list] for c in codes), (name, v)
                assert len(set(codes)) == len(codes)
            elif f.type == "integer":
                assert isinstance(v, int) and not isinstance(v, bool), (name, v)
            elif f.type == "decimal":
                assert isinstance(v, float), (name, v)
            elif f.type == "date":
                assert isinstance(v, date) and not isinstance(v, datetime)
            elif f.type in ("start", "end"):
                assert isinstance(v, datetime) and v.tzinfo is not None
            else:
                assert isinstance(v, str), (name, v)

    for s in commune:
        check(hh, s["answers"])
        for m in s["members"]:
            check(mm, m)


def test_submission_envelope(q, commune):
    for s in commune:
        assert re.fullmatch(r"uuid:[0-9a-f-]{36}", s["__id"])
        assert re.fullmatch(r"uuid:[0-9a-f-]{36}", s["instance_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s["submitted_at"])
        assert s["form_version"] == q.version
        assert re.fullmatch(r"collect:[A-Za-z0-9]{16}", s["device_id"])
        assert isinstance(s["submitter_id"], int) and s["submitter_name"]
        a = s["answers"]
        assert re.fullmatch(r"[AK]\d\d-\d{4}", a["household_id"])
        assert a["household_id"].startswith(a["hamlet"] + "-")
        assert a["head_id_number"] is None or re.fullmatch(r"(091|089)[0-3]\d{8}", a["head_id_number"])
        assert a["phone"] is None or re.fullmatch(r"0\d{9}", a["phone"])
        lat, lon, alt, acc = map(float, a["location"].split())
        assert 9.45 <= lat <= 9.65 and 105.0 <= lon <= 105.3 and acc > 0
        assert a["consent"] == "yes"
        minutes = (a["ended_at"] - a["started_at"]).total_seconds() / 60
        assert 15 <= minutes <= 65
        assert a["interview_date"] == a["started_at"].date()
        assert date(2026, 9, 1) <= a["interview_date"] <= date(2026, 10, 31)
        assert S._parse_iso(s["submitted_at"]) > a["ended_at"]
        for f in S.INCOME_FIELDS + ("production_costs",):
            assert a[f] >= 0
    for s in commune:
        for m in s["members"]:
            n = m["member_id_number"]
            if n is not None and 1900 <= m["birth_year"]:
                assert n[3] in ("01" if m["birth_year"] < 2000 else "23")
                assert n[4:6] == f"{m['birth_year'] % 100:02d}"


# ---------------------------------------------------------------------------------------------
# Household structure
# ---------------------------------------------------------------------------------------------


def test_household_structure(commune):
    sizes = []
    for s in commune:
        ms = s["members"]
        rels = [m["relationship"] for m in ms]
        assert rels.count("head") == 1 and rels[0] == "head"
        assert rels.count("spouse") <= 1
        assert len(ms) == s["answers"]["household_size"]
        assert 1 <= len(ms) <= 10
        assert s["answers"]["head_name"] is not None
        sizes.append(len(ms))
        years = [m["birth_year"] for m in ms if m["birth_year"] >= 1900]
        assert all(YEAR - 100 <= y <= YEAR for y in years)
        head = ms[0]
        spouse = next((m for m in ms if m["relationship"] == "spouse"), None)
        if spouse:
            assert spouse["sex"] != head["sex"]
        for m in ms:
            if m["birth_year"] < 1900:
                continue
            if m["relationship"] == "child":
                assert m["birth_year"] >= head["birth_year"] + 17
                if spouse:
                    assert m["birth_year"] >= spouse["birth_year"] + 17
            if m["relationship"] == "grandchild":
                assert m["birth_year"] >= head["birth_year"] + 34
            if m["relationship"] == "parent":
                assert m["birth_year"] <= head["birth_year"] - 18
    mean = sum(sizes) / len(sizes)
    assert 3.5 <= mean <= 4.1


def test_member_answers_follow_age(commune):
    for s in commune:
        for m in s["members"]:
            age = YEAR - m["birth_year"]
            if m["birth_year"] < 1900:
                continue
            # answered exactly where the form's relevance shows the question
            assert m["age"] == str(age)
            assert (m["child_nutrition"] is not None) == (age < 16)
            assert (m["in_school"] is not None) == (3 <= age <= 30)
            assert (m["qualification"] is not None) == (m["labour_status"] is not None) == (age >= 15)
            assert (m["school_level"] is not None) == (m["in_school"] == "yes")
            assert (m["labour_contract"] is not None) == (m["labour_status"] == "wage_worker")
            if age < 6:
                assert m["health_insurance"] == "yes"
            if m["labour_status"] == "wage_worker":
                assert age >= 15
            if age < 10:
                assert m["uses_phone"] == "no"


def test_names_are_vietnamese(current):
    families = collections.Counter(s["members"][0]["member_name"].split()[0] for s in current)
    assert families.most_common(1)[0][0] == "Nguyễn"
    assert {"Trần", "Lê", "Huỳnh", "Võ", "Thạch", "Danh"} <= set(families)
    khmer = [s for s in current if s["answers"]["ethnicity"] == "khmer"]
    assert 0.09 <= len(khmer) / len(current) <= 0.17
    kh_families = collections.Counter(s["members"][0]["member_name"].split()[0] for s in khmer)
    assert kh_families.most_common(1)[0][0] in {"Thạch", "Danh"}


# ---------------------------------------------------------------------------------------------
# Dirt
# ---------------------------------------------------------------------------------------------


def test_dirt_is_present(commune):
    heads = [s["answers"]["head_name"] for s in commune]
    assert sum(not unicodedata.is_normalized("NFC", n) for n in heads) >= 5
    assert any("  " in n for n in heads)
    assert any(n == n.lower() for n in heads)
    typos = [s for s in commune if _norm(s["answers"]["head_name"]) != _norm(s["members"][0]["member_name"])]
    assert len(typos) == 2
    impossible = [m for s in commune for m in s["members"] if m["birth_year"] < 1900]
    assert len(impossible) == 1 and impossible[0]["birth_year"] == 1890
    assert sum(s["review_state"] == "rejected" for s in commune) == 1

    firsts = [s for s in commune if s.get("deprecated_id") is None]
    ids = collections.Counter(s["answers"]["household_id"] for s in firsts)
    dupes = [h for h, c in ids.items() if c > 1]
    assert len(dupes) == 1
    pair = [s for s in firsts if s["answers"]["household_id"] == dupes[0]]
    assert pair[0]["__id"] != pair[1]["__id"]
    assert pair[0]["answers"] != pair[1]["answers"]
    assert pair[1]["submitted_at"] > pair[0]["submitted_at"]

    edits = [s for s in commune if s["review_state"] == "edited"]
    assert len(edits) == 1
    edit = edits[0]
    first = [s for s in commune if s["__id"] == edit["__id"] and s is not edit]
    assert len(first) == 1 and first[0]["instance_id"] == first[0]["__id"]
    assert edit["deprecated_id"] == first[0]["instance_id"] != edit["instance_id"]
    assert edit["updated_at"] > edit["submitted_at"]


def test_no_dirt_when_disabled(hamlets, q):
    clean = S.generate_commune(hamlets, q, SEED, scale=0.2, dirt=False)
    assert all(unicodedata.is_normalized("NFC", s["answers"]["head_name"]) for s in clean)
    assert all(m["birth_year"] >= 1900 for s in clean for m in s["members"])
    assert len({s["answers"]["household_id"] for s in clean}) == len(clean)
    assert len({s["__id"] for s in clean}) == len(clean)
    assert not any(s["review_state"] in ("rejected", "edited") for s in clean)


# ---------------------------------------------------------------------------------------------
# Central CSV export
# ---------------------------------------------------------------------------------------------


def test_csv_layout(q, commune, tmp_path):
    path = S.write_central_csv_zip(commune, q, tmp_path / "submissions.csv.zip")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["rasoat_household-member.csv", "rasoat_household.csv"]
        root = list(csv.reader(io.TextIOWrapper(zf.open("rasoat_household.csv"), encoding="utf-8")))
        member = list(csv.reader(io.TextIOWrapper(zf.open("rasoat_household-member.csv"), encoding="utf-8")))
    header = root[0]
    assert header[:5] == ["SubmissionDate", "started_at", "ended_at", "device_id", "identification-hamlet"]
    i = header.index("identification-location-Latitude")
    assert header[i:i + 4] == ["identification-location-Latitude", "identification-location-Longitude",
                               "identification-location-Altitude", "identification-location-Accuracy"]
    assert "identification-location" not in header
    assert "household_size" in header and "housing-floor_area" in header
    j = header.index("housing-info_assets")
    assert header[j + 1:j + 6] == [f"housing-info_assets/{c}" for c in q.choices["info_asset"]]
    assert "situation-poverty_reasons/capital" in header
    assert header[-12:] == ["meta-instanceID", "meta-instanceName", "KEY", "SubmitterID", "SubmitterName",
                            "AttachmentsPresent", "AttachmentsExpected", "Status", "ReviewState",
                            "DeviceID", "Edits", "FormVersion"]
    assert not any(h == "member" or h.startswith("member-") for h in header)
    assert member[0] == [f.name for f in q.member_fields] + ["PARENT_KEY", "KEY"]

    rows = [dict(zip(header, r)) for r in root[1:]]
    assert len(rows) == len({s["__id"] for s in commune})  # newest version only
    assert all(len(r) == len(header) for r in root)
    # Values as Central writes them.
    r0 = rows[0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r0["SubmissionDate"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+07:00", r0["started_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", r0["interview_date"])
    assert re.fullmatch(r"\d+", r0["income-income_crops"])
    assert r0["AttachmentsPresent"] == "0" and r0["Status"] == ""
    assert r0["meta-instanceName"] == f"{r0['identification-household_id']} - {r0['identification-hamlet']}"
    dates = [r["SubmissionDate"] for r in rows]
    assert dates == sorted(dates, reverse=True)
    for r in rows:
        chosen = r["housing-info_assets"].split()
        for c in q.choices["info_asset"]:
            assert r[f"housing-info_assets/{c}"] == ("1" if c in chosen else "0")
        if r["situation-poverty_reasons"] == "":
            assert r["situation-poverty_reasons/land"] == ""
    by_key = {r["KEY"]: r for r in rows}
    edited = [r for r in rows if r["ReviewState"] == "edited"]
    assert len(edited) == 1 and edited[0]["Edits"] == "1"
    assert edited[0]["meta-instanceID"] != edited[0]["KEY"]
    assert sum(r["ReviewState"] == "rejected" for r in rows) == 1
    # Repeat linkage.
    per_parent = collections.defaultdict(list)
    for m in member[1:]:
        rec = dict(zip(member[0], m))
        assert rec["PARENT_KEY"] in by_key
        per_parent[rec["PARENT_KEY"]].append(rec["KEY"])
    for key, keys in per_parent.items():
        assert keys == [f"{key}/member[{k}]" for k in range(1, len(keys) + 1)]
        assert len(keys) == int(by_key[key]["household_size"])
    assert set(per_parent) == set(by_key)


# ---------------------------------------------------------------------------------------------
# Central OData
# ---------------------------------------------------------------------------------------------


def test_odata_rows_and_paging(q, commune, tmp_path):
    pages = S.odata_pages(commune, q, page_size=1000)
    n = len({s["__id"] for s in commune})
    assert len(pages) == -(-n // 1000)
    for p in pages[:-1]:
        assert "$skiptoken=" in p["@odata.nextLink"].replace("%24", "$")
        assert len(p["value"]) == 1000
    assert "@odata.nextLink" not in pages[-1]
    assert all(p["@odata.context"].endswith("rasoat_household.svc/$metadata#Submissions") for p in pages)
    rows = [row for p in pages for row in p["value"]]
    assert len(rows) == n and len({r["__id"] for r in rows}) == n

    row = rows[0]
    assert set(row["identification"]) == {f.name for f in q.household_fields if f.groups == ("identification",)}
    loc = row["identification"]["location"]
    assert loc["type"] == "Point" and 105.0 <= loc["coordinates"][0] <= 105.3
    assert 9.45 <= loc["coordinates"][1] <= 9.65 and "accuracy" in loc["properties"]
    assert isinstance(row["household_size"], int)
    assert isinstance(row["housing"]["floor_area"], float)
    assert isinstance(row["income"]["income_wages"], int)
    assert isinstance(row["interview_date"], str) and isinstance(row["started_at"], str)
    assert row["meta"]["instanceName"].startswith(row["identification"]["household_id"])
    sysk = row["__system"]
    assert list(sysk) == ["submissionDate", "updatedAt", "submitterId", "submitterName",
                          "attachmentsPresent", "attachmentsExpected", "status", "reviewState",
                          "deviceId", "edits", "formVersion", "deletedAt"]
    assert isinstance(sysk["submitterId"], str) and sysk["formVersion"] == q.version
    assert row["member@odata.navigationLink"] == f"Submissions('{quote(row['__id'], safe='')}')/member"
    assert len(row["member"]) == row["household_size"]
    assert all(re.fullmatch(r"[0-9a-f]{40}", m["__id"]) for m in row["member"])
    assert [m["relationship"] for m in row["member"]].count("head") == 1
    edited = [r for r in rows if r["__system"]["reviewState"] == "edited"]
    assert len(edited) == 1 and edited[0]["__system"]["edits"] == 1
    assert edited[0]["meta"]["instanceID"] != edited[0]["__id"]

    paths = S.write_central_odata_json(commune, q, tmp_path / "odata", page_size=2500)
    assert [p.name for p in paths] == [f"odata-submissions-{k:04d}.json" for k in range(1, len(paths) + 1)]
    first = json.loads(paths[0].read_text(encoding="utf-8"))
    assert "@odata.nextLink" in first
    assert "ễ" in paths[0].read_text(encoding="utf-8") or "ị" in paths[0].read_text(encoding="utf-8")
    assert S.odata_pages(commune, q)[0].get("@odata.nextLink") is None


# ---------------------------------------------------------------------------------------------
# Calibration (demo data of the project)
# ---------------------------------------------------------------------------------------------


def _deprivations(s) -> dict[str, bool]:
    a, ms = s["answers"], s["members"]
    ages = [YEAR - m["birth_year"] for m in ms]
    return {
        "H2": any(age >= 6 and m["health_insurance"] != "yes" for m, age in zip(ms, ages)),
        "W1": a["water_source"] not in ("piped", "borehole", "protected_well", "protected_spring",
                                        "rainwater", "bottled"),
        "W2": a["latrine"] not in ("septic", "semi_septic", "pour_flush"),
    }


def test_calibration(current):
    low = [s for s in current if S.per_capita_monthly_income(s) <= LINE[s["answers"]["area_type"]]]
    share = len(low) / len(current)
    assert 0.025 <= share <= 0.05
    for area in ("rural", "urban"):
        group = [s for s in current if s["answers"]["area_type"] == area]
        lows = [s for s in low if s["answers"]["area_type"] == area]
        assert 0.015 <= len(lows) / len(group) <= 0.06
    deps = [_deprivations(s) for s in current]
    rate = {k: sum(d[k] for d in deps) / len(deps) for k in deps[0]}
    assert 0.08 <= rate["H2"] <= 0.16
    assert 0.04 <= rate["W1"] <= 0.10
    assert 0.10 <= rate["W2"] <= 0.20
    low_deps = [_deprivations(s) for s in low]
    for k in rate:  # low-income households are more often deprived
        assert sum(d[k] for d in low_deps) / len(low_deps) > rate[k]
    khmer_low = sum(s["answers"]["ethnicity"] == "khmer" for s in low) / len(low)
    khmer_all = sum(s["answers"]["ethnicity"] == "khmer" for s in current) / len(current)
    assert khmer_low > 1.5 * khmer_all
    # Poverty reasons mostly on low-income households.
    low_ids = {s["__id"] for s in low}
    assert sum(bool(s["answers"]["poverty_reasons"]) for s in low) / len(low) > 0.8
    others = [s for s in current if s["__id"] not in low_ids]
    assert sum(bool(s["answers"]["poverty_reasons"]) for s in others) / len(others) < 0.1


def test_generation_is_fast(hamlets, q):
    import time

    t = time.perf_counter()
    S.generate_commune(hamlets, q, 99, scale=8000 / 7502)
    assert time.perf_counter() - t < 2.0
