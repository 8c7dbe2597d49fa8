"""Voter passes: what a resident holds between proving who they are and
casting their ballot.

Pure. Every way of proving identity (a one-time code by SMS or email, an
event volunteer vouching in person) ends in the same place: a pass naming
the cycle, the resident's voter key (the keyed HMAC of their identity, see
:mod:`chalicelib.voterkey`), the method and an expiry, signed with a key
derived from the voter-key secret. The ballot path trusts the voter key in a
valid pass exactly as it would trust one it derived itself, so all methods
share one voter index and one resident votes once, however they proved it.

A pass carries no raw identity and is useless after :data:`PASS_LIFETIME`
or in another cycle. It is a bearer token: whoever holds it can cast that
resident's one ballot, so the site keeps it in memory only.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timedelta

from chalicelib.errors import InvalidInput

PASS_LIFETIME = timedelta(minutes=30)
METHODS = ("sms", "email", "in_person")
_VERSION = "p1"


@dataclasses.dataclass(frozen=True)
class VoterPass:
    cycle_id: str
    voter_key: str
    method: str
    expires_at: int


def issue(
    secret: bytes, *, cycle_id: str, voter_key: str, method: str, now: datetime
) -> str:
    """A signed pass for ``voter_key`` in ``cycle_id``, valid for PASS_LIFETIME."""
    if method not in METHODS:
        raise ValueError(f"unknown verification method {method!r}")
    claims = {
        "c": cycle_id,
        "k": voter_key,
        "m": method,
        "x": int((now + PASS_LIFETIME).timestamp()),
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{_VERSION}.{body}.{_b64(_sign(secret, body))}"


def read(secret: bytes, token: object, *, cycle_id: str, now: datetime) -> VoterPass:
    """The pass in ``token``; raise ``InvalidInput`` (``PASS_INVALID`` for a
    forged, damaged or other cycle's pass, ``PASS_EXPIRED`` for a late one)."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 1024 else []
    if len(parts) != 3 or parts[0] != _VERSION:
        raise _invalid()
    _, body, signature = parts
    if not hmac.compare_digest(_b64(_sign(secret, body)), signature):
        raise _invalid()
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        voter_pass = VoterPass(
            str(claims["c"]), str(claims["k"]), str(claims["m"]), int(claims["x"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _invalid() from exc
    if voter_pass.cycle_id != cycle_id or voter_pass.method not in METHODS:
        raise _invalid()
    if voter_pass.expires_at <= now.timestamp():
        raise InvalidInput(
            "This proof of identity has expired. Ask for a new code and vote again.",
            field="voter.value",
            code="PASS_EXPIRED",
        )
    return voter_pass


def _sign(secret: bytes, body: str) -> bytes:
    key = hmac.new(secret, b"voter-pass-signing-key", hashlib.sha256).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid() -> InvalidInput:
    return InvalidInput(
        "This proof of identity is not valid for this vote. Verify again.",
        field="voter.value",
        code="PASS_INVALID",
    )
