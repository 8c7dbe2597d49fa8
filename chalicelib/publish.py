"""Tally a cycle from storage and publish the result files.

:func:`tally_cycle` is pure over its inputs; :func:`publish_cycle` reads every
ballot (consistent reads, every page), tallies, and writes ``result.json``,
``result.csv`` and the anonymised ``ballots.pb`` to the results bucket. It is
deterministic, so running it twice writes the same bytes (and the result
store skips identical writes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal

from chalicelib.cycle import Cycle
from chalicelib.pabulib import Election, Project, Vote, write_pb
from chalicelib.tally import TallyResult, result_to_csv, result_to_json, tally

RESULT = "result.json"


def tally_cycle(cycle: Cycle, ballots: Iterable[tuple[str, ...]]) -> TallyResult:
    """Count ``ballots`` under ``cycle``'s frozen rules."""
    return tally(
        [(p.proposal_id, p.cost) for p in cycle.proposals],
        ballots,
        budget=cycle.budget_cap,
        rule=cycle.rule,
        vote_type=cycle.vote_type,
        tie_break=cycle.tie_break,
        min_score=cycle.min_project_score,
    )


def result_files(cycle: Cycle, selections: list[tuple[str, ...]]) -> dict[str, bytes]:
    """The published files of a cycle, byte for byte."""
    result = tally_cycle(cycle, selections)
    titles = {p.proposal_id: p.title.get("en", "") for p in cycle.proposals}
    return {
        "result.json": result_to_json(
            result,
            cycle_id=cycle.cycle_id,
            name=cycle.name,
            ballot_hash=cycle.ballot_hash,
            titles=titles,
        ),
        "result.csv": result_to_csv(result),
        "ballots.pb": write_pb(anonymised_election(cycle, selections, result)).encode(),
    }


def anonymised_election(
    cycle: Cycle, selections: list[tuple[str, ...]], result: TallyResult
) -> Election:
    """The cycle as a pabulib election: ballots sorted, voters numbered 1..n.

    Sorting the ballots drops the storage order, which would otherwise hint
    at when each was cast.
    """
    votes_by_id = {o.proposal_id: o.votes for o in result.proposals}
    funded = set(result.funded)
    projects = [
        Project(
            p.proposal_id,
            Decimal(p.cost),
            {
                "name": p.title.get("en", ""),
                "votes": str(votes_by_id.get(p.proposal_id, 0)),
                "selected": "1" if p.proposal_id in funded else "0",
            },
        )
        for p in cycle.proposals
    ]
    votes = [
        Vote(str(number), tuple(ballot))
        for number, ballot in enumerate(sorted(tuple(sorted(b)) for b in selections), 1)
    ]
    meta = {
        "description": cycle.name,
        "country": "United States",
        "unit": "Boston",
        "instance": cycle.cycle_id,
        "num_projects": str(len(projects)),
        "num_votes": str(len(votes)),
        "budget": str(cycle.budget_cap),
        "vote_type": cycle.vote_type,
        "rule": cycle.rule,
        "max_length": str(cycle.selection_limit),
        "currency": "USD",
        "ballot_hash": cycle.ballot_hash,
    }
    if cycle.rule == "greedy-threshold":
        meta["min_project_score_threshold"] = str(cycle.min_project_score)
    return Election(meta, projects, votes, Decimal(cycle.budget_cap), cycle.vote_type)


def publish_cycle(store, results, cycle: Cycle) -> str:
    """Publish ``cycle``'s result once; return the hash of ``result.json``.

    The phase clock calls this on every run while a cycle is in the tally.
    ``result.json`` is written last, so once it is there the whole result is,
    and later calls only read its recorded hash instead of re-counting.
    """
    published = results.digest(cycle.cycle_id, RESULT)
    if published is not None:
        return "sha256:" + published
    selections = [b.selections for b in store.iter_ballots(cycle.cycle_id)]
    files = result_files(cycle, selections)
    for name in sorted(files, key=lambda name: name == RESULT):
        results.put(cycle.cycle_id, name, files[name])
    return "sha256:" + hashlib.sha256(files[RESULT]).hexdigest()
