"""Casting ballots through the Chalice test client against the moto stack."""

from __future__ import annotations

import json
import uuid

import pytest
from chalice.test import Client

from app import app
from tests.functional.conftest import table_items

pytestmark = pytest.mark.functional

ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}


def ballot(selections=("p1",), voter="resident@example.org", **extra) -> dict:
    body = {
        "selections": list(selections),
        "attestation": ADULT,
        "voter": {"kind": "email", "value": voter},
    }
    body.update(extra)
    return body


def cast(client, body, *, key=None, content_type="application/json", raw=None):
    headers = {"Content-Type": content_type}
    if key is not False:
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
    payload = raw if raw is not None else json.dumps(body)
    return client.http.post("/ballots", headers=headers, body=payload)


@pytest.fixture
def client(voting_cycle):
    with Client(app) as test_client:
        yield test_client


def written(settings) -> dict[str, int]:
    return {
        "marks": len(table_items(settings.voter_marks_table)),
        "ballots": len(table_items(settings.ballots_table)),
        "idempotency": len(table_items(settings.idempotency_table)),
    }


def test_a_ballot_is_recorded_with_mark_ballot_and_idempotency_record(
    client, settings, voting_cycle
):
    # GIVEN a cycle open for voting; WHEN a resident casts a valid ballot
    answer = cast(client, ballot(("p1", "p2")))

    # THEN they get a receipt and exactly three items exist
    assert answer.status_code == 201
    body = answer.json_body
    assert body["cycle_id"] == voting_cycle.cycle_id
    assert body["ballot_hash"] == voting_cycle.ballot_hash
    assert len(body["receipt"].replace("-", "")) == 24
    assert written(settings) == {"marks": 1, "ballots": 1, "idempotency": 1}


def test_voter_mark_and_ballot_share_nothing_that_joins_them(client, settings):
    receipt = cast(client, ballot(("p1",))).json_body["receipt"]

    (mark,) = table_items(settings.voter_marks_table)
    (stored,) = table_items(settings.ballots_table)
    mark_values = {json.dumps(v, sort_keys=True) for v in mark.values()}
    ballot_values = {json.dumps(v, sort_keys=True) for v in stored.values()}
    # Only the cycle id (and the coarse day) may appear on both sides.
    shared = mark_values & ballot_values
    assert shared <= {json.dumps({"S": "boston-test"}), json.dumps(mark["voted_on"])}
    assert "resident@example.org" not in json.dumps(mark)
    assert receipt not in json.dumps(stored)
    assert len(mark["voted_on"]["S"]) == 10  # a day, never a time


def test_a_retry_with_the_same_key_returns_the_same_receipt(client, settings):
    key = uuid.uuid4().hex
    first = cast(client, ballot(), key=key)
    second = cast(client, ballot(), key=key)

    assert first.status_code == second.status_code == 201
    assert first.json_body == second.json_body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert written(settings) == {"marks": 1, "ballots": 1, "idempotency": 1}


def test_a_key_reused_for_other_choices_is_refused(client, settings):
    key = uuid.uuid4().hex
    cast(client, ballot(("p1",)), key=key)
    answer = cast(client, ballot(("p2",)), key=key)

    assert answer.status_code == 409
    assert answer.json_body["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert answer.json_body["field"] == "Idempotency-Key"
    assert written(settings)["ballots"] == 1


@pytest.mark.parametrize(
    "first, second",
    [
        ("Resident@Example.org", " resident@example.ORG "),
    ],
)
def test_a_second_ballot_from_the_same_voter_is_refused(
    client, settings, first, second
):
    assert cast(client, ballot(voter=first)).status_code == 201
    answer = cast(client, ballot(("p2",), voter=second))

    assert answer.status_code == 409
    assert answer.json_body["code"] == "ALREADY_VOTED"
    assert answer.json_body["field"] == "voter"
    assert written(settings) == {"marks": 1, "ballots": 1, "idempotency": 1}


def test_phones_are_normalised_before_hashing(client, settings):
    phone = {"kind": "phone", "value": "(617) 555-0134"}
    same = {"kind": "phone", "value": "+1 617 555 0134"}
    assert cast(client, {**ballot(), "voter": phone}).status_code == 201
    answer = cast(client, {**ballot(), "voter": same})
    assert answer.json_body["code"] == "ALREADY_VOTED"


BAD_BODIES = [
    # (body, status, code, field)
    ({**ballot(), "extra": 1}, 400, "UNKNOWN_FIELD", "extra"),
    (
        {k: v for k, v in ballot().items() if k != "voter"},
        400,
        "MISSING_FIELD",
        "voter",
    ),
    (ballot(()), 400, "NO_SELECTION", "selections"),
    (ballot(("p1", "p1")), 400, "DUPLICATE_SELECTION", "selections"),
    (ballot(("p1", "p2", "p3")), 400, "TOO_MANY_SELECTIONS", "selections"),
    (ballot(("p1", "nope")), 400, "UNKNOWN_PROPOSAL", "selections[1]"),
    ({**ballot(), "selections": "p1"}, 400, "INVALID_SELECTIONS", "selections"),
    ({**ballot(), "selections": [1]}, 400, "INVALID_SELECTIONS", "selections"),
    ([], 400, "INVALID_TYPE", "body"),
    (
        {**ballot(), "voter": {"kind": "name", "value": "x"}},
        400,
        "INVALID_VOTER",
        "voter.kind",
    ),
    (
        {**ballot(), "voter": {"kind": "email", "value": "nope"}},
        400,
        "INVALID_EMAIL",
        "voter.value",
    ),
    (
        {**ballot(), "voter": {"kind": "phone", "value": "555"}},
        400,
        "INVALID_PHONE",
        "voter.value",
    ),
    (
        {**ballot(), "attestation": {"boston_resident": True}},
        400,
        "INVALID_ATTESTATION",
        "attestation",
    ),
    (
        {**ballot(), "attestation": {"boston_resident": True, "age": "12"}},
        400,
        "INVALID_AGE",
        "attestation.age",
    ),
    (
        {
            **ballot(),
            "attestation": {"boston_resident": True, "birth_date": "2010-13-01"},
        },
        400,
        "INVALID_DATE",
        "attestation.birth_date",
    ),
    (
        {**ballot(), "attestation": {"boston_resident": False, "age": 40}},
        403,
        "NOT_RESIDENT",
        "attestation.boston_resident",
    ),
    (
        {**ballot(), "attestation": {"boston_resident": True, "age": 10}},
        403,
        "UNDER_AGE",
        "attestation.age",
    ),
    ({**ballot(), "neighbourhood": "atlantis"}, 400, "INVALID_CHOICE", "neighbourhood"),
    ({**ballot(), "age_bracket": "65+"}, 400, "INVALID_CHOICE", "age_bracket"),
]


@pytest.mark.parametrize("body, status, code, field", BAD_BODIES)
def test_bad_ballots_get_a_code_and_field_and_write_nothing(
    client, settings, body, status, code, field
):
    answer = cast(client, body)

    assert (answer.status_code, answer.json_body["code"]) == (status, code)
    assert answer.json_body["field"] == field
    assert answer.json_body["message"]
    assert written(settings) == {"marks": 0, "ballots": 0, "idempotency": 0}


@pytest.mark.parametrize(
    "raw, content_type, code, field",
    [
        ("{not json", "application/json", "MALFORMED_JSON", "body"),
        ("\xff\xfe", "application/json", "MALFORMED_JSON", "body"),
        ("1" * 5000, "application/json", "MALFORMED_JSON", "body"),
        ("[" * 10000, "application/json", "MALFORMED_JSON", "body"),
        ("[" * 100000, "application/json", "BODY_TOO_LARGE", "body"),
        (
            json.dumps(ballot())[:-1] + ', "selections": ["p1"]}',
            "application/json",
            "DUPLICATE_FIELD",
            "selections",
        ),
        (json.dumps(ballot()), "text/plain", "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        (
            json.dumps(ballot()),
            "application/x-www-form-urlencoded",
            "UNSUPPORTED_MEDIA_TYPE",
            "Content-Type",
        ),
    ],
)
def test_malformed_requests_get_400(client, settings, raw, content_type, code, field):
    answer = cast(client, None, raw=raw, content_type=content_type)

    assert answer.status_code == 400
    assert (answer.json_body["code"], answer.json_body["field"]) == (code, field)
    assert written(settings)["ballots"] == 0


@pytest.mark.parametrize(
    "key, code",
    [
        (False, "MISSING_IDEMPOTENCY_KEY"),
        ("short", "INVALID_IDEMPOTENCY_KEY"),
        ("has space in it", "INVALID_IDEMPOTENCY_KEY"),
    ],
)
def test_the_idempotency_key_is_required_and_checked(client, settings, key, code):
    answer = cast(client, ballot(), key=key)

    assert answer.status_code == 400
    assert answer.json_body == {
        **answer.json_body,
        "code": code,
        "field": "Idempotency-Key",
    }
    assert written(settings)["ballots"] == 0


def test_reading_the_cycle_and_the_ballot(client, voting_cycle):
    cycle = client.http.get("/cycle").json_body
    assert cycle["phase"] == "voting"
    assert cycle["ballot_hash"] == voting_cycle.ballot_hash

    answer = client.http.get("/ballot")
    assert answer.status_code == 200
    assert [p["proposal_id"] for p in answer.json_body["proposals"]] == [
        "p1",
        "p2",
        "p3",
    ]
    assert answer.json_body["selection_limit"] == 2


def test_results_are_not_shown_while_voting(client):
    answer = client.http.get("/results")
    assert answer.status_code == 409
    assert answer.json_body["code"] == "RESULTS_NOT_PUBLISHED"


def test_a_key_reused_by_another_voter_is_refused_not_replayed(client, settings):
    # GIVEN voter P's recorded ballot; WHEN voter Q sends the same choices
    # under P's key, THEN Q is not told of a vote that was never theirs
    key = uuid.uuid4().hex
    first = cast(client, ballot(("p1",), voter="p@example.org"), key=key)
    other = cast(client, ballot(("p1",), voter="q@example.org"), key=key)

    assert first.status_code == 201
    assert other.status_code == 409
    assert other.json_body["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert written(settings) == {"marks": 1, "ballots": 1, "idempotency": 1}
    # Q can still vote with a key of their own.
    assert cast(client, ballot(("p1",), voter="q@example.org")).status_code == 201


def test_a_voter_who_voted_cannot_confirm_anothers_ballot_by_its_key(client, settings):
    # GIVEN voter P's ballot under key K, and voter Q, who has voted too
    key = uuid.uuid4().hex
    first = cast(client, ballot(("p1", "p2"), voter="p@example.org"), key=key)
    assert cast(client, ballot(("p3",), voter="q@example.org")).status_code == 201

    # WHEN Q sends P's key with each possible choice
    answers = [
        cast(client, ballot(choice, voter="q@example.org"), key=key)
        for choice in (("p1",), ("p2", "p1"), ("p3",))
    ]

    # THEN every answer is the same refusal: no choice is confirmed, and
    # P's receipt is never shown
    assert first.status_code == 201
    assert {(a.status_code, a.json_body["code"]) for a in answers} == {
        (409, "IDEMPOTENCY_KEY_REUSED")
    }
    assert all(first.json_body["receipt"] not in str(a.json_body) for a in answers)
    assert written(settings) == {"marks": 2, "ballots": 2, "idempotency": 2}


def test_no_receipt_is_stored_and_expiry_is_a_whole_day(client, settings):
    receipt = cast(client, ballot()).json_body["receipt"]

    (record,) = table_items(settings.idempotency_table)
    assert receipt not in json.dumps(record)
    assert int(record["expires_at"]["N"]) % 86400 == 0


def test_a_retry_after_voting_closed_still_gets_its_receipt(
    client, services, voting_cycle
):
    from chalicelib.clock import close_due_phases

    key = uuid.uuid4().hex
    first = cast(client, ballot(("p2",)), key=key).json_body
    close_due_phases(
        services.store,
        now=voting_cycle.calendar[voting_cycle.phase].end,
        on_voting_closed=lambda cycle: "sha256:" + "0" * 64,
    )
    services.store.current_cycle()  # the API sees the close within seconds

    again = cast(client, ballot(("p2",)), key=key)
    stranger = cast(client, ballot(("p2",), voter="late@example.org"), key=key)

    assert (again.status_code, again.json_body) == (201, first)
    assert stranger.status_code == 409
    assert stranger.json_body["code"] == "PHASE_CLOSED"
