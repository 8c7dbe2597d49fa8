"""The embedded local stack: moto in server mode on loopback, as the demo runs it."""

from __future__ import annotations

import http.client
import json
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.pabulib import read_pb
from chalicelib.tally import tally_election
from pbctl.localstack import LocalStackError, start_moto_server

pytestmark = pytest.mark.functional

NAME = "shim"
SMALL = "US_Stanford_Dataset_PB_Chicago_45th_Ward_2019_vote_approvals.pb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def moto_server(aws_credentials):
    server = start_moto_server(0)
    yield server
    server.stop()


@pytest.fixture
def table(moto_server):
    client = boto3.client("dynamodb", endpoint_url=moto_server.endpoint_url)
    client.create_table(
        TableName=NAME,
        KeySchema=[
            {"AttributeName": "k", "KeyType": "HASH"},
            {"AttributeName": "r", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "k", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client
    # moto keeps one backend per process, across servers: leave nothing behind.
    client.delete_table(TableName=NAME)


def put(key: str, *, new: bool = True) -> dict:
    op = {"TableName": NAME, "Item": {"k": {"S": "c"}, "r": {"S": key}}}
    if new:
        op["ConditionExpression"] = "attribute_not_exists(r)"
    return {"Put": op}


def keys(client) -> list[str]:
    items = client.scan(TableName=NAME, ConsistentRead=True)["Items"]
    return sorted(i["r"]["S"] for i in items)


def test_the_server_refuses_to_bind_beyond_loopback(aws_credentials):
    with pytest.raises(LocalStackError):
        start_moto_server(0, host="0.0.0.0")


def test_a_failed_transaction_leaves_nothing_behind(table):
    # GIVEN one item; WHEN a transaction puts a new item and then a clashing one
    table.transact_write_items(TransactItems=[put("a")])
    with pytest.raises(ClientError) as refused:
        table.transact_write_items(TransactItems=[put("b"), put("a")])

    # THEN it is cancelled for the clash and the new item was rolled back
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert keys(table) == ["a"]


def test_a_failed_overwrite_restores_the_old_item(table):
    table.put_item(
        TableName=NAME, Item={"k": {"S": "c"}, "r": {"S": "x"}, "v": {"S": "old"}}
    )
    with pytest.raises(ClientError):
        table.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": NAME,
                        "Item": {"k": {"S": "c"}, "r": {"S": "x"}, "v": {"S": "new"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": NAME,
                        "Key": {"k": {"S": "c"}, "r": {"S": "none"}},
                        "ConditionExpression": "attribute_exists(r)",
                    }
                },
            ]
        )

    item = table.get_item(
        TableName=NAME, Key={"k": {"S": "c"}, "r": {"S": "x"}}, ConsistentRead=True
    )["Item"]
    assert item["v"] == {"S": "old"}


def test_concurrent_transactions_lose_no_write(table, moto_server):
    def writer(worker: int) -> None:
        client = boto3.client("dynamodb", endpoint_url=moto_server.endpoint_url)
        for n in range(25):
            client.transact_write_items(TransactItems=[put(f"{worker}-{n}")])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(keys(table)) == 100


def test_concurrent_claims_of_one_key_succeed_once(table, moto_server):
    outcomes = []

    def claim() -> None:
        client = boto3.client("dynamodb", endpoint_url=moto_server.endpoint_url)
        try:
            client.transact_write_items(TransactItems=[put("same")])
            outcomes.append("won")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("won") == 1
    assert keys(table) == ["same"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        SMALL,
        # Ballots from voters under 11, and a no-skip rule: still the official set.
        "Poland_Gdynia_2020_Wzgorze_Sw._Maksymiliana__large.pb",
    ],
)
def test_pbctl_demo_replays_a_real_election_through_http(pabulib_file, name):
    path = pabulib_file(name)
    command = [
        str(Path(sys.executable).parent / "pbctl"),
        "demo",
        "--pb",
        str(path),
        "--aws-port",
        str(free_port()),
        "--api-port",
        str(free_port()),
    ]

    run = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stderr[-2000:]
    last = json.loads(run.stdout.strip().splitlines()[-1])
    expected = tally_election(read_pb(path))
    assert last["file"] == name
    assert last["funded"] == list(expected.funded)
    assert last["spent"] == expected.spent
    assert last["votes"] == {p.proposal_id: p.votes for p in expected.proposals}
    assert f"{len(read_pb(path).votes)} recorded" in run.stdout
    assert "matches a direct tally" in run.stdout
    assert "voting -> tally, tally -> results" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_pbctl_up_serves_site_and_api_until_interrupted(pabulib_file, stop):
    site, api = free_port(), free_port()
    command = [
        str(Path(sys.executable).parent / "pbctl"),
        "up",
        "--pb",
        str(pabulib_file(SMALL)),
        "--aws-port",
        str(free_port()),
        "--api-port",
        str(api),
        "--site-port",
        str(site),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Voting is open"):
                break
        assert any(line.startswith("Site:") for line in lines), lines

        config = json.loads(fetch(site, "/config.json")[1])
        assert config["api_url"] == f"http://127.0.0.1:{api}"
        # The staff console signs in against the local Cognito pool.
        assert config["cognito_url"].startswith("http://127.0.0.1:")
        assert config["client_id"]
        status, page, _ = fetch(site, "/ballot.html")
        assert status == 200 and b"ballot-form" in page

        origin = f"http://127.0.0.1:{site}"
        status, body, headers = fetch(api, "/ballot", {"Origin": origin})
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == origin
        assert json.loads(body)["selection_limit"] >= 1

        if stop is signal.SIGINT:  # once is enough: sign in as the printed admin
            check_staff_sign_in(lines, api)
    finally:
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0
    # Nothing it started outlives it: the API and site ports are free again.
    for port in (api, site):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def check_staff_sign_in(lines: list[str], api: int) -> None:
    """The printed token command works and the staff API takes its token."""
    (command,) = [ln.strip() for ln in lines if ln.strip().startswith("TOKEN=$(")]
    (curl,) = [ln.strip() for ln in lines if ln.strip().startswith("curl ")]
    argv = shlex.split(command.removeprefix("TOKEN=$(").removesuffix(")"))
    argv[0] = str(Path(sys.executable).parent / "pbctl")
    signed_in = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert signed_in.returncode == 0, signed_in.stderr
    token = signed_in.stdout.strip()
    path = "/" + curl.rsplit(f"127.0.0.1:{api}/", 1)[1]

    status, body, _ = fetch(api, path, {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    assert json.loads(body)["phase"] == "voting"
    status, body, _ = fetch(api, path)
    assert status == 401
    assert json.loads(body)["code"] == "TOKEN_MISSING"


def fetch(port: int, path: str, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read(), dict(answer.getheaders())
    finally:
        connection.close()
