"""Paper ballots: batches typed in twice, by two people, and counted on agreement.

A **batch** is an envelope of paper sheets from one site (a library branch,
a community event), registered by office staff with the sheet count written
on its cover sheet. Volunteers and office staff then **enter** it: each
entry is the list of its sheets, typed from the paper. A sheet is either
``{"spoiled": true}`` or what the online ballot takes: ``selections``,
``attestation``, optionally the voter's identifier (``voter``: phone, email
or access code) and the turnout fields.

A batch counts only when two **independent** entries agree: typed by two
different signed-in people (different token subjects) and identical sheet
by sheet, as each sheet counts (its selections as a set, its voter's mark
key, whether it is eligible and in which age bracket, its neighbourhood).
The statuses::

    open ──(a 2nd entry differs)──> disputed
    open, disputed ──(an entry agrees with an earlier one)──> committing
    committing ──(every sheet written or refused)──> counted
    open, disputed ──(staff discard the batch, with a reason)──> discarded

Counting writes, for each sheet, a ballot under an id derived from the
cycle, batch and sheet number (HMAC with the voter-key secret, so a retried
count finds its own ballots) and, for a sheet that gave an identifier, a
voter mark in the same index online ballots use, in one transaction per
sheet group (at most 100 items). A ballot already there means the sheet was
counted by an earlier attempt; a mark already there without the ballot
means this resident voted already (online, on another sheet or in another
batch): the sheet is **refused** and listed. A resumed count therefore
writes nothing twice and reaches the same outcome.

How sheets count:

- **counted**: written as a ballot (and a mark when it gave an identifier);
- **refused**: ``ALREADY_VOTED`` (its voter has a mark already, or an
  earlier sheet of the same batch gave the same identifier), ``NOT_RESIDENT``
  or ``UNDER_AGE`` (its attestation fails the cycle's rules); no ballot, no mark;
- **spoiled**: unreadable, blank or over-voted, as the entries mark it: no
  ballot and no mark, so the resident may still vote; counted in the
  batch's sheet total so that the cover sheet reconciles.

A sheet without an identifier is counted, but cannot be checked against
online votes and adds no voter mark, so the dashboard's turnout (counted
from marks) leaves it out; the reconciliation report counts it.

While any registered batch is neither counted nor discarded the tally waits
(:func:`seal_for_tally`, called by the phase clock): the per-cycle ledger
counts pending batches in the same transactions that change a batch, and
the clock seals paper entry only when that count is zero.

Pure apart from its collaborators: ``store`` is a
:class:`~chalicelib.storage.repository.Store` (or a fake); ``voter_secret``
returns the voter-key secret.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import hmac
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.auditcsv import safe_cell
from chalicelib.ballot import (
    AGE_BRACKETS,
    CONTACT_KINDS,
    NEIGHBOURHOODS,
    CastRequest,
    check_selections,
    parse_attestation,
    parse_choice,
    parse_selections,
    parse_voter,
)
from chalicelib.cycle import Cycle, Phase, format_time
from chalicelib.eligibility import check_eligibility
from chalicelib.errors import (
    Conflict,
    InvalidInput,
    NotEligible,
    NotFound,
    PhaseClosed,
    StaleVersion,
    Unavailable,
)
from chalicelib.staff import parse_reason, text_ok
from chalicelib.voterkey import mark_key

logger = logging.getLogger(__name__)

CHANNEL = "paper"
OPEN, DISPUTED, COMMITTING, COUNTED, DISCARDED = (
    "open",
    "disputed",
    "committing",
    "counted",
    "discarded",
)
#: Statuses the tally waits for.
PENDING = (OPEN, DISPUTED, COMMITTING)
ACTIVE, DISCARDED_ENTRY = "active", "discarded"
#: Phases in which batches are registered and entered (until the tally seals).
ENTRY_PHASES = (Phase.VOTING, Phase.TALLY)
REFUSED_DUPLICATE = "ALREADY_VOTED"
REFUSED_INELIGIBLE = ("NOT_RESIDENT", "UNDER_AGE")

MAX_SHEETS = 250
#: Entries a batch may collect, discarded ones included (each is rewritten,
#: without its sheets, in the transaction that closes the batch).
MAX_ENTRIES = 10
MAX_SITE = 100
#: DynamoDB's limit per transaction, less the batch and cycle condition checks.
SHEET_ITEMS_PER_TRANSACTION = 98
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_ENTRY_ID = re.compile(r"^e[0-9]{1,3}$")
_SHEET_FIELDS = {"selections", "attestation", "voter", "neighbourhood", "age_bracket"}
_ATTEMPTS = 4


# -- what is stored -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sheet:
    """One paper sheet as it counts. Two entries agree when their sheets are equal."""

    spoiled: bool = False
    selections: tuple[str, ...] = ()
    voter_key: str | None = None
    refusal: str | None = None
    age_bracket: str | None = None
    neighbourhood: str | None = None

    def to_dict(self) -> dict:
        if self.spoiled:
            return {"spoiled": True}
        return {
            "selections": list(self.selections),
            "voter_key": self.voter_key,
            "refusal": self.refusal,
            "age_bracket": self.age_bracket,
            "neighbourhood": self.neighbourhood,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Sheet:
        if data.get("spoiled"):
            return cls(spoiled=True)
        return cls(
            selections=tuple(data.get("selections") or ()),
            voter_key=data.get("voter_key"),
            refusal=data.get("refusal"),
            age_bracket=data.get("age_bracket"),
            neighbourhood=data.get("neighbourhood"),
        )


@dataclasses.dataclass(frozen=True)
class Entry:
    """One person's typing of a batch. ``sheets`` is ``None`` once scrubbed."""

    cycle_id: str
    batch_id: str
    entry_id: str
    subject: str
    actor: str
    at: str
    sheet_count: int
    spoiled_count: int
    sheets: tuple[Sheet, ...] | None
    status: str = ACTIVE
    version: int = 0
    discard_reason: str = ""

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "entry_id": self.entry_id,
            "subject": self.subject,
            "actor": self.actor,
            "at": self.at,
            "sheet_count": self.sheet_count,
            "spoiled_count": self.spoiled_count,
            "sheets": None
            if self.sheets is None
            else [s.to_dict() for s in self.sheets],
            "discard_reason": self.discard_reason,
        }

    @classmethod
    def from_dict(
        cls, cycle_id: str, data: Mapping, *, status: str, version: int
    ) -> Entry:
        sheets = data.get("sheets")
        return cls(
            cycle_id=cycle_id,
            batch_id=data["batch_id"],
            entry_id=data["entry_id"],
            subject=data["subject"],
            actor=data["actor"],
            at=data["at"],
            sheet_count=int(data["sheet_count"]),
            spoiled_count=int(data["spoiled_count"]),
            sheets=None if sheets is None else tuple(map(Sheet.from_dict, sheets)),
            status=status,
            version=version,
            discard_reason=data.get("discard_reason", ""),
        )

    def scrubbed(self) -> Entry:
        """This entry without its sheets: what stays once the batch is closed."""
        return dataclasses.replace(self, sheets=None, version=self.version + 1)

    def view(self) -> dict:
        """What staff see of an entry: never its sheets (entry stays blind)."""
        return {
            "entry_id": self.entry_id,
            "actor": self.actor,
            "at": self.at,
            "sheets": self.sheet_count,
            "spoiled": self.spoiled_count,
            "status": self.status,
            "discard_reason": self.discard_reason or None,
        }


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How the sheets of a counted batch counted, by sheet number (from 1)."""

    counted: tuple[int, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()
    spoiled: tuple[int, ...] = ()
    anonymous: int = 0

    def to_dict(self) -> dict:
        return {
            "counted": list(self.counted),
            "refused": [{"sheet": n, "code": code} for n, code in self.refused],
            "spoiled": list(self.spoiled),
            "anonymous": self.anonymous,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Outcome:
        return cls(
            counted=tuple(data.get("counted", ())),
            refused=tuple((r["sheet"], r["code"]) for r in data.get("refused", ())),
            spoiled=tuple(data.get("spoiled", ())),
            anonymous=int(data.get("anonymous", 0)),
        )

    def refused_with(self, codes: Iterable[str]) -> int:
        wanted = set(codes)
        return sum(1 for _, code in self.refused if code in wanted)


@dataclasses.dataclass(frozen=True)
class Batch:
    cycle_id: str
    batch_id: str
    site: str
    cover_sheets: int
    status: str
    registered_by: str
    registered_at: str
    version: int = 0
    entries_made: int = 0
    agreed: tuple[str, ...] = ()
    differing: tuple[int, ...] = ()
    counted_on: str = ""
    outcome: Outcome | None = None
    discard_reason: str = ""

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "site": self.site,
            "cover_sheets": self.cover_sheets,
            "registered_by": self.registered_by,
            "registered_at": self.registered_at,
            "entries_made": self.entries_made,
            "agreed": list(self.agreed),
            "differing": list(self.differing),
            "counted_on": self.counted_on,
            "outcome": self.outcome.to_dict() if self.outcome else None,
            "discard_reason": self.discard_reason,
        }

    @classmethod
    def from_dict(
        cls, cycle_id: str, data: Mapping, *, status: str, version: int
    ) -> Batch:
        outcome = data.get("outcome")
        return cls(
            cycle_id=cycle_id,
            batch_id=data["batch_id"],
            site=data["site"],
            cover_sheets=int(data["cover_sheets"]),
            status=status,
            registered_by=data["registered_by"],
            registered_at=data["registered_at"],
            version=version,
            entries_made=int(data.get("entries_made", 0)),
            agreed=tuple(data.get("agreed", ())),
            differing=tuple(data.get("differing", ())),
            counted_on=data.get("counted_on", ""),
            outcome=Outcome.from_dict(outcome) if outcome else None,
            discard_reason=data.get("discard_reason", ""),
        )

    @property
    def pending(self) -> bool:
        return self.status in PENDING


@dataclasses.dataclass(frozen=True)
class SheetWrite:
    """What counting one sheet writes: a ballot, and a mark if it gave a voter."""

    sheet: int
    ballot_id: str
    selections: tuple[str, ...]
    cast_on: str
    voter_key: str | None
    age_bracket: str | None
    neighbourhood: str | None

    @property
    def items(self) -> int:
        return 2 if self.voter_key else 1


class SheetsNotWritten(Exception):
    """A sheet transaction was cancelled by sheets already decided.

    Not a client answer: :func:`count_batch` drops those sheets and writes
    the rest again. ``counted`` holds sheets whose ballot exists (an earlier
    attempt wrote it), ``duplicates`` sheets whose voter has a mark but whose
    ballot does not.
    """

    def __init__(self, *, counted: set[int], duplicates: set[int]):
        super().__init__("sheets already decided")
        self.counted = counted
        self.duplicates = duplicates


# -- registering a batch ------------------------------------------------------


def register_batch(store, cycle_id: str, body: object, *, actor: str, now) -> Batch:
    """Register a paper batch of ``cycle_id``; return it.

    ``body`` is ``{"batch_id", "site", "cover_sheets", "reason"?}``. Raises
    ``InvalidInput``, ``NotFound``, ``PhaseClosed`` (not while voting or
    before the tally) or ``Conflict`` (``BATCH_EXISTS``).
    """
    data = _object(body, "body")
    _no_unknown(data, {"batch_id", "site", "cover_sheets", "reason"}, "")
    batch_id = _batch_id(data)
    site = data.get("site")
    if site is None:
        raise InvalidInput(
            "Say where the sheets were collected.", field="site", code="MISSING_FIELD"
        )
    if not isinstance(site, str) or not site.strip():
        raise InvalidInput("The site is text.", field="site", code="INVALID_TYPE")
    site = site.strip()
    if len(site) > MAX_SITE:
        raise InvalidInput("The site name is too long.", field="site", code="TOO_LONG")
    if not text_ok(site) or "\n" in site:
        raise InvalidInput(
            "The site holds control characters.", field="site", code="INVALID_TEXT"
        )
    cover = data.get("cover_sheets")
    if cover is None:
        raise InvalidInput(
            "Give the sheet count written on the cover sheet.",
            field="cover_sheets",
            code="MISSING_FIELD",
        )
    if not isinstance(cover, int) or isinstance(cover, bool):
        raise InvalidInput(
            "cover_sheets is a whole number.",
            field="cover_sheets",
            code="INVALID_TYPE",
        )
    if not 1 <= cover <= MAX_SHEETS:
        raise InvalidInput(
            f"A batch holds 1 to {MAX_SHEETS} sheets; split a larger one.",
            field="cover_sheets",
            code="INVALID_INPUT",
        )
    reason = parse_reason(data, required=False)

    cycle = store.get_cycle(cycle_id)
    _check_entry_phase(cycle)
    batch = Batch(
        cycle_id=cycle.cycle_id,
        batch_id=batch_id,
        site=site,
        cover_sheets=cover,
        status=OPEN,
        registered_by=actor,
        registered_at=format_time(now),
    )
    store.register_paper_batch(
        cycle,
        batch,
        audit=_audit(now, actor, "paper_batch_registered", reason, None, batch),
    )
    return batch


# -- entering a batch ---------------------------------------------------------


def parse_sheets(body: object, cycle: Cycle, secret: bytes) -> tuple[Sheet, ...]:
    """Validate an entry (``{"sheets": [...]}``) against ``cycle``; return its sheets.

    Each sheet is checked as the online ballot is (selections on the frozen
    ballot, within the limit; the identifier normalised to its mark key; the
    attestation), with fields named ``sheets[i]...``. A resident the
    attestation shows ineligible is not a bad entry: the sheet keeps the
    refusal code and is refused when the batch is counted. Raises ``InvalidInput``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"sheets"}, "")
    if "sheets" not in data:
        raise InvalidInput(
            "Send the batch's sheets.", field="sheets", code="MISSING_FIELD"
        )
    raw = data["sheets"]
    if not isinstance(raw, list):
        raise InvalidInput("sheets is a list.", field="sheets", code="INVALID_TYPE")
    if not 1 <= len(raw) <= MAX_SHEETS:
        raise InvalidInput(
            f"An entry has 1 to {MAX_SHEETS} sheets.",
            field="sheets",
            code="INVALID_INPUT",
        )
    return tuple(
        _sheet(item, f"sheets[{index}]", cycle, secret)
        for index, item in enumerate(raw)
    )


def _sheet(raw: object, where: str, cycle: Cycle, secret: bytes) -> Sheet:
    data = _object(raw, where)
    if "spoiled" in data:
        if data["spoiled"] is not True:
            raise InvalidInput(
                "spoiled can only be true.",
                field=f"{where}.spoiled",
                code="INVALID_INPUT",
            )
        _no_unknown(data, {"spoiled"}, f"{where}.")
        return Sheet(spoiled=True)
    _no_unknown(data, _SHEET_FIELDS, f"{where}.")
    for name in ("selections", "attestation"):
        if name not in data:
            raise InvalidInput(
                f"The sheet needs {name} (or mark it spoiled).",
                field=f"{where}.{name}",
                code="MISSING_FIELD",
            )
    try:
        selections = parse_selections(data["selections"])
        attestation = parse_attestation(data["attestation"])
        voter = (
            parse_voter(data["voter"], kinds=CONTACT_KINDS)[:2]
            if data.get("voter") is not None
            else None
        )
        neighbourhood = parse_choice(data, "neighbourhood", NEIGHBOURHOODS)
        stated_bracket = parse_choice(data, "age_bracket", AGE_BRACKETS)
        # The voter fields play no part in the ballot check; a sheet may have none.
        kind, value = voter or ("", "")
        check_selections(CastRequest(selections, attestation, kind, value), cycle)
        key = mark_key(secret, cycle.cycle_id, *voter) if voter else None
        try:
            bracket = check_eligibility(
                attestation,
                first_voting_day=cycle.first_voting_day,
                min_age=cycle.min_voting_age,
            )
            refusal = None
        except NotEligible as refused:
            bracket, refusal = None, refused.code
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, field=f"{where}.{exc.field}", code=exc.code
        ) from exc
    if stated_bracket is not None and bracket is not None and stated_bracket != bracket:
        raise InvalidInput(
            "The age bracket does not match the age given; leave it out.",
            field=f"{where}.age_bracket",
            code="INVALID_CHOICE",
        )
    return Sheet(
        selections=tuple(sorted(selections)),
        voter_key=key,
        refusal=refusal,
        age_bracket=bracket,
        neighbourhood=neighbourhood,
    )


def submit_entry(
    store,
    voter_secret: Callable[[], bytes],
    cycle_id: str,
    batch_id: str,
    body: object,
    *,
    actor: str,
    subject: str,
    now: datetime,
) -> tuple[Batch, Entry, bool]:
    """Record one person's entry of a batch; count the batch if two now agree.

    Returns ``(batch, entry, replayed)``: the batch after this entry (and
    after its count, when this entry made two agree), the entry, and whether
    this was a retry of the same person's identical entry. Raises
    ``InvalidInput``, ``NotFound``, ``PhaseClosed``, ``Conflict``
    (``SAME_ENTRANT``, ``BATCH_CLOSED``, ``TOO_MANY_ENTRIES``) or ``Unavailable``.
    """
    cycle = store.get_cycle(cycle_id)
    _check_batch_id(batch_id)
    _check_entry_phase(cycle)
    sheets = parse_sheets(body, cycle, voter_secret())

    for _ in range(_ATTEMPTS):
        batch = store.get_paper_batch(cycle.cycle_id, batch_id)
        entries = store.paper_entries(cycle.cycle_id, batch_id)
        active = [e for e in entries if e.status == ACTIVE]
        mine = [e for e in active if e.subject == subject]
        if mine:
            if mine[0].sheets is None:
                # The batch closed and its entries lost their sheets: a retry
                # cannot be told from other sheets, and nothing more is taken.
                raise _closed(batch)
            if mine[0].sheets != sheets:
                raise Conflict(
                    "You have entered this batch already. A second entry must "
                    "come from someone else; an office admin can discard yours.",
                    field="batch_id",
                    code="SAME_ENTRANT",
                )
            if batch.status == COMMITTING:
                batch = count_batch(
                    store, voter_secret, cycle.cycle_id, batch_id, actor=actor, now=now
                )
            return batch, mine[0], True
        if batch.status not in (OPEN, DISPUTED):
            raise _closed(batch)
        if len(entries) >= MAX_ENTRIES:
            raise Conflict(
                f"This batch has {MAX_ENTRIES} entries already; an office admin "
                "should discard the batch and register it again under a new id.",
                field="batch_id",
                code="TOO_MANY_ENTRIES",
            )

        entry = Entry(
            cycle_id=cycle.cycle_id,
            batch_id=batch_id,
            entry_id=f"e{batch.entries_made + 1}",
            subject=subject,
            actor=actor,
            at=format_time(now),
            sheet_count=len(sheets),
            spoiled_count=sum(1 for s in sheets if s.spoiled),
            sheets=sheets,
        )
        after = _after_entry(batch, active, entry, cycle, now)
        audit = _audit(
            now,
            actor,
            "paper_entry_recorded",
            "",
            batch,
            after,
            entry=entry.entry_id,
            sheets=entry.sheet_count,
        )
        try:
            store.save_paper_change(batch, after, entries=[entry], audit=audit)
        except StaleVersion:
            continue  # another entry landed first: compare against it too
        logger.info(
            "paper entry recorded",
            extra={"cycle": cycle.cycle_id, "batch": batch_id, "status": after.status},
        )
        if after.status == COMMITTING:
            after = count_batch(
                store, voter_secret, cycle.cycle_id, batch_id, actor=actor, now=now
            )
        return after, entry, False
    raise Unavailable("The batch is busy; please send the entry again.")


def _after_entry(
    batch: Batch, active: list[Entry], entry: Entry, cycle: Cycle, now: datetime
) -> Batch:
    """The batch once ``entry`` joins its ``active`` entries."""
    base = dataclasses.replace(
        batch, version=batch.version + 1, entries_made=batch.entries_made + 1
    )
    for other in sorted(active, key=_entry_order):
        if other.sheets == entry.sheets:
            day = now.astimezone(ZoneInfo(cycle.timezone)).date().isoformat()
            return dataclasses.replace(
                base,
                status=COMMITTING,
                agreed=(other.entry_id, entry.entry_id),
                differing=(),
                counted_on=day,
            )
    together = [*active, entry]
    if len(together) < 2:
        return dataclasses.replace(base, status=OPEN, differing=())
    return dataclasses.replace(
        base, status=DISPUTED, differing=differing_sheets(together)
    )


def differing_sheets(entries: Iterable[Entry]) -> tuple[int, ...]:
    """Sheet numbers (from 1) on which the entries do not all agree.

    A sheet present in one entry and missing from another differs too.
    """
    typed = [e.sheets or () for e in entries]
    longest = max((len(s) for s in typed), default=0)
    differing = []
    for index in range(longest):
        seen = {s[index] if index < len(s) else None for s in typed}
        if len(seen) > 1:
            differing.append(index + 1)
    return tuple(differing)


# -- counting -----------------------------------------------------------------


def paper_ballot_id(secret: bytes, cycle_id: str, batch_id: str, sheet: int) -> str:
    """The ballot id of sheet ``sheet`` of a batch: the same on every attempt.

    Keyed, so that nobody without the secret can tell a paper ballot from an
    online one, or find which batch a ballot came from.
    """
    message = f"paper-ballot\x1f{cycle_id}\x1f{batch_id}\x1f{sheet}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def plan_count(
    secret: bytes, batch: Batch, sheets: tuple[Sheet, ...]
) -> tuple[list[SheetWrite], Outcome]:
    """What counting ``sheets`` writes, and the sheets decided without writing.

    Spoiled and ineligible sheets are decided here; so is a sheet whose
    identifier an earlier sheet of the batch already gave (the earlier one
    counts). Returns the writes and that partial outcome.
    """
    writes: list[SheetWrite] = []
    refused: list[tuple[int, str]] = []
    spoiled: list[int] = []
    claimed: set[str] = set()
    for number, sheet in enumerate(sheets, start=1):
        if sheet.spoiled:
            spoiled.append(number)
            continue
        if sheet.refusal:
            refused.append((number, sheet.refusal))
            continue
        if sheet.voter_key is not None:
            if sheet.voter_key in claimed:
                refused.append((number, REFUSED_DUPLICATE))
                continue
            claimed.add(sheet.voter_key)
        writes.append(
            SheetWrite(
                sheet=number,
                ballot_id=paper_ballot_id(
                    secret, batch.cycle_id, batch.batch_id, number
                ),
                selections=sheet.selections,
                cast_on=batch.counted_on,
                voter_key=sheet.voter_key,
                age_bracket=sheet.age_bracket,
                neighbourhood=sheet.neighbourhood,
            )
        )
    return writes, Outcome(refused=tuple(refused), spoiled=tuple(spoiled))


def sheet_groups(writes: list[SheetWrite]) -> list[list[SheetWrite]]:
    """``writes`` in order, cut into groups that fit one transaction each."""
    groups: list[list[SheetWrite]] = []
    current: list[SheetWrite] = []
    size = 0
    for write in writes:
        if size + write.items > SHEET_ITEMS_PER_TRANSACTION:
            groups.append(current)
            current, size = [], 0
        current.append(write)
        size += write.items
    if current:
        groups.append(current)
    return groups


def count_batch(
    store,
    voter_secret: Callable[[], bytes],
    cycle_id: str,
    batch_id: str,
    *,
    actor: str,
    now: datetime,
) -> Batch:
    """Count a batch whose entries agree (status ``committing``); return it counted.

    Safe to run again after a crash or concurrently: every ballot and mark
    is a conditional put, a sheet whose ballot exists is taken as counted,
    and the batch turns ``counted`` once, with its audit entry and the
    ledger's pending count, by a write conditional on its version. A batch
    counted already is returned as it is. Raises ``Conflict``
    (``BATCH_NOT_AGREED``), ``NotFound``, ``PhaseClosed`` or ``Unavailable``.
    """
    _check_batch_id(batch_id)
    batch = store.get_paper_batch(cycle_id, batch_id)
    if batch.status == COUNTED:
        return batch
    if batch.status != COMMITTING:
        raise Conflict(
            "This batch has no two agreeing entries yet.",
            field="batch_id",
            code="BATCH_NOT_AGREED",
        )
    cycle = store.get_cycle(cycle_id)
    entries = store.paper_entries(cycle_id, batch_id)
    agreed = next(e for e in entries if e.entry_id == batch.agreed[0])
    writes, decided = plan_count(voter_secret(), batch, agreed.sheets or ())

    try:
        counted, duplicates = _write_sheets(store, cycle, batch, writes)
    except StaleVersion:
        # A concurrent count closed the batch first, with the same outcome.
        return store.get_paper_batch(cycle_id, batch_id)

    anonymous = {w.sheet for w in writes if w.voter_key is None}
    outcome = Outcome(
        counted=tuple(sorted(counted)),
        refused=tuple(
            sorted([*decided.refused, *((n, REFUSED_DUPLICATE) for n in duplicates)])
        ),
        spoiled=decided.spoiled,
        anonymous=len(anonymous & set(counted)),
    )
    after = dataclasses.replace(
        batch, status=COUNTED, version=batch.version + 1, outcome=outcome
    )
    audit = _audit(
        now,
        actor,
        "paper_batch_counted",
        "",
        batch,
        after,
        counted=len(outcome.counted),
        refused=len(outcome.refused),
        spoiled=len(outcome.spoiled),
    )
    try:
        store.save_paper_change(
            batch,
            after,
            entries=[e.scrubbed() for e in entries if e.sheets is not None],
            ledger=-1,
            audit=audit,
        )
    except StaleVersion:
        # A concurrent count finished first, with the same outcome.
        return store.get_paper_batch(cycle_id, batch_id)
    logger.info(
        "paper batch counted",
        extra={
            "cycle": cycle_id,
            "batch": batch_id,
            "counted": len(outcome.counted),
            "refused": len(outcome.refused),
        },
    )
    return after


def _write_sheets(store, cycle, batch, writes) -> tuple[list[int], list[int]]:
    """Write every group; return the sheets counted and those refused as duplicates."""
    counted: list[int] = []
    duplicates: list[int] = []
    for group in sheet_groups(writes):
        remaining = group
        while remaining:
            try:
                store.write_paper_sheets(cycle, batch, remaining)
            except SheetsNotWritten as seen:
                # Those sheets are decided; the rest of the group goes again.
                counted.extend(sorted(seen.counted))
                duplicates.extend(sorted(seen.duplicates))
                done = seen.counted | seen.duplicates
                remaining = [w for w in remaining if w.sheet not in done]
                continue
            counted.extend(w.sheet for w in remaining)
            remaining = []
    return counted, duplicates


# -- discarding ---------------------------------------------------------------


def discard_entry(
    store, cycle_id: str, batch_id: str, entry_id: str, body, *, actor: str, now
) -> Batch:
    """Set aside one entry of an uncounted batch (office admins); return the batch.

    ``body`` is ``{"reason": ...}`` (required, for the audit log). The batch
    is compared again without it: ``open`` with fewer than two entries left,
    else still ``disputed`` on the sheets the rest differ on. (Two entries
    that agree never wait: the batch would be counting.) Raises
    ``InvalidInput``, ``NotFound`` or ``Conflict`` (``BATCH_CLOSED``,
    ``ENTRY_DISCARDED``).
    """
    data = _object(body, "body")
    _no_unknown(data, {"reason"}, "")
    reason = parse_reason(data, required=True)
    _check_batch_id(batch_id)
    if not _ENTRY_ID.fullmatch(entry_id or ""):
        raise _no_entry()

    for _ in range(_ATTEMPTS):
        batch = store.get_paper_batch(cycle_id, batch_id)
        if batch.status not in (OPEN, DISPUTED):
            raise _closed(batch)
        entries = store.paper_entries(cycle_id, batch_id)
        entry = next((e for e in entries if e.entry_id == entry_id), None)
        if entry is None:
            raise _no_entry()
        if entry.status != ACTIVE:
            raise Conflict(
                "This entry is discarded already.",
                field="entry_id",
                code="ENTRY_DISCARDED",
            )
        gone = dataclasses.replace(
            entry,
            status=DISCARDED_ENTRY,
            sheets=None,
            version=entry.version + 1,
            discard_reason=reason,
        )
        rest = [e for e in entries if e.status == ACTIVE and e.entry_id != entry_id]
        after = dataclasses.replace(
            batch,
            version=batch.version + 1,
            status=DISPUTED if len(rest) >= 2 else OPEN,
            differing=differing_sheets(rest) if len(rest) >= 2 else (),
        )
        audit = _audit(
            now, actor, "paper_entry_discarded", reason, batch, after, entry=entry_id
        )
        try:
            store.save_paper_change(batch, after, entries=[gone], audit=audit)
        except StaleVersion:
            continue
        return after
    raise Unavailable("The batch is busy; please try again.")


def discard_batch(
    store, cycle_id: str, batch_id: str, body, *, actor: str, now
) -> Batch:
    """Discard a batch that is not counted, releasing the tally; return it.

    ``body`` is ``{"reason": ...}`` (required). Its entries lose their
    sheets. A batch being counted cannot be discarded: finish its count.
    Raises ``InvalidInput``, ``NotFound`` or ``Conflict`` (``BATCH_CLOSED``).
    """
    data = _object(body, "body")
    _no_unknown(data, {"reason"}, "")
    reason = parse_reason(data, required=True)
    _check_batch_id(batch_id)

    for _ in range(_ATTEMPTS):
        batch = store.get_paper_batch(cycle_id, batch_id)
        if batch.status not in (OPEN, DISPUTED):
            raise _closed(batch)
        entries = store.paper_entries(cycle_id, batch_id)
        after = dataclasses.replace(
            batch, status=DISCARDED, version=batch.version + 1, discard_reason=reason
        )
        audit = _audit(now, actor, "paper_batch_discarded", reason, batch, after)
        try:
            store.save_paper_change(
                batch,
                after,
                entries=[e.scrubbed() for e in entries if e.sheets is not None],
                ledger=-1,
                audit=audit,
            )
        except StaleVersion:
            continue
        return after
    raise Unavailable("The batch is busy; please try again.")


# -- the tally's wait -----------------------------------------------------------


def seal_for_tally(store, cycle: Cycle, *, now: datetime) -> list[Batch]:
    """Close paper entry of ``cycle`` for its tally, unless batches are pending.

    Returns the pending batches (registered, neither counted nor discarded):
    when there are any the tally must wait and nothing is sealed. Sealing is
    a write conditional on the ledger's pending count being zero, so a batch
    registered meanwhile either lands first (and the seal waits) or is
    refused. Safe to call on every clock run.
    """
    if store.seal_paper(cycle.cycle_id, now=now):
        return []
    return [b for b in store.list_paper_batches(cycle.cycle_id) if b.pending]


# -- what staff read ----------------------------------------------------------


def read_batch(store, cycle_id: str, batch_id: str) -> dict:
    """One batch as staff see it (:func:`batch_view`); raises ``NotFound``."""
    store.get_cycle(cycle_id)
    _check_batch_id(batch_id)
    batch = store.get_paper_batch(cycle_id, batch_id)
    return batch_view(batch, store.paper_entries(cycle_id, batch_id))


def list_batches(store, cycle_id: str) -> dict:
    """Every batch of ``cycle_id`` as staff see it; raises ``NotFound``."""
    store.get_cycle(cycle_id)
    entries: dict[str, list[Entry]] = {}
    for entry in store.paper_entries(cycle_id, None):
        entries.setdefault(entry.batch_id, []).append(entry)
    return {
        "cycle_id": cycle_id,
        "batches": [
            batch_view(b, entries.get(b.batch_id, []))
            for b in store.list_paper_batches(cycle_id)
        ],
    }


def batch_view(batch: Batch, entries: Iterable[Entry]) -> dict:
    """A batch as staff see it: status, entries (never their sheets), outcome."""
    outcome = batch.outcome
    return {
        "batch_id": batch.batch_id,
        "site": batch.site,
        "cover_sheets": batch.cover_sheets,
        "status": batch.status,
        "version": batch.version,
        "registered_by": batch.registered_by,
        "registered_at": batch.registered_at,
        "entries": [e.view() for e in sorted(entries, key=_entry_order)],
        "agreed_entries": list(batch.agreed),
        "differing_sheets": list(batch.differing),
        "counted": None
        if outcome is None
        else {
            "sheets": len(outcome.counted),
            "without_identifier": outcome.anonymous,
            "refused": [{"sheet": n, "code": code} for n, code in outcome.refused],
            "spoiled": list(outcome.spoiled),
        },
        "discard_reason": batch.discard_reason or None,
    }


def paper_status(store, cycle_id: str) -> dict:
    """The dashboard's paper figures: batches by status and what the tally waits for."""
    batches = store.list_paper_batches(cycle_id)
    return {
        "batches": dict(sorted(Counter(b.status for b in batches).items())),
        "sheets_counted": sum(
            len(b.outcome.counted) for b in batches if b.outcome is not None
        ),
        "tally_waits_for": [
            {"batch_id": b.batch_id, "site": b.site, "status": b.status}
            for b in batches
            if b.pending
        ],
        "entry_closed": store.paper_sealed(cycle_id),
    }


_FIGURES = (
    "cover_sheets",
    "counted",
    "without_identifier",
    "refused_duplicate",
    "refused_ineligible",
    "spoiled",
)
CSV_COLUMNS = (
    "level",
    "site",
    "batch_id",
    "status",
    "entries",
    *_FIGURES,
    "cover_matches",
)


def reconciliation(store, cycle_id: str) -> dict:
    """Cover sheets against sheets entered, counted, refused and spoiled.

    Per batch, per site and in total. ``counted + refused_duplicate +
    refused_ineligible + spoiled`` is the sheet count of the agreed entries
    of a counted batch; ``cover_matches`` says whether it equals the cover
    sheet. An uncounted batch has zeros for its count figures and its
    entries' own sheet counts.
    """
    store.get_cycle(cycle_id)  # NotFound for an unknown cycle
    batches = store.list_paper_batches(cycle_id)
    entries_by_batch: dict[str, list[Entry]] = {}
    for entry in store.paper_entries(cycle_id, None):
        entries_by_batch.setdefault(entry.batch_id, []).append(entry)

    rows = []
    for batch in batches:
        outcome = batch.outcome or Outcome()
        entries = sorted(entries_by_batch.get(batch.batch_id, []), key=_entry_order)
        counted_total = (
            len(outcome.counted) + len(outcome.refused) + len(outcome.spoiled)
        )
        rows.append(
            {
                "batch_id": batch.batch_id,
                "site": batch.site,
                "status": batch.status,
                "entries": [
                    {
                        "entry_id": e.entry_id,
                        "sheets": e.sheet_count,
                        "status": e.status,
                    }
                    for e in entries
                ],
                "cover_sheets": batch.cover_sheets,
                "counted": len(outcome.counted),
                "without_identifier": outcome.anonymous,
                "refused_duplicate": outcome.refused_with([REFUSED_DUPLICATE]),
                "refused_ineligible": outcome.refused_with(REFUSED_INELIGIBLE),
                "spoiled": len(outcome.spoiled),
                "refused_sheets": [
                    {"sheet": n, "code": code} for n, code in outcome.refused
                ],
                "cover_matches": None
                if batch.status != COUNTED
                else counted_total == batch.cover_sheets,
            }
        )

    sites: dict[str, dict] = {}
    for row in rows:
        site = sites.setdefault(
            row["site"],
            {"site": row["site"], "batches": Counter(), **dict.fromkeys(_FIGURES, 0)},
        )
        site["batches"][row["status"]] += 1
        for name in _FIGURES:
            site[name] += row[name]
    totals = {"batches": Counter(), **dict.fromkeys(_FIGURES, 0)}
    for row in rows:
        totals["batches"][row["status"]] += 1
        for name in _FIGURES:
            totals[name] += row[name]
    for summary in (*sites.values(), totals):
        summary["batches"] = dict(sorted(summary["batches"].items()))
    return {
        "cycle_id": cycle_id,
        "batches": rows,
        "sites": [sites[name] for name in sorted(sites)],
        "totals": totals,
        "tally_waits_for": [r["batch_id"] for r in rows if r["status"] in PENDING],
    }


def reconciliation_csv(report: Mapping) -> str:
    """The report as formula-safe CSV: a row per batch, per site, and the totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["batches"]:
        entries = " ".join(
            f"{e['entry_id']}={e['sheets']}"
            + ("" if e["status"] == ACTIVE else "(discarded)")
            for e in row["entries"]
        )
        matches = row["cover_matches"]
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    "batch",
                    row["site"],
                    row["batch_id"],
                    row["status"],
                    entries,
                    *(row[name] for name in _FIGURES),
                    "" if matches is None else ("yes" if matches else "no"),
                )
            ]
        )
    for level, summary in (
        *(("site", s) for s in report["sites"]),
        ("total", report["totals"]),
    ):
        statuses = " ".join(f"{k}={v}" for k, v in summary["batches"].items())
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    level,
                    summary.get("site", ""),
                    "",
                    statuses,
                    "",
                    *(summary[name] for name in _FIGURES),
                    "",
                )
            ]
        )
    return out.getvalue()


# -- helpers ------------------------------------------------------------------


def _audit(now, actor, action, reason, before: Batch | None, after: Batch, **extra):
    """The audit entry of a batch change: statuses and counts, never sheets."""

    def state(batch: Batch | None) -> dict | None:
        if batch is None:
            return None
        return {
            "batch_id": batch.batch_id,
            "status": batch.status,
            "version": batch.version,
        }

    after_state = {**state(after), **extra}
    if before is None:
        after_state.update(site=after.site, cover_sheets=after.cover_sheets)
    return {
        "now": now,
        "actor": actor,
        "action": action,
        "reason": reason,
        "before": state(before),
        "after": after_state,
    }


def _check_entry_phase(cycle: Cycle) -> None:
    if cycle.phase not in ENTRY_PHASES:
        raise PhaseClosed(
            "Paper batches are entered while voting is open and until the tally.",
            field="phase",
        )


def _batch_id(data: Mapping) -> str:
    if "batch_id" not in data:
        raise InvalidInput(
            "Give the batch id written on the envelope.",
            field="batch_id",
            code="MISSING_FIELD",
        )
    value = data["batch_id"]
    if not isinstance(value, str) or not _BATCH_ID.fullmatch(value):
        raise InvalidInput(
            "A batch id is 1 to 64 letters, digits, - or _.",
            field="batch_id",
            code="INVALID_INPUT",
        )
    return value


def _check_batch_id(batch_id: str) -> None:
    if not _BATCH_ID.fullmatch(batch_id or ""):
        raise NotFound("There is no such batch.", field="batch_id")


def _no_entry() -> NotFound:
    return NotFound("There is no such entry.", field="entry_id")


def _closed(batch: Batch) -> Conflict:
    messages = {
        COMMITTING: "This batch is being counted; send a count request to finish it.",
        COUNTED: "This batch is counted already.",
        DISCARDED: "This batch was discarded.",
    }
    return Conflict(
        messages.get(batch.status, "This batch is closed."),
        field="batch_id",
        code="BATCH_CLOSED",
    )


def _entry_order(entry: Entry) -> int:
    return int(entry.entry_id[1:])


def _object(value: object, field: str) -> Mapping:
    if not isinstance(value, dict):
        raise InvalidInput("Expected a JSON object.", field=field, code="INVALID_TYPE")
    return value


def _no_unknown(data: Mapping, allowed: set[str], prefix: str) -> None:
    unknown = sorted(str(k) for k in set(data) - allowed)
    if unknown:
        name = unknown[0][:64]
        raise InvalidInput(
            f"Unknown field {name!r}.", field=prefix + name, code="UNKNOWN_FIELD"
        )
