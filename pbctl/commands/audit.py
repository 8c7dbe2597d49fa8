"""``pbctl audit export CYCLE_ID``: the audit log of a cycle as CSV.

The same CSV as ``GET /staff/cycles/{id}/audit.csv`` (formula cells
defused), read straight from the audit table with the caller's credentials;
``@staff`` exports the office-wide entries. The export is itself appended to
the log first, so it shows in the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chalicelib.auditcsv import audit_csv
from chalicelib.errors import PBError
from chalicelib.staff import STAFF_AUDIT
from pbctl.exitcodes import OK, USAGE
from pbctl.operator import (
    TargetError,
    add_arguments,
    audit_refusal,
    connect,
    fail,
    operator_actor,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="read the audit log")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True
    export = actions.add_parser("export", help="write a cycle's audit log as CSV")
    export.add_argument("cycle_id", help=f"the cycle, or {STAFF_AUDIT}")
    export.add_argument("--out", type=Path, help="the file (default: stdout)")
    add_arguments(export)
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    command = "audit export"
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
    except TargetError as exc:
        return fail(command, exc)
    try:
        if args.cycle_id != STAFF_AUDIT:
            services.store.get_cycle(args.cycle_id)
        services.store.append_audit(
            args.cycle_id,
            now=services.clock(),
            actor=operator_actor(target),
            action="audit_exported",
        )
        text = audit_csv(services.store.audit_entries(args.cycle_id))
    except PBError as exc:
        audit_refusal(target, services, command, exc, cycle_id=args.cycle_id)
        return fail(command, exc)
    except TargetError as exc:
        return fail(command, exc)
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            args.out.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            print(
                f"pbctl audit export: cannot write {args.out}: {exc}", file=sys.stderr
            )
            return USAGE
        print(f"wrote {args.out}", file=sys.stderr)
    return OK
