"""The storage layer: cycles, ballots, voter marks and the audit log in DynamoDB.

Every AWS error is translated here into a domain error from
:mod:`chalicelib.errors` (``raise ... from exc``), by its error code and the
position of the failed item in a transaction, never by message text:

- a voter mark that already exists becomes :class:`AlreadyVoted`;
- a cycle that is no longer in voting, or whose ballot hash changed,
  becomes :class:`PhaseClosed`;
- a cycle whose version moved on becomes :class:`StaleVersion`;
- throttling and transaction conflicts (after a few retries with backoff)
  become :class:`Unavailable`, which the API answers with 503 and
  ``Retry-After``.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DoesNotExist,
    GetError,
    PynamoDBException,
    QueryError,
    TransactWriteError,
)
from pynamodb.transactions import TransactWrite

from chalicelib.cycle import (
    Cycle,
    Phase,
    Transition,
    calendar_to_dict,
    cycle_from_dict,
    cycle_to_dict,
    format_time,
)
from chalicelib.errors import (
    AlreadyVoted,
    Conflict,
    InvalidInput,
    NotFound,
    PhaseClosed,
    StaleVersion,
    Unavailable,
)
from chalicelib.settings import Settings
from chalicelib.storage import models
from chalicelib.storage.models import (
    AuditModel,
    BallotModel,
    CycleModel,
    IdempotencyModel,
    VoterMarkModel,
)

logger = logging.getLogger(__name__)

CURRENT = "@current"
_BUSY_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "InternalServerError",
}
_CONFLICT_ATTEMPTS = 4


@dataclasses.dataclass(frozen=True)
class StoredBallot:
    """A ballot as the tally reads it back: no voter, no time finer than a day."""

    ballot_id: str
    selections: tuple[str, ...]
    cast_on: str


@dataclasses.dataclass(frozen=True)
class VoterMark:
    voter_key: str
    voted_on: str
    channel: str
    neighbourhood: str | None
    age_bracket: str | None


@dataclasses.dataclass(frozen=True)
class IdempotencyRecord:
    """What a retry is checked against. It holds no receipt and no voter."""

    fingerprint: str
    recorded_on: str


class SubmissionSeen(Exception):
    """The idempotency key (or the receipt it derives) is already used.

    Not a client answer: the cast path decides between a replay and a
    refusal. ``voter_has_voted`` says whether the same transaction also found
    this voter's mark, which a genuine retry by the same voter always does.
    """

    def __init__(self, *, voter_has_voted: bool):
        super().__init__("submission already seen")
        self.voter_has_voted = voter_has_voted


class Store:
    """Repository over the stage's tables. Build one per process with
    :meth:`from_settings`; it opens no connection until first used."""

    def __init__(
        self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep
    ):
        self.settings = settings
        self._sleep = sleep
        models.bind(settings)
        self._connection: Connection | None = None
        self._current: tuple[float, Cycle] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings)

    # -- cycles ---------------------------------------------------------

    def get_cycle(self, cycle_id: str) -> Cycle:
        """The stored cycle (consistent read); raises ``NotFound``."""
        if not cycle_id or cycle_id == CURRENT:
            raise NotFound("There is no such cycle.", field="cycle_id")
        return _cycle_from_item(_get_cycle_item(cycle_id, "There is no such cycle."))

    def current_cycle(self, *, max_age: float = 0.0) -> Cycle:
        """The cycle the public site shows; raises ``NotFound`` if none is set.

        With ``max_age`` a copy read at most that many seconds ago may be
        returned. The ballot path uses it safely: its transaction re-checks
        the phase and ballot hash in DynamoDB, so a stale copy can only make
        it refuse for a few seconds after voting opens, never accept late.
        """
        cached = self._current
        if max_age and cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        cycle = self._read_current()
        self._current = (time.monotonic(), cycle)
        return cycle

    def _read_current(self) -> Cycle:
        pointer = _get_cycle_item(CURRENT, "No cycle is running yet.")
        return self.get_cycle(pointer.points_to or "")

    def list_cycles(self) -> list[Cycle]:
        """Every readable cycle (a small table: a city runs one cycle a year).

        A stored cycle that no longer validates is logged and left out, so
        that one bad item cannot stop the phase clock for every other cycle.
        """
        cycles = []
        for item in CycleModel.scan(consistent_read=True):
            if item.cycle_id == CURRENT:
                continue
            try:
                cycles.append(_cycle_from_item(item))
            except InvalidInput as exc:
                logger.error(
                    "unreadable cycle",
                    extra={"cycle": item.cycle_id, "field": exc.field},
                )
        return sorted(cycles, key=lambda c: c.cycle_id)

    def create_cycle(
        self,
        cycle: Cycle,
        *,
        actor: str,
        now: datetime,
        make_current: bool = True,
        reason: str = "",
    ) -> None:
        """Write a new cycle and its audit entry; raises ``Conflict`` if it exists."""
        item = _cycle_item(cycle)
        audit = _audit_item(
            cycle.cycle_id,
            now,
            actor,
            "cycle_created",
            reason,
            None,
            {**_cycle_summary(cycle), "current": make_current},
        )
        try:
            with self._transaction() as tx:
                tx.save(
                    item, condition=CycleModel.cycle_id.does_not_exist(), label="cycle"
                )
                tx.save(audit, condition=AuditModel.entry_id.does_not_exist())
                if make_current:
                    tx.save(CycleModel(CURRENT, points_to=cycle.cycle_id))
        except TransactWriteError as exc:
            if "cycle" in tx.failed(exc):
                raise Conflict(
                    "A cycle with this id exists already.",
                    field="cycle_id",
                    code="CYCLE_EXISTS",
                ) from exc
            raise _translate(exc) from exc

    def apply_transition(
        self, before: Cycle, after: Cycle, transition: Transition, *, request: str = ""
    ) -> None:
        """Store a phase change and its audit entry in one transaction.

        The write is conditional on the stored version still being
        ``before.version``; raises ``StaleVersion`` when someone moved first.
        ``request`` (``open``, ``close``, ``advance``) records what a staff
        member asked for; the phase clock leaves it empty.
        """
        after_state = {"phase": after.phase.value, "version": after.version}
        if request:
            after_state["request"] = request
        audit = _audit_item(
            before.cycle_id,
            transition.at,
            transition.actor,
            "phase_changed",
            transition.reason,
            {"phase": before.phase.value, "version": before.version},
            after_state,
        )
        self._save_cycle_change(before, after, audit)

    def update_calendar(
        self,
        before: Cycle,
        after: Cycle,
        *,
        actor: str,
        now: datetime,
        reason: str,
        changed: list[Phase],
    ) -> None:
        """Store a calendar edit and its audit entry in one transaction.

        Conditional on the stored version and phase being ``before``'s;
        raises ``StaleVersion`` otherwise.
        """
        audit = _audit_item(
            before.cycle_id,
            now,
            actor,
            "calendar_edited",
            reason,
            {
                "version": before.version,
                "calendar": calendar_to_dict({p: before.calendar[p] for p in changed}),
            },
            {
                "version": after.version,
                "calendar": calendar_to_dict({p: after.calendar[p] for p in changed}),
            },
        )
        self._save_cycle_change(before, after, audit)

    def _save_cycle_change(self, before: Cycle, after: Cycle, audit) -> None:
        try:
            with self._transaction() as tx:
                tx.save(
                    _cycle_item(after),
                    condition=(
                        (CycleModel.version == before.version)
                        & (CycleModel.phase == before.phase.value)
                    ),
                    label="cycle",
                )
                tx.save(audit, condition=AuditModel.entry_id.does_not_exist())
        except TransactWriteError as exc:
            if "cycle" in tx.failed(exc):
                raise StaleVersion(
                    "The cycle changed meanwhile; read it again.", field="version"
                ) from exc
            raise _translate(exc) from exc

    # -- voting ---------------------------------------------------------

    def get_idempotency(self, idempotency_id: str) -> IdempotencyRecord | None:
        try:
            item = IdempotencyModel.get(idempotency_id, consistent_read=True)
        except DoesNotExist:
            return None
        except GetError as exc:
            raise _translate(exc) from exc
        if item.expires_at < time.time():
            return None
        return IdempotencyRecord(item.fingerprint, item.recorded_on)

    def has_voted(self, voter_key: str) -> bool:
        """Whether a voter mark exists for ``voter_key`` (consistent read)."""
        try:
            VoterMarkModel.get(voter_key, consistent_read=True)
        except DoesNotExist:
            return False
        except GetError as exc:
            raise _translate(exc) from exc
        return True

    def record_ballot(
        self,
        cycle: Cycle,
        *,
        mark: VoterMark,
        ballot: StoredBallot,
        idempotency_id: str,
        fingerprint: str,
        expires_at: int,
        now: float,
    ) -> None:
        """Write voter mark, ballot and idempotency record in one transaction.

        The transaction also checks that the cycle is still in voting with
        the same frozen ballot; an idempotency record past ``expires_at`` may
        be overwritten. Raises ``SubmissionSeen`` (the key or its ballot id
        is taken), ``AlreadyVoted`` (the voter mark exists), ``PhaseClosed``
        (voting closed meanwhile) or ``Unavailable``.
        """
        items = [
            (
                "mark",
                VoterMarkModel(
                    mark.voter_key,
                    cycle_id=cycle.cycle_id,
                    voted_on=mark.voted_on,
                    channel=mark.channel,
                    neighbourhood=mark.neighbourhood,
                    age_bracket=mark.age_bracket,
                ),
                VoterMarkModel.voter_key.does_not_exist(),
            ),
            (
                "ballot",
                BallotModel(
                    cycle.cycle_id,
                    ballot.ballot_id,
                    selections=list(ballot.selections),
                    ballot_hash=cycle.ballot_hash,
                    cast_on=ballot.cast_on,
                ),
                BallotModel.ballot_id.does_not_exist(),
            ),
            (
                "idempotency",
                IdempotencyModel(
                    idempotency_id,
                    fingerprint=fingerprint,
                    recorded_on=ballot.cast_on,
                    expires_at=expires_at,
                ),
                IdempotencyModel.idempotency_id.does_not_exist()
                | (IdempotencyModel.expires_at < int(now)),
            ),
        ]
        still_voting = (CycleModel.phase == Phase.VOTING.value) & (
            CycleModel.ballot_hash == cycle.ballot_hash
        )
        try:
            with self._transaction() as tx:
                for label, item, condition in items:
                    tx.save(item, condition=condition, label=label)
                tx.condition_check(
                    CycleModel, cycle.cycle_id, condition=still_voting, label="cycle"
                )
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if failed & {"idempotency", "ballot"}:
                raise SubmissionSeen(voter_has_voted="mark" in failed) from exc
            if "mark" in failed:
                raise AlreadyVoted(
                    "A ballot from you is already recorded for this cycle. "
                    "Each resident votes once.",
                    field="voter",
                ) from exc
            if "cycle" in failed:
                raise PhaseClosed("Voting is closed.", field="phase") from exc
            raise _translate(exc) from exc

    def iter_ballots(self, cycle_id: str) -> Iterator[StoredBallot]:
        """Every ballot of ``cycle_id``: consistent reads, every page, key order."""
        try:
            for item in BallotModel.query(cycle_id, consistent_read=True):
                yield StoredBallot(item.ballot_id, tuple(item.selections), item.cast_on)
        except QueryError as exc:
            raise _translate(exc) from exc

    def turnout(self, cycle_id: str) -> list[tuple[str, str | None]]:
        """``(channel, neighbourhood)`` of every voter mark of ``cycle_id``.

        Reads the ``by-cycle`` index, which holds those two fields only; it
        is eventually consistent, so a mark may show a second late.
        """
        # Known limit: every dashboard load pages through the whole index
        # (about 1 read unit per 4 KB of marks); a cycle of several hundred
        # thousand voters would want counters kept with each mark instead.
        try:
            return [
                (item.channel, item.neighbourhood)
                for item in VoterMarkModel.by_cycle.query(cycle_id)
            ]
        except QueryError as exc:
            raise _translate(exc) from exc

    # -- audit ----------------------------------------------------------

    def append_audit(
        self,
        audit_cycle: str,
        *,
        now: datetime,
        actor: str,
        action: str,
        reason: str = "",
        before: dict | None = None,
        after: dict | None = None,
    ) -> None:
        """Append one entry to the audit log (never overwriting one).

        A one-item transaction, so that the API's role needs no write to the
        audit table outside transactions.
        """
        audit = _audit_item(audit_cycle, now, actor, action, reason, before, after)
        try:
            with self._transaction() as tx:
                tx.save(audit, condition=AuditModel.entry_id.does_not_exist())
        except TransactWriteError as exc:
            raise _translate(exc) from exc

    def audit_entries(self, cycle_id: str) -> list[dict]:
        """The audit log of a cycle, oldest first (every page, consistent)."""
        return [
            {
                "entry_id": e.entry_id,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "reason": e.reason,
                "before": e.before,
                "after": e.after,
            }
            for e in _audit_query(cycle_id)
        ]

    # -- plumbing -------------------------------------------------------

    def _transaction(self) -> _RetryingTransaction:
        if self._connection is None:
            self._connection = Connection(region=CycleModel.Meta.region)
        return _RetryingTransaction(self._connection, self._sleep)


class _RetryingTransaction:
    """A TransactWrite that retries transaction conflicts with jittered backoff.

    A failed condition is an answer, never retried. The body of the ``with``
    block only collects operations, so replaying it is safe.
    """

    def __init__(self, connection: Connection, sleep: Callable[[float], None]):
        self._connection = connection
        self._sleep = sleep
        self._operations: list[tuple[str, tuple, dict]] = []

    def save(self, item, *, condition=None, label: str = "") -> None:
        self._operations.append(("save", label, (item,), {"condition": condition}))

    def condition_check(self, model, key, *, condition, label: str = "") -> None:
        self._operations.append(
            ("condition_check", label, (model, key), {"condition": condition})
        )

    def failed(self, error: TransactWriteError) -> set[str]:
        """Labels of the operations whose condition failed.

        PynamoDB sends condition checks first, then puts, whatever order they
        were added in; cancellation reasons follow the order sent.
        """
        sent = [op for op in self._operations if op[0] == "condition_check"]
        sent += [op for op in self._operations if op[0] == "save"]
        return {
            op[1]
            for op, reason in zip(sent, _reasons(error), strict=False)
            if reason is not None and reason.code == "ConditionalCheckFailed"
        }

    def __enter__(self) -> _RetryingTransaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            return
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                with TransactWrite(connection=self._connection) as tx:
                    for name, _, args, kwargs in self._operations:
                        getattr(tx, name)(*args, **kwargs)
                return
            except TransactWriteError as error:
                if not _is_conflict(error) or attempt == _CONFLICT_ATTEMPTS - 1:
                    raise
                self._sleep(random.uniform(0, 0.05 * 2**attempt))


def _reasons(exc: TransactWriteError) -> list:
    try:
        return list(exc.cancellation_reasons or [])
    except AttributeError:
        return []


def _is_conflict(exc: TransactWriteError) -> bool:
    reasons = [r for r in _reasons(exc) if r is not None]
    if any(r.code == "ConditionalCheckFailed" for r in reasons):
        return False
    return exc.cause_response_code == "TransactionConflictException" or any(
        r.code == "TransactionConflict" for r in reasons
    )


def _translate(exc: PynamoDBException) -> Exception:
    """Map an AWS failure that is not a domain answer to a domain error."""
    code = exc.cause_response_code
    if code in _BUSY_CODES or (
        isinstance(exc, TransactWriteError) and _is_conflict(exc)
    ):
        logger.warning("dynamodb busy", extra={"aws_code": code})
        return Unavailable(
            "The service is busy; please try again in a moment.", retry_after=1
        )
    return RuntimeError(f"DynamoDB call failed ({code})")


def _audit_query(cycle_id: str):
    try:
        yield from AuditModel.query(cycle_id, consistent_read=True)
    except QueryError as exc:
        raise _translate(exc) from exc


def _cycle_summary(cycle: Cycle) -> dict:
    """What the audit log keeps of a new cycle: its rules, not its texts."""
    return {
        "phase": cycle.phase.value,
        "version": cycle.version,
        "budget_cap": cycle.budget_cap,
        "selection_limit": cycle.selection_limit,
        "min_voting_age": cycle.min_voting_age,
        "languages": list(cycle.languages),
        "calendar": calendar_to_dict(cycle.calendar),
        "proposals": [[p.proposal_id, p.cost] for p in cycle.proposals],
    }


def _get_cycle_item(cycle_id: str, missing: str) -> CycleModel:
    try:
        return CycleModel.get(cycle_id, consistent_read=True)
    except DoesNotExist as exc:
        raise NotFound(missing, field="cycle_id") from exc
    except GetError as exc:
        raise _translate(exc) from exc


def _cycle_item(cycle: Cycle) -> CycleModel:
    document = cycle_to_dict(cycle)
    return CycleModel(
        cycle.cycle_id,
        phase=cycle.phase.value,
        version=cycle.version,
        ballot_hash=cycle.ballot_hash or None,
        document=document,
    )


def _cycle_from_item(item: CycleModel) -> Cycle:
    document = dict(item.document or {})
    document.update(
        phase=item.phase, version=int(item.version), ballot_hash=item.ballot_hash or ""
    )
    return cycle_from_dict(document)


def audit_item(
    audit_cycle: str,
    *,
    now: datetime,
    actor: str,
    action: str,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> dict:
    """One audit entry as a DynamoDB item (attribute values), the same as
    :meth:`Store.append_audit` writes, for a writer that holds a plain
    DynamoDB client instead of a ``Store`` (``pbctl deploy``)."""
    return _audit_item(
        audit_cycle, now, actor, action, reason, before, after
    ).serialize()


def _audit_item(cycle_id, now, actor, action, reason, before, after) -> AuditModel:
    stamp = format_time(now)
    return AuditModel(
        cycle_id,
        # Sortable by when it was written, even for entries sharing ``now``.
        f"{time.time_ns():020d}#{uuid.uuid4().hex[:12]}",
        at=stamp,
        actor=actor,
        action=action,
        reason=reason or None,
        before=before,
        after=after,
    )
