"""Exactly once under load and faults: real HTTP, real threads, moto in server mode.

One local stack for the module (:class:`pbctl.localrun.LocalRun`: the moto
server, the stack from ``infra/template.yaml`` and ``chalice local``), whose
API reaches moto through a :class:`FaultProxy` that fails, holds or delays
chosen DynamoDB calls. Tests share the stack and one cycle in voting, so
each uses its own voters and asserts on what it added to the tables.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import boto3
import pytest

from chalicelib.voterkey import voter_key
from chalicelib.voting import derive_receipt, receipt_hash, retry_record_id
from pbctl.localrun import HOST, LocalRun
from pbctl.localstack import is_loopback
from tests.functional.conftest import open_voting, small_cycle
from tests.functional.faultproxy import FaultProxy

pytestmark = pytest.mark.functional

CYCLE = "faults-2027"
WRITE = "TransactWriteItems"
ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}
#: What the store gives DynamoDB before answering 503: botocore's standard
#: retries (4 attempts) for throttling, the store's own 4 for conflicts.
ATTEMPTS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    local: LocalRun
    proxy: FaultProxy

    def table(self, name: str) -> str:
        return getattr(self.local.services.settings, f"{name}_table")

    def voter(self, email: str) -> str:
        """The voter-mark key the API derives for ``email``."""
        secret = self.local.services.voter_secret()
        return f"{CYCLE}#" + voter_key(secret, CYCLE, "email", email)

    def idempotency_id(self, email: str, key: str) -> str:
        """Where the API keeps the retry record of ``email``'s ballot under ``key``."""
        secret = self.local.services.voter_secret()
        return retry_record_id(secret, CYCLE, self.voter(email), key)

    def receipt(self, idempotency_key: str) -> str:
        """The receipt the API derives for a ballot sent under this key."""
        return derive_receipt(
            self.local.services.voter_secret(), CYCLE, idempotency_key
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    aws_port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        # What tests/conftest.py clears per test, cleared for the module:
        # LocalRun sets the rest (fake keys, the loopback endpoint).
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(name)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
            patch.delenv(name, raising=False)
        yield from _serve(aws_port)


def _serve(aws_port: int) -> Iterator[Stack]:
    with FaultProxy(f"http://{HOST}:{aws_port}") as proxy:
        local = LocalRun(
            aws_port=aws_port, api_port=free_port(), api_aws_endpoint=proxy.url
        )
        with local:
            try:
                now = datetime.now(UTC)
                cycle = small_cycle(now, cycle_id=CYCLE)
                open_voting(local.services.store, cycle, now)
                built = Stack(local, proxy)
                warm_up(built)
                yield built
            finally:
                # moto's backends are shared by every server of this process.
                reset = f"{local.aws_endpoint}/moto-api/reset"
                urllib.request.urlopen(
                    urllib.request.Request(reset, method="POST"), timeout=10
                ).close()


def warm_up(stack: Stack) -> None:
    """Walk every branch of the cast path once before the bursts.

    A cold ``chalice local`` hit by 50 requests at once builds a DynamoDB
    client per thread (see :mod:`pbctl.chalicelocal`), which takes seconds
    and says nothing about exactly-once. A Lambda never serves two at once.
    """
    key = uuid.uuid4().hex
    for body, sent, status in [
        (ballot("warm-up@example.org"), key, 201),
        (ballot("warm-up@example.org"), key, 201),
        (ballot("warm-up@example.org", ("p2",)), uuid.uuid4().hex, 409),
    ]:
        assert post_ballot(stack, body, sent).status == status


@pytest.fixture(autouse=True)
def aws_credentials(stack: Stack) -> None:
    """LocalRun owns this process's AWS settings (fake keys, the loopback moto).

    The other tests' autouse fixture would unset ``AWS_ENDPOINT_URL`` and so
    aim in-process clients away from it; here it must stay on loopback.
    """
    assert os.environ["AWS_ACCESS_KEY_ID"] == "local"
    assert is_loopback(urlsplit(os.environ["AWS_ENDPOINT_URL"]).hostname)


@pytest.fixture
def proxy(stack: Stack) -> Iterator[FaultProxy]:
    stack.proxy.reset()
    yield stack.proxy
    stack.proxy.reset()


def ballot(email: str, selections=("p1",)) -> dict:
    return {
        "selections": list(selections),
        "attestation": ADULT,
        "voter": {"kind": "email", "value": email},
    }


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict


def post_ballot(stack: Stack, body: dict, key: str, *, timeout: float = 30) -> Answer:
    """``POST /ballots`` over a fresh connection, as a browser would send it."""
    connection = http.client.HTTPConnection(HOST, stack.local.api_port, timeout=timeout)
    try:
        connection.request(
            "POST",
            "/ballots",
            body=json.dumps(body),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        answer = connection.getresponse()
        raw = answer.read()
        headers = {k.lower(): v for k, v in answer.getheaders()}
        return Answer(answer.status, json.loads(raw) if raw else {}, headers)
    finally:
        connection.close()


def all_at_once(count: int, send) -> list[Answer]:
    """Run ``send(n)`` for n in range(count), on ``count`` threads released together."""
    start = threading.Barrier(count)

    def run(n: int) -> Answer:
        start.wait()
        return send(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def keys(stack: Stack) -> dict[str, set[str]]:
    """The key of every voter mark, ballot and idempotency record (consistent)."""
    client = boto3.client("dynamodb", endpoint_url=stack.local.aws_endpoint)
    found = {}
    for table, attribute in (
        ("voter_marks", "voter_key"),
        ("ballots", "ballot_id"),
        ("idempotency", "idempotency_id"),
    ):
        pages = client.get_paginator("scan").paginate(
            TableName=stack.table(table), ConsistentRead=True
        )
        found[table] = {i[attribute]["S"] for p in pages for i in p["Items"]}
    return found


def added(stack: Stack, before: dict[str, set[str]]) -> dict[str, set[str]]:
    after = keys(stack)
    assert all(before[t] <= after[t] for t in before), "an item disappeared"
    return {table: after[table] - before[table] for table in after}


def recorded_once(stack: Stack, before, email: str, key: str, receipt: str) -> None:
    """Exactly one mark, one ballot and one idempotency record were added,
    and they are this voter's, this receipt's and this key's."""
    assert receipt == stack.receipt(key)
    assert added(stack, before) == {
        "voter_marks": {stack.voter(email)},
        "ballots": {receipt_hash(receipt)},
        "idempotency": {stack.idempotency_id(email, key)},
    }


def nothing_added(stack: Stack, before) -> None:
    assert added(stack, before) == {
        "voter_marks": set(),
        "ballots": set(),
        "idempotency": set(),
    }


# -- load -------------------------------------------------------------------


def test_fifty_ballots_at_once_from_one_voter_record_one(stack, proxy):
    # GIVEN one voter sending 50 different ballots at the same moment
    before = keys(stack)
    email = "burst-keys@example.org"
    sent = [uuid.uuid4().hex for _ in range(50)]

    answers = all_at_once(50, lambda n: post_ballot(stack, ballot(email), sent[n]))

    # THEN one is recorded and the 49 others are refused as a second vote
    recorded = [(a, k) for a, k in zip(answers, sent, strict=True) if a.status == 201]
    assert len(recorded) == 1, [a.status for a in answers]
    refused = [a for a in answers if a.status != 201]
    assert {(a.status, a.body["code"], a.body["field"]) for a in refused} == {
        (409, "ALREADY_VOTED", "voter")
    }
    # AND the tables hold one mark and one ballot, the winner's
    ((winner, key),) = recorded
    assert winner.headers["idempotent-replayed"] == "false"
    recorded_once(stack, before, email, key, winner.body["receipt"])


def test_fifty_retries_at_once_of_one_ballot_get_one_receipt(stack, proxy):
    # GIVEN one ballot sent 50 times at once under the same key
    before = keys(stack)
    email = "burst-same@example.org"
    key = uuid.uuid4().hex

    answers = all_at_once(50, lambda n: post_ballot(stack, ballot(email), key))

    # THEN every one is answered 201 with the same receipt, one of them fresh
    assert [a.status for a in answers] == [201] * 50
    assert {a.body["receipt"] for a in answers} == {stack.receipt(key)}
    replayed = sorted(a.headers["idempotent-replayed"] for a in answers)
    assert replayed == ["false"] + ["true"] * 49
    assert len({json.dumps(a.body, sort_keys=True) for a in answers}) == 1
    recorded_once(stack, before, email, key, answers[0].body["receipt"])


# -- a lost answer ----------------------------------------------------------


def test_a_retry_after_a_client_timeout_gets_the_same_receipt(stack, proxy):
    # GIVEN a ballot whose transaction commits but whose answer is held back
    # longer than the client waits
    before = keys(stack)
    email = "timeout@example.org"
    key = uuid.uuid4().hex
    proxy.delay_answer(WRITE, seconds=3)

    with pytest.raises(TimeoutError):
        post_ballot(stack, ballot(email), key, timeout=1)
    assert proxy.wait_forwarded(WRITE, 1)

    # WHEN the client sends the same ballot again under the same key
    retry = post_ballot(stack, ballot(email), key)

    # THEN it gets the receipt of the first, marked as a replay
    assert retry.status == 201, retry.body
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.body["receipt"] == stack.receipt(key)
    assert retry.body["cycle_id"] == CYCLE
    # AND the first was the only ballot written
    assert proxy.calls(WRITE) == 2
    recorded_once(stack, before, email, key, retry.body["receipt"])


def test_a_write_that_committed_but_answered_500_is_retried_as_a_replay(stack, proxy):
    # GIVEN DynamoDB commits the transaction but answers 500 (botocore retries)
    before = keys(stack)
    email = "lost-answer@example.org"
    key = uuid.uuid4().hex
    proxy.lose_answer(WRITE, times=1)

    answer = post_ballot(stack, ballot(email), key)

    # THEN the retry's condition failures are read as "this submission is
    # recorded": the client gets its receipt (as a replay: the API cannot
    # tell its own lost write from an earlier request's) and one ballot exists
    assert answer.status == 201, answer.body
    assert answer.headers["idempotent-replayed"] == "true"
    assert answer.body["receipt"] == stack.receipt(key)
    assert proxy.calls(WRITE) == 2
    recorded_once(stack, before, email, key, answer.body["receipt"])


# -- throttling and conflicts -----------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ("cancel", ["None", "TransactionConflict"], ATTEMPTS - 1),
        ("throttle", "ProvisionedThroughputExceededException", 2),
        ("throttle", "ThrottlingException", 2),
    ],
    ids=["conflict", "provisioned-throughput", "throttling"],
)
def test_fewer_faults_than_attempts_are_retried_and_recorded_once(stack, proxy, fault):
    # GIVEN the ballot's transaction fails a few times, then goes through
    kind, detail, times = fault
    getattr(proxy, kind)(WRITE, detail, times=times)
    before = keys(stack)
    email = f"retried-{kind}-{times}-{uuid.uuid4().hex[:6]}@example.org"
    key = uuid.uuid4().hex

    answer = post_ballot(stack, ballot(email), key)

    # THEN the client never sees them: one answer, one ballot
    assert answer.status == 201, answer.body
    assert answer.headers["idempotent-replayed"] == "false"
    assert proxy.calls(WRITE) == times + 1
    recorded_once(stack, before, email, key, answer.body["receipt"])


@pytest.mark.parametrize(
    "fault",
    [
        ("cancel", ["TransactionConflict"]),
        ("throttle", "ThrottlingException"),
    ],
    ids=["conflict", "throttling"],
)
def test_persistent_faults_answer_503_with_retry_after_and_write_nothing(
    stack, proxy, fault
):
    # GIVEN every transaction of the ballot path fails
    kind, detail = fault
    getattr(proxy, kind)(WRITE, detail, times=float("inf"))
    before = keys(stack)
    email = f"persistent-{kind}@example.org"

    answer = post_ballot(stack, ballot(email), uuid.uuid4().hex)

    # THEN after the retry budget the client is told to come back, stably
    assert answer.status == 503
    assert answer.body["code"] == "TRY_AGAIN"
    assert answer.headers["retry-after"] == "1"
    assert proxy.calls(WRITE) == ATTEMPTS
    # AND no mark, ballot or idempotency record is left behind
    nothing_added(stack, before)

    # AND once DynamoDB recovers, the same voter can vote
    proxy.reset()
    key = uuid.uuid4().hex
    again = post_ballot(stack, ballot(email), key)
    assert again.status == 201, again.body
    recorded_once(stack, before, email, key, again.body["receipt"])


def test_a_voter_who_already_voted_is_refused_without_a_retry(stack, proxy):
    # GIVEN a voter with a recorded ballot
    email = "twice@example.org"
    first = post_ballot(stack, ballot(email), uuid.uuid4().hex)
    assert first.status == 201, first.body
    before = keys(stack)
    proxy.reset()

    # WHEN the same voter sends another ballot
    second = post_ballot(stack, ballot(email, ("p2",)), uuid.uuid4().hex)

    # THEN the failed condition is the answer: one transaction, no retry
    assert (second.status, second.body["code"]) == (409, "ALREADY_VOTED")
    assert proxy.calls(WRITE) == 1
    nothing_added(stack, before)


def test_a_failed_condition_beside_a_conflict_is_not_retried(stack, proxy):
    # GIVEN a cancellation naming a conflict on the cycle check and a failed
    # condition on the voter mark (sent second: condition checks go first)
    proxy.cancel(WRITE, ["TransactionConflict", "ConditionalCheckFailed"], times=1)
    before = keys(stack)

    answer = post_ballot(stack, ballot("mixed@example.org"), uuid.uuid4().hex)

    # THEN the failed condition decides: already voted, and no retry
    assert (answer.status, answer.body["code"]) == (409, "ALREADY_VOTED")
    assert proxy.calls(WRITE) == 1
    nothing_added(stack, before)
