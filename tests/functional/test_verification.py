"""Proving who you are, then voting: one-time codes by SMS and email through
moto's SNS and SES, access codes redeemed with the ballot, voter passes.

The codes are read from what moto recorded as sent, so every flow runs for
real: send, read the code, check it, get a pass, cast.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta

import pytest
from chalice.test import Client
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from app import app
from chalicelib import accesscodes, codebatches, passes
from chalicelib.verification import Limits, find_code
from tests.functional.conftest import open_voting, small_cycle, table_items

pytestmark = pytest.mark.functional

ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}
PHONE, E164 = "(617) 555-0134", "+16175550134"
EMAIL = "Resident@Example.org"


@pytest.fixture
def client(voting_cycle):
    with Client(app) as test_client:
        yield test_client


def post(client, path: str, body, headers=None):
    return client.http.post(
        path,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(body),
    )


def send(client, method="sms", contact=PHONE, **extra):
    return post(
        client, "/verifications", {"method": method, "contact": contact, **extra}
    )


def check(client, verification_id: str, code: str):
    return post(client, f"/verifications/{verification_id}", {"code": code})


def cast(client, voter: dict, *, key: str | None = None, selections=("p1",)):
    body = {"selections": list(selections), "attestation": ADULT, "voter": voter}
    return post(client, "/ballots", body, {"Idempotency-Key": key or uuid.uuid4().hex})


def texts_to(phone: str) -> list[str]:
    sms = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages.values()
    return [text for number, text in sms if number == phone]


def emails_to(address: str) -> list:
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    return [m for m in sent if address in m.destinations.get("ToAddresses", [])]


def last_sms_code(phone: str = E164) -> str:
    return find_code(texts_to(phone)[-1])


def verified_pass(client, method="sms", contact=PHONE) -> str:
    started = send(client, method, contact)
    assert started.status_code == 202, started.json_body
    code = (
        last_sms_code()
        if method == "sms"
        else find_code(emails_to(contact.lower())[-1].body)
    )
    answer = check(client, started.json_body["verification_id"], code)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body["voter_pass"]


def snapshot(settings) -> dict[str, list[str]]:
    """Every item of the tables a cast or a verification may write."""
    tables = {
        "marks": settings.voter_marks_table,
        "ballots": settings.ballots_table,
        "idempotency": settings.idempotency_table,
        "verification": settings.verification_table,
    }
    return {
        name: sorted(json.dumps(i, sort_keys=True) for i in table_items(table))
        for name, table in tables.items()
    }


def verification_items(settings, prefix: str) -> list[dict]:
    return [
        item
        for item in table_items(settings.verification_table)
        if item["pk"]["S"].startswith(prefix)
    ]


def new_batch(services, cycle, count=1) -> codebatches.CodeBatch:
    """A batch of printed codes, stored as the staff routes store it."""
    now = services.clock()
    _, batch = codebatches.prepare(
        services.store,
        cycle.cycle_id,
        {"site": "Dudley Branch Library", "count": count},
        now=now,
    )
    codebatches.commit(
        services.store,
        batch,
        secret=services.voter_secret(),
        actor="test:office-staff",
        now=now,
    )
    return batch


def issue_codes(services, cycle, count=1) -> list[str]:
    """The printed codes of a new batch."""
    return [accesscodes.display(c) for c in new_batch(services, cycle, count).codes]


def move_clock(services, by: timedelta) -> None:
    later = services.clock() + by
    services.clock = lambda: later


def refused(answer, status: int, code: str, field: str | None) -> dict:
    assert answer.status_code == status, answer.json_body
    assert answer.json_body["code"] == code
    assert answer.json_body.get("field") == field
    assert answer.json_body["message"]
    return answer.json_body


# -- the whole flows --------------------------------------------------------


def test_sms_code_to_pass_to_ballot(client, services, settings, voting_cycle):
    # GIVEN a resident who asks for a code by text
    started = send(client, "sms", PHONE)
    assert started.status_code == 202
    assert started.json_body["method"] == "sms"
    assert started.json_body["expires_at"].endswith("Z")
    (text,) = texts_to(E164)
    assert "Boston PB" in text

    # WHEN they give the code back, THEN they get a pass, and it votes
    answer = check(client, started.json_body["verification_id"], find_code(text))
    assert answer.status_code == 200
    voter_pass = answer.json_body["voter_pass"]
    assert cast(client, {"kind": "pass", "value": voter_pass}).status_code == 201

    # AND the same phone cannot vote again on its word alone
    again = cast(client, {"kind": "phone", "value": "+1 617 555 0134"})
    refused(again, 409, "ALREADY_VOTED", "voter")
    (mark,) = table_items(settings.voter_marks_table)
    assert mark["channel"]["S"] == "online"
    # No raw phone, no code, in any item.
    stored = json.dumps(snapshot(settings))
    for secret in (E164, "6175550134", find_code(text)):
        assert secret not in stored
    # AND the used challenge no longer names the voter key (its expiry would
    # tell when that resident verified)
    (challenge,) = verification_items(settings, "otp#")
    assert "subject" not in challenge
    assert mark["voter_key"]["S"] not in json.dumps(challenge)


def test_email_code_in_the_residents_language(client, services, settings):
    now = services.clock()
    cycle = dataclasses.replace(
        small_cycle(now, cycle_id="spanish"), languages=("en", "es")
    )
    open_voting(services.store, cycle, now)

    started = send(client, "email", EMAIL, language="es")
    assert started.status_code == 202
    (mail,) = emails_to("resident@example.org")
    assert mail.source == "pb-dev-codes@pb.localhost"
    assert "Presupuesto Participativo" in mail.subject
    voter_pass = check(
        client, started.json_body["verification_id"], find_code(mail.body)
    ).json_body["voter_pass"]

    assert cast(client, {"kind": "pass", "value": voter_pass}).status_code == 201
    refused(
        cast(client, {"kind": "email", "value": "resident@example.org"}),
        409,
        "ALREADY_VOTED",
        "voter",
    )


def test_a_language_the_cycle_lacks_is_refused(client, settings):
    before = snapshot(settings)
    refused(
        send(client, "sms", PHONE, language="fr"), 400, "INVALID_CHOICE", "language"
    )
    assert snapshot(settings) == before
    assert texts_to(E164) == []


# -- checking codes ---------------------------------------------------------


def test_wrong_codes_count_and_lock_the_challenge_after_five(client, settings):
    started = send(client).json_body
    right = last_sms_code()
    wrong = f"{(int(right) + 1) % 10**6:06d}"

    for left in (4, 3, 2, 1):
        body = refused(
            check(client, started["verification_id"], wrong),
            400,
            "CODE_INCORRECT",
            "code",
        )
        assert body["attempts_left"] == left
    refused(
        check(client, started["verification_id"], wrong),
        429,
        "TOO_MANY_ATTEMPTS",
        "code",
    )

    # THEN even the right code is refused: the challenge is dead
    refused(
        check(client, started["verification_id"], right),
        429,
        "TOO_MANY_ATTEMPTS",
        "code",
    )
    (challenge,) = verification_items(settings, "otp#")
    assert challenge["attempts"]["N"] == "5"
    assert challenge["used"]["BOOL"] is False


def test_an_expired_code_is_refused(client, services, settings):
    started = send(client).json_body
    move_clock(services, timedelta(minutes=10, seconds=1))

    refused(
        check(client, started["verification_id"], last_sms_code()),
        410,
        "CODE_EXPIRED",
        "verification_id",
    )
    (challenge,) = verification_items(settings, "otp#")
    assert challenge["used"]["BOOL"] is False
    assert int(challenge["expires_at"]["N"]) > 0  # the TTL attribute


def test_a_used_challenge_cannot_be_used_again(client):
    started = send(client).json_body
    code = last_sms_code()
    assert check(client, started["verification_id"], code).status_code == 200

    refused(
        check(client, started["verification_id"], code),
        409,
        "VERIFICATION_USED",
        "verification_id",
    )


@pytest.mark.parametrize("verification_id", ["A" * 22, "short", "bad.id" + "x" * 16])
def test_an_unknown_verification_is_not_found(client, verification_id):
    refused(
        check(client, verification_id, "123456"),
        404,
        "VERIFICATION_NOT_FOUND",
        "verification_id",
    )


@pytest.mark.parametrize("code", ["12345", "abcdef", 123456, None, "1234567"])
def test_a_malformed_code_is_refused_without_spending_a_try(client, settings, code):
    started = send(client).json_body
    refused(
        check(client, started["verification_id"], code), 400, "INVALID_CODE", "code"
    )
    (challenge,) = verification_items(settings, "otp#")
    assert challenge["attempts"]["N"] == "0"


# -- rate limits ------------------------------------------------------------


def test_sends_per_contact_are_limited_and_the_counter_expires(
    client, services, settings
):
    for _ in range(3):
        assert send(client).status_code == 202
    before = snapshot(settings)

    answer = send(client, "sms", "617-555-0134")  # the same phone, written otherwise
    refused(answer, 429, "RATE_LIMITED", "contact")
    assert 0 < int(answer.headers["Retry-After"]) <= 3600
    assert snapshot(settings) == before  # no challenge, no count
    assert len(texts_to(E164)) == 3
    counters = verification_items(settings, "rate#send-contact#")
    assert [c["count"]["N"] for c in counters] == ["3"]
    # The counter says when DynamoDB's TTL may delete it: within two hours.
    expires = int(counters[0]["expires_at"]["N"])
    assert 3600 < expires - services.clock().timestamp() <= 7200
    assert E164 not in json.dumps(counters)

    # An hour later the resident may ask again.
    move_clock(services, timedelta(hours=1))
    assert send(client).status_code == 202


def test_sends_per_client_address_are_limited(client, services, settings):
    services.limits = Limits(sends_per_client=2)
    assert send(client, "sms", "617 555 0101").status_code == 202
    assert send(client, "email", "a@example.org").status_code == 202
    before = snapshot(settings)

    answer = send(client, "sms", "617 555 0102")
    refused(answer, 429, "RATE_LIMITED", "client")
    assert int(answer.headers["Retry-After"]) > 0
    assert snapshot(settings) == before
    assert texts_to("+16175550102") == []
    (counter,) = verification_items(settings, "rate#send-client#")
    assert "127.0.0.1" not in json.dumps(counter)


def test_code_checks_per_client_address_are_limited(client, services):
    services.limits = Limits(checks_per_client=2)
    started = send(client).json_body
    for _ in range(2):
        check(client, started["verification_id"], "000000")

    answer = check(client, started["verification_id"], last_sms_code())
    refused(answer, 429, "RATE_LIMITED", "client")
    assert int(answer.headers["Retry-After"]) > 0


# -- access codes -----------------------------------------------------------


def test_an_access_code_votes_once(client, services, settings, voting_cycle):
    (code,) = issue_codes(services, voting_cycle)
    key = uuid.uuid4().hex

    first = cast(client, {"kind": "access_code", "value": code.lower()}, key=key)
    assert first.status_code == 201
    # A retry of the same ballot gets its receipt back.
    retry = cast(client, {"kind": "access_code", "value": code}, key=key)
    assert (retry.status_code, retry.json_body) == (201, first.json_body)
    (code_item,) = verification_items(settings, "code#")
    (batch,) = verification_items(settings, "batch#")
    assert code_item["used"]["BOOL"] is True
    assert batch["used_count"]["N"] == "1"

    # Used again, under a new key: the same answer as a code never printed.
    before = snapshot(settings)
    used = refused(
        cast(client, {"kind": "access_code", "value": code}),
        400,
        "ACCESS_CODE_NOT_VALID",
        "voter.value",
    )
    unknown = refused(
        cast(client, {"kind": "access_code", "value": accesscodes.new_code()}),
        400,
        "ACCESS_CODE_NOT_VALID",
        "voter.value",
    )
    assert used == unknown
    assert snapshot(settings) == before


def test_a_revoked_batchs_code_is_refused(client, services, settings, voting_cycle):
    batch = new_batch(services, voting_cycle)
    (code,) = batch.codes
    codebatches.revoke(
        services.store,
        voting_cycle.cycle_id,
        batch.batch_id,
        {"reason": "cards lost at the event"},
        actor="test:office-admin",
        now=services.clock(),
    )
    before = snapshot(settings)

    refused(
        cast(client, {"kind": "access_code", "value": code}),
        400,
        "ACCESS_CODE_NOT_VALID",
        "voter.value",
    )
    assert snapshot(settings) == before  # the code is still unused


def test_an_access_code_with_a_phone_that_voted_by_sms_is_refused(
    client, services, settings, voting_cycle
):
    voter_pass = verified_pass(client, "sms", PHONE)
    assert cast(client, {"kind": "pass", "value": voter_pass}).status_code == 201
    (code,) = issue_codes(services, voting_cycle)
    before = snapshot(settings)

    answer = cast(
        client,
        {
            "kind": "access_code",
            "value": code,
            "contact": {"kind": "phone", "value": E164},
        },
    )
    refused(answer, 409, "ALREADY_VOTED", "voter")
    assert snapshot(settings) == before  # the code is left unused
    (code_item,) = verification_items(settings, "code#")
    assert code_item["used"]["BOOL"] is False


def test_an_access_code_with_an_email_that_voted_on_its_word_is_refused(
    client, services, settings, voting_cycle
):
    assert cast(client, {"kind": "email", "value": EMAIL}).status_code == 201
    (code,) = issue_codes(services, voting_cycle)
    before = snapshot(settings)

    answer = cast(
        client,
        {
            "kind": "access_code",
            "value": code,
            "contact": {"kind": "email", "value": "resident@example.ORG"},
        },
    )
    refused(answer, 409, "ALREADY_VOTED", "voter")
    assert snapshot(settings) == before


def test_a_code_with_a_bad_contact_names_the_contact(client, services, voting_cycle):
    (code,) = issue_codes(services, voting_cycle)
    answer = cast(
        client,
        {
            "kind": "access_code",
            "value": code,
            "contact": {"kind": "phone", "value": "555"},
        },
    )
    refused(answer, 400, "INVALID_PHONE", "voter.contact.value")


# -- methods a cycle leaves out --------------------------------------------


def cycle_without(services, method: str):
    now = services.clock()
    methods = tuple(
        m
        for m in ("sms", "email", "access_code", "in_person", "attested")
        if m != method
    )
    cycle = dataclasses.replace(
        small_cycle(now, cycle_id="picky"), verification=methods
    )
    return open_voting(services.store, cycle, now)


@pytest.mark.parametrize("method", ["sms", "email"])
def test_a_code_by_a_method_not_offered_is_refused(client, services, settings, method):
    cycle_without(services, method)
    before = snapshot(settings)
    contact = PHONE if method == "sms" else EMAIL

    refused(send(client, method, contact), 400, "METHOD_NOT_OFFERED", "method")
    assert snapshot(settings) == before


@pytest.mark.parametrize(
    "method, voter",
    [
        ("access_code", {"kind": "access_code", "value": "7KQ2-M9XD-4HTB"}),
        ("attested", {"kind": "phone", "value": PHONE}),
        ("attested", {"kind": "email", "value": EMAIL}),
        ("in_person", "in_person"),
        ("sms", "sms"),
    ],
)
def test_a_ballot_by_a_method_not_offered_is_refused(
    client, services, settings, method, voter
):
    cycle = cycle_without(services, method)
    if isinstance(voter, str):  # a genuine pass of that method
        token = passes.issue(
            services.voter_secret(),
            cycle_id=cycle.cycle_id,
            voter_key=f"{cycle.cycle_id}#" + "ab" * 32,
            method=voter,
            now=services.clock(),
        )
        voter = {"kind": "pass", "value": token}
    before = snapshot(settings)

    refused(cast(client, voter), 400, "METHOD_NOT_OFFERED", "voter.kind")
    assert snapshot(settings) == before


# -- passes -----------------------------------------------------------------


def test_a_pass_of_another_cycle_or_expired_is_refused(
    client, services, settings, voting_cycle
):
    secret = services.voter_secret()
    other = passes.issue(
        secret,
        cycle_id="another-cycle",
        voter_key="another-cycle#" + "cd" * 32,
        method="sms",
        now=services.clock(),
    )
    voter_pass = verified_pass(client)
    before = snapshot(settings)

    refused(
        cast(client, {"kind": "pass", "value": other}),
        400,
        "PASS_INVALID",
        "voter.value",
    )
    refused(
        cast(client, {"kind": "pass", "value": voter_pass[:-2] + "xx"}),
        400,
        "PASS_INVALID",
        "voter.value",
    )
    move_clock(services, passes.PASS_LIFETIME + timedelta(seconds=1))
    refused(
        cast(client, {"kind": "pass", "value": voter_pass}),
        400,
        "PASS_EXPIRED",
        "voter.value",
    )
    assert snapshot(settings) == before


def test_a_retry_with_a_pass_that_expired_since_still_gets_its_receipt(
    client, services
):
    voter_pass = verified_pass(client)
    key = uuid.uuid4().hex
    first = cast(client, {"kind": "pass", "value": voter_pass}, key=key)
    move_clock(services, passes.PASS_LIFETIME + timedelta(minutes=1))

    again = cast(client, {"kind": "pass", "value": voter_pass}, key=key)
    assert (again.status_code, again.json_body) == (201, first.json_body)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_cycle_says_how_residents_prove_who_they_are(client, voting_cycle):
    cycle = client.http.get("/cycle").json_body
    assert cycle["verification"] == list(voting_cycle.verification)


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"method": "pigeon", "contact": PHONE}, "INVALID_CHOICE", "method"),
        ({"method": "sms", "contact": "555"}, "INVALID_PHONE", "contact"),
        ({"method": "sms", "contact": 6175550134}, "INVALID_PHONE", "contact"),
        ({"method": "email", "contact": "nope"}, "INVALID_EMAIL", "contact"),
        ({"method": "sms", "contact": PHONE, "x": 1}, "UNKNOWN_FIELD", "x"),
        ([], "INVALID_TYPE", "body"),
    ],
)
def test_bad_verification_requests_write_and_send_nothing(
    client, settings, body, code, field
):
    before = snapshot(settings)
    answer = post(client, "/verifications", body)
    refused(answer, 400, code, field)
    assert snapshot(settings) == before
    assert sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages == {}


def test_no_code_is_sent_once_voting_closed(client, services, settings, voting_cycle):
    from chalicelib.clock import close_due_phases

    close_due_phases(
        services.store,
        now=voting_cycle.calendar[voting_cycle.phase].end,
        on_voting_closed=lambda cycle: "sha256:" + "0" * 64,
    )
    services.store.current_cycle()
    refused(send(client), 409, "PHASE_CLOSED", "phase")
    assert texts_to(E164) == []
