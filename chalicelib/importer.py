"""Turn a pabulib election into a cycle, so real elections can be replayed.

Pure. The cycle starts ``scheduled`` with a calendar whose earlier phases are
already over and whose voting window holds ``now``: the phase clock then
walks it into voting through the state machine, freezing the ballot on the
way, exactly as for a cycle the office set up by hand.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from chalicelib.cycle import PHASES, Cycle, Phase, PhaseWindow, Proposal
from chalicelib.errors import InvalidInput
from chalicelib.pabulib import Election
from chalicelib.tally import RULES

#: The vote types the public API can cast (one vote per chosen proposal).
CASTABLE = ("approval", "choose-1")


def cycle_from_election(
    election: Election,
    *,
    cycle_id: str,
    now: datetime,
    voting_for: timedelta = timedelta(hours=1),
    min_voting_age: int = 11,
) -> Cycle:
    """A ``scheduled`` cycle with ``election``'s ballot, voting open at ``now``.

    The budget cap and costs must be whole dollars; the selection limit is
    the file's ``max_length``, else its longest ballot. Raises
    ``InvalidInput`` for a vote type the API cannot cast, fractional money
    or a ``max_length`` that is not a whole number.
    """
    if election.vote_type not in CASTABLE:
        raise InvalidInput(
            f"{election.vote_type} ballots carry points; the ballot API casts "
            "approval and choose-1 ballots only.",
            field="vote_type",
        )
    proposals = tuple(
        Proposal(
            proposal_id=p.project_id,
            cost=_whole(p.cost, f"cost of {p.project_id}"),
            title={"en": p.fields.get("name") or f"Project {p.project_id}"},
            summary={"en": p.fields["description"]}
            if p.fields.get("description")
            else {},
            department=p.fields.get("department", ""),
        )
        for p in election.projects
    )
    longest = max((len(set(v.vote)) for v in election.votes), default=1)
    limit = _max_length(election) or longest
    if election.vote_type == "choose-1":
        limit = 1
    return Cycle(
        cycle_id=cycle_id,
        name=election.meta.get("description") or cycle_id,
        budget_cap=_whole(election.budget, "budget"),
        selection_limit=max(limit, longest),
        min_voting_age=min_voting_age,
        calendar=replay_calendar(now, voting_for),
        proposals=proposals,
        vote_type=election.vote_type,
        rule=election.rule if election.rule in RULES else "greedy",
        min_project_score=election.min_project_score_threshold,
        languages=("en",),
    )


def cycle_id_for(file_name: str, *, prefix: str) -> str:
    """A valid cycle id made from a file name (accents folded, the rest dashed)."""
    stem = file_name.rsplit("/", 1)[-1].removesuffix(".pb")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_stem.lower()).strip("-")
    return f"{prefix}-{slug}"[:64].rstrip("-") if slug else prefix


def replay_calendar(now: datetime, voting_for: timedelta) -> dict[Phase, PhaseWindow]:
    """Phases before voting end just before ``now``; voting runs ``voting_for``."""
    day = timedelta(days=1)
    voting = PHASES.index(Phase.VOTING)
    calendar = {}
    start = now - day * voting - timedelta(minutes=1)
    for index, phase in enumerate(PHASES):
        if index < voting:
            end = start + day
        elif phase is Phase.VOTING:
            start, end = now - timedelta(minutes=1), now + voting_for
        elif phase is Phase.TALLY:
            end = start + timedelta(minutes=1)
        elif phase is Phase.RESULTS:
            end = start + timedelta(days=30)
        else:
            end = start + timedelta(days=730)
        calendar[phase] = PhaseWindow(start, end)
        start = end
    return calendar


def _max_length(election: Election) -> int:
    """META ``max_length``, 0 when absent or ``None`` (pabulib's empty cell)."""
    raw = election.meta.get("max_length", "").strip()
    if raw in ("", "None"):
        return 0
    if not raw.isdigit():
        raise InvalidInput(
            f"max_length {raw!r} is not a whole number.", field="max_length"
        )
    return int(raw)


def _whole(amount, what: str) -> int:
    if amount != amount.to_integral():
        raise InvalidInput(
            f"The {what} is not a whole number of dollars.",
            field="budget" if what == "budget" else "cost",
        )
    return int(amount)
