"""``pbctl tally``: tally pabulib ``.pb`` files with the platform's own engine.

``pbctl tally --publish --cycle ID`` instead tallies a stage's cycle from its
ballots table and publishes the result, exactly as the phase clock does
(:func:`chalicelib.publish.publish_cycle`), and only while the cycle is in
the tally phase and once no paper batch is pending (``PAPER_PENDING``
otherwise; it seals paper entry first, as the clock does); publishing is
audited under the caller (``pbctl:...``).
Opening results stays with the clock or ``pbctl phase open --phase results``.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal, InvalidOperation

from chalicelib.cycle import Phase
from chalicelib.errors import Conflict, IllegalTransition, PBError
from chalicelib.pabulib import from_units, read_pb
from chalicelib.paper import seal_for_tally
from chalicelib.publish import RESULT, publish_cycle
from chalicelib.tally import RULES, TIE_BREAKS, tally_election
from pbctl.exitcodes import OK, USAGE
from pbctl.operator import (
    TargetError,
    add_arguments,
    audit_refusal,
    connect,
    fail,
    operator_actor,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tally`` subcommand to ``subparsers``."""
    parser = subparsers.add_parser(
        "tally",
        help="tally .pb files by a greedy rule",
        description=(
            "Tally each .pb file and print what is funded. The rule defaults to "
            "the file's META rule when it is one of ours, else greedy."
        ),
    )
    parser.add_argument("files", nargs="*", metavar="FILE", help="a .pb file")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="tally and publish --cycle of the stage, as the phase clock does",
    )
    parser.add_argument("--cycle", help="the cycle to publish (with --publish)")
    add_arguments(parser)
    parser.add_argument("--rule", choices=RULES, help="funding rule")
    parser.add_argument(
        "--budget", type=_budget, help="budget cap, overriding the file's"
    )
    parser.add_argument(
        "--tie-break", choices=TIE_BREAKS, default="ballot-order", help="tie-break"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per file"
    )
    parser.set_defaults(handler=run, usage=parser.format_usage)


def _budget(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"not a non-negative amount: {raw!r}")
    # Whole cents at most, and no more than 15 digits before the point: beyond
    # that no real budget exists and integer conversion would be absurd.
    if value >= 10**15 or value != value.quantize(Decimal("0.01"), "ROUND_DOWN"):
        raise argparse.ArgumentTypeError(
            f"a budget has at most 15 digits and 2 decimals: {raw!r}"
        )
    return value


def run(args: argparse.Namespace) -> int:
    """Tally every file in ``args.files``; 0 if all succeeded, 2 if a file
    cannot be read or parsed (the others are still tallied).

    With ``--publish``, publish ``--cycle`` instead (2 on a usage error).
    """
    if args.publish or args.cycle:
        if not args.publish or not args.cycle or args.files:
            return _usage(args, "--publish takes --cycle ID and no files")
        return run_publish(args)
    if not args.files:
        return _usage(args, "name at least one .pb file, or --publish --cycle ID")
    lines = [_tally_file(path, args) for path in args.files]
    if args.json:
        for line in lines:
            print(_json_line(line))
    else:
        _print_table(lines)
    return USAGE if any("error" in line for line in lines) else OK


def _usage(args: argparse.Namespace, message: str) -> int:
    sys.stderr.write(args.usage())
    print(f"pbctl tally: error: {message}", file=sys.stderr)
    return USAGE


def _tally_file(path: str, args: argparse.Namespace) -> dict:
    try:
        election = read_pb(path)
        result = tally_election(
            election, rule=args.rule, budget=args.budget, tie_break=args.tie_break
        )
    except PBError as exc:
        return {"file": path, "error": exc.message}
    except OSError as exc:
        return {"file": path, "error": f"cannot read the file: {exc.strerror}"}
    return {
        "file": path,
        "rule": result.rule,
        "budget": _money(result.budget, result.scale),
        "funded": list(result.funded),
        "spent": _money(result.spent, result.scale),
    }


def _money(units: int, scale: int) -> int | Decimal:
    return from_units(units, scale)


def _json_line(line: dict) -> str:
    # json has no exact decimal; write a Decimal's digits as a JSON number.
    parts = []
    for key, value in line.items():
        text = str(value) if isinstance(value, Decimal) else _dumps(value)
        parts.append(f"{_dumps(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _print_table(lines: list[dict]) -> None:
    out = sys.stdout
    for line in lines:
        if "error" in line:
            out.write(f"{line['file']}\n  error: {line['error']}\n")
            continue
        out.write(
            f"{line['file']}\n"
            f"  rule    {line['rule']}\n"
            f"  budget  {line['budget']}\n"
            f"  spent   {line['spent']}\n"
            f"  funded  {len(line['funded'])}: {', '.join(line['funded'])}\n"
        )


def run_publish(args: argparse.Namespace) -> int:
    """Publish ``args.cycle``'s result as the phase clock would."""
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
    except TargetError as exc:
        return fail("tally", exc)
    try:
        cycle = services.store.get_cycle(args.cycle)
        if cycle.phase is not Phase.TALLY:
            raise IllegalTransition(
                f"{cycle.cycle_id} is in {cycle.phase.value}; the tally is "
                "published in the tally phase only",
                field="phase",
                code="NOT_IN_TALLY",
            )
        already = services.results.digest(cycle.cycle_id, RESULT) is not None
        # As the clock does: no tally while a paper batch is still coming in.
        waiting = seal_for_tally(services.store, cycle, now=services.clock())
        if waiting:
            raise Conflict(
                "paper batches are not counted or discarded yet: "
                + ", ".join(b.batch_id for b in waiting),
                field="paper",
                code="PAPER_PENDING",
            )
        result_hash = publish_cycle(services.store, services.results, cycle)
        services.store.append_audit(
            cycle.cycle_id,
            now=services.clock(),
            actor=operator_actor(target),
            action="result_published",
            reason="pbctl tally --publish",
            after={"result_hash": result_hash, "already_published": already},
        )
    except PBError as exc:
        audit_refusal(target, services, "tally --publish", exc, cycle_id=args.cycle)
        return fail("tally", exc)
    except TargetError as exc:
        return fail("tally", exc)
    print(
        json.dumps(
            {
                "cycle_id": cycle.cycle_id,
                "result_hash": result_hash,
                "already_published": already,
            }
        )
    )
    return OK
