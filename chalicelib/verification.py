"""Proving who you are before voting: one-time codes by text or email, and
a volunteer vouching in person. Every method ends in a voter pass
(:mod:`chalicelib.passes`); printed access codes are redeemed by the ballot
itself (see :mod:`chalicelib.voting`).

A one-time code, step by step:

1. :func:`start_verification` (``POST /verifications``) checks the method
   and the contact, counts the request against the rate limits, stores a
   challenge (``otp#<id>``: the voter key the code proves, an HMAC of the
   code, ten minutes of life, no raw contact) and sends a 6-digit code
   through the :class:`Sender`, in the resident's language. The counters and
   the challenge go in one transaction: a refused request writes nothing.
2. :func:`check_code` (``POST /verifications/{id}``) spends one of the
   challenge's :data:`MAX_ATTEMPTS` tries (an atomic, conditional count, so
   parallel guesses get no more), compares the code in constant time and,
   if it matches, closes the challenge and returns a signed voter pass.

:func:`vouch` is the in-person method: an event volunteer's signed-in word
gives a pass, with the resident's phone or email if they have one (so they
cannot vote again by text) or a random voter key if not.

Pure apart from its collaborators: ``store`` is a
:class:`~chalicelib.storage.repository.Store` (or a fake) and ``sender`` a
:class:`Sender`; the SNS and SES one is in :mod:`chalicelib.storage.senders`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chalicelib import passes
from chalicelib.cycle import Cycle, Phase, format_time
from chalicelib.errors import (
    CodeIncorrect,
    Conflict,
    Gone,
    InvalidInput,
    NotFound,
    PhaseClosed,
    TooManyRequests,
)
from chalicelib.voterkey import normalise, voter_key

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
#: Rate counters count per UTC hour and expire (TTL) an hour after it ends.
COUNTER_LIFETIME = timedelta(hours=2)
#: The methods that send a code, and the identity kind each one proves.
SENDABLE = {"sms": "phone", "email": "email"}
_CHALLENGE_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_CODE = re.compile(r"^[0-9]{6}$")
_MAX_SITE = 120


@dataclasses.dataclass(frozen=True)
class Limits:
    """How many requests an hour one contact or one client address may make.

    The defaults live here; a stage changes them with ``PB_RATE_*``.
    """

    sends_per_contact: int = 3
    sends_per_client: int = 20
    checks_per_client: int = 60

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Limits:
        """The limits of ``PB_RATE_SENDS_PER_CONTACT``, ``PB_RATE_SENDS_PER_CLIENT``
        and ``PB_RATE_CHECKS_PER_CLIENT``, defaults for those unset; raises
        ``ValueError`` for one that is not a positive whole number."""
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"PB_RATE_{field.name.upper()}", "")
            if raw:
                if not raw.isdigit() or int(raw) < 1:
                    raise ValueError(f"PB_RATE_{field.name.upper()} must be >= 1")
                values[field.name] = int(raw)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Challenge:
    """A one-time code as stored: what it proves, never the code or contact."""

    challenge_id: str
    cycle_id: str
    subject: str  # the cycle-qualified voter key, exactly as the voter mark's
    kind: str  # "sms" or "email"
    secret_hash: str
    attempts: int
    expires_at: int


@dataclasses.dataclass(frozen=True)
class RateCounter:
    """One hour's counter of one scope and subject; ``limit`` requests at most."""

    scope: str
    key: str
    limit: int
    expires_at: int
    retry_after: int


class LimitReached(Exception):
    """A rate counter is full. Not a client answer: the caller names the field."""

    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


class ChallengeRefused(Exception):
    """A challenge cannot take another try: ``reason`` is ``missing``,
    ``used``, ``expired`` or ``exhausted``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Sender(Protocol):
    """Delivers a code. Raises ``InvalidInput`` for an address the service
    refuses, ``Unavailable`` when it is busy."""

    def send_sms(self, phone: str, text: str) -> None: ...

    def send_email(self, address: str, subject: str, text: str) -> None: ...


@dataclasses.dataclass(frozen=True)
class SentMessage:
    method: str
    to: str
    subject: str
    text: str


class RecordingSender:
    """A :class:`Sender` that keeps what it was asked to send (tests)."""

    def __init__(self) -> None:
        self.sent: list[SentMessage] = []

    def send_sms(self, phone: str, text: str) -> None:
        self.sent.append(SentMessage("sms", phone, "", text))

    def send_email(self, address: str, subject: str, text: str) -> None:
        self.sent.append(SentMessage("email", address, subject, text))

    def last_code(self) -> str:
        """The 6-digit code of the last message."""
        return find_code(self.sent[-1].text)


def find_code(text: str) -> str:
    """The 6-digit code in a message :func:`message` wrote."""
    match = re.search(r"(?<![0-9])[0-9]{6}(?![0-9])", text)
    if match is None:
        raise ValueError("no code in the message")
    return match.group(0)


#: language -> (email subject, text with {code} and {minutes}). Other
#: languages of a cycle get English. Known limit: the Haitian Creole and
#: Cape Verdean Creole lines want a check by a native speaker before a cycle.
MESSAGES: Mapping[str, tuple[str, str]] = {
    "en": (
        "Your Boston PB voting code",
        "Your Boston PB voting code is {code}. It expires in {minutes} minutes. "
        "Never share it.",
    ),
    "es": (
        "Su código para votar en el Presupuesto Participativo de Boston",
        "Su código para votar en el Presupuesto Participativo de Boston es "
        "{code}. Vence en {minutes} minutos. No lo comparta con nadie.",
    ),
    "ht": (
        "Kòd ou pou vote nan Bidjè Patisipatif Boston",
        "Kòd ou pou vote nan Bidjè Patisipatif Boston se {code}. Li ekspire nan "
        "{minutes} minit. Pa janm bay pèsonn li.",
    ),
    "vi": (
        "Mã bỏ phiếu Ngân sách Tham gia Boston của bạn",
        "Mã bỏ phiếu Ngân sách Tham gia Boston của bạn là {code}. Mã hết hạn "
        "sau {minutes} phút. Đừng chia sẻ mã này với ai.",
    ),
    "zh-Hans": (
        "您的波士顿参与式预算投票验证码",
        "您的波士顿参与式预算投票验证码是 {code}。{minutes} 分钟内有效。"
        "请勿告诉任何人。",
    ),
    "pt": (
        "Seu código para votar no Orçamento Participativo de Boston",
        "Seu código para votar no Orçamento Participativo de Boston é {code}. "
        "Ele expira em {minutes} minutos. Não o compartilhe com ninguém.",
    ),
    "kea": (
        "Bu kódigu pa vota na Orsamentu Partisipativu di Boston",
        "Bu kódigu pa vota na Orsamentu Partisipativu di Boston é {code}. E ta "
        "kaba na {minutes} minutu. Ka bu da-l ningen.",
    ),
}


def message(language: str, code: str) -> tuple[str, str]:
    """The subject and text that carry ``code``, in ``language`` (else English)."""
    subject, text = MESSAGES.get(language, MESSAGES["en"])
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    return subject, text.format(code=code, minutes=minutes)


# -- sending a code ---------------------------------------------------------


def start_verification(
    store,
    sender: Sender,
    secret: bytes,
    body: object,
    *,
    client: str,
    now: datetime,
    limits: Limits,
) -> dict:
    """Send a one-time code as ``body`` asks; return the challenge's public part.

    ``body`` is ``{"method": "sms"|"email", "contact": ..., "language": ...}``;
    ``client`` is the caller's address (only its HMAC is stored). Returns
    ``{"verification_id", "method", "expires_at"}``; it says nothing of
    whether the contact already voted. Raises ``InvalidInput``
    (``METHOD_NOT_OFFERED``, ``INVALID_PHONE``, ``INVALID_EMAIL``, ...),
    ``PhaseClosed``, ``TooManyRequests`` (``RATE_LIMITED``, with
    ``retry_after``) or ``Unavailable``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"method", "contact", "language"})
    method = data.get("method")
    if not isinstance(method, str) or method not in SENDABLE:
        raise InvalidInput(
            "The method is sms or email.", field="method", code="INVALID_CHOICE"
        )
    cycle = store.current_cycle(max_age=5.0)
    _require_voting(cycle)
    _require_offered(cycle, method, "method")
    language = data.get("language", "en")
    if language not in cycle.languages:
        raise InvalidInput(
            "The language is one of the cycle's languages.",
            field="language",
            code="INVALID_CHOICE",
        )
    kind = SENDABLE[method]
    address = _contact(kind, data.get("contact"), field="contact")

    code = f"{secrets.randbelow(10**6):06d}"
    challenge_id = secrets.token_urlsafe(16)
    expires_at = int((now + CODE_LIFETIME).timestamp())
    subject = subject_key(secret, cycle.cycle_id, kind, address)
    challenge = Challenge(
        challenge_id=challenge_id,
        cycle_id=cycle.cycle_id,
        subject=subject,
        kind=method,
        secret_hash=code_hash(secret, challenge_id, code),
        attempts=0,
        expires_at=expires_at,
    )
    counters = [
        counter(secret, "send-contact", subject, limits.sends_per_contact, now),
        counter(secret, "send-client", client, limits.sends_per_client, now),
    ]
    try:
        store.start_challenge(challenge, counters=counters)
    except LimitReached as limit:
        raise _rate_limited(limit, counters) from limit

    subject_line, text = message(language, code)
    if method == "sms":
        sender.send_sms(address, text)
    else:
        sender.send_email(address, subject_line, text)
    return {
        "verification_id": challenge_id,
        "method": method,
        "expires_at": format_time(datetime.fromtimestamp(expires_at, UTC)),
    }


# -- checking it ------------------------------------------------------------


def check_code(
    store,
    secret: bytes,
    challenge_id: str,
    body: object,
    *,
    client: str,
    now: datetime,
    limits: Limits,
) -> dict:
    """Check the code sent for ``challenge_id``; return the pass.

    The answer is ``{"voter_pass", "expires_at"}``.
    Each call spends one of the challenge's tries, right or wrong. Raises
    ``InvalidInput`` (``INVALID_CODE``, or ``CodeIncorrect`` with the tries
    left), ``NotFound`` (``VERIFICATION_NOT_FOUND``), ``Gone``
    (``CODE_EXPIRED``), ``Conflict`` (``VERIFICATION_USED``),
    ``TooManyRequests`` (``TOO_MANY_ATTEMPTS``: the challenge is dead; or
    ``RATE_LIMITED``), ``PhaseClosed`` or ``Unavailable``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"code"})
    code = _typed_code(data.get("code"))
    if not isinstance(challenge_id, str) or not _CHALLENGE_ID.fullmatch(challenge_id):
        raise _not_found()
    cycle = store.current_cycle(max_age=5.0)
    _require_voting(cycle)
    checks = counter(secret, "check-client", client, limits.checks_per_client, now)
    try:
        store.count_request(checks)
    except LimitReached as limit:
        raise _rate_limited(limit, [checks]) from limit

    try:
        challenge = store.try_challenge(
            challenge_id, now=int(now.timestamp()), max_attempts=MAX_ATTEMPTS
        )
    except ChallengeRefused as refused:
        raise _refusal(refused.reason) from refused
    if challenge.cycle_id != cycle.cycle_id:
        raise _not_found()
    if not hmac.compare_digest(
        code_hash(secret, challenge_id, code), challenge.secret_hash
    ):
        left = MAX_ATTEMPTS - challenge.attempts
        if left <= 0:
            raise _refusal("exhausted")
        raise CodeIncorrect(
            f"That code is not right. You can try {left} more "
            f"time{'s' if left != 1 else ''}.",
            attempts_left=left,
        )
    try:
        store.close_challenge(challenge_id)
    except ChallengeRefused as refused:
        raise _refusal(refused.reason) from refused
    return _pass(secret, cycle, challenge.subject, challenge.kind, now)


# -- in person --------------------------------------------------------------


def vouch(store, secret: bytes, cycle_id: str, body: object, *, actor: str, now):
    """An event volunteer vouches for a resident in front of them; return a pass.

    ``body`` is ``{"contact": {"kind": "phone"|"email", "value": ...}
    (optional), "attestation": {"seen_in_person": true, "site": ...}}``. With
    a contact the pass carries that contact's voter key, so the resident
    cannot also vote by text or email; without one the key is random and
    the volunteer's word is the only check. Audited as ``voter_vouched``
    (the actor, the site, whether a contact was given; never the contact).
    Raises ``InvalidInput``, ``NotFound``, ``PhaseClosed`` or ``Unavailable``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"contact", "attestation"})
    if "attestation" not in data:
        raise InvalidInput(
            "Confirm that you saw the resident in person.",
            field="attestation",
            code="MISSING_FIELD",
        )
    attestation = _object(data["attestation"], "attestation")
    _no_unknown(attestation, {"seen_in_person", "site"}, "attestation.")
    if attestation.get("seen_in_person") is not True:
        raise InvalidInput(
            "Vouch only for a resident you saw in person (seen_in_person: true).",
            field="attestation.seen_in_person",
            code="INVALID_ATTESTATION",
        )
    site = attestation.get("site", "")
    if not isinstance(site, str) or len(site) > _MAX_SITE or _has_control(site):
        raise InvalidInput(
            f"The site is a short text ({_MAX_SITE} characters at most).",
            field="attestation.site",
            code="INVALID_TEXT",
        )
    contact = None
    if data.get("contact") is not None:
        raw = _object(data["contact"], "contact")
        _no_unknown(raw, {"kind", "value"}, "contact.")
        kind = raw.get("kind")
        if kind not in ("phone", "email"):
            raise InvalidInput(
                "The contact kind is phone or email.",
                field="contact.kind",
                code="INVALID_CHOICE",
            )
        contact = (kind, _contact(kind, raw.get("value"), field="contact.value"))

    cycle = store.get_cycle(cycle_id)
    _require_voting(cycle)
    _require_offered(cycle, "in_person", "method")
    if contact is None:
        # Known limit: nothing ties this key to the person, so a resident
        # vouched for without a contact could also vote with a code.
        subject = f"{cycle.cycle_id}#{secrets.token_hex(32)}"
    else:
        subject = subject_key(secret, cycle.cycle_id, *contact)
    store.append_audit(
        cycle.cycle_id,
        now=now,
        actor=actor,
        action="voter_vouched",
        after={
            "method": "in_person",
            "with_contact": contact is not None,
            "site": site.strip() or None,
        },
    )
    return _pass(secret, cycle, subject, "in_person", now)


# -- keys and hashes --------------------------------------------------------


def subject_key(secret: bytes, cycle_id: str, kind: str, value: str) -> str:
    """The voter-mark key (cycle-qualified) of a phone or email."""
    return f"{cycle_id}#" + voter_key(secret, cycle_id, kind, value)


def code_hash(secret: bytes, challenge_id: str, code: str) -> str:
    """What a challenge stores of its code: a keyed HMAC bound to the challenge."""
    key = hmac.new(secret, b"one-time-code", hashlib.sha256).digest()
    message = f"{challenge_id}\x1f{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def counter(
    secret: bytes, scope: str, subject: str, limit: int, now: datetime
) -> RateCounter:
    """This UTC hour's counter of ``scope`` for ``subject`` (stored as an HMAC)."""
    key = hmac.new(secret, b"rate-limit", hashlib.sha256).digest()
    hashed = hmac.new(key, f"{scope}\x1f{subject}".encode(), hashlib.sha256)
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    next_hour = hour + timedelta(hours=1)
    return RateCounter(
        scope=scope,
        key=f"rate#{scope}#{hashed.hexdigest()}#{hour:%Y%m%d%H}",
        limit=limit,
        expires_at=int((hour + COUNTER_LIFETIME).timestamp()),
        retry_after=max(1, int((next_hour - now).total_seconds())),
    )


# -- helpers ----------------------------------------------------------------


def _pass(secret: bytes, cycle: Cycle, subject: str, method: str, now) -> dict:
    token = passes.issue(
        secret, cycle_id=cycle.cycle_id, voter_key=subject, method=method, now=now
    )
    return {
        "voter_pass": token,
        "expires_at": format_time(now + passes.PASS_LIFETIME),
    }


def _contact(kind: str, value: object, *, field: str) -> str:
    """The normalised phone (E.164) or email; raise ``InvalidInput`` on ``field``."""
    code = "INVALID_PHONE" if kind == "phone" else "INVALID_EMAIL"
    if not isinstance(value, str) or not value.strip() or len(value) > 320:
        raise InvalidInput(
            "Give a phone number." if kind == "phone" else "Give an email address.",
            field=field,
            code=code,
        )
    try:
        return normalise(kind, value).split(":", 1)[1]
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field, code=code) from exc


def _typed_code(value: object) -> str:
    text = unicodedata.normalize("NFKC", value) if isinstance(value, str) else ""
    code = re.sub(r"[\s-]", "", text)
    if not _CODE.match(code):
        raise InvalidInput(
            "The code is the 6 digits we sent you.", field="code", code="INVALID_CODE"
        )
    return code


def _require_voting(cycle: Cycle) -> None:
    if cycle.phase is not Phase.VOTING:
        raise PhaseClosed("Voting is not open now.", field="phase")


def _require_offered(cycle: Cycle, method: str, field: str) -> None:
    if not cycle.offers(method):
        raise not_offered(field)


def not_offered(field: str) -> InvalidInput:
    return InvalidInput(
        "This way of proving who you are is not offered in this vote.",
        field=field,
        code="METHOD_NOT_OFFERED",
    )


def _rate_limited(limit: LimitReached, counters: list[RateCounter]) -> TooManyRequests:
    retry = next(c.retry_after for c in counters if c.scope == limit.scope)
    field = "contact" if limit.scope == "send-contact" else "client"
    return TooManyRequests(
        "Too many requests. Please wait and try again later.",
        field=field,
        code="RATE_LIMITED",
        retry_after=retry,
    )


def _refusal(reason: str) -> Exception:
    if reason == "used":
        return Conflict(
            "This code was already used. Ask for a new one if you need it.",
            field="verification_id",
            code="VERIFICATION_USED",
        )
    if reason == "expired":
        return Gone(
            "This code has expired. Ask for a new one.",
            field="verification_id",
            code="CODE_EXPIRED",
        )
    if reason == "exhausted":
        return TooManyRequests(
            "Too many wrong tries for this code. Ask for a new one.",
            field="code",
            code="TOO_MANY_ATTEMPTS",
        )
    return _not_found()


def _not_found() -> NotFound:
    return NotFound(
        "There is no such verification. Ask for a new code.",
        field="verification_id",
        code="VERIFICATION_NOT_FOUND",
    )


def _object(value: object, field: str) -> Mapping:
    if not isinstance(value, dict):
        raise InvalidInput("Expected a JSON object.", field=field, code="INVALID_TYPE")
    return value


def _no_unknown(data: Mapping, allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(str(k) for k in set(data) - allowed)
    if unknown:
        name = unknown[0][:64]
        raise InvalidInput(
            f"Unknown field {name!r}.", field=prefix + name, code="UNKNOWN_FIELD"
        )


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c)[0] == "C" for c in text)
