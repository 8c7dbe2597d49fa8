"""Every staff route against every kind of token: the sign-in matrix.

Tokens are real: moto's Cognito signs them with its private key and the app
checks them against moto's published keys. The bad ones are a token signed
with another key, one past its expiry (signed with moto's key, so only the
expiry is wrong), tokens of another app client and of another pool (both
validly signed), an ID token, and members of the wrong groups.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from chalice import Chalice
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from app import app
from chalicelib.api.staff import DECLARED, refuse_undeclared_staff_routes
from chalicelib.auth import ACTIONS, GROUPS
from chalicelib.errors import Conflict
from tests.functional.conftest import (
    STAFF_PASSWORD,
    bearer,
    sign_in,
    small_cycle,
    table_items,
)

pytestmark = pytest.mark.functional

CYCLE = "matrix"
BATCH = "20270101-ABCDEFGH"
PAPER = f"/staff/cycles/{CYCLE}/paper"
#: (method, path, action, body, status and code for a member who may ask)
ROUTES = [
    ("GET", "/staff/me", "session.read", None, (200, None)),
    ("POST", "/staff/cycles", "cycle.create", {}, (400, "MISSING_FIELD")),
    ("GET", f"/staff/cycles/{CYCLE}", "cycle.read", None, (200, None)),
    (
        "POST",
        f"/staff/cycles/{CYCLE}/phase",
        "phase.change",
        {},
        (400, "MISSING_FIELD"),
    ),
    (
        "PATCH",
        f"/staff/cycles/{CYCLE}/calendar",
        "calendar.edit",
        {},
        (400, "MISSING_FIELD"),
    ),
    ("GET", f"/staff/cycles/{CYCLE}/dashboard", "dashboard.read", None, (200, None)),
    (
        "POST",
        f"/staff/cycles/{CYCLE}/vouch",
        "voter.vouch",
        {},
        (400, "MISSING_FIELD"),
    ),
    ("GET", f"/staff/cycles/{CYCLE}/audit.csv", "audit.export", None, (200, None)),
    ("GET", "/staff/audit.csv", "audit.export", None, (200, None)),
    (
        "POST",
        f"/staff/cycles/{CYCLE}/access-code-batches",
        "access_codes.create",
        {},
        (400, "MISSING_FIELD"),
    ),
    (
        "GET",
        f"/staff/cycles/{CYCLE}/access-code-batches",
        "access_codes.read",
        None,
        (200, None),
    ),
    (
        "POST",
        f"/staff/cycles/{CYCLE}/access-code-batches/{BATCH}/revoke",
        "access_codes.revoke",
        {},
        (400, "MISSING_FIELD"),
    ),
    ("POST", f"{PAPER}/batches", "paper.register", {}, (400, "MISSING_FIELD")),
    ("GET", f"{PAPER}/batches", "paper.read", None, (200, None)),
    ("GET", f"{PAPER}/batches/{BATCH}", "paper.read", None, (404, "NOT_FOUND")),
    (
        "POST",
        f"{PAPER}/batches/{BATCH}/entries",
        "paper.enter",
        {},
        (409, "PHASE_CLOSED"),
    ),
    ("POST", f"{PAPER}/batches/{BATCH}/count", "paper.count", {}, (404, "NOT_FOUND")),
    (
        "POST",
        f"{PAPER}/batches/{BATCH}/discard",
        "paper.discard_batch",
        {},
        (400, "MISSING_FIELD"),
    ),
    (
        "POST",
        f"{PAPER}/batches/{BATCH}/entries/e1/discard",
        "paper.discard_entry",
        {},
        (400, "MISSING_FIELD"),
    ),
    ("GET", f"{PAPER}/reconciliation", "paper.report", None, (200, None)),
    ("GET", f"{PAPER}/reconciliation.csv", "paper.report", None, (200, None)),
]
ROUTE_IDS = [f"{method} {path}" for method, path, *_ in ROUTES]
MEMBER_OF = {
    "office-admin": "admin",
    "office-staff": "staffer",
    "oversight-board": "board",
    "department-reviewer": "reviewer",
    "event-volunteer": "volunteer",
}


@pytest.fixture
def client(staff_services):
    try:
        now = staff_services.clock()
        staff_services.store.create_cycle(
            small_cycle(now, cycle_id=CYCLE), actor="test", now=now, make_current=False
        )
    except Conflict:
        pass  # made by an earlier test of this module
    with Client(app) as test_client:
        yield test_client


def call(client, method, path, body=None, headers=None):
    headers = dict(headers or {})
    if body is not None:
        headers["Content-Type"] = "application/json"
    return client.http.request(
        method, path, headers=headers, body=b"" if body is None else _json(body)
    )


def _json(body) -> bytes:
    return json.dumps(body).encode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def moto_private_key():
    jwk = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.PyJWK(jwk, algorithm="RS256").key


def signed(claims: dict, key, kid: str = "dummy") -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def bad_tokens(staff_stack) -> dict[str, str]:
    """Each way a token can be wrong, for a member of office-admin."""
    admin = claims_of(staff_stack.token("admin"))
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cognito = staff_stack.cognito
    pool = staff_stack.outputs["UserPoolId"]

    # Another app client of the same pool: validly signed, wrong client_id.
    other_client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="not-the-console",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    # Another pool with the same group: validly signed (moto has one key), wrong iss.
    other_pool = cognito.create_user_pool(PoolName="someone-elses")["UserPool"]["Id"]
    other_pool_client = cognito.create_user_pool_client(
        UserPoolId=other_pool,
        ClientName="x",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=other_pool, GroupName="office-admin")
    cognito.admin_create_user(
        UserPoolId=other_pool, Username="admin", MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=other_pool, Username="admin", Password=STAFF_PASSWORD, Permanent=True
    )
    cognito.admin_add_user_to_group(
        UserPoolId=other_pool, Username="admin", GroupName="office-admin"
    )

    now = int(time.time())
    return {
        "forged": signed(admin, stranger_key),
        "expired": signed(
            {**admin, "iat": now - 7200, "exp": now - 3600}, moto_private_key()
        ),
        "other-client": sign_in(cognito, other_client, "admin", STAFF_PASSWORD)[
            "AccessToken"
        ],
        "other-issuer": sign_in(cognito, other_pool_client, "admin", STAFF_PASSWORD)[
            "AccessToken"
        ],
        "id-token": staff_stack.id_tokens["admin"],
    }


def audit_count(staff_services) -> int:
    return len(table_items(staff_services.settings.audit_table))


BAD = {
    "forged": "TOKEN_INVALID",
    "expired": "TOKEN_EXPIRED",
    "other-client": "TOKEN_INVALID",
    "other-issuer": "TOKEN_INVALID",
    "id-token": "ACCESS_TOKEN_REQUIRED",
}


@pytest.mark.parametrize(
    ("method", "path", "action", "body", "allowed"), ROUTES, ids=ROUTE_IDS
)
def test_no_token_is_refused_and_not_audited(
    client, staff_services, method, path, action, body, allowed
):
    before = audit_count(staff_services)

    answer = call(client, method, path, body)

    assert answer.status_code == 401
    assert answer.json_body["code"] == "TOKEN_MISSING"
    assert answer.json_body["field"] == "Authorization"
    assert audit_count(staff_services) == before


@pytest.mark.parametrize("kind", sorted(BAD))
@pytest.mark.parametrize(
    ("method", "path", "action", "body", "allowed"), ROUTES, ids=ROUTE_IDS
)
def test_a_bad_token_is_refused_and_not_audited(
    client, staff_services, bad_tokens, kind, method, path, action, body, allowed
):
    before = audit_count(staff_services)

    answer = call(client, method, path, body, bearer(bad_tokens[kind]))

    assert answer.status_code == 401
    assert answer.json_body["code"] == BAD[kind]
    assert answer.json_body["field"] == "Authorization"
    assert audit_count(staff_services) == before


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize(
    ("method", "path", "action", "body", "allowed"), ROUTES, ids=ROUTE_IDS
)
def test_each_group_gets_exactly_its_actions(
    client, staff_services, staff_stack, group, method, path, action, body, allowed
):
    token = staff_stack.token(MEMBER_OF[group])
    before = audit_count(staff_services)

    answer = call(client, method, path, body, bearer(token))

    if group in ACTIONS[action]:
        status, code = allowed
        assert answer.status_code == status
        if code:
            assert answer.json_body["code"] == code
    else:
        assert answer.status_code == 403
        assert answer.json_body["code"] == "NOT_PERMITTED"
        assert answer.json_body["field"] == "Authorization"
        # The refusal names who asked, in the log of the cycle asked about.
        assert audit_count(staff_services) == before + 1
        partition = CYCLE if f"/{CYCLE}" in path else "@staff"
        refused = staff_services.store.audit_entries(partition)[-1]
        assert refused["action"] == "refused"
        assert refused["actor"] == f"staff:{MEMBER_OF[group]}"
        assert refused["after"]["code"] == "NOT_PERMITTED"
        assert refused["after"]["action"] == action


@pytest.mark.parametrize(
    ("method", "path", "action", "body", "allowed"), ROUTES, ids=ROUTE_IDS
)
def test_a_member_of_no_group_is_refused(
    client, staff_stack, method, path, action, body, allowed
):
    answer = call(client, method, path, body, bearer(staff_stack.token("nogroup")))

    assert answer.status_code == 403
    assert answer.json_body["code"] == "NOT_PERMITTED"


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer not-a-token",
        "Bearer a.b.c",
        "Bearer " + "a" * 9000,
    ],
)
def test_malformed_headers_are_invalid_tokens(client, header):
    answer = call(client, "GET", "/staff/me", headers={"Authorization": header})

    assert answer.status_code == 401
    assert answer.json_body["code"] == "TOKEN_INVALID"


def test_tampered_unsigned_and_unknown_key_tokens_are_invalid(client, staff_stack):
    good = staff_stack.token("volunteer")
    header, _, signature = good.split(".")
    promoted = {**claims_of(good), "cognito:groups": ["office-admin"]}
    payload = jwt.utils.base64url_encode(_json(promoted)).decode()
    unsigned = jwt.encode(promoted, None, algorithm="none")
    other_kid = signed(promoted, moto_private_key(), kid="rotated-away")

    for token in (f"{header}.{payload}.{signature}", unsigned, other_kid):
        answer = call(client, "POST", "/staff/cycles", {}, bearer(token))
        assert answer.status_code == 401
        assert answer.json_body["code"] == "TOKEN_INVALID"


def test_a_bare_token_without_bearer_is_accepted(client, staff_stack):
    answer = call(
        client,
        "GET",
        "/staff/me",
        headers={"Authorization": staff_stack.token("board")},
    )

    assert answer.status_code == 200
    assert answer.json_body == {
        "actor": "staff:board",
        "groups": ["oversight-board"],
        "actions": [
            "audit.export",
            "cycle.read",
            "dashboard.read",
            "paper.read",
            "paper.report",
            "session.read",
        ],
    }


def test_an_email_username_is_audited_by_sub(client, staff_services, staff_stack):
    token = staff_stack.token("jane@example.org")
    sub = claims_of(token)["sub"]

    answer = call(client, "GET", "/staff/audit.csv", headers=bearer(token))

    assert answer.status_code == 403
    refused = staff_services.store.audit_entries("@staff")[-1]
    assert refused["actor"] == f"staff:{sub}"
    assert "@" not in refused["actor"]


def test_every_staff_route_declares_a_known_action():
    staff_routes = {
        (path, method)
        for path, methods in app.routes.items()
        if path.startswith("/staff")
        for method in methods
    }

    assert staff_routes == set(DECLARED)
    placeholders = {"{cycle_id}": CYCLE, "{batch_id}": BATCH, "{entry_id}": "e1"}

    def filled(path: str) -> str:
        for name, value in placeholders.items():
            path = path.replace(name, value)
        return path

    assert {(m, p) for m, p, *_ in ROUTES} >= {
        (method, filled(path)) for path, method in DECLARED
    }
    assert set(DECLARED.values()) <= set(ACTIONS)


def test_a_staff_route_without_an_action_is_closed(staff_services, staff_stack):
    # The blueprint's middleware on an app of its own (registering the staff
    # blueprint itself elsewhere would rebind its current_request).
    other = Chalice(app_name="undeclared")
    other.register_middleware(refuse_undeclared_staff_routes, "http")

    @other.route("/staff/undeclared", methods=["GET"])
    def undeclared():
        return {"secret": True}

    with Client(other) as test_client:
        answer = test_client.http.get(
            "/staff/undeclared", headers=bearer(staff_stack.token("admin"))
        )

    assert answer.status_code == 403
    assert answer.json_body["code"] == "ACTION_NOT_DECLARED"
    assert answer.json_body["field"] == "route"


def test_missing_staff_settings_fail_closed(
    client, staff_services, staff_stack, monkeypatch
):
    monkeypatch.delenv("PB_STAFF_CLIENT_ID")
    monkeypatch.setattr(staff_services, "verifier", None)

    answer = call(
        client, "GET", "/staff/me", headers=bearer(staff_stack.token("admin"))
    )

    assert answer.status_code == 500
    assert answer.json_body["code"] == "INTERNAL_ERROR"
