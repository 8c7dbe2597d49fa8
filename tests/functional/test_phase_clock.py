"""The phase clock and the tally, invoked as EventBridge would invoke them."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from app import app as api_app
from chalicelib.cycle import format_time
from scheduled.app import app as scheduled_app
from tests.functional.conftest import open_voting, small_cycle, table_items

pytestmark = pytest.mark.functional

VOTES = [("p1",), ("p1", "p2"), ("p2",), ("p3",), ("p3", "p2"), ("p3",)]


def tick(client, moment) -> dict:
    """Invoke the phase clock as its one-minute schedule does."""
    event = client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-east-1:123456789012:rule/phase-clock"],
    )
    event["time"] = format_time(moment)
    return client.lambda_.invoke("phase-clock", event).payload


def vote_all(client, ballots) -> None:
    for number, selections in enumerate(ballots):
        answer = client.http.post(
            "/ballots",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
            body=json.dumps(
                {
                    "selections": list(selections),
                    "attestation": {"boston_resident": True, "age": 30},
                    "voter": {"kind": "email", "value": f"r{number}@example.org"},
                }
            ),
        )
        assert answer.status_code == 201, answer.json_body


def published(settings, name: str) -> bytes:
    s3 = boto3.client("s3", region_name="us-east-1")
    key = f"results/boston-test/{name}"
    return s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read()


def test_voting_closes_at_the_deadline_and_the_tally_is_published(
    services, settings, voting_cycle
):
    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api, Client(scheduled_app) as clock:
        vote_all(api, VOTES)

        # Before the deadline nothing moves.
        before = tick(clock, deadline - timedelta(seconds=30))
        assert before["transitions"] == []

        # After it, voting closes, the tally runs and results open.
        after = tick(clock, deadline + timedelta(minutes=2))
        moves = [(t["from"], t["to"]) for t in after["transitions"]]
        assert moves == [("voting", "tally"), ("tally", "results")]

        # Votes: p3 3, p2 3, p1 2; ties in ballot order: p2 before p3.
        result = json.loads(published(settings, "result.json"))
        assert result["funded"] == ["p2"]
        assert [(p["proposal_id"], p["votes"]) for p in result["proposals"]] == [
            ("p2", 3),
            ("p3", 3),
            ("p1", 2),
        ]
        assert result["ballots_counted"] == len(VOTES)
        assert result["ballot_hash"] == voting_cycle.ballot_hash
        assert result["tie_break"] == "ballot-order"
        assert result["remaining"] == 500_000

        # The API now serves them, and ballots are refused.
        assert api.http.get("/results").json_body == result
        late = api.http.post(
            "/ballots",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": "late-1234",
            },
            body=json.dumps(
                {
                    "selections": ["p1"],
                    "attestation": {"boston_resident": True, "age": 30},
                    "voter": {"kind": "email", "value": "late@example.org"},
                }
            ),
        )
        assert late.status_code == 409
        assert late.json_body["code"] == "PHASE_CLOSED"


def test_a_second_invocation_changes_nothing(services, settings, voting_cycle):
    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api, Client(scheduled_app) as clock:
        vote_all(api, VOTES)
        tick(clock, deadline + timedelta(minutes=2))
        files = {
            n: published(settings, n)
            for n in ("result.json", "result.csv", "ballots.pb")
        }
        audit = len(table_items(settings.audit_table))
        cycle = services.store.get_cycle("boston-test")

        again = tick(clock, deadline + timedelta(minutes=2))

        assert again["transitions"] == []
        assert services.store.get_cycle("boston-test") == cycle
        assert len(table_items(settings.audit_table)) == audit
        assert {n: published(settings, n) for n in files} == files


def test_a_tally_rerun_gives_byte_identical_files(services, settings, voting_cycle):
    from chalicelib.publish import publish_cycle

    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api, Client(scheduled_app) as clock:
        vote_all(api, VOTES)
        tick(clock, deadline + timedelta(minutes=2))
    first = {
        n: published(settings, n) for n in ("result.json", "result.csv", "ballots.pb")
    }
    cycle = services.store.get_cycle("boston-test")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_object(
        Bucket=settings.results_bucket, Key="results/boston-test/result.json"
    )

    publish_cycle(services.store, services.results, cycle)

    assert {n: published(settings, n) for n in first} == first
    assert cycle.result_hash.startswith("sha256:")


def test_two_clocks_at_once_close_voting_once(services, settings, voting_cycle):
    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api:
        vote_all(api, VOTES[:3])
    from chalicelib.jobs import run_phase_clock

    event = {"time": format_time(deadline + timedelta(minutes=2))}
    answers, errors = [], []

    def run():
        try:
            answers.append(run_phase_clock(event))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    moves = [(t["from"], t["to"]) for a in answers for t in a["transitions"]]
    assert sorted(moves) == [("tally", "results"), ("voting", "tally")]
    phase_changes = [
        e
        for e in services.store.audit_entries("boston-test")
        if e["after"] and e["after"]["phase"] in ("tally", "results")
    ]
    assert len(phase_changes) == 2


def test_every_phase_change_is_audited(services):
    now = services.clock()
    open_voting(services.store, small_cycle(now, cycle_id="audited"), now)

    entries = services.store.audit_entries("audited")

    assert entries[0]["action"] == "cycle_created"
    steps = [(e["before"]["phase"], e["after"]["phase"]) for e in entries[1:]]
    assert steps == [
        ("scheduled", "idea_collection"),
        ("idea_collection", "priorities"),
        ("priorities", "eligibility_review"),
        ("eligibility_review", "visioning"),
        ("visioning", "ballot_review"),
        ("ballot_review", "voting"),
    ]
    assert all(e["actor"] == "system:phase-clock" for e in entries[1:])


def test_the_published_ballots_round_trip_through_pabulib(
    services, settings, voting_cycle
):
    from chalicelib.pabulib import parse_pb
    from chalicelib.tally import tally_election

    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api, Client(scheduled_app) as clock:
        vote_all(api, VOTES)
        tick(clock, deadline + timedelta(minutes=2))
    result = json.loads(published(settings, "result.json"))

    # The export is a valid .pb whose re-tally is the published outcome.
    election = parse_pb(published(settings, "ballots.pb").decode())
    again = tally_election(election)

    assert list(again.funded) == result["funded"]
    assert again.ballots_hash == result["ballots_hash"]
    assert election.selected == set(result["funded"])
    assert election.meta["ballot_hash"] == voting_cycle.ballot_hash
    assert sorted(v.vote for v in election.votes) == sorted(
        tuple(sorted(v)) for v in VOTES
    )
    # Voter ids are a plain count: nothing of the stored ballot ids survives.
    assert [v.voter_id for v in election.votes] == [str(n) for n in range(1, 7)]


def test_the_tally_counts_once_while_results_wait_for_their_date(
    services, settings, voting_cycle, monkeypatch
):
    from chalicelib.jobs import run_phase_clock

    with Client(api_app) as api:
        vote_all(api, VOTES[:2])
    reads = []
    iter_ballots = services.store.iter_ballots
    monkeypatch.setattr(
        services.store,
        "iter_ballots",
        lambda cycle_id: reads.append(cycle_id) or iter_ballots(cycle_id),
    )
    deadline = voting_cycle.calendar[voting_cycle.phase].end

    # Voting closed, but the tally phase has not reached its end yet.
    for seconds in (10, 20, 30):
        run_phase_clock({"time": format_time(deadline + timedelta(seconds=seconds))})

    assert services.store.get_cycle("boston-test").phase.value == "tally"
    assert reads == ["boston-test"]
    assert json.loads(published(settings, "result.json"))["ballots_counted"] == 2
