"""The phase clock against an in-memory store: due steps, races, repeats."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.clock import CLOCK_ACTOR, ClockFailure, close_due_phases
from chalicelib.cycle import (
    PHASES,
    Cycle,
    Phase,
    PhaseWindow,
    Proposal,
    Transition,
    ballot_hash,
)
from chalicelib.errors import StaleVersion

pytestmark = pytest.mark.unit

START = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CALENDAR = {
    phase: PhaseWindow(START + DAY * i, START + DAY * (i + 1))
    for i, phase in enumerate(PHASES)
}
VOTING_END = CALENDAR[Phase.VOTING].end
TALLY_END = CALENDAR[Phase.TALLY].end
RESULT_HASH = "sha256:" + "ab" * 32


class FakeStore:
    """The three store methods the clock uses, with the version condition."""

    def __init__(self, *cycles: Cycle) -> None:
        self.cycles = {c.cycle_id: c for c in cycles}
        self.applied: list[Transition] = []

    def list_cycles(self) -> list[Cycle]:
        return sorted(self.cycles.values(), key=lambda c: c.cycle_id)

    def get_cycle(self, cycle_id: str) -> Cycle:
        return self.cycles[cycle_id]

    def apply_transition(
        self, before: Cycle, after: Cycle, transition: Transition
    ) -> None:
        stored = self.cycles[before.cycle_id]
        if (stored.version, stored.phase) != (before.version, before.phase):
            raise StaleVersion("The cycle changed meanwhile.", field="version")
        self.cycles[after.cycle_id] = after
        self.applied.append(transition)


class RacingStore(FakeStore):
    """A store where another clock run wins the first write of every cycle.

    The rival run makes exactly the move this run asked for, just before it.
    """

    def __init__(self, *cycles: Cycle) -> None:
        super().__init__(*cycles)
        self.raced: set[str] = set()

    def apply_transition(self, before, after, transition) -> None:
        if before.cycle_id not in self.raced:
            self.raced.add(before.cycle_id)
            super().apply_transition(
                before, after, dataclasses.replace(transition, actor="rival")
            )
        super().apply_transition(before, after, transition)


class Publisher:
    """``on_voting_closed``: records each call and returns a fixed hash."""

    def __init__(self, result_hash: str | None = RESULT_HASH) -> None:
        self.result_hash = result_hash
        self.calls: list[Cycle] = []

    def __call__(self, cycle: Cycle) -> str | None:
        self.calls.append(cycle)
        return self.result_hash


def make_cycle(phase: Phase, cycle_id: str = "boston-2027", version: int = 6) -> Cycle:
    cycle = Cycle(
        cycle_id=cycle_id,
        name="Boston PB 2027",
        budget_cap=100_000,
        selection_limit=2,
        min_voting_age=11,
        calendar=CALENDAR,
        proposals=(Proposal("p1", 50_000, {"en": "Bike racks"}),),
    )
    frozen = phase in (Phase.VOTING, Phase.TALLY)
    return dataclasses.replace(
        cycle,
        phase=phase,
        version=version,
        ballot_hash=ballot_hash(cycle) if frozen else "",
    )


def moves(transitions: list[Transition]) -> list[tuple[Phase, Phase]]:
    return [(t.from_phase, t.to_phase) for t in transitions]


def test_nothing_due_makes_no_transitions():
    # GIVEN a cycle in the middle of voting
    store = FakeStore(make_cycle(Phase.VOTING))
    publisher = Publisher()

    made = close_due_phases(
        store, now=VOTING_END - timedelta(hours=1), on_voting_closed=publisher
    )

    assert made == []
    assert store.applied == []
    assert publisher.calls == []
    assert store.get_cycle("boston-2027").version == 6


def test_an_empty_store_makes_no_transitions():
    assert close_due_phases(FakeStore(), now=START, on_voting_closed=Publisher()) == []


def test_a_cycle_past_its_tally_end_goes_through_tally_to_results():
    store = FakeStore(make_cycle(Phase.VOTING))
    publisher = Publisher()
    now = TALLY_END + timedelta(minutes=5)

    made = close_due_phases(store, now=now, on_voting_closed=publisher)

    assert moves(made) == [(Phase.VOTING, Phase.TALLY), (Phase.TALLY, Phase.RESULTS)]
    assert made == store.applied
    stored = store.get_cycle("boston-2027")
    assert stored.phase is Phase.RESULTS
    assert stored.result_hash == RESULT_HASH
    assert stored.version == 8
    assert [c.phase for c in publisher.calls] == [Phase.TALLY]
    assert publisher.calls[0].version == 7


def test_transitions_are_made_by_the_clock_at_now():
    store = FakeStore(make_cycle(Phase.VOTING))
    now = TALLY_END + timedelta(minutes=5)

    made = close_due_phases(store, now=now, on_voting_closed=Publisher())

    assert [t.from_version for t in made] == [6, 7]
    for transition in made:
        assert transition.cycle_id == "boston-2027"
        assert transition.at == now
        assert transition.actor == CLOCK_ACTOR
        assert transition.reason == "calendar deadline passed"


def test_a_tally_ending_later_stays_in_tally_after_publishing():
    # GIVEN voting over, but the tally window still open
    store = FakeStore(make_cycle(Phase.VOTING))
    publisher = Publisher()

    made = close_due_phases(store, now=VOTING_END, on_voting_closed=publisher)

    assert moves(made) == [(Phase.VOTING, Phase.TALLY)]
    stored = store.get_cycle("boston-2027")
    assert stored.phase is Phase.TALLY
    assert stored.result_hash == ""
    assert [c.phase for c in publisher.calls] == [Phase.TALLY]


def test_every_run_during_the_tally_publishes_again():
    store = FakeStore(make_cycle(Phase.VOTING))
    publisher = Publisher()
    close_due_phases(store, now=VOTING_END, on_voting_closed=publisher)

    # WHEN the clock runs twice more before the tally window ends
    for minutes in (1, 2):
        made = close_due_phases(
            store,
            now=VOTING_END + timedelta(minutes=minutes),
            on_voting_closed=publisher,
        )
        assert made == []

    assert len(publisher.calls) == 3
    assert store.get_cycle("boston-2027").phase is Phase.TALLY
    assert len(store.applied) == 1


def test_a_cycle_already_in_tally_moves_to_results_at_the_tally_end():
    store = FakeStore(make_cycle(Phase.TALLY))
    publisher = Publisher()

    made = close_due_phases(store, now=TALLY_END, on_voting_closed=publisher)

    assert moves(made) == [(Phase.TALLY, Phase.RESULTS)]
    assert store.get_cycle("boston-2027").result_hash == RESULT_HASH
    assert len(publisher.calls) == 1


def test_a_stale_version_is_re_read_and_not_applied_twice():
    # GIVEN a rival run that wins the first write
    store = RacingStore(make_cycle(Phase.VOTING))
    publisher = Publisher()

    made = close_due_phases(
        store, now=TALLY_END + timedelta(minutes=5), on_voting_closed=publisher
    )

    assert moves(store.applied) == [
        (Phase.VOTING, Phase.TALLY),
        (Phase.TALLY, Phase.RESULTS),
    ]
    assert store.applied[0].actor == "rival"
    assert moves(made) == [(Phase.TALLY, Phase.RESULTS)]
    stored = store.get_cycle("boston-2027")
    assert (stored.phase, stored.version) == (Phase.RESULTS, 8)
    assert stored.result_hash == RESULT_HASH


def test_losing_the_only_due_step_leaves_nothing_for_this_run():
    store = RacingStore(make_cycle(Phase.BALLOT_REVIEW, version=5))
    publisher = Publisher()

    made = close_due_phases(
        store, now=CALENDAR[Phase.BALLOT_REVIEW].end, on_voting_closed=publisher
    )

    assert made == []
    assert moves(store.applied) == [(Phase.BALLOT_REVIEW, Phase.VOTING)]
    assert store.get_cycle("boston-2027").version == 6
    assert publisher.calls == []


def test_repeated_runs_make_no_more_transitions():
    store = FakeStore(make_cycle(Phase.VOTING))
    publisher = Publisher()
    now = TALLY_END + timedelta(minutes=5)
    first = close_due_phases(store, now=now, on_voting_closed=publisher)

    again = [
        close_due_phases(store, now=now, on_voting_closed=publisher) for _ in range(3)
    ]

    assert len(first) == 2
    assert again == [[], [], []]
    assert len(store.applied) == 2
    assert len(publisher.calls) == 1


def test_a_scheduled_cycle_far_behind_walks_into_voting_and_freezes_the_ballot():
    cycle = make_cycle(Phase.SCHEDULED, version=0)
    store = FakeStore(cycle)
    now = CALENDAR[Phase.VOTING].start + timedelta(hours=1)

    made = close_due_phases(store, now=now, on_voting_closed=Publisher())

    assert [t.to_phase for t in made] == list(PHASES[: PHASES.index(Phase.VOTING) + 1])
    stored = store.get_cycle("boston-2027")
    assert stored.phase is Phase.VOTING
    assert stored.ballot_hash == ballot_hash(cycle)


def test_each_cycle_advances_on_its_own():
    due = make_cycle(Phase.VOTING, cycle_id="a-due")
    waiting = make_cycle(Phase.VOTING, cycle_id="b-waiting")
    waiting = dataclasses.replace(
        waiting,
        calendar={
            p: PhaseWindow(w.start + DAY, w.end + DAY) for p, w in CALENDAR.items()
        },
    )
    store = FakeStore(due, waiting)

    made = close_due_phases(store, now=VOTING_END, on_voting_closed=Publisher())

    assert [(t.cycle_id, t.to_phase) for t in made] == [("a-due", Phase.TALLY)]
    assert store.get_cycle("b-waiting").phase is Phase.VOTING


def test_one_failing_cycle_does_not_stop_the_others():
    # GIVEN two cycles past voting, one of which cannot be published
    good = make_cycle(Phase.VOTING, cycle_id="good")
    bad = make_cycle(Phase.VOTING, cycle_id="bad")
    store = FakeStore(bad, good)

    def publish(cycle):
        if cycle.cycle_id == "bad":
            raise OSError("results bucket unavailable")
        return RESULT_HASH

    # WHEN the clock runs THEN the good one moves on and the run still fails
    with pytest.raises(ClockFailure) as failure:
        close_due_phases(
            store, now=TALLY_END + timedelta(minutes=5), on_voting_closed=publish
        )

    assert failure.value.cycle_ids == ["bad"]
    assert store.get_cycle("good").phase is Phase.RESULTS
    assert store.get_cycle("bad").phase is Phase.TALLY


def test_a_tally_that_must_wait_stays_in_tally_past_its_end():
    # GIVEN paper batches still being entered: the publisher answers None
    store = FakeStore(make_cycle(Phase.VOTING))
    waiting = Publisher(result_hash=None)

    made = close_due_phases(
        store, now=TALLY_END + timedelta(hours=3), on_voting_closed=waiting
    )

    # THEN voting closes, but the cycle waits in the tally, unpublished
    assert moves(made) == [(Phase.VOTING, Phase.TALLY)]
    stored = store.get_cycle("boston-2027")
    assert (stored.phase, stored.result_hash) == (Phase.TALLY, "")
    assert len(waiting.calls) == 1

    # WHEN a later run finds the tally ready THEN results open
    ready = Publisher()
    later = close_due_phases(
        store, now=TALLY_END + timedelta(hours=4), on_voting_closed=ready
    )
    assert moves(later) == [(Phase.TALLY, Phase.RESULTS)]
    assert store.get_cycle("boston-2027").result_hash == RESULT_HASH
