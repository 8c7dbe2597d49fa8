"""Staff open, close and advance phases through the phase clock's state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from app import app
from chalicelib.clock import close_due_phases
from chalicelib.cycle import Cycle, Phase, Proposal, advance, next_phase
from chalicelib.importer import replay_calendar
from chalicelib.publish import publish_cycle
from tests.functional.conftest import assert_refused, ledger, staff_call

pytestmark = pytest.mark.functional


@pytest.fixture
def client(staff_services):
    with Client(app) as test_client:
        yield test_client


def future_cycle(cycle_id: str, *, proposals: bool = True) -> Cycle:
    """A scheduled cycle whose calendar starts tomorrow: the clock moves nothing."""
    base = datetime.now(UTC) + timedelta(days=30)
    return Cycle(
        cycle_id=cycle_id,
        name="Phase test",
        budget_cap=1_000_000,
        selection_limit=2,
        min_voting_age=11,
        calendar=replay_calendar(base, timedelta(days=1)),
        proposals=(Proposal("bench", 300_000, {"en": "Park benches"}),)
        if proposals
        else (),
    )


@pytest.fixture
def stored(staff_services):
    def make(cycle_id: str, **options) -> Cycle:
        cycle = future_cycle(cycle_id, **options)
        staff_services.store.create_cycle(
            cycle, actor="test", now=staff_services.clock(), make_current=False
        )
        return cycle

    return make


def move(client, token, cycle_id, **body):
    return staff_call(client, "POST", f"/staff/cycles/{cycle_id}/phase", token, body)


def test_open_close_and_advance_walk_one_step_each_and_are_audited(
    client, staff_services, staff_stack, stored
):
    stored("walk")
    token = staff_stack.token("staffer")

    opened = move(
        client, token, "walk", action="open", phase="idea_collection", reason="kick-off"
    )
    closed = move(
        client,
        token,
        "walk",
        action="close",
        phase="idea_collection",
        reason="enough ideas",
    )
    advanced = move(
        client, token, "walk", action="advance", version=2, reason="on to review"
    )

    assert [a.status_code for a in (opened, closed, advanced)] == [200, 200, 200]
    assert opened.json_body["transition"]["from"] == "scheduled"
    assert closed.json_body["transition"] == {
        "from": "idea_collection",
        "to": "priorities",
        "at": closed.json_body["transition"]["at"],
        "actor": "staff:staffer",
        "reason": "enough ideas",
    }
    assert advanced.json_body["cycle"]["phase"] == "eligibility_review"
    assert advanced.json_body["cycle"]["version"] == 3
    entries = staff_services.store.audit_entries("walk")[1:]
    assert [
        (e["action"], e["actor"], e["reason"], e["before"], e["after"]) for e in entries
    ] == [
        (
            "phase_changed",
            "staff:staffer",
            "kick-off",
            {"phase": "scheduled", "version": 0},
            {"phase": "idea_collection", "version": 1, "request": "open"},
        ),
        (
            "phase_changed",
            "staff:staffer",
            "enough ideas",
            {"phase": "idea_collection", "version": 1},
            {"phase": "priorities", "version": 2, "request": "close"},
        ),
        (
            "phase_changed",
            "staff:staffer",
            "on to review",
            {"phase": "priorities", "version": 2},
            {"phase": "eligibility_review", "version": 3, "request": "advance"},
        ),
    ]


def test_the_clock_and_staff_share_the_state_machine(
    client, staff_services, staff_stack, stored
):
    stored("shared")
    token = staff_stack.token("admin")
    move(
        client, token, "shared", action="open", phase="idea_collection", reason="early"
    )

    # The calendar is a month ahead: the clock finds nothing due after staff moved.
    made = close_due_phases(
        staff_services.store, now=staff_services.clock(), on_voting_closed=lambda c: ""
    )

    assert [t for t in made if t.cycle_id == "shared"] == []
    assert staff_services.store.get_cycle("shared").phase is Phase.IDEA_COLLECTION


def test_refused_moves_change_nothing_and_are_audited(
    client, staff_services, staff_stack, stored
):
    stored("refusals")
    stored("empty-ballot", proposals=False)
    token = staff_stack.token("staffer")
    move(client, token, "refusals", action="open", phase="idea_collection", reason="go")
    cases = [
        (
            "refusals",
            {"phase": "priorities", "reason": "r"},
            400,
            "MISSING_FIELD",
            "action",
        ),
        (
            "refusals",
            {"action": "skip", "reason": "r"},
            400,
            "INVALID_CHOICE",
            "action",
        ),
        ("refusals", {"action": "open", "reason": "r"}, 400, "MISSING_FIELD", "phase"),
        (
            "refusals",
            {"action": "open", "phase": "lunch", "reason": "r"},
            400,
            "INVALID_CHOICE",
            "phase",
        ),
        (
            "refusals",
            {"action": "open", "phase": "scheduled", "reason": "r"},
            400,
            "INVALID_CHOICE",
            "phase",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities"},
            400,
            "MISSING_FIELD",
            "reason",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities", "reason": "   "},
            400,
            "MISSING_FIELD",
            "reason",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities", "reason": "x" * 501},
            400,
            "TOO_LONG",
            "reason",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities", "reason": 5},
            400,
            "INVALID_TYPE",
            "reason",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities", "reason": "r", "who": "me"},
            400,
            "UNKNOWN_FIELD",
            "who",
        ),
        (
            "refusals",
            {"action": "advance", "reason": "r"},
            400,
            "MISSING_FIELD",
            "version",
        ),
        (
            "refusals",
            {"action": "advance", "version": "1", "reason": "r"},
            400,
            "INVALID_TYPE",
            "version",
        ),
        (
            "refusals",
            {"action": "advance", "phase": "priorities", "version": 1, "reason": "r"},
            400,
            "UNKNOWN_FIELD",
            "phase",
        ),
        (
            "refusals",
            {"action": "advance", "version": 0, "reason": "r"},
            409,
            "STALE_VERSION",
            "version",
        ),
        (
            "refusals",
            {"action": "open", "phase": "priorities", "version": 9, "reason": "r"},
            409,
            "STALE_VERSION",
            "version",
        ),
        # no skipping: from idea collection only priorities can open
        (
            "refusals",
            {"action": "open", "phase": "visioning", "reason": "r"},
            409,
            "ILLEGAL_TRANSITION",
            "phase",
        ),
        # already open
        (
            "refusals",
            {"action": "open", "phase": "idea_collection", "reason": "r"},
            409,
            "ILLEGAL_TRANSITION",
            "phase",
        ),
        (
            "refusals",
            {"action": "close", "phase": "voting", "reason": "r"},
            409,
            "PHASE_NOT_OPEN",
            "phase",
        ),
    ]
    for cycle_id, body, status, code, field in cases:
        before = ledger(staff_services)
        answer = move(client, token, cycle_id, **body)
        assert_refused(
            staff_services, before, answer, status, code, field, partition=cycle_id
        )

    # Voting cannot open on an empty ballot, whoever asks.
    for _ in range(5):
        version = staff_services.store.get_cycle("empty-ballot").version
        move(
            client, token, "empty-ballot", action="advance", version=version, reason="r"
        )
    assert staff_services.store.get_cycle("empty-ballot").phase is Phase.BALLOT_REVIEW
    before = ledger(staff_services)
    answer = move(
        client, token, "empty-ballot", action="open", phase="voting", reason="r"
    )
    assert_refused(
        staff_services,
        before,
        answer,
        409,
        "ILLEGAL_TRANSITION",
        "proposals",
        partition="empty-ballot",
    )


def test_an_unknown_cycle_is_not_found(client, staff_services, staff_stack):
    before = ledger(staff_services)

    answer = move(
        client,
        staff_stack.token("staffer"),
        "ghost",
        action="advance",
        version=0,
        reason="r",
    )

    entry = assert_refused(
        staff_services, before, answer, 404, "NOT_FOUND", "cycle_id", partition="@staff"
    )
    assert entry["after"]["cycle_id"] == "ghost"
    assert entry["after"]["route"] == "POST /staff/cycles/{cycle_id}/phase"


def test_voting_freezes_the_ballot_and_the_tally_closes_once_published(
    client, staff_services, staff_stack, stored
):
    cycle = stored("to-results")
    token = staff_stack.token("admin")
    for _ in range(5):
        version = staff_services.store.get_cycle("to-results").version
        move(client, token, "to-results", action="advance", version=version, reason="r")

    voting = move(
        client, token, "to-results", action="open", phase="voting", reason="polls open"
    )
    tally = move(
        client,
        token,
        "to-results",
        action="close",
        phase="voting",
        reason="polls close",
    )
    before = ledger(staff_services)
    early = move(client, token, "to-results", action="close", phase="tally", reason="r")

    assert voting.json_body["cycle"]["ballot_hash"].startswith("sha256:")
    assert tally.json_body["cycle"]["phase"] == "tally"
    assert_refused(
        staff_services,
        before,
        early,
        409,
        "ILLEGAL_TRANSITION",
        "result",
        partition="to-results",
    )

    # Once the tally is published (the clock's job), staff can close it.
    frozen = staff_services.store.get_cycle("to-results")
    published = publish_cycle(staff_services.store, staff_services.results, frozen)
    done = move(
        client, token, "to-results", action="close", phase="tally", reason="certified"
    )

    assert done.status_code == 200
    assert done.json_body["cycle"]["phase"] == "results"
    assert staff_services.store.get_cycle("to-results").result_hash == published
    assert cycle.ballot_hash == ""  # frozen on opening voting, not before


def test_the_last_phase_cannot_close(client, staff_services, staff_stack, stored):
    stored("last")
    store = staff_services.store
    cycle = store.get_cycle("last")
    # Walk it to implementation directly through the store, as the clock would.
    while next_phase(cycle.phase) is not None:
        target = next_phase(cycle.phase)
        after, transition = advance(
            cycle,
            target,
            now=staff_services.clock(),
            actor="test",
            reason="r",
            result_hash="sha256:x",
        )
        store.apply_transition(cycle, after, transition)
        cycle = after
    before = ledger(staff_services)

    answer = move(
        client,
        staff_stack.token("staffer"),
        "last",
        action="close",
        phase="implementation",
        reason="r",
    )

    assert_refused(
        staff_services,
        before,
        answer,
        409,
        "ILLEGAL_TRANSITION",
        "phase",
        partition="last",
    )
