"""Batches of access codes: what office staff print for a library or an event.

Pure. A batch is N distinct codes of :mod:`chalicelib.accesscodes` made for
one cycle and one site (the library, community centre or event that hands
them out), under a batch id like ``20270516-7KQ2M9XD`` (the day it was made
and eight random symbols). The codes exist only in the answer that makes the
batch (the JSON list or the printed sheet); the store keeps their keyed
HMACs (:func:`chalicelib.accesscodes.code_key`) and, on the batch, the site,
the count, how many were used and whether it is ``active`` or ``revoked``.

Codes can be made from eligibility review until voting closes
(:data:`GENERATION_PHASES`): early enough to print and hand out sheets before
voting opens, never once the vote is over. A batch can be revoked at any
time; its unused codes then stop working.

Errors: :class:`~chalicelib.errors.InvalidInput` for a bad body
(``INVALID_TYPE``, ``MISSING_FIELD``, ``UNKNOWN_FIELD``, ``OUT_OF_RANGE``,
``INVALID_TEXT``, ``TOO_LONG``), :class:`~chalicelib.errors.PhaseClosed`
(``PHASE_CLOSED``, field ``phase``) outside the phases above.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib import accesscodes
from chalicelib.cycle import Cycle, Phase
from chalicelib.errors import InvalidInput, PhaseClosed

MIN_COUNT = 1
MAX_COUNT = 1000
MAX_SITE = 80
MAX_REASON = 500
ACTIVE = "active"
REVOKED = "revoked"
#: Phases in which a cycle's codes can be made.
GENERATION_PHASES = (
    Phase.ELIGIBILITY_REVIEW,
    Phase.VISIONING,
    Phase.BALLOT_REVIEW,
    Phase.VOTING,
)
BATCH_ID = re.compile(r"^[0-9]{8}-[0-9A-HJKMNP-TV-Z]{8}$")
#: What a site name may hold: Latin letters with their accents (Vietnamese
#: too), digits, spaces and common punctuation. Exactly what the sheet's font
#: prints; tests/unit/test_codesheet.py checks the font covers all of it.
_SITE_BLOCKS = ((0x20, 0x7E), (0xA0, 0x24F), (0x1E00, 0x1EF9), (0x2010, 0x2027))


@dataclasses.dataclass(frozen=True)
class NewBatch:
    """A valid request for a batch: where it goes and how many codes."""

    site: str
    count: int


@dataclasses.dataclass(frozen=True)
class CodeBatch:
    """A batch just made: its codes (canonical form) exist only here."""

    cycle_id: str
    batch_id: str
    site: str
    created_on: str
    codes: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.codes)


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    """A stored batch as staff list it: no codes, only how many were used."""

    cycle_id: str
    batch_id: str
    site: str
    created_on: str
    count: int
    used_count: int
    status: str
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "cycle_id": self.cycle_id,
            "site": self.site,
            "created_on": self.created_on,
            "count": self.count,
            "used_count": self.used_count,
            "unused_count": self.count - self.used_count,
            "status": self.status,
            "reason": self.reason or None,
        }


def parse_new_batch(body: object) -> NewBatch:
    """Validate ``{"site": ..., "count": N}``; return it or raise ``InvalidInput``."""
    data = _object(body)
    _no_unknown(data, {"site", "count"})
    for name in ("site", "count"):
        if name not in data:
            raise InvalidInput(
                f"Say the {name} of the batch.", field=name, code="MISSING_FIELD"
            )
    count = data["count"]
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidInput(
            "count is a whole number.", field="count", code="INVALID_TYPE"
        )
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise InvalidInput(
            f"A batch holds {MIN_COUNT} to {MAX_COUNT} codes.",
            field="count",
            code="OUT_OF_RANGE",
        )
    return NewBatch(site=parse_site(data["site"]), count=count)


def parse_site(value: object) -> str:
    """The site name, trimmed and NFC; raise ``InvalidInput`` (field ``site``)."""
    if not isinstance(value, str):
        raise InvalidInput("site is text.", field="site", code="INVALID_TYPE")
    site = " ".join(unicodedata.normalize("NFC", value).split())
    if not site:
        raise InvalidInput(
            "Name the site that hands out the codes.",
            field="site",
            code="MISSING_FIELD",
        )
    if len(site) > MAX_SITE:
        raise InvalidInput(
            f"Keep the site under {MAX_SITE} characters.",
            field="site",
            code="TOO_LONG",
        )
    if not all(_printable(c) for c in site):
        raise InvalidInput(
            "The site name holds characters the sheet cannot print; use Latin "
            "letters, digits and punctuation.",
            field="site",
            code="INVALID_TEXT",
        )
    return site


def parse_revoke(body: object) -> str:
    """The reason of ``{"reason": ...}`` (required); raise ``InvalidInput``."""
    data = _object(body)
    _no_unknown(data, {"reason"})
    reason = data.get("reason")
    if reason is None:
        raise InvalidInput(
            "Give a reason; it goes in the audit log.",
            field="reason",
            code="MISSING_FIELD",
        )
    if not isinstance(reason, str):
        raise InvalidInput("reason is text.", field="reason", code="INVALID_TYPE")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "Give a reason; it goes in the audit log.",
            field="reason",
            code="MISSING_FIELD",
        )
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"Keep the reason under {MAX_REASON} characters.",
            field="reason",
            code="TOO_LONG",
        )
    if any(unicodedata.category(c) == "Cc" and c != "\n" for c in reason):
        raise InvalidInput(
            "The reason holds control characters.",
            field="reason",
            code="INVALID_TEXT",
        )
    return reason


def check_batch_id(batch_id: str) -> str:
    """``batch_id`` if it has the shape of one; raise ``InvalidInput``."""
    if not isinstance(batch_id, str) or not BATCH_ID.fullmatch(batch_id):
        raise InvalidInput(
            "A batch id looks like 20270516-7KQ2M9XD.",
            field="batch_id",
            code="INVALID_BATCH_ID",
        )
    return batch_id


def check_phase(cycle: Cycle) -> None:
    """Raise ``PhaseClosed`` unless ``cycle`` is in a phase that makes codes."""
    if cycle.phase not in GENERATION_PHASES:
        raise PhaseClosed(
            "Access codes are made from eligibility review until voting closes; "
            f"this cycle is in {cycle.phase.value}.",
            field="phase",
        )


def make_batch(
    cycle: Cycle,
    request: NewBatch,
    *,
    now: datetime,
    new_code: Callable[[], str] = accesscodes.new_code,
) -> CodeBatch:
    """A new batch of ``request.count`` distinct codes for ``cycle``.

    The batch id and ``created_on`` use the cycle's local day. Raises
    ``PhaseClosed`` (see :func:`check_phase`).
    """
    check_phase(cycle)
    codes: dict[str, None] = {}
    while len(codes) < request.count:
        codes.setdefault(new_code(), None)
    day = now.astimezone(ZoneInfo(cycle.timezone)).date()
    suffix = "".join(secrets.choice(accesscodes.ALPHABET) for _ in range(8))
    return CodeBatch(
        cycle_id=cycle.cycle_id,
        batch_id=f"{day:%Y%m%d}-{suffix}",
        site=request.site,
        created_on=day.isoformat(),
        codes=tuple(codes),
    )


def code_keys(batch: CodeBatch, secret: bytes) -> list[str]:
    """The stored keys of the batch's codes, in the batch's order."""
    return [accesscodes.code_key(secret, batch.cycle_id, c) for c in batch.codes]


def _printable(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _SITE_BLOCKS) and (
        unicodedata.category(char)[0] != "C"
    )


def _object(value: object) -> Mapping:
    if not isinstance(value, dict):
        raise InvalidInput("Expected a JSON object.", field="body", code="INVALID_TYPE")
    return value


def _no_unknown(data: Mapping, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in set(data) - allowed)
    if unknown:
        raise InvalidInput(
            f"Unknown field {unknown[0][:64]!r}.",
            field=unknown[0][:64],
            code="UNKNOWN_FIELD",
        )


# -- what staff and pbctl do ------------------------------------------------


def prepare(
    store, cycle_id: str, body: object, *, now: datetime
) -> tuple[Cycle, CodeBatch]:
    """A new batch as ``body`` asks, not yet stored; return the cycle and it.

    ``store`` is a :class:`~chalicelib.storage.repository.Store` (or a fake).
    The body is checked before the cycle is read. Callers make the sheet (or
    other answer) next and :func:`commit` last, so that a batch is never
    stored without the one copy of its codes. Raises ``InvalidInput``,
    ``NotFound`` or ``PhaseClosed``.
    """
    request = parse_new_batch(body)
    cycle = store.get_cycle(cycle_id)
    return cycle, make_batch(cycle, request, now=now)


def commit(store, batch: CodeBatch, *, secret: bytes, actor: str, now: datetime):
    """Store ``batch`` and its audit entry; ``secret`` is the voter-key secret
    the code keys are made with. Nothing is usable unless all of it is
    written. Raises ``PhaseClosed``, ``Conflict`` or ``Unavailable``."""
    store.create_access_code_batch(
        batch, code_keys(batch, secret), actor=actor, now=now
    )


def list_batches(store, cycle_id: str) -> list[BatchSummary]:
    """The batches of ``cycle_id``, oldest first; raises ``NotFound``."""
    store.get_cycle(cycle_id)
    return store.list_access_code_batches(cycle_id)


def revoke(
    store, cycle_id: str, batch_id: str, body: object, *, actor: str, now: datetime
) -> BatchSummary:
    """Revoke a batch with the reason in ``body``; return it, revoked.

    Raises ``InvalidInput``, ``NotFound`` (cycle or batch) or ``Conflict``
    (``ALREADY_REVOKED``).
    """
    check_batch_id(batch_id)
    reason = parse_revoke(body)
    store.get_cycle(cycle_id)
    return store.revoke_access_code_batch(
        cycle_id, batch_id, reason=reason, actor=actor, now=now
    )
