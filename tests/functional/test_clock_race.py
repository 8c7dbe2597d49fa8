"""Two phase clocks at once, on real threads, against moto in server mode.

EventBridge delivers at least once, so two invocations can run at the same
moment. Here both read the cycle before either writes (a proxy in front of
moto holds their scans until both have asked), then race to close voting,
tally and publish. The cycle must move once per step, with one audit entry
per step, and each result file must be written once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest

from chalicelib.cycle import Cycle, Phase, format_time
from chalicelib.jobs import run_phase_clock
from chalicelib.publish import result_files
from chalicelib.services import Services, get_services, reset_services
from chalicelib.settings import Settings
from chalicelib.storage.results import ResultChanged, ResultStore
from chalicelib.voting import cast_ballot
from pbctl.localstack import create_stack, start_moto_server
from tests.functional.conftest import open_voting, small_cycle
from tests.functional.faultproxy import FaultProxy

pytestmark = pytest.mark.functional

CYCLE = "clock-race"
VOTES = [("p1",), ("p1", "p2"), ("p2",), ("p3",), ("p3", "p2"), ("p3",), ("p2",)]
FILES = ("result.json", "result.csv", "ballots.pb", "ballots.csv", "receipts.txt")


@pytest.fixture
def server(aws_credentials) -> Iterator[str]:
    with start_moto_server(0) as running:
        yield running.endpoint_url
        # moto's backends are shared by every server of this process.
        reset = f"{running.endpoint_url}/moto-api/reset"
        urllib.request.urlopen(
            urllib.request.Request(reset, method="POST"), timeout=10
        ).close()


@pytest.fixture
def proxy(server: str) -> Iterator[FaultProxy]:
    with FaultProxy(server) as running:
        yield running


@pytest.fixture
def scheduled(server, proxy, monkeypatch) -> Iterator[Services]:
    """The scheduled app's collaborators, reaching moto through the proxy."""
    cloudformation = boto3.client("cloudformation", endpoint_url=server)
    settings = Settings.from_stack_outputs(create_stack(cloudformation), stage="dev")
    for name, value in {**settings.to_env(), "AWS_ENDPOINT_URL": proxy.url}.items():
        monkeypatch.setenv(name, value)
    reset_services()
    yield get_services()
    reset_services()


def vote(services: Services) -> None:
    for number, selections in enumerate(VOTES):
        cast_ballot(
            services.store,
            services.voter_secret,
            {
                "selections": list(selections),
                "attestation": {"boston_resident": True, "age": 30},
                "voter": {"kind": "email", "value": f"clock{number}@example.org"},
            },
            uuid.uuid4().hex,
            now=services.clock(),
        )


def versions(server: str | None, bucket: str, name: str) -> list[dict]:
    """Every version of a result file (``server`` None: in-process moto)."""
    s3 = boto3.client("s3", endpoint_url=server, region_name="us-east-1")
    key = f"results/{CYCLE}/{name}"
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in listed.get("Versions", []) if v["Key"] == key]


def run_together(event: dict, count: int = 2) -> tuple[list[dict], list[Exception]]:
    start = threading.Barrier(count)
    answers, errors = [], []

    def run() -> None:
        start.wait()
        try:
            answers.append(run_phase_clock(event))
        except Exception as exc:  # surfaced by the assertions
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers, errors


def test_two_clocks_at_once_close_voting_once_and_tally_once(server, proxy, scheduled):
    # GIVEN a cycle in voting with seven ballots
    now = scheduled.clock()
    cycle: Cycle = open_voting(scheduled.store, small_cycle(now, cycle_id=CYCLE), now)
    vote(scheduled)
    # Two Lambdas share nothing; these threads share one process, so build
    # its lazily made clients before they race.
    scheduled.results.client  # noqa: B018
    scheduled.store.list_cycles()

    # WHEN two clocks fire at the same minute after voting ended, both read
    # the cycle (still in voting) before either writes, and both look for a
    # published result before either has written one
    proxy.reset()
    proxy.gather("Scan", 2)
    bucket = scheduled.settings.results_bucket
    proxy.gather(f"HEAD /{bucket}/results/{CYCLE}/result.json", 2)
    event = {
        "time": format_time(cycle.calendar[Phase.VOTING].end + timedelta(minutes=2))
    }
    answers, errors = run_together(event)

    # THEN both finish, and between them each step was made once
    assert errors == []
    assert len(answers) == 2
    assert proxy.gathered("Scan")
    assert proxy.gathered(f"HEAD /{bucket}/results/{CYCLE}/result.json")
    moves = sorted((t["from"], t["to"]) for a in answers for t in a["transitions"])
    assert moves == [("tally", "results"), ("voting", "tally")]

    # AND the audit log has one entry per step, by the clock
    entries = scheduled.store.audit_entries(CYCLE)
    steps = [
        (e["before"]["phase"], e["after"]["phase"], e["actor"])
        for e in entries
        if e["action"] == "phase_changed"
        and e["before"]["phase"] in ("voting", "tally")
    ]
    assert steps == [
        ("voting", "tally", "system:phase-clock"),
        ("tally", "results", "system:phase-clock"),
    ]

    # AND every result file was written once
    for name in FILES:
        assert len(versions(server, bucket, name)) == 1, name

    # AND the outcome is the one tally of these ballots, whichever clock won
    closed = scheduled.store.get_cycle(CYCLE)
    assert closed.phase is Phase.RESULTS
    stored = scheduled.results.get(CYCLE, "result.json")
    stored_ballots = [
        (b.ballot_id, b.selections) for b in scheduled.store.iter_ballots(CYCLE)
    ]
    assert sorted(s for _, s in stored_ballots) == sorted(VOTES)
    expected = result_files(cycle, stored_ballots)
    assert json.loads(stored)["ballots_counted"] == len(VOTES)
    assert stored == expected["result.json"]
    assert closed.result_hash == "sha256:" + hashlib.sha256(stored).hexdigest()


# -- the conditional write itself, on in-process moto ------------------------


class _ReadBeforeTheOtherWrote(ResultStore):
    """A publisher whose first look at each file came just before another
    publisher wrote it: that look found nothing."""

    def __init__(self, bucket: str):
        super().__init__(bucket)
        self._looked: set[str] = set()

    def _head(self, cycle_id: str, name: str) -> dict | None:
        if name not in self._looked:
            self._looked.add(name)
            return None
        return super()._head(cycle_id, name)


def test_a_publisher_that_lost_the_race_writes_nothing(services):
    bucket = services.settings.results_bucket
    services.results.put(CYCLE, "result.json", b'{"funded": ["p1"]}')
    late = _ReadBeforeTheOtherWrote(bucket)

    # The same bytes: nothing to do.
    assert late.put(CYCLE, "result.json", b'{"funded": ["p1"]}') is False
    # Other bytes: refused loudly, the first file left as it was.
    with pytest.raises(ResultChanged):
        _ReadBeforeTheOtherWrote(bucket).put(
            CYCLE, "result.json", b'{"funded": ["p2"]}'
        )

    assert services.results.get(CYCLE, "result.json") == b'{"funded": ["p1"]}'
    assert len(versions(None, bucket, "result.json")) == 1


def test_a_changed_file_replaces_the_one_it_read(services):
    bucket = services.settings.results_bucket
    services.results.put(CYCLE, "result.csv", b"old\n")

    assert services.results.put(CYCLE, "result.csv", b"new\n") is True
    assert services.results.put(CYCLE, "result.csv", b"new\n") is False

    assert services.results.get(CYCLE, "result.csv") == b"new\n"
    assert len(versions(None, bucket, "result.csv")) == 2
