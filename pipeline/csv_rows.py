"""CSV text made a column at a time in Arrow, byte for byte what Python's csv module writes
(QUOTE_MINIMAL, comma, double quote): a province's files have tens of millions of fields, and a
Python string per field and per row is most of what writing them costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.large_string()  # a file's text may pass 2 GB
_SPECIAL = {"\r\n": '[,"\\r\\n]', "\n": '[,"\\n]'}  # by line end: what makes the csv module quote a field


def _scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, TEXT)


def quoted(fields: pa.Array, line_end: str) -> pa.Array:
    """Each field as the csv module writes it: quoted, its " doubled, when it holds a comma, a quote
    or a character of the line end (with "\\n" a CR alone is not quoted, as the csv module does)."""
    special = pc.match_substring_regex(fields, _SPECIAL[line_end])
    if not pc.any(special).as_py():
        return fields
    quote = _scalar('"')
    inner = pc.replace_substring(fields.filter(special), '"', '""')
    return pc.replace_with_mask(fields, special, pc.binary_join_element_wise(quote, inner, quote, _scalar("")))


def rows_bytes(columns: list[pa.Array], line_end: str, head: bytes = b"") -> bytes:
    """`head`, then the rows of the (already quoted) fields `columns`, each ending in `line_end`, as UTF-8."""
    columns = list(columns)
    if len(columns) == 1:  # the csv module writes a record of one empty field as ""
        columns[0] = pc.if_else(pc.equal(columns[0], ""), _scalar('""'), columns[0])
    # the line end added to the last column: the rows' text buffer is then the whole text
    columns[-1] = pc.binary_join_element_wise(columns[-1], _scalar(""), _scalar(line_end))
    lines = pc.binary_join_element_wise(*columns, _scalar(","))
    del columns
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=8 * lines.offset)
    return b"".join((head, memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]]))


def text_rows(columns: list[list[str]], line_end: str, head: bytes = b"") -> bytes:
    """`rows_bytes` of columns of plain text (each a list of str, one per row)."""
    return rows_bytes([quoted(pa.array(texts, TEXT), line_end) for texts in columns], line_end, head)


def texts(series: pd.Series) -> list[str]:
    """Each value as the csv module writes it (`str()`), a missing one as empty."""
    values = series.astype(object)
    return values.where(values.notna(), "").astype(str).tolist()


def frame_csv(frame: pd.DataFrame, line_end: str = "\n") -> bytes:
    """`frame.to_csv(index=False).encode()` for a table of text with at least one column (missing
    values empty): its header and rows, `line_end` after each."""
    head = text_rows([[str(c)] for c in frame.columns], line_end)
    if frame.empty:
        return head
    return text_rows([texts(frame.iloc[:, k]) for k in range(frame.shape[1])], line_end, head)
