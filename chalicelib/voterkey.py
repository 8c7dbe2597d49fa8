"""The voter index key: a keyed HMAC of one normalised identity.

Pure. Whatever a resident identifies with (an access code, an email, a
phone number) is normalised so that trivial differences (case, spaces,
dashes, a missing +1) cannot give one person two keys, then hashed with a
secret key that lives only in Secrets Manager. Raw identities are never
stored or logged; only :func:`voter_key` output is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from chalicelib.errors import InvalidInput

# After NFKC and case folding: one @, no spaces, a dotted domain not ending in
# a dot, the local part at most 64 characters (RFC 5321 limits).
_EMAIL = re.compile(r"^[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]+$")
_CODE = re.compile(r"^[A-Z0-9]{6,32}$", re.ASCII)
_PHONE_CHARS = re.compile(r"^[0-9 ().+-]+$", re.ASCII)


def normalise(kind: str, value: str) -> str:
    """Return the canonical form of an identity; raise ``InvalidInput``.

    Every value is first put in Unicode NFKC form, so that one address or
    number typed on different keyboards (full-width digits, a precomposed or
    decomposed accent) is one identity. Emails are then trimmed and
    case-folded, phones become E.164 (digits of any script count; a bare
    10-digit number is taken as North American), access codes lose spaces
    and dashes and are upper-cased. Control and invisible format characters
    are refused, never silently dropped.
    """
    value = unicodedata.normalize("NFKC", value).strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in value):
        raise InvalidInput(
            "The identifier holds an invisible or control character.",
            field="voter.value",
            code="INVALID_VOTER",
        )
    if kind == "email":
        email = value.strip().casefold()
        if len(email) > 254 or not _EMAIL.match(email):
            raise InvalidInput(
                "That email address does not look complete.",
                field="voter.value",
                code="INVALID_EMAIL",
            )
        local, domain = email.rsplit("@", 1)
        try:
            # One mailbox, one identity: an international domain and its
            # punycode (bücher.example, xn--bcher-kva.example) are the same.
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise InvalidInput(
                "That email address does not look complete.",
                field="voter.value",
                code="INVALID_EMAIL",
            ) from exc
        return f"email:{local}@{domain}"
    if kind == "phone":
        return "phone:" + _e164(value)
    if kind == "access_code":
        code = re.sub(r"[\s-]", "", value).upper()  # NFKC folded full-width forms
        if not _CODE.match(code):
            raise InvalidInput(
                "An access code has 6 to 32 letters and digits.",
                field="voter.value",
                code="INVALID_ACCESS_CODE",
            )
        return "code:" + code
    raise InvalidInput(
        "Unknown kind of voter identifier.", field="voter.kind", code="INVALID_VOTER"
    )


def voter_key(secret: bytes, cycle_id: str, kind: str, value: str) -> str:
    """The voter-mark key for this identity in this cycle (hex HMAC-SHA256)."""
    message = f"{cycle_id}\x1f{normalise(kind, value)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def mark_key(secret: bytes, cycle_id: str, kind: str, value: str) -> str:
    """The key of the voter-marks item for this identity: ``<cycle_id>#<hmac>``.

    The one voter index every channel writes to (online ballots and paper
    sheets alike), so that one resident has one mark per cycle whichever way
    they vote. Raises ``InvalidInput`` as :func:`normalise` does.
    """
    return f"{cycle_id}#" + voter_key(secret, cycle_id, kind, value)


def _e164(raw: str) -> str:
    # Digits of any script (Arabic-Indic, Devanagari...) read as 0-9.
    text = "".join(
        str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c
        for c in raw.strip()
    )
    if not _PHONE_CHARS.match(text):
        raise InvalidInput(
            "A phone number holds only digits, spaces and + ( ) -.",
            field="voter.value",
            code="INVALID_PHONE",
        )
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+"):
        candidate = digits
    elif text.startswith("00"):
        candidate = digits[2:]
    elif len(digits) == 10:
        candidate = "1" + digits
    elif len(digits) == 11 and digits.startswith("1"):
        candidate = digits
    else:
        candidate = ""
    if not 8 <= len(candidate) <= 15 or candidate.startswith("0"):
        raise InvalidInput(
            "Give the phone number with its area code.",
            field="voter.value",
            code="INVALID_PHONE",
        )
    if candidate.startswith("1") and (len(candidate) != 11 or candidate[1] in "01"):
        raise InvalidInput(
            "A US or Canadian number has 10 digits after +1.",
            field="voter.value",
            code="INVALID_PHONE",
        )
    return "+" + candidate
