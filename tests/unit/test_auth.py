"""Staff tokens and the group map, with keys made here: no IO."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.auth import (
    ACTIONS,
    GROUPS,
    StaffIdentity,
    TokenVerifier,
    authorize,
    bearer_token,
)
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.storage.jwks import StaticJwks

pytestmark = pytest.mark.unit

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
CLIENT = "console"
NOW = 2_000_000_000
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwks(key, kid="k1") -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "alg": "RS256", "use": "sig"}]}


VERIFIER = TokenVerifier(
    issuer=ISSUER,
    client_id=CLIENT,
    keys=StaticJwks(public_jwks(KEY)),
    clock=lambda: NOW,
)


def token(key=KEY, kid="k1", **changes) -> str:
    claims = {
        "iss": ISSUER,
        "sub": "0f1e2d3c",
        "client_id": CLIENT,
        "token_use": "access",
        "username": "maria",
        "cognito:groups": ["office-staff"],
        "iat": NOW - 60,
        "exp": NOW + 3600,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def refused(raw: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        VERIFIER.verify(raw)
    assert caught.value.field == "Authorization"
    assert caught.value.status == 401
    return caught.value.code


def test_a_valid_access_token_names_the_member_and_groups():
    identity = VERIFIER.verify(token())

    assert identity == StaffIdentity("maria", "0f1e2d3c", frozenset({"office-staff"}))
    assert identity.actor == "staff:maria"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"exp": NOW}, "TOKEN_EXPIRED"),
        ({"exp": NOW - 1}, "TOKEN_EXPIRED"),
        ({"exp": None}, "TOKEN_INVALID"),
        ({"iss": ISSUER + "x"}, "TOKEN_INVALID"),
        ({"client_id": "another"}, "TOKEN_INVALID"),
        (
            {"client_id": None, "aud": CLIENT, "token_use": "id"},
            "ACCESS_TOKEN_REQUIRED",
        ),
        ({"token_use": None}, "TOKEN_INVALID"),
        ({"cognito:groups": "office-admin"}, "TOKEN_INVALID"),
        ({"exp": str(NOW + 3600)}, "TOKEN_INVALID"),
        ({"iat": NOW + 3600}, "TOKEN_INVALID"),
        ({"nbf": NOW + 3600}, "TOKEN_INVALID"),
    ],
)
def test_claims_that_do_not_hold_are_refused(changes, code):
    assert refused(token(**changes)) == code


def test_signatures_that_do_not_hold_are_refused():
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header, _, signature = token().split(".")
    promoted = token(**{"cognito:groups": ["office-admin"]}).split(".")[1]

    assert refused(token(key=stranger)) == "TOKEN_INVALID"
    assert refused(token(kid="unknown")) == "TOKEN_INVALID"
    assert refused(f"{header}.{promoted}.{signature}") == "TOKEN_INVALID"
    assert refused(jwt.encode({"sub": "x"}, None, algorithm="none")) == "TOKEN_INVALID"
    hs = jwt.encode({"sub": "x"}, "secret-key-of-32-bytes-or-more!!", algorithm="HS256")
    assert refused(hs) == "TOKEN_INVALID"
    assert refused("garbage") == "TOKEN_INVALID"


def test_an_email_username_is_never_the_actor():
    identity = VERIFIER.verify(token(username="maria@boston.gov"))

    assert identity.actor == "staff:0f1e2d3c"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "TOKEN_MISSING"),
        ({"Authorization": "  "}, "TOKEN_MISSING"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "TOKEN_INVALID"),
        ({"Authorization": "Bearer a b"}, "TOKEN_INVALID"),
    ],
)
def test_the_authorization_header(headers, code):
    with pytest.raises(Unauthenticated) as caught:
        bearer_token(headers)

    assert caught.value.code == code


def test_bearer_and_bare_tokens_are_read():
    raw = token()

    assert bearer_token({"authorization": f"Bearer {raw}"}) == raw
    assert bearer_token({"Authorization": f"bearer {raw}"}) == raw
    assert bearer_token({"Authorization": raw}) == raw


def test_the_group_map_covers_every_group_and_denies_by_default():
    assert set().union(*ACTIONS.values()) == set(GROUPS)
    assert ACTIONS["cycle.create"] == {"office-admin"}
    assert ACTIONS["phase.change"] == {"office-admin", "office-staff"}
    assert "event-volunteer" not in ACTIONS["audit.export"]
    member = StaffIdentity("v", "s", frozenset({"event-volunteer"}))

    authorize(member, "dashboard.read")
    with pytest.raises(Forbidden) as caught:
        authorize(member, "phase.change")
    assert (caught.value.code, caught.value.field) == ("NOT_PERMITTED", "Authorization")
    for action in (None, "", "cycle.delete"):
        with pytest.raises(Forbidden) as caught:
            authorize(StaffIdentity("a", "s", frozenset(GROUPS)), action)
        assert caught.value.code == "ACTION_NOT_DECLARED"
