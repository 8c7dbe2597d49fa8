"""Access codes: the printed, single-use codes staff hand out at libraries
and events to residents who vote without a phone or email.

Pure. A code is 12 symbols of Crockford's base-32 alphabet (60 random bits,
no I, L, O or U, so nothing reads as another symbol), shown in groups of
four: ``7KQ2-M9XD-4HTB``. What residents type is read forgivingly (any case,
spaces or dashes anywhere, O for 0, I or L for 1) and then checked. Only
:func:`code_key`, a keyed HMAC of the canonical code, is ever stored: the
printed sheet is the one place the code itself exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from chalicelib.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh code in its canonical form (no dashes)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    """The code as printed: groups of four joined by dashes."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def canonical(typed: str, *, field: str = "voter.value") -> str:
    """The canonical form of a typed code; raise ``InvalidInput``."""
    text = unicodedata.normalize("NFKC", typed).upper().translate(_READ_AS)
    code = "".join(c for c in text if c not in " -\t")
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        raise InvalidInput(
            "An access code has 12 letters and digits, as printed on its card.",
            field=field,
            code="INVALID_ACCESS_CODE",
        )
    return code


def code_key(secret: bytes, cycle_id: str, code: str) -> str:
    """The stored key of a canonical ``code`` in ``cycle_id``."""
    message = f"access-code\x1f{cycle_id}\x1f{code}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
