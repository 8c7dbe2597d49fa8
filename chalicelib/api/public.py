"""The public API: read the cycle and ballot, prove who you are, cast a
ballot, read results.

Each route parses the request, calls one function in ``chalicelib`` and
returns; :func:`answers` turns domain errors into HTTP answers.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.responses import (
    JSON,
    error,
    internal_error,
    json_body,
    ok,
    site_cors,
)
from chalicelib.cycle import Phase, ballot_document, calendar_to_dict
from chalicelib.errors import NotFound, PBError, PhaseClosed
from chalicelib.observability import count
from chalicelib.publish import RESULT
from chalicelib.services import get_services
from chalicelib.storage.results import CONTENT_TYPES
from chalicelib.verification import check_code, start_verification
from chalicelib.voting import cast_ballot

logger = logging.getLogger(__name__)

public = Blueprint(__name__)


def _cors():
    return site_cors(
        allow_headers=["Content-Type", "Idempotency-Key"],
        expose_headers=["Idempotent-Replayed", "X-Request-Id", "Retry-After"],
    )


CORS = _cors()
#: Every route takes any Content-Type: a read has no body to refuse, and
#: json_body answers a write's wrong type with UNSUPPORTED_MEDIA_TYPE. Left to
#: itself Chalice answers 415 in its own shape, outside the documented one.
ANY = ["*/*"]

#: Phases in which the ballot is public.
BALLOT_PHASES = (Phase.VOTING, Phase.TALLY, Phase.RESULTS, Phase.IMPLEMENTATION)
RESULT_PHASES = (Phase.RESULTS, Phase.IMPLEMENTATION)
#: The OpenAPI document of the whole API, public and staff routes; a test
#: fails when a route is registered that it does not describe.
OPENAPI = Path(__file__).with_name("openapi.json")


def answers(view):
    """Run ``view``; answer domain errors with their code, anything else with 500."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except PBError as exc:
            if exc.status >= 500:
                logger.warning("request refused", extra={"code": exc.code})
            return error(exc)
        except Exception:
            logger.exception("unhandled error")
            return internal_error()

    return wrapper


@public.route("/cycle", methods=["GET"], content_types=ANY, cors=CORS)
@answers
def read_current_cycle():
    cycle = get_services().store.current_cycle()
    return ok(
        {
            "cycle_id": cycle.cycle_id,
            "name": cycle.name,
            "phase": cycle.phase.value,
            "calendar": calendar_to_dict(cycle.calendar),
            "budget_cap": cycle.budget_cap,
            "selection_limit": cycle.selection_limit,
            "min_voting_age": cycle.min_voting_age,
            "timezone": cycle.timezone,
            "languages": list(cycle.languages),
            "verification": list(cycle.verification),
            "ballot_hash": cycle.ballot_hash or None,
        }
    )


@public.route("/ballot", methods=["GET"], content_types=ANY, cors=CORS)
@answers
def read_ballot():
    cycle = get_services().store.current_cycle(max_age=5.0)
    if cycle.phase not in BALLOT_PHASES:
        raise NotFound(
            "The ballot is published when voting opens.",
            field="phase",
            code="BALLOT_NOT_PUBLISHED",
        )
    return ok(
        {
            **ballot_document(cycle),
            "ballot_hash": cycle.ballot_hash,
            "voting": calendar_to_dict(cycle.calendar)["voting"],
        },
        headers={"Cache-Control": "public, max-age=60"},
    )


@public.route("/ballots", methods=["POST"], content_types=ANY, cors=CORS)
@answers
def cast():
    services = get_services()
    request = public.current_request
    try:
        receipt = cast_ballot(
            services.store,
            services.voter_secret,
            json_body(request),
            request.headers.get("idempotency-key"),
            now=services.clock(),
        )
    except PBError as exc:
        count("BallotRefused", code=exc.code)
        raise
    if not receipt.replayed:
        count("BallotRecorded", channel=receipt.channel)
    logger.debug("ballot answered", extra={"replayed": receipt.replayed})
    return ok(
        receipt.to_dict(),
        status=201,
        headers={"Idempotent-Replayed": str(receipt.replayed).lower()},
    )


def client_address(request) -> str:
    """The caller's address as API Gateway saw it (only its HMAC is stored)."""
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


@public.route("/verifications", methods=["POST"], content_types=ANY, cors=CORS)
@answers
def send_code():
    services = get_services()
    request = public.current_request
    try:
        challenge = start_verification(
            services.store,
            services.sender,
            services.voter_secret(),
            json_body(request),
            client=client_address(request),
            now=services.clock(),
            limits=services.limits,
        )
    except PBError as exc:
        count("VerificationRefused", code=exc.code)
        raise
    count("VerificationSent", method=challenge["method"])
    return ok(challenge, status=202, headers={"Cache-Control": "no-store"})


@public.route(
    "/verifications/{verification_id}",
    methods=["POST"],
    content_types=ANY,
    cors=CORS,
)
@answers
def check(verification_id: str):
    services = get_services()
    request = public.current_request
    try:
        answer = check_code(
            services.store,
            services.voter_secret(),
            verification_id,
            json_body(request),
            client=client_address(request),
            now=services.clock(),
            limits=services.limits,
        )
    except PBError as exc:
        count("VerificationRefused", code=exc.code)
        raise
    count("VerificationPassed")
    return ok(answer, headers={"Cache-Control": "no-store"})


@public.route("/results", methods=["GET"], content_types=ANY, cors=CORS)
@answers
def read_results():
    services = get_services()
    cycle = services.store.current_cycle()
    if cycle.phase not in RESULT_PHASES:
        raise PhaseClosed(
            "Results are published after the tally.",
            field="phase",
            code="RESULTS_NOT_PUBLISHED",
        )
    body = json.loads(services.results.get(cycle.cycle_id, RESULT))
    return ok(body, headers={"Cache-Control": "public, max-age=300"})


@public.route("/results/files/{name}", methods=["GET"], content_types=ANY, cors=CORS)
@answers
def read_result_file(name):
    """One file ``result.json`` lists under ``files``, byte for byte.

    The site's receipt check reads ``receipts.txt`` here and looks the
    receipt's hash up in the browser, so the receipt never leaves the device.
    """
    # Known limit: a Lambda answer is at most 6 MB, so receipts.txt (65 bytes
    # a ballot) fits up to about 90,000 ballots; past that, serve the results
    # bucket's files through CloudFront instead of this route.
    services = get_services()
    cycle = services.store.current_cycle()
    if cycle.phase not in RESULT_PHASES:
        raise PhaseClosed(
            "Results are published after the tally.",
            field="phase",
            code="RESULTS_NOT_PUBLISHED",
        )
    listed = json.loads(services.results.get(cycle.cycle_id, RESULT)).get("files", {})
    if name not in listed:
        raise NotFound(
            "No published file has that name.", field="name", code="NO_SUCH_FILE"
        )
    return Response(
        body=services.results.get(cycle.cycle_id, name).decode("utf-8"),
        status_code=200,
        headers={
            "Content-Type": CONTENT_TYPES.get(name, "text/plain; charset=utf-8"),
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


@public.route("/openapi.json", methods=["GET"], content_types=ANY, cors=CORS)
@answers
def read_openapi():
    return Response(
        body=_openapi_text(),
        status_code=200,
        headers={**JSON, "Cache-Control": "public, max-age=3600"},
    )


@functools.cache
def _openapi_text() -> str:
    """The document as shipped in the package, read once per process."""
    return OPENAPI.read_text(encoding="utf-8")
