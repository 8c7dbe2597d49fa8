import pytest

from chalicelib import accesscodes
from chalicelib.errors import InvalidInput


def test_new_codes_are_twelve_symbols_of_the_alphabet_and_differ() -> None:
    codes = {accesscodes.new_code() for _ in range(2000)}

    assert len(codes) == 2000
    assert all(len(c) == 12 and set(c) <= set(accesscodes.ALPHABET) for c in codes)


def test_display_groups_by_four() -> None:
    assert accesscodes.display("7KQ2M9XD4HTB") == "7KQ2-M9XD-4HTB"


@pytest.mark.parametrize(
    "typed",
    ["7kq2-m9xd-4htb", " 7KQ2 M9XD 4HTB ", "７ＫＱ２Ｍ９ＸＤ４ＨＴＢ", "7KQ2M9XD4HTB"],
)
def test_typed_codes_are_read_forgivingly(typed: str) -> None:
    assert accesscodes.canonical(typed) == "7KQ2M9XD4HTB"


def test_letters_that_look_like_digits_read_as_digits() -> None:
    assert accesscodes.canonical("OOOO-IIII-LLLL") == "000011111111"


@pytest.mark.parametrize(
    "typed", ["", "7KQ2-M9XD-4HT", "7KQ2-M9XD-4HTBX", "7KQ2-M9XD-4HTU"]
)
def test_malformed_codes_are_refused_with_the_field(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        accesscodes.canonical(typed, field="code")

    assert refused.value.code == "INVALID_ACCESS_CODE"
    assert refused.value.field == "code"


def test_code_key_depends_on_secret_cycle_and_code() -> None:
    key = accesscodes.code_key(b"s" * 32, "2027", "7KQ2M9XD4HTB")

    assert key != accesscodes.code_key(b"t" * 32, "2027", "7KQ2M9XD4HTB")
    assert key != accesscodes.code_key(b"s" * 32, "2028", "7KQ2M9XD4HTB")
    assert key != accesscodes.code_key(b"s" * 32, "2027", "7KQ2M9XD4HTC")
    assert "7KQ2M9XD4HTB" not in key
