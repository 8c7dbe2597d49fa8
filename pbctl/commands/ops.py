"""Operating a stage from the command line: status, phases, export.

- ``pbctl status [--json]``: the stack's status and outputs, every cycle
  (id, name, phase, version, ballots so far, result published or not), and
  the current (or ``--cycle``) cycle's deadlines. Ballots so far is the
  total of voter marks, read from the ``by-cycle`` index (each ballot is
  written in one transaction with its mark); no count per proposal exists
  before the published result, and none is shown.
- ``pbctl phase open|close --cycle ID --phase P --reason TEXT``: the same
  state machine and checks as ``POST /staff/cycles/{id}/phase``, one step at
  a time, audited in the same transaction.
- ``pbctl export --cycle ID [--out DIR]``: download the published
  ``result.json`` and every file it lists (``result.csv``, the anonymised
  ``ballots.pb`` and ``ballots.csv``, ``receipts.txt``...) of a cycle whose
  results are public, ready for ``pbctl verify``; the export is audited
  once the files are written.

``pbctl tally --publish --cycle ID`` lives with ``pbctl tally``. Every
command that changes or exports something, and every refusal of one, is in
the audit log under the caller's AWS principal (``pbctl:<arn>``) or, against
a local moto server, ``pbctl:<os user>`` (:func:`pbctl.operator.operator_actor`).
Exit statuses: :mod:`pbctl.exitcodes`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.cycle import Phase
from chalicelib.errors import NotFound, PBError
from chalicelib.publish import RESULT
from chalicelib.staff import change_phase, dashboard
from pbctl.exitcodes import OK, USAGE
from pbctl.operator import (
    TargetError,
    add_arguments,
    audit_refusal,
    connect,
    fail,
    operator_actor,
)

#: The published files of a cycle that predate ``files`` in result.json.
RESULT_FILES = ("result.json", "result.csv", "ballots.pb")
#: Phases in which results are public (as ``GET /results`` serves them).
PUBLIC_RESULT_PHASES = (Phase.RESULTS, Phase.IMPLEMENTATION)


def register(subparsers) -> None:
    status = subparsers.add_parser(
        "status", help="a stage's stack, every cycle, and the current one's deadlines"
    )
    status.add_argument(
        "--cycle", help="show this cycle's deadlines instead of the current one's"
    )
    status.add_argument(
        "--json", action="store_true", help="print one JSON document (for scripts)"
    )
    add_arguments(status)
    status.set_defaults(handler=run_status)

    phase = subparsers.add_parser("phase", help="open or close a cycle's phase")
    verbs = phase.add_subparsers(dest="phase_command", metavar="ACTION")
    verbs.required = True
    for verb in ("open", "close"):
        parser = verbs.add_parser(verb, help=f"{verb} a phase (one step at a time)")
        parser.add_argument("--cycle", required=True, help="the cycle id")
        parser.add_argument("--phase", required=True, help="the phase to " + verb)
        parser.add_argument(
            "--reason", required=True, help="why, for the audit log (required)"
        )
        add_arguments(parser)
        parser.set_defaults(handler=run_phase, verb=verb)

    export = subparsers.add_parser(
        "export", help="download a cycle's published results and ballots.pb"
    )
    export.add_argument("--cycle", required=True, help="the cycle id")
    export.add_argument(
        "--out", type=Path, help="the folder (default: ./<cycle>-results)"
    )
    add_arguments(export)
    export.set_defaults(handler=run_export)


def published_hash(results, cycle_id: str) -> str | None:
    """``sha256:<hex>`` of the cycle's published ``result.json``, or ``None``."""
    digest = results.digest(cycle_id, RESULT)
    return "sha256:" + digest if digest else None


def cycle_rows(services) -> list[dict]:
    """One summary per stored cycle, by id: what ``pbctl status`` lists."""
    try:
        current = services.store.current_cycle().cycle_id
    except NotFound:
        current = None
    rows = []
    for cycle in services.store.list_cycles():
        result_hash = published_hash(services.results, cycle.cycle_id)
        rows.append(
            {
                "cycle_id": cycle.cycle_id,
                "name": cycle.name,
                "phase": cycle.phase.value,
                "version": cycle.version,
                "current": cycle.cycle_id == current,
                # Marks and ballots are written in one transaction: the
                # count of marks is the count of ballots, without reading one.
                "ballots": len(services.store.turnout(cycle.cycle_id)),
                "result_published": result_hash is not None,
                "result_hash": result_hash,
            }
        )
    return rows


DETAIL_KEYS = (
    "cycle_id",
    "name",
    "phase",
    "version",
    "as_of",
    "phase_ends",
    "next_phase",
    "deadlines",
)


def run_status(args: argparse.Namespace) -> int:
    try:
        target = connect(args.stage, args.endpoint_url)
        stack = target.client("cloudformation").describe_stacks(
            StackName=f"pb-{args.stage}"
        )["Stacks"][0]
        services = target.services()
        now = services.clock()
        cycles = cycle_rows(services)
        chosen = args.cycle or next(
            (row["cycle_id"] for row in cycles if row["current"]), None
        )
        cycle = None
        if chosen is not None:
            board = dashboard(services.store, chosen, now=now)
            cycle = {key: board[key] for key in DETAIL_KEYS}
            cycle["turnout"] = board["turnout"]["total"]
            cycle["result_hash"] = published_hash(services.results, chosen)
    except (PBError, TargetError, ClientError, BotoCoreError) as exc:
        return fail("status", exc)
    report = {
        "stack": {
            "name": stack["StackName"],
            "status": stack["StackStatus"],
            "updated": str(stack.get("LastUpdatedTime") or stack["CreationTime"]),
            "outputs": target.outputs,
        },
        "cycles": cycles,
        "cycle": cycle,
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(status_text(report))
    return OK


def status_text(report: dict) -> str:
    """``pbctl status`` for a person: the stack, a table of cycles, deadlines."""
    stack = report["stack"]
    lines = [f"stack  {stack['name']}  {stack['status']}  (updated {stack['updated']})"]
    restored = {
        key: value
        for key, value in stack["outputs"].items()
        if key.endswith("TableName") and "-restored-" in value
    }
    for key, value in sorted(restored.items()):
        lines.append(f"table  {key.removesuffix('Name')} -> {value} (restored)")
    lines.append("")
    rows = report["cycles"]
    if not rows:
        lines.append("no cycles yet (pbctl cycle create FILE.yaml)")
        return "\n".join(lines)
    header = ("cycle", "phase", "version", "ballots", "result", "name")
    table = [header] + [
        (
            ("* " if row["current"] else "  ") + row["cycle_id"],
            row["phase"],
            str(row["version"]),
            str(row["ballots"]),
            "published" if row["result_published"] else "-",
            row["name"],
        )
        for row in rows
    ]
    table[0] = ("  " + header[0], *header[1:])
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append("(* the current cycle)")
    cycle = report["cycle"]
    if cycle is not None:
        lines.append("")
        ends = cycle["phase_ends"] or "-"
        lines.append(
            f"{cycle['cycle_id']}: {cycle['phase']} until {ends}, "
            f"next {cycle['next_phase'] or '-'}"
        )
        for deadline in cycle["deadlines"]:
            lines.append(
                f"  {deadline['phase']:<16} {deadline['start']} .. "
                f"{deadline['end']}  {deadline['status']}"
            )
    return "\n".join(lines)


def run_phase(args: argparse.Namespace) -> int:
    command = f"phase {args.verb}"
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
    except TargetError as exc:
        return fail(command, exc)
    try:
        after, transition = change_phase(
            services.store,
            args.cycle,
            {"action": args.verb, "phase": args.phase, "reason": args.reason},
            actor=operator_actor(target),
            now=services.clock(),
            published=lambda cid: published_hash(services.results, cid),
        )
    except PBError as exc:
        audit_refusal(target, services, command, exc, cycle_id=args.cycle)
        return fail(command, exc)
    except TargetError as exc:
        return fail(command, exc)
    print(
        json.dumps(
            {
                "cycle_id": after.cycle_id,
                "from": transition.from_phase.value,
                "to": transition.to_phase.value,
                "version": after.version,
                "actor": transition.actor,
            }
        )
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    out = args.out or Path(f"{args.cycle}-results")
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
    except TargetError as exc:
        return fail("export", exc)
    try:
        cycle = services.store.get_cycle(args.cycle)
        if cycle.phase not in PUBLIC_RESULT_PHASES:
            raise NotFound(
                f"{cycle.cycle_id} is in {cycle.phase.value}; its results are "
                "public from the results phase on",
                field="cycle",
                code="RESULTS_NOT_PUBLIC",
            )
        result_hash = published_hash(services.results, cycle.cycle_id)
        result = services.results.get(cycle.cycle_id, RESULT)
        listed = sorted(json.loads(result).get("files", {})) or RESULT_FILES[1:]
        files = {RESULT: result}
        files.update(
            (name, services.results.get(cycle.cycle_id, name)) for name in listed
        )
    except PBError as exc:
        audit_refusal(target, services, "export", exc, cycle_id=args.cycle)
        return fail("export", exc)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (out / name).write_bytes(body)
    except OSError as exc:
        print(f"pbctl export: cannot write {out}: {exc}", file=sys.stderr)
        return USAGE
    # Recorded once the files exist: an export that wrote nothing is no export.
    try:
        services.store.append_audit(
            cycle.cycle_id,
            now=services.clock(),
            actor=operator_actor(target),
            action="results_exported",
            after={"result_hash": result_hash or ""},
        )
    except (PBError, TargetError) as exc:
        return fail("export", exc)
    print(
        json.dumps(
            {
                "cycle_id": cycle.cycle_id,
                "result_hash": result_hash,
                "files": [str(out / n) for n in files],
            }
        )
    )
    return 0
