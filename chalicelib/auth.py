"""Who a staff request comes from, and whether their groups allow its action.

Every ``/staff`` route declares one action from :data:`ACTIONS`; the map
says which Cognito groups may take it. A request must carry an *access*
token of the staff user pool (``Authorization: Bearer <token>``), which
:class:`TokenVerifier` checks in full, because ``chalice local`` and the
Chalice test client run no authorizer and API Gateway's only checks the
pool: the RS256 signature against the pool's published keys, the issuer,
the app client (``client_id``), the expiry and ``token_use == "access"``.
ID tokens are refused: they are meant for the client, they name the client
in ``aud`` rather than ``client_id``, and API Gateway, configured with a
scope, accepts access tokens only, so the two checks agree.

Pure: no AWS and no Chalice. The keys come from a callable ``kid -> JWK``
(:mod:`chalicelib.storage.jwks` for the real pool, a fixed set in tests).

Errors: :class:`~chalicelib.errors.Unauthenticated` (401) with the codes
``TOKEN_MISSING``, ``TOKEN_INVALID``, ``TOKEN_EXPIRED`` and
``ACCESS_TOKEN_REQUIRED``; :class:`~chalicelib.errors.Forbidden` (403) with
``NOT_PERMITTED`` (no group allows the action) and ``ACTION_NOT_DECLARED``
(a route that declared no action, refused whoever asks).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping

import jwt

from chalicelib.errors import Forbidden, Unauthenticated

OFFICE_ADMIN = "office-admin"
OFFICE_STAFF = "office-staff"
OVERSIGHT_BOARD = "oversight-board"
DEPARTMENT_REVIEWER = "department-reviewer"
EVENT_VOLUNTEER = "event-volunteer"
#: The groups of the staff user pool (infra/template.yaml), by precedence.
GROUPS = (
    OFFICE_ADMIN,
    OFFICE_STAFF,
    OVERSIGHT_BOARD,
    DEPARTMENT_REVIEWER,
    EVENT_VOLUNTEER,
)

#: Action -> the groups that may take it. A route's action must be here.
ACTIONS: Mapping[str, frozenset[str]] = {
    "session.read": frozenset(GROUPS),
    "cycle.create": frozenset({OFFICE_ADMIN}),
    "cycle.read": frozenset(
        {OFFICE_ADMIN, OFFICE_STAFF, OVERSIGHT_BOARD, DEPARTMENT_REVIEWER}
    ),
    "phase.change": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "calendar.edit": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "audit.export": frozenset({OFFICE_ADMIN, OVERSIGHT_BOARD}),
    "dashboard.read": frozenset(GROUPS),
    "access_codes.create": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "access_codes.read": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "access_codes.revoke": frozenset({OFFICE_ADMIN}),
    # Paper ballots: staff register a batch, volunteers and staff type it in,
    # anyone of them may finish a count that stopped half-way; discarding an
    # entry is an office admin's call, a whole batch the office's.
    "paper.register": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "paper.read": frozenset(
        {OFFICE_ADMIN, OFFICE_STAFF, OVERSIGHT_BOARD, EVENT_VOLUNTEER}
    ),
    "paper.enter": frozenset({OFFICE_ADMIN, OFFICE_STAFF, EVENT_VOLUNTEER}),
    "paper.count": frozenset({OFFICE_ADMIN, OFFICE_STAFF, EVENT_VOLUNTEER}),
    "paper.discard_entry": frozenset({OFFICE_ADMIN}),
    "paper.discard_batch": frozenset({OFFICE_ADMIN, OFFICE_STAFF}),
    "paper.report": frozenset({OFFICE_ADMIN, OFFICE_STAFF, OVERSIGHT_BOARD}),
    # An event volunteer (or office staff at City Hall) vouches in person.
    "voter.vouch": frozenset({EVENT_VOLUNTEER, OFFICE_STAFF}),
}

HEADER = "Authorization"
# The scheme name is case-insensitive (RFC 9110).
_BEARER = re.compile(
    r"^(?:Bearer\s+)?([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$", re.IGNORECASE
)
_MAX_TOKEN = 8192


@dataclasses.dataclass(frozen=True)
class StaffIdentity:
    """A verified staff member: what the audit log and the group check use."""

    username: str
    sub: str
    groups: frozenset[str]

    @property
    def actor(self) -> str:
        """``staff:<username>``, or ``staff:<sub>`` when the username is an email.

        The audit log names people by account, never by email address.
        """
        name = self.sub if "@" in self.username or not self.username else self.username
        return f"staff:{name}"


def bearer_token(headers: Mapping[str, str] | None) -> str:
    """The token of an ``Authorization: Bearer`` header; raise ``Unauthenticated``.

    A bare token (as API Gateway's own authorizer also takes) is accepted.
    """
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    raw = lowered.get(HEADER.lower(), "").strip()
    if not raw:
        raise Unauthenticated(
            "Sign in: send a staff access token as 'Authorization: Bearer <token>'.",
            field=HEADER,
            code="TOKEN_MISSING",
        )
    match = _BEARER.match(raw) if len(raw) <= _MAX_TOKEN else None
    if match is None:
        raise _invalid()
    return match.group(1)


class TokenVerifier:
    """Checks staff access tokens of one user pool and app client.

    ``keys(kid)`` returns the pool's JWK for a key id, or ``None``; ``clock``
    gives the time in epoch seconds for the expiry check.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        keys: Callable[[str], Mapping | None],
        clock: Callable[[], float] = time.time,
        leeway: int = 0,
    ):
        self.issuer = issuer
        self.client_id = client_id
        self._keys = keys
        self._clock = clock
        self._leeway = leeway

    def verify(self, token: str) -> StaffIdentity:
        """Return the identity in ``token``; raise ``Unauthenticated`` if it fails.

        The signature is checked first: nothing in an unverified token is
        trusted, so a forged token is ``TOKEN_INVALID`` whatever it claims.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid() from exc
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise _invalid()
        jwk = self._keys(kid)
        if jwk is None:
            raise _invalid()
        try:
            key = jwt.PyJWK(dict(jwk), algorithm="RS256").key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={
                    "require": ["iss", "sub", "exp", "token_use"],
                    # Expiry is checked below against the injected clock;
                    # access tokens carry client_id, not aud.
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise _invalid() from exc

        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            if name in claims and (
                not isinstance(claims[name], int) or isinstance(claims[name], bool)
            ):
                raise _invalid()
        # Issued or valid only in the future: not a token Cognito gave out.
        if claims.get("iat", 0) > now + self._leeway or (
            claims.get("nbf", 0) > now + self._leeway
        ):
            raise _invalid()
        if claims["exp"] + self._leeway <= now:
            raise Unauthenticated(
                "Your sign-in has expired; sign in again.",
                field=HEADER,
                code="TOKEN_EXPIRED",
            )
        if claims["token_use"] != "access":
            raise Unauthenticated(
                "Send the access token of your sign-in, not the ID token.",
                field=HEADER,
                code="ACCESS_TOKEN_REQUIRED",
            )
        if claims.get("client_id") != self.client_id:
            raise _invalid()
        groups = claims.get("cognito:groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise _invalid()
        username = claims.get("username")
        return StaffIdentity(
            username=username if isinstance(username, str) else "",
            sub=str(claims["sub"]),
            groups=frozenset(groups),
        )


def authorize(identity: StaffIdentity, action: str | None) -> None:
    """Raise ``Forbidden`` unless one of ``identity``'s groups allows ``action``.

    An action missing from :data:`ACTIONS` (or none at all) is refused for
    everyone: a route is closed until it says what it does.
    """
    allowed = ACTIONS.get(action or "")
    if allowed is None:
        raise Forbidden(
            "This staff route declares no action, so it is closed.",
            field="route",
            code="ACTION_NOT_DECLARED",
        )
    if not identity.groups & allowed:
        raise Forbidden(
            "Your staff groups do not allow this. Ask an office admin.",
            field=HEADER,
            code="NOT_PERMITTED",
        )


def _invalid() -> Unauthenticated:
    return Unauthenticated(
        "The sign-in token is not valid for this service; sign in again.",
        field=HEADER,
        code="TOKEN_INVALID",
    )
