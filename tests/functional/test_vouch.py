"""Vouching in person: an event volunteer's signed-in word gives a voter pass.

On the module's staff stack (real Cognito tokens from moto), so the group
check is the real one; each test uses its own phone or email.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest
from chalice.test import Client

from app import app
from chalicelib.clock import close_due_phases
from chalicelib.errors import Conflict
from tests.functional.conftest import (
    ledger,
    small_cycle,
    staff_call,
    table_items,
)

pytestmark = pytest.mark.functional

CYCLE = "vouched"
NO_IN_PERSON = "no-volunteers"
ADULT = {"boston_resident": True, "age": 40}
SEEN = {"seen_in_person": True, "site": "Dudley Branch Library"}


@pytest.fixture
def client(staff_services):
    now = staff_services.clock()
    store = staff_services.store
    try:
        store.create_cycle(small_cycle(now, cycle_id=CYCLE), actor="test", now=now)
        without = dataclasses.replace(
            small_cycle(now, cycle_id=NO_IN_PERSON),
            verification=("sms", "email", "access_code"),
        )
        store.create_cycle(without, actor="test", now=now, make_current=False)
        close_due_phases(store, now=now, on_voting_closed=lambda c: "")
    except Conflict:
        pass  # made by an earlier test of this module
    with Client(app) as test_client:
        yield test_client


def vouch(client, token, body, cycle_id=CYCLE):
    return staff_call(client, "POST", f"/staff/cycles/{cycle_id}/vouch", token, body)


def cast(client, voter: dict):
    return client.http.post(
        "/ballots",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
        body=json.dumps({"selections": ["p2"], "attestation": ADULT, "voter": voter}),
    )


def marks(staff_services) -> list[dict]:
    return table_items(staff_services.settings.voter_marks_table)


def test_a_volunteer_vouches_with_a_phone_and_the_pass_votes_in_person(
    client, staff_services, staff_stack
):
    phone = "+1 617 555 0190"
    answer = vouch(
        client,
        staff_stack.token("volunteer"),
        {"contact": {"kind": "phone", "value": phone}, "attestation": SEEN},
    )
    assert answer.status_code == 201, answer.json_body
    before = len(marks(staff_services))

    voted = cast(client, {"kind": "pass", "value": answer.json_body["voter_pass"]})
    assert voted.status_code == 201
    (mark,) = [m for m in marks(staff_services) if m["channel"]["S"] == "in_person"]
    assert len(marks(staff_services)) == before + 1
    assert mark["cycle_id"]["S"] == CYCLE

    # The same phone cannot vote again by its word (or by text).
    again = cast(client, {"kind": "phone", "value": "(617) 555-0190"})
    assert (again.status_code, again.json_body["code"]) == (409, "ALREADY_VOTED")

    # The audit log names the volunteer and the site, never the phone.
    entry = staff_services.store.audit_entries(CYCLE)[-1]
    assert entry["action"] == "voter_vouched"
    assert entry["actor"] == "staff:volunteer"
    assert entry["after"] == {
        "method": "in_person",
        "with_contact": True,
        "site": "Dudley Branch Library",
    }
    assert "555" not in json.dumps(staff_services.store.audit_entries(CYCLE))


def test_office_staff_vouch_without_a_contact(client, staff_services, staff_stack):
    answer = vouch(
        client, staff_stack.token("staffer"), {"attestation": {"seen_in_person": True}}
    )
    assert answer.status_code == 201
    voted = cast(client, {"kind": "pass", "value": answer.json_body["voter_pass"]})
    assert voted.status_code == 201
    entry = staff_services.store.audit_entries(CYCLE)[-1]
    assert entry["after"]["with_contact"] is False


@pytest.mark.parametrize("member", ["reviewer", "board", "nogroup"])
def test_other_groups_cannot_vouch(client, staff_services, staff_stack, member):
    before = ledger(staff_services)
    answer = vouch(client, staff_stack.token(member), {"attestation": SEEN})

    assert answer.status_code == 403
    assert answer.json_body["code"] == "NOT_PERMITTED"
    assert "voter_pass" not in answer.json_body
    cycles, audit = ledger(staff_services)
    assert cycles == before[0] and audit == before[1] + 1  # the refusal only


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({}, 400, "MISSING_FIELD", "attestation"),
        (
            {"attestation": {"seen_in_person": False}},
            400,
            "INVALID_ATTESTATION",
            "attestation.seen_in_person",
        ),
        (
            {"attestation": {**SEEN, "site": "x" * 121}},
            400,
            "INVALID_TEXT",
            "attestation.site",
        ),
        (
            {"attestation": SEEN, "contact": {"kind": "fax", "value": "1"}},
            400,
            "INVALID_CHOICE",
            "contact.kind",
        ),
        (
            {"attestation": SEEN, "contact": {"kind": "email", "value": "nope"}},
            400,
            "INVALID_EMAIL",
            "contact.value",
        ),
        ({"attestation": SEEN, "extra": 1}, 400, "UNKNOWN_FIELD", "extra"),
    ],
)
def test_bad_vouches_are_refused_with_the_field(
    client, staff_services, staff_stack, body, status, code, field
):
    before = ledger(staff_services)
    answer = vouch(client, staff_stack.token("volunteer"), body)

    assert (answer.status_code, answer.json_body["code"]) == (status, code)
    assert answer.json_body["field"] == field
    assert ledger(staff_services)[1] == before[1] + 1  # the refusal only


def test_a_cycle_without_in_person_voting_refuses_a_vouch(client, staff_stack):
    answer = vouch(
        client, staff_stack.token("volunteer"), {"attestation": SEEN}, NO_IN_PERSON
    )
    assert (answer.status_code, answer.json_body["code"]) == (400, "METHOD_NOT_OFFERED")
    assert answer.json_body["field"] == "method"


def test_a_tampered_vouched_pass_is_refused(client, staff_services, staff_stack):
    # GIVEN a vouched pass whose claims are changed after signing
    answer = vouch(client, staff_stack.token("volunteer"), {"attestation": SEEN})
    token = answer.json_body["voter_pass"]
    version, body, signature = token.split(".")
    forged = f"{version}.{body[:-2]}AA.{signature}"
    before = len(marks(staff_services))

    refused = cast(client, {"kind": "pass", "value": forged})
    assert (refused.status_code, refused.json_body["code"]) == (400, "PASS_INVALID")
    assert len(marks(staff_services)) == before
