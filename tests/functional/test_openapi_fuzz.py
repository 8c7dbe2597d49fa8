"""Schemathesis against the real app: every operation of docs/openapi.json.

The app runs as ``pbctl up`` runs it (pbctl.localrun.LocalRun): moto in
server mode on 127.0.0.1, the stack of infra/template.yaml in it, and
``chalice local`` serving the API on loopback. The current cycle is open
for voting, so ``POST /ballots`` reaches the ballot rules and the store; the
staff routes are called with a real access token of an office admin (an
event volunteer's to vouch and for some paper entries, so that a batch is
typed by two people), signed in against the local Cognito pool, and half of
their cycle ids name a real cycle, kept apart from the current one so no
staff move closes voting: a scheduled one, or for access codes, paper
ballots and vouching one that is also in voting but not current. Before
the run the fixture takes, through the API itself, what the steered
requests need: voter passes from a volunteer's vouching and a batch of
access codes for the current cycle (so ballots are cast with both), a
one-time code challenge, an access-code batch to revoke and paper batches
to enter and discard.

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
import json
import socket
import urllib.request
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

from chalicelib.clock import close_due_phases
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
#: In voting, not current: where access codes, paper and vouching act.
VOTING_CYCLE = "fuzz-voting"
#: The paper batch that two members enter alike (so it counts), and the one
#: whose entry and then itself are discarded.
ENTERED, DISCARDED = "fuzz-entered", "fuzz-discarded"
#: What both members type for ENTERED: a ballot with a voter, and a spoiled sheet.
SHEETS = [
    {
        "selections": ["p1"],
        "attestation": {"boston_resident": True, "age": 30},
        "voter": {"kind": "email", "value": "paper@example.org"},
    },
    {"spoiled": True},
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Target:
    """The running app and what the generated requests are steered towards."""

    base_url: str
    staff_headers: dict[str, str]
    #: An event volunteer's: vouches, and is the second to enter a batch.
    volunteer_headers: dict[str, str]
    #: A full, valid calendar in the future, for new cycles.
    new_calendar: dict
    #: One phase of the staff cycle with its stored window: a valid edit.
    unchanged_phase: dict
    #: Voter passes and access codes for the current cycle.
    passes: list[str]
    codes: list[str]
    #: A one-time code challenge of the current cycle.
    challenge: str
    #: An access-code batch of VOTING_CYCLE, to revoke.
    revocable: str
    #: (method, path template) -> every status answered.
    statuses: dict = dataclasses.field(default_factory=dict)
    #: (voter kind, status) of every steered ballot.
    casts: set = dataclasses.field(default_factory=set)
    #: (method, path template, media type) of every 2xx answer.
    media: set = dataclasses.field(default_factory=set)


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

        # In voting like the current cycle, but not shown on the public site.
        store.create_cycle(
            small_cycle(now, cycle_id=VOTING_CYCLE),
            actor="test",
            now=now,
            make_current=False,
        )
        close_due_phases(store, now=now, on_voting_closed=lambda c: "")

        cognito = boto3.client("cognito-idp")
        headers = {}
        for username, groups in [
            ("fuzz", ["office-admin"]),
            ("fuzz-volunteer", ["event-volunteer"]),
        ]:
            password = generate_password()
            create_staff_user(
                cognito, local.outputs["UserPoolId"], username, groups, password
            )
            token = sign_in(
                cognito, local.outputs["UserPoolClientId"], username, password
            )
            headers[username] = {"Authorization": f"Bearer {token}"}
        admin, volunteer = headers["fuzz"], headers["fuzz-volunteer"]
        later = replay_calendar(now + timedelta(days=90), timedelta(days=1))

        def post(path: str, body: dict, staff: dict | None = None) -> dict:
            return call(local.api_url, path, body, staff)

        current = store.current_cycle().cycle_id
        vouch = f"/staff/cycles/{current}/vouch"
        seen = {"attestation": {"seen_in_person": True}}
        passes = [post(vouch, seen, volunteer)["voter_pass"] for _ in range(2)]
        # This one carries the email that the email-steered ballots use too.
        with_contact = {**seen, "contact": {"kind": "email", "value": "v0@example.org"}}
        passes.append(post(vouch, with_contact, volunteer)["voter_pass"])
        batch = {"site": "Fuzz Branch Library", "count": 3}
        codes = post(f"/staff/cycles/{current}/access-code-batches", batch, admin)
        challenge = post(
            "/verifications", {"method": "email", "contact": "fuzz@example.org"}
        )
        voting = f"/staff/cycles/{VOTING_CYCLE}"
        revocable = post(f"{voting}/access-code-batches", batch, admin)["batch"]
        for batch_id in (ENTERED, DISCARDED):
            post(
                f"{voting}/paper/batches",
                {"batch_id": batch_id, "site": "Fuzz Branch", "cover_sheets": 2},
                admin,
            )
        post(f"{voting}/paper/batches/{DISCARDED}/entries", {"sheets": SHEETS}, admin)

        yield Target(
            base_url=local.api_url,
            staff_headers=admin,
            volunteer_headers=volunteer,
            new_calendar=calendar_to_dict(later),
            unchanged_phase={
                "implementation": calendar_to_dict(staff_calendar)["implementation"]
            },
            passes=passes,
            codes=codes["codes"],
            challenge=challenge["verification_id"],
            revocable=revocable["batch_id"],
        )


def call(base_url: str, path: str, body: dict, headers: dict | None) -> dict:
    """POST ``body`` to the running API; the JSON answer (a 2xx, or it raises)."""
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


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
    seed = zlib.crc32(repr((case.path_parameters, case.body)).encode())
    voter_kind = steer(case, target, seed)

    headers = None
    if case.path.startswith("/staff"):
        headers = target.staff_headers
        # The volunteer vouches, and types every fourth steered batch entry:
        # two members entering the same sheets, as a batch needs to count.
        entering = case.operation.path.endswith("/entries") and seed % 4 == 0
        if case.operation.path.endswith("/vouch") or entering:
            headers = target.volunteer_headers
    answer = case.call_and_validate(
        base_url=target.base_url, headers=headers, checks=CHECKS
    )

    if case.method == case.operation.method.upper():
        key = (case.method, case.operation.path)
        target.statuses.setdefault(key, set()).add(answer.status_code)
        if voter_kind:
            target.casts.add((voter_kind, answer.status_code))
        if answer.status_code < 300:
            types = [
                v[0] for k, v in answer.headers.items() if k.lower() == "content-type"
            ]
            target.media.add((*key, (types or [""])[0].split(";")[0]))


def steer(case, target: Target, seed: int) -> str | None:
    """Turn half the generated requests (by ``seed``, a stable hash of each)
    into ones that get past the first check, so the deeper answers are
    reached and checked too.

    Returns the voter kind of a steered ballot, else ``None``.
    """
    path = case.operation.path
    if path == "/staff/cycles" and isinstance(case.body, dict):
        case.body.pop("make_current", None)  # the public site's cycle stays put
    if seed % 2:
        return None
    params = case.path_parameters or {}
    if "cycle_id" in params:
        on_voting = any(p in path for p in ("/access-code-", "/paper/", "/vouch"))
        params["cycle_id"] = VOTING_CYCLE if on_voting else STAFF_CYCLE
    if "batch_id" in params:
        if "/access-code-batches/" in path:
            params["batch_id"] = target.revocable
        else:
            params["batch_id"] = DISCARDED if "discard" in path else ENTERED
    if "entry_id" in params:
        params["entry_id"] = "e1"
    if "verification_id" in params:
        params["verification_id"] = target.challenge
    body = case.body if isinstance(case.body, dict) else None
    if path == "/staff/cycles/{cycle_id}/access-code-batches":
        if case.method == "POST":
            case.body = {"site": "Fuzz Branch Library", "count": 1 + seed % 3}
        if seed % 4 == 0:
            case.headers = {**(case.headers or {}), "Accept": "application/pdf"}
    if body is None:
        return None
    if path == "/staff/cycles":
        case.body["calendar"] = target.new_calendar
    elif path == "/staff/cycles/{cycle_id}/calendar":
        case.body["calendar"] = target.unchanged_phase
    elif path.endswith("/entries"):
        case.body = {"sheets": SHEETS}
    elif path == "/verifications":
        if seed % 3:
            case.body = {"method": "email", "contact": f"c{seed % 7}@example.org"}
        else:
            case.body = {"method": "sms", "contact": f"617 555 01{seed % 7:02d}"}
    elif path == "/verifications/{verification_id}":
        # Known limit: the right code is only in moto's outbox, so this run
        # reaches the wrong-code answers; test_verification.py the pass.
        case.body = {"code": f"{seed % 10**6:06d}"}
    elif path == "/ballots":
        # A few voters of each kind and valid selections: receipts, replays,
        # second votes, one voter by two methods.
        case.body["selections"] = [["p1"], ["p2"], ["p1", "p3"]][seed % 3]
        kind = ("pass", "access_code", "email")[seed // 2 % 3]
        value = {
            "pass": target.passes[seed % 3],
            "access_code": target.codes[seed % 3],
            "email": f"v{seed % 5}@example.org",
        }[kind]
        case.body["voter"] = {"kind": kind, "value": value}
        if kind != "email" or seed % 4 == 0:
            # The few passes and codes are spent on eligible ballots; some
            # emails are of residents of elsewhere (403).
            resident = kind != "email"
            case.body["attestation"] = {"boston_resident": resident, "age": 30}
            case.body.pop("age_bracket", None)
        return kind
    return None


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
    # A pass and an access code each cast a ballot.
    assert {("pass", 201), ("access_code", 201)} <= target.casts, target.casts
    assert 202 in reached[("POST", "/verifications")], reached
    assert 400 in reached[("POST", "/verifications/{verification_id}")], reached
    assert 201 in reached[("POST", "/staff/cycles/{cycle_id}/vouch")], reached
    codes = "/staff/cycles/{cycle_id}/access-code-batches"
    assert 201 in reached[("POST", codes)], reached
    assert {"application/json", "application/pdf"} <= {
        media for method, path, media in target.media if path == codes
    }, target.media
    assert 200 in reached[("POST", codes + "/{batch_id}/revoke")], reached
    batch = "/staff/cycles/{cycle_id}/paper/batches/{batch_id}"
    assert {200, 201} <= reached[("POST", batch + "/entries")], reached
    assert 200 in reached[("POST", batch + "/count")], reached
    assert 200 in reached[("POST", batch + "/entries/{entry_id}/discard")], reached
    assert 200 in reached[("POST", batch + "/discard")], reached
