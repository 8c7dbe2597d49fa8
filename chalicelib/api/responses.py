"""Turning domain answers into HTTP answers: the only place that knows HTTP codes.

Every error body is ``{"code": ..., "message": ..., "field": ...}``. Codes
are stable and documented in ``docs/api.md``; messages are sentences a
resident can act on. Anything that is not a :class:`PBError` becomes a bland
500 whose trace is logged, never shown.
"""

from __future__ import annotations

import json
import logging
import os

from chalice import CORSConfig, Response

from chalicelib.errors import InvalidInput, PBError, TooManyRequests, Unavailable

logger = logging.getLogger(__name__)

JSON = {"Content-Type": "application/json"}
_MAX_BODY = 16 * 1024


def site_cors(*, allow_headers: list[str], expose_headers: list[str]):
    """CORS for the stage's site origin only (``PB_SITE_ORIGIN``), else none.

    Read once, when a blueprint's routes are declared; the origin is stage
    configuration, not an AWS resource.
    """
    origin = os.environ.get("PB_SITE_ORIGIN", "")
    if not origin:
        return False
    return CORSConfig(
        allow_origin=origin,
        allow_headers=allow_headers,
        expose_headers=expose_headers,
        max_age=600,
    )


def ok(body: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={**JSON, **(headers or {})},
    )


def error(exc: PBError) -> Response:
    headers = dict(JSON)
    if isinstance(exc, Unavailable | TooManyRequests) and exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(
        body=json.dumps(exc.to_dict(), ensure_ascii=False),
        status_code=exc.status,
        headers=headers,
    )


def internal_error() -> Response:
    body = {
        "code": "INTERNAL_ERROR",
        "message": "Something went wrong on our side. Please try again.",
    }
    return Response(body=json.dumps(body), status_code=500, headers=JSON)


def json_body(request, *, max_bytes: int = _MAX_BODY) -> object:
    """Decode a request body that must be JSON; raise ``InvalidInput``.

    Bodies are at most 16 KiB unless a route allows more (``max_bytes``).
    """
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise InvalidInput(
            "Send the body as application/json.",
            field="Content-Type",
            code="UNSUPPORTED_MEDIA_TYPE",
        )
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise InvalidInput(
            "The body is too large.", field="body", code="BODY_TOO_LARGE"
        )
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InvalidInput(
            f"The field {exc.key!r} is given twice; send it once.",
            field=exc.key,
            code="DUPLICATE_FIELD",
        ) from exc
    except ValueError as exc:  # bad UTF-8, bad JSON, absurdly long numbers
        raise InvalidInput(
            "The body is not valid JSON.", field="body", code="MALFORMED_JSON"
        ) from exc
    except RecursionError as exc:
        raise InvalidInput(
            "The body is nested too deeply.", field="body", code="MALFORMED_JSON"
        ) from exc
    if not _is_valid_text(body):
        raise InvalidInput(
            "The body holds text that is not valid Unicode.",
            field="body",
            code="MALFORMED_JSON",
        )
    return body


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object whose keys are all different: ``{"a": 1, "a": 2}`` is
    refused, never read as its last value."""
    body = {}
    for key, value in pairs:
        if key in body:
            raise _DuplicateKey(key)
        body[key] = value
    return body


def _is_valid_text(value: object) -> bool:
    """False if any key or string holds a lone surrogate (a ``\\ud800`` escape).

    Such text cannot be encoded, so it could not be stored, hashed or even
    echoed in an error. Walks without recursion: the body may be deep.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True
