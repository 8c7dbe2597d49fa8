"""``pbctl access-codes generate|list|revoke``: printed codes for a site.

- ``generate --cycle ID --site NAME --count N --pdf OUT.pdf [--site-url URL]``
  makes a batch with the same checks as ``POST /staff/cycles/{id}/access-
  code-batches`` and writes its printable sheet. The sheet is written first
  (to ``OUT.pdf.partial``), the batch stored next, and the file renamed into
  place last: no batch is stored without its sheet, and no sheet exists of a
  batch that was not stored. The codes are nowhere else; print the file and
  delete it.
- ``list --cycle ID``: the cycle's batches with used and unused counts.
- ``revoke --cycle ID --batch BATCH_ID --reason TEXT``: its unused codes stop
  working; audited.

The actor in the audit log is the caller's AWS principal (``pbctl:...``), as
for every pbctl command that changes something.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from chalicelib import codebatches
from chalicelib.codesheet import render_sheet
from chalicelib.errors import PBError
from pbctl.operator import TargetError, add_arguments, connect, operator_actor


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "access-codes", help="printed access codes for libraries and events"
    )
    actions = parser.add_subparsers(dest="access_codes_command", metavar="ACTION")
    actions.required = True

    generate = actions.add_parser("generate", help="make a batch and its PDF sheet")
    generate.add_argument("--cycle", required=True, help="the cycle id")
    generate.add_argument("--site", required=True, help="who hands the codes out")
    generate.add_argument("--count", required=True, type=int, help="1 to 1000")
    generate.add_argument("--pdf", required=True, type=Path, help="the sheet to write")
    generate.add_argument(
        "--site-url",
        help="the site's address on the cards (default: the stack's SiteUrl)",
    )
    add_arguments(generate)
    generate.set_defaults(handler=run_generate)

    listing = actions.add_parser("list", help="a cycle's batches and their use")
    listing.add_argument("--cycle", required=True, help="the cycle id")
    add_arguments(listing)
    listing.set_defaults(handler=run_list)

    revoke = actions.add_parser("revoke", help="stop a batch's unused codes")
    revoke.add_argument("--cycle", required=True, help="the cycle id")
    revoke.add_argument("--batch", required=True, help="the batch id")
    revoke.add_argument("--reason", required=True, help="why, for the audit log")
    add_arguments(revoke)
    revoke.set_defaults(handler=run_revoke)


def _fail(command: str, exc: Exception) -> int:
    if isinstance(exc, PBError):
        where = f" (field {exc.field})" if exc.field else ""
        print(
            f"pbctl access-codes {command}: {exc.code}{where}: {exc.message}",
            file=sys.stderr,
        )
    else:
        print(f"pbctl access-codes {command}: {exc}", file=sys.stderr)
    return 1


def run_generate(args: argparse.Namespace) -> int:
    partial = args.pdf.with_name(args.pdf.name + ".partial")
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
        now = services.clock()
        cycle, batch = codebatches.prepare(
            services.store,
            args.cycle,
            {"site": args.site, "count": args.count},
            now=now,
        )
        site_url = args.site_url or target.outputs.get("SiteUrl", "")
        if not site_url:
            print(
                "pbctl access-codes generate: no --site-url and no SiteUrl output; "
                "the cards will not show the site's address",
                file=sys.stderr,
            )
        sheet = render_sheet(cycle, batch, site_url=site_url)
        try:
            partial.write_bytes(sheet)
        except OSError as exc:
            print(f"pbctl access-codes generate: cannot write: {exc}", file=sys.stderr)
            return 1
        try:
            codebatches.commit(
                services.store,
                batch,
                secret=services.voter_secret(),
                actor=operator_actor(target),
                now=now,
            )
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, args.pdf)
        summary = services.store.get_access_code_batch(cycle.cycle_id, batch.batch_id)
    except (PBError, TargetError) as exc:
        return _fail("generate", exc)
    print(json.dumps({**summary.to_dict(), "pdf": str(args.pdf)}, ensure_ascii=False))
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        target = connect(args.stage, args.endpoint_url)
        batches = codebatches.list_batches(target.services().store, args.cycle)
    except (PBError, TargetError) as exc:
        return _fail("list", exc)
    print(
        json.dumps(
            {"cycle_id": args.cycle, "batches": [b.to_dict() for b in batches]},
            indent=2,
            ensure_ascii=False,
        )
    )
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
        batch = codebatches.revoke(
            services.store,
            args.cycle,
            args.batch,
            {"reason": args.reason},
            actor=operator_actor(target),
            now=services.clock(),
        )
    except (PBError, TargetError) as exc:
        return _fail("revoke", exc)
    print(json.dumps(batch.to_dict(), ensure_ascii=False))
    return 0
