"""Quality signals per enumerator and the quality report (XLSX + HTML): content, escaping, formula neutralising."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pandas as pd

from _households import QUESTIONNAIRE, household, tidy
from rasoat.pipeline import quality
from rasoat.pipeline.checks import check_tables
from rasoat.pipeline.tidy import ISSUE_COLUMNS

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def timed(k: int, who: str, start: str, minutes: float, **answers) -> dict:
    t0 = dt.datetime.fromisoformat(start)
    return household(k, enumerator=who, started_at=t0, ended_at=t0 + dt.timedelta(minutes=minutes), **answers)


def test_short_rapid_and_identical_interviews_are_flagged():
    subs = [timed(k % 4, "Chị Hà", f"2026-10-0{1 + k % 4}T08:00:00+07:00", 30 + k, hamlet="A01") for k in range(6)]
    short = timed(4, "Anh Lực", "2026-10-05T08:00:00+07:00", 3)
    burst = [timed(5 + k, "Anh Bé", f"2026-10-06T09:0{3 * k}:00+07:00", 25) for k in range(3)]  # ends 09:25, 09:28, 09:31
    result = check_tables(tidy(subs + [short] + burst), QUESTIONNAIRE)
    issues = result.issues
    assert set(issues.loc[issues["rule"] == "short_interview", "submission_id"]) == {short["__id"]}
    assert set(issues.loc[issues["rule"] == "rapid_succession", "submission_id"]) == {b["__id"] for b in burst}
    identical = issues[issues["rule"] == "identical_answers"]
    # household(k) for the same k repeats the same answers: Chị Hà's 6 interviews come from 4 templates
    assert set(identical["enumerator"]) == {"Chị Hà"} and len(identical) == 4
    assert (issues.loc[issues["rule"].isin(["short_interview", "rapid_succession", "identical_answers"]), "severity"] == "warning").all()
    assert len(result.excluded) == 2 and result.excluded["reason"].str.startswith("trùng hộ").all()  # same household IDs


def test_no_signal_without_enough_interviews_or_times():
    subs = [timed(k, "Chị Hà", f"2026-10-0{1 + k}T08:00:00+07:00", 40) for k in range(3)]
    assert quality.quality_signals(tidy(subs).households, tidy(subs).members, QUESTIONNAIRE).empty


def test_enumerator_and_hamlet_summaries_count_households():
    households = pd.DataFrame({"submission_id": ["a", "b", "c"], "enumerator": ["X", "X", "Y"], "hamlet": ["A01", "A01", "A02"],
                               "started_at": ["2026-10-01T08:00:00Z"] * 3,
                               "ended_at": ["2026-10-01T08:30:00Z", "2026-10-01T08:02:00Z", None]})
    issues = pd.DataFrame([
        {"submission_id": "b", "enumerator": "X", "hamlet": "A01", "rule": "short_interview", "severity": "warning"},
        {"submission_id": "c", "enumerator": "Y", "hamlet": "A02", "rule": "missing_gps", "severity": "warning"},
        {"submission_id": "c", "enumerator": "Y", "hamlet": "A02", "rule": "required", "severity": "error"},
    ]).reindex(columns=ISSUE_COLUMNS)
    by_who = quality.enumerator_summary(households, issues, QUESTIONNAIRE).set_index("Điều tra viên")
    assert by_who.loc["X", "Số hộ"] == 2 and by_who.loc["X", "Thời gian phỏng vấn trung vị (phút)"] == 16.0
    assert by_who.loc["X", "Phỏng vấn quá ngắn"] == 1 and by_who.loc["Y", "Thiếu GPS"] == 1 and by_who.loc["Y", "Hộ có lỗi"] == 1
    excluded = pd.DataFrame({"submission_id": ["c"], "household_id": [None], "hamlet": ["A02"], "reason": ["x"]})
    by_hamlet = quality.hamlet_summary(households, issues, excluded, {"A01": "Ấp Một", "A02": "Ấp Hai", "A03": "Ấp Ba"}).set_index("Mã ấp")
    assert by_hamlet.loc["A02", "Hộ chờ xử lý"] == 1 and by_hamlet.loc["A03", "Số phiếu"] == 0 and by_hamlet.loc["A01", "Tên ấp"] == "Ấp Một"


def hostile_issues() -> tuple[pd.DataFrame, pd.DataFrame]:
    households = pd.DataFrame({"submission_id": ["s1", "s2"], "household_id": ["=H1", "H2"], "hamlet": ["A01", "A02"],
                               "enumerator": ["@Hà", "<b>Lực</b>"], "started_at": [None, None], "ended_at": [None, None]})
    issues = pd.DataFrame([
        {"submission_id": "s1", "household_id": "=H1", "hamlet": "A01", "enumerator": "@Hà", "field": "address", "member": None,
         "value": "=HYPERLINK(\"http://evil\")", "rule": "too_long", "severity": "warning", "message": "-dài"},
        {"submission_id": "s2", "household_id": "H2", "hamlet": "A02", "enumerator": "<b>Lực</b>", "field": "head_name", "member": 2,
         "value": "<script>alert(1)</script>", "rule": "required", "severity": "error", "message": "\tthiếu"},
    ]).reindex(columns=ISSUE_COLUMNS)
    return households, issues


def test_report_files_are_written_per_commune_and_hamlet_neutralised_and_escaped():
    households, issues = hostile_issues()
    excluded = pd.DataFrame(columns=["submission_id", "household_id", "hamlet", "reason"])
    files = quality.report_files(issues, households, excluded, QUESTIONNAIRE, hamlet_names={"A01": "Ấp Một", "A02": "Ấp Hai"},
                                 commune_name="Xã Vĩnh Phong", published_on=dt.date(2026, 12, 1))
    assert sorted(files) == ["commune/bao-cao-chat-luong.html", "commune/bao-cao-chat-luong.xlsx",
                             "hamlets/A01/bao-cao-chat-luong.html", "hamlets/A01/bao-cao-chat-luong.xlsx",
                             "hamlets/A02/bao-cao-chat-luong.html", "hamlets/A02/bao-cao-chat-luong.xlsx"]
    page = files["commune/bao-cao-chat-luong.html"].decode("utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<b>Lực" not in page
    for heading in ("Tổng hợp theo ấp", "Theo điều tra viên", "Chi tiết theo ấp", "Ấp Một (A01)"):
        assert heading in page
    assert "Ấp Hai" not in files["hamlets/A01/bao-cao-chat-luong.html"].decode("utf-8").split("Chi tiết theo ấp")[1]
    for name, data in files.items():
        if name.endswith(".xlsx"):
            wb = openpyxl.load_workbook(io.BytesIO(data))
            texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
            assert texts and not [t for t in texts if t.startswith(FORMULA_STARTS)], name
            assert not [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.data_type == "f"]
    detail = openpyxl.load_workbook(io.BytesIO(files["commune/bao-cao-chat-luong.xlsx"]))["Chi tiết"]
    values = [c.value for row in detail.iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://evil\")" in values and "'=H1" in values and "'\tthiếu" in values


def test_report_bytes_are_deterministic():
    households, issues = hostile_issues()
    excluded = pd.DataFrame(columns=["submission_id", "household_id", "hamlet", "reason"])
    args = dict(hamlet_names={"A01": "Ấp Một"}, commune_name="Xã Vĩnh Phong", published_on=dt.date(2026, 12, 1))
    assert quality.report_files(issues, households, excluded, QUESTIONNAIRE, **args) == quality.report_files(
        issues, households, excluded, QUESTIONNAIRE, **args)


def test_each_hamlets_files_are_what_its_own_data_alone_gives():
    """The hamlets' files are cut from tables computed for all hamlets at once: each must still be the report of
    that hamlet's own households, issues and excluded households, rendered alone."""
    plan = [("A01", "Chị Hà", 30), ("A01", "Chị Hà", 3), ("A01", None, 35), ("A02", "Chị Hà", 31), ("A02", "Anh Bé", 25),
            ("A02", "Anh Bé", 25), ("A02", "Anh Bé", 25), ("A03", "<b>Lực</b>", 40), ("A03", "Chị Hà", 33), ("A03", "=Tư", 28)]
    subs = [timed(k % 6, who, f"2026-10-01T09:{3 * k:02d}:00+07:00", minutes, hamlet=hamlet)
            for k, (hamlet, who, minutes) in enumerate(plan)]
    checked = check_tables(tidy(subs), QUESTIONNAIRE)
    strays = pd.DataFrame([{"submission_id": "x1", "hamlet": None, "enumerator": "Chị Hà", "rule": "required", "severity": "error"},
                           {"submission_id": "x2", "hamlet": "Z9", "enumerator": "Anh Bé", "rule": "missing_gps", "severity": "warning"}])
    issues = pd.concat([checked.issues, strays.reindex(columns=ISSUE_COLUMNS)], ignore_index=True)
    excluded = pd.concat([checked.excluded, pd.DataFrame([{"submission_id": "x3", "hamlet": "A02", "reason": "trùng hộ"}])],
                         ignore_index=True)
    names = {"A01": "Ấp Một", "A02": "Ấp <Hai>", "A03": "Ấp Ba", "A04": "Ấp Bốn"}  # A04: no households
    day = dt.date(2026, 12, 1)
    files = quality.report_files(issues, checked.households, excluded, QUESTIONNAIRE, hamlet_names=names,
                                 commune_name="Xã Vĩnh Phong", published_on=day)
    for code, name in names.items():
        def own(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["hamlet"].astype(object) == code]

        alone = quality.report_files(own(issues), own(checked.households), own(excluded), QUESTIONNAIRE, hamlet_names={code: name},
                                     commune_name=f"{name}, Xã Vĩnh Phong", published_on=day)
        for kind in ("xlsx", "html"):
            assert files[f"hamlets/{code}/bao-cao-chat-luong.{kind}"] == alone[f"commune/bao-cao-chat-luong.{kind}"], (code, kind)
    assert set(issues["rule"]) >= {"short_interview", "rapid_succession", "identical_answers"}
    assert "Không có vấn đề nào." in files["hamlets/A04/bao-cao-chat-luong.html"].decode("utf-8")
