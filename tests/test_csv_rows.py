"""CSV text made in Arrow is byte for byte what Python's csv module writes."""

from __future__ import annotations

import csv
import io

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rasoat.forms.build import CLASS_LABELS, PREVIOUS_COLUMNS, previous_households_csv
from rasoat.pipeline import csv_rows

# any text but lone surrogates, which UTF-8 cannot hold; and the characters that decide quoting, often
FIELDS = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=10),
                   st.sampled_from(["", ",", '"', "\r", "\n", "\r\n", 'a"b,c', " x ", "Nguyễn Thị Ánh", "=1"]))


def by_csv_module(columns: list[list[str]], line_end: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows(zip(*columns))
    return out.getvalue().encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 4).flatmap(lambda ncols: st.lists(st.lists(FIELDS, min_size=ncols, max_size=ncols), min_size=1, max_size=30)),
       st.sampled_from(["\r\n", "\n"]))
def test_rows_are_the_csv_modules(rows, line_end):
    columns = [list(column) for column in zip(*rows)]
    assert csv_rows.text_rows(columns, line_end, b"head\n") == b"head\n" + by_csv_module(columns, line_end)


def test_a_field_with_a_lone_cr_is_quoted_only_when_the_line_end_holds_cr():
    assert csv_rows.text_rows([["a\rb", "c"]], "\n") == b'a\rb\nc\n'
    assert csv_rows.text_rows([["a\rb", "c"]], "\r\n") == b'"a\rb"\r\nc\r\n'
    assert csv_rows.text_rows([["", "x"]], "\n") == b'""\nx\n'  # one empty field alone: "" as the csv module writes it


def previous_by_csv_module(table: pd.DataFrame) -> bytes:
    """The preload file as the csv module writes it row by row (how it was first written)."""
    table = table.reindex(columns=["household_id", "head_name", "hamlet", "household_class"]).sort_values(
        ["hamlet", "household_id"], kind="mergesort")

    def text(column: str) -> pd.Series:
        values = table[column].astype(object)
        return values.where(values.notna(), "")

    ids, status = text("household_id"), text("household_class")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PREVIOUS_COLUMNS)
    writer.writerows(zip(ids.tolist(), [f"{i} – {h}" for i, h in zip(ids.tolist(), text("head_name").tolist())],
                         text("hamlet").tolist(), status.tolist(), status.map(CLASS_LABELS).fillna("").tolist()))
    return out.getvalue().encode("utf-8")


def test_the_preload_file_is_the_csv_modules():
    table = pd.DataFrame({
        "household_id": ["A01-0002", "A01-0001", None, "A02-0001", "A01-0003", 17],
        "head_name": ['Lê "Tư", Út', "Nguyễn Thị Ánh", "x", None, "a\nb", "c\rd"],
        "hamlet": ["A01", "A01", "A02", "A02", None, "A01"],
        "household_class": ["poor", "near_poor", None, "average", "unknown", "not_poor"],
    })
    assert previous_households_csv(table) == previous_by_csv_module(table)
    assert previous_households_csv(table.iloc[:0]) == previous_by_csv_module(table.iloc[:0]) == b"name,label,hamlet,status,status_label\n"
    assert previous_households_csv([]) == previous_by_csv_module(pd.DataFrame())
    rows = table.to_dict("records")
    assert previous_households_csv(rows) == previous_by_csv_module(table)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), FIELDS), st.one_of(st.none(), FIELDS), FIELDS), max_size=20),
       st.sampled_from([("submission_id", "instance_id", "checksum"), ("a,b", 'q"', "x")]))
def test_a_text_tables_csv_is_pandas_to_csv(rows, columns):
    """The input snapshot's digest reads these bytes: they must stay those of `to_csv`."""
    frame = pd.DataFrame(rows, columns=list(columns), dtype=object)
    assert csv_rows.frame_csv(frame) == frame.to_csv(index=False).encode()
    one = frame.iloc[:, [2]]
    assert csv_rows.frame_csv(one) == one.to_csv(index=False).encode()
