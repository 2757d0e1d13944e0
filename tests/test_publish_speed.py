"""The column-at-a-time writers give exactly what the value-by-value rules give.

`csv_bytes`, `write_xlsx` and the list layout convert whole columns (for publications of a
million households); these tests hold them to the per-value definitions (`_cell`, `_csv_text`,
`_text_or_empty`, the csv module) on awkward values of every dtype.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import unicodedata

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.pipeline import publish as pub

NFD = unicodedata.normalize("NFD", "Nguyễn Thị Ánh")


def reference_csv(table: pd.DataFrame) -> bytes:
    """csv_bytes as defined value by value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([pub._header(c) for c in table.columns])
    for values in table.itertuples(index=False, name=None):
        writer.writerow([pub._csv_text(pub._cell(v)) for v in values])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def awkward() -> pd.DataFrame:
    mixed = [None, pd.NA, float("nan"), float("inf"), -float("inf"), -0.0, 1e16, 1e-7, 0.1, 3, np.int64(7),
             np.float32(0.1), np.bool_(True), True, False, dt.date(2026, 1, 2), dt.datetime(2026, 1, 2, 3, 4, 5),
             pd.Timestamp("2026-01-02 03:04:05.123456789"), pd.Timestamp("2026-01-02", tz="Asia/Ho_Chi_Minh"),
             pd.NaT, "=cmd", "+84", "-x", "@a", "\tx", "\rx", NFD, "a,b", 'a"b', "a\nb", "a\r\nb", "", " ", "'=x",
             b"bytes", 2**70, pd.Timedelta("1h"), [1, 2], np.datetime64("NaT"), np.int8(-3), 5e-324]
    n = len(mixed)

    def fill(values, dtype=None, pad="z"):
        return pd.Series(list(values)[:n] + [pad] * max(n - len(values), 0), dtype=dtype)

    texts = ["=1", NFD, None, "ok", "a,b", "", "-", "x\ny", "\u0301x", "a\x00b", '"q"', "@", "+", "\t"]
    return pd.DataFrame({
        "mixed": pd.Series(mixed, dtype=object),
        "object text": fill(texts, object),
        "str": fill(texts, "str"),
        "string": fill(texts, "string"),
        "int64": pd.Series(range(-3, n - 3), dtype="int64"),
        "uint8": pd.Series([i % 256 for i in range(n)], dtype="uint8"),
        "Int64": pd.array([None if i % 5 == 0 else i * 10**12 for i in range(n)], dtype="Int64"),
        "float64": fill([float("nan"), float("inf"), -0.0, 1e16, 0.1, 1 / 3, -2.5e-8, 1e300], "float64", 1.0),
        "float32": fill([0.1, float("nan"), 3.0], "float32", 2.0),
        "Float64": fill([None, 0.1, 1e16, -0.0, float("inf")], "Float64", 5.5),
        "bool": fill([True, False], "bool", True),
        "boolean": fill([True, None, False], "boolean", None),
        "datetime": pd.Series(pd.to_datetime(["2026-01-02 00:00:00", None, "2026-03-04 05:06:07"] * 3
                                             + ["1677-09-22 00:00:00"] + ["2027-01-01 00:00:00"] * (n - 10))),
        "datetime fraction": pd.Series(pd.to_datetime(["2026-01-02 00:00:00", None, "2027-01-01 00:00:00.5"]
                                                      + ["2027-01-01 00:00:00"] * (n - 3), format="ISO8601")),
        "tz": pd.Series(pd.to_datetime(["2026-01-02", None] + ["2027-01-01"] * (n - 2)).tz_localize("Asia/Ho_Chi_Minh")),
        "category": fill(["x", "=y", None, "ạ", NFD], "category", "x"),
        "ints and None": fill([1, None, 2, np.nan], object, 3),
        "bools and None": fill([True, None, False], object, True),
        "all None": pd.Series([None] * n, dtype=object),
        "all NaN": pd.Series([float("nan")] * n),
        "timedelta": pd.Series(pd.to_timedelta(["1h", None] + ["2D"] * (n - 2))),
        "period": pd.Series(pd.period_range("2026-01", periods=n, freq="M")),
        "=evil,header": fill(["v"], "str"),
        NFD: fill(["v"], "str"),
    })


def test_csv_bytes_equals_value_by_value_conversion():
    table = awkward()
    assert pub.csv_bytes(table) == reference_csv(table)
    for column in table.columns:
        for part in (table[[column]], table[[column]].astype(object), table[[column]].iloc[:0],
                     table[[column]].iloc[7:12], table[[column]].iloc[::-1]):
            assert pub.csv_bytes(part) == reference_csv(part), column


def test_csv_bytes_edge_shapes():
    for table in (pd.DataFrame(), pd.DataFrame(index=range(3)), pd.DataFrame({"x": [None, "", "a"]}),
                  pd.DataFrame([[1, "a"], [2, None]], columns=["x", "x"]),
                  pd.DataFrame({"a": ["\u0301x", "a\x00b"], "b": ["\u1100", "\u1161"]})):
        assert pub.csv_bytes(table) == reference_csv(table)


def test_cell_conversion_per_column_keeps_types():
    table = awkward()
    for column in table.columns:
        got = pub._cell_column(table[column])
        want = [pub._cell(v) for v in table[column]]
        assert [type(v) for v in got] == [type(v) for v in want], column
        assert got == want, column
        assert pub._text_column(table[column]) == [pub._text_or_empty(v) for v in table[column]], column


def test_posting_cells_frame_equals_map(tmp_path):
    classified = _commune(60)
    for table in pub.all_lists(classified).values():
        for part in (table, table.iloc[:0]):
            pd.testing.assert_frame_equal(pub._cells_frame(part), part.map(pub._cell), check_exact=True)


def test_workbook_cells_follow_the_value_rules(tmp_path):
    table = awkward().drop(columns=["mixed", "period"])  # xlsx cells: text, numbers, booleans, blanks
    table = table.replace({"a\x00b": "ab"})  # xlsxwriter escapes control characters (_x0000_)
    heading = pub.PublicationHeading(authority="UBND", commune_name="Xã A", province="Tỉnh B", reference_year=2027,
                                     rule_set_version="x", provisional=False, published_on=dt.date(2026, 1, 1))
    path = tmp_path / "x.xlsx"
    pub.write_xlsx(path, [pub._Sheet(name="S", title="T", place="P", table=table)], heading)
    ws = openpyxl.load_workbook(path).active
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == pub._header(table.columns[0]))
    for c, column in enumerate(table.columns, start=1):
        for r, raw in enumerate(table[column], start=header + 1):
            want = pub._cell(raw)
            got = ws.cell(r, c).value
            if want is None:
                assert got is None, (column, raw)
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-15) and type(got) in (float, int), (column, raw)
            else:
                assert got == want and isinstance(got, type(want)), (column, raw)
    again = tmp_path / "y.xlsx"
    pub.write_xlsx(again, [pub._Sheet(name="S", title="T", place="P", table=table)], heading)
    assert again.read_bytes() == path.read_bytes()


def test_secrets_with_unusual_digits():
    rng = random.Random(1)
    alphabet = list("0123456789") * 3 + ["²", "①", "٣", " ", "-", "+", "\x00", "a", "ạ"]
    for trial in range(200):
        values = [None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
                  for _ in range(rng.randrange(0, 20))]
        frame = pd.DataFrame({"head_id_number": pd.Series(values, dtype=object),
                              "phone": pd.Series(values[::-1], dtype=object)})
        expected = set()
        for value in values:
            digits = pub._digits(pub._text_or_empty(value))
            if len(digits) >= 6:
                expected.add(digits)
        assert pub._secrets_of(frame) == expected


def _commune(n: int) -> pd.DataFrame:
    rng = random.Random(n)
    classes = [("poor", "Hộ nghèo"), ("near_poor", "Hộ cận nghèo"), ("average", "Hộ có mức sống trung bình"),
               ("not_poor", "Hộ không nghèo")]
    rows = []
    for i in range(n):
        hamlet = rng.choice(["A01", "A02", "A03", None])
        cls, label = rng.choice(classes)
        idn = f"089{rng.randrange(10**9):09d}"
        rows.append({
            "household_id": rng.choice([f"{hamlet}-{i:04d}", f"{hamlet}-{i % 7:04d}", None]), "hamlet": hamlet,
            "hamlet_name": f"Ấp {hamlet}", "head_name": rng.choice([NFD, "=cmd", "Lê, \"Tí\"", None, f"Bà {idn}"]),
            "head_id_number": rng.choice([idn, None]), "phone": rng.choice(["0912345678", "+84 912 000 333", None]),
            "ethnicity": rng.choice(["kinh", "khmer", None]), "members": rng.randrange(1, 9),
            "income_per_capita_month": rng.randrange(10**6, 5 * 10**6), "deprivation_count": rng.randrange(0, 5),
            "deprived_indicators": rng.choice(["H2, W1", "", "-E1"]), "household_class": cls, "class_label": label,
            "reason": rng.choice(["Thu nhập 1.200.000 đồng", f"CCCD {idn}", "=1+1"]), "provisional": rng.random() < 0.3,
        })
    frame = pd.DataFrame(rows)
    frame.index = [3 * i + 1 for i in range(n)][::-1]
    return frame


def test_hamlet_files_are_the_lists_of_the_hamlets_rows(tmp_path):
    classified = _commune(120)
    heading = pub.PublicationHeading(authority="UBND", commune_name="Xã A", province="Tỉnh B", reference_year=2027,
                                     rule_set_version="x", provisional=False, published_on=dt.date(2026, 1, 1))
    out = pub.publish(classified, {}, heading, {}, tmp_path, "p", hamlets={"A09": "Ấp Chín"})
    secrets = pub._secrets_of(classified)
    for name, table in pub.all_lists(classified).items():
        assert (out / "commune" / f"{name}.csv").read_bytes() == reference_csv(table)
    for code in ("A01", "A02", "A03", "A09"):
        rows = classified[classified["hamlet"].map(pub._text_or_empty) == code]
        for name, table in pub.all_lists(rows, hidden_from=secrets).items():
            assert (out / "hamlets" / code / f"{name}.csv").read_bytes() == reference_csv(table), (code, name)
            # and the workbook and the posted PDF: the same bytes as from the hamlet's own table
            own = tmp_path / "own" / code
            own.mkdir(parents=True, exist_ok=True)
            pub._write_list(own, name, table, heading, pub._place(heading, "Ấp Chín" if code == "A09" else f"Ấp {code}"))
            kinds = {made.suffix for made in own.glob(f"{name}.*")}
            assert kinds == ({".csv", ".xlsx", ".pdf"} if name.startswith("niem-yet-") else {".csv", ".xlsx"})
            for made in own.glob(f"{name}.*"):
                assert (out / "hamlets" / code / made.name).read_bytes() == made.read_bytes(), (code, made.name)


# any text but lone surrogates (UTF-8 cannot hold them; both ways raise UnicodeEncodeError)
_TEXTS = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _TEXTS, st.sampled_from(["=1", "a,b", 'q"', "x\r\ny", NFD, "\u0301", "-"])),
                min_size=1, max_size=40),
       st.sampled_from(["object", "str", "string"]), st.integers(1, 3))
def test_csv_bytes_of_any_text_is_the_csv_modules(texts, dtype, ncols):
    """Quoting, formula prefixes, NFC and the row joining (done in Arrow) against the csv module."""
    table = pd.DataFrame({f"c{k}": pd.Series(texts[k:] + texts[:k], dtype=dtype) for k in range(ncols)})
    assert pub.csv_bytes(table) == reference_csv(table)
    assert pub.csv_bytes(table.iloc[1:], header=False) == reference_csv(table.iloc[1:]).split(b"\r\n", 1)[1]


_REPEATED = st.sampled_from([None, float("nan"), pd.NA, "", "=1", "a,b", 'q"', "x\r\ny", NFD, "\u0301", "-", "Ấp 1", "A01-0001"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_REPEATED, _TEXTS), min_size=1, max_size=60), st.sampled_from(["object", "str", "string"]))
def test_text_columns_whose_values_repeat_are_written_as_value_by_value(texts, dtype):
    """A text column whose values repeat is converted once per distinct value, then spread (`_coded`)."""
    table = pd.DataFrame({"c": pd.Series(texts * 3, dtype=dtype), "d": pd.Series(texts[::-1] * 3, dtype=dtype)})
    assert pub.csv_bytes(table) == reference_csv(table)


def test_long_repeating_columns_of_text_or_not_quite_text():
    """Past the first rows' sample: ids repeated per indicator row, and object columns where equal-looking
    values of other types (1, True, b"1") must keep their own text, not the first one's."""
    rng = np.random.default_rng(11)
    n = 3 * pub._SAMPLE
    ids = np.array([f"A{k // 12 // 997:02d}-{k // 12 % 997:04d}" for k in range(n)], dtype=object)  # 12 rows each
    pool = np.array(["1", 1, True, 1.0, b"1", None, "=x", NFD], dtype=object)
    table = pd.DataFrame({
        "ids": pd.Series(ids, dtype=object), "ids str": pd.Series(ids, dtype="str"),
        "pool": pd.Series(pool[rng.integers(0, len(pool), n)], dtype=object),
        "text and NaT": pd.Series(np.where(rng.random(n) < 0.3, pd.NaT, ids), dtype=object),
        "mostly distinct": pd.Series([f"v{k}" for k in range(n)], dtype="str"),
    })
    assert pub._coded(table["ids"]) is not None and pub._coded(table["mostly distinct"]) is None
    assert pub.csv_bytes(table) == reference_csv(table)
    for column in table.columns:
        assert pub.csv_bytes(table[[column]]) == reference_csv(table[[column]]), column


def test_neighbouring_columns_of_few_values_are_written_as_each_alone():
    rng = np.random.default_rng(7)
    n = 500
    texts = np.array(["=a", "b,c", NFD, "", 'q"', "x", "Hộ nghèo"], dtype=object)
    columns = {
        "bool": rng.random(n) < 0.5,
        "int8": rng.integers(-3, 3, n).astype("int8"),
        "uint64": rng.integers(0, 2, n).astype("uint64") * (2**63),
        "Int64": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 3, n)), dtype="Int64"),
        "boolean": pd.array(np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype="boolean"),
        "str": pd.Series(np.where(rng.random(n) < 0.1, None, texts[rng.integers(0, len(texts), n)]), dtype="str"),
        "string": pd.Series(np.where(rng.random(n) < 0.1, None, texts[rng.integers(0, len(texts), n)]), dtype="string"),
        "many": pd.Series(rng.integers(0, 10**6, n)),
        "object": pd.Series(np.where(rng.random(n) < 0.5, 1, True), dtype=object),
        "float": pd.Series(np.where(rng.random(n) < 0.5, 0.0, -0.0)),
    }
    names = list(columns)
    for trial in range(30):
        chosen = [names[i] for i in rng.permutation(len(names))[: rng.integers(2, len(names) + 1)]]
        table = pd.DataFrame({name: columns[name] for name in chosen})
        assert pub.csv_bytes(table) == reference_csv(table), chosen
        assert pub.csv_bytes(table.iloc[:3]) == reference_csv(table.iloc[:3]), chosen


# --------------------------------------------------------------------------------------------
# Streamed data rows: a sheet without a chart gets its data rows as XML rendered a block at a time;
# a sheet with a chart hands them to xlsxwriter cell by cell. Both must read back the same.
# --------------------------------------------------------------------------------------------

HEADING = pub.PublicationHeading(authority="UBND", commune_name="Xã A", province="Tỉnh B", reference_year=2027,
                                 rule_set_version="x", provisional=True, published_on=dt.date(2026, 1, 1))
# "_x0041_" is left to the escaping test: openpyxl undoes the escape of its underscore in shared strings only
ODD_TEXTS = ["=1+1", "+84 912", "-x", "@a", "a & b < c > d", "x\x01y\x1fz", " lead", "trail ", "\ttab",
             "\ufffe", "Lê, \"Tí\"", NFD, "", "line\nbreak", "x" * 40_000, "😀" * 17_000]


def _streamed_and_cell_by_cell(tmp_path, table: pd.DataFrame, monkeypatch=None):
    """(sheet whose rows were streamed, sheet written cell by cell) of the same table."""
    streamed, cells = tmp_path / "streamed.xlsx", tmp_path / "cells.xlsx"
    pub.write_xlsx(streamed, [pub._Sheet(name="S", title="T", place="P", table=table)], HEADING)
    chart = pub.ChartSpec(title="c", category=table.columns[0], columns=(table.columns[1],))
    pub.write_xlsx(cells, [pub._Sheet(name="S", title="T", place="P", table=table, chart=chart)], HEADING)
    return openpyxl.load_workbook(streamed).active, openpyxl.load_workbook(cells).active


def _readback(ws):
    cells = [(c.coordinate, c.value, c.data_type, c.number_format, c.font.b, c.alignment.wrap_text, c.border.left.style)
             for row in ws.iter_rows() for c in row]
    layout = (sorted(map(str, ws.merged_cells.ranges)), {k: v.width for k, v in ws.column_dimensions.items()},
              {k: v.height for k, v in ws.row_dimensions.items() if v.height}, ws.print_area, ws.freeze_panes,
              ws.print_title_rows, ws.page_setup.orientation, ws.page_setup.fitToWidth, ws.oddFooter.center.text)
    return cells, layout


def test_streamed_rows_read_back_as_cells_written_one_by_one(tmp_path):
    rng = random.Random(3)
    n = 2500  # several blocks of rows when the block is small (below)
    table = pd.DataFrame({
        "Tên": [rng.choice(ODD_TEXTS[:-2]) for _ in range(n)],
        "Số": pd.array([None if i % 7 == 0 else i * 10**9 for i in range(n)], dtype="Int64"),
        pub.MONEY_HEADER: pd.array([rng.randrange(10**7) for _ in range(n)], dtype="Int64"),
        "Tỷ lệ": [rng.choice([0.1, 1 / 3, 1e16, -0.0, float("nan")]) for _ in range(n)],
        "Lý do": [rng.choice(ODD_TEXTS) for _ in range(n)],
        "Cờ": [rng.choice([True, False]) for _ in range(n)],
        "Lẫn": pd.Series([rng.choice([None, 1, 2.5, True, "=x", 10**17]) for _ in range(n)], dtype=object),
    })
    old_block = pub._ROWS_AT_ONCE
    pub._ROWS_AT_ONCE = 700
    try:
        streamed, cells = _streamed_and_cell_by_cell(tmp_path, table)
    finally:
        pub._ROWS_AT_ONCE = old_block
    got, want = _readback(streamed), _readback(cells)
    assert got[1] == want[1]
    assert got[0] == want[0]
    assert any(h > 15 for h in got[1][2].values())  # wrapped rows grown


def test_text_starting_like_a_formula_stays_text(tmp_path):
    table = pd.DataFrame({"a": ["=1+1", "=SUM(A1:A2)", "@x", "-3"], "b": [1, 2, 3, 4]})
    path = tmp_path / "f.xlsx"
    pub.write_xlsx(path, [pub._Sheet(name="S", title="T", place="P", table=table)], HEADING)
    import zipfile

    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml
    ws = openpyxl.load_workbook(path).active
    values = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("'")]
    assert values == ["'=1+1", "'=SUM(A1:A2)", "'@x", "'-3"]
    assert all(c.data_type == "s" for row in ws.iter_rows() for c in row if c.value in values)


def test_text_looking_like_rich_text_xml_stays_text(tmp_path):
    # xlsxwriter writes a string "<r>...</r>" unescaped, as rich-text XML; streamed rows escape it
    table = pd.DataFrame({"a": ["<r>rich</r>", "<r><t>x</t></r>"]})
    path = tmp_path / "r.xlsx"
    pub.write_xlsx(path, [pub._Sheet(name="S", title="T", place="P", table=table)], HEADING)
    ws = openpyxl.load_workbook(path).active
    assert [c.value for row in ws.iter_rows() for c in row if str(c.value).startswith("<r>")] == list(table["a"])


def test_cell_text_escaped_as_xlsxwriter_escapes_it():
    from xlsxwriter.xmlwriter import XMLwriter

    rng = random.Random(11)
    alphabet = ["a", "&", "<", ">", "_", "x", "0", "4", "F", "_x0041_", "\x00", "\x01", "\x1f", "\n", "\t", "\ufffe", "\uffff",
                "ạ", "😀", " "]
    for trial in range(300):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 10))) for _ in range(rng.randrange(1, 6))]
        got = pub._inline_strings(texts, 3)
        for text, xml in zip(texts, got):
            escaped = XMLwriter()._escape_data(XMLwriter._escape_control_characters(text))
            space = ' xml:space="preserve"' if escaped[:1].isspace() or escaped[-1:].isspace() else ""  # as escaped
            assert xml == f' s="3" t="inlineStr"><is><t{space}>{escaped}</t></is></c>', text


def test_large_list_streamed_in_blocks_is_deterministic(tmp_path):
    classified = _commune(400)
    table = pub.household_lists(classified)["ho-ngheo"]
    old_block = pub._ROWS_AT_ONCE
    pub._ROWS_AT_ONCE = 7
    try:
        pub.write_xlsx(tmp_path / "a.xlsx", [pub._Sheet(name="S", title="T", place="P", table=table)], HEADING)
    finally:
        pub._ROWS_AT_ONCE = old_block
    pub.write_xlsx(tmp_path / "b.xlsx", [pub._Sheet(name="S", title="T", place="P", table=table)], HEADING)
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx").active
    header = next(r for r in range(1, 20) if ws.cell(r, 1).value == "STT")
    assert [ws.cell(header + 1 + i, 1).value for i in range(len(table))] == list(range(1, len(table) + 1))
    assert ws.cell(header + len(table) + 2, 1).value is None  # the date line is on the right half


def test_a_table_longer_than_a_sheet_continues_on_the_next_sheets(tmp_path, monkeypatch):
    # a sheet's data rows leave room for its heading (at most 11 rows) and signature blocks (5)
    assert pub._SHEET_DATA_ROWS + 11 + 5 <= pub._EXCEL_ROWS
    # Excel stops at row 1,048,576 and xlsxwriter drops what is below without a word: no row may be lost
    monkeypatch.setattr(pub, "_SHEET_DATA_ROWS", 4)
    table = pd.DataFrame({"STT": range(1, 11), "Họ và tên": [f"Người {k}" for k in range(1, 11)]})
    path = tmp_path / "long.xlsx"
    pub.write_xlsx(path, [pub._Sheet(name="Danh sách hộ nghèo rất dài tên", title="DANH SÁCH", place="P", table=table),
                          pub._Sheet(name="Khác", title="KHÁC", place="P", table=table.head(2)),
                          pub._Sheet(name="Trống", title="TRỐNG", place="P", table=table.head(0))], HEADING)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Danh sách hộ nghèo rất dài tên", "Danh sách hộ nghèo rất dài (2)",
                               "Danh sách hộ nghèo rất dài (3)", "Khác", "Trống"]  # an empty list keeps its sheet
    numbers = [[c.value for c in row if isinstance(c.value, int)] for ws in book.worksheets[:3] for row in ws.iter_rows()]
    assert [n[0] for n in numbers if n] == list(range(1, 11))  # every row once, in order, across the sheets
    titles = [[c.value for row in ws.iter_rows() for c in row if str(c.value).startswith("DANH SÁCH")] for ws in book.worksheets[:3]]
    assert titles == [["DANH SÁCH"], ["DANH SÁCH (TIẾP THEO, PHẦN 2)"], ["DANH SÁCH (TIẾP THEO, PHẦN 3)"]]
    assert [c.value for row in book["Khác"].iter_rows() for c in row if c.value in ("Người 1", "Người 2")] == ["Người 1", "Người 2"]
