"""Benchmark: sustained casting through ``chalice local`` with concurrent clients.

Not a test. Run ``.venv/bin/python bench/bench_load.py [--clients N]
[--ballots N]``. It starts the local stack (:class:`pbctl.localrun.LocalRun`:
moto server, the stack from ``infra/template.yaml``, ``chalice local``) on
free loopback ports, opens a three-proposal cycle for voting and has N
clients (default 16) each cast ballots from distinct voters over real HTTP,
one connection per request, until the total is cast. It prints the ballots
per second over the whole run, the p50, p90 and p99 latency of a request,
the items added to each table divided by the ballots recorded (target:
voter mark, ballot and idempotency record, 3 in all) and the DynamoDB calls
per ballot by operation.

The calls are counted by the pass-through proxy of
``tests/functional/faultproxy.py``, which stands between ``chalice local``
and moto for the whole run and injects nothing; its hop is in the figures.
A warm-up of one ballot per client, not counted, comes first: a cold
``chalice local`` hit by a burst builds a DynamoDB client per thread.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from pbctl.commands.demo import quiet_logs  # noqa: E402
from pbctl.localrun import HOST, LocalRun  # noqa: E402
from tests.functional.conftest import open_voting, small_cycle  # noqa: E402
from tests.functional.faultproxy import FaultProxy  # noqa: E402

CYCLE = "bench-load"
ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}
TABLES = ("voter_marks", "ballots", "idempotency")


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on loopback a moment ago."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def cast(port: int, prefix: str, index: int) -> tuple[int, str]:
    """One ``POST /ballots``; returns the status and the code of a refusal."""
    body = {
        "selections": ["p1", "p2"] if index % 2 else ["p3"],
        "attestation": ADULT,
        "voter": {"kind": "access_code", "value": f"{prefix}{index:08d}"},
    }
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request(
            "POST",
            "/ballots",
            body=json.dumps(body),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    code = "" if answer.status == 201 else json.loads(raw or b"{}").get("code", "")
    return answer.status, code


def count_items(local: LocalRun) -> dict[str, int]:
    client = boto3.client("dynamodb", endpoint_url=local.aws_endpoint)
    counts = {}
    for table in TABLES:
        name = getattr(local.services.settings, f"{table}_table")
        pages = client.get_paginator("scan").paginate(
            TableName=name, ConsistentRead=True, Select="COUNT"
        )
        counts[table] = sum(page["Count"] for page in pages)
    return counts


def run_clients(port: int, clients: int, ballots: int, prefix: str):
    """Cast ``ballots`` ballots from ``clients`` threads; return latencies,
    answers by status and code, and the wall time from first to last."""
    latencies: list[float] = []
    answers: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(offset: int) -> None:
        mine, seen = [], Counter()
        start.wait()
        for index in range(offset, ballots, clients):
            began = time.perf_counter()
            seen[cast(port, prefix, index)] += 1
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)
            answers.update(seen)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, answers, time.perf_counter() - began


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--ballots", type=int, default=3000, help="ballots to cast")
    args = parser.parse_args()

    quiet_logs()
    aws_port, api_port = free_ports(2)
    with FaultProxy(f"http://{HOST}:{aws_port}") as proxy:
        local = LocalRun(
            aws_port=aws_port, api_port=api_port, api_aws_endpoint=proxy.url
        )
        with local:
            now = datetime.now(UTC)
            open_voting(local.services.store, small_cycle(now, cycle_id=CYCLE), now)
            run_clients(api_port, args.clients, args.clients, "WARMUP")
            before = count_items(local)
            proxy.reset()

            latencies, answers, seconds = run_clients(
                api_port, args.clients, args.ballots, "LOAD"
            )

            calls = proxy.dynamodb_calls()
            after = count_items(local)

    recorded = answers[(201, "")]
    added = {table: after[table] - before[table] for table in TABLES}
    per_ballot = {t: n / recorded for t, n in added.items()} if recorded else {}
    total_calls = sum(calls.values())
    print(
        f"python {sys.version.split()[0]}; moto server on {HOST}:{aws_port} "
        f"(through a counting proxy), chalice local on {HOST}:{api_port}\n"
        f"{args.clients} clients, {args.ballots:,} ballots from distinct voters, "
        "one connection per request\n"
        f"  answers                  "
        + ", ".join(
            f"{n} x {status}{' ' + code if code else ''}"
            for (status, code), n in answers.most_common()
        )
        + "\n"
        f"  sustained                {recorded / seconds:8.1f} ballots/s "
        f"({seconds:.1f} s for {recorded:,} recorded)\n"
        f"  latency per request      p50 {1000 * statistics.median(latencies):.1f} ms,"
        f" p90 {1000 * percentile(latencies, 0.90):.1f} ms,"
        f" p99 {1000 * percentile(latencies, 0.99):.1f} ms,"
        f" max {1000 * max(latencies):.1f} ms\n"
        f"  items added per ballot   {sum(per_ballot.values()):.2f} "
        f"(target 3: "
        + ", ".join(f"{t.replace('_', ' ')} {n:.2f}" for t, n in per_ballot.items())
        + ")\n"
        f"  DynamoDB calls / ballot  {total_calls / max(recorded, 1):.3f} "
        "("
        + ", ".join(f"{op} {n}" for op, n in calls.most_common())
        + f" in {seconds:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
