"""``pbctl status``, ``phase open|close``, ``tally --publish`` and ``export``
against a moto server on loopback, through ``pbctl.main`` as an operator
runs them: a cycle walked from voting to results, and the refusals."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.pabulib import read_pb
from chalicelib.publish import result_files
from chalicelib.voting import cast_ballot
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import main
from pbctl.operator import LOCAL_ENV, connect
from tests.functional.conftest import open_voting, small_cycle

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


def test_status_shows_stack_phase_deadlines_and_total_turnout_only(
    server, local_env, capsys
):
    status, out, err = run(capsys, server, "status")

    assert status == 0, err
    report = json.loads(out)
    assert report["stack"]["name"] == "pb-dev"
    assert report["stack"]["status"] == "CREATE_COMPLETE"
    assert "ResultsBucketName" in report["stack"]["outputs"]
    cycle = report["cycle"]
    assert (cycle["cycle_id"], cycle["phase"], cycle["turnout"]) == (
        "ops-2027",
        "voting",
        3,
    )
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
    assert [d["status"] for d in cycle["deadlines"] if d["phase"] == "voting"] == [
        "current"
    ]
    assert cycle["result_hash"] is None
    # No count per proposal anywhere before the tally.
    assert not any(p in out for p in ('"p1"', '"p2"', '"p3"'))


def test_status_of_an_unknown_cycle_is_refused(server, local_env, capsys):
    status, out, err = run(capsys, server, "status", "--cycle", "nope")

    assert (status, out) == (1, "")
    assert err.startswith("pbctl status: NOT_FOUND")


def test_a_cycle_from_voting_to_results_and_its_export(
    server, local_env, capsys, tmp_path
):
    # Not in the tally yet: publishing is refused and nothing is written.
    before = len(_audit(server, "ops-2027"))
    status, _, err = run(capsys, server, "tally", "--publish", "--cycle", "ops-2027")
    assert status == 1
    assert err == (
        "pbctl tally: NOT_IN_TALLY (field phase): ops-2027 is in voting; the "
        "tally is published in the tally phase only\n"
    )
    assert _services(server).results.digest("ops-2027", "result.json") is None
    assert len(_audit(server, "ops-2027")) == before

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
    before = len(_audit(server, "ops-2027"))

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
    assert len(_audit(server, "ops-2027")) == before


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

    assert status == 1
    assert "refusing endpoint" in capsys.readouterr().err
