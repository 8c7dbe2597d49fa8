"""Benchmark: casting a ballot against a bare conditional put, in-process on moto.

Not a test. Run ``.venv/bin/python bench/bench_cast.py [--ballots N]``. It
builds the ``dev`` stack in ``moto.mock_aws()`` exactly as the functional
fixtures do, opens a small cycle for voting and, through
``chalice.test.Client``, casts N ballots with distinct voters on
``POST /ballots``. The baseline is a separate small Chalice app, defined
here, whose one route parses the JSON body and does one conditional PutItem
(``attribute_not_exists``) with a fresh key into the same ballots table,
driven by the same test client the same number of times; the two are
interleaved request by request. It prints the median and p90 per request of
both, their ratio (target: cast at most 1.5 times the bare put), the
DynamoDB calls and items written per ballot and, when the target is missed,
a cProfile breakdown of where the cast path spends its time.

``pbctl.motoshim.install()`` is applied, as in the local server: without it
moto deep-copies every table a transaction names, which would make each
ballot cost time proportional to the ballots already cast.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The fake credentials of tests/conftest.py, before anything AWS-shaped exists.
for _name in list(os.environ):
    if _name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[_name]
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)

import boto3  # noqa: E402
from chalice import Chalice, Response  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from app import app  # noqa: E402
from chalicelib.services import get_services, reset_services  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.storage.models import (  # noqa: E402
    BallotModel,
    CycleModel,
    IdempotencyModel,
    VoterMarkModel,
)
from pbctl import motoshim  # noqa: E402
from pbctl.localstack import create_stack  # noqa: E402
from tests.functional.conftest import open_voting, small_cycle  # noqa: E402

TARGET_RATIO = 1.5
STAGE = "dev"
ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}
BARE_CYCLE = "bench-bare"
#: Requests per route whose app output is counted.
PROBE = 50

bare = Chalice(app_name="bench-bare-put")


@bare.route("/put", methods=["POST"], content_types=["application/json"])
def bare_put():
    """Parse the body and do one conditional PutItem with a fresh key."""
    body = bare.current_request.json_body
    BallotModel(
        BARE_CYCLE,
        uuid.uuid4().hex,
        selections=list(body["selections"]),
        ballot_hash="bare",
        cast_on="2000-01-01",
    ).save(condition=BallotModel.ballot_id.does_not_exist())
    return Response(
        body=json.dumps({"ok": True}),
        status_code=201,
        headers={"Content-Type": "application/json"},
    )


def ballot_body(index: int) -> str:
    return json.dumps(
        {
            "selections": ["p1", "p2"] if index % 2 else ["p3"],
            "attestation": ADULT,
            "voter": {"kind": "email", "value": f"bench-{index:08d}@example.org"},
        }
    )


class Caster:
    """Both routes behind their test clients; every call returns its status."""

    def __init__(self, cast_client: Client, bare_client: Client):
        self._cast = cast_client.http
        self._bare = bare_client.http
        self.voters = 0
        self.bares = 0
        self.refused: Counter = Counter()

    def cast(self) -> int:
        index = self.voters
        self.voters += 1
        answer = self._cast.post(
            "/ballots",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
            body=ballot_body(index),
        )
        if answer.status_code != 201:
            self.refused[answer.json_body.get("code", answer.status_code)] += 1
        return answer.status_code

    def bare(self) -> int:
        self.bares += 1
        answer = self._bare.post(
            "/put",
            headers={"Content-Type": "application/json"},
            body=ballot_body(self.voters),
        )
        if answer.status_code != 201:
            self.refused[f"bare {answer.status_code}"] += 1
        return answer.status_code


class CallMeter:
    """Counts and times DynamoDB calls by operation through botocore's events.

    A call is timed from ``provide-client-params`` (the first event of
    ``BaseClient._make_api_call``: before validation and serialisation) to
    ``after-call`` (the response parsed), so it holds botocore's client side
    and moto's handling; the two hooks cost a few microseconds per call.
    """

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.seconds: Counter = Counter()
        self._started: dict[str, float] = {}
        self._clients: list = []

    def attach(self, client) -> None:
        if any(client is seen for seen in self._clients):
            return
        self._clients.append(client)
        client.meta.events.register("provide-client-params.dynamodb", self._start)
        client.meta.events.register("after-call.dynamodb", self._stop)

    def _start(self, model=None, **_) -> None:
        self._started[model.name] = time.perf_counter()

    def _stop(self, model=None, **_) -> None:
        started = self._started.pop(model.name, None)
        self.calls[model.name] += 1
        if started is not None:
            self.seconds[model.name] += time.perf_counter() - started

    def take(self) -> tuple[Counter, Counter]:
        taken = self.calls, self.seconds
        self.calls, self.seconds = Counter(), Counter()
        return taken


def dynamodb_clients(store) -> list:
    """Every botocore DynamoDB client the app uses (call after a warm-up)."""
    clients = [store._connection.client] if store._connection else []
    for model in (CycleModel, VoterMarkModel, BallotModel, IdempotencyModel):
        clients.append(model._get_connection().connection.client)
    return clients


@contextlib.contextmanager
def app_output_to(path: str):
    """Send fd 1 (the app's JSON logs and metric lines) to ``path`` meanwhile."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def output_lines(path: str) -> int:
    with open(path, "rb") as sink:
        return sum(1 for _ in sink)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


def count_by_key(client, table: str, attribute: str, prefix: str) -> int:
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        ConsistentRead=True,
        FilterExpression="begins_with(#k, :p)",
        ExpressionAttributeNames={"#k": attribute},
        ExpressionAttributeValues={":p": {"S": prefix}},
        Select="COUNT",
    )
    return sum(page["Count"] for page in pages)


# -- profiling ----------------------------------------------------------------

#: (label, substring of "file:function" in cProfile's keys), in report order.
BUCKETS = (
    (
        "chalice test client + routing (whole request)",
        "chalice/local.py:handle_request",
    ),
    ("app middleware (correlate)", "app.py:correlate"),
    ("cast route (answers wrapper)", "api/public.py:wrapper"),
    ("  cast_ballot", "chalicelib/voting.py:cast_ballot"),
    ("    json_body (request parse)", "api/responses.py:json_body"),
    ("    parse_cast_request", "chalicelib/ballot.py:parse_cast_request"),
    ("    store.current_cycle (cached 5 s)", "repository.py:current_cycle"),
    ("    store.get_idempotency (GetItem)", "repository.py:get_idempotency"),
    ("    check_selections", "chalicelib/ballot.py:check_selections"),
    ("    check_eligibility", "chalicelib/eligibility.py:check_eligibility"),
    ("    voter secret (cached)", "secrets.py:__call__"),
    ("    voter_key (HMAC)", "chalicelib/voterkey.py:voter_key"),
    ("    store.record_ballot (TransactWriteItems)", "repository.py:record_ballot"),
    ("  count() metrics (EMF line)", "chalicelib/observability.py:count"),
    ("  logger.info JSON log line", "logging/__init__.py:info"),
    ("  ok() response body", "api/responses.py:ok"),
    ("bind_request (logger.append_keys)", "observability.py:bind_request"),
    ("pynamodb TransactWrite.save (item + condition)", "pynamodb/transactions.py:save"),
    ("pynamodb Model.save (item + condition, call)", "pynamodb/models.py:save"),
    ("pynamodb Model.get (call + deserialise)", "pynamodb/models.py:get"),
    ("pynamodb Model() construction", "pynamodb/models.py:__init__"),
    ("pynamodb Connection.dispatch (all AWS calls)", "connection/base.py:dispatch"),
    ("botocore _make_api_call (all AWS calls)", "botocore/client.py:_make_api_call"),
    ("  moto, all requests (botocore stubber)", "botocore_stubber.py:__call__"),
    ("    moto TransactWriteItems", "dynamodb/responses.py:transact_write_items"),
    ("    moto PutItem", "dynamodb/responses.py:put_item"),
    ("    moto GetItem", "dynamodb/responses.py:get_item"),
)


def cumulative(stats: pstats.Stats, needle: str) -> float:
    """Cumulative seconds of the outermost functions whose key holds ``needle``."""
    path, function = needle.rsplit(":", 1)
    total = 0.0
    for (filename, _, name), row in stats.stats.items():
        if name == function and path in filename:
            _, _, _, cumtime, callers = row
            # count a recursive or nested frame once
            recursive = any(cn == function and path in cf for (cf, _, cn) in callers)
            if not recursive:
                total += cumtime
    return total


def profile(caster: Caster, count: int, top: int) -> list[str]:
    """Profile ``count`` more requests of each route; return the report lines."""
    stats = {}
    for name, call in (("cast", caster.cast), ("bare", caster.bare)):
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            call()
        profiler.disable()
        stats[name] = pstats.Stats(profiler)

    cast_total = stats["cast"].total_tt / count
    bare_total = stats["bare"].total_tt / count
    out = [
        f"\ncProfile over {count} more requests of each route (the profiler"
        " inflates every figure; compare shares, not absolutes)",
        f"  cast request under cProfile   {ms(cast_total)} per ballot",
        f"  bare request under cProfile   {ms(bare_total)} per request",
        f"  difference                    {ms(cast_total - bare_total)}",
        "  where each request spends its time (cumulative per request; nested"
        " rows are part of the row above them):",
        f"    {'':<50} {'cast':>10} {'share':>7} {'bare':>10}",
    ]
    for label, needle in BUCKETS:
        cast_s = cumulative(stats["cast"], needle) / count
        bare_s = cumulative(stats["bare"], needle) / count
        share = 100 * cast_s / cast_total if cast_total else 0.0
        out.append(f"    {label:<50} {ms(cast_s)} {share:5.1f} % {ms(bare_s)}")
    whole = "chalice/local.py:handle_request"
    calls = "connection/base.py:dispatch"
    cast_rest = cumulative(stats["cast"], whole) - cumulative(stats["cast"], calls)
    bare_rest = cumulative(stats["bare"], whole) - cumulative(stats["bare"], calls)
    out.append(
        f"    {'whole request minus AWS calls':<50} {ms(cast_rest / count)} "
        f"{100 * cast_rest / count / cast_total:5.1f} % {ms(bare_rest / count)}"
    )

    out.append(f"\n  top {top} functions of the cast path by own time (tottime):")
    rows = sorted(stats["cast"].stats.items(), key=lambda kv: kv[1][2], reverse=True)
    for (filename, line, name), (_, calls, tottime, cumtime, _) in rows[:top]:
        short = "/".join(Path(filename).parts[-2:])
        out.append(
            f"    {tottime / count * 1000:7.3f} ms own {cumtime / count * 1000:7.3f}"
            f" ms cum {calls / count:6.1f} calls  {short}:{line}({name})"
        )
    return out


# -- main -----------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ballots", type=int, default=2000, help="timed ballots")
    parser.add_argument("--warmup", type=int, default=100, help="untimed, each route")
    parser.add_argument(
        "--profile-ballots", type=int, default=300, help="profiled, if target missed"
    )
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    parser.add_argument(
        "--always-profile", action="store_true", help="profile even if target met"
    )
    args = parser.parse_args()
    if args.ballots < 2:
        parser.error("--ballots must be at least 2")

    motoshim.install()
    with (
        tempfile.NamedTemporaryFile(prefix="bench-cast-", suffix=".log") as sink,
        mock_aws(),
    ):
        with app_output_to(sink.name):
            settings, cycle, store = build_stack()
        print(
            f"python {sys.version.split()[0]}; moto {moto_version()} in-process "
            "(mock_aws) with pbctl.motoshim.install() applied: transactions back "
            "up only the items they touch, as in the local server\n"
            f"cycle {cycle.cycle_id} in {cycle.phase.value}; PB_METRICS="
            f"{os.environ.get('PB_METRICS', 'on')}, app log level {log_level()}; "
            "the app's stdout (JSON logs, metric lines) goes to a temporary file"
        )
        with (
            Client(app, project_dir=str(ROOT)) as cast_client,
            Client(bare, project_dir=str(ROOT)) as bare_client,
            app_output_to(sink.name),
        ):
            caster = Caster(cast_client, bare_client)
            report = run(args, caster, store, sink.name)
            if not report["met"] or args.always_profile:
                report["profile"] = profile(caster, args.profile_ballots, args.top)
        print_report(args, report)
        print_items(settings, cycle, caster, args)
        if caster.refused:
            print(f"  refused answers: {dict(caster.refused)}")
        if "profile" in report:
            print("\n".join(report["profile"]))
    reset_services()
    return 0


def build_stack():
    """The ``dev`` stack in moto, PB_* set, services fresh, a cycle in voting."""
    outputs = create_stack(
        boto3.client("cloudformation", region_name="us-east-1"), stage=STAGE
    )
    settings = Settings.from_stack_outputs(outputs, stage=STAGE)
    os.environ.update(settings.to_env())
    reset_services()
    services = get_services()
    now = services.clock()
    cycle = open_voting(services.store, small_cycle(now), now)
    return settings, cycle, services.store


def run(args: argparse.Namespace, caster: Caster, store, sink: str) -> dict:
    """Warm up, probe the output per request, then time both routes interleaved."""
    meter = CallMeter()
    for _ in range(args.warmup):
        caster.cast()
        caster.bare()
    for client in dynamodb_clients(store):
        meter.attach(client)
    lines = {}
    for name, call in (("cast", caster.cast), ("bare", caster.bare)):
        before = output_lines(sink)
        for _ in range(PROBE):
            call()
        lines[name] = (output_lines(sink) - before) / PROBE
    meter.take()

    times: dict[str, list[float]] = {"cast": [], "bare": []}
    calls = {"cast": Counter(), "bare": Counter()}
    inside = {"cast": Counter(), "bare": Counter()}
    for _ in range(args.ballots):
        for name, call in (("cast", caster.cast), ("bare", caster.bare)):
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
            counted, seconds = meter.take()
            calls[name] += counted
            inside[name] += seconds
    ratio = statistics.median(times["cast"]) / statistics.median(times["bare"])
    return {
        "times": times,
        "calls": calls,
        "inside": inside,
        "lines": lines,
        "ratio": ratio,
        "met": ratio <= TARGET_RATIO,
    }


def print_report(args: argparse.Namespace, report: dict) -> None:
    n = args.ballots
    times = report["times"]
    print(
        f"\n{n} requests per route, interleaved cast/bare, after {args.warmup} "
        f"warm-up and {PROBE} probe requests per route"
    )
    for name, label in (("cast", "POST /ballots"), ("bare", "POST /put    ")):
        print(
            f"  {name}  {label}  median {ms(statistics.median(times[name]))}"
            f"   p90 {ms(p90(times[name]))}   mean {ms(statistics.fmean(times[name]))}"
        )
    p90_ratio = p90(times["cast"]) / p90(times["bare"])
    print(
        f"  ratio cast/bare (median)  {report['ratio']:5.2f}x   (p90 {p90_ratio:.2f}x)"
        f"\n  target <= {TARGET_RATIO}x: {'met' if report['met'] else 'NOT met'}"
    )
    print("  DynamoDB calls per request (botocore event hooks):")
    for name in ("cast", "bare"):
        calls = report["calls"][name]
        parts = ", ".join(f"{op} {c / n:.2f}" for op, c in sorted(calls.items()))
        print(f"    {name}  {sum(calls.values()) / n:.2f}  ({parts or 'none'})")
    print(
        "  mean time per request inside those calls (botocore client side +"
        " moto) and outside them (the rest of the request):"
    )
    for name in ("cast", "bare"):
        inside = report["inside"][name]
        total = statistics.fmean(times[name])
        spent = sum(inside.values()) / n
        parts = ", ".join(
            f"{op} {ms(t / n).strip()}" for op, t in sorted(inside.items())
        )
        print(
            f"    {name}  inside {ms(spent)} ({parts or 'none'}); outside "
            f"{ms(total - spent)}"
        )
    lines = report["lines"]
    print(
        f"  app stdout lines per request: cast {lines['cast']:.1f}, "
        f"bare {lines['bare']:.1f}"
    )
    if not report["met"]:
        print_budget(report, n)


def print_budget(report: dict, n: int) -> None:
    """What the unprofiled figures say about reaching the target (estimates)."""
    cast = statistics.fmean(report["times"]["cast"])
    bare = statistics.fmean(report["times"]["bare"])
    inside = {
        k: Counter({op: t / n for op, t in v.items()})
        for k, v in report["inside"].items()
    }
    get = inside["cast"].get("GetItem", 0.0)
    transact = inside["cast"].get("TransactWriteItems", 0.0)
    put = inside["bare"].get("PutItem", 0.0)
    cast_outside = cast - sum(inside["cast"].values())
    bare_outside = bare - sum(inside["bare"].values())
    print(
        "  where the gap comes from (means of the timed run; estimates by "
        "subtraction):\n"
        f"    cast - bare                                 {ms(cast - bare)}\n"
        f"    the idempotency GetItem (bare has none)     {ms(get)}\n"
        f"    TransactWriteItems (4 items) - PutItem      {ms(transact - put)}"
        f"  (TransactWriteItems is {transact / put:.2f}x a PutItem)\n"
        f"    rest of the request, cast - bare            "
        f"{ms(cast_outside - bare_outside)}\n"
        f"    ratio without the GetItem                   {(cast - get) / bare:5.2f}x\n"
        f"    ratio floor (one transaction, rest as bare) "
        f"{(transact + bare_outside) / bare:5.2f}x"
    )


def print_items(settings: Settings, cycle, caster: Caster, args) -> None:
    """Items in voter-marks, ballots and idempotency per ballot cast."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    prefix = cycle.cycle_id + "#"
    marks = count_by_key(client, settings.voter_marks_table, "voter_key", prefix)
    ballots = count_by_key(client, settings.ballots_table, "cycle_id", cycle.cycle_id)
    idem = count_by_key(client, settings.idempotency_table, "idempotency_id", prefix)
    bare_items = count_by_key(client, settings.ballots_table, "cycle_id", BARE_CYCLE)
    cast = caster.voters
    print(
        f"  items written by all {cast} ballots cast (warm-up, probe, timed and "
        f"profiled): voter-marks {marks}, ballots {ballots}, idempotency {idem}"
        f"\n    = {(marks + ballots + idem) / cast:.2f} items per ballot "
        f"({marks / cast:.2f} + {ballots / cast:.2f} + {idem / cast:.2f}); "
        f"bare route: {bare_items / caster.bares:.2f} items per request"
    )


def moto_version() -> str:
    import moto

    return moto.__version__


def log_level() -> str:
    from chalicelib.observability import logger

    return logging.getLevelName(logger.log_level)


if __name__ == "__main__":
    sys.exit(main())
