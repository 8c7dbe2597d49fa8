"""``pbctl tally``: JSON lines, the table, failures per file and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pbctl.main import main

pytestmark = pytest.mark.unit

ELECTION = """META
key;value
budget;100
vote_type;approval
rule;greedy-no-skip
PROJECTS
project_id;cost;votes;selected
a;60;3;1
b;50;2;0
c;40;1;0
VOTES
voter_id;vote
1;a,b
2;a,b,c
3;a
"""


@pytest.fixture
def election(tmp_path) -> Path:
    path = tmp_path / "small.pb"
    path.write_text(ELECTION.replace("\n", "\r\n"), encoding="utf-8")
    return path


def json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_json_line_uses_the_file_rule(election, capsys):
    status = main(["tally", "--json", str(election)])

    assert status == 0
    assert json_lines(capsys) == [
        {
            "file": str(election),
            "rule": "greedy-no-skip",
            "budget": 100,
            "funded": ["a"],
            "spent": 60,
        }
    ]


def test_rule_and_budget_options(election, capsys):
    status = main(
        ["tally", "--rule", "greedy", "--budget", "150", "--json", str(election)]
    )

    assert status == 0
    [line] = json_lines(capsys)
    assert line["rule"] == "greedy"
    assert line["budget"] == 150
    assert line["funded"] == ["a", "b", "c"]
    assert line["spent"] == 150


@pytest.mark.parametrize(
    ("tie_break", "funded"), [("ballot-order", ["a", "b"]), ("cost-asc", ["a", "c"])]
)
def test_tie_break_option(tie_break, funded, tmp_path, capsys):
    # b and c both get one vote; only one of them fits after a.
    path = tmp_path / "tied.pb"
    path.write_text(ELECTION.replace("2;a,b,c", "2;a,c").replace("1;a,b", "1;a,b"))
    argv = ["tally", "--rule", "greedy", "--budget", "110", "--tie-break", tie_break]

    main([*argv, "--json", str(path)])

    assert json_lines(capsys)[0]["funded"] == funded


def test_money_with_cents_is_an_exact_json_number(election, capsys):
    main(["tally", "--budget", "100.10", "--json", str(election)])

    out = capsys.readouterr().out
    assert '"budget":100.1,' in out
    assert '"spent":60}' in out


def test_other_meta_rule_falls_back_to_greedy(tmp_path, capsys):
    path = tmp_path / "mes.pb"
    path.write_text(ELECTION.replace("greedy-no-skip", "equalshares/add1"))

    main(["tally", "--json", str(path)])

    assert json_lines(capsys)[0]["rule"] == "greedy"


def test_a_bad_file_fails_alone(election, tmp_path, capsys):
    broken = tmp_path / "broken.pb"
    broken.write_text(ELECTION.replace("3;a\n", "3;zzz\n"))
    missing = tmp_path / "missing.pb"

    status = main(["tally", "--json", str(broken), str(election), str(missing)])

    assert status == 2  # an unreadable or invalid file is bad input
    first, second, third = json_lines(capsys)
    assert first == {
        "file": str(broken),
        "error": "line 15: vote names unknown project 'zzz'",
    }
    assert second["funded"] == ["a"]
    assert third["file"] == str(missing)
    assert "cannot read" in third["error"]


def test_unsupported_vote_type_is_a_file_error(tmp_path, capsys):
    path = tmp_path / "ordinal.pb"
    path.write_text(ELECTION.replace("vote_type;approval", "vote_type;ordinal"))

    assert main(["tally", "--json", str(path)]) == 2
    [line] = json_lines(capsys)
    assert "ordinal" in line["error"]


def test_table_without_json(election, capsys):
    status = main(["tally", str(election)])

    out = capsys.readouterr().out
    assert status == 0
    assert str(election) in out
    assert "greedy-no-skip" in out
    assert "funded  1: a" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["tally"],
        ["tally", "--rule", "equalshares", "x.pb"],
        ["tally", "--tie-break", "random", "x.pb"],
        ["tally", "--budget", "lots", "x.pb"],
        ["tally", "--budget", "-5", "x.pb"],
        ["nosuch"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_installed_console_script(election):
    pbctl = Path(sys.executable).with_name("pbctl")
    if not pbctl.exists():
        pytest.skip(f"pbctl is not installed next to {sys.executable}")

    done = subprocess.run(
        [str(pbctl), "tally", "--json", str(election)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["funded"] == ["a"]


@pytest.mark.parametrize("budget", ["1e100000", "1e-22", "12.345", "-1", "nan"])
def test_an_absurd_budget_is_a_usage_error(budget, capsys):
    assert main(["tally", "--budget", budget, "--json", "any.pb"]) == 2
    assert "--budget" in capsys.readouterr().err
