"""Entry points of the scheduled app, kept out of ``scheduled/app.py`` so
tests and ``pbctl`` call exactly what the Lambda calls."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.clock import close_due_phases
from chalicelib.cycle import Cycle, cycle_to_dict, parse_time
from chalicelib.observability import count, logger
from chalicelib.paper import seal_for_tally
from chalicelib.publish import publish_cycle
from chalicelib.services import Services, get_services


def run_phase_clock(event: dict) -> dict:
    """Advance every cycle as of the event's time; return what changed.

    EventBridge puts the scheduled time in ``event["time"]``; using it (not
    the wall clock) makes a late or repeated delivery act on the minute it
    was meant for. Without it the wall clock is used.
    """
    services = get_services()
    raw_time = (event or {}).get("time")
    now = parse_time(raw_time, field="time") if raw_time else datetime.now(UTC)
    transitions = close_due_phases(
        services.store,
        now=now,
        on_voting_closed=lambda cycle: tally_when_paper_is_in(services, cycle, now),
    )
    for transition in transitions:
        count("PhaseChanged", phase=transition.to_phase.value)
    logger.info("phase clock ran", extra={"changes": len(transitions)})
    changed = {t.cycle_id for t in transitions}
    return {
        "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "transitions": [
            {"cycle_id": t.cycle_id, "from": t.from_phase.value, "to": t.to_phase.value}
            for t in transitions
        ],
        "cycles": [
            {"cycle_id": c["cycle_id"], "phase": c["phase"]}
            for c in map(cycle_to_dict, services.store.list_cycles())
            if c["cycle_id"] in changed
        ],
    }


def tally_when_paper_is_in(services: Services, cycle: Cycle, now: datetime):
    """Publish ``cycle``'s result once no paper batch is pending; else ``None``.

    Paper entry is sealed first (a conditional write on the paper ledger),
    so no batch can be registered or counted after the ballots are read.
    """
    waiting = seal_for_tally(services.store, cycle, now=now)
    if waiting:
        count("TallyWaitingForPaper")
        logger.info(
            "tally waits for paper batches",
            extra={"cycle": cycle.cycle_id, "batches": len(waiting)},
        )
        return None
    return publish_cycle(services.store, services.results, cycle)
