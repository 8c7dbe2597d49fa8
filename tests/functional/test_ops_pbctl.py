"""``pbctl status``, ``phase open|close``, ``tally --publish`` and ``export``
against a moto server on loopback, through ``pbctl.main`` as an operator
runs them: a cycle walked from voting to results, the refusals (each one
audited), and the exit status of every class of failure."""

from __future__ import annotations

import getpass
import json
import os
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.pabulib import read_pb
from chalicelib.publish import result_files
from chalicelib.voting import cast_ballot
from pbctl.exitcodes import EPILOG
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import main
from pbctl.operator import LOCAL_ENV, connect
from tests.functional.conftest import dead_endpoint, open_voting, small_cycle

pytestmark = pytest.mark.functional

ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}
BALLOTS = [("p1",), ("p1", "p2"), ("p3",)]


def _cast_all(services, cycle_id: str) -> None:
    for number, selections in enumerate(BALLOTS):
        cast_ballot(
            services.store,
            services.voter_secret,
            {
                "selections": list(selections),
                "attestation": ADULT,
                "voter": {"kind": "email", "value": f"r{number}@example.org"},
            },
            uuid.uuid4().hex,
            now=services.clock(),
        )


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend (shared by all servers of this process)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture(scope="module")
def server():
    """A moto server with pb-dev and a cycle in voting with three ballots."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_ENV.items():
            patch.setenv(name, value)
        with start_moto_server(0) as running:
            reset_moto(running.endpoint_url)
            patch.setenv("AWS_ENDPOINT_URL", running.endpoint_url)
            cloudformation = boto3.client(
                "cloudformation", endpoint_url=running.endpoint_url
            )
            create_stack(cloudformation, stage="dev")
            services = connect("dev", running.endpoint_url).services()
            now = datetime.now(UTC)
            open_voting(services.store, small_cycle(now, cycle_id="ops-2027"), now)
            _cast_all(services, "ops-2027")
            # Next year's cycle, set up early: scheduled, not yet the current one.
            later = small_cycle(now + timedelta(days=365), cycle_id="ops-2028")
            services.store.create_cycle(
                later, actor="test", now=now, make_current=False
            )
            yield running
            reset_moto(running.endpoint_url)


@pytest.fixture
def local_env(monkeypatch):
    """pbctl points this process at the endpoint; put everything back after."""
    for name in [*LOCAL_ENV, "AWS_ENDPOINT_URL"]:
        monkeypatch.setenv(name, os.environ.get(name, ""))


def run(capsys, server, *argv) -> tuple[int, str, str]:
    status = main([*argv, "--endpoint-url", server.endpoint_url])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _services(server):
    return connect("dev", server.endpoint_url).services()


def _audit(server, cycle_id: str) -> list[dict]:
    return _services(server).store.audit_entries(cycle_id)


def test_status_lists_every_cycle_and_the_current_ones_deadlines(
    server, local_env, capsys
):
    status, out, err = run(capsys, server, "status", "--json")

    assert status == 0, err
    report = json.loads(out)
    assert report["stack"]["name"] == "pb-dev"
    assert report["stack"]["status"] == "CREATE_COMPLETE"
    assert "ResultsBucketName" in report["stack"]["outputs"]
    rows = {row["cycle_id"]: row for row in report["cycles"]}
    assert list(rows) == ["ops-2027", "ops-2028"]
    assert rows["ops-2027"]["phase"] in ("voting", "tally", "results")
    assert (rows["ops-2027"]["current"], rows["ops-2027"]["ballots"]) == (True, 3)
    assert rows["ops-2028"] == {
        "cycle_id": "ops-2028",
        "name": "Test cycle",
        "phase": "scheduled",
        "version": 0,
        "current": False,
        "ballots": 0,
        "result_published": False,
        "result_hash": None,
    }
    cycle = report["cycle"]
    assert (cycle["cycle_id"], cycle["turnout"]) == ("ops-2027", 3)
    assert set(cycle) == {
        "cycle_id",
        "name",
        "phase",
        "version",
        "as_of",
        "phase_ends",
        "next_phase",
        "deadlines",
        "turnout",
        "result_hash",
    }
    assert [
        d["status"] for d in cycle["deadlines"] if d["phase"] == cycle["phase"]
    ] == ["current"]
    # No count per proposal anywhere before the tally.
    assert not any(p in out for p in ('"p1"', '"p2"', '"p3"'))


def test_status_reads_as_a_table_without_json(server, local_env, capsys):
    status, out, err = run(capsys, server, "status", "--cycle", "ops-2028")

    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("stack  pb-dev  CREATE_COMPLETE")
    header = next(line for line in lines if line.lstrip().startswith("cycle"))
    assert header.split() == ["cycle", "phase", "version", "ballots", "result", "name"]
    current = next(line for line in lines if line.startswith("* ops-2027"))
    assert current.split()[1:2] + current.split()[4:5] == ["ops-2027", "3"]
    later = next(line for line in lines if line.startswith("  ops-2028"))
    assert later.split()[:5] == ["ops-2028", "scheduled", "0", "0", "-"]
    assert "ops-2028: scheduled until -, next idea_collection" in out


def test_status_of_an_unknown_cycle_is_refused(server, local_env, capsys):
    status, out, err = run(capsys, server, "status", "--cycle", "nope")

    assert (status, out) == (1, "")
    assert err.startswith("pbctl status: NOT_FOUND")


def test_a_cycle_from_voting_to_results_and_its_export(
    server, local_env, capsys, tmp_path
):
    # Not in the tally yet: publishing is refused, nothing is published and
    # the refusal is audited (code and field only).
    before = len(_audit(server, "ops-2027"))
    status, _, err = run(capsys, server, "tally", "--publish", "--cycle", "ops-2027")
    assert status == 1
    assert err == (
        "pbctl tally: NOT_IN_TALLY (field phase): ops-2027 is in voting; the "
        "tally is published in the tally phase only\n"
    )
    assert _services(server).results.digest("ops-2027", "result.json") is None
    log = _audit(server, "ops-2027")
    assert len(log) == before + 1
    assert (log[-1]["action"], log[-1]["after"]) == (
        "refused",
        {"command": "pbctl tally --publish", "code": "NOT_IN_TALLY", "field": "phase"},
    )

    # Close voting: the cycle moves to the tally, audited as the operator.
    status, out, err = run(
        capsys,
        server,
        "phase",
        "close",
        "--cycle",
        "ops-2027",
        "--phase",
        "voting",
        "--reason",
        "polls closed by the office",
    )
    assert status == 0, err
    moved = json.loads(out)
    assert (moved["from"], moved["to"]) == ("voting", "tally")
    assert moved["actor"].startswith("pbctl:")
    entry = _audit(server, "ops-2027")[-1]
    assert (entry["actor"], entry["reason"]) == (
        moved["actor"],
        "polls closed by the office",
    )

    # Results are not public during the tally.
    status, _, err = run(capsys, server, "export", "--cycle", "ops-2027")
    assert status == 1
    assert err.startswith("pbctl export: RESULTS_NOT_PUBLIC (field cycle)")

    # Publish as the phase clock would: the same bytes, audited.
    status, out, err = run(capsys, server, "tally", "--publish", "--cycle", "ops-2027")
    assert status == 0, err
    published = json.loads(out)
    assert published["already_published"] is False
    services = _services(server)
    cycle = services.store.get_cycle("ops-2027")
    stored = [
        (b.ballot_id, b.selections) for b in services.store.iter_ballots("ops-2027")
    ]
    assert sorted(tuple(sorted(s)) for _, s in stored) == sorted(
        tuple(sorted(b)) for b in BALLOTS
    )
    expected = result_files(cycle, stored)
    assert services.results.get("ops-2027", "result.json") == expected["result.json"]
    entry = _audit(server, "ops-2027")[-1]
    assert entry["action"] == "result_published"
    assert entry["after"]["result_hash"] == published["result_hash"]
    assert entry["actor"].startswith("pbctl:")

    # A second publish changes nothing and says so.
    status, out, _ = run(capsys, server, "tally", "--publish", "--cycle", "ops-2027")
    assert status == 0
    assert json.loads(out) == {**published, "already_published": True}

    # Open results: the cycle records the published hash.
    status, out, err = run(
        capsys,
        server,
        "phase",
        "open",
        "--cycle",
        "ops-2027",
        "--phase",
        "results",
        "--reason",
        "tally checked",
    )
    assert status == 0, err
    assert json.loads(out)["to"] == "results"
    opened = _services(server).store.get_cycle("ops-2027")
    assert opened.result_hash == published["result_hash"]
    assert _audit(server, "ops-2027")[-1]["after"]["request"] == "open"

    # Export: the published files, byte for byte, and an audit entry first.
    out_dir = tmp_path / "export"
    status, out, err = run(
        capsys, server, "export", "--cycle", "ops-2027", "--out", str(out_dir)
    )
    assert status == 0, err
    assert json.loads(out)["result_hash"] == published["result_hash"]
    assert sorted(json.loads(out)["files"]) == sorted(
        str(out_dir / name) for name in expected
    )
    for name in expected:
        assert (out_dir / name).read_bytes() == expected[name]
    # What was exported verifies.
    capsys.readouterr()
    assert (
        main(["verify", str(out_dir / "result.json"), str(out_dir / "ballots.pb")]) == 0
    )
    assert capsys.readouterr().out.startswith("CONFIRMED: ")
    election = read_pb(out_dir / "ballots.pb")
    assert len(election.votes) == len(BALLOTS)
    assert not any("@" in v.voter_id for v in election.votes)
    entry = _audit(server, "ops-2027")[-1]
    assert (entry["action"], entry["actor"]) == ("results_exported", moved["actor"])


def test_phase_moves_are_refused_one_step_at_a_time(server, local_env, capsys):
    before = _services(server).store.get_cycle("ops-2027")
    log = _audit(server, "ops-2027")

    status, out, err = run(
        capsys,
        server,
        "phase",
        "open",
        "--cycle",
        "ops-2027",
        "--phase",
        "voting",
        "--reason",
        "reopen",
    )

    assert (status, out) == (1, "")
    assert err.startswith("pbctl phase open: ILLEGAL_TRANSITION (field phase): ")
    # The cycle is as it was; the refusal is audited under it, as the operator,
    # with the command, code and field (never the reason text).
    assert _services(server).store.get_cycle("ops-2027") == before
    after = _audit(server, "ops-2027")
    assert after[:-1] == log
    refusal = after[-1]
    assert refusal["action"] == "refused"
    assert refusal["actor"] == f"pbctl:{getpass.getuser()}"
    assert refusal["after"] == {
        "command": "pbctl phase open",
        "code": "ILLEGAL_TRANSITION",
        "field": "phase",
    }
    assert "reopen" not in json.dumps(refusal)


def test_a_refusal_for_an_unknown_cycle_is_audited_under_staff(
    server, local_env, capsys
):
    status, _, err = run(
        capsys,
        server,
        "phase",
        "close",
        "--cycle",
        "no-such-cycle",
        "--phase",
        "voting",
        "--reason",
        "typo",
    )

    assert status == 1
    assert err.startswith("pbctl phase close: NOT_FOUND (field cycle_id)")
    assert _audit(server, "no-such-cycle") == []
    refusal = _audit(server, "@staff")[-1]
    assert refusal["after"] == {
        "command": "pbctl phase close",
        "code": "NOT_FOUND",
        "field": "cycle_id",
        "cycle_id": "no-such-cycle",
    }


def test_phase_needs_a_reason_and_tally_publish_needs_a_cycle(
    server, local_env, capsys
):
    no_reason = main(["phase", "close", "--cycle", "ops-2027", "--phase", "voting"])
    assert no_reason == 2
    assert "the following arguments are required: --reason" in (capsys.readouterr().err)

    no_cycle = main(["tally", "--publish"])
    assert no_cycle == 2
    assert capsys.readouterr().err.endswith(
        "pbctl tally: error: --publish takes --cycle ID and no files\n"
    )


def test_operator_commands_refuse_a_remote_endpoint(local_env, capsys):
    status = main(
        ["status", "--endpoint-url", "https://cloudformation.us-east-1.amazonaws.com"]
    )

    assert status == 2
    assert "refusing endpoint" in capsys.readouterr().err


# Exit statuses: one table, every class on several commands ---------------------

#: (argv without --endpoint-url, exit status); "SERVER" and "DEAD" say where
#: the command is aimed: the module's moto server, or a loopback port where
#: nothing listens. None: no endpoint (argparse stops it first).
EXIT_CASES = [
    # 0: done
    (["status"], "SERVER", 0),
    (["status", "--json", "--cycle", "ops-2028"], "SERVER", 0),
    (["audit", "export", "ops-2028"], "SERVER", 0),
    # 1: refused by the system (a domain rule)
    (["status", "--cycle", "nope"], "SERVER", 1),
    (
        ["phase", "close", "--cycle", "ops-2028", "--phase", "voting", "--reason", "r"],
        "SERVER",
        1,
    ),  # PHASE_NOT_OPEN  # noqa: E501
    (
        ["phase", "open", "--cycle", "ops-2028", "--phase", "voting", "--reason", "r"],
        "SERVER",
        1,
    ),  # ILLEGAL_TRANSITION  # noqa: E501
    (["tally", "--publish", "--cycle", "ops-2028"], "SERVER", 1),  # NOT_IN_TALLY
    (["export", "--cycle", "ops-2028"], "SERVER", 1),  # RESULTS_NOT_PUBLIC
    (["audit", "export", "no-such-cycle"], "SERVER", 1),  # NOT_FOUND
    # 2: bad usage or input
    (["phase", "close", "--cycle", "ops-2028", "--phase", "voting"], None, 2),
    (["status", "--stage", "qa"], None, 2),
    (["tally", "--publish"], None, 2),
    (
        ["phase", "open", "--cycle", "ops-2028", "--phase", "bogus", "--reason", "r"],
        "SERVER",
        2,
    ),  # INVALID_CHOICE  # noqa: E501
    (["cycle", "create", "/nonexistent/cycle.yaml"], "SERVER", 2),
    (["deploy", "--stage", "dev", "--use-restored-table", "votes=x"], None, 2),
    (["status", "--endpoint-url", "http://10.0.0.1:5000"], None, 2),
    (
        [
            "site-sync",
            "--stage",
            "dev",
            "--dist",
            "/nonexistent",
            "--api-url",
            "https://a.example/api",
        ],
        None,
        2,
    ),  # noqa: E501
    # 3: cannot reach the stage
    (["status", "--stage", "prod"], "SERVER", 3),  # no stack pb-prod there
    (["tally", "--publish", "--cycle", "ops-2028", "--stage", "prod"], "SERVER", 3),
    (["status"], "DEAD", 3),
    (
        ["phase", "open", "--cycle", "ops-2028", "--phase", "voting", "--reason", "r"],
        "DEAD",
        3,
    ),  # noqa: E501
    (["audit", "export", "ops-2028"], "DEAD", 3),
    (["cycle", "create", "/nonexistent/cycle.yaml"], "DEAD", 2),  # the file decides
    (["deploy", "--stage", "dev"], "DEAD", 3),
    (
        [
            "site-sync",
            "--stage",
            "dev",
            "--dist",
            "DIST",
            "--api-url",
            "http://127.0.0.1:8001",
        ],
        "DEAD",
        3,
    ),  # noqa: E501
]


@pytest.mark.parametrize(
    ("argv", "where", "expected"),
    EXIT_CASES,
    ids=[f"{e}-{' '.join(a[:2])}-{w}" for a, w, e in EXIT_CASES],
)
def test_exit_status_classes(
    server, local_env, capsys, monkeypatch, tmp_path, argv, where, expected
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # a refused connection, once
    monkeypatch.chdir(tmp_path)  # audit export writes nothing here; export would
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<p>site</p>")
    argv = [str(dist) if a == "DIST" else a for a in argv]
    if where == "SERVER":
        argv += ["--endpoint-url", server.endpoint_url]
    elif where == "DEAD":
        argv += ["--endpoint-url", dead_endpoint()]

    status = main(argv)

    captured = capsys.readouterr()
    assert status == expected, captured.err
    if expected:
        assert captured.err.strip(), "a failure always says why"


def test_help_documents_the_exit_statuses(capsys):
    assert main(["--help"]) == 0

    out = capsys.readouterr().out
    assert EPILOG in out
    for code in range(4):
        assert f"\n  {code}  " in out
