"""Count ballots and fund proposals by the greedy rules, exactly.

The tally is pure and deterministic: money is integer (whole dollars or
cents, never float), every tie is settled by an explicit ``tie_break``
recorded with the result, and the same multiset of ballots, in any order,
gives byte-identical JSON and CSV.

Counting (``vote_type``):

``approval``, ``choose-1``
    a proposal's count is the number of ballots that name it; a ballot naming
    a proposal twice counts it once.
``cumulative``
    a proposal's count is the sum of the points ballots give it.

Funding (``rule``), in ranking order (count descending, then ``tie_break``):

``greedy``
    fund each proposal whose cost is at most the remaining budget; skip one
    that does not fit and go on.
``greedy-no-skip``
    stop at the first proposal that does not fit.
``greedy-threshold``
    proposals whose count is below ``min_score`` are not eligible; the rest
    are funded as by ``greedy``.

Tie-breaks: ``ballot-order`` keeps the order the ballot lists proposals in,
``cost-asc`` puts the cheaper first, ``cost-desc`` the dearer first (both
then by ballot order).

Pure: no AWS, no Chalice.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal

from chalicelib.errors import InvalidInput
from chalicelib.pabulib import Election, gc_paused, money_scale, to_units

RULES = ("greedy", "greedy-no-skip", "greedy-threshold")
VOTE_TYPES = ("approval", "choose-1", "cumulative")
TIE_BREAKS = ("ballot-order", "cost-asc", "cost-desc")

#: Why a proposal was or was not funded; stable codes, part of the result.
FUNDED = "funded"
DOES_NOT_FIT = "does_not_fit"
BELOW_THRESHOLD = "below_threshold"
STOPPED = "stopped"

#: A ballot: the proposal ids it selects, or for ``cumulative`` ballots
#: ``(proposal_id, points)`` pairs.
Selection = Sequence[str]
ScoredSelection = Sequence[tuple[str, int]]

CSV_COLUMNS = (
    "rank",
    "proposal_id",
    "votes",
    "cost",
    "funded",
    "reason",
    "spent_after",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ProposalOutcome:
    """One proposal's line of the result, in ranking order."""

    proposal_id: str
    votes: int
    cost: int
    rank: int
    funded: bool
    reason: str
    spent_after: int


@dataclasses.dataclass(frozen=True, slots=True)
class TallyResult:
    """The outcome of a tally; money is in integer units of ``1/scale``."""

    rule: str
    vote_type: str
    tie_break: str
    min_score: int
    budget: int
    spent: int
    remaining: int
    funded: tuple[str, ...]
    proposals: tuple[ProposalOutcome, ...]
    ballots_counted: int
    ballots_hash: str
    scale: int = 1


def tally(
    projects: Iterable[tuple[str, int]],
    ballots: Iterable[Selection] | Iterable[ScoredSelection],
    *,
    budget: int,
    rule: str,
    vote_type: str,
    tie_break: str = "ballot-order",
    min_score: int = 0,
) -> TallyResult:
    """Count ``ballots`` and fund ``projects`` under ``budget`` by ``rule``.

    ``projects`` are ``(proposal_id, cost)`` pairs in ballot order, costs and
    ``budget`` in integer money units. A ballot is a sequence of proposal ids,
    or for ``cumulative`` a sequence of ``(proposal_id, points)`` pairs.
    ``min_score`` only applies to ``greedy-threshold``. Returns a
    :class:`TallyResult`. Raises :class:`InvalidInput` (with the field) for an
    unknown rule, vote type or tie-break, non-integer or negative money, a
    repeated proposal, or a ballot naming an unknown proposal or giving
    negative or non-integer points.
    """
    _check_choice("rule", rule, RULES)
    _check_choice("vote_type", vote_type, VOTE_TYPES)
    _check_choice("tie_break", tie_break, TIE_BREAKS)
    _check_money("budget", budget)
    if not _is_int(min_score):
        raise InvalidInput("The minimum score must be an integer.", field="min_score")
    proposals = _check_projects(projects)

    with gc_paused():
        canonical, counts = _count(ballots, vote_type, proposals)
    ranking = _rank(proposals, counts, tie_break)
    threshold = min_score if rule == "greedy-threshold" else 0

    outcomes = []
    funded = []
    spent = 0
    stopped = False
    for rank, (proposal_id, cost) in enumerate(ranking, start=1):
        votes = counts.get(proposal_id, 0)
        if votes < threshold:
            reason = BELOW_THRESHOLD
        elif stopped:
            reason = STOPPED
        elif cost <= budget - spent:
            reason = FUNDED
            spent += cost
            funded.append(proposal_id)
        else:
            reason = DOES_NOT_FIT
            stopped = rule == "greedy-no-skip"
        outcomes.append(
            ProposalOutcome(
                proposal_id=proposal_id,
                votes=votes,
                cost=cost,
                rank=rank,
                funded=reason == FUNDED,
                reason=reason,
                spent_after=spent,
            )
        )

    return TallyResult(
        rule=rule,
        vote_type=vote_type,
        tie_break=tie_break,
        min_score=threshold,
        budget=budget,
        spent=spent,
        remaining=budget - spent,
        funded=tuple(funded),
        proposals=tuple(outcomes),
        ballots_counted=len(canonical),
        ballots_hash=ballots_hash(canonical),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(field: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInput(
            f"Unknown {field} {value!r}; expected one of {', '.join(choices)}.",
            field=field,
        )


def _check_money(field: str, value: object) -> None:
    if not _is_int(value):
        raise InvalidInput(
            f"The {field} must be a whole number of money units.", field=field
        )
    if value < 0:
        raise InvalidInput(f"The {field} must not be negative.", field=field)


def _check_projects(projects: Iterable[tuple[str, int]]) -> dict[str, int]:
    proposals: dict[str, int] = {}
    for proposal_id, cost in projects:
        _check_money("cost", cost)
        if proposal_id in proposals:
            raise InvalidInput(
                f"Proposal {proposal_id!r} is listed twice.", field="projects"
            )
        proposals[proposal_id] = cost
    return proposals


def _count(
    ballots: Iterable[Selection] | Iterable[ScoredSelection],
    vote_type: str,
    proposals: dict[str, int],
) -> tuple[list[str], Counter[str]]:
    """Return the canonical text of each ballot, sorted, and the count per proposal.

    A ballot's canonical text is the JSON list of its proposal ids (for
    cumulative ballots ``[id, points]`` pairs), each id once, ordered by the
    JSON text of the id.
    """
    encoded = {proposal_id: _dumps(proposal_id) for proposal_id in proposals}
    ballots = list(ballots)
    if any(isinstance(ballot, str) for ballot in ballots):
        raise InvalidInput(
            "A ballot must be a sequence of proposal ids, not a string.",
            field="ballots",
        )
    try:
        if vote_type == "cumulative":
            return _count_scored(ballots, encoded)
        return _count_approvals(ballots, encoded)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"A ballot names an unknown proposal ({exc}).", field="ballots"
        ) from exc


def _count_approvals(
    ballots: list[Selection], encoded: dict[str, str]
) -> tuple[list[str], Counter[str]]:
    # Identical ballots are common (a quarter are unique in Lodz 2022), so each
    # distinct ballot is counted once and weighted by how often it was cast.
    counts: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    text = encoded.__getitem__
    for ballot, times in Counter(map(tuple, ballots)).items():
        # A set per ballot: naming a proposal twice counts it once.
        selection = set(ballot)
        for proposal_id in selection:
            counts[proposal_id] += times
        weights["[" + ",".join(sorted(map(text, selection))) + "]"] += times
    canonical = [key for key in sorted(weights) for _ in range(weights[key])]
    return canonical, counts


def _count_scored(
    ballots: list[ScoredSelection], encoded: dict[str, str]
) -> tuple[list[str], Counter[str]]:
    counts: Counter[str] = Counter()
    canonical = []
    for ballot in ballots:
        points_by_id: dict[str, int] = {}
        for proposal_id, points in ballot:
            if not _is_int(points) or points < 0:
                raise InvalidInput(
                    "Points on a ballot must be non-negative integers.",
                    field="ballots",
                )
            points_by_id[proposal_id] = points_by_id.get(proposal_id, 0) + points
        pairs = sorted(
            f"[{encoded[proposal_id]},{points}]"
            for proposal_id, points in points_by_id.items()
        )
        canonical.append("[" + ",".join(pairs) + "]")
        counts.update(points_by_id)
    canonical.sort()
    return canonical, counts


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rank(
    proposals: dict[str, int], counts: Counter[str], tie_break: str
) -> list[tuple[str, int]]:
    order = {proposal_id: index for index, proposal_id in enumerate(proposals)}
    if tie_break == "cost-asc":

        def key(item: tuple[str, int]) -> tuple:
            return (-counts.get(item[0], 0), item[1], order[item[0]])

    elif tie_break == "cost-desc":

        def key(item: tuple[str, int]) -> tuple:
            return (-counts.get(item[0], 0), -item[1], order[item[0]])

    else:

        def key(item: tuple[str, int]) -> tuple:
            return (-counts.get(item[0], 0), order[item[0]])

    return sorted(proposals.items(), key=key)


def ballots_hash(canonical: Sequence[str]) -> str:
    """Return ``"sha256:"`` and the hex digest of the sorted canonical ballots.

    The hashed text is the JSON list of the canonical ballots (see ``_count``),
    UTF-8 encoded: the same multiset of ballots gives the same hash.
    """
    body = "[" + ",".join(canonical) + "]"
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def result_to_dict(result: TallyResult) -> dict:
    """Return ``result`` as plain JSON-ready data (money in integer units)."""
    return dataclasses.asdict(result)


def result_to_json(result: TallyResult, **extra: object) -> bytes:
    """Return ``result``, merged with ``extra`` keys, as deterministic JSON bytes.

    Keys are sorted, separators fixed and the text ends with one LF, so the
    same tally always gives the same bytes. Raises :class:`TypeError` when an
    ``extra`` value is not JSON data.
    """
    body = result_to_dict(result)
    body.update(extra)
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


def result_to_csv(result: TallyResult) -> bytes:
    """Return one CSV line per proposal, in ranking order, with LF line endings."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for outcome in result.proposals:
        writer.writerow(
            [
                outcome.rank,
                outcome.proposal_id,
                outcome.votes,
                outcome.cost,
                "1" if outcome.funded else "0",
                outcome.reason,
                outcome.spent_after,
            ]
        )
    return out.getvalue().encode("utf-8")


def tally_election(
    election: Election,
    *,
    rule: str | None = None,
    budget: Decimal | int | None = None,
    tie_break: str = "ballot-order",
) -> TallyResult:
    """Tally a parsed pabulib election and return its :class:`TallyResult`.

    ``rule`` defaults to the file's META rule when it is one of :data:`RULES`,
    else ``greedy``; ``budget`` (in money, not units) defaults to the file's.
    Money is converted to integer units of ``1/scale`` (see
    :func:`~chalicelib.pabulib.money_scale`), recorded in the result's
    ``scale``. The threshold of ``greedy-threshold`` is the file's
    ``min_project_score_threshold``. Raises :class:`InvalidInput` for a
    vote type or rule the tally does not support, money with more than two
    decimals, or cumulative ballots without points.
    """
    if rule is None:
        rule = election.rule if election.rule in RULES else "greedy"
    if budget is not None:
        if isinstance(budget, float) or not isinstance(budget, int | Decimal):
            raise InvalidInput("The budget must be an exact number.", field="budget")
        election = dataclasses.replace(election, budget=Decimal(budget))
    scale = money_scale(election)
    vote_type = election.vote_type
    _check_choice("vote_type", vote_type, VOTE_TYPES)

    projects = [(p.project_id, to_units(p.cost, scale)) for p in election.projects]
    if vote_type == "cumulative":
        if any(v.points is None for v in election.votes):
            raise InvalidInput(
                "Cumulative ballots need points for every vote.", field="points"
            )
        ballots: list = [
            tuple(zip(v.vote, v.points, strict=True)) for v in election.votes
        ]
    else:
        ballots = [v.vote for v in election.votes]

    min_score = (
        election.min_project_score_threshold if rule == "greedy-threshold" else 0
    )
    result = tally(
        projects,
        ballots,
        budget=to_units(election.budget, scale),
        rule=rule,
        vote_type=vote_type,
        tie_break=tie_break,
        min_score=min_score,
    )
    return dataclasses.replace(result, scale=scale)
