"""Casting a ballot: the one path from a resident's choice to storage.

:func:`cast_ballot` validates the submission, checks eligibility, derives
the voter key and hands one transaction to the store. The store guarantees
one vote per voter key; this module guarantees that a retried submission
(same idempotency key, same choices) gets the same receipt back.
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

from chalicelib.ballot import check_selections, parse_cast_request
from chalicelib.cycle import Cycle, Phase
from chalicelib.eligibility import check_eligibility
from chalicelib.errors import IdempotencyMismatch, InvalidInput, PhaseClosed
from chalicelib.storage.repository import (
    IdempotencyRecord,
    StoredBallot,
    SubmissionSeen,
    VoterMark,
)
from chalicelib.voterkey import mark_key

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
#: How long a retry can still recover its receipt.
IDEMPOTENCY_TTL = timedelta(days=7)
#: How stale the cycle read on the ballot path may be (see Store.current_cycle).
CYCLE_CACHE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Receipt:
    receipt: str
    cycle_id: str
    ballot_hash: str
    recorded_on: str
    replayed: bool = False

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
    idempotency_id = f"{cycle.cycle_id}#{hashlib.sha256(key.encode()).hexdigest()}"
    secret = voter_secret()
    voter = mark_key(secret, cycle.cycle_id, request.voter_kind, request.voter_value)
    receipt = derive_receipt(secret, cycle.cycle_id, key)

    if cycle.phase is not Phase.VOTING:
        # A retry of a recorded ballot still gets its receipt after voting closed.
        earlier = store.get_idempotency(idempotency_id)
        if earlier is not None and store.has_voted(voter):
            return _replay(earlier, request, receipt, cycle)
        raise PhaseClosed("Voting is not open now.", field="phase")
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

    day = now.astimezone(ZoneInfo(cycle.timezone)).date()
    mark = VoterMark(
        voter_key=voter,
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
        )
    except SubmissionSeen as seen:
        # The key is known. Only a retry by the same voter may replay it:
        # anyone else would be told of a vote that was never theirs.
        earlier = store.get_idempotency(idempotency_id)
        if earlier is None or not seen.voter_has_voted:
            raise _key_reused() from seen
        return _replay(earlier, request, receipt, cycle)
    return Receipt(receipt, cycle.cycle_id, cycle.ballot_hash, mark.voted_on)


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
    if not _IDEMPOTENCY_KEY.match(value):
        raise InvalidInput(
            "The Idempotency-Key is 8 to 128 letters, digits, - or _.",
            field="Idempotency-Key",
            code="INVALID_IDEMPOTENCY_KEY",
        )
    return value
