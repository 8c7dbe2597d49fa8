"""What a cycle publishes for public verification, and how the API serves it.

By default the receipt hashes (``receipts.txt``, sorted) and the ballots
(``ballots.csv``, ``ballots.pb``, in canonical order) are separate files
with nothing linking a line of one to a line of the other; a cycle that
opts in also publishes ``ballots-by-receipt.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from app import app as api_app
from chalicelib.cycle import Phase, format_time
from chalicelib.jobs import run_phase_clock
from pbctl.main import main
from tests.functional.conftest import open_voting, small_cycle
from tests.functional.election_run import cast_one

pytestmark = pytest.mark.functional

VOTES = [("p1",), ("p2", "p1"), ("p2",), ("p3",), ("p3", "p2"), ("p3",)]


def vote_and_publish(services, cycle) -> list[tuple[str, tuple[str, ...]]]:
    """Cast :data:`VOTES`, close voting, publish; returns (receipt, selections)."""
    with Client(api_app) as api:
        cast = [(cast_one(api, n, v), v) for n, v in enumerate(VOTES)]
    run_phase_clock(
        {"time": format_time(cycle.calendar[Phase.VOTING].end + timedelta(minutes=2))}
    )
    assert services.store.get_cycle(cycle.cycle_id).phase is Phase.RESULTS
    return cast


def published(settings, cycle_id: str, name: str) -> tuple[bytes, dict]:
    s3 = boto3.client("s3", region_name="us-east-1")
    answer = s3.get_object(
        Bucket=settings.results_bucket, Key=f"results/{cycle_id}/{name}"
    )
    return answer["Body"].read(), answer["Metadata"]


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def test_receipts_and_ballots_are_published_apart(services, settings, voting_cycle):
    cast = vote_and_publish(services, voting_cycle)

    result = json.loads(published(settings, "boston-test", "result.json")[0])
    assert result["receipts_with_selections"] is False
    assert sorted(result["files"]) == [
        "ballots.csv",
        "ballots.pb",
        "receipts.txt",
        "result.csv",
    ]
    # Each digest result.json records is the file's, as the bucket says too.
    for name, recorded in result["files"].items():
        body, metadata = published(settings, "boston-test", name)
        assert recorded == "sha256:" + sha256(body) == "sha256:" + metadata["sha256"]

    # receipts.txt: the hash of every receipt handed out, sorted, nothing else.
    receipts = published(settings, "boston-test", "receipts.txt")[0].decode()
    hashes = sorted(sha256(receipt.encode()) for receipt, _ in cast)
    assert receipts == "".join(h + "\n" for h in hashes)

    # ballots.csv: numbered in canonical order, a 0/1 column per proposal.
    rows = list(
        csv.reader(
            io.StringIO(published(settings, "boston-test", "ballots.csv")[0].decode())
        )
    )
    assert rows[0] == ["ballot", "p1", "p2", "p3"]
    assert rows[1:] == [
        ["1", "1", "0", "0"],
        ["2", "1", "1", "0"],
        ["3", "0", "1", "0"],
        ["4", "0", "1", "1"],
        ["5", "0", "0", "1"],
        ["6", "0", "0", "1"],
    ]
    assert not any(h in json.dumps(rows) for h in hashes)
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=settings.results_bucket)["Contents"]
    ]
    assert "results/boston-test/ballots-by-receipt.csv" not in keys


def test_a_cycle_can_opt_in_to_selections_beside_receipts(
    services, settings, tmp_path, capsys
):
    now = services.clock()
    cycle = dataclasses.replace(small_cycle(now), receipts_with_selections=True)
    cycle = open_voting(services.store, cycle, now)
    with Client(api_app) as api:
        # The frozen ballot tells voters before they vote.
        assert api.http.get("/ballot").json_body["receipts_with_selections"] is True

    cast = vote_and_publish(services, cycle)

    result = json.loads(published(settings, "boston-test", "result.json")[0])
    assert result["receipts_with_selections"] is True
    body = published(settings, "boston-test", "ballots-by-receipt.csv")[0]
    assert result["files"]["ballots-by-receipt.csv"] == "sha256:" + sha256(body)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["receipt_hash", "p1", "p2", "p3"]
    expected = sorted(
        [sha256(r.encode()), *("1" if p in v else "0" for p in ("p1", "p2", "p3"))]
        for r, v in cast
    )
    assert rows[1:] == expected

    # pbctl verify checks the opt-in file against the ballots and receipts.
    for name in ("result.json", "ballots.pb", "receipts.txt", "ballots-by-receipt.csv"):
        (tmp_path / name).write_bytes(published(settings, "boston-test", name)[0])
    args = [
        "verify",
        str(tmp_path / "result.json"),
        str(tmp_path / "ballots.pb"),
        "--receipts",
        str(tmp_path / "receipts.txt"),
        "--ballots-by-receipt",
        str(tmp_path / "ballots-by-receipt.csv"),
    ]
    assert main(args) == 0, capsys.readouterr().out
    # Two receipts swapped between ballots keep every count: only the digest
    # result.json records shows the file was changed.
    lines = body.decode().splitlines(keepends=True)
    i, j = next(
        (i, j)
        for i in range(1, len(lines))
        for j in range(i + 1, len(lines))
        if lines[i].split(",", 1)[1] != lines[j].split(",", 1)[1]
    )
    (head_i, rest_i), (head_j, rest_j) = lines[i].split(",", 1), lines[j].split(",", 1)
    lines[i], lines[j] = f"{head_i},{rest_j}", f"{head_j},{rest_i}"
    (tmp_path / "ballots-by-receipt.csv").write_text("".join(lines))
    capsys.readouterr()
    assert main(args) == 1
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("  - ")] == [
        "  - ballots-by-receipt.csv: its SHA-256 is sha256:"
        + sha256("".join(lines).encode())
        + ", result.json records "
        + result["files"]["ballots-by-receipt.csv"]
    ]
    # A changed choice is found in the content too.
    lines[1] = lines[1][:-2] + ("0\n" if lines[1][-2] == "1" else "1\n")
    (tmp_path / "ballots-by-receipt.csv").write_text("".join(lines))
    capsys.readouterr()
    assert main(args) == 1
    assert (
        "  - ballots-by-receipt.csv: its selections are not the ballots of ballots.pb\n"
    ) in capsys.readouterr().out


def test_the_api_serves_the_listed_files_once_results_are_out(
    services, settings, voting_cycle
):
    with Client(api_app) as api:
        early = api.http.get("/results/files/receipts.txt")
        assert early.status_code == 409
        assert (early.json_body["code"], early.json_body["field"]) == (
            "RESULTS_NOT_PUBLISHED",
            "phase",
        )

        vote_and_publish(services, voting_cycle)

        answer = api.http.get("/results/files/receipts.txt")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        body, _ = published(settings, "boston-test", "receipts.txt")
        assert answer.body == body
        csv_answer = api.http.get("/results/files/ballots.csv")
        assert csv_answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        # Not listed in result.json (this cycle did not opt in), or no such file.
        for name in ("ballots-by-receipt.csv", "result.json", "secrets.txt"):
            missing = api.http.get(f"/results/files/{name}")
            assert missing.status_code == 404
            assert (missing.json_body["code"], missing.json_body["field"]) == (
                "NO_SUCH_FILE",
                "name",
            )
