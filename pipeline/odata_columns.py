"""A chunk of OData payloads read straight into columns (Apache Arrow's JSON reader), when that
reads them exactly as `tidy.read_payload` would.

`tidy.read_payload` parses one payload at a time into Python objects, then the answers are
transposed into columns and each column's distinct values are found by hashing every answer again.
For a province that is most of the review's time. Arrow parses the whole chunk into typed columns
in C++, and its dictionary encoding gives each column's distinct answers with a code per row, which
is what typing (`tidy._type_columns`) works from: a text column comes back as a pandas Categorical,
a number column as float64.

Only the plain case is read here; anything else returns None and the chunk is read record by record,
which reports every problem. "Plain" means:
- every payload is OData JSON (text, or its UTF-8 bytes), one object, without raw line breaks;
- each answer has the form's type: text as a JSON string, a number as a JSON number, a geopoint as
  GeoJSON with at least two coordinates (Arrow refuses a chunk where any answer is of another kind);
- no household section and no member list is null or missing (the record reader tells those apart
  and warns about a missing one), and no member is null;
- no amount is beyond `tidy.MAX_NUMBER` (an issue row shows such an answer as it was typed), and none
  is minus zero (the integer 0 to the record reader, -0.0 to Arrow).

Keys the form does not have are ignored, as the record reader ignores them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from rasoat.forms import Field, Questionnaire

NUMBER_TYPES = ("integer", "decimal")
_BLOCK = 1 << 22  # bytes Arrow parses at a time; a payload must fit in one


def _answer_type(f: Field) -> pa.DataType:
    if f.type in NUMBER_TYPES:
        return pa.float64()
    if f.type == "geopoint":  # GeoJSON: {"type": "Point", "coordinates": [lon, lat, alt]}
        return pa.struct([("coordinates", pa.list_(pa.float64()))])
    return pa.string()


def _struct_of(fields: Sequence[Field]) -> list[pa.Field] | None:
    """The nested Arrow fields of `fields` by their group paths; None when a name is both a group
    and an answer (a form pyxform refuses anyway)."""
    tree: dict = {}
    for f in fields:
        node = tree
        for group in f.groups:
            node = node.setdefault(group, {})
            if not isinstance(node, dict):
                return None
        if f.name in node:
            return None
        node[f.name] = f

    def built(node: dict) -> list[pa.Field]:
        return [pa.field(name, pa.struct(built(child)) if isinstance(child, dict) else _answer_type(child))
                for name, child in node.items()]

    return built(tree)


def schema_of(questionnaire: Questionnaire) -> pa.Schema | None:
    household = _struct_of(questionnaire.household_fields)
    members = _struct_of(questionnaire.member_fields)
    if household is None or members is None or any(f.name == questionnaire.member_repeat for f in household):
        return None
    return pa.schema([*household, pa.field(questionnaire.member_repeat, pa.list_(pa.struct(members)))])


def _encoded(payloads: Sequence) -> bytes | None:
    """The payloads (text or its UTF-8 bytes) as newline-delimited JSON, or None when one is not a
    single JSON object on one line."""
    try:
        encoded = [p if type(p) is bytes else p.encode("utf-8") for p in payloads]
    except (AttributeError, UnicodeEncodeError):  # not text, or a lone surrogate
        return None
    for data in encoded:
        if data[:1] != b"{" or data[-1:] != b"}":  # Arrow must only see objects (a bare `null` crashes it)
            data = data.strip()
            if data[:1] != b"{" or data[-1:] != b"}":
                return None
        if b"\n" in data or b"\r" in data:
            return None
    return b"\n".join(encoded)


def _child(array: pa.Array, name: str) -> pa.Array:
    """Field `name` of a struct array, null where the struct is null."""
    return array.flatten()[array.type.get_field_index(name)]


def _answer_arrays(root: pa.StructArray, fields: Sequence[Field]) -> dict[str, pa.Array]:
    groups: dict[tuple[str, ...], pa.StructArray] = {(): root}
    out = {}
    for f in fields:
        path: tuple[str, ...] = ()
        for group in f.groups:
            if path + (group,) not in groups:
                groups[path + (group,)] = _child(groups[path], group)
            path += (group,)
        out[f.name] = _child(groups[path], f.name)
    return out


def _plain_numbers(array: pa.Array, max_number: float) -> bool:
    values = array.to_numpy(zero_copy_only=False)
    present = values[~np.isnan(values)]
    # -0 as JSON text is the integer 0 to the record reader, -0.0 to Arrow: left to the record reader
    return bool(np.isfinite(present).all() and (np.abs(present) <= max_number).all() and not np.signbit(present[present == 0]).any())


def _geopoints(array: pa.Array) -> np.ndarray | None:
    """(lat, lon) tuples as the record reader makes them, None where there is no answer; None as a
    whole when a point has fewer than two coordinates (the record reader reports those)."""
    coordinates = _child(array, "coordinates")
    answered = array.is_valid().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(coordinates).fill_null(0).to_numpy(zero_copy_only=False)
    if (answered & (lengths < 2)).any():
        return None
    out = np.full(len(array), None, dtype=object)
    rows = np.flatnonzero(answered)
    if len(rows):
        starts = coordinates.offsets.to_numpy()[rows]
        flat = coordinates.values.to_pylist()  # every coordinate, lon, lat, alt, … in order
        base = coordinates.offsets[0].as_py()
        for k, start in zip(rows.tolist(), (starts - base).tolist()):
            out[k] = (flat[start + 1], flat[start])
    return out


def _column(array: pa.Array, f: Field) -> pd.Categorical | np.ndarray | None:
    """An answer column as `tidy._type_columns` reads it: a Categorical of the distinct answers for
    text, float64 (NaN = no answer) for numbers, (lat, lon) tuples for a geopoint."""
    if f.type in NUMBER_TYPES:
        return array.to_numpy(zero_copy_only=False).astype(np.float64)
    if f.type == "geopoint":
        return _geopoints(array)
    encoded = array.dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    categories = pd.Index(encoded.dictionary.to_pylist(), dtype=object)
    return pd.Categorical.from_codes(codes, categories=categories)


def read_chunk(payloads: Sequence, questionnaire: Questionnaire, max_number: float) -> tuple[dict, dict, np.ndarray, np.ndarray] | None:
    """(household answers by field, member answers by field, each member's household row, each
    member's position in its list from 1) of OData payloads, or None when they are not plain (see
    the module's text) and must be read record by record."""
    schema = schema_of(questionnaire)
    data = _encoded(payloads) if schema is not None and len(payloads) else None
    if data is None:
        return None
    longest = max(map(len, payloads)) * 4 + 2  # UTF-8 bytes at most, and the line break
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=max(_BLOCK, longest)),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowException, ValueError):
        return None
    finally:
        del data  # parsed: the chunk's joined text is not held while its columns are built
    if table.num_rows != len(payloads):  # e.g. two objects on one payload's line
        return None
    root = table.to_struct_array()
    root = root.combine_chunks() if isinstance(root, pa.ChunkedArray) else root
    repeat = questionnaire.member_repeat
    for group in {f.groups[0] for f in questionnaire.household_fields if f.groups} | {repeat}:
        if _child(root, group).null_count:  # missing or null: the record reader tells them apart
            return None
    member_lists = _child(root, repeat)
    member_rows = member_lists.flatten()
    if member_rows.null_count or not len(member_rows):
        return None
    household_arrays = _answer_arrays(root, questionnaire.household_fields)
    member_arrays = _answer_arrays(member_rows, questionnaire.member_fields)
    fields = [*((f, household_arrays[f.name]) for f in questionnaire.household_fields),
              *((f, member_arrays[f.name]) for f in questionnaire.member_fields)]
    if not all(_plain_numbers(array, max_number) for f, array in fields if f.type in NUMBER_TYPES):
        return None
    households, members = {}, {}
    for f, array in fields:
        column = _column(array, f)
        if column is None:
            return None
        (members if f.repeat else households)[f.name] = column
    lengths = pc.list_value_length(member_lists).to_numpy(zero_copy_only=False).astype(np.int64)
    household_row = np.repeat(np.arange(len(payloads)), lengths)
    firsts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(household_row)) - firsts + 1
    return households, members, household_row, position
