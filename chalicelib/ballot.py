"""What a resident submits when they vote, checked field by field.

:func:`parse_cast_request` turns the decoded JSON body into a
:class:`CastRequest` or raises :class:`InvalidInput` naming the field at
fault. :func:`check_selections` then measures the selections against a
cycle's frozen ballot. Neither touches storage. Eligibility (residency, age)
lives in :mod:`chalicelib.eligibility`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from datetime import date

from chalicelib.cycle import Cycle, canonical_json
from chalicelib.errors import InvalidInput

#: ``pass``: a voter pass from a one-time code or a volunteer; ``access_code``:
#: a printed code, alone or with the resident's phone or email; ``phone`` and
#: ``email``: the resident's word alone (cycles that offer ``attested``).
VOTER_KINDS = ("pass", "access_code", "email", "phone")
CONTACT_KINDS = ("phone", "email")

#: Boston's neighbourhoods, as the city's planning maps name them.
NEIGHBOURHOODS = (
    "allston", "back-bay", "bay-village", "beacon-hill", "brighton",
    "charlestown", "chinatown", "dorchester", "downtown", "east-boston",
    "fenway", "hyde-park", "jamaica-plain", "leather-district", "longwood",
    "mattapan", "mission-hill", "north-end", "roslindale", "roxbury",
    "south-boston", "south-boston-waterfront", "south-end", "west-end",
    "west-roxbury",
)  # fmt: skip

AGE_BRACKETS = ("11-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")

_FIELDS = {"selections", "attestation", "voter", "neighbourhood", "age_bracket"}
_ATTESTATION_FIELDS = {"boston_resident", "birth_date", "age", "sixth_grade"}
_MAX_TEXT = 320
# date.fromisoformat alone also takes 20100201 and week dates like 2010-W05-3.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclasses.dataclass(frozen=True)
class Attestation:
    """The voter's own word: Boston resident, and one proof of age."""

    boston_resident: bool
    birth_date: date | None = None
    age: int | None = None
    sixth_grade: bool = False


@dataclasses.dataclass(frozen=True)
class CastRequest:
    selections: tuple[str, ...]
    attestation: Attestation
    voter_kind: str
    voter_value: str
    neighbourhood: str | None = None
    age_bracket: str | None = None
    #: With an access code: the resident's (kind, value), phone or email.
    voter_contact: tuple[str, str] | None = None

    def fingerprint(self) -> str:
        """A hash of what was chosen, to recognise a retried submission.

        It deliberately leaves the voter out: the idempotency record that
        keeps it must not join a resident to a ballot.
        """
        payload = canonical_json(sorted(self.selections))
        return hashlib.sha256(payload).hexdigest()


def parse_cast_request(body: object) -> CastRequest:
    """Validate the shape of a cast-ballot body; raise ``InvalidInput``."""
    data = _object(body, "body")
    _no_unknown(data, _FIELDS, "")
    for name in ("selections", "attestation", "voter"):
        if name not in data:
            raise InvalidInput(
                f"The field {name!r} is required.", field=name, code="MISSING_FIELD"
            )

    selections = parse_selections(data["selections"])
    kind, value, contact = parse_voter(data["voter"])

    return CastRequest(
        selections=selections,
        attestation=parse_attestation(data["attestation"]),
        voter_kind=kind,
        voter_value=value,
        voter_contact=contact,
        neighbourhood=parse_choice(data, "neighbourhood", NEIGHBOURHOODS),
        age_bracket=parse_choice(data, "age_bracket", AGE_BRACKETS),
    )


def parse_selections(value: object) -> tuple[str, ...]:
    """Validate a list of distinct proposal ids; raise ``InvalidInput``.

    The field named is ``selections``: callers nesting it prefix their path.
    """
    if not isinstance(value, list) or not all(
        isinstance(s, str) and 0 < len(s) <= 64 for s in value
    ):
        raise InvalidInput(
            "Selections are a list of proposal ids.",
            field="selections",
            code="INVALID_SELECTIONS",
        )
    if not value:
        raise InvalidInput(
            "Choose at least one proposal.", field="selections", code="NO_SELECTION"
        )
    if len(set(value)) != len(value):
        raise InvalidInput(
            "Each proposal can be chosen only once.",
            field="selections",
            code="DUPLICATE_SELECTION",
        )
    return tuple(value)


def parse_voter(
    raw: object, kinds: tuple[str, ...] = VOTER_KINDS
) -> tuple[str, str, tuple[str, str] | None]:
    """Validate a ``{kind, value}`` voter identifier of one of ``kinds``.

    Returns ``(kind, value, contact)``; ``contact`` is the ``(kind, value)``
    an access code may come with, else None. Only the shape:
    :func:`chalicelib.voterkey.normalise` checks the values. Raises
    ``InvalidInput`` naming ``voter``, ``voter.kind``, ``voter.value`` or
    ``voter.contact``.
    """
    voter = _object(raw, "voter")
    _no_unknown(voter, {"kind", "value", "contact"}, "voter.")
    kind = voter.get("kind")
    if kind not in kinds:
        raise InvalidInput(
            f"The voter kind is one of {', '.join(kinds)}.",
            field="voter.kind",
            code="INVALID_VOTER",
        )
    # A pass is longer than any identifier, but still bounded (passes.read).
    limit = 1024 if kind == "pass" else _MAX_TEXT
    value = voter.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(
            "Give the voter pass, access code, email or phone number.",
            field="voter.value",
            code="INVALID_VOTER",
        )
    contact = None
    if "contact" in voter:
        if kind != "access_code":
            raise InvalidInput(
                "Only an access code comes with a contact.",
                field="voter.contact",
                code="UNKNOWN_FIELD",
            )
        raw = _object(voter["contact"], "voter.contact")
        _no_unknown(raw, {"kind", "value"}, "voter.contact.")
        if raw.get("kind") not in CONTACT_KINDS:
            raise InvalidInput(
                "The contact kind is phone or email.",
                field="voter.contact.kind",
                code="INVALID_VOTER",
            )
        text = raw.get("value")
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
            raise InvalidInput(
                "Give the phone number or email.",
                field="voter.contact.value",
                code="INVALID_VOTER",
            )
        contact = (raw["kind"], text)

    return kind, value, contact


def check_selections(request: CastRequest, cycle: Cycle) -> None:
    """Raise ``InvalidInput`` unless the selections fit ``cycle``'s ballot."""
    if len(request.selections) > cycle.selection_limit:
        raise InvalidInput(
            f"Choose at most {cycle.selection_limit} proposals.",
            field="selections",
            code="TOO_MANY_SELECTIONS",
        )
    for index, proposal_id in enumerate(request.selections):
        if cycle.proposal(proposal_id) is None:
            raise InvalidInput(
                f"{proposal_id!r} is not on this ballot.",
                field=f"selections[{index}]",
                code="UNKNOWN_PROPOSAL",
            )


def parse_attestation(raw: object) -> Attestation:
    """Validate the attestation object; raise ``InvalidInput`` naming its field."""
    data = _object(raw, "attestation")
    _no_unknown(data, _ATTESTATION_FIELDS, "attestation.")
    resident = data.get("boston_resident")
    if not isinstance(resident, bool):
        raise InvalidInput(
            "Say whether you live in Boston (true or false).",
            field="attestation.boston_resident",
            code="MISSING_FIELD",
        )
    given = [name for name in ("birth_date", "age", "sixth_grade") if name in data]
    if len(given) != 1:
        raise InvalidInput(
            "Give exactly one of birth_date, age or sixth_grade.",
            field="attestation",
            code="INVALID_ATTESTATION",
        )
    if "birth_date" in data:
        birth = data["birth_date"]
        try:
            written = isinstance(birth, str) and _ISO_DATE.fullmatch(birth)
            parsed = date.fromisoformat(birth) if written else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInput(
                "The birth date is written YYYY-MM-DD.",
                field="attestation.birth_date",
                code="INVALID_DATE",
            )
        return Attestation(resident, birth_date=parsed)
    if "age" in data:
        age = data["age"]
        if not isinstance(age, int) or isinstance(age, bool) or not 0 <= age <= 130:
            raise InvalidInput(
                "The age is a whole number of years.",
                field="attestation.age",
                code="INVALID_AGE",
            )
        return Attestation(resident, age=age)
    if data["sixth_grade"] is not True:
        raise InvalidInput(
            "sixth_grade can only be true.",
            field="attestation.sixth_grade",
            code="INVALID_ATTESTATION",
        )
    return Attestation(resident, sixth_grade=True)


def _object(value: object, field: str) -> Mapping:
    if not isinstance(value, dict):
        raise InvalidInput("Expected a JSON object.", field=field, code="INVALID_TYPE")
    return value


def _no_unknown(data: Mapping, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        name = str(unknown[0])[:64]
        raise InvalidInput(
            f"Unknown field {name!r}.",
            field=prefix + name,
            code="UNKNOWN_FIELD",
        )


def parse_choice(data: Mapping, name: str, choices: tuple[str, ...]) -> str | None:
    """The optional field ``name`` of ``data``: one of ``choices``, or ``None``."""
    value = data.get(name)
    if value is None:
        return None
    if value not in choices:
        raise InvalidInput(
            f"Unknown {name.replace('_', ' ')}.", field=name, code="INVALID_CHOICE"
        )
    return value
