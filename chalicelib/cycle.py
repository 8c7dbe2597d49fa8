"""A PB cycle: its rules, its phase calendar and the one state machine.

A cycle moves through the phases in ``PHASES`` order, one step at a time,
starting from ``SCHEDULED`` (nothing open yet). Every move, whether a person
or the phase clock asks for it, goes through :func:`advance`, which checks
that the move is legal and returns the changed cycle together with a
:class:`Transition` record for the audit log. Storage applies it with a
conditional write on ``version`` so that two callers cannot both move it.

Pure: no AWS, no Chalice. Times are timezone-aware UTC ``datetime`` values.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from chalicelib.errors import IllegalTransition, InvalidInput
from chalicelib.tally import RULES, TIE_BREAKS, VOTE_TYPES


class Phase(enum.StrEnum):
    SCHEDULED = "scheduled"
    IDEA_COLLECTION = "idea_collection"
    PRIORITIES = "priorities"
    ELIGIBILITY_REVIEW = "eligibility_review"
    VISIONING = "visioning"
    BALLOT_REVIEW = "ballot_review"
    VOTING = "voting"
    TALLY = "tally"
    RESULTS = "results"
    IMPLEMENTATION = "implementation"


#: The calendar phases, in the only order a cycle may take them.
PHASES: tuple[Phase, ...] = tuple(p for p in Phase if p is not Phase.SCHEDULED)

_CYCLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Letters, digits and . _ / - (pabulib's ids use digits, letters, . and /):
# a comma would split a published ballot's vote list, and =, +, @ would start
# a spreadsheet formula in result.csv.
_PROPOSAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")

#: How a resident may prove who they are before voting (docs/verification.md):
#: a one-time code by text or email, a printed access code, an event
#: volunteer in person, or ``attested``, the resident's own word (a phone or
#: email given without any code, for cycles that accept it and for replaying
#: published elections). ``attested`` is never in the default.
VERIFICATION_METHODS = ("sms", "email", "access_code", "in_person", "attested")
DEFAULT_VERIFICATION = ("sms", "email", "access_code", "in_person")


@dataclasses.dataclass(frozen=True)
class PhaseWindow:
    start: datetime
    end: datetime


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One line of the ballot. ``title`` and ``summary`` map language to text."""

    proposal_id: str
    cost: int
    title: Mapping[str, str]
    summary: Mapping[str, str] = dataclasses.field(default_factory=dict)
    department: str = ""

    def to_dict(self) -> dict:
        return {
            "proposal_id": self.proposal_id,
            "cost": self.cost,
            "title": dict(self.title),
            "summary": dict(self.summary),
            "department": self.department,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Proposal:
        return cls(
            proposal_id=str(data["proposal_id"]),
            cost=data["cost"],  # validate_cycle refuses non-integers; no coercion
            title=dict(data.get("title") or {}),
            summary=dict(data.get("summary") or {}),
            department=str(data.get("department") or ""),
        )


@dataclasses.dataclass(frozen=True)
class Transition:
    """What the audit log records of one phase change."""

    cycle_id: str
    from_phase: Phase
    to_phase: Phase
    at: datetime
    actor: str
    reason: str
    from_version: int


@dataclasses.dataclass(frozen=True)
class Cycle:
    cycle_id: str
    name: str
    budget_cap: int
    selection_limit: int
    min_voting_age: int
    calendar: Mapping[Phase, PhaseWindow]
    proposals: tuple[Proposal, ...] = ()
    phase: Phase = Phase.SCHEDULED
    version: int = 0
    vote_type: str = "approval"
    rule: str = "greedy"
    tie_break: str = "ballot-order"
    min_project_score: int = 0
    timezone: str = "America/New_York"
    languages: tuple[str, ...] = ("en",)
    #: Publish each ballot's selections next to its receipt hash. Off by
    #: default: with it a voter can prove to anyone how they voted, which
    #: weakens resistance to coercion and vote buying (docs/verification.md).
    receipts_with_selections: bool = False
    ballot_hash: str = ""
    result_hash: str = ""
    verification: tuple[str, ...] = DEFAULT_VERIFICATION

    def __post_init__(self) -> None:
        validate_cycle(self)

    @property
    def first_voting_day(self) -> date:
        """The local calendar date voting opens, for the minimum-age check."""
        start = self.calendar[Phase.VOTING].start
        return start.astimezone(ZoneInfo(self.timezone)).date()

    def proposal(self, proposal_id: str) -> Proposal | None:
        for proposal in self.proposals:
            if proposal.proposal_id == proposal_id:
                return proposal
        return None

    def window(self) -> PhaseWindow | None:
        return self.calendar.get(self.phase)

    def offers(self, method: str) -> bool:
        """Whether residents of this cycle may prove who they are by ``method``."""
        return method in self.verification


def validate_cycle(cycle: Cycle) -> None:
    """Raise :class:`InvalidInput` naming the field of ``cycle`` that is wrong."""
    _require(bool(cycle.cycle_id), "cycle_id", "A cycle needs an id.")
    _require(
        _CYCLE_ID.fullmatch(cycle.cycle_id) is not None,
        "cycle_id",
        "A cycle id starts with a letter or digit and holds only ASCII letters, "
        "digits, '-' and '_' (64 at most).",
    )
    _require(
        _is_int(cycle.budget_cap) and cycle.budget_cap > 0,
        "budget_cap",
        "The budget cap is a positive whole number.",
    )
    _require(
        _is_int(cycle.selection_limit) and cycle.selection_limit >= 1,
        "selection_limit",
        "The selection limit is at least 1.",
    )
    _require(
        _is_int(cycle.min_voting_age) and 0 <= cycle.min_voting_age <= 120,
        "min_voting_age",
        "The minimum voting age is between 0 and 120.",
    )
    _require(
        cycle.vote_type in VOTE_TYPES,
        "vote_type",
        f"The vote type is one of {', '.join(VOTE_TYPES)}.",
    )
    _require(cycle.rule in RULES, "rule", f"The rule is one of {', '.join(RULES)}.")
    _require(
        cycle.tie_break in TIE_BREAKS,
        "tie_break",
        f"The tie-break is one of {', '.join(TIE_BREAKS)}.",
    )
    _require(
        _is_int(cycle.min_project_score) and cycle.min_project_score >= 0,
        "min_project_score",
        "The minimum project score is a whole number.",
    )
    _require(
        isinstance(cycle.receipts_with_selections, bool),
        "receipts_with_selections",
        "receipts_with_selections is true or false.",
    )
    _require(isinstance(cycle.phase, Phase), "phase", "Unknown phase.")
    _validate_verification(cycle.verification)
    try:
        ZoneInfo(cycle.timezone)
    except (KeyError, ValueError) as exc:
        raise InvalidInput("Unknown time zone.", field="timezone") from exc
    _validate_calendar(cycle.calendar)
    _validate_proposals(cycle.proposals)


def _validate_verification(methods: object) -> None:
    message = (
        "Verification is a non-empty list of distinct methods from "
        f"{', '.join(VERIFICATION_METHODS)}."
    )
    _require(
        isinstance(methods, tuple)
        and bool(methods)
        and all(isinstance(m, str) and m in VERIFICATION_METHODS for m in methods)
        and len(set(methods)) == len(methods),
        "verification",
        message,
    )


def _validate_calendar(calendar: Mapping[Phase, PhaseWindow]) -> None:
    missing = [p.value for p in PHASES if p not in calendar]
    _require(not missing, "calendar", f"The calendar lacks: {', '.join(missing)}.")
    previous_end = None
    for phase in PHASES:
        window = calendar[phase]
        field = f"calendar.{phase.value}"
        _require(
            window.start.tzinfo is not None and window.end.tzinfo is not None,
            field,
            "Phase times need a time zone.",
        )
        _require(window.start < window.end, field, "A phase must end after it starts.")
        if previous_end is not None:
            _require(
                window.start >= previous_end,
                field,
                "Phases must follow one another without overlapping.",
            )
        previous_end = window.end


def _validate_proposals(proposals: tuple[Proposal, ...]) -> None:
    seen: set[str] = set()
    for index, proposal in enumerate(proposals):
        field = f"proposals[{index}]"
        _require(
            isinstance(proposal.proposal_id, str)
            and _PROPOSAL_ID.fullmatch(proposal.proposal_id) is not None,
            f"{field}.proposal_id",
            "A proposal id is 1 to 64 letters, digits, '.', '_', '/' or '-', "
            "starting with a letter or digit.",
        )
        _require(
            proposal.department == "" or _is_plain(proposal.department, 120),
            f"{field}.department",
            "A department is at most 120 visible characters.",
        )
        _require(
            proposal.proposal_id not in seen,
            f"{field}.proposal_id",
            "Proposal ids must be distinct.",
        )
        seen.add(proposal.proposal_id)
        _require(
            _is_int(proposal.cost) and proposal.cost >= 0,
            f"{field}.cost",
            "A cost is a whole number of dollars, zero or more.",
        )
        _require(
            bool(proposal.title.get("en")),
            f"{field}.title",
            "A proposal needs an English title.",
        )


def _is_plain(text: object, limit: int) -> bool:
    """Non-empty text of at most ``limit`` characters, trimmed, with no control,
    format or unassigned characters (no terminal escapes, no bidi overrides)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= limit
        and text == text.strip()
        and not any(unicodedata.category(c)[0] == "C" for c in text)
    )


def _require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise InvalidInput(message, field=field)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the state machine ------------------------------------------------------


def next_phase(phase: Phase) -> Phase | None:
    """The phase after ``phase``, or ``None`` after the last."""
    order = (Phase.SCHEDULED, *PHASES)
    index = order.index(phase)
    return order[index + 1] if index + 1 < len(order) else None


def advance(
    cycle: Cycle,
    to_phase: Phase,
    *,
    now: datetime,
    actor: str,
    reason: str,
    result_hash: str = "",
) -> tuple[Cycle, Transition]:
    """Move ``cycle`` one step to ``to_phase``.

    Returns the changed cycle (``version`` + 1) and the transition record.
    Opening voting freezes the ballot and records its hash; leaving the tally
    needs the hash of the published result. Raises :class:`IllegalTransition`
    for any other move.
    """
    if next_phase(cycle.phase) is not to_phase:
        raise IllegalTransition(
            f"A cycle in {cycle.phase.value} cannot move to {to_phase.value}.",
            field="phase",
        )
    changes: dict = {"phase": to_phase, "version": cycle.version + 1}
    if to_phase is Phase.VOTING:
        if not cycle.proposals:
            raise IllegalTransition(
                "Voting cannot open on an empty ballot.", field="proposals"
            )
        changes["ballot_hash"] = ballot_hash(cycle)
    if to_phase is Phase.RESULTS:
        if not result_hash:
            raise IllegalTransition("Results need a published tally.", field="result")
        changes["result_hash"] = result_hash
    transition = Transition(
        cycle_id=cycle.cycle_id,
        from_phase=cycle.phase,
        to_phase=to_phase,
        at=now,
        actor=actor,
        reason=reason,
        from_version=cycle.version,
    )
    return dataclasses.replace(cycle, **changes), transition


def due_phase(cycle: Cycle, now: datetime) -> Phase | None:
    """The phase the clock should open now, or ``None`` if nothing is due.

    The scheduled state ends when idea collection starts; every phase ends at
    its calendar end. Leaving the tally also needs a published result, which
    :func:`advance` insists on.
    """
    if cycle.phase is Phase.SCHEDULED:
        return Phase.IDEA_COLLECTION if now >= cycle.calendar[PHASES[0]].start else None
    following = next_phase(cycle.phase)
    if following is None:
        return None
    return following if now >= cycle.calendar[cycle.phase].end else None


def ballot_document(cycle: Cycle) -> dict:
    """The frozen ballot: everything a voter's choice is measured against.

    ``receipts_with_selections`` is part of it only when switched on, so the
    voter is told before voting, and the hash of a default cycle's ballot is
    what it was before the setting existed.
    """
    document = {
        "cycle_id": cycle.cycle_id,
        "budget_cap": cycle.budget_cap,
        "selection_limit": cycle.selection_limit,
        "min_voting_age": cycle.min_voting_age,
        "vote_type": cycle.vote_type,
        "rule": cycle.rule,
        "tie_break": cycle.tie_break,
        "min_project_score": cycle.min_project_score,
        "proposals": [p.to_dict() for p in cycle.proposals],
    }
    if cycle.receipts_with_selections:
        document["receipts_with_selections"] = True
    return document


def ballot_hash(cycle: Cycle) -> str:
    """SHA-256 of the canonical JSON of :func:`ballot_document`."""
    return (
        "sha256:" + hashlib.sha256(canonical_json(ballot_document(cycle))).hexdigest()
    )


def canonical_json(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


# -- serialisation ----------------------------------------------------------


#: Years a cycle's times may fall in: wide enough for any real calendar,
#: narrow enough that every time formats and parses back the same.
YEARS = range(2000, 2101)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, *, field: str = "time") -> datetime:
    """Parse an ISO 8601 time with an offset (``Z`` allowed) into UTC."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            "Times are ISO 8601 with a zone, like 2027-01-15T09:00:00-05:00.",
            field=field,
            code="INVALID_TIME",
        ) from exc
    if moment.tzinfo is None:
        raise InvalidInput(
            "Times need a time zone offset.", field=field, code="INVALID_TIME"
        )
    if moment.year not in YEARS:
        raise InvalidInput(
            f"Times fall between {YEARS[0]} and {YEARS[-1]}.",
            field=field,
            code="INVALID_TIME",
        )
    return moment


def calendar_to_dict(calendar: Mapping[Phase, PhaseWindow]) -> dict:
    return {
        phase.value: {"start": format_time(w.start), "end": format_time(w.end)}
        for phase, w in calendar.items()
    }


def calendar_from_dict(data: Mapping) -> dict[Phase, PhaseWindow]:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "The calendar maps phases to start and end.", field="calendar"
        )
    calendar = {}
    for name, window in data.items():
        try:
            phase = Phase(name)
        except ValueError as exc:
            raise InvalidInput(f"Unknown phase {name!r}.", field="calendar") from exc
        field = f"calendar.{name}"
        if not isinstance(window, Mapping) or set(window) != {"start", "end"}:
            raise InvalidInput("A phase has exactly a start and an end.", field=field)
        calendar[phase] = PhaseWindow(
            parse_time(window["start"], field=f"{field}.start"),
            parse_time(window["end"], field=f"{field}.end"),
        )
    return calendar


def cycle_to_dict(cycle: Cycle) -> dict:
    return {
        "cycle_id": cycle.cycle_id,
        "name": cycle.name,
        "budget_cap": cycle.budget_cap,
        "selection_limit": cycle.selection_limit,
        "min_voting_age": cycle.min_voting_age,
        "calendar": calendar_to_dict(cycle.calendar),
        "proposals": [p.to_dict() for p in cycle.proposals],
        "phase": cycle.phase.value,
        "version": cycle.version,
        "vote_type": cycle.vote_type,
        "rule": cycle.rule,
        "tie_break": cycle.tie_break,
        "min_project_score": cycle.min_project_score,
        "timezone": cycle.timezone,
        "languages": list(cycle.languages),
        "receipts_with_selections": cycle.receipts_with_selections,
        "ballot_hash": cycle.ballot_hash,
        "result_hash": cycle.result_hash,
        "verification": list(cycle.verification),
    }


def _methods(value: object) -> tuple:
    """A list of methods as the tuple a cycle holds (validated by the cycle)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def cycle_from_dict(data: Mapping) -> Cycle:
    """Build a cycle from stored or submitted data; raises :class:`InvalidInput`."""
    try:
        return Cycle(
            cycle_id=str(data["cycle_id"]),
            name=str(data.get("name") or data["cycle_id"]),
            budget_cap=data["budget_cap"],
            selection_limit=data["selection_limit"],
            min_voting_age=data["min_voting_age"],
            calendar=calendar_from_dict(data["calendar"]),
            proposals=tuple(Proposal.from_dict(p) for p in data.get("proposals", ())),
            phase=Phase(data.get("phase", Phase.SCHEDULED.value)),
            version=int(data.get("version", 0)),
            vote_type=data.get("vote_type", "approval"),
            rule=data.get("rule", "greedy"),
            tie_break=data.get("tie_break", "ballot-order"),
            min_project_score=data.get("min_project_score", 0),
            timezone=data.get("timezone", "America/New_York"),
            languages=tuple(data.get("languages", ("en",))),
            receipts_with_selections=data.get("receipts_with_selections", False),
            ballot_hash=data.get("ballot_hash", ""),
            result_hash=data.get("result_hash", ""),
            verification=_methods(data.get("verification", DEFAULT_VERIFICATION)),
        )
    except KeyError as exc:
        raise InvalidInput("A cycle field is missing.", field=str(exc.args[0])) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"A cycle field is malformed: {exc}", field="cycle") from exc
