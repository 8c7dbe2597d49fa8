"""The pabulib reader and writer: tolerances, rejections, round trips."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.errors import InvalidInput, PabulibFormatError
from chalicelib.pabulib import (
    Election,
    Project,
    Vote,
    from_units,
    money_scale,
    parse_pb,
    read_pb,
    to_units,
    write_pb,
)

pytestmark = pytest.mark.unit

PABULIB_DIR = Path(
    os.environ.get(
        "PABULIB_DIR", Path(__file__).resolve().parents[3] / "shared" / "pabulib"
    )
)

SMALL = """META
key;value
description;Small test
num_projects;3
budget;1000
vote_type;approval
rule;greedy
PROJECTS
project_id;cost;votes;name;selected
a;600;2;Park;1
b;500;2;"Library; new wing";0
c;400;1;"The ""big"" tree";1
VOTES
voter_id;vote;age
1;a,b;30
2;a,c;None
3;b;
"""


def lines(*rows: str, end: str = "\n") -> str:
    return end.join(rows) + end


def test_small_file_reads_every_section():
    election = parse_pb(SMALL, source="small.pb")

    assert list(election.meta) == [
        "description",
        "num_projects",
        "budget",
        "vote_type",
        "rule",
    ]
    assert election.budget == Decimal(1000)
    assert election.vote_type == "approval"
    assert election.rule == "greedy"
    assert election.source == "small.pb"
    assert [p.project_id for p in election.projects] == ["a", "b", "c"]
    assert election.projects[1].fields["name"] == "Library; new wing"
    assert election.projects[2].fields["name"] == 'The "big" tree'
    assert election.projects[0].fields == {
        "votes": "2",
        "name": "Park",
        "selected": "1",
    }
    assert election.votes[0] == Vote("1", ("a", "b"), None, {"age": "30"})
    assert election.votes[1].fields == {"age": "None"}
    assert election.selected == {"a", "c"}
    assert election.min_project_score_threshold == 0


def test_crlf_mixed_endings_bom_and_no_final_newline_read_the_same():
    plain = parse_pb(SMALL)
    crlf = SMALL.replace("\n", "\r\n")
    mixed = "".join(
        line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(SMALL.splitlines())
    )

    assert parse_pb(crlf) == plain
    assert parse_pb(mixed) == plain
    assert parse_pb("\ufeff" + crlf) == plain
    assert parse_pb(SMALL.rstrip("\n")) == plain
    assert parse_pb(SMALL.replace("\n", "\r")) == plain


def test_blank_lines_are_ignored():
    text = SMALL.replace("PROJECTS\n", "\nPROJECTS\n").replace("VOTES\n", "\n\nVOTES\n")

    assert parse_pb(text) == parse_pb(SMALL)


def test_columns_in_any_order():
    text = lines(
        "META",
        "key;value",
        "budget;10",
        "PROJECTS",
        "name;cost;project_id",
        "Park;5;p1",
        "VOTES",
        "age;vote;voter_id",
        "40;p1;v1",
    )
    election = parse_pb(text)

    assert election.projects == [Project("p1", Decimal(5), {"name": "Park"})]
    assert election.votes == [Vote("v1", ("p1",), None, {"age": "40"})]


def test_decimal_costs_and_budget_are_exact():
    text = lines(
        "META",
        "key;value",
        "budget;1331751.11",
        "PROJECTS",
        "project_id;cost",
        "a;5000.0",
        "b;0.10",
        "VOTES",
        "voter_id;vote",
    )
    election = parse_pb(text)

    assert election.budget == Decimal("1331751.11")
    assert election.projects[0].cost == Decimal("5000.0")
    assert election.projects[1].cost == Decimal("0.10")
    assert election.votes == []


def test_none_and_empty_vote_cells_are_empty_ballots():
    text = lines(
        "META",
        "budget;10",
        "PROJECTS",
        "project_id;cost",
        "a;5",
        "VOTES",
        "voter_id;vote",
        "1;None",
        "2;",
        "3; a ",
    )
    election = parse_pb(text)

    assert [v.vote for v in election.votes] == [(), (), ("a",)]


def test_meta_without_key_value_header_is_accepted():
    text = lines(
        "META", "budget;10", "PROJECTS", "project_id;cost", "VOTES", "voter_id;vote"
    )

    assert parse_pb(text).meta == {"budget": "10"}


def test_project_named_twice_in_a_ballot_is_kept_as_written():
    text = lines(
        "META", "budget;10", "PROJECTS", "project_id;cost", "a;5", "b;5",
        "VOTES", "voter_id;vote", "1;a,a,b",
    )  # fmt: skip

    assert parse_pb(text).votes[0].vote == ("a", "a", "b")


def test_points_are_read_for_cumulative_ballots():
    text = lines(
        "META", "budget;10", "vote_type;cumulative", "PROJECTS", "project_id;cost",
        "a;5", "b;5", "VOTES", "voter_id;vote;points", "1;a,b;7,3", "2;;",
    )  # fmt: skip
    election = parse_pb(text)

    assert election.vote_type == "cumulative"
    assert election.votes[0].points == (7, 3)
    assert election.votes[1] == Vote("2", (), (), {})


def test_quoted_field_spanning_lines_keeps_later_line_numbers():
    text = lines(
        "META", "budget;10", "PROJECTS", "project_id;cost;name", 'a;5;"two', 'lines"',
        "VOTES", "voter_id;vote", "1;zzz",
    )  # fmt: skip

    with pytest.raises(PabulibFormatError) as caught:
        parse_pb(text)
    assert caught.value.line == 9


def test_threshold_property():
    text = SMALL.replace(
        "rule;greedy", "rule;greedy-threshold\nmin_project_score_threshold;50"
    )

    assert parse_pb(text).min_project_score_threshold == 50


def test_threshold_that_is_not_whole_is_invalid_input():
    text = SMALL.replace("rule;greedy", "min_project_score_threshold;5.5")

    with pytest.raises(InvalidInput) as caught:
        parse_pb(text).min_project_score_threshold  # noqa: B018
    assert caught.value.field == "min_project_score_threshold"


BAD = [
    ("", 1, "empty"),
    ("\n\n  \n", 1, "empty"),
    ("PROJECTS\nproject_id;cost\n", 1, "out of place"),
    ("description;x\nMETA\nbudget;1\n", 1, "start with the META"),
    ("META\nbudget;10\n", 2, "PROJECTS section is missing"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\n", 4, "VOTES section is missing"),
    ("META\nbudget;10\nVOTES\nvoter_id;vote\n", 3, "out of place"),
    ("META\nkey;value\nnum_votes;1\nPROJECTS\nproject_id;cost\nVOTES\nvoter_id;vote\n",
     1, "no budget"),
    ("META\nbudget;ten\nPROJECTS\nproject_id;cost\nVOTES\nvoter_id;vote\n",
     2, "budget 'ten'"),
    ("META\nbudget;10;x\nPROJECTS\nproject_id;cost\nVOTES\nvoter_id;vote\n",
     2, "3 fields"),
    ("META\nbudget;1\nbudget;2\nPROJECTS\nproject_id;cost\nVOTES\nvoter_id;vote\n",
     3, "appears twice"),
    ("META\nbudget;10\nPROJECTS\nid;cost\nVOTES\nvoter_id;vote\n", 4, "'project_id'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;price\nVOTES\nvoter_id;vote\n",
     4, "'cost'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost;cost\nVOTES\nvoter_id;vote\n",
     4, "twice"),
    ("META\nbudget;10\nPROJECTS\nVOTES\nvoter_id;vote\n", 4, "no header"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;abc\nVOTES\nvoter_id;vote\n",
     5, "cost of project 'a' 'abc'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;-5\nVOTES\nvoter_id;vote\n",
     5, "non-negative"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;NaN\nVOTES\nvoter_id;vote\n",
     5, "non-negative"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;None\nVOTES\nvoter_id;vote\n",
     5, "non-negative"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5;x\nVOTES\nvoter_id;vote\n",
     5, "3 fields, the header has 2"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\na;6\nVOTES\nvoter_id;vote\n",
     6, "listed twice"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\n;5\nVOTES\nvoter_id;vote\n",
     5, "project_id is empty"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter;vote\n",
     7, "'voter_id'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;ballot\n",
     7, "'vote'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;vote\n1;a\n2;b\n",
     9, "unknown project 'b'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;vote\n1;a;x\n",
     8, "3 fields, the header has 2"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;vote\n1\n",
     8, "1 fields, the header has 2"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;vote;points\n"
     "1;a;1,2\n", 8, "1 projects but has 2 points"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\nVOTES\nvoter_id;vote;points\n"
     "1;a;x\n", 8, "points 'x'"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost;name\na;5;\"x\"y\nVOTES\n",
     5, "badly quoted"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost;name\na;5;\"open\nVOTES\n",
     6, "badly quoted"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\na;5\x00\nVOTES\nvoter_id;vote\n",
     5, "NUL"),
    ("META\nbudget;10\nPROJECTS\nproject_id;cost\nVOTES\nvoter_id;vote\nMETA\n",
     7, "no more sections"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "problem"), BAD)
def test_malformed_file_is_rejected_with_its_line(text, line, problem):
    with pytest.raises(PabulibFormatError) as caught:
        parse_pb(text)

    assert caught.value.line == line
    assert caught.value.code == "PB_FORMAT"
    assert caught.value.field == "file"
    assert problem in caught.value.message
    assert caught.value.message.startswith(f"line {line}: ")


def test_rejection_keeps_its_line_with_crlf():
    text = BAD[24][0].replace("\n", "\r\n")

    with pytest.raises(PabulibFormatError) as caught:
        parse_pb(text)
    assert caught.value.line == 9


def test_bytes_that_are_not_utf8_are_a_format_error(tmp_path):
    path = tmp_path / "latin1.pb"
    bad = SMALL.encode("utf-8").replace(b"Park", b"P\xe9rk")
    path.write_bytes(bad)

    with pytest.raises(PabulibFormatError) as caught:
        read_pb(path)
    assert caught.value.line == 10
    assert "UTF-8" in caught.value.message


@pytest.mark.parametrize("seed", range(40))
def test_arbitrary_bytes_raise_only_format_errors(seed, tmp_path):
    import random

    rng = random.Random(seed)
    data = bytearray(SMALL.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    path = tmp_path / "fuzz.pb"
    path.write_bytes(bytes(data))

    try:
        read_pb(path)
    except PabulibFormatError:
        pass


def test_read_pb_reads_a_file(tmp_path):
    path = tmp_path / "small.pb"
    path.write_bytes(SMALL.replace("\n", "\r\n").encode("utf-8"))

    election = read_pb(path)
    assert election == parse_pb(SMALL)
    assert election.source == str(path)


def test_write_uses_lf_and_quotes_only_when_needed():
    text = write_pb(parse_pb(SMALL))

    assert "\r" not in text
    assert text.startswith("META\nkey;value\n")
    assert '"Library; new wing"' in text
    assert '"The ""big"" tree"' in text
    assert ";Park;" in text
    assert "\nPROJECTS\nproject_id;cost;votes;name;selected\n" in text
    assert "\nVOTES\nvoter_id;vote;age\n" in text


def test_round_trip_of_small_file():
    election = parse_pb(SMALL)

    assert parse_pb(write_pb(election)) == election


def test_round_trip_of_a_built_election():
    election = Election(
        meta={
            "description": 'quote " and ; semi',
            "budget": "1.50",
            "vote_type": "cumulative",
        },
        projects=[
            Project("x 1", Decimal("1.25"), {"name": "line\nbreak"}),
            Project("y", Decimal(0), {"name": ""}),
        ],
        votes=[
            Vote("v1", ("x 1", "y"), (3, 2), {"sex": "F"}),
            Vote("v2", (), (), {"sex": ""}),
        ],
        budget=Decimal("1.50"),
        vote_type="cumulative",
    )

    assert parse_pb(write_pb(election)) == election


def real_files() -> list[Path]:
    return sorted(PABULIB_DIR.glob("*.pb")) if PABULIB_DIR.is_dir() else []


@pytest.mark.skipif(not real_files(), reason=f"no pabulib files in {PABULIB_DIR}")
@pytest.mark.parametrize(
    "name", [p.name for p in real_files() if p.stat().st_size < 1_000_000]
)
def test_round_trip_of_real_file(name):
    election = read_pb(PABULIB_DIR / name)

    again = parse_pb(write_pb(election))
    assert again == election
    assert write_pb(again) == write_pb(election)


def test_money_scale_is_one_for_whole_amounts():
    election = parse_pb(SMALL.replace("a;600", "a;600.0"))

    assert money_scale(election) == 1
    assert to_units(Decimal("600.0"), 1) == 600


def test_money_scale_is_cents_when_an_amount_has_cents():
    election = parse_pb(SMALL.replace("budget;1000", "budget;1000.5"))

    assert money_scale(election) == 100
    assert to_units(election.budget, 100) == 100050
    assert from_units(100050, 100) == Decimal("1000.5")
    assert from_units(100000, 100) == 1000


def test_money_scale_refuses_a_third_decimal():
    election = parse_pb(SMALL.replace("b;500", "b;500.125"))

    with pytest.raises(InvalidInput) as caught:
        money_scale(election)
    assert caught.value.field == "cost"
    assert "more than two decimals" in caught.value.message


def test_to_units_refuses_a_fraction_of_a_unit():
    with pytest.raises(InvalidInput) as caught:
        to_units(Decimal("1.5"), 1)
    assert caught.value.field == "cost"
