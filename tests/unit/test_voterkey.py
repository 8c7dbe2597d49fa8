"""The voter key: normalised identities and their keyed hash."""

from __future__ import annotations

import re
import unicodedata

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.voterkey import normalise, voter_key

pytestmark = pytest.mark.unit

SECRET = b"unit-test-secret-not-a-real-one"
CYCLE = "boston-2027"


def refused(kind: str, value: str, code: str, field: str = "voter.value") -> None:
    with pytest.raises(InvalidInput) as info:
        normalise(kind, value)
    assert (info.value.code, info.value.field) == (code, field)


# -- emails -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "resident@example.org",
        "Resident@Example.ORG",
        "  resident@example.org\n",
        "\tRESIDENT@EXAMPLE.ORG ",
    ],
)
def test_emails_fold_case_and_surrounding_space(value):
    assert normalise("email", value) == "email:resident@example.org"


@pytest.mark.parametrize(
    "value", ["", "resident", "resident@", "@example.org", "a@b", "a b@example.org"]
)
def test_incomplete_emails_are_refused(value):
    refused("email", value, "INVALID_EMAIL")


# -- phones -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("(617) 555-0134", "+16175550134"),
        ("617.555.0134", "+16175550134"),
        ("6175550134", "+16175550134"),
        ("+1 617 555 0134", "+16175550134"),
        ("1-617-555-0134", "+16175550134"),
        (" +1 (617) 555-0134 ", "+16175550134"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_become_e164(value, e164):
    assert normalise("phone", value) == "phone:" + e164


@pytest.mark.parametrize(
    "value",
    [
        "555",
        "555-0134",
        "+1 017 555 0134",
        "+1 117 555 0134",
        "017 555 0134",
        "+1 617 555 013",
        "+1 617 555 01345",
        "+1234567890123456",
        "00 1234 5678 9012 3456",
        "+0 617 555 0134",
        "44 20 7946 0958",
        "",
    ],
)
def test_phones_without_a_full_number_are_refused(value):
    refused("phone", value, "INVALID_PHONE")


@pytest.mark.parametrize(
    "value", ["617-555-CALL", "617 555 0134 ext 2", "617_555_0134", "617/555/0134"]
)
def test_phones_with_letters_or_other_signs_are_refused(value):
    refused("phone", value, "INVALID_PHONE")


# -- access codes -------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["AB12CD34", "ab12cd34", "ab12-cd34", " AB12 CD34 ", "a-b-1-2 c d 3 4"]
)
def test_access_codes_lose_spaces_and_dashes_and_are_upper_cased(value):
    assert normalise("access_code", value) == "code:AB12CD34"


@pytest.mark.parametrize(
    "value", ["AB12C", "ab-12-c", "A" * 33, "AB12_CD34", "AB12.CD34", "ÄB12CD34", ""]
)
def test_bad_access_codes_are_refused(value):
    refused("access_code", value, "INVALID_ACCESS_CODE")


def test_access_code_length_bounds_are_accepted():
    assert normalise("access_code", "abc123") == "code:ABC123"
    assert normalise("access_code", "A" * 32) == "code:" + "A" * 32


def test_an_unknown_kind_is_refused_naming_the_kind():
    refused("passport", "X1234567", "INVALID_VOTER", field="voter.kind")


# -- voter_key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("email", ["Resident@Example.org", " resident@example.ORG "]),
        ("phone", ["(617) 555-0134", "+1 617 555 0134", "1.617.555.0134"]),
        ("access_code", ["ab12-cd34", "AB12CD34", "ab12 cd34"]),
    ],
)
def test_one_identity_in_different_spellings_gives_one_key(kind, spellings):
    keys = {voter_key(SECRET, CYCLE, kind, value) for value in spellings}

    assert len(keys) == 1


def test_different_identities_give_different_keys():
    keys = {
        voter_key(SECRET, CYCLE, "phone", "617 555 0134"),
        voter_key(SECRET, CYCLE, "phone", "617 555 0135"),
        voter_key(SECRET, CYCLE, "email", "resident@example.org"),
        voter_key(SECRET, CYCLE, "access_code", "AB12CD34"),
    }

    assert len(keys) == 4


def test_the_same_identity_in_another_cycle_gets_another_key():
    assert voter_key(SECRET, "boston-2027", "email", "a@example.org") != voter_key(
        SECRET, "boston-2028", "email", "a@example.org"
    )


def test_another_secret_gives_another_key():
    assert voter_key(SECRET, CYCLE, "email", "a@example.org") != voter_key(
        SECRET + b"x", CYCLE, "email", "a@example.org"
    )


def test_the_key_is_stable_for_the_same_inputs():
    assert voter_key(SECRET, CYCLE, "email", "a@example.org") == voter_key(
        SECRET, CYCLE, "email", "a@example.org"
    )


@pytest.mark.parametrize(
    ("kind", "value", "raw"),
    [
        ("email", "resident@example.org", "resident"),
        ("phone", "(617) 555-0134", "6175550134"),
        ("access_code", "AB12CD34", "AB12CD34"),
    ],
)
def test_the_key_is_64_hex_characters_and_hides_the_identity(kind, value, raw):
    key = voter_key(SECRET, CYCLE, kind, value)

    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert raw.lower() not in key
    assert CYCLE not in key


def test_voter_key_refuses_what_normalise_refuses():
    with pytest.raises(InvalidInput) as info:
        voter_key(SECRET, CYCLE, "phone", "555")

    assert (info.value.code, info.value.field) == ("INVALID_PHONE", "voter.value")


@pytest.mark.parametrize(
    "spelling",
    [
        "٦١٧٥٥٥٠١٠٠",  # Arabic-Indic digits
        "６１７５５５０１００",  # full-width digits
        "+१ ६१७ ५५५ ०१००",  # Devanagari digits
    ],
)
def test_digits_of_any_script_are_one_phone_number(spelling):
    # GIVEN the same number typed on another keyboard; THEN it is one identity
    assert normalise("phone", spelling) == normalise("phone", "617-555-0100")


def test_an_accented_email_is_one_identity_composed_or_not():
    composed = unicodedata.normalize("NFC", "josé@example.org")
    decomposed = unicodedata.normalize("NFD", "josé@example.org")
    assert composed != decomposed
    assert normalise("email", composed) == normalise("email", decomposed)


@pytest.mark.parametrize(
    "value, code",
    [
        ("jo\u200bse@example.org", "INVALID_VOTER"),  # zero-width space
        ("jo\x00se@example.org", "INVALID_VOTER"),
        ("jose@example.org.", "INVALID_EMAIL"),
        ("x" * 65 + "@example.org", "INVALID_EMAIL"),
        ("jose@" + "a" * 250 + ".org", "INVALID_EMAIL"),
    ],
)
def test_invisible_characters_and_overlong_emails_are_refused(value, code):
    with pytest.raises(InvalidInput) as refused:
        normalise("email", value)
    assert (refused.value.code, refused.value.field) == (code, "voter.value")


def test_full_width_access_codes_fold_to_ascii():
    assert normalise("access_code", "ＡＢＣ－１２３４") == normalise(
        "access_code", "abc1234"
    )


def test_an_international_domain_and_its_punycode_are_one_identity() -> None:
    assert normalise("email", "idn@bücher.example") == normalise(
        "email", "idn@xn--bcher-kva.example"
    )
    assert normalise("email", "Resident@EXÄMPLE.org") == normalise(
        "email", "resident@xn--exmple-cua.org"
    )
