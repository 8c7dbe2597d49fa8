from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import passes
from chalicelib.errors import InvalidInput

SECRET = b"k" * 32
NOW = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)


def _issue(**overrides) -> str:
    claims = {"cycle_id": "2027", "voter_key": "ab" * 32, "method": "sms", "now": NOW}
    return passes.issue(SECRET, **{**claims, **overrides})


def test_a_pass_reads_back_what_it_was_issued_for() -> None:
    read = passes.read(SECRET, _issue(), cycle_id="2027", now=NOW)

    assert read == passes.VoterPass(
        "2027", "ab" * 32, "sms", int(NOW.timestamp()) + 1800
    )


def test_a_pass_expires_after_its_lifetime() -> None:
    later = NOW + passes.PASS_LIFETIME

    with pytest.raises(InvalidInput) as refused:
        passes.read(SECRET, _issue(), cycle_id="2027", now=later)

    assert refused.value.code == "PASS_EXPIRED"
    assert passes.read(
        SECRET, _issue(), cycle_id="2027", now=later - timedelta(seconds=1)
    )


def _tampered_claims() -> str:
    version, body, signature = _issue().split(".")
    other = _issue(voter_key="cd" * 32).split(".")[1]
    return f"{version}.{other}.{signature}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "p1.abc",
        "p2." + _issue().split(".", 1)[1],
        _tampered_claims(),
        _issue()[:-2] + "AA",
        passes.issue(b"x" * 32, cycle_id="2027", voter_key="ab", method="sms", now=NOW),
        _issue(cycle_id="2026"),
        "p1." + "A" * 2000,
        None,
        42,
    ],
)
def test_forged_damaged_or_foreign_passes_are_refused(token) -> None:
    with pytest.raises(InvalidInput) as refused:
        passes.read(SECRET, token, cycle_id="2027", now=NOW)

    assert refused.value.code == "PASS_INVALID"
    assert refused.value.field == "voter.value"


def test_unknown_methods_cannot_be_issued() -> None:
    with pytest.raises(ValueError):
        _issue(method="carrier-pigeon")
