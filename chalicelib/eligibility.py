"""Who may vote: a Boston resident, old enough on the first day of voting.

Pure. The age rule reads a birth date, a stated age, or being in 6th grade
(Boston lets 6th graders vote even if they are not yet 11). Only an age
bracket leaves this module; the birth date and age are never stored.
"""

from __future__ import annotations

from datetime import date

from chalicelib.ballot import Attestation
from chalicelib.errors import InvalidInput, NotEligible


def age_on(birth_date: date, day: date) -> int:
    """Whole years completed by ``day``; a 29 February birthday counts on 1 March."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_eligibility(
    attestation: Attestation, *, first_voting_day: date, min_age: int
) -> str:
    """Raise ``NotEligible`` unless the attestation qualifies; return the age bracket.

    A stated age is read as the age on the first voting day, which is what
    the ballot's attestation asks for.
    """
    if not attestation.boston_resident:
        raise NotEligible(
            "This vote is for people who live in Boston. Thank you for your "
            "interest; other cities may run their own participatory budget.",
            field="attestation.boston_resident",
            code="NOT_RESIDENT",
        )
    if attestation.sixth_grade:
        return "11-17"
    if attestation.birth_date is not None:
        if attestation.birth_date > first_voting_day:
            raise InvalidInput(
                "The birth date is in the future.",
                field="attestation.birth_date",
                code="INVALID_DATE",
            )
        age = age_on(attestation.birth_date, first_voting_day)
        field = "attestation.birth_date"
    else:
        age = attestation.age if attestation.age is not None else -1
        field = "attestation.age"
    if age < min_age:
        raise NotEligible(
            f"Voting is open to residents aged {min_age} or older, or in 6th "
            "grade. We would love to hear your ideas in the next idea "
            "collection, which is open to everyone.",
            field=field,
            code="UNDER_AGE",
        )
    return age_bracket(age)


def age_bracket(age: int) -> str:
    """The turnout bracket for ``age`` (11 and over)."""
    for upper, bracket in (
        (17, "11-17"),
        (24, "18-24"),
        (34, "25-34"),
        (44, "35-44"),
        (54, "45-54"),
        (64, "55-64"),
    ):
        if age <= upper:
            return bracket
    return "65+"
