"""The one-time-code logic of chalicelib.verification, with no IO.

The store is an in-memory fake with the repository's contract (the same
conditions, the same exceptions); the sender records what it was asked to
send. tests/functional/test_verification.py runs the same flows on moto.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import passes
from chalicelib.cycle import Cycle, Phase, Proposal
from chalicelib.errors import (
    CodeIncorrect,
    Conflict,
    Gone,
    InvalidInput,
    NotFound,
    PhaseClosed,
    TooManyRequests,
)
from chalicelib.importer import replay_calendar
from chalicelib.verification import (
    MAX_ATTEMPTS,
    MESSAGES,
    ChallengeRefused,
    LimitReached,
    Limits,
    RecordingSender,
    check_code,
    code_hash,
    counter,
    find_code,
    message,
    start_verification,
    subject_key,
    vouch,
)

pytestmark = pytest.mark.unit

SECRET = b"k" * 32
NOW = datetime(2027, 5, 3, 14, 20, tzinfo=UTC)


def voting_cycle(**changes) -> Cycle:
    cycle = Cycle(
        cycle_id="c1",
        name="c1",
        budget_cap=100,
        selection_limit=1,
        min_voting_age=11,
        calendar=replay_calendar(NOW, timedelta(hours=2)),
        proposals=(Proposal("p1", 10, {"en": "One"}),),
        phase=Phase.VOTING,
        languages=("en", "zh-Hans"),
    )
    return dataclasses.replace(cycle, **changes)


class FakeStore:
    """The verification part of Store, in memory."""

    def __init__(self, cycle: Cycle):
        self.cycle = cycle
        self.challenges: dict[str, dict] = {}
        self.counts: dict[str, int] = {}
        self.audit: list[dict] = []

    def current_cycle(self, *, max_age: float = 0.0) -> Cycle:
        return self.cycle

    def get_cycle(self, cycle_id: str) -> Cycle:
        if cycle_id != self.cycle.cycle_id:
            raise NotFound("no such cycle", field="cycle_id")
        return self.cycle

    def start_challenge(self, challenge, *, counters) -> None:
        for rate in counters:
            if self.counts.get(rate.key, 0) >= rate.limit:
                raise LimitReached(rate.scope)
        for rate in counters:
            self.counts[rate.key] = self.counts.get(rate.key, 0) + 1
        self.challenges[challenge.challenge_id] = {"c": challenge, "used": False}

    def count_request(self, rate) -> None:
        if self.counts.get(rate.key, 0) >= rate.limit:
            raise LimitReached(rate.scope)
        self.counts[rate.key] = self.counts.get(rate.key, 0) + 1

    def try_challenge(self, challenge_id, *, now, max_attempts):
        entry = self.challenges.get(challenge_id)
        if entry is None:
            raise ChallengeRefused("missing")
        challenge = entry["c"]
        if entry["used"]:
            raise ChallengeRefused("used")
        if challenge.expires_at <= now:
            raise ChallengeRefused("expired")
        if challenge.attempts >= max_attempts:
            raise ChallengeRefused("exhausted")
        entry["c"] = dataclasses.replace(challenge, attempts=challenge.attempts + 1)
        return entry["c"]

    def close_challenge(self, challenge_id) -> None:
        if self.challenges[challenge_id]["used"]:
            raise ChallengeRefused("used")
        self.challenges[challenge_id]["used"] = True

    def append_audit(self, cycle_id, **entry) -> None:
        self.audit.append({"cycle_id": cycle_id, **entry})


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(voting_cycle())


def start(store, sender, body=None, *, client="203.0.113.9", now=NOW, limits=None):
    return start_verification(
        store,
        sender,
        SECRET,
        body or {"method": "sms", "contact": "617-555-0134"},
        client=client,
        now=now,
        limits=limits or Limits(),
    )


def check(store, challenge_id, code, *, client="203.0.113.9", now=NOW, limits=None):
    return check_code(
        store,
        SECRET,
        challenge_id,
        {"code": code},
        client=client,
        now=now,
        limits=limits or Limits(),
    )


def test_a_code_is_sent_to_the_e164_number_and_its_pass_names_the_phone(store):
    sender = RecordingSender()
    started = start(store, sender)

    (sent,) = sender.sent
    assert (sent.method, sent.to) == ("sms", "+16175550134")
    assert started["method"] == "sms"
    assert started["expires_at"] == "2027-05-03T14:30:00Z"
    answer = check(store, started["verification_id"], sender.last_code())
    voter_pass = passes.read(SECRET, answer["voter_pass"], cycle_id="c1", now=NOW)
    assert voter_pass.method == "sms"
    assert voter_pass.voter_key == subject_key(SECRET, "c1", "phone", "+16175550134")


def test_the_challenge_keeps_only_an_hmac_of_the_code(store):
    sender = RecordingSender()
    started = start(store, sender)
    (entry,) = store.challenges.values()
    challenge = entry["c"]

    code = sender.last_code()
    assert challenge.secret_hash == code_hash(SECRET, started["verification_id"], code)
    assert code not in repr(challenge) and "617" not in repr(challenge)


def test_email_is_case_folded_and_written_in_the_residents_language(store):
    sender = RecordingSender()
    start(
        store,
        sender,
        {"method": "email", "contact": " Ana@Example.ORG ", "language": "zh-Hans"},
    )
    (sent,) = sender.sent
    assert sent.to == "ana@example.org"
    assert sent.subject == MESSAGES["zh-Hans"][0]
    assert "10" in sent.text and find_code(sent.text) in sent.text


@pytest.mark.parametrize("language", sorted(MESSAGES))
def test_every_message_carries_the_code_and_its_lifetime(language):
    subject, text = message(language, "042917")
    assert subject and find_code(text) == "042917"
    assert "10" in text


def test_a_language_without_a_message_falls_back_to_english():
    assert message("so", "123456") == message("en", "123456")


def test_wrong_codes_spend_tries_then_the_challenge_is_dead(store):
    sender = RecordingSender()
    started = start(store, sender)
    right = sender.last_code()
    wrong = "000000" if right != "000000" else "111111"

    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        with pytest.raises(CodeIncorrect) as refused:
            check(store, started["verification_id"], wrong)
        assert refused.value.attempts_left == left
        assert refused.value.to_dict()["attempts_left"] == left
    with pytest.raises(TooManyRequests) as dead:
        check(store, started["verification_id"], wrong)
    assert dead.value.code == "TOO_MANY_ATTEMPTS"
    with pytest.raises(TooManyRequests):
        check(store, started["verification_id"], right)


def test_the_code_is_read_forgivingly_but_must_be_six_digits(store):
    sender = RecordingSender()
    started = start(store, sender)
    code = sender.last_code()
    spaced = f"{code[:3]} {code[3:]}".translate(
        str.maketrans("0123456789", "０１２３４５６７８９")
    )

    with pytest.raises(InvalidInput) as malformed:
        check(store, started["verification_id"], code[:5])
    assert (malformed.value.code, malformed.value.field) == ("INVALID_CODE", "code")
    assert check(store, started["verification_id"], spaced)["voter_pass"]


def test_an_expired_used_or_unknown_challenge_is_refused(store):
    sender = RecordingSender()
    started = start(store, sender)
    code = sender.last_code()
    challenge_id = started["verification_id"]

    with pytest.raises(Gone) as late:
        check(store, challenge_id, code, now=NOW + timedelta(minutes=10))
    assert late.value.code == "CODE_EXPIRED"
    check(store, challenge_id, code)
    with pytest.raises(Conflict) as used:
        check(store, challenge_id, code)
    assert used.value.code == "VERIFICATION_USED"
    with pytest.raises(NotFound) as unknown:
        check(store, "x" * 22, code)
    assert unknown.value.code == "VERIFICATION_NOT_FOUND"


def test_a_challenge_of_another_cycle_is_not_found(store):
    sender = RecordingSender()
    started = start(store, sender)
    store.cycle = voting_cycle(cycle_id="c2")

    with pytest.raises(NotFound):
        check(store, started["verification_id"], sender.last_code())


def test_sends_are_limited_per_contact_then_per_client(store):
    sender = RecordingSender()
    for _ in range(3):
        start(store, sender)
    with pytest.raises(TooManyRequests) as contact:
        start(store, sender, {"method": "sms", "contact": "+1 (617) 555 0134"})
    assert (contact.value.code, contact.value.field) == ("RATE_LIMITED", "contact")
    assert contact.value.retry_after == 40 * 60  # until 15:00 UTC
    assert len(sender.sent) == 3

    limits = Limits(sends_per_client=4)
    start(store, sender, {"method": "email", "contact": "a@example.org"}, limits=limits)
    with pytest.raises(TooManyRequests) as client:
        start(
            store,
            sender,
            {"method": "email", "contact": "b@example.org"},
            limits=limits,
        )
    assert client.value.field == "client"
    # Another address is counted apart.
    start(store, sender, {"method": "email", "contact": "b@example.org"}, client="::1")


def test_the_next_hour_has_a_fresh_counter():
    this_hour = counter(SECRET, "send-contact", "s", 3, NOW)
    later = counter(SECRET, "send-contact", "s", 3, NOW + timedelta(hours=1))

    assert this_hour.key != later.key
    assert this_hour.key.startswith("rate#send-contact#")
    assert this_hour.key.endswith("#2027050314")
    assert this_hour.expires_at == int(datetime(2027, 5, 3, 16, tzinfo=UTC).timestamp())
    assert len(this_hour.key.split("#")[2]) == 64  # the HMAC, not the subject


def test_limits_come_from_the_stage_with_defaults():
    assert Limits.from_env({}) == Limits(3, 20, 60)
    assert Limits.from_env({"PB_RATE_SENDS_PER_CONTACT": "5"}).sends_per_contact == 5
    with pytest.raises(ValueError):
        Limits.from_env({"PB_RATE_CHECKS_PER_CLIENT": "0"})


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"method": "access_code", "contact": "x"}, "INVALID_CHOICE", "method"),
        ({"method": ["sms"], "contact": "x"}, "INVALID_CHOICE", "method"),
        ({"method": "sms", "contact": "555-0134"}, "INVALID_PHONE", "contact"),
        ({"method": "sms"}, "INVALID_PHONE", "contact"),
        ({"method": "email", "contact": "a@b"}, "INVALID_EMAIL", "contact"),
        ({"method": "email", "contact": "a\u200b@x.org"}, "INVALID_EMAIL", "contact"),
        ({"method": "sms", "contact": "6175550134", "language": "fr"},
         "INVALID_CHOICE", "language"),
        ({"method": "sms", "contact": "6175550134", "to": 1}, "UNKNOWN_FIELD", "to"),
    ],
)  # fmt: skip
def test_bad_requests_send_and_store_nothing(store, body, code, field):
    sender = RecordingSender()
    with pytest.raises(InvalidInput) as refused:
        start(store, sender, body)

    assert (refused.value.code, refused.value.field) == (code, field)
    assert sender.sent == [] and store.challenges == {} and store.counts == {}


def test_a_method_the_cycle_leaves_out_is_not_offered():
    store = FakeStore(voting_cycle(verification=("email", "access_code")))
    with pytest.raises(InvalidInput) as refused:
        start(store, RecordingSender())
    assert (refused.value.code, refused.value.field) == ("METHOD_NOT_OFFERED", "method")


def test_no_code_outside_voting():
    store = FakeStore(voting_cycle(phase=Phase.TALLY))
    with pytest.raises(PhaseClosed):
        start(store, RecordingSender())


def test_a_vouch_with_a_contact_shares_the_phones_voter_key(store):
    answer = vouch(
        store,
        SECRET,
        "c1",
        {
            "contact": {"kind": "phone", "value": "617 555 0134"},
            "attestation": {"seen_in_person": True, "site": "City Hall"},
        },
        actor="staff:vol",
        now=NOW,
    )
    voter_pass = passes.read(SECRET, answer["voter_pass"], cycle_id="c1", now=NOW)
    assert voter_pass.method == "in_person"
    assert voter_pass.voter_key == subject_key(SECRET, "c1", "phone", "+16175550134")
    (entry,) = store.audit
    assert entry["action"] == "voter_vouched" and entry["actor"] == "staff:vol"
    assert "617" not in repr(entry)


def test_a_vouch_without_a_contact_gets_a_fresh_random_key(store):
    body = {"attestation": {"seen_in_person": True}}
    first = vouch(store, SECRET, "c1", body, actor="staff:v", now=NOW)
    second = vouch(store, SECRET, "c1", body, actor="staff:v", now=NOW)
    keys = {
        passes.read(SECRET, a["voter_pass"], cycle_id="c1", now=NOW).voter_key
        for a in (first, second)
    }
    assert len(keys) == 2 and all(k.startswith("c1#") for k in keys)
