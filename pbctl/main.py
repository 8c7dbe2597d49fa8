"""Entry point of ``pbctl``: builds the parser from the command modules and runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from pbctl import exitcodes
from pbctl.commands import (
    accesscodes,
    audit,
    cycle,
    demo,
    deploy,
    ops,
    site,
    stafftoken,
    tally,
    up,
    verify,
)

#: The command modules; add a module here to add its subcommand.
COMMANDS = [
    tally,
    verify,
    demo,
    up,
    site,
    cycle,
    audit,
    stafftoken,
    deploy,
    ops,
    accesscodes,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``pbctl`` parser with one subcommand per module in COMMANDS."""
    parser = argparse.ArgumentParser(
        prog="pbctl",
        description="Run and check the Boston PB platform.",
        epilog=exitcodes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pbctl`` with ``argv``; return its exit status (:mod:`pbctl.exitcodes`).

    An AWS failure that a command did not expect still gets its class
    (3 when AWS cannot be reached) and one line, not a traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else exitcodes.USAGE
    try:
        return args.handler(args)
    except (BotoCoreError, ClientError) as exc:
        print(f"pbctl {args.command}: {exc}", file=sys.stderr)
        return exitcodes.classify(exc)


if __name__ == "__main__":
    sys.exit(main())
