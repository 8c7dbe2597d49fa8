"""Casting a ballot: the one path from a resident's choice to storage.

:func:`cast_ballot` validates the submission, checks eligibility, finds
the voter key and hands one transaction to the store. The store guarantees
one vote per voter key; this module guarantees that a retried submission
(same idempotency key, same choices) gets the same receipt back.

The voter key comes from how the resident proved who they are, each method
only if the cycle offers it (``METHOD_NOT_OFFERED`` otherwise):

- a voter pass (one-time code by text or email, a volunteer in person):
  the key in the signed pass;
- an access code with a phone or email: the key of that contact, so a
  resident who voted by text with the same phone is refused;
- an access code alone: the key of the code;
- a bare phone or email (``attested``): the key of that contact.

An access code is redeemed in the ballot's own transaction.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib import accesscodes, passes
from chalicelib.ballot import CastRequest, check_selections, parse_cast_request
from chalicelib.cycle import Cycle, Phase
from chalicelib.eligibility import check_eligibility
from chalicelib.errors import IdempotencyMismatch, InvalidInput, PhaseClosed
from chalicelib.storage.repository import (
    IdempotencyRecord,
    StoredBallot,
    SubmissionSeen,
    VoterMark,
    access_code_not_valid,
)
from chalicelib.verification import not_offered
from chalicelib.voterkey import voter_key

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
#: How long a retry can still recover its receipt.
IDEMPOTENCY_TTL = timedelta(days=7)
#: How stale the cycle read on the ballot path may be (see Store.current_cycle).
CYCLE_CACHE_SECONDS = 5.0


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Voter:
    """Who casts: the cycle-qualified voter key and how it was proved."""

    key: str
    method: str
    #: The access code's key, when one is redeemed with the ballot.
    code_key: str | None = None
    #: A pass that is genuine but late: it may still replay its ballot.
    expired: InvalidInput | None = None


@dataclasses.dataclass(frozen=True)
class Receipt:
    receipt: str
    cycle_id: str
    ballot_hash: str
    recorded_on: str
    replayed: bool = False
    channel: str = "online"

    def to_dict(self) -> dict:
        return {
            "receipt": self.receipt,
            "cycle_id": self.cycle_id,
            "ballot_hash": self.ballot_hash,
            "recorded_on": self.recorded_on,
        }


def derive_receipt(secret: bytes, cycle_id: str, idempotency_key: str) -> str:
    """The receipt of the ballot submitted under ``idempotency_key``.

    Derived (HMAC-SHA256, 120 bits shown) rather than stored, so that a retry
    gets the same receipt back while no table holds a receipt next to
    anything: the key itself is only stored hashed. Unguessable without the
    secret, and easy to read aloud.
    """
    message = f"receipt\x1f{cycle_id}\x1f{idempotency_key}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    raw = base64.b32encode(digest[:15]).decode()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def receipt_hash(receipt: str) -> str:
    """The id under which a ballot is stored and later published."""
    return hashlib.sha256(receipt.encode()).hexdigest()


def cast_ballot(
    store,
    voter_secret: Callable[[], bytes],
    body: object,
    idempotency_key: str | None,
    *,
    now: datetime,
    channel: str = "online",
) -> Receipt:
    """Record one ballot in the current cycle and return its receipt.

    Raises ``InvalidInput`` (bad body or key), ``NotEligible``,
    ``PhaseClosed``, ``AlreadyVoted``, ``IdempotencyMismatch`` (the key was
    used for different choices or by another voter) or ``Unavailable``.
    """
    request = parse_cast_request(body)
    key = _check_idempotency_key(idempotency_key)
    cycle = store.current_cycle(max_age=CYCLE_CACHE_SECONDS)
    secret = voter_secret()
    voter = resolve_voter(secret, cycle, request, now=now)
    idempotency_id = retry_record_id(secret, cycle.cycle_id, voter.key, key)
    receipt = derive_receipt(secret, cycle.cycle_id, key)

    if cycle.phase is not Phase.VOTING or voter.expired is not None:
        # A retry of a recorded ballot still gets its receipt after voting
        # closed, or once its pass has expired.
        earlier = store.get_idempotency(idempotency_id)
        if earlier is not None and store.has_voted(voter.key):
            return _replay(earlier, request, receipt, cycle)
        if cycle.phase is not Phase.VOTING:
            raise PhaseClosed("Voting is not open now.", field="phase")
        raise voter.expired
    check_selections(request, cycle)
    bracket = check_eligibility(
        request.attestation,
        first_voting_day=cycle.first_voting_day,
        min_age=cycle.min_voting_age,
    )
    if request.age_bracket is not None and request.age_bracket != bracket:
        raise InvalidInput(
            "The age bracket does not match the age given.",
            field="age_bracket",
            code="INVALID_CHOICE",
        )
    access_code = None
    if voter.code_key is not None:
        access_code = store.find_access_code(cycle.cycle_id, voter.code_key)
        if access_code is None:
            raise access_code_not_valid()

    day = now.astimezone(ZoneInfo(cycle.timezone)).date()
    channel = "in_person" if voter.method == "in_person" else channel
    mark = VoterMark(
        voter_key=voter.key,
        voted_on=day.isoformat(),
        channel=channel,
        neighbourhood=request.neighbourhood,
        age_bracket=bracket,
    )
    try:
        store.record_ballot(
            cycle,
            mark=mark,
            ballot=StoredBallot(
                receipt_hash(receipt), request.selections, mark.voted_on
            ),
            idempotency_id=idempotency_id,
            fingerprint=request.fingerprint(),
            expires_at=_expiry(day),
            now=now.timestamp(),
            access_code=access_code,
        )
    except SubmissionSeen as seen:
        # The key is known. Only a retry by the same voter may replay it:
        # anyone else would be told of a vote that was never theirs.
        earlier = store.get_idempotency(idempotency_id)
        if earlier is None or not seen.voter_has_voted:
            raise _key_reused() from seen
        return _replay(earlier, request, receipt, cycle)
    return Receipt(
        receipt, cycle.cycle_id, cycle.ballot_hash, mark.voted_on, channel=channel
    )


def resolve_voter(
    secret: bytes, cycle: Cycle, request: CastRequest, *, now: datetime
) -> Voter:
    """The voter key of ``request`` in ``cycle``, by the method it used.

    Reads no storage. Raises ``InvalidInput``: ``METHOD_NOT_OFFERED`` (field
    ``voter.kind``) for a method the cycle leaves out, ``PASS_INVALID``, or
    a malformed code, phone or email. A genuine pass that has expired is
    returned with ``expired`` set, for the caller to refuse unless it is
    replaying a recorded ballot.
    """
    kind, value = request.voter_kind, request.voter_value
    prefix = f"{cycle.cycle_id}#"
    if kind == "pass":
        if not any(cycle.offers(m) for m in passes.METHODS):
            raise not_offered("voter.kind")
        # Signature and cycle first; the expiry is judged below.
        voter_pass = passes.read(secret, value, cycle_id=cycle.cycle_id, now=_EPOCH)
        if not voter_pass.voter_key.startswith(prefix):
            raise InvalidInput(
                "This proof of identity is not valid for this vote. Verify again.",
                field="voter.value",
                code="PASS_INVALID",
            )
        if not cycle.offers(voter_pass.method):
            raise not_offered("voter.kind")
        expired = None
        try:
            passes.read(secret, value, cycle_id=cycle.cycle_id, now=now)
        except InvalidInput as exc:
            expired = exc
        return Voter(voter_pass.voter_key, voter_pass.method, expired=expired)
    if kind == "access_code":
        if not cycle.offers("access_code"):
            raise not_offered("voter.kind")
        code = accesscodes.canonical(value)
        code_key = accesscodes.code_key(secret, cycle.cycle_id, code)
        if request.voter_contact is None:
            identity = voter_key(secret, cycle.cycle_id, "access_code", code)
        else:
            contact_kind, contact = request.voter_contact
            try:
                identity = voter_key(secret, cycle.cycle_id, contact_kind, contact)
            except InvalidInput as exc:
                raise InvalidInput(
                    exc.message, field="voter.contact.value", code=exc.code
                ) from exc
        return Voter(prefix + identity, "access_code", code_key=code_key)
    if not cycle.offers("attested"):
        raise not_offered("voter.kind")
    return Voter(prefix + voter_key(secret, cycle.cycle_id, kind, value), "attested")


def retry_record_id(secret: bytes, cycle_id: str, voter: str, key: str) -> str:
    """Where a submission's retry record lives: a keyed HMAC of the voter and
    the client's key together.

    Another resident who learns (or dictates) someone's Idempotency-Key finds
    no record under it, so cannot have that ballot's choices confirmed or its
    receipt replayed; and the record is no join between voter and ballot
    without the client's key, which is never stored.
    """
    message = f"idempotency\x1f{cycle_id}\x1f{voter}\x1f{key}".encode()
    return f"{cycle_id}#" + hmac.new(secret, message, hashlib.sha256).hexdigest()


def _expiry(day) -> int:
    """Epoch seconds of the UTC midnight ``IDEMPOTENCY_TTL`` after ``day``.

    Whole days, so that the record says nothing finer about when it was cast.
    """
    expires = datetime.combine(day + IDEMPOTENCY_TTL, time.min, tzinfo=UTC)
    return int(expires.timestamp())


def _replay(earlier: IdempotencyRecord, request, receipt: str, cycle: Cycle) -> Receipt:
    if earlier.fingerprint != request.fingerprint():
        raise _key_reused()
    return Receipt(
        receipt, cycle.cycle_id, cycle.ballot_hash, earlier.recorded_on, replayed=True
    )


def _key_reused() -> IdempotencyMismatch:
    return IdempotencyMismatch(
        "This submission key was already used for a different ballot. "
        "Start a new ballot and send it again.",
        field="Idempotency-Key",
    )


def _check_idempotency_key(value: str | None) -> str:
    if value is None or value == "":
        raise InvalidInput(
            "Send an Idempotency-Key header (a fresh UUID per ballot).",
            field="Idempotency-Key",
            code="MISSING_IDEMPOTENCY_KEY",
        )
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidInput(
            "The Idempotency-Key is 8 to 128 letters, digits, - or _.",
            field="Idempotency-Key",
            code="INVALID_IDEMPOTENCY_KEY",
        )
    return value
