"""Tidying the raw store in chunks, and in worker processes, gives exactly one pass's tables."""

from __future__ import annotations

import pickle
from itertools import islice

import pandas as pd
import pyarrow as pa
import pytest

from rasoat.forms import load_questionnaire
from rasoat.pipeline import stored_tidy, synthetic, tidy
from rasoat.pipeline.rawstore import RawStore, current_versions

QUESTIONNAIRE = synthetic.questionnaire_for(synthetic.load_example_hamlets(), load_questionnaire())


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'raw.sqlite3'}"
    hamlets = synthetic.load_example_hamlets()[:3]
    with RawStore(url) as raw:
        versions = synthetic.raw_submissions(hamlets, QUESTIONNAIRE, seed=5, scale=0.4)
        while batch := list(islice(versions, 100)):
            raw.ingest(batch)
        # a payload that cannot be read at all still becomes a (quarantined) household row
        broken = next(iter(synthetic.raw_submissions(hamlets, QUESTIONNAIRE, seed=6, scale=0.01)))
        raw.ingest([type(broken)(**{**broken.__dict__, "submission_id": "uuid:broken", "payload": "{not json"})])
        index = raw.versions(payloads=False)
        full = raw.versions()
    return url, index, full


def test_versions_without_payloads_are_the_same_index(store):
    _, index, full = store
    assert index["payload"].isna().all()
    pd.testing.assert_frame_equal(index.drop(columns="payload"), full.drop(columns="payload"))


@pytest.mark.parametrize("workers", [1, 2])
def test_chunks_and_workers_give_one_pass_tables(store, monkeypatch, workers):
    url, index, full = store
    current, _ = current_versions(index, {"received", "approved", "hasIssues", "edited"})
    whole, _ = current_versions(full, {"received", "approved", "hasIssues", "edited"})
    assert len(current) > 150
    expected = tidy.tidy_submissions(whole, QUESTIONNAIRE)

    monkeypatch.setattr(stored_tidy, "CHUNK", 40)  # several chunks, the broken payload in one of them
    got = stored_tidy.tidy_stored(url, current, QUESTIONNAIRE, workers=workers)

    pd.testing.assert_frame_equal(got.households, expected.households)
    pd.testing.assert_frame_equal(got.members, expected.members)
    pd.testing.assert_frame_equal(got.issues, expected.issues)
    assert not got.households.set_index("submission_id").loc["uuid:broken", "readable"]


@pytest.mark.parametrize("values", [
    ["a", None, "ấp 1", "", "a"],  # text: travels as Arrow
    [None, None],
    ["a", float("nan"), None],  # NaN is not None: stays as it is
    ["1", 1, True],
    ["\ud800", "x"],  # a lone surrogate cannot be UTF-8
    [],
])
def test_a_part_column_travels_packed_and_comes_back_the_same(values):
    series = pd.Series(values, dtype=object, index=range(3, 3 + len(values)))
    packed = stored_tidy._packed(series)
    if all(v is None or isinstance(v, str) for v in values) and "\ud800" not in values:
        assert isinstance(packed, pa.Array)
    back = pickle.loads(pickle.dumps(packed, protocol=5))
    unpacked = stored_tidy._unpacked(back)
    assert unpacked.dtype == object and list(unpacked.index) == list(range(len(values)))
    pd.testing.assert_series_equal(unpacked, series.reset_index(drop=True))
    assert [type(v) for v in unpacked] == [type(v) for v in values]  # None stays None, NaN stays a float NaN


def test_parts_whose_columns_travel_differently_join_as_pd_concat():
    parts = [pd.DataFrame({"t": ["ấp một", None, "ấp một"], "m": ["x", "y", "z"], "n": pd.array([1, 2, 3], dtype="Int64")}),
             pd.DataFrame({"t": ["b", "a"], "m": [3, None], "n": pd.array([None, 4], dtype="Int64")}),  # "m" not all text here
             pd.DataFrame({"t": pd.Series([], dtype=object), "m": pd.Series([], dtype=object), "n": pd.Series([], dtype=object)})]
    issues = pd.DataFrame(columns=tidy.ISSUE_COLUMNS)
    packed = [pickle.loads(pickle.dumps(stored_tidy.TidyColumns.of(tidy.TidyTables(p, p.iloc[:, :1], issues)))) for p in parts]
    joined = stored_tidy.concat_tables([part.unpacked() for part in packed])
    expected = pd.concat(parts[:2], ignore_index=True)
    pd.testing.assert_frame_equal(joined.households, expected)
    assert [type(v) for v in joined.households["m"]] == [type(v) for v in expected["m"]]
    assert joined.households["t"][0] is joined.households["t"][2]  # one object per distinct text in a part, as pickling kept it
