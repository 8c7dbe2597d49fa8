"""``pbctl cycle create FILE.yaml``: set up a cycle from a YAML file.

The file holds what ``POST /staff/cycles`` takes as JSON (see docs/api.md):
``cycle_id``, ``budget_cap``, ``selection_limit``, ``min_voting_age``,
``languages``, ``calendar`` and optionally ``name``, ``proposals``,
``timezone``, the tally rule and ``make_current``. It is checked by the same
code as the API, written in one transaction with its audit entry, and the
actor is the caller's AWS principal (``pbctl:...``). A refused file, one
that is not YAML as well as one the checks refuse, is audited as
``refused`` under ``@staff`` (code and field only, never the file) and
exits 2; a refusal of the state (a cycle id already taken) exits 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import yaml

from chalicelib.errors import InvalidInput, PBError
from chalicelib.staff import create_cycle, staff_view
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
    parser = subparsers.add_parser("cycle", help="set up cycles")
    actions = parser.add_subparsers(dest="cycle_command", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create a cycle from a YAML file")
    create.add_argument("file", type=Path, help="the cycle, as YAML")
    add_arguments(create)
    create.set_defaults(handler=run_create)


def read_cycle_file(path: Path) -> object:
    """The YAML file as JSON-shaped data; YAML timestamps become ISO text.

    Raises ``ValueError`` for a file that is not YAML.
    """
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_PlainLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    return _as_json(data)


class _PlainLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a cycle file never needs them, and nested
    aliases expand exponentially (a "billion laughs" file would hang us)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def _as_json(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dt.datetime):
        # A time without a zone stays without one, and is refused as such.
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def run_create(args: argparse.Namespace) -> int:
    command = "cycle create"
    try:
        body = read_cycle_file(args.file)
        unreadable = None
    except (OSError, ValueError) as exc:
        body, unreadable = None, exc
    try:
        target = connect(args.stage, args.endpoint_url)
        services = target.services()
    except TargetError as exc:
        if unreadable is not None:
            print(f"pbctl {command}: {unreadable}", file=sys.stderr)
            print(f"pbctl {command}: the refusal was not audited", file=sys.stderr)
            return USAGE
        return fail(command, exc)
    if unreadable is not None:
        refusal = InvalidInput("The cycle file cannot be read as YAML.", field="file")
        audit_refusal(target, services, command, refusal)
        print(f"pbctl {command}: {unreadable}", file=sys.stderr)
        return USAGE
    try:
        cycle = create_cycle(
            services.store,
            body,
            actor=operator_actor(target),
            now=services.clock(),
        )
    except PBError as exc:
        audit_refusal(target, services, command, exc)
        return fail(command, exc)
    except TargetError as exc:
        return fail(command, exc)
    print(json.dumps(staff_view(cycle), ensure_ascii=False))
    return OK
