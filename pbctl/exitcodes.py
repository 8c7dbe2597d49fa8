"""What ``pbctl``'s exit status means, the same for every command.

=====  ===========  ======================================================
code   name         when
=====  ===========  ======================================================
0      OK           the command did what was asked
1      REFUSED      the system refused: a domain rule (``PHASE_NOT_OPEN``,
                    ``NOT_IN_TALLY``, ``NOT_FOUND``, ...), AWS refusing a
                    change, a deploy step that failed
2      USAGE        bad usage or input: a missing or wrong argument, a file
                    that cannot be read, parsed or validated (any
                    ``InvalidInput``, code ``INVALID_INPUT`` or ``PB_FORMAT``),
                    a non-loopback ``--endpoint-url``
3      UNREACHABLE  the stage cannot be reached: no connection to AWS or the
                    endpoint, no or expired credentials, no stack
                    ``pb-<stage>`` there, or DynamoDB too busy to answer
                    (``TRY_AGAIN``); running it again later may succeed
=====  ===========  ======================================================

:func:`classify` maps an exception to its code; every command returns
``classify(exc)`` for what it catches, so a script can tell "try again when
the network is back" (3) from "the office must decide" (1).
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from chalicelib.errors import InvalidInput, PBError, Unavailable

OK = 0
REFUSED = 1
USAGE = 2
UNREACHABLE = 3

#: The text of ``pbctl --help``'s epilog and of the runbook's table.
EPILOG = """\
exit status:
  0  done
  1  refused by the system (a domain rule such as PHASE_NOT_OPEN or
     NOT_IN_TALLY, AWS refusing a change, a failed deploy step)
  2  bad usage or input (arguments, unreadable or invalid files, an
     --endpoint-url that is not a loopback moto server)
  3  cannot reach the stage (no connection, no or expired credentials, no
     stack pb-<stage>, AWS too busy); try again later
"""

#: AWS error codes that mean "your credentials", not "your request".
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "RequestExpired",
    }
)


class UsageError(ValueError):
    """Bad input from the operator: an argument or a file (exit 2)."""


class Unreachable(RuntimeError):
    """The stage cannot be reached (exit 3)."""


def classify(exc: BaseException) -> int:
    """The exit status for ``exc`` (see the module's table)."""
    if isinstance(exc, InvalidInput):
        return USAGE
    if isinstance(exc, Unavailable):
        return UNREACHABLE
    if isinstance(exc, PBError):
        return REFUSED
    if isinstance(exc, UsageError):
        return USAGE
    if isinstance(exc, Unreachable):
        return UNREACHABLE
    if isinstance(
        exc,
        EndpointConnectionError
        | NoCredentialsError
        | PartialCredentialsError
        | NoRegionError,
    ):
        return UNREACHABLE
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return UNREACHABLE if code in CREDENTIAL_CODES else REFUSED
    if isinstance(exc, BotoCoreError):
        # Connection resets, timeouts, proxy and SSL failures: all "cannot
        # reach"; a malformed request would have been a ClientError.
        return UNREACHABLE
    return REFUSED
