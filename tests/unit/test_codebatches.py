"""Access-code batches: what a batch request may hold, and how a batch is made."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import accesscodes, codebatches
from chalicelib.cycle import PHASES, Cycle, Phase, Proposal
from chalicelib.errors import InvalidInput, PhaseClosed
from chalicelib.importer import replay_calendar

pytestmark = pytest.mark.unit

NOW = datetime(2027, 5, 16, 3, 30, tzinfo=UTC)  # still May 15 in Boston


def cycle_in(phase: Phase) -> Cycle:
    return Cycle(
        cycle_id="boston-2027",
        name="Boston PB 2027",
        budget_cap=1_000_000,
        selection_limit=5,
        min_voting_age=11,
        calendar=replay_calendar(NOW, timedelta(days=14)),
        proposals=(Proposal("p1", 1000, {"en": "Trees"}),),
        phase=phase,
    )


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ([], "INVALID_TYPE", "body"),
        ({"count": 5}, "MISSING_FIELD", "site"),
        ({"site": "Library"}, "MISSING_FIELD", "count"),
        ({"site": "Library", "count": 5, "codes": []}, "UNKNOWN_FIELD", "codes"),
        ({"site": "Library", "count": 0}, "OUT_OF_RANGE", "count"),
        ({"site": "Library", "count": 1001}, "OUT_OF_RANGE", "count"),
        ({"site": "Library", "count": -3}, "OUT_OF_RANGE", "count"),
        ({"site": "Library", "count": 5.0}, "INVALID_TYPE", "count"),
        ({"site": "Library", "count": True}, "INVALID_TYPE", "count"),
        ({"site": "Library", "count": "5"}, "INVALID_TYPE", "count"),
        ({"site": 12, "count": 5}, "INVALID_TYPE", "site"),
        ({"site": "   ", "count": 5}, "MISSING_FIELD", "site"),
        ({"site": "x" * 81, "count": 5}, "TOO_LONG", "site"),
        ({"site": "Library\u0007", "count": 5}, "INVALID_TEXT", "site"),
        ({"site": "Library\u202e", "count": 5}, "INVALID_TEXT", "site"),
        ({"site": "波士顿图书馆", "count": 5}, "INVALID_TEXT", "site"),
        ({"site": "Library 📚", "count": 5}, "INVALID_TEXT", "site"),
    ],
)
def test_bad_batch_requests_are_refused_with_code_and_field(body, code, field):
    with pytest.raises(InvalidInput) as caught:
        codebatches.parse_new_batch(body)

    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_site_is_trimmed_and_normalised():
    request = codebatches.parse_new_batch(
        {"site": "  Thư viện\u00a0 Fields Corner ", "count": 1000}
    )

    assert request == codebatches.NewBatch("Thư viện Fields Corner", 1000)


def test_a_batch_holds_distinct_canonical_codes_and_a_dated_id():
    batch = codebatches.make_batch(
        cycle_in(Phase.VOTING), codebatches.NewBatch("Mattapan", 1000), now=NOW
    )

    assert batch.count == 1000 == len(set(batch.codes))
    assert all(accesscodes.canonical(c) == c for c in batch.codes)
    # The cycle's day (Boston), not UTC's.
    assert batch.created_on == "2027-05-15"
    assert batch.batch_id.startswith("20270515-")
    assert codebatches.check_batch_id(batch.batch_id) == batch.batch_id


def test_a_repeated_code_is_drawn_again():
    draws = iter(["AAAAAAAAAAAA", "AAAAAAAAAAAA", "BBBBBBBBBBBB"])

    batch = codebatches.make_batch(
        cycle_in(Phase.VOTING),
        codebatches.NewBatch("Mattapan", 2),
        now=NOW,
        new_code=lambda: next(draws),
    )

    assert batch.codes == ("AAAAAAAAAAAA", "BBBBBBBBBBBB")


def test_code_keys_are_the_stored_hmacs():
    batch = codebatches.make_batch(
        cycle_in(Phase.VOTING), codebatches.NewBatch("Mattapan", 3), now=NOW
    )

    keys = codebatches.code_keys(batch, b"secret")

    assert keys == [
        accesscodes.code_key(b"secret", "boston-2027", c) for c in batch.codes
    ]
    assert not set(keys) & set(batch.codes)


@pytest.mark.parametrize("phase", [Phase.SCHEDULED, *PHASES])
def test_codes_are_made_from_eligibility_review_through_voting(phase):
    cycle = cycle_in(phase)
    request = codebatches.NewBatch("Mattapan", 1)
    allowed = phase in (
        Phase.ELIGIBILITY_REVIEW,
        Phase.VISIONING,
        Phase.BALLOT_REVIEW,
        Phase.VOTING,
    )

    if allowed:
        assert codebatches.make_batch(cycle, request, now=NOW).count == 1
    else:
        with pytest.raises(PhaseClosed) as caught:
            codebatches.make_batch(cycle, request, now=NOW)
        assert (caught.value.code, caught.value.field) == ("PHASE_CLOSED", "phase")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "MISSING_FIELD"),
        ({"reason": "  "}, "MISSING_FIELD"),
        ({"reason": 3}, "INVALID_TYPE"),
        ({"reason": "x" * 501}, "TOO_LONG"),
        ({"reason": "lost\u0000"}, "INVALID_TEXT"),
    ],
)
def test_a_revocation_needs_a_plain_reason(body, code):
    with pytest.raises(InvalidInput) as caught:
        codebatches.parse_revoke(body)

    assert (caught.value.code, caught.value.field) == (code, "reason")


@pytest.mark.parametrize(
    "batch_id", ["", "20270515", "20270515-ABCDEFGI", "../x", "20270515-abcdefgh"]
)
def test_malformed_batch_ids_are_refused(batch_id):
    with pytest.raises(InvalidInput) as caught:
        codebatches.check_batch_id(batch_id)

    assert caught.value.code == "INVALID_BATCH_ID"


def test_a_summary_counts_unused_codes():
    summary = codebatches.BatchSummary(
        "c", "20270515-ABCDEFGH", "Mattapan", "2027-05-15", 40, 3, "active"
    )

    assert dataclasses.asdict(summary)["used_count"] == 3
    assert summary.to_dict()["unused_count"] == 37
    assert summary.to_dict()["reason"] is None
