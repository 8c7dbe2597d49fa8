"""The phase clock: close every phase whose end has passed, open the next.

Scheduled invocations arrive at least once and sometimes twice at the same
moment, so every step here is safe to repeat: a phase change is a
conditional write on the cycle's version (the loser of a race re-reads and
finds nothing left to do), and the tally is deterministic, so publishing it
twice writes the same bytes.

The tally may have to wait: while paper batches are still being entered,
``on_voting_closed`` answers ``None`` and the cycle stays in the tally,
however late, until a later run finds them counted or discarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from chalicelib.cycle import Cycle, Phase, Transition, advance, due_phase
from chalicelib.errors import StaleVersion

logger = logging.getLogger(__name__)

CLOCK_ACTOR = "system:phase-clock"
#: More steps than any cycle has phases: a guard against a loop, not a limit.
_MAX_STEPS = 20


def close_due_phases(
    store,
    *,
    now: datetime,
    on_voting_closed: Callable[[Cycle], str | None],
) -> list[Transition]:
    """Advance every cycle as far as the calendar allows at ``now``.

    ``on_voting_closed(cycle)`` tallies and publishes a cycle in the tally
    phase and returns the published result's hash, or ``None`` when the
    tally must wait (paper ballots still being entered): the cycle then
    stays in the tally past its end. It is called on every run while a
    cycle is in the tally, so it must be idempotent. Returns the
    transitions this run made (empty when there was nothing to do).
    """
    made: list[Transition] = []
    failed: list[str] = []
    for cycle in store.list_cycles():
        # One cycle's failure (a publish that cannot write, say) must not
        # keep the others from closing on time.
        try:
            made.extend(_advance_cycle(store, cycle, now, on_voting_closed))
        except Exception:
            logger.exception("cycle not advanced", extra={"cycle": cycle.cycle_id})
            failed.append(cycle.cycle_id)
    if failed:
        # Fail the invocation so the Lambda error alarm sees it.
        raise ClockFailure(failed, made)
    return made


class ClockFailure(RuntimeError):
    """Some cycles could not be advanced; ``made`` lists what the run did do."""

    def __init__(self, cycle_ids: list[str], made: list[Transition]):
        super().__init__(f"cycles not advanced: {', '.join(cycle_ids)}")
        self.cycle_ids = cycle_ids
        self.made = made


def _advance_cycle(store, cycle, now, on_voting_closed) -> list[Transition]:
    made = []
    for _ in range(_MAX_STEPS):
        target = due_phase(cycle, now)
        result_hash = ""
        if cycle.phase is Phase.TALLY:
            published = on_voting_closed(cycle)
            if published is None:
                logger.info("tally waits", extra={"cycle": cycle.cycle_id})
                break
            result_hash = published
        if target is None:
            break
        after, transition = advance(
            cycle,
            target,
            now=now,
            actor=CLOCK_ACTOR,
            reason="calendar deadline passed",
            result_hash=result_hash,
        )
        try:
            store.apply_transition(cycle, after, transition)
        except StaleVersion:
            logger.info("phase already moved", extra={"cycle": cycle.cycle_id})
            cycle = store.get_cycle(cycle.cycle_id)
            continue
        logger.info(
            "phase changed",
            extra={
                "cycle": cycle.cycle_id,
                "from": cycle.phase.value,
                "to": target.value,
            },
        )
        made.append(transition)
        cycle = after
    return made
