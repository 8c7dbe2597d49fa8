"""Replaying a pabulib election: the cycle it becomes and its replay calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.cycle import PHASES, Phase, advance, ballot_hash, due_phase
from chalicelib.errors import InvalidInput
from chalicelib.importer import cycle_from_election, replay_calendar
from chalicelib.pabulib import parse_pb

pytestmark = pytest.mark.unit

NOW = datetime(2027, 3, 10, 15, 30, tzinfo=UTC)


def pb(*, meta: str = "", vote_type: str = "approval", costs=(600, 500, 400)) -> str:
    """A three-project election; ``meta`` adds ``key;value`` lines."""
    a, b, c = costs
    return f"""META
key;value
description;Small test
budget;1000
vote_type;{vote_type}
{meta}
PROJECTS
project_id;cost;name;description;category
a;{a};Park;A pocket park;parks
b;{b};Library;;
c;{c};;;
VOTES
voter_id;vote
1;a,b
2;a
3;c
"""


def imported(text: str, **options):
    return cycle_from_election(parse_pb(text), cycle_id="replay-1", now=NOW, **options)


# -- the cycle ----------------------------------------------------------------


def test_an_approval_election_becomes_a_scheduled_cycle():
    cycle = imported(pb())

    assert cycle.cycle_id == "replay-1"
    assert cycle.name == "Small test"
    assert cycle.phase is Phase.SCHEDULED
    assert cycle.version == 0
    assert cycle.budget_cap == 1000
    assert cycle.vote_type == "approval"
    assert cycle.min_voting_age == 11
    assert cycle.languages == ("en",)
    assert cycle.ballot_hash == ""


def test_proposals_keep_file_order_costs_names_and_categories():
    cycle = imported(pb())

    assert [(p.proposal_id, p.cost) for p in cycle.proposals] == [
        ("a", 600),
        ("b", 500),
        ("c", 400),
    ]
    park, library, unnamed = cycle.proposals
    assert park.title == {"en": "Park"}
    assert park.summary == {"en": "A pocket park"}
    # A pabulib category is a topic, not a lead department: it is not used.
    assert park.department == ""
    assert library.summary == {}
    assert unnamed.title == {"en": "Project c"}


def test_whole_costs_written_with_a_decimal_point_are_accepted():
    cycle = imported(pb(costs=("600.0", "500.00", 400)).replace("1000", "1000.0"))

    assert [p.cost for p in cycle.proposals] == [600, 500, 400]
    assert cycle.budget_cap == 1000
    assert all(type(p.cost) is int for p in cycle.proposals)


def test_the_minimum_voting_age_can_be_chosen():
    assert imported(pb(), min_voting_age=16).min_voting_age == 16


# -- the selection limit ------------------------------------------------------


def test_the_selection_limit_is_max_length_when_given():
    assert imported(pb(meta="max_length;3")).selection_limit == 3


def test_the_selection_limit_is_the_longest_ballot_without_max_length():
    assert imported(pb()).selection_limit == 2


def test_the_selection_limit_never_refuses_a_ballot_of_the_file():
    # GIVEN a max_length below the longest ballot actually cast
    assert imported(pb(meta="max_length;1")).selection_limit == 2


def test_a_max_length_of_none_is_read_as_absent():
    assert imported(pb(meta="max_length;None")).selection_limit == 2


@pytest.mark.parametrize("value", ["two", "-1", "2.5"])
def test_a_max_length_that_is_not_a_whole_number_is_refused(value):
    with pytest.raises(InvalidInput) as info:
        imported(pb(meta=f"max_length;{value}"))

    assert (info.value.code, info.value.field) == ("INVALID_INPUT", "max_length")


def test_choose_one_gives_a_limit_of_one():
    text = pb(vote_type="choose-1", meta="max_length;3").replace("1;a,b", "1;b")

    cycle = imported(text)

    assert cycle.vote_type == "choose-1"
    assert cycle.selection_limit == 1


# -- refused elections --------------------------------------------------------


@pytest.mark.parametrize("vote_type", ["cumulative", "ordinal", "scoring"])
def test_a_vote_type_the_api_cannot_cast_is_refused(vote_type):
    with pytest.raises(InvalidInput) as info:
        imported(pb(vote_type=vote_type))

    assert (info.value.code, info.value.field) == ("INVALID_INPUT", "vote_type")


def test_a_fractional_cost_is_refused():
    with pytest.raises(InvalidInput) as info:
        imported(pb(costs=(600, "500.50", 400)))

    assert info.value.field == "cost"
    assert "b" in info.value.message


def test_a_fractional_budget_is_refused():
    with pytest.raises(InvalidInput) as info:
        imported(pb().replace("budget;1000", "budget;1000.25"))

    assert info.value.field == "budget"


# -- rules and threshold ------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "rule"),
    [
        ("rule;greedy", "greedy"),
        ("rule;greedy-no-skip", "greedy-no-skip"),
        ("rule;greedy-threshold", "greedy-threshold"),
        ("rule;equalshares/add1", "greedy"),
        ("rule;unknown", "greedy"),
        ("", "greedy"),
    ],
)
def test_the_file_rule_maps_to_a_cycle_rule(meta, rule):
    assert imported(pb(meta=meta)).rule == rule


def test_the_minimum_project_score_threshold_is_carried():
    cycle = imported(pb(meta="rule;greedy-threshold\nmin_project_score_threshold;2"))

    assert cycle.min_project_score == 2


def test_no_threshold_means_a_minimum_score_of_zero():
    assert imported(pb()).min_project_score == 0


# -- the replay calendar ------------------------------------------------------


def test_the_replay_calendar_puts_now_inside_voting():
    calendar = replay_calendar(NOW, timedelta(hours=2))
    voting = calendar[Phase.VOTING]

    assert voting.start < NOW < voting.end
    assert voting.end == NOW + timedelta(hours=2)
    assert set(calendar) == set(PHASES)


def test_the_replay_calendar_has_every_earlier_phase_over_by_now():
    calendar = replay_calendar(NOW, timedelta(hours=1))

    for phase in PHASES[: PHASES.index(Phase.VOTING)]:
        assert calendar[phase].end <= NOW, phase


def test_the_replay_calendar_phases_follow_one_another():
    calendar = replay_calendar(NOW, timedelta(hours=1))
    windows = [calendar[p] for p in PHASES]

    for earlier, later in zip(windows, windows[1:], strict=False):
        assert earlier.start < earlier.end <= later.start


def test_the_cycle_uses_the_replay_calendar():
    cycle = imported(pb(), voting_for=timedelta(minutes=30))

    assert cycle.calendar == replay_calendar(NOW, timedelta(minutes=30))


def test_walking_the_cycle_from_scheduled_reaches_voting_at_now():
    cycle = imported(pb())
    steps = []

    # WHEN the phase clock runs at ``now``, as many steps as are due
    while (target := due_phase(cycle, NOW)) is not None:
        cycle, transition = advance(
            cycle, target, now=NOW, actor="system:test", reason="replay"
        )
        steps.append(transition.to_phase)

    assert steps == list(PHASES[: PHASES.index(Phase.VOTING) + 1])
    assert cycle.phase is Phase.VOTING
    assert cycle.ballot_hash == ballot_hash(cycle)


def test_voting_closes_when_the_voting_window_is_over():
    cycle = imported(pb(), voting_for=timedelta(hours=1))
    while (target := due_phase(cycle, NOW)) is not None:
        cycle, _ = advance(cycle, target, now=NOW, actor="a", reason="r")

    assert due_phase(cycle, NOW + timedelta(minutes=59)) is None
    assert due_phase(cycle, NOW + timedelta(hours=1)) is Phase.TALLY
