"""The storage layer: cycles, ballots, voter marks and the audit log in DynamoDB.

Every AWS error is translated here into a domain error from
:mod:`chalicelib.errors` (``raise ... from exc``), by its error code and the
position of the failed item in a transaction, never by message text:

- a voter mark that already exists becomes :class:`AlreadyVoted`;
- a cycle that is no longer in voting, or whose ballot hash changed,
  becomes :class:`PhaseClosed`;
- a cycle whose version moved on becomes :class:`StaleVersion`;
- an access-code batch id taken by another batch becomes :class:`Conflict`
  (``BATCH_EXISTS``), a batch revoked already ``ALREADY_REVOKED``;
- a paper batch whose version moved on becomes :class:`StaleVersion`, and
  a paper sheet whose ballot or voter mark exists is reported to the count
  as :class:`~chalicelib.paper.SheetsNotWritten`;
- an access code that is unknown, used or of a revoked batch becomes
  ``InvalidInput`` ``ACCESS_CODE_NOT_VALID`` (one answer for all three);
- a full rate counter becomes :class:`~chalicelib.verification.LimitReached`
  and a challenge that cannot take another try
  :class:`~chalicelib.verification.ChallengeRefused` (the caller words them);
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
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DoesNotExist,
    GetError,
    PynamoDBException,
    QueryError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.transactions import TransactWrite

from chalicelib.codebatches import (
    ACTIVE,
    GENERATION_PHASES,
    REVOKED,
    BatchSummary,
    CodeBatch,
)
from chalicelib.cycle import (
    Cycle,
    Phase,
    Transition,
    calendar_to_dict,
    cycle_from_dict,
    cycle_to_dict,
    format_time,
    parse_time,
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
from chalicelib.paper import (
    CHANNEL,
    COMMITTING,
    ENTRY_PHASES,
    Batch,
    Entry,
    SheetsNotWritten,
    SheetWrite,
)
from chalicelib.settings import Settings
from chalicelib.storage import models
from chalicelib.storage.models import (
    AuditModel,
    BallotModel,
    CycleModel,
    IdempotencyModel,
    PaperModel,
    VerificationModel,
    VoterMarkModel,
)
from chalicelib.verification import (
    Challenge,
    ChallengeRefused,
    LimitReached,
    RateCounter,
)

logger = logging.getLogger(__name__)

CURRENT = "@current"
LEDGER = "@ledger"
_BUSY_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "InternalServerError",
}
_CONFLICT_ATTEMPTS = 4
#: DynamoDB's limit of items in one transaction.
_TRANSACTION_ITEMS = 100


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


@dataclasses.dataclass(frozen=True)
class AccessCodeUse:
    """The items a ballot cast with an access code redeems in its transaction."""

    code_pk: str
    batch_pk: str


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
        access_code: AccessCodeUse | None = None,
    ) -> None:
        """Write voter mark, ballot and idempotency record in one transaction.

        The transaction also checks that the cycle is still in voting with
        the same frozen ballot; an idempotency record past ``expires_at`` may
        be overwritten. With ``access_code`` it also marks the code used
        (it must exist and be unused) and counts it on its batch (which must
        be active), so a refused ballot leaves the code as it was. Raises
        ``SubmissionSeen`` (the key or its ballot id is taken),
        ``InvalidInput`` ``ACCESS_CODE_NOT_VALID``, ``AlreadyVoted`` (the
        voter mark exists), ``PhaseClosed`` (voting closed meanwhile) or
        ``Unavailable``.
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
                if access_code is not None:
                    _redeem(tx, access_code)
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if failed & {"idempotency", "ballot"}:
                raise SubmissionSeen(voter_has_voted="mark" in failed) from exc
            if failed & {"code", "batch"}:
                raise access_code_not_valid() from exc
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

    # -- paper ballots --------------------------------------------------

    def register_paper_batch(self, cycle: Cycle, batch: Batch, *, audit: dict) -> None:
        """Write a new batch, count it pending in the ledger, audit it: one transaction.

        Conditional on the cycle still being in an entry phase with the same
        ballot and on the ledger not being sealed for the tally. Raises
        ``Conflict`` (``BATCH_EXISTS``) or ``PhaseClosed``.
        """
        in_entry_phase = CycleModel.phase.is_in(*(p.value for p in ENTRY_PHASES)) & (
            CycleModel.ballot_hash == cycle.ballot_hash
        )
        try:
            with self._transaction() as tx:
                tx.condition_check(
                    CycleModel, cycle.cycle_id, condition=in_entry_phase, label="cycle"
                )
                tx.save(
                    _batch_item(batch),
                    condition=PaperModel.item_id.does_not_exist(),
                    label="batch",
                )
                tx.save(_audit_from(batch.cycle_id, audit), condition=_NEW_AUDIT)
                tx.update(
                    PaperModel(batch.cycle_id, LEDGER),
                    actions=[PaperModel.pending.add(1)],
                    condition=_NOT_SEALED,
                    label="ledger",
                )
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if "batch" in failed:
                raise Conflict(
                    "A batch with this id is registered already.",
                    field="batch_id",
                    code="BATCH_EXISTS",
                ) from exc
            if failed & {"cycle", "ledger"}:
                raise PhaseClosed(
                    "Paper entry is closed: the tally has started.", field="phase"
                ) from exc
            raise _translate(exc) from exc

    def get_paper_batch(self, cycle_id: str, batch_id: str) -> Batch:
        """A batch (consistent read); raises ``NotFound``."""
        try:
            item = PaperModel.get(cycle_id, f"batch#{batch_id}", consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound("There is no such batch.", field="batch_id") from exc
        except GetError as exc:
            raise _translate(exc) from exc
        return _batch_from_item(item)

    def list_paper_batches(self, cycle_id: str) -> list[Batch]:
        """Every batch of a cycle, by id (consistent, every page)."""
        return [_batch_from_item(item) for item in _paper_query(cycle_id, "batch#")]

    def paper_entries(self, cycle_id: str, batch_id: str | None) -> list[Entry]:
        """The entries of one batch, or of every batch with ``None`` (consistent)."""
        prefix = "entry#" if batch_id is None else f"entry#{batch_id}#"
        return [_entry_from_item(item) for item in _paper_query(cycle_id, prefix)]

    def save_paper_change(
        self,
        before: Batch,
        after: Batch,
        *,
        entries: list[Entry],
        audit: dict,
        ledger: int = 0,
    ) -> None:
        """Store a batch change, the entries it adds or rewrites, and its audit.

        One transaction, conditional on the batch's stored version being
        ``before.version`` and each rewritten entry's being the one read;
        ``ledger`` moves the pending count (-1 when the batch leaves the
        pending statuses). Raises ``StaleVersion`` when anything moved first.
        """
        try:
            with self._transaction() as tx:
                tx.save(
                    _batch_item(after),
                    condition=PaperModel.version == before.version,
                    label="batch",
                )
                for entry in entries:
                    condition = (
                        PaperModel.item_id.does_not_exist()
                        if entry.version == 0
                        else PaperModel.version == entry.version - 1
                    )
                    tx.save(_entry_item(entry), condition=condition, label="entry")
                tx.save(_audit_from(after.cycle_id, audit), condition=_NEW_AUDIT)
                if ledger:
                    tx.update(
                        PaperModel(after.cycle_id, LEDGER),
                        actions=[PaperModel.pending.add(ledger)],
                    )
        except TransactWriteError as exc:
            if tx.failed(exc) & {"batch", "entry"}:
                raise StaleVersion(
                    "The batch changed meanwhile; read it again.", field="batch_id"
                ) from exc
            raise _translate(exc) from exc

    def write_paper_sheets(
        self, cycle: Cycle, batch: Batch, writes: list[SheetWrite]
    ) -> None:
        """Write the ballots and voter marks of a group of counted sheets.

        One transaction (at most 100 items: the caller sizes the group),
        checking that the cycle is still before its tally with the same
        ballot and that the batch is still ``committing``. Raises
        ``SheetsNotWritten`` naming sheets whose ballot exists already or
        whose voter has a mark, ``StaleVersion`` (the batch is no longer
        being counted), ``PhaseClosed`` or ``Unavailable``.
        """
        open_for_paper = CycleModel.phase.is_in(*(p.value for p in ENTRY_PHASES)) & (
            CycleModel.ballot_hash == cycle.ballot_hash
        )
        try:
            with self._transaction() as tx:
                tx.condition_check(
                    CycleModel, cycle.cycle_id, condition=open_for_paper, label="cycle"
                )
                tx.condition_check(
                    PaperModel,
                    batch.cycle_id,
                    f"batch#{batch.batch_id}",
                    condition=PaperModel.status == COMMITTING,
                    label="batch",
                )
                for write in writes:
                    # The ballot before the mark: a retried sheet fails on it first.
                    tx.save(
                        BallotModel(
                            cycle.cycle_id,
                            write.ballot_id,
                            selections=list(write.selections),
                            ballot_hash=cycle.ballot_hash,
                            cast_on=write.cast_on,
                        ),
                        condition=BallotModel.ballot_id.does_not_exist(),
                        label=f"ballot#{write.sheet}",
                    )
                    if write.voter_key:
                        tx.save(
                            VoterMarkModel(
                                write.voter_key,
                                cycle_id=cycle.cycle_id,
                                voted_on=write.cast_on,
                                channel=CHANNEL,
                                neighbourhood=write.neighbourhood,
                                age_bracket=write.age_bracket,
                            ),
                            condition=VoterMarkModel.voter_key.does_not_exist(),
                            label=f"mark#{write.sheet}",
                        )
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if "batch" in failed:
                raise StaleVersion(
                    "The batch is no longer being counted.", field="batch_id"
                ) from exc
            if "cycle" in failed:
                raise PhaseClosed(
                    "Paper entry is closed: the tally has started.", field="phase"
                ) from exc
            counted = {
                int(label[7:]) for label in failed if label.startswith("ballot#")
            }
            marked = {int(label[5:]) for label in failed if label.startswith("mark#")}
            if counted or marked:
                raise SheetsNotWritten(
                    counted=counted, duplicates=marked - counted
                ) from exc
            raise _translate(exc) from exc

    def seal_paper(self, cycle_id: str, *, now: datetime) -> bool:
        """Close paper entry of a cycle for its tally if no batch is pending.

        Returns whether entry is closed (now or before). The write is
        conditional on the ledger's pending count being zero, so it never
        races a batch being registered; the ledger keeps when it was sealed
        (the phase change that follows is what the audit log records).
        """
        if self.paper_sealed(cycle_id):
            return True
        try:
            with self._transaction() as tx:
                tx.update(
                    PaperModel(cycle_id, LEDGER),
                    actions=[
                        PaperModel.sealed.set(True),
                        PaperModel.document.set({"sealed_at": format_time(now)}),
                    ],
                    condition=(
                        PaperModel.pending.does_not_exist() | (PaperModel.pending == 0)
                    )
                    & _NOT_SEALED,
                    label="ledger",
                )
        except TransactWriteError as exc:
            if "ledger" in tx.failed(exc):
                return self.paper_sealed(cycle_id)
            raise _translate(exc) from exc
        return True

    def paper_sealed(self, cycle_id: str) -> bool:
        """Whether paper entry of ``cycle_id`` is closed for the tally."""
        try:
            item = PaperModel.get(cycle_id, LEDGER, consistent_read=True)
        except DoesNotExist:
            return False
        except GetError as exc:
            raise _translate(exc) from exc
        return bool(item.sealed)

    # -- verification: one-time codes and rate counters ---------------------

    def start_challenge(
        self, challenge: Challenge, *, counters: list[RateCounter]
    ) -> None:
        """Count one request on each of ``counters`` and store ``challenge``,
        in one transaction; raises ``LimitReached`` (naming the first full
        counter's scope; nothing is written) or ``Unavailable``."""
        item = VerificationModel(
            f"otp#{challenge.challenge_id}",
            cycle_id=challenge.cycle_id,
            subject=challenge.subject,
            kind=challenge.kind,
            secret_hash=challenge.secret_hash,
            attempts=0,
            used=False,
            expires_at=challenge.expires_at,
        )
        try:
            with self._transaction() as tx:
                for rate in counters:
                    tx.update(
                        VerificationModel(rate.key),
                        actions=_count_actions(rate),
                        condition=_below(rate),
                        label=rate.scope,
                    )
                tx.save(
                    item, condition=VerificationModel.pk.does_not_exist(), label="otp"
                )
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            for rate in counters:
                if rate.scope in failed:
                    raise LimitReached(rate.scope) from exc
            raise _translate(exc) from exc

    def count_request(self, rate: RateCounter) -> None:
        """Count one request on ``rate``; raises ``LimitReached`` when it is full."""
        try:
            VerificationModel(rate.key).update(
                actions=_count_actions(rate), condition=_below(rate)
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                raise LimitReached(rate.scope) from exc
            raise _translate(exc) from exc

    def try_challenge(
        self, challenge_id: str, *, now: int, max_attempts: int
    ) -> Challenge:
        """Spend one try of a live challenge; return it with the try counted.

        Atomic: the count goes up only while the challenge exists, is unused,
        unexpired and has tries left, so parallel guesses get no more than
        ``max_attempts``. Raises ``ChallengeRefused`` (``missing``, ``used``,
        ``expired``, ``exhausted``) or ``Unavailable``.
        """
        field = VerificationModel
        item = VerificationModel(f"otp#{challenge_id}")
        live = (
            field.pk.exists()
            & field.secret_hash.exists()
            & ~(field.used == True)  # noqa: E712 (a PynamoDB condition)
            & (field.attempts < max_attempts)
            & (field.expires_at > now)
        )
        try:
            item.update(actions=[field.attempts.add(1)], condition=live)
        except UpdateError as exc:
            if not _condition_failed(exc):
                raise _translate(exc) from exc
            raise ChallengeRefused(
                self._why_refused(challenge_id, now, max_attempts)
            ) from exc
        return Challenge(
            challenge_id=challenge_id,
            cycle_id=item.cycle_id or "",
            subject=item.subject or "",
            kind=item.kind or "",
            secret_hash=item.secret_hash or "",
            attempts=int(item.attempts or 0),
            expires_at=int(item.expires_at or 0),
        )

    def close_challenge(self, challenge_id: str) -> None:
        """Mark a challenge used and forget whose it was; raises
        ``ChallengeRefused("used")`` if it was used already.

        The voter key leaves the item here: kept next to the challenge's
        expiry, it would tell to the minute when that resident verified, and
        so about when they voted.
        """
        field = VerificationModel
        try:
            VerificationModel(f"otp#{challenge_id}").update(
                actions=[field.used.set(True), field.subject.remove()],
                condition=field.pk.exists() & ~(field.used == True),  # noqa: E712
            )
        except UpdateError as exc:
            if _condition_failed(exc):
                raise ChallengeRefused("used") from exc
            raise _translate(exc) from exc

    def _why_refused(self, challenge_id: str, now: int, max_attempts: int) -> str:
        try:
            item = VerificationModel.get(f"otp#{challenge_id}", consistent_read=True)
        except DoesNotExist:
            return "missing"
        except GetError as exc:
            raise _translate(exc) from exc
        if not item.secret_hash:
            return "missing"
        if item.used:
            return "used"
        if (item.expires_at or 0) <= now:
            return "expired"
        if (item.attempts or 0) >= max_attempts:
            return "exhausted"
        return "missing"  # it changed between the two reads; nothing to tell

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

    def phase_openings(self, cycle_id: str) -> dict[Phase, datetime]:
        """When each phase of ``cycle_id`` actually opened, from its audit log.

        Every phase change, by staff or the phase clock, is audited as
        ``phase_changed`` with the phase entered; the latest entry into a
        phase wins. Phases never entered are absent.
        """
        # Known limit: DynamoDB applies the filter after reading, so this
        # still reads the whole audit partition of the cycle (refusals and
        # exports included): fine for thousands of entries, not millions.
        opened: dict[Phase, datetime] = {}
        try:
            for entry in AuditModel.query(
                cycle_id,
                consistent_read=True,
                filter_condition=AuditModel.action == "phase_changed",
            ):
                phase = (entry.after or {}).get("phase")
                if phase in Phase._value2member_map_:
                    opened[Phase(phase)] = parse_time(entry.at, field="at")
        except QueryError as exc:
            raise _translate(exc) from exc
        return opened

    # -- access codes ---------------------------------------------------
    # Batches of printed codes: made, listed and revoked by staff and pbctl
    # (chalicelib.codebatches). Only code_key values are stored, never codes.
    # Items: ``code#<cycle>#<code_key>`` (subject = batch id, used),
    # ``batch#<cycle>#<batch_id>`` (site, count, used_count, status, reason)
    # and ``batches#<cycle>``, the set of the cycle's batch ids.
    # Redemption (find_access_code here, _redeem inside record_ballot) is the
    # cast path's.

    def find_access_code(self, cycle_id: str, code_key: str) -> AccessCodeUse | None:
        """The items to redeem for an access code, or ``None`` for an unknown one.

        A used code is returned too: the ballot's transaction refuses it,
        after first recognising a retry of the ballot that used it.
        """
        pk = f"code#{cycle_id}#{code_key}"
        try:
            item = VerificationModel.get(pk, consistent_read=True)
        except DoesNotExist:
            return None
        except GetError as exc:
            raise _translate(exc) from exc
        if item.cycle_id != cycle_id or not item.subject:
            return None
        return AccessCodeUse(pk, f"batch#{cycle_id}#{item.subject}")

    def create_access_code_batch(
        self,
        batch: CodeBatch,
        code_keys: Sequence[str],
        *,
        actor: str,
        now: datetime,
    ) -> None:
        """Store ``batch`` (whose codes' keys are ``code_keys``), audited.

        The code items go first, in transactions of up to 100; the batch
        item (status ``active``), the cycle's list of batches and the audit
        entry go last, in one transaction that also checks the cycle is
        still in a phase that makes codes. Redeeming a code needs its batch
        item to be active, so a batch interrupted before its last write has
        codes that never work: it is unusable, never half-usable. Calling
        again with the same batch finishes it, and once it is stored changes
        nothing (idempotent on the batch id).

        Raises ``Conflict`` (``BATCH_EXISTS``: the id is another batch's),
        ``PhaseClosed`` (the cycle left the generation phases meanwhile) or
        ``Unavailable`` (AWS busy, or a code collided with one issued before,
        which a new batch avoids).
        """
        if len(code_keys) != batch.count:
            raise ValueError("one key per code")
        if self._stored_batch_matches(batch):
            return
        codes = [
            VerificationModel(
                _code_pk(batch.cycle_id, key),
                cycle_id=batch.cycle_id,
                subject=batch.batch_id,
                site=batch.site,
                created_on=batch.created_on,
                used=False,
            )
            for key in code_keys
        ]
        # A retry may rewrite its own unused codes; any other existing item
        # under the same key is a collision (60 random bits make it unheard of).
        own_or_new = VerificationModel.pk.does_not_exist() | (
            (VerificationModel.subject == batch.batch_id)
            & (VerificationModel.used == False)  # noqa: E712 (a condition)
        )
        for start in range(0, len(codes), _TRANSACTION_ITEMS):
            try:
                with self._transaction() as tx:
                    for item in codes[start : start + _TRANSACTION_ITEMS]:
                        tx.save(item, condition=own_or_new, label="code")
            except TransactWriteError as exc:
                if "code" in tx.failed(exc):
                    logger.error(
                        "access code collided", extra={"batch": batch.batch_id}
                    )
                    raise Unavailable(
                        "A code collided with one issued before; ask for the "
                        "batch again.",
                        retry_after=0,
                    ) from exc
                raise _translate(exc) from exc

        item = VerificationModel(
            _batch_pk(batch.cycle_id, batch.batch_id),
            cycle_id=batch.cycle_id,
            site=batch.site,
            count=batch.count,
            used_count=0,
            status=ACTIVE,
            created_on=batch.created_on,
        )
        audit = _audit_item(
            batch.cycle_id,
            now,
            actor,
            "access_codes_generated",
            "",
            None,
            {"batch_id": batch.batch_id, "site": batch.site, "count": batch.count},
        )
        in_generation = CycleModel.phase.is_in(*(p.value for p in GENERATION_PHASES))
        try:
            with self._transaction() as tx:
                tx.condition_check(
                    CycleModel, batch.cycle_id, condition=in_generation, label="cycle"
                )
                tx.save(
                    item, condition=VerificationModel.pk.does_not_exist(), label="batch"
                )
                tx.update(
                    VerificationModel(_batches_pk(batch.cycle_id)),
                    actions=[
                        VerificationModel.cycle_id.set(batch.cycle_id),
                        VerificationModel.batch_ids.add({batch.batch_id}),
                    ],
                )
                tx.save(audit, condition=AuditModel.entry_id.does_not_exist())
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if "batch" in failed:
                if self._stored_batch_matches(batch):
                    return
                raise Conflict(
                    "A batch with this id exists already.",
                    field="batch_id",
                    code="BATCH_EXISTS",
                ) from exc
            if "cycle" in failed:
                raise PhaseClosed(
                    "The cycle left the phases that make access codes.",
                    field="phase",
                ) from exc
            raise _translate(exc) from exc

    def list_access_code_batches(self, cycle_id: str) -> list[BatchSummary]:
        """The batches of ``cycle_id`` (consistent reads), oldest first.

        Raises ``Unavailable``. An unknown cycle simply has none.
        """
        # Known limit: one GetItem per batch (BatchGetItem would need another
        # IAM action); fine for the dozens of batches a cycle prints.
        index = _get_verification(_batches_pk(cycle_id))
        summaries = []
        for batch_id in sorted(index.batch_ids or ()) if index else ():
            item = _get_verification(_batch_pk(cycle_id, batch_id))
            if item is not None:
                summaries.append(_batch_summary(cycle_id, batch_id, item))
        return summaries

    def get_access_code_batch(self, cycle_id: str, batch_id: str) -> BatchSummary:
        """One batch; raises ``NotFound`` (field ``batch_id``)."""
        item = _get_verification(_batch_pk(cycle_id, batch_id))
        if item is None:
            raise NotFound("There is no such batch.", field="batch_id")
        return _batch_summary(cycle_id, batch_id, item)

    def revoke_access_code_batch(
        self, cycle_id: str, batch_id: str, *, reason: str, actor: str, now: datetime
    ) -> BatchSummary:
        """Mark a batch ``revoked`` with ``reason``, audited in the same write.

        Its unused codes stop working; used ones stay counted. Returns the
        revoked batch. Raises ``NotFound``, ``Conflict`` (``ALREADY_REVOKED``)
        or ``Unavailable``.
        """
        before = self.get_access_code_batch(cycle_id, batch_id)
        if before.status != ACTIVE:
            raise _already_revoked()
        audit = _audit_item(
            cycle_id,
            now,
            actor,
            "access_codes_revoked",
            reason,
            {"batch_id": batch_id, "status": ACTIVE, "used_count": before.used_count},
            {"batch_id": batch_id, "status": REVOKED},
        )
        try:
            with self._transaction() as tx:
                tx.update(
                    VerificationModel(_batch_pk(cycle_id, batch_id)),
                    actions=[
                        VerificationModel.status.set(REVOKED),
                        VerificationModel.reason.set(reason),
                    ],
                    condition=VerificationModel.status == ACTIVE,
                    label="batch",
                )
                tx.save(audit, condition=AuditModel.entry_id.does_not_exist())
        except TransactWriteError as exc:
            if "batch" in tx.failed(exc):
                raise _already_revoked() from exc
            raise _translate(exc) from exc
        return self.get_access_code_batch(cycle_id, batch_id)

    def _stored_batch_matches(self, batch: CodeBatch) -> bool:
        """True if ``batch`` is stored already; ``Conflict`` if its id is taken."""
        item = _get_verification(_batch_pk(batch.cycle_id, batch.batch_id))
        if item is None:
            return False
        if (item.site, item.count, item.created_on) != (
            batch.site,
            batch.count,
            batch.created_on,
        ):
            raise Conflict(
                "A batch with this id exists already.",
                field="batch_id",
                code="BATCH_EXISTS",
            )
        return True

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

    def condition_check(
        self, model, key, range_key=None, *, condition, label: str = ""
    ) -> None:
        self._operations.append(
            (
                "condition_check",
                label,
                (model, key, range_key),
                {"condition": condition},
            )
        )

    def update(self, item, *, actions, condition=None, label: str = "") -> None:
        self._operations.append(
            ("update", label, (item,), {"actions": actions, "condition": condition})
        )

    def failed(self, error: TransactWriteError) -> set[str]:
        """Labels of the operations whose condition failed.

        PynamoDB sends condition checks first, then puts, then updates,
        whatever order they were added in; cancellation reasons follow the
        order sent.
        """
        sent = [
            op
            for kind in ("condition_check", "save", "update")
            for op in self._operations
            if op[0] == kind
        ]
        sent = [op for op in self._operations if op[0] == "condition_check"]
        sent += [op for op in self._operations if op[0] == "save"]
        sent += [op for op in self._operations if op[0] == "update"]
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


def access_code_not_valid() -> InvalidInput:
    """One answer for an unknown, used or revoked code, so none can be probed."""
    return InvalidInput(
        "This access code cannot be used. Check it, or ask the staff who gave "
        "it to you for help.",
        field="voter.value",
        code="ACCESS_CODE_NOT_VALID",
    )


def _redeem(tx: _RetryingTransaction, use: AccessCodeUse) -> None:
    field = VerificationModel
    tx.update(
        VerificationModel(use.code_pk),
        actions=[field.used.set(True)],
        condition=field.pk.exists() & ~(field.used == True),  # noqa: E712
        label="code",
    )
    tx.update(
        VerificationModel(use.batch_pk),
        actions=[field.used_count.add(1)],
        condition=field.pk.exists() & (field.status == "active"),
        label="batch",
    )


def _count_actions(rate: RateCounter) -> list:
    return [
        VerificationModel.count.add(1),
        VerificationModel.expires_at.set(rate.expires_at),
    ]


def _below(rate: RateCounter):
    return VerificationModel.count.does_not_exist() | (
        VerificationModel.count < rate.limit
    )


def _condition_failed(exc: PynamoDBException) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _audit_query(cycle_id: str):
    try:
        yield from AuditModel.query(cycle_id, consistent_read=True)
    except QueryError as exc:
        raise _translate(exc) from exc


_NEW_AUDIT = AuditModel.entry_id.does_not_exist()
_NOT_SEALED = PaperModel.sealed.does_not_exist() | (PaperModel.sealed == False)  # noqa: E712


def _paper_query(cycle_id: str, prefix: str):
    try:
        yield from PaperModel.query(
            cycle_id, PaperModel.item_id.startswith(prefix), consistent_read=True
        )
    except QueryError as exc:
        raise _translate(exc) from exc


def _paper_item(record: Batch | Entry, item_id: str) -> PaperModel:
    """A batch or entry as its paper-table item: status and version as
    attributes (conditions read them), the rest as its document."""
    return PaperModel(
        record.cycle_id,
        item_id,
        version=record.version,
        status=record.status,
        document=record.to_dict(),
    )


def _from_paper_item(kind: type[Batch] | type[Entry], item: PaperModel):
    return kind.from_dict(
        item.cycle_id,
        item.document or {},
        status=item.status,
        version=int(item.version),
    )


def _batch_item(batch: Batch) -> PaperModel:
    return _paper_item(batch, f"batch#{batch.batch_id}")


def _entry_item(entry: Entry) -> PaperModel:
    return _paper_item(entry, f"entry#{entry.batch_id}#{entry.entry_id}")


def _batch_from_item(item: PaperModel) -> Batch:
    return _from_paper_item(Batch, item)


def _entry_from_item(item: PaperModel) -> Entry:
    return _from_paper_item(Entry, item)


def _audit_from(cycle_id: str, audit: dict) -> AuditModel:
    return _audit_item(
        cycle_id,
        audit["now"],
        audit["actor"],
        audit["action"],
        audit["reason"],
        audit["before"],
        audit["after"],
    )


def _cycle_summary(cycle: Cycle) -> dict:
    """What the audit log keeps of a new cycle: its rules, not its texts."""
    return {
        "phase": cycle.phase.value,
        "version": cycle.version,
        "budget_cap": cycle.budget_cap,
        "selection_limit": cycle.selection_limit,
        "min_voting_age": cycle.min_voting_age,
        "languages": list(cycle.languages),
        "verification": list(cycle.verification),
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


def _code_pk(cycle_id: str, code_key: str) -> str:
    return f"code#{cycle_id}#{code_key}"


def _batch_pk(cycle_id: str, batch_id: str) -> str:
    return f"batch#{cycle_id}#{batch_id}"


def _batches_pk(cycle_id: str) -> str:
    return f"batches#{cycle_id}"


def _get_verification(pk: str) -> VerificationModel | None:
    try:
        return VerificationModel.get(pk, consistent_read=True)
    except DoesNotExist:
        return None
    except GetError as exc:
        raise _translate(exc) from exc


def _batch_summary(cycle_id: str, batch_id: str, item) -> BatchSummary:
    return BatchSummary(
        cycle_id=cycle_id,
        batch_id=batch_id,
        site=item.site or "",
        created_on=item.created_on or "",
        count=int(item.count or 0),
        used_count=int(item.used_count or 0),
        status=item.status or "",
        reason=item.reason or "",
    )


def _already_revoked() -> Conflict:
    return Conflict(
        "This batch is revoked already.", field="batch_id", code="ALREADY_REVOKED"
    )
