"""moto layers on top of the fake credentials of tests/conftest.py.

The fixtures up to ``voting_cycle`` are function-scoped: each test gets a
fresh ``mock_aws()`` and a stack built from the production template, so no
state leaks between tests. ``staff_stack`` is the exception: one stack per
module with the staff user pool's members signed in, for the staff tests.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.auth import TokenVerifier
from chalicelib.clock import close_due_phases
from chalicelib.cycle import Cycle, Proposal
from chalicelib.importer import replay_calendar
from chalicelib.services import Services, get_services, reset_services
from chalicelib.settings import Settings, StaffAuthSettings
from chalicelib.storage.jwks import StaticJwks
from pbctl import motoshim
from pbctl.localstack import create_stack, create_staff_user, moto_jwks, sender_email

STAGE = "dev"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def dead_endpoint() -> str:
    """A loopback URL where nothing listens (a port just bound and freed):
    every call to it is refused at once, as when a stage cannot be reached."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[None]:
    """moto's in-process mock of every AWS service."""
    with mock_aws():
        yield


@pytest.fixture
def stack(aws: None) -> dict[str, str]:
    """The ``dev`` stack of infra/template.yaml in moto; returns its outputs."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    return create_stack(cloudformation, stage=STAGE)


@pytest.fixture
def settings(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from the stack outputs, also exported as the PB_* variables."""
    resolved = Settings.from_stack_outputs(stack, stage=STAGE)
    for name, value in resolved.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PB_SENDER_EMAIL", sender_email(STAGE))
    return resolved


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """The app's collaborators bound to the moto stack (fresh per test)."""
    reset_services()
    built = get_services()
    yield built
    reset_services()


#: Every method, with ``attested``: the tests that are not about verification
#: cast with a bare phone or email.
ALL_METHODS = ("sms", "email", "access_code", "in_person", "attested")


def small_cycle(now: datetime, *, cycle_id: str = "boston-test") -> Cycle:
    """A three-proposal cycle whose voting window holds ``now``; it offers
    every way of proving who you are, ``attested`` included."""
    proposals = (
        Proposal("p1", 600_000, {"en": "Shade trees on Blue Hill Avenue"}),
        Proposal("p2", 500_000, {"en": "Library laptops"}),
        Proposal("p3", 900_000, {"en": "Splash pad in Mattapan"}),
    )
    return Cycle(
        cycle_id=cycle_id,
        name="Test cycle",
        budget_cap=1_000_000,
        selection_limit=2,
        min_voting_age=11,
        calendar=replay_calendar(now, timedelta(hours=1)),
        proposals=proposals,
        verification=ALL_METHODS,
    )


def open_voting(store, cycle: Cycle, now: datetime) -> Cycle:
    """Store ``cycle`` and walk it into voting through the state machine."""
    store.create_cycle(cycle, actor="test", now=now)
    close_due_phases(store, now=now, on_voting_closed=lambda c: "")
    return store.get_cycle(cycle.cycle_id)


@pytest.fixture
def voting_cycle(services: Services) -> Cycle:
    """A small cycle, stored and open for voting now."""
    now = services.clock()
    return open_voting(services.store, small_cycle(now), now)


def table_items(table_name: str) -> list[dict]:
    """Every item of a moto table, for asserting what was (not) written."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    return client.scan(TableName=table_name, ConsistentRead=True)["Items"]


# -- staff: the user pool, signed-in members and their tokens ----------------

#: username -> groups; every group of the pool has a member, one has none,
#: and one signs in with an email address as username.
STAFF_USERS = {
    "admin": ["office-admin"],
    "staffer": ["office-staff"],
    "board": ["oversight-board"],
    "reviewer": ["department-reviewer"],
    "volunteer": ["event-volunteer"],
    "nogroup": [],
    "jane@example.org": ["office-staff"],
}
STAFF_PASSWORD = "Correct-horse-battery-9"


@dataclass
class StaffStack:
    """A module's moto stack with the staff pool, users and their tokens."""

    outputs: dict[str, str]
    cognito: Any
    access: dict[str, str]
    id_tokens: dict[str, str]

    def token(self, username: str) -> str:
        return self.access[username]


def sign_in(cognito, client_id: str, username: str, password: str) -> dict:
    """USER_PASSWORD_AUTH against moto; returns the AuthenticationResult."""
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    return answer["AuthenticationResult"]


@pytest.fixture(scope="module")
def staff_stack() -> Iterator[StaffStack]:
    """One moto stack per module, with a member in every staff group.

    Module-scoped so the matrix of routes and tokens stays fast; tests share
    it, so each uses its own cycle ids and compares before and after. The
    local server's transaction shim is installed (as any test that starts a
    moto server does anyway): moto alone deep-copies every table a
    transaction names, which grows slow as a shared audit table fills.
    """
    motoshim.install()
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
            patch.delenv(name)
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        with mock_aws():
            cloudformation = boto3.client("cloudformation", region_name="us-east-1")
            outputs = create_stack(cloudformation, stage=STAGE)
            cognito = boto3.client("cognito-idp", region_name="us-east-1")
            pool, client = outputs["UserPoolId"], outputs["UserPoolClientId"]
            access, id_tokens = {}, {}
            for username, groups in STAFF_USERS.items():
                create_staff_user(cognito, pool, username, groups, STAFF_PASSWORD)
                tokens = sign_in(cognito, client, username, STAFF_PASSWORD)
                access[username] = tokens["AccessToken"]
                id_tokens[username] = tokens["IdToken"]
            yield StaffStack(outputs, cognito, access, id_tokens)


@pytest.fixture(scope="module")
def staff_services(staff_stack: StaffStack) -> Iterator[Services]:
    """The app's collaborators on the module's stack, checking staff tokens
    against moto's keys (read in-process: urllib is not mocked). Shared by
    the module like the stack: building a store per test costs more than the
    tests themselves (PynamoDB loads the DynamoDB model for each one)."""
    resolved = Settings.from_stack_outputs(staff_stack.outputs, stage=STAGE)
    auth = StaffAuthSettings.from_stack_outputs(staff_stack.outputs)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**resolved.to_env(), **auth.to_env()}.items():
            patch.setenv(name, value)
        reset_services()
        built = get_services()
        built.verifier = staff_verifier(auth)
        yield built
        reset_services()


def staff_verifier(auth: StaffAuthSettings) -> TokenVerifier:
    return TokenVerifier(
        issuer=auth.issuer, client_id=auth.client_id, keys=StaticJwks(moto_jwks())
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_call(client, method: str, path: str, token: str | None, body=None):
    """One staff request through the Chalice test client (JSON body if given)."""
    headers = bearer(token) if token else {}
    payload = b""
    if body is not None:
        headers["Content-Type"] = "application/json"
        payload = json.dumps(body).encode()
    return client.http.request(method, path, headers=headers, body=payload)


def ledger(services: Services) -> tuple[list[str], int]:
    """Every cycle item (as JSON) and the number of audit entries: what a
    refusal must leave as it was, but for its one ``refused`` entry."""
    cycles = sorted(
        json.dumps(item, sort_keys=True)
        for item in table_items(services.settings.cycles_table)
    )
    return cycles, len(table_items(services.settings.audit_table))


def assert_refused(
    services: Services,
    before: tuple[list[str], int],
    answer,
    status: int,
    code: str,
    field: str | None,
    *,
    partition: str,
) -> dict:
    """Exact status, code and field; no cycle changed; one ``refused`` entry.

    Returns that audit entry.
    """
    assert answer.status_code == status, answer.json_body
    assert answer.json_body["code"] == code
    assert answer.json_body.get("field") == field
    cycles, audit = ledger(services)
    assert cycles == before[0]
    assert audit == before[1] + 1
    entry = services.store.audit_entries(partition)[-1]
    assert entry["action"] == "refused"
    assert (entry["after"]["code"], entry["after"]["field"]) == (code, field)
    return entry
