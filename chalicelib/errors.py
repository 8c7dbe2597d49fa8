"""Domain errors, shared by every layer.

The map::

    PBError                      base; carries a stable ``code`` and ``field``
    ├── InvalidInput             400: a request or file is malformed
    │   └── PabulibFormatError   a ``.pb`` file is malformed (line number kept)
    ├── Unauthenticated          401: no staff token, or one that does not verify
    ├── Forbidden                403: the staff member's groups do not allow the action
    ├── NotEligible              403: the resident may not take part (age, residency)
    ├── NotFound                 404: no such cycle, ballot, result or challenge
    ├── Gone                     410: it existed but has expired (a one-time code)
    ├── Conflict                 409: the request is valid but the state forbids it
    │   ├── PhaseClosed          the phase that accepts this request is not open
    │   ├── AlreadyVoted         this voter already has a ballot in this cycle
    │   ├── IllegalTransition    the phase state machine refuses the move
    │   ├── StaleVersion         someone else changed the cycle first
    │   ├── PhaseStarted         a calendar edit touches a phase already under way
    │   └── IdempotencyMismatch  an idempotency key reused for another request
    ├── TooManyRequests          429: a rate limit or a challenge's attempts ran out
    └── Unavailable              503: AWS throttled or a transaction conflicted

``InvalidInput`` also has ``CodeIncorrect``, a wrong one-time code, whose
answer says how many attempts are left.

Domain and storage code raise these; only the API edge turns them into HTTP
answers (see ``chalicelib.api.responses``). Codes are part of the public
contract: clients branch on them, so never rename one.
"""

from __future__ import annotations


class PBError(Exception):
    """Base of every error a client may see."""

    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, field: str | None = None, code: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(PBError):
    status = 400
    code = "INVALID_INPUT"


class PabulibFormatError(InvalidInput):
    """A ``.pb`` file that cannot be read; ``line`` is 1-based."""

    code = "PB_FORMAT"

    def __init__(self, message: str, *, line: int | None = None):
        where = f"line {line}: " if line is not None else ""
        super().__init__(where + message, field="file")
        self.line = line


class Unauthenticated(PBError):
    """The request carries no staff access token, or one that does not verify."""

    status = 401
    code = "UNAUTHENTICATED"


class Forbidden(PBError):
    status = 403
    code = "FORBIDDEN"


class NotEligible(PBError):
    status = 403
    code = "NOT_ELIGIBLE"


class NotFound(PBError):
    status = 404
    code = "NOT_FOUND"


class Gone(PBError):
    status = 410
    code = "GONE"


class Conflict(PBError):
    status = 409
    code = "CONFLICT"


class PhaseClosed(Conflict):
    code = "PHASE_CLOSED"


class AlreadyVoted(Conflict):
    code = "ALREADY_VOTED"


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


class StaleVersion(Conflict):
    code = "STALE_VERSION"


class PhaseStarted(Conflict):
    code = "PHASE_STARTED"


class IdempotencyMismatch(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class CodeIncorrect(InvalidInput):
    """A one-time code that does not match; ``attempts_left`` goes in the answer."""

    code = "CODE_INCORRECT"

    def __init__(self, message: str, *, attempts_left: int):
        super().__init__(message, field="code")
        self.attempts_left = attempts_left

    def to_dict(self) -> dict:
        return {**super().to_dict(), "attempts_left": self.attempts_left}


class TooManyRequests(PBError):
    """Too many requests: ``retry_after`` seconds (if any) says when to try again."""

    status = 429
    code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str = "",
        retry_after: int | None = None,
    ):
        super().__init__(message, field=field, code=code)
        self.retry_after = retry_after


class Unavailable(PBError):
    """AWS was busy; the client may retry after ``retry_after`` seconds."""

    status = 503
    code = "TRY_AGAIN"

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after
