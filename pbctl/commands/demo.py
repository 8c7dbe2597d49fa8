"""``pbctl demo``: replay a real election end to end on the local stack.

It imports a ``.pb`` election's ballot as a cycle, lets the phase clock walk
the cycle into voting, casts every ballot of the file through the HTTP API
(``chalice local``), lets the clock close voting at its deadline, which
tallies and publishes, then prints the result table and, as the last line,
the published result as one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.cycle import format_time
from chalicelib.errors import PBError
from chalicelib.importer import cycle_from_election, cycle_id_for
from chalicelib.jobs import run_phase_clock
from chalicelib.pabulib import Election, read_pb
from chalicelib.tally import tally_election
from pbctl.localrun import HOST, ROOT, LocalRun, LocalRunError, request

#: Where the research elections live: $PABULIB_DIR, else ../shared/pabulib
#: beside the repository (wherever pbctl is run from).
PABULIB_DIR = Path(os.environ.get("PABULIB_DIR") or ROOT.parent / "shared" / "pabulib")
DEFAULT_PB = str(
    PABULIB_DIR / "US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb"
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="replay a .pb election through the API on the local stack"
    )
    parser.add_argument("--pb", default=DEFAULT_PB, help="the .pb election to replay")
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8001)
    parser.add_argument(
        "--clients", type=int, default=4, help="concurrent HTTP clients casting ballots"
    )
    parser.set_defaults(handler=run)


def read_election(path: str, command: str) -> Election | None:
    """The election in ``path``, or ``None`` after saying why it cannot be read."""
    try:
        return read_pb(path)
    except (OSError, PBError) as exc:
        print(f"pbctl {command}: cannot read {path}: {exc}", file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    quiet_logs()
    election = read_election(args.pb, "demo")
    if election is None:
        return 1
    try:
        with LocalRun(aws_port=args.aws_port, api_port=args.api_port) as local:
            summary = replay(local, election, Path(args.pb).name, args.clients)
    except (LocalRunError, PBError) as exc:
        print(f"pbctl demo: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def replay(
    local: LocalRun,
    election: Election,
    file_name: str,
    clients: int,
    timings: dict | None = None,
) -> dict:
    """Run the whole cycle on ``local``; return the final one-line summary.

    When given, ``timings`` receives ``cast_seconds``: the wall time of
    casting every ballot (for bench/bench_replay.py).
    """
    store = local.services.store
    now = datetime.now(UTC)
    cycle_id = cycle_id_for(file_name, prefix="replay")
    # The file's voters were eligible where they voted: replay them all, each
    # on their word (``attested``), as the published file already proved them.
    cycle = dataclasses.replace(
        cycle_from_election(election, cycle_id=cycle_id, now=now, min_voting_age=0),
        verification=("attested",),
    )
    store.create_cycle(cycle, actor="pbctl:demo", now=now)
    say(
        f"Imported {file_name}: {len(cycle.proposals)} proposals, "
        f"budget cap {cycle.budget_cap:,}, up to {cycle.selection_limit} choices."
    )

    opened = run_phase_clock({"time": format_time(now)})
    say(
        "Phase clock: "
        + " -> ".join(
            [opened["transitions"][0]["from"]]
            + [t["to"] for t in opened["transitions"]]
        )
    )
    cycle = store.get_cycle(cycle_id)
    say(f"Ballot frozen: {cycle.ballot_hash}")

    outcomes, cast_seconds = cast_all(local, election, clients)
    if timings is not None:
        timings["cast_seconds"] = cast_seconds
    say("Ballots: " + ", ".join(f"{n} {code}" for code, n in outcomes.most_common()))
    refused = {code: n for code, n in outcomes.items() if code not in REPLAYED}
    if refused:
        raise LocalRunError(f"the API refused ballots of the file: {refused}")

    deadline = cycle.calendar[cycle.phase].end
    early = run_phase_clock({"time": format_time(deadline - timedelta(seconds=1))})
    if early["transitions"]:
        raise LocalRunError(f"the phase clock moved before the deadline: {early}")
    closed = run_phase_clock({"time": format_time(deadline + timedelta(minutes=1))})
    say(
        "Phase clock at the deadline: "
        + ", ".join(f"{t['from']} -> {t['to']}" for t in closed["transitions"])
    )

    status, result = request(HOST, local.api_port, "GET", "/results")
    if status != 200:
        raise LocalRunError(f"GET /results answered {status}: {result}")
    print_table(result)
    check_against_file(result, election)
    return {
        "file": file_name,
        "rule": result["rule"],
        "budget": result["budget"],
        "funded": result["funded"],
        "spent": result["spent"],
        "votes": {p["proposal_id"]: p["votes"] for p in result["proposals"]},
    }


#: Answers that leave the replay faithful to the file.
REPLAYED = ("recorded", "skipped_empty")


def check_against_file(result: dict, election: Election) -> None:
    """Raise unless the published result is what a direct tally of the file gives."""
    direct = tally_election(election, rule=result["rule"])
    votes = {p["proposal_id"]: p["votes"] for p in result["proposals"]}
    if list(direct.funded) != result["funded"] or votes != {
        p.proposal_id: p.votes for p in direct.proposals
    }:
        raise LocalRunError("the published result differs from a direct tally")
    say("The published result matches a direct tally of the file.")


def cast_all(
    local: LocalRun, election: Election, clients: int
) -> tuple[Counter, float]:
    """POST every ballot of ``election``; return answers by code, seconds taken."""
    total = len(election.votes)
    outcomes: Counter = Counter()
    started = time.monotonic()

    def cast_range(offset: int) -> Counter:
        counts: Counter = Counter()
        # chalice local speaks HTTP/1.0: one connection per request.
        for index in range(offset, total, clients):
            counts[cast_one(local.api_port, election, index)] += 1
            progress[offset] += 1
        finished[offset] = time.monotonic()
        return counts

    progress = Counter()
    finished = {offset: started for offset in range(clients)}
    bar = ProgressBar(total, started)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(cast_range, k) for k in range(clients)]
        while not all(f.done() for f in futures):
            bar.draw(sum(progress.values()))
            time.sleep(0.25)
        for future in futures:
            outcomes.update(future.result())
    # When the last client finished, not when the progress loop noticed.
    elapsed = max(finished.values()) - started
    bar.draw(total, final=True)
    return outcomes, elapsed


def cast_one(port: int, election: Election, index: int) -> str:
    vote = election.votes[index]
    selections = list(dict.fromkeys(vote.vote))  # a .pb ballot is a set
    if not selections:
        return "skipped_empty"  # an empty ballot counts for nothing
    age = vote.fields.get("age", "")
    attestation = {"boston_resident": True, "age": int(age) if age.isdigit() else 18}
    body = {
        "selections": selections,
        "attestation": attestation,
        "voter": {"kind": "email", "value": f"replay-{index:08d}@example.org"},
    }
    status, answer = request(
        HOST,
        port,
        "POST",
        "/ballots",
        body,
        {"Idempotency-Key": uuid.uuid4().hex},
    )
    if status == 201:
        return "recorded"
    return (answer or {}).get("code", str(status)).lower()


class ProgressBar:
    """A progress bar on standard error: redrawn in place on a terminal, one
    line per tenth otherwise, so that log files stay readable."""

    width = 30

    def __init__(self, total: int, started: float, stream=sys.stderr):
        self.total = max(total, 1)
        self.started = started
        self.stream = stream
        self.live = stream.isatty()
        self.tenths = -1

    def draw(self, count: int, *, final: bool = False) -> None:
        tenths = 10 * count // self.total
        if not self.live and not final and tenths == self.tenths:
            return
        self.tenths = tenths
        filled = self.width * count // self.total
        elapsed = max(time.monotonic() - self.started, 1e-9)
        line = (
            f"  casting [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{count}/{self.total} ({count / elapsed:,.0f} ballots/s, "
            f"{elapsed:,.1f} s)"
        )
        if self.live:
            print("\r" + line, end="\n" if final else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def print_table(result: dict) -> None:
    titles = result.get("titles", {})
    print(
        f"\nResults: {result.get('name', '')} ({result['rule']}, "
        f"tie-break {result['tie_break']})"
    )
    print(
        f"{'rank':>4}  {'proposal':<10} {'votes':>7} {'cost':>12} "
        f"{'funded':<12} {'spent after':>12}  title"
    )
    for p in result["proposals"]:
        funded = "yes" if p["funded"] else p["reason"].replace("_", " ")
        title = titles.get(p["proposal_id"], "")[:40]
        print(
            f"{p['rank']:>4}  {p['proposal_id']:<10} {p['votes']:>7,} "
            f"{p['cost']:>12,} {funded:<12} {p['spent_after']:>12,}  {title}"
        )
    print(
        f"Budget {result['budget']:,}, spent {result['spent']:,}, remaining "
        f"{result['remaining']:,}; {result['ballots_counted']:,} ballots counted."
    )
    print(
        f"Ballot hash {result['ballot_hash']}; ballots hash {result['ballots_hash']}\n"
    )


def quiet_logs() -> None:
    """Keep the demo's output to its story: warnings only from the libraries."""
    from chalicelib.observability import logger

    logger.setLevel(logging.WARNING)
    for name in ("chalicelib", "werkzeug"):
        logging.getLogger(name).setLevel(logging.WARNING)


def say(text: str) -> None:
    print(text, flush=True)
