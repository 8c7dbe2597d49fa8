"""Schemathesis against the real app: every operation of docs/openapi.json.

The app runs as ``pbctl up`` runs it (pbctl.localrun.LocalRun): moto in
server mode on 127.0.0.1, the stack of infra/template.yaml in it, and
``chalice local`` serving the API on loopback. The current cycle is open
for voting, so ``POST /ballots`` reaches the ballot rules and the store; the
staff routes are called with a real access token of an office admin, signed
in against the local Cognito pool, and half of their cycle ids name a real
cycle (kept apart from the current one, so no staff move closes voting).

Each operation gets a bounded number of generated requests, valid and
invalid (hypothesis, derandomized: the same requests on every run), and
each answer is checked: no 5xx, a documented status, the documented content
type and headers, and a body that matches the documented schema.
Schemathesis skips the conformance checks for its probes of the request's
shape (another method, another Content-Type); test_openapi.py checks that
a read with any Content-Type still gets a documented answer.
"""

from __future__ import annotations

import dataclasses
import socket
import zlib
from datetime import timedelta

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.cycle import calendar_to_dict
from chalicelib.importer import replay_calendar
from pbctl.commands.stafftoken import sign_in
from pbctl.localrun import LocalRun
from pbctl.localstack import create_staff_user, generate_password
from tests.conftest import REPO_ROOT
from tests.functional.conftest import open_voting, small_cycle

pytestmark = [pytest.mark.functional, pytest.mark.slow]

schema = schemathesis.openapi.from_path(REPO_ROOT / "docs" / "openapi.json")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
#: The methods chalice local hands to the app (chalice/local.py).
LOCAL_METHODS = {"GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS"}
#: The cycle the staff operations act on; the public site's stays in voting.
STAFF_CYCLE = "fuzz-staff"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Target:
    """The running app and what the generated requests are steered towards."""

    base_url: str
    staff_headers: dict[str, str]
    #: A full, valid calendar in the future, for new cycles.
    new_calendar: dict
    #: One phase of the staff cycle with its stored window: a valid edit.
    unchanged_phase: dict
    #: (method, path template) -> every status answered.
    statuses: dict = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="module")
def target():
    """The app on a local stack whose current cycle is in voting."""
    with LocalRun(aws_port=free_port(), api_port=free_port()) as local:
        store = local.services.store
        now = local.services.clock()
        open_voting(store, small_cycle(now), now)
        # Scheduled, its calendar in the future: every staff verb can act on it.
        staff_calendar = replay_calendar(now + timedelta(days=30), timedelta(days=1))
        store.create_cycle(
            dataclasses.replace(
                small_cycle(now, cycle_id=STAFF_CYCLE), calendar=staff_calendar
            ),
            actor="test",
            now=now,
            make_current=False,
        )

        cognito = boto3.client("cognito-idp")
        password = generate_password()
        create_staff_user(
            cognito, local.outputs["UserPoolId"], "fuzz", ["office-admin"], password
        )
        token = sign_in(cognito, local.outputs["UserPoolClientId"], "fuzz", password)
        later = replay_calendar(now + timedelta(days=90), timedelta(days=1))
        yield Target(
            base_url=local.api_url,
            staff_headers={"Authorization": f"Bearer {token}"},
            new_calendar=calendar_to_dict(later),
            unchanged_phase={
                "implementation": calendar_to_dict(staff_calendar)["implementation"]
            },
        )


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_document(target, case):
    if case.method not in LOCAL_METHODS:
        # chalice local's http.server has no handler for TRACE, QUERY and the
        # like (501, HTML); API Gateway refuses them itself, never the app.
        return
    steer(case, target)

    headers = target.staff_headers if case.path.startswith("/staff") else None
    answer = case.call_and_validate(
        base_url=target.base_url, headers=headers, checks=CHECKS
    )

    if case.method == case.operation.method.upper():
        key = (case.method, case.operation.path)
        target.statuses.setdefault(key, set()).add(answer.status_code)


def steer(case, target: Target) -> None:
    """Turn half the generated requests (by a stable hash) into ones that get
    past the first check, so the deeper answers are reached and checked too.
    """
    seed = zlib.crc32(repr((case.path_parameters, case.body)).encode())
    if "cycle_id" in (case.path_parameters or {}) and seed % 2 == 0:
        case.path_parameters["cycle_id"] = STAFF_CYCLE
    if not isinstance(case.body, dict):
        return
    path = case.operation.path
    if path == "/staff/cycles":
        case.body.pop("make_current", None)  # the public site's cycle stays put
        if seed % 2 == 0:
            case.body["calendar"] = target.new_calendar
    elif path == "/staff/cycles/{cycle_id}/calendar" and seed % 2 == 0:
        case.body["calendar"] = target.unchanged_phase
    elif path == "/ballots" and seed % 2 == 0:
        # A few voters and valid selections: receipts, replays, second votes.
        case.body["selections"] = [["p1"], ["p2"], ["p1", "p3"]][seed % 3]
        case.body["voter"] = {"kind": "email", "value": f"v{seed % 5}@example.org"}


def test_the_run_reached_the_deeper_answers(target):
    """Runs after the operations: the steering did reach past the first checks."""
    reached = target.statuses
    if not reached:
        pytest.skip("runs after test_every_answer_matches_the_document only")
    assert {201, 400, 403, 409} <= reached[("POST", "/ballots")], reached
    assert 201 in reached[("POST", "/staff/cycles")], reached
    assert 200 in reached[("PATCH", "/staff/cycles/{cycle_id}/calendar")], reached
    assert {200, 404} <= reached[("GET", "/staff/cycles/{cycle_id}/dashboard")]
    assert 409 in reached[("GET", "/results")]
