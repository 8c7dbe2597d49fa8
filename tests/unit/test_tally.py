"""The greedy tally: rules, fit, tie-breaks, counting, determinism."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.pabulib import parse_pb
from chalicelib.tally import (
    BELOW_THRESHOLD,
    DOES_NOT_FIT,
    FUNDED,
    STOPPED,
    result_to_csv,
    result_to_json,
    tally,
    tally_election,
)

pytestmark = pytest.mark.unit

# Ranked a (3 votes), b (2), c (1), d (0): a fits, b does not, c would.
PROJECTS = [("a", 60), ("b", 50), ("c", 40), ("d", 0)]
BALLOTS = [("a", "b"), ("a", "b", "c"), ("a",)]


def run(ballots=BALLOTS, projects=PROJECTS, **options):
    options.setdefault("budget", 100)
    options.setdefault("rule", "greedy")
    options.setdefault("vote_type", "approval")
    return tally(projects, ballots, **options)


def reasons(result):
    return {o.proposal_id: o.reason for o in result.proposals}


def test_greedy_skips_what_does_not_fit_and_goes_on():
    result = run()

    assert result.funded == ("a", "c", "d")
    assert reasons(result) == {
        "a": FUNDED,
        "b": DOES_NOT_FIT,
        "c": FUNDED,
        "d": FUNDED,
    }
    assert result.spent == 100
    assert result.remaining == 0
    assert [o.spent_after for o in result.proposals] == [60, 60, 100, 100]
    assert [o.rank for o in result.proposals] == [1, 2, 3, 4]
    assert [o.votes for o in result.proposals] == [3, 2, 1, 0]


def test_no_skip_stops_at_the_first_that_does_not_fit():
    result = run(rule="greedy-no-skip")

    assert result.funded == ("a",)
    assert reasons(result) == {
        "a": FUNDED,
        "b": DOES_NOT_FIT,
        "c": STOPPED,
        "d": STOPPED,
    }
    assert result.spent == 60
    assert result.remaining == 40


def test_threshold_makes_low_counts_ineligible():
    result = run(rule="greedy-threshold", min_score=2, budget=200)

    assert result.funded == ("a", "b")
    assert reasons(result)["c"] == BELOW_THRESHOLD
    assert reasons(result)["d"] == BELOW_THRESHOLD
    assert result.min_score == 2


def test_threshold_is_inclusive():
    result = run(rule="greedy-threshold", min_score=1, budget=200)

    assert "c" in result.funded
    assert reasons(result)["d"] == BELOW_THRESHOLD


def test_threshold_applies_only_to_greedy_threshold():
    result = run(rule="greedy", min_score=5)

    assert result.funded == ("a", "c", "d")
    assert result.min_score == 0


def test_cost_equal_to_remaining_budget_fits():
    result = run(projects=[("a", 60), ("b", 40)], ballots=[("a", "b")], budget=100)

    assert result.funded == ("a", "b")
    assert result.remaining == 0


def test_cost_one_above_remaining_budget_does_not_fit():
    result = run(projects=[("a", 60), ("b", 41)], ballots=[("a", "b")], budget=100)

    assert result.funded == ("a",)
    assert reasons(result)["b"] == DOES_NOT_FIT


def test_zero_cost_proposal_always_fits():
    result = run(projects=[("a", 100), ("z", 0)], ballots=[("a",)], budget=100)

    assert result.funded == ("a", "z")
    assert result.spent == 100


# x, y, z all get one vote; costs 30, 10, 20.
TIED = [("x", 30), ("y", 10), ("z", 20)]
TIED_BALLOTS = [("x", "y", "z")]


@pytest.mark.parametrize(
    ("tie_break", "order"),
    [
        ("ballot-order", ["x", "y", "z"]),
        ("cost-asc", ["y", "z", "x"]),
        ("cost-desc", ["x", "z", "y"]),
    ],
)
def test_each_tie_break_orders_equal_counts(tie_break, order):
    result = run(TIED_BALLOTS, TIED, budget=35, tie_break=tie_break)

    assert [o.proposal_id for o in result.proposals] == order
    assert result.tie_break == tie_break


def test_ballot_order_is_the_default_tie_break():
    result = run(TIED_BALLOTS, TIED, budget=35)

    assert result.tie_break == "ballot-order"
    assert result.funded == ("x",)


def test_cost_tie_breaks_fall_back_to_ballot_order():
    projects = [("p", 10), ("q", 10), ("r", 10)]

    for tie_break in ("cost-asc", "cost-desc"):
        result = run([("r", "q", "p")], projects, tie_break=tie_break)
        assert [o.proposal_id for o in result.proposals] == ["p", "q", "r"]


def test_tie_break_does_not_override_counts():
    result = run([("y",), ("x", "y")], TIED, budget=100, tie_break="cost-desc")

    assert [o.proposal_id for o in result.proposals] == ["y", "x", "z"]


def test_proposal_named_twice_on_a_ballot_counts_once():
    result = run([("b", "b", "b"), ("a",), ("a",)], [("a", 10), ("b", 10)])

    assert {o.proposal_id: o.votes for o in result.proposals} == {"a": 2, "b": 1}


def test_choose_one_counts_ballots():
    result = run([("b",), ("b",), ("a",)], [("a", 10), ("b", 10)], vote_type="choose-1")

    assert [(o.proposal_id, o.votes) for o in result.proposals] == [("b", 2), ("a", 1)]


def test_cumulative_sums_points():
    ballots = [(("a", 3), ("b", 7)), (("a", 5),), (("b", 1), ("b", 1))]
    result = run(ballots, [("a", 10), ("b", 10)], vote_type="cumulative")

    assert [(o.proposal_id, o.votes) for o in result.proposals] == [("b", 9), ("a", 8)]


def test_empty_ballots_are_counted_but_name_nothing():
    result = run([(), (), ("c",)])

    assert result.ballots_counted == 3
    assert result.funded[0] == "c"


def test_no_ballots_at_all():
    result = run([])

    assert result.ballots_counted == 0
    assert all(o.votes == 0 for o in result.proposals)
    assert result.funded == ("a", "c", "d")


def test_lists_and_generators_are_accepted_as_ballots():
    as_lists = run([list(b) for b in BALLOTS])
    as_generator = run(b for b in BALLOTS)

    assert as_lists == run() == as_generator


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"rule": "equalshares"}, "rule"),
        ({"vote_type": "ordinal"}, "vote_type"),
        ({"tie_break": "random"}, "tie_break"),
        ({"budget": 100.0}, "budget"),
        ({"budget": -1}, "budget"),
        ({"budget": True}, "budget"),
        ({"budget": Decimal(100)}, "budget"),
        ({"min_score": 1.5}, "min_score"),
        ({"projects": [("a", 1.5)]}, "cost"),
        ({"projects": [("a", -1)]}, "cost"),
        ({"projects": [("a", 1), ("a", 2)]}, "projects"),
        ({"ballots": [("zzz",)]}, "ballots"),
        ({"ballots": ["ab"]}, "ballots"),
        ({"ballots": [(("a", 1.5),)], "vote_type": "cumulative"}, "ballots"),
        ({"ballots": [(("a", -1),)], "vote_type": "cumulative"}, "ballots"),
        ({"ballots": [(("zzz", 1),)], "vote_type": "cumulative"}, "ballots"),
        ({"ballots": [("a",)], "vote_type": "cumulative"}, "ballots"),
    ],
)
def test_bad_input_is_invalid_input_with_its_field(options, field):
    with pytest.raises(InvalidInput) as caught:
        run(**options)

    assert caught.value.code == "INVALID_INPUT"
    assert caught.value.field == field


def test_unknown_rule_names_the_choices():
    with pytest.raises(InvalidInput) as caught:
        run(rule="Greedy")

    assert "greedy, greedy-no-skip, greedy-threshold" in caught.value.message


def many_ballots(seed=7, count=500):
    rng = random.Random(seed)
    ids = [p for p, _ in PROJECTS]
    return [tuple(rng.sample(ids, rng.randint(0, 3))) for _ in range(count)]


def test_same_ballots_in_any_order_give_identical_bytes():
    ballots = many_ballots()
    shuffled = list(ballots)
    random.Random(1).shuffle(shuffled)
    within = [tuple(reversed(b)) for b in shuffled]

    first, second, third = run(ballots), run(shuffled), run(within)

    assert first.ballots_hash == second.ballots_hash == third.ballots_hash
    assert result_to_json(first) == result_to_json(second) == result_to_json(third)
    assert result_to_csv(first) == result_to_csv(second) == result_to_csv(third)


def test_different_ballots_give_a_different_hash():
    assert run().ballots_hash != run(BALLOTS[:-1]).ballots_hash
    assert run().ballots_hash.startswith("sha256:")
    assert len(run().ballots_hash) == len("sha256:") + 64


def test_ballots_hash_is_order_independent_for_cumulative():
    ballots = [(("a", 3), ("b", 7)), (("a", 5),)]
    swapped = [(("a", 5),), (("b", 7), ("a", 3))]

    def hashed(b):
        return run(b, vote_type="cumulative").ballots_hash

    assert hashed(ballots) == hashed(swapped)
    assert hashed(ballots) != hashed([(("a", 3), ("b", 6)), (("a", 5),)])


def test_json_is_sorted_compact_and_carries_extra_keys():
    body = result_to_json(run(), cycle="2026-boston")
    data = json.loads(body)

    assert body.endswith(b"\n") and b"\r" not in body
    assert (
        body
        == (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()
    )
    assert data["cycle"] == "2026-boston"
    assert data["funded"] == ["a", "c", "d"]
    assert data["rule"] == "greedy"
    assert data["tie_break"] == "ballot-order"
    assert data["ballots_counted"] == 3
    assert data["proposals"][1] == {
        "proposal_id": "b",
        "votes": 2,
        "cost": 50,
        "rank": 2,
        "funded": False,
        "reason": "does_not_fit",
        "spent_after": 60,
    }


def test_csv_has_one_line_per_proposal_in_rank_order():
    body = result_to_csv(run())
    rows = list(csv.reader(io.StringIO(body.decode())))

    assert b"\r" not in body
    assert rows[0] == [
        "rank",
        "proposal_id",
        "votes",
        "cost",
        "funded",
        "reason",
        "spent_after",
    ]
    assert rows[1] == ["1", "a", "3", "60", "1", "funded", "60"]
    assert rows[2] == ["2", "b", "2", "50", "0", "does_not_fit", "60"]
    assert len(rows) == 5


ELECTION = """META
key;value
budget;100.50
vote_type;approval
rule;greedy-threshold
min_project_score_threshold;2
PROJECTS
project_id;cost;votes;selected
a;60.25;3;1
b;40.25;1;0
c;40;2;1
VOTES
voter_id;vote
1;a,c
2;a,b
3;a,c
"""


def test_tally_election_uses_cents_and_the_file_rule():
    result = tally_election(parse_pb(ELECTION))

    assert result.scale == 100
    assert result.budget == 10050
    assert result.rule == "greedy-threshold"
    assert result.min_score == 2
    assert result.funded == ("a", "c")
    assert result.spent == 10025
    assert reasons(result)["b"] == BELOW_THRESHOLD


def test_tally_election_overrides_rule_and_budget():
    result = tally_election(parse_pb(ELECTION), rule="greedy", budget=Decimal("200"))

    assert result.rule == "greedy"
    assert result.budget == 20000
    assert result.funded == ("a", "c", "b")


def test_tally_election_falls_back_to_greedy_for_other_rules():
    election = parse_pb(ELECTION.replace("greedy-threshold", "equalshares/add1"))

    assert tally_election(election).rule == "greedy"


def test_tally_election_refuses_a_float_budget():
    with pytest.raises(InvalidInput) as caught:
        tally_election(parse_pb(ELECTION), budget=100.5)

    assert caught.value.field == "budget"


def test_tally_election_refuses_ordinal_ballots():
    election = parse_pb(ELECTION.replace("vote_type;approval", "vote_type;ordinal"))

    with pytest.raises(InvalidInput) as caught:
        tally_election(election)
    assert caught.value.field == "vote_type"


def test_tally_election_of_cumulative_ballots():
    text = (
        ELECTION.replace("vote_type;approval", "vote_type;cumulative")
        .replace("voter_id;vote", "voter_id;vote;points")
        .replace("1;a,c", "1;a,c;1,9")
        .replace("2;a,b", "2;a,b;1,9")
        .replace("3;a,c", "3;a,c;1,1")
    )
    result = tally_election(parse_pb(text), rule="greedy")

    assert [(o.proposal_id, o.votes) for o in result.proposals][:2] == [
        ("c", 10),
        ("b", 9),
    ]


def test_tally_election_refuses_cumulative_without_points():
    election = parse_pb(ELECTION.replace("vote_type;approval", "vote_type;cumulative"))

    with pytest.raises(InvalidInput) as caught:
        tally_election(election)
    assert caught.value.field == "points"
