"""Benchmark: the Cambridge replay through ``chalice local``.

Not a test. Run ``.venv/bin/python bench/bench_replay.py [--clients N]
[--pb FILE]``. It does what ``pbctl demo`` does (``pbctl.commands.demo.replay``
on a :class:`pbctl.localrun.LocalRun`: moto server and ``chalice local`` on
free loopback ports), prints the total wall time, the casting phase's
ballots per second, and whether the published funded set and per-proposal
votes equal :func:`chalicelib.tally.tally_election` on the same file with the
same rule. Skips, with a message, when the file is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.pabulib import read_pb  # noqa: E402
from chalicelib.tally import tally_election  # noqa: E402
from pbctl.commands.demo import quiet_logs, replay  # noqa: E402
from pbctl.localrun import HOST, LocalRun  # noqa: E402

FILE = "US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb"


def default_pb() -> Path:
    folder = os.environ.get("PABULIB_DIR") or ROOT.parent / "shared" / "pabulib"
    return Path(folder) / FILE


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pb", type=Path, default=default_pb(), help="the election")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument(
        "--show-demo", action="store_true", help="also print the demo's own output"
    )
    args = parser.parse_args()
    if not args.pb.is_file():
        print(f"bench_replay: {args.pb} not found, skipped (use --pb FILE)")
        return 0

    quiet_logs()
    started = time.perf_counter()
    election = read_pb(args.pb)
    aws_port, api_port = free_ports(2)
    timings: dict = {}
    story, progress = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(story), contextlib.redirect_stderr(progress):
        with LocalRun(aws_port=aws_port, api_port=api_port) as local:
            ready = time.perf_counter()
            summary = replay(local, election, args.pb.name, args.clients, timings)
            replayed = time.perf_counter()
    total = time.perf_counter() - started
    if args.show_demo:
        print(story.getvalue())
    # The demo's progress bar, drawn with carriage returns: keep its last state.
    last_progress = progress.getvalue().rsplit("\r", 1)[-1].strip()

    ballots = len(election.votes)
    cast_seconds = timings["cast_seconds"]
    answers = next(
        (line for line in story.getvalue().splitlines() if line.startswith("Ballots:")),
        "Ballots: ?",
    )
    expected = tally_election(election, rule=summary["rule"])
    expected_votes = {p.proposal_id: p.votes for p in expected.proposals}
    funded_agree = set(summary["funded"]) == set(expected.funded)
    same_order = list(summary["funded"]) == list(expected.funded)
    votes_agree = summary["votes"] == expected_votes
    print(
        f"python {sys.version.split()[0]}; {args.pb.name}: {ballots:,} ballots, "
        f"{len(election.projects)} projects\n"
        f"moto server on {HOST}:{aws_port}, chalice local on {HOST}:{api_port}, "
        f"{args.clients} clients\n"
        f"  total wall time            {total:8.1f} s  (read file, start stack and "
        "chalice local, replay, stop)\n"
        f"    start-up                 {ready - started:8.1f} s\n"
        f"    replay (import, clock, cast, close, tally, publish, read)"
        f" {replayed - ready:6.1f} s\n"
        f"    casting phase            {cast_seconds:8.1f} s\n"
        f"  casting                    {ballots / cast_seconds:8.1f} ballots/s "
        f"({1000 * cast_seconds / ballots:.2f} ms per ballot wall, "
        f"{1000 * cast_seconds * args.clients / ballots:.2f} ms per request "
        "per client)\n"
        f"  progress bar at the end: {last_progress}\n"
        f"  {answers}\n"
        f"  rule {summary['rule']}: funded {len(summary['funded'])} "
        f"({', '.join(summary['funded'])})\n"
        f"  agree with tally_election: funded set "
        f"{'yes' if funded_agree else 'no'} (same order: "
        f"{'yes' if same_order else 'no'}), per-proposal votes "
        f"{'yes' if votes_agree else 'no'}"
    )
    if not same_order:
        print(f"    published {summary['funded']}\n    tally     {expected.funded}")
    if not votes_agree:
        differ = {
            pid: (summary["votes"].get(pid), votes)
            for pid, votes in expected_votes.items()
            if summary["votes"].get(pid) != votes
        }
        print(f"    votes that differ (published, tally): {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
