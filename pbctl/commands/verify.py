"""``pbctl verify``: check a published result against the published ballots.

``pbctl verify RESULT.json BALLOTS.pb [--ballots-csv FILE] [--receipts FILE]
[--ballots-by-receipt FILE]``
recounts the ballots with the platform's own tally, checks every digest
``result.json`` records for the files given, and prints a verdict (see
:mod:`chalicelib.verify`). Needs no AWS access: anyone who downloaded the
files can run it. Exit status: 0 confirmed, 1 the result does not follow
from the files (each difference is named), 2 a file could not be read.
"""

from __future__ import annotations

import argparse
import sys

from chalicelib.errors import PBError
from chalicelib.publish import BALLOTS_BY_RECEIPT, BALLOTS_CSV, BALLOTS_PB, RECEIPTS
from chalicelib.verify import verify_result

CONFIRMED, MISMATCH, UNREADABLE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` subcommand to ``subparsers``."""
    parser = subparsers.add_parser(
        "verify",
        help="check a published result against its ballots",
        description=(
            "Recount the published ballots and compare the outcome, and the "
            "SHA-256 digests result.json records, with the published result. "
            "Exit 0 when confirmed, 1 when something differs, 2 when a file "
            "cannot be read."
        ),
    )
    parser.add_argument("result", metavar="RESULT.json", help="the published result")
    parser.add_argument("ballots", metavar="BALLOTS.pb", help="the published ballots")
    parser.add_argument(
        "--ballots-csv",
        metavar="FILE",
        help="also check the published ballots.csv (digest and content)",
    )
    parser.add_argument(
        "--receipts",
        metavar="FILE",
        help="also check the published receipts.txt (digest, shape, count)",
    )
    parser.add_argument(
        "--ballots-by-receipt",
        metavar="FILE",
        help="also check ballots-by-receipt.csv (only cycles that opted in)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Verify and print the verdict; return 0, 1 or 2 as the module says."""
    # Files are checked under their published names, whatever they are
    # called locally: that is the name result.json records a digest for.
    paths = {BALLOTS_PB: args.ballots}
    if args.ballots_csv:
        paths[BALLOTS_CSV] = args.ballots_csv
    if args.receipts:
        paths[RECEIPTS] = args.receipts
    if args.ballots_by_receipt:
        paths[BALLOTS_BY_RECEIPT] = args.ballots_by_receipt
    try:
        result = _read(args.result)
        files = {name: _read(path) for name, path in paths.items()}
        verdict = verify_result(result, files)
    except _Unreadable as exc:
        print(f"pbctl verify: cannot read {exc}", file=sys.stderr)
        return UNREADABLE
    except PBError as exc:
        print(f"pbctl verify: invalid file: {exc.message}", file=sys.stderr)
        return UNREADABLE

    out = sys.stdout
    if verdict.confirmed:
        out.write(
            f"CONFIRMED: the result of {verdict.cycle_id or 'the cycle'} follows "
            f"from its {verdict.ballots} published ballots; funded "
            f"{len(verdict.funded)}: {', '.join(verdict.funded) or 'none'}\n"
        )
    else:
        out.write(
            f"MISMATCH: the result does not follow from the files "
            f"({len(verdict.differences)} "
            f"difference{'s' if len(verdict.differences) != 1 else ''}):\n"
        )
        for difference in verdict.differences:
            out.write(f"  - {difference}\n")
    out.write("checked:\n")
    for item in verdict.checked:
        out.write(f"  {item}\n")
    return CONFIRMED if verdict.confirmed else MISMATCH


class _Unreadable(Exception):
    pass


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _Unreadable(f"{path}: {exc.strerror}") from exc
