"""Benchmark: this platform's parse + tally against pabutools' greedy rule.

Not a test. Run ``.venv/bin/python bench/bench_tally.py [--repeats N]``; it
reads the elections from ``$PABULIB_DIR`` (default ``../shared/pabulib``),
prints the best time of each engine, their ratio, whether the funded sets
agree, and this engine's peak memory measured in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.pabulib import read_pb  # noqa: E402
from chalicelib.tally import tally_election  # noqa: E402

FILES = (
    "Poland_Lodz_2022.pb",
    "US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb",
)
TARGET_FILE = FILES[0]
SPEEDUP_TARGET = 50
MEMORY_TARGET_MB = 200


def ours(path: Path) -> tuple[str, ...]:
    """Parse and tally ``path`` with this engine's greedy; return funded ids."""
    return tally_election(read_pb(path), rule="greedy").funded


def theirs(path: Path) -> tuple[str, ...]:
    """Parse and tally ``path`` with pabutools' greedy; return funded ids."""
    from pabutools.election import Cost_Sat, parse_pabulib
    from pabutools.rules import greedy_utilitarian_welfare

    instance, profile = parse_pabulib(str(path))
    funded = greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)
    return tuple(project.name for project in funded)


def best_of(repeats: int, run, path: Path) -> tuple[float, tuple[str, ...]]:
    """Return the best wall time over ``repeats`` runs and the last outcome."""
    best = float("inf")
    outcome: tuple[str, ...] = ()
    for _ in range(repeats):
        start = time.perf_counter()
        outcome = run(path)
        best = min(best, time.perf_counter() - start)
    return best, outcome


def _child(body: str) -> list[float]:
    # A fresh interpreter, started before pabutools has grown this process:
    # Linux carries a parent's peak RSS over into a forked child.
    code = (
        "import resource, sys, tracemalloc\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from chalicelib.pabulib import read_pb\n"
        "from chalicelib.tally import tally_election\n"
        f"{body}\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return [float(value) for value in out.stdout.split()]


def peak_memory_mb(path: Path) -> tuple[float, float]:
    """Peak RSS and peak traced Python allocations (MB) of one parse + tally.

    Two children: tracemalloc's own bookkeeping would inflate the RSS.
    """
    run = f"tally_election(read_pb({str(path)!r}), rule='greedy')"
    [rss] = _child(run)
    traced, _ = _child(
        f"tracemalloc.start()\n{run}\nprint(tracemalloc.get_traced_memory()[1] / 2**20)"
    )
    return rss, traced


def baseline_memory_mb() -> float:
    """Peak RSS (MB) of a fresh interpreter that only imports the engine."""
    return _child("")[0]


def main() -> int:
    """Run the benchmark; return 1 if a target is missed or outcomes differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of ours")
    parser.add_argument("--their-repeats", type=int, default=1, help="of pabutools")
    args = parser.parse_args()
    folder = Path(os.environ.get("PABULIB_DIR", ROOT.parent / "shared" / "pabulib"))

    failed = False
    print(f"python {sys.version.split()[0]}, pabulib folder {folder}")
    memory = {
        name: peak_memory_mb(folder / name)
        for name in FILES
        if (folder / name).exists()
    }
    print(f"interpreter + engine import alone: {baseline_memory_mb():.1f} MB RSS")
    for name in FILES:
        path = folder / name
        if not path.exists():
            print(f"{name}: missing, skipped")
            continue
        our_time, our_funded = best_of(args.repeats, ours, path)
        their_time, their_funded = best_of(args.their_repeats, theirs, path)
        ratio = their_time / our_time
        agree = set(our_funded) == set(their_funded)
        rss, traced = memory[name]
        print(
            f"{name}\n"
            f"  ours (parse+tally)        best of {args.repeats}: {our_time:8.3f} s\n"
            f"  pabutools (parse+greedy)  best of {args.their_repeats}: "
            f"{their_time:8.3f} s\n"
            f"  ratio                     {ratio:8.1f}x\n"
            f"  outcomes agree (greedy)   {agree} ({len(our_funded)} funded)\n"
            f"  our peak RSS              {rss:8.1f} MB"
            f" (target < {MEMORY_TARGET_MB} MB)\n"
            f"  our peak Python allocs    {traced:8.1f} MB (tracemalloc)"
        )
        failed |= not agree or rss >= MEMORY_TARGET_MB
        if name == TARGET_FILE:
            print(f"  speed target              >= {SPEEDUP_TARGET}x on this file")
            failed |= ratio < SPEEDUP_TARGET
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
