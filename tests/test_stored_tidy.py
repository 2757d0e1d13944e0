"""Tidying the raw store in chunks, and in worker processes, gives exactly one pass's tables."""

from __future__ import annotations

from itertools import islice

import pandas as pd
import pytest

from rasoat.forms import load_questionnaire
from rasoat.pipeline import fingerprints, stored_tidy, synthetic, tidy
from rasoat.pipeline.corrections import apply_corrections
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
    # the answer fingerprints, worked out chunk by chunk (in the workers), are those of the whole tables
    assert expected.fingerprints is None
    whole_prints = fingerprints.answer_fingerprint(expected.households, expected.members, QUESTIONNAIRE)
    pd.testing.assert_series_equal(got.fingerprints, whole_prints, check_names=False)


def test_corrected_households_get_their_fingerprints_worked_out_again(store):
    url, index, _ = store
    current, _ = current_versions(index, {"received", "approved", "hasIssues", "edited"})
    tables = stored_tidy.tidy_stored(url, current, QUESTIONNAIRE, workers=1)
    hh = tables.households[tables.households["readable"].astype(bool) & tables.households["household_id"].notna()]
    first, second = hh["household_id"].iloc[0], hh["household_id"].iloc[1]
    water = "surface" if hh["water_source"].iloc[0] != "surface" else "piped"
    ledger = pd.DataFrame([
        {"household_id": first, "field": "water_source", "new_value": water},
        {"household_id": second, "field": "member[1].qualification", "new_value": "none"},
    ]).assign(reason="kiểm tra lại", officer="cán bộ A", date="2026-11-01")
    corrected, audit = apply_corrections(tables, ledger, QUESTIONNAIRE)
    assert audit["applied"].all(), audit
    again = fingerprints.answer_fingerprint(corrected.households, corrected.members, QUESTIONNAIRE)
    pd.testing.assert_series_equal(corrected.fingerprints, again, check_names=False)
    changed = corrected.households["household_id"].isin([first]).to_numpy()
    assert (corrected.fingerprints[changed] != tables.fingerprints[changed]).all()  # the correction is in the fingerprint
    untouched = ~corrected.households["household_id"].isin([first, second]).to_numpy()
    assert (corrected.fingerprints[untouched] == tables.fingerprints[untouched]).all()
