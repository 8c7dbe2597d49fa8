"""Tally a cycle from storage and publish the result files.

:func:`tally_cycle` is pure over its inputs; :func:`publish_cycle` reads every
ballot (consistent reads, every page), tallies, and writes the files below to
the results bucket. It is deterministic, so running it twice writes the same
bytes (and the result store skips identical writes).

``result.json``
    the outcome, with the SHA-256 of every other file under ``files``;
    written last, so once it is there the whole result is.
``result.csv``
    one line per proposal, in ranking order.
``ballots.pb``, ``ballots.csv``
    the anonymised ballots (pabulib format; a 0/1 table, one column per
    proposal), in one canonical order: sorted by content, numbered 1..n.
    No receipt, no time, no voter.
``receipts.txt``
    the SHA-256 of every receipt, one per line, sorted: a voter can find
    their ballot's receipt hash but nothing ties it to a line of the ballots.
``ballots-by-receipt.csv``
    only when the cycle opted in (``receipts_with_selections``): each
    receipt hash with its selections. It lets a voter see their ballot
    counted as cast, and also lets them prove their vote to someone else.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from chalicelib.auditcsv import safe_cell
from chalicelib.cycle import Cycle
from chalicelib.pabulib import Election, Project, Vote, write_pb
from chalicelib.tally import TallyResult, result_to_csv, result_to_json, tally

RESULT = "result.json"
RESULT_CSV = "result.csv"
BALLOTS_PB = "ballots.pb"
BALLOTS_CSV = "ballots.csv"
RECEIPTS = "receipts.txt"
BALLOTS_BY_RECEIPT = "ballots-by-receipt.csv"
#: Every file a cycle may publish besides ``result.json``.
PUBLISHED_FILES = (RESULT_CSV, BALLOTS_PB, BALLOTS_CSV, RECEIPTS, BALLOTS_BY_RECEIPT)

#: A stored ballot as publishing sees it: its receipt hash and its selections.
CastBallot = tuple[str, tuple[str, ...]]


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


def result_files(cycle: Cycle, ballots: Sequence[CastBallot]) -> dict[str, bytes]:
    """The published files of a cycle, byte for byte.

    ``ballots`` are ``(receipt_hash, selections)`` pairs in any order.
    ``result.json`` records the ``"sha256:<hex>"`` digest of every other file.
    """
    selections = [tuple(b[1]) for b in ballots]
    result = tally_cycle(cycle, selections)
    titles = {p.proposal_id: p.title.get("en", "") for p in cycle.proposals}
    election = anonymised_election(cycle, selections, result)
    ids = [p.proposal_id for p in cycle.proposals]
    files = {
        RESULT_CSV: result_to_csv(result),
        BALLOTS_PB: write_pb(election).encode(),
        BALLOTS_CSV: ballots_csv(
            ids, "ballot", [(v.voter_id, v.vote) for v in election.votes]
        ),
        RECEIPTS: receipts_text(receipt for receipt, _ in ballots),
    }
    if cycle.receipts_with_selections:
        files[BALLOTS_BY_RECEIPT] = ballots_csv(ids, "receipt_hash", sorted(ballots))
    files[RESULT] = result_to_json(
        result,
        cycle_id=cycle.cycle_id,
        name=cycle.name,
        ballot_hash=cycle.ballot_hash,
        titles=titles,
        receipts_with_selections=cycle.receipts_with_selections,
        files={name: digest(body) for name, body in sorted(files.items())},
    )
    return files


def digest(body: bytes) -> str:
    """``"sha256:"`` and the hex SHA-256 of ``body``, as ``result.json`` records it."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def receipts_text(receipt_hashes: Iterable[str]) -> bytes:
    """One receipt hash per line, sorted, LF after each: the order says nothing."""
    return "".join(f"{h}\n" for h in sorted(receipt_hashes)).encode("ascii")


def ballots_csv(
    proposal_ids: Sequence[str],
    first_column: str,
    rows: Iterable[tuple[str, Sequence[str]]],
) -> bytes:
    """A 0/1 table: ``first_column``, then one column per proposal, in ballot order.

    Each row is ``(first cell, selected ids)``: the ballot's number in
    ``ballots.csv``, its receipt hash in the opt-in file. Summing a
    proposal's column gives its votes. Header cells are formula-safe (see
    :func:`chalicelib.auditcsv.safe_cell`).
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([first_column, *map(safe_cell, proposal_ids)])
    for first, selected in rows:
        chosen = set(selected)
        writer.writerow([first, *("1" if p in chosen else "0" for p in proposal_ids)])
    return out.getvalue().encode("utf-8")


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
    # Pabulib joins a vote's ids with commas: cycles refuse ids holding one
    # (chalicelib.cycle), so every ballots.pb written here reads back.
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
        "tie_break": cycle.tie_break,
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
    ballots = [(b.ballot_id, b.selections) for b in store.iter_ballots(cycle.cycle_id)]
    files = result_files(cycle, ballots)
    for name in sorted(files, key=lambda name: name == RESULT):
        results.put(cycle.cycle_id, name, files[name])
    return digest(files[RESULT])
