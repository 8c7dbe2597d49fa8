"""Every failure has one exit status, whichever command meets it."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from chalicelib.errors import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    PabulibFormatError,
    Unavailable,
)
from pbctl.exitcodes import REFUSED, UNREACHABLE, USAGE, classify
from pbctl.operator import EndpointRefused, StageUnreachable

pytestmark = pytest.mark.unit


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "DescribeStacks")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (IllegalTransition("no", field="phase"), REFUSED),
        (NotFound("no such cycle", field="cycle_id"), REFUSED),
        (client_error("AccessDeniedException"), REFUSED),
        (client_error("ValidationError"), REFUSED),
        (RuntimeError("DynamoDB call failed (X)"), REFUSED),
        (InvalidInput("bad", field="budget_cap", code="INVALID_TYPE"), USAGE),
        (PabulibFormatError("bad line", line=3), USAGE),
        (EndpointRefused("refusing endpoint"), USAGE),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), UNREACHABLE),
        (NoCredentialsError(), UNREACHABLE),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), UNREACHABLE),
        (client_error("ExpiredToken"), UNREACHABLE),
        (client_error("InvalidClientTokenId"), UNREACHABLE),
        (StageUnreachable("cannot read stack pb-dev"), UNREACHABLE),
        (Unavailable("busy"), UNREACHABLE),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_classify(error: Exception, status: int) -> None:
    assert classify(error) == status
