"""What office staff do to a cycle: create it, move its phases, edit its calendar.

Every function validates its input completely before it writes anything, and
writes through the store in one transaction with its audit entry. Phases
move only through :func:`chalicelib.cycle.advance`, the state machine the
phase clock uses; staff name the step they mean:

- ``close`` a phase: the cycle must be in that phase; it moves to the next.
- ``open`` a phase: the cycle must be in the phase just before it (or
  ``scheduled``, for idea collection); it moves into it.
- ``advance``: one step from wherever the cycle is, guarded by ``version``
  (required) so that a repeated click cannot move it twice.

No verb skips a phase. Opening voting freezes the ballot; leaving the tally
needs the published result, whose hash is read from the results bucket.

Pure apart from its collaborators: ``store`` is a
:class:`~chalicelib.storage.repository.Store` (or a fake), ``published``
returns a cycle's published result hash or ``None``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime

from chalicelib.cycle import (
    DEFAULT_VERIFICATION,
    PHASES,
    Cycle,
    Phase,
    PhaseWindow,
    Proposal,
    Transition,
    advance,
    calendar_to_dict,
    format_time,
    next_phase,
    parse_time,
)
from chalicelib.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    PhaseStarted,
    StaleVersion,
)

#: The audit partition of entries that belong to no one cycle.
STAFF_AUDIT = "@staff"
VERBS = ("open", "close", "advance")
MAX_REASON = 500

_NEW_CYCLE_REQUIRED = (
    "cycle_id",
    "budget_cap",
    "selection_limit",
    "min_voting_age",
    "languages",
    "calendar",
)
_NEW_CYCLE_OPTIONAL = (
    "name",
    "proposals",
    "timezone",
    "vote_type",
    "rule",
    "tie_break",
    "min_project_score",
    "receipts_with_selections",
    "make_current",
    "reason",
    "verification",
)
_INT_FIELDS = ("budget_cap", "selection_limit", "min_voting_age", "min_project_score")
_STR_FIELDS = ("cycle_id", "name", "timezone", "vote_type", "rule", "tie_break")
_PROPOSAL_FIELDS = ("proposal_id", "cost", "title", "summary", "department")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_MAX_NAME = 200
_MAX_TITLE = 200
_MAX_SUMMARY = 2000
_MAX_PROPOSALS = 500


@dataclasses.dataclass(frozen=True)
class NewCycle:
    cycle: Cycle
    make_current: bool | None
    reason: str


# -- creating a cycle -------------------------------------------------------


def parse_new_cycle(body: object) -> NewCycle:
    """Validate a new cycle (the JSON of ``POST /staff/cycles`` or the YAML
    of ``pbctl cycle create``); return it, or raise ``InvalidInput``."""
    data = _object(body, "body")
    _no_unknown(data, {*_NEW_CYCLE_REQUIRED, *_NEW_CYCLE_OPTIONAL}, "")
    for name in _NEW_CYCLE_REQUIRED:
        if name not in data:
            raise InvalidInput(
                f"The cycle needs {name}.", field=name, code="MISSING_FIELD"
            )
    for name in _INT_FIELDS:
        if name in data and not _is_int(data[name]):
            raise _type(name, "a whole number")
    for name in _STR_FIELDS:
        if name in data and not isinstance(data[name], str):
            raise _type(name, "text")
    if len(data.get("name", "")) > _MAX_NAME:
        raise InvalidInput("The name is too long.", field="name", code="TOO_LONG")
    if not text_ok(data.get("name", "")):
        raise InvalidInput(
            "The name holds control characters.", field="name", code="INVALID_TEXT"
        )
    for name in ("make_current", "receipts_with_selections"):
        if name in data and not isinstance(data[name], bool):
            raise _type(name, "true or false")
    languages = _languages(data["languages"])
    verification = data.get("verification", list(DEFAULT_VERIFICATION))
    if not isinstance(verification, list) or not all(
        isinstance(m, str) for m in verification
    ):
        raise _type("verification", "a list of verification methods")
    calendar = _calendar(data["calendar"], required=True)
    proposals = _proposals(data.get("proposals", []), languages)
    reason = parse_reason(data, required=False)

    cycle = Cycle(
        cycle_id=data["cycle_id"],
        name=data.get("name") or data["cycle_id"],
        budget_cap=data["budget_cap"],
        selection_limit=data["selection_limit"],
        min_voting_age=data["min_voting_age"],
        calendar=calendar,
        proposals=proposals,
        vote_type=data.get("vote_type", "approval"),
        rule=data.get("rule", "greedy"),
        tie_break=data.get("tie_break", "ballot-order"),
        min_project_score=data.get("min_project_score", 0),
        timezone=data.get("timezone", "America/New_York"),
        languages=languages,
        receipts_with_selections=data.get("receipts_with_selections", False),
        verification=tuple(verification),
    )
    return NewCycle(cycle, data.get("make_current"), reason)


def create_cycle(store, body: object, *, actor: str, now: datetime) -> Cycle:
    """Create the cycle described by ``body``; return it.

    It becomes the public site's current cycle when ``make_current`` says so,
    or, when that is absent, if no cycle is current yet. Raises
    ``InvalidInput``, or ``Conflict`` (``CYCLE_EXISTS``).
    """
    new = parse_new_cycle(body)
    if new.cycle.calendar[Phase.VOTING].start <= now:
        # The phase clock would run such a cycle through voting at once, with
        # no ballots, and publish an empty result: phases never move back.
        raise InvalidInput(
            "Voting of a new cycle must start in the future.",
            field=f"calendar.{Phase.VOTING.value}.start",
            code="TIME_IN_PAST",
        )
    make_current = new.make_current
    if make_current is None:
        try:
            store.current_cycle()
            make_current = False
        except NotFound:
            make_current = True
    store.create_cycle(
        new.cycle, actor=actor, now=now, make_current=make_current, reason=new.reason
    )
    return new.cycle


# -- phases -----------------------------------------------------------------


def change_phase(
    store,
    cycle_id: str,
    body: object,
    *,
    actor: str,
    now: datetime,
    published: Callable[[str], str | None],
) -> tuple[Cycle, Transition]:
    """Open, close or advance a phase of ``cycle_id`` as ``body`` asks.

    ``body`` is ``{"action": "open"|"close"|"advance", "phase": ...,
    "reason": ..., "version": ...}``: ``phase`` is required for open and
    close and refused for advance, ``version`` is required for advance and
    optional otherwise. Returns the changed cycle and its transition. Raises
    ``InvalidInput``, ``NotFound``, ``IllegalTransition`` or ``StaleVersion``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"action", "phase", "reason", "version"}, "")
    verb = data.get("action")
    if verb is None:
        raise InvalidInput(
            "Say open, close or advance.", field="action", code="MISSING_FIELD"
        )
    if verb not in VERBS:
        raise InvalidInput(
            "The action is open, close or advance.",
            field="action",
            code="INVALID_CHOICE",
        )
    named = _named_phase(data, verb)
    version = _version(data, required=verb == "advance")
    reason = parse_reason(data, required=True)

    cycle = store.get_cycle(cycle_id)
    _check_version(cycle, version)
    target = _target(cycle, verb, named)
    result_hash = ""
    if target is Phase.RESULTS:
        result_hash = published(cycle.cycle_id) or ""
    after, transition = advance(
        cycle, target, now=now, actor=actor, reason=reason, result_hash=result_hash
    )
    store.apply_transition(cycle, after, transition, request=verb)
    return after, transition


def _named_phase(data: Mapping, verb: str) -> Phase | None:
    if verb == "advance":
        if "phase" in data:
            raise InvalidInput(
                "Advance takes no phase; it moves one step from the current one.",
                field="phase",
                code="UNKNOWN_FIELD",
            )
        return None
    if "phase" not in data:
        raise InvalidInput(
            f"Name the phase to {verb}.", field="phase", code="MISSING_FIELD"
        )
    try:
        phase = Phase(data["phase"])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "Unknown phase.", field="phase", code="INVALID_CHOICE"
        ) from exc
    if phase is Phase.SCHEDULED:
        raise InvalidInput(
            "Scheduled is not a phase that opens or closes.",
            field="phase",
            code="INVALID_CHOICE",
        )
    return phase


def _target(cycle: Cycle, verb: str, named: Phase | None) -> Phase:
    """The one phase the request moves ``cycle`` into."""
    if verb == "close" and cycle.phase is not named:
        raise IllegalTransition(
            f"{named.value} is not open; the cycle is in {cycle.phase.value}.",
            field="phase",
            code="PHASE_NOT_OPEN",
        )
    following = next_phase(cycle.phase)
    if following is None:
        raise IllegalTransition(
            f"{cycle.phase.value} is the last phase; nothing follows it.",
            field="phase",
        )
    if verb == "open" and named is not following:
        raise IllegalTransition(
            f"From {cycle.phase.value} only {following.value} can open, "
            "one phase at a time.",
            field="phase",
        )
    return following


# -- the calendar -----------------------------------------------------------


def edit_calendar(
    store, cycle_id: str, body: object, *, actor: str, now: datetime
) -> Cycle:
    """Change the windows of phases that have not started; return the cycle.

    ``body`` is ``{"version": N, "reason": ..., "calendar": {phase: {start,
    end}}}`` naming only the phases to change. A phase has started once the
    cycle is in it or past it, or once its start time has passed; such a
    phase is refused with ``PHASE_STARTED`` naming it. The whole calendar
    must still be in order. Raises ``InvalidInput``, ``NotFound``,
    ``PhaseStarted`` or ``StaleVersion``.
    """
    data = _object(body, "body")
    _no_unknown(data, {"version", "reason", "calendar"}, "")
    version = _version(data, required=True)
    reason = parse_reason(data, required=True)
    if "calendar" not in data:
        raise InvalidInput(
            "Send the phases to change.", field="calendar", code="MISSING_FIELD"
        )
    changes = _calendar(data["calendar"], required=False)
    if not changes:
        raise InvalidInput(
            "Name at least one phase to change.", field="calendar", code="MISSING_FIELD"
        )

    cycle = store.get_cycle(cycle_id)
    _check_version(cycle, version)
    reached = (Phase.SCHEDULED, *PHASES).index(cycle.phase)
    for phase, window in changes.items():
        field = f"calendar.{phase.value}"
        if (Phase.SCHEDULED, *PHASES).index(phase) <= reached or (
            cycle.calendar[phase].start <= now
        ):
            raise PhaseStarted(
                f"{phase.value} has started; only later phases can be moved.",
                field=field,
            )
        if window.start <= now:
            raise InvalidInput(
                "A phase cannot be moved to start in the past.",
                field=f"{field}.start",
                code="TIME_IN_PAST",
            )
    calendar = {**cycle.calendar, **changes}
    after = dataclasses.replace(cycle, calendar=calendar, version=cycle.version + 1)
    store.update_calendar(
        cycle,
        after,
        actor=actor,
        now=now,
        reason=reason,
        changed=[p for p in PHASES if p in changes],
    )
    return after


# -- the dashboard ----------------------------------------------------------


def dashboard(store, cycle_id: str, *, now: datetime) -> dict:
    """Phase, deadlines and turnout so far of ``cycle_id``.

    Each deadline carries ``opened``, when the phase actually opened (from
    the audit log; ``None`` until it has), beside its planned ``start``.
    ``phase_started`` says the same of the current phase, with ``early``
    true when it opened before its planned start (staff closed the phase
    before it early, say). Times are UTC; ``timezone`` is the cycle's zone,
    for display. Turnout counts voter marks by channel and by neighbourhood
    (``none`` for marks without one). It never holds a count per proposal:
    those exist only in the published result, after the tally.
    """
    cycle = store.get_cycle(cycle_id)
    marks = store.turnout(cycle_id)
    openings = store.phase_openings(cycle_id)
    reached = (Phase.SCHEDULED, *PHASES).index(cycle.phase)
    deadlines = []
    for index, phase in enumerate(PHASES, start=1):
        window = cycle.calendar[phase]
        status = (
            "current" if index == reached else "past" if index < reached else "upcoming"
        )
        opened = openings.get(phase) if index <= reached else None
        deadlines.append(
            {
                "phase": phase.value,
                "start": format_time(window.start),
                "end": format_time(window.end),
                "status": status,
                "opened": format_time(opened) if opened else None,
            }
        )
    following = next_phase(cycle.phase)
    window = cycle.window()
    started = None
    if window and cycle.phase in openings:
        at = openings[cycle.phase]
        started = {
            "at": format_time(at),
            "planned": format_time(window.start),
            # In whole seconds, as times are stored and shown.
            "early": at.replace(microsecond=0) < window.start.replace(microsecond=0),
        }
    return {
        "cycle_id": cycle.cycle_id,
        "name": cycle.name,
        "timezone": cycle.timezone,
        "phase": cycle.phase.value,
        "version": cycle.version,
        "as_of": format_time(now),
        "phase_ends": format_time(window.end) if window else None,
        "phase_started": started,
        "next_phase": following.value if following else None,
        "deadlines": deadlines,
        "turnout": {
            "total": len(marks),
            "by_channel": dict(sorted(Counter(c for c, _ in marks).items())),
            "by_neighbourhood": dict(
                sorted(Counter(n or "none" for _, n in marks).items())
            ),
        },
    }


def staff_view(cycle: Cycle) -> dict:
    """A cycle as staff see it: rules, calendar, phase, version, ballot."""
    return {
        "cycle_id": cycle.cycle_id,
        "name": cycle.name,
        "phase": cycle.phase.value,
        "version": cycle.version,
        "budget_cap": cycle.budget_cap,
        "selection_limit": cycle.selection_limit,
        "min_voting_age": cycle.min_voting_age,
        "timezone": cycle.timezone,
        "languages": list(cycle.languages),
        "calendar": calendar_to_dict(cycle.calendar),
        "vote_type": cycle.vote_type,
        "rule": cycle.rule,
        "tie_break": cycle.tie_break,
        "receipts_with_selections": cycle.receipts_with_selections,
        "verification": list(cycle.verification),
        "proposals": [p.to_dict() for p in cycle.proposals],
        "ballot_hash": cycle.ballot_hash or None,
    }


# -- field checks -----------------------------------------------------------


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


def _type(field: str, what: str) -> InvalidInput:
    return InvalidInput(f"{field} is {what}.", field=field, code="INVALID_TYPE")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_ok(text: str) -> bool:
    """No control characters but newlines: they hide text in logs and sheets."""
    return not any(ord(c) < 32 and c != "\n" or ord(c) == 127 for c in text)


def parse_reason(data: Mapping, *, required: bool) -> str:
    """The trimmed ``reason`` of ``data`` for the audit log; raise ``InvalidInput``.

    Absent is ``""`` unless ``required``; 1 to ``MAX_REASON`` characters,
    no control characters but newlines.
    """
    if "reason" not in data:
        if required:
            raise InvalidInput(
                "Give a reason; it goes in the audit log.",
                field="reason",
                code="MISSING_FIELD",
            )
        return ""
    reason = data["reason"]
    if not isinstance(reason, str):
        raise _type("reason", "text")
    reason = reason.strip()
    if required and not reason:
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
    if not text_ok(reason):
        raise InvalidInput(
            "The reason holds control characters.",
            field="reason",
            code="INVALID_TEXT",
        )
    return reason


def _version(data: Mapping, *, required: bool) -> int | None:
    if "version" not in data:
        if required:
            raise InvalidInput(
                "Send the version of the cycle you read.",
                field="version",
                code="MISSING_FIELD",
            )
        return None
    if not _is_int(data["version"]) or data["version"] < 0:
        raise _type("version", "a whole number")
    return data["version"]


def _check_version(cycle: Cycle, version: int | None) -> None:
    if version is not None and version != cycle.version:
        raise StaleVersion(
            f"The cycle changed since you read it (now version {cycle.version}); "
            "read it again.",
            field="version",
        )


def _languages(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _type("languages", "a list of language tags")
    if len(value) > 20:
        raise InvalidInput("At most 20 languages.", field="languages", code="TOO_LONG")
    seen: list[str] = []
    for index, tag in enumerate(value):
        field = f"languages[{index}]"
        if not isinstance(tag, str) or not _LANGUAGE.fullmatch(tag):
            raise InvalidInput(
                "A language is a tag like en, es or zh-Hans.",
                field=field,
                code="INVALID_LANGUAGE",
            )
        if tag in seen:
            raise InvalidInput(
                "Languages must be distinct.", field=field, code="INVALID_LANGUAGE"
            )
        seen.append(tag)
    if "en" not in seen:
        raise InvalidInput(
            "English (en) must be one of the languages.",
            field="languages",
            code="INVALID_LANGUAGE",
        )
    return tuple(seen)


def _calendar(value: object, *, required: bool) -> dict[Phase, PhaseWindow]:
    data = _object(value, "calendar")
    calendar = {}
    for name, window in data.items():
        try:
            phase = Phase(name)
        except ValueError:
            phase = None
        if phase is None or phase is Phase.SCHEDULED:
            raise InvalidInput(
                f"Unknown phase {str(name)[:64]!r}.",
                field=f"calendar.{str(name)[:64]}",
                code="UNKNOWN_FIELD",
            )
        field = f"calendar.{name}"
        window = _object(window, field)
        _no_unknown(window, {"start", "end"}, f"{field}.")
        for end in ("start", "end"):
            if end not in window:
                raise InvalidInput(
                    f"A phase needs its {end}.",
                    field=f"{field}.{end}",
                    code="MISSING_FIELD",
                )
            if not isinstance(window[end], str):
                raise _type(f"{field}.{end}", "an ISO 8601 time")
        start = _time(window["start"], f"{field}.start")
        finish = _time(window["end"], f"{field}.end")
        if start >= finish:
            raise InvalidInput(
                "A phase must end after it starts.",
                field=f"{field}.end",
                code="INVALID_TIME",
            )
        calendar[phase] = PhaseWindow(start, finish)
    if required:
        for phase in PHASES:
            if phase not in calendar:
                raise InvalidInput(
                    f"The calendar needs {phase.value}.",
                    field=f"calendar.{phase.value}",
                    code="MISSING_FIELD",
                )
    return calendar


def _time(text: str, field: str) -> datetime:
    try:
        return parse_time(text, field=field)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=field, code="INVALID_TIME") from exc


def _proposals(value: object, languages: tuple[str, ...]) -> tuple[Proposal, ...]:
    if not isinstance(value, list):
        raise _type("proposals", "a list")
    if len(value) > _MAX_PROPOSALS:
        raise InvalidInput(
            f"At most {_MAX_PROPOSALS} proposals.", field="proposals", code="TOO_LONG"
        )
    proposals = []
    for index, raw in enumerate(value):
        field = f"proposals[{index}]"
        data = _object(raw, field)
        _no_unknown(data, set(_PROPOSAL_FIELDS), f"{field}.")
        for name in ("proposal_id", "cost", "title"):
            if name not in data:
                raise InvalidInput(
                    f"A proposal needs {name}.",
                    field=f"{field}.{name}",
                    code="MISSING_FIELD",
                )
        if not isinstance(data["proposal_id"], str):
            raise _type(f"{field}.proposal_id", "text")
        if not _is_int(data["cost"]):
            raise _type(f"{field}.cost", "a whole number of dollars")
        if "department" in data and not isinstance(data["department"], str):
            raise _type(f"{field}.department", "text")
        title = _texts(data["title"], f"{field}.title", languages, _MAX_TITLE)
        summary = _texts(
            data.get("summary", {}), f"{field}.summary", languages, _MAX_SUMMARY
        )
        proposals.append(
            Proposal(
                proposal_id=data["proposal_id"],
                cost=data["cost"],
                title=title,
                summary=summary,
                department=data.get("department", ""),
            )
        )
    return tuple(proposals)


def _texts(value: object, field: str, languages: tuple[str, ...], limit: int) -> dict:
    data = _object(value, field)
    texts = {}
    for language, text in data.items():
        where = f"{field}.{str(language)[:16]}"
        if language not in languages:
            raise InvalidInput(
                "That language is not one of the cycle's languages.",
                field=where,
                code="INVALID_LANGUAGE",
            )
        if not isinstance(text, str):
            raise _type(where, "text")
        if len(text) > limit:
            raise InvalidInput("The text is too long.", field=where, code="TOO_LONG")
        if not text_ok(text):
            raise InvalidInput(
                "The text holds control characters.", field=where, code="INVALID_TEXT"
            )
        texts[language] = text
    return texts
