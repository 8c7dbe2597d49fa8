"""Who may vote: residency, age on the first voting day, and the age bracket."""

from __future__ import annotations

from datetime import date

import pytest

from chalicelib.ballot import Attestation
from chalicelib.eligibility import age_bracket, age_on, check_eligibility
from chalicelib.errors import InvalidInput, NotEligible

pytestmark = pytest.mark.unit

FIRST_DAY = date(2027, 1, 14)


def check(attestation: Attestation, min_age: int = 11) -> str:
    return check_eligibility(attestation, first_voting_day=FIRST_DAY, min_age=min_age)


# -- age_on -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2027, 5, 16), 26),
        (date(2027, 5, 17), 27),
        (date(2027, 5, 18), 27),
        (date(2027, 12, 31), 27),
        (date(2028, 1, 1), 27),
        (date(2000, 5, 17), 0),
    ],
)
def test_age_on_counts_whole_years_completed(day, age):
    assert age_on(date(2000, 5, 17), day) == age


@pytest.mark.parametrize(
    ("day", "age"),
    [
        (date(2023, 2, 28), 10),
        (date(2023, 3, 1), 11),
        (date(2024, 2, 28), 11),
        (date(2024, 2, 29), 12),
        (date(2024, 3, 1), 12),
    ],
)
def test_a_29_february_birthday_counts_on_1_march_in_common_years(day, age):
    assert age_on(date(2012, 2, 29), day) == age


# -- check_eligibility --------------------------------------------------------


@pytest.mark.parametrize(
    "attestation",
    [
        Attestation(False, age=40),
        Attestation(False, birth_date=date(1980, 1, 1)),
        Attestation(False, sixth_grade=True),
    ],
)
def test_a_non_resident_is_not_eligible(attestation):
    with pytest.raises(NotEligible) as info:
        check(attestation)

    assert info.value.status == 403
    assert info.value.code == "NOT_RESIDENT"
    assert info.value.field == "attestation.boston_resident"


def test_residency_is_checked_before_a_bad_birth_date():
    with pytest.raises(NotEligible) as info:
        check(Attestation(False, birth_date=date(2030, 1, 1)))

    assert info.value.code == "NOT_RESIDENT"


def test_someone_eleven_on_the_first_voting_day_is_eligible():
    # GIVEN an 11th birthday exactly on the first day of voting
    bracket = check(Attestation(True, birth_date=date(2016, 1, 14)))

    assert bracket == "11-17"


def test_someone_a_day_short_of_eleven_is_under_age():
    # GIVEN an 11th birthday the day after voting opens
    with pytest.raises(NotEligible) as info:
        check(Attestation(True, birth_date=date(2016, 1, 15)))

    assert info.value.status == 403
    assert info.value.code == "UNDER_AGE"
    assert info.value.field == "attestation.birth_date"


def test_a_stated_age_under_the_minimum_is_under_age():
    with pytest.raises(NotEligible) as info:
        check(Attestation(True, age=10))

    assert info.value.code == "UNDER_AGE"
    assert info.value.field == "attestation.age"


def test_a_stated_age_at_the_minimum_is_eligible():
    assert check(Attestation(True, age=11)) == "11-17"


def test_the_minimum_age_comes_from_the_cycle():
    with pytest.raises(NotEligible) as info:
        check(Attestation(True, age=15), min_age=16)

    assert info.value.code == "UNDER_AGE"
    assert check(Attestation(True, age=16), min_age=16) == "11-17"


def test_an_attestation_without_any_proof_of_age_is_under_age():
    with pytest.raises(NotEligible) as info:
        check(Attestation(True))

    assert (info.value.code, info.value.field) == ("UNDER_AGE", "attestation.age")


@pytest.mark.parametrize("min_age", [11, 14, 18])
def test_a_sixth_grader_is_eligible_whatever_the_minimum_age(min_age):
    assert check(Attestation(True, sixth_grade=True), min_age=min_age) == "11-17"


def test_a_birth_date_after_the_first_voting_day_is_an_invalid_date():
    with pytest.raises(InvalidInput) as info:
        check(Attestation(True, birth_date=date(2027, 1, 15)))

    assert info.value.status == 400
    assert info.value.code == "INVALID_DATE"
    assert info.value.field == "attestation.birth_date"


def test_a_birth_on_the_first_voting_day_is_under_age_not_invalid():
    with pytest.raises(NotEligible) as info:
        check(Attestation(True, birth_date=FIRST_DAY))

    assert info.value.code == "UNDER_AGE"


def test_a_29_february_birthday_turns_eleven_on_1_march():
    attestation = Attestation(True, birth_date=date(2016, 2, 29))

    with pytest.raises(NotEligible):
        check_eligibility(attestation, first_voting_day=date(2027, 2, 28), min_age=11)
    assert (
        check_eligibility(attestation, first_voting_day=date(2027, 3, 1), min_age=11)
        == "11-17"
    )


@pytest.mark.parametrize(
    ("birth_date", "bracket"),
    [
        (date(2009, 1, 15), "11-17"),  # 18 the day after voting opens
        (date(2009, 1, 14), "18-24"),
        (date(1962, 1, 15), "55-64"),  # 65 the day after voting opens
        (date(1962, 1, 14), "65+"),
    ],
)
def test_the_bracket_is_read_on_the_first_voting_day(birth_date, bracket):
    assert check(Attestation(True, birth_date=birth_date)) == bracket


# -- age_bracket --------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "bracket"),
    [
        (11, "11-17"),
        (17, "11-17"),
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-34"),
        (34, "25-34"),
        (35, "35-44"),
        (44, "35-44"),
        (45, "45-54"),
        (54, "45-54"),
        (55, "55-64"),
        (64, "55-64"),
        (65, "65+"),
        (130, "65+"),
    ],
)
def test_age_bracket_boundaries(age, bracket):
    assert age_bracket(age) == bracket
