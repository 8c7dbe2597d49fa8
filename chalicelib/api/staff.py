"""The staff API: cycles, phases, the calendar, the audit log, the dashboard,
the access-code batches, paper ballots and vouching for residents in person.

Every route is declared with :func:`staff_route`, which names its action
(see :data:`chalicelib.auth.ACTIONS` for the groups of each). A request
then needs a verified staff access token whose groups allow that action;
any ``/staff`` route that was registered some other way is refused by the
blueprint's middleware, whoever asks (deny by default).

A refused request from a signed-in staff member is written to the audit log
as ``refused`` with its code and field (never its body), under the cycle it
named if that cycle exists, else under ``@staff``. Requests without a valid
token are not audited: nobody can be named, and an anonymous caller must
not be able to fill the log; they are counted as a metric instead.

In deployed stages API Gateway's Cognito authorizer (the pool of
``PB_STAFF_USER_POOL_ARN``) also stands in front of every staff route;
``chalice local`` and the test client have none, so the app's own check is
the one that always runs.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import re

from chalice import Blueprint, CognitoUserPoolAuthorizer, Response

from chalicelib import codebatches
from chalicelib.accesscodes import display
from chalicelib.api.responses import error, internal_error, json_body, ok, site_cors
from chalicelib.auditcsv import audit_csv
from chalicelib.auth import ACTIONS, StaffIdentity, authorize, bearer_token
from chalicelib.codesheet import render_sheet
from chalicelib.cycle import format_time
from chalicelib.errors import Forbidden, NotFound, PBError
from chalicelib.observability import count
from chalicelib.paper import (
    count_batch,
    discard_batch,
    discard_entry,
    list_batches,
    paper_status,
    read_batch,
    reconciliation,
    reconciliation_csv,
    register_batch,
    submit_entry,
)
from chalicelib.publish import RESULT
from chalicelib.services import Services, get_services
from chalicelib.settings import PLACEHOLDER_PREFIX
from chalicelib.staff import (
    STAFF_AUDIT,
    change_phase,
    create_cycle,
    dashboard,
    edit_calendar,
    staff_view,
)
from chalicelib.verification import vouch

logger = logging.getLogger(__name__)

staff = Blueprint(__name__)

#: The scope every Cognito access token from a user sign-in carries; with a
#: scope set, API Gateway's authorizer takes access tokens and refuses ID tokens.
SIGN_IN_SCOPE = "aws.cognito.signin.user.admin"
#: (resource path, method) -> action, filled by staff_route.
DECLARED: dict[tuple[str, str], str] = {}
_CYCLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: An entry of a full batch (250 sheets) is larger than the usual 16 KiB.
PAPER_ENTRY_MAX_BYTES = 256 * 1024
_BATCHES = "/staff/cycles/{cycle_id}/paper/batches"
_BATCH = _BATCHES + "/{batch_id}"


def _authorizer() -> CognitoUserPoolAuthorizer | None:
    """API Gateway's Cognito authorizer for deployed stages, else ``None``.

    Chalice loads the app with the stage's environment, so the pool ARN
    comes from ``.chalice/config.json``. A stage still holding the
    placeholder gets an authorizer with an ARN that API Gateway rejects, so
    such a deploy fails instead of going out unguarded.
    """
    arn = os.environ.get("PB_STAFF_USER_POOL_ARN", "")
    if not arn:
        return None
    return CognitoUserPoolAuthorizer(
        "StaffUserPool", provider_arns=[arn], scopes=[SIGN_IN_SCOPE]
    )


def _cors():
    return site_cors(
        allow_headers=["Content-Type", "Authorization"],
        expose_headers=["X-Request-Id", "Retry-After", "Content-Disposition"],
    )


AUTHORIZER = _authorizer()
CORS = _cors()


@dataclasses.dataclass
class StaffRequest:
    """What a staff view gets: who asks, and the Chalice request."""

    identity: StaffIdentity
    request: object
    services: Services


def staff_route(path: str, *, action: str, methods: list[str]):
    """Register a staff route that needs ``action`` (a key of ``ACTIONS``)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown staff action {action!r}")

    def decorator(view):
        for method in methods:
            DECLARED[(path, method)] = action
        guarded = _guard(view, action, path)
        # Any Content-Type: json_body answers a wrong one with a 400 itself,
        # and a read has no body (Chalice would answer 415 in its own shape).
        options: dict = {"methods": methods, "cors": CORS, "content_types": ["*/*"]}
        if AUTHORIZER is not None:
            options["authorizer"] = AUTHORIZER
        staff.route(path, **options)(guarded)
        return guarded

    return decorator


def _guard(view, action: str, path: str):
    @functools.wraps(view)
    def wrapper(**params):
        services = get_services()
        request = staff.current_request
        identity = None
        try:
            token = bearer_token(request.headers)
            identity = services.staff_verifier().verify(token)
            authorize(identity, action)
            return view(StaffRequest(identity, request, services), **params)
        except PBError as exc:
            if exc.status >= 500:
                logger.warning("staff request failed", extra={"code": exc.code})
            elif identity is None:
                count("StaffSignInRefused", code=exc.code)
            else:
                _audit_refusal(services, identity, action, path, params, exc)
            return error(exc)
        except Exception:
            logger.exception("unhandled error")
            return internal_error()

    return wrapper


def _audit_refusal(services, identity, action, path, params, exc: PBError) -> None:
    """Append ``refused`` (code and field only) to the log of the cycle named."""
    cycle_id = params.get("cycle_id")
    partition = STAFF_AUDIT
    if cycle_id and _CYCLE_ID.fullmatch(cycle_id):
        try:
            services.store.get_cycle(cycle_id)
            partition = cycle_id
        except NotFound:
            pass
    after = {
        "action": action,
        "route": f"{staff.current_request.method} {path}",
        "code": exc.code,
        "field": exc.field,
    }
    if cycle_id and partition == STAFF_AUDIT:
        after["cycle_id"] = cycle_id[:64]
    try:
        services.store.append_audit(
            partition,
            now=services.clock(),
            actor=identity.actor,
            action="refused",
            after=after,
        )
    except Exception:  # the refusal stands; the missing entry must be seen
        logger.exception("refusal not audited", extra={"code": exc.code})
    count("StaffRequestRefused", code=exc.code)


@staff.middleware("http")
def refuse_undeclared_staff_routes(event, get_response):
    """Deny by default: a ``/staff`` route without a declared action is closed."""
    path = (event.context or {}).get("resourcePath", "")
    if (path == "/staff" or path.startswith("/staff/")) and event.method != "OPTIONS":
        if (path, event.method) not in DECLARED:
            return error(
                Forbidden(
                    "This staff route declares no action, so it is closed.",
                    field="route",
                    code="ACTION_NOT_DECLARED",
                )
            )
    return get_response(event)


# -- routes -----------------------------------------------------------------


@staff_route("/staff/me", action="session.read", methods=["GET"])
def read_session(staff_request: StaffRequest):
    identity = staff_request.identity
    return ok(
        {
            "actor": identity.actor,
            "groups": sorted(identity.groups),
            "actions": sorted(a for a, g in ACTIONS.items() if g & identity.groups),
        }
    )


@staff_route("/staff/cycles", action="cycle.create", methods=["POST"])
def create(staff_request: StaffRequest):
    services = staff_request.services
    cycle = create_cycle(
        services.store,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    logger.info("cycle created", extra={"cycle": cycle.cycle_id})
    return ok(staff_view(cycle), status=201)


@staff_route("/staff/cycles/{cycle_id}", action="cycle.read", methods=["GET"])
def read_cycle(staff_request: StaffRequest, cycle_id: str):
    return ok(staff_view(staff_request.services.store.get_cycle(cycle_id)))


@staff_route("/staff/cycles/{cycle_id}/phase", action="phase.change", methods=["POST"])
def move_phase(staff_request: StaffRequest, cycle_id: str):
    services = staff_request.services
    after, transition = change_phase(
        services.store,
        cycle_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
        published=lambda cid: _published(services, cid),
    )
    count("PhaseChanged", phase=transition.to_phase.value)
    logger.info(
        "phase changed by staff",
        extra={
            "cycle": cycle_id,
            "from": transition.from_phase.value,
            "to": transition.to_phase.value,
        },
    )
    return ok(
        {
            "cycle": staff_view(after),
            "transition": {
                "from": transition.from_phase.value,
                "to": transition.to_phase.value,
                "at": format_time(transition.at),
                "actor": transition.actor,
                "reason": transition.reason,
            },
        }
    )


def _published(services: Services, cycle_id: str) -> str | None:
    digest = services.results.digest(cycle_id, RESULT)
    return "sha256:" + digest if digest else None


@staff_route(
    "/staff/cycles/{cycle_id}/calendar", action="calendar.edit", methods=["PATCH"]
)
def change_calendar(staff_request: StaffRequest, cycle_id: str):
    services = staff_request.services
    cycle = edit_calendar(
        services.store,
        cycle_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    return ok(staff_view(cycle))


@staff_route(
    "/staff/cycles/{cycle_id}/dashboard", action="dashboard.read", methods=["GET"]
)
def read_dashboard(staff_request: StaffRequest, cycle_id: str):
    services = staff_request.services
    board = dashboard(services.store, cycle_id, now=services.clock())
    board["paper"] = paper_status(services.store, cycle_id)
    return ok(board, headers={"Cache-Control": "no-store"})


@staff_route("/staff/cycles/{cycle_id}/vouch", action="voter.vouch", methods=["POST"])
def vouch_in_person(staff_request: StaffRequest, cycle_id: str):
    services = staff_request.services
    answer = vouch(
        services.store,
        services.voter_secret(),
        cycle_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    count("VoterVouched")
    return ok(answer, status=201, headers={"Cache-Control": "no-store"})


@staff_route(
    "/staff/cycles/{cycle_id}/audit.csv", action="audit.export", methods=["GET"]
)
def export_cycle_audit(staff_request: StaffRequest, cycle_id: str):
    staff_request.services.store.get_cycle(cycle_id)  # 404 for an unknown cycle
    return _export(staff_request, cycle_id)


@staff_route("/staff/audit.csv", action="audit.export", methods=["GET"])
def export_staff_audit(staff_request: StaffRequest):
    return _export(staff_request, STAFF_AUDIT)


def _export(staff_request: StaffRequest, partition: str) -> Response:
    """The audit log as CSV; the export itself is logged first, so it shows."""
    services = staff_request.services
    services.store.append_audit(
        partition,
        now=services.clock(),
        actor=staff_request.identity.actor,
        action="audit_exported",
    )
    name = "staff" if partition == STAFF_AUDIT else partition
    return Response(
        body=audit_csv(services.store.audit_entries(partition)),
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="audit-{name}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- access codes -------------------------------------------------------------

PDF = "application/pdf"


@staff_route(
    "/staff/cycles/{cycle_id}/access-code-batches",
    action="access_codes.create",
    methods=["POST"],
)
def create_access_codes(staff_request: StaffRequest, cycle_id: str):
    """A new batch: the printable sheet with ``Accept: application/pdf``,
    else JSON with the codes. Either answer is the only copy of the codes."""
    services = staff_request.services
    now = services.clock()
    cycle, batch = codebatches.prepare(
        services.store, cycle_id, json_body(staff_request.request), now=now
    )
    # The sheet is made before the batch is stored: a failure to render
    # must not leave a stored batch whose codes nobody has.
    sheet = None
    if _accepts_pdf(staff_request.request):
        sheet = render_sheet(cycle, batch, site_url=_site_origin())
    codebatches.commit(
        services.store,
        batch,
        secret=services.voter_secret(),
        actor=staff_request.identity.actor,
        now=now,
    )
    count("AccessCodeBatchGenerated")
    logger.info(
        "access codes generated",
        extra={"cycle": cycle_id, "batch": batch.batch_id, "count": batch.count},
    )
    if sheet is not None:
        return Response(
            body=sheet,
            status_code=201,
            headers={
                "Content-Type": PDF,
                "Content-Disposition": (
                    f'attachment; filename="access-codes-{cycle_id}-'
                    f'{batch.batch_id}.pdf"'
                ),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
    summary = services.store.get_access_code_batch(cycle_id, batch.batch_id)
    return ok(
        {"batch": summary.to_dict(), "codes": [display(c) for c in batch.codes]},
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@staff_route(
    "/staff/cycles/{cycle_id}/access-code-batches",
    action="access_codes.read",
    methods=["GET"],
)
def list_access_codes(staff_request: StaffRequest, cycle_id: str):
    batches = codebatches.list_batches(staff_request.services.store, cycle_id)
    return ok(
        {"cycle_id": cycle_id, "batches": [b.to_dict() for b in batches]},
        headers={"Cache-Control": "no-store"},
    )


@staff_route(
    "/staff/cycles/{cycle_id}/access-code-batches/{batch_id}/revoke",
    action="access_codes.revoke",
    methods=["POST"],
)
def revoke_access_codes(staff_request: StaffRequest, cycle_id: str, batch_id: str):
    services = staff_request.services
    batch = codebatches.revoke(
        services.store,
        cycle_id,
        batch_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    logger.info("access codes revoked", extra={"cycle": cycle_id, "batch": batch_id})
    return ok({"batch": batch.to_dict()})


def _accepts_pdf(request) -> bool:
    """Whether the ``Accept`` header names ``application/pdf`` (any q > 0)."""
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    for part in headers.get("accept", "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if media == PDF and "q=0" not in params:
            return True
    return False


def _site_origin() -> str:
    """The site's origin for the cards (``PB_SITE_ORIGIN``), or ``""``."""
    origin = os.environ.get("PB_SITE_ORIGIN", "")
    return "" if origin.startswith(PLACEHOLDER_PREFIX) else origin


# -- paper ballots ------------------------------------------------------------


@staff_route(_BATCHES, action="paper.register", methods=["POST"])
def register_paper_batch(staff_request: StaffRequest, cycle_id: str):
    services = staff_request.services
    batch = register_batch(
        services.store,
        cycle_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    logger.info("paper batch registered", extra={"cycle": cycle_id})
    return ok(read_batch(services.store, cycle_id, batch.batch_id), status=201)


@staff_route(_BATCHES, action="paper.read", methods=["GET"])
def read_paper_batches(staff_request: StaffRequest, cycle_id: str):
    body = list_batches(staff_request.services.store, cycle_id)
    return ok(body, headers={"Cache-Control": "no-store"})


@staff_route(_BATCH, action="paper.read", methods=["GET"])
def read_paper_batch(staff_request: StaffRequest, cycle_id: str, batch_id: str):
    body = read_batch(staff_request.services.store, cycle_id, batch_id)
    return ok(body, headers={"Cache-Control": "no-store"})


@staff_route(_BATCH + "/entries", action="paper.enter", methods=["POST"])
def enter_paper_batch(staff_request: StaffRequest, cycle_id: str, batch_id: str):
    services = staff_request.services
    identity = staff_request.identity
    batch, entry, replayed = submit_entry(
        services.store,
        services.voter_secret,
        cycle_id,
        batch_id,
        json_body(staff_request.request, max_bytes=PAPER_ENTRY_MAX_BYTES),
        actor=identity.actor,
        subject=identity.sub,
        now=services.clock(),
    )
    if not replayed:
        count("PaperEntryRecorded", status=batch.status)
    return ok(
        {
            "entry": entry.view(),
            "batch": read_batch(services.store, cycle_id, batch_id),
            "replayed": replayed,
        },
        status=200 if replayed else 201,
    )


@staff_route(_BATCH + "/count", action="paper.count", methods=["POST"])
def count_paper_batch(staff_request: StaffRequest, cycle_id: str, batch_id: str):
    services = staff_request.services
    count_batch(
        services.store,
        services.voter_secret,
        cycle_id,
        batch_id,
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    return ok(read_batch(services.store, cycle_id, batch_id))


@staff_route(_BATCH + "/discard", action="paper.discard_batch", methods=["POST"])
def discard_paper_batch(staff_request: StaffRequest, cycle_id: str, batch_id: str):
    services = staff_request.services
    discard_batch(
        services.store,
        cycle_id,
        batch_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    logger.info("paper batch discarded", extra={"cycle": cycle_id})
    return ok(read_batch(services.store, cycle_id, batch_id))


@staff_route(
    _BATCH + "/entries/{entry_id}/discard",
    action="paper.discard_entry",
    methods=["POST"],
)
def discard_paper_entry(
    staff_request: StaffRequest, cycle_id: str, batch_id: str, entry_id: str
):
    services = staff_request.services
    discard_entry(
        services.store,
        cycle_id,
        batch_id,
        entry_id,
        json_body(staff_request.request),
        actor=staff_request.identity.actor,
        now=services.clock(),
    )
    return ok(read_batch(services.store, cycle_id, batch_id))


@staff_route(
    "/staff/cycles/{cycle_id}/paper/reconciliation",
    action="paper.report",
    methods=["GET"],
)
def read_paper_reconciliation(staff_request: StaffRequest, cycle_id: str):
    body = reconciliation(staff_request.services.store, cycle_id)
    return ok(body, headers={"Cache-Control": "no-store"})


@staff_route(
    "/staff/cycles/{cycle_id}/paper/reconciliation.csv",
    action="paper.report",
    methods=["GET"],
)
def export_paper_reconciliation(staff_request: StaffRequest, cycle_id: str):
    report = reconciliation(staff_request.services.store, cycle_id)
    return Response(
        body=reconciliation_csv(report),
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": (
                f'attachment; filename="paper-reconciliation-{cycle_id}.csv"'
            ),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
