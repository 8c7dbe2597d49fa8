"""The cast-ballot request: shape, codes and fields, and the ballot check."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.ballot import (
    AGE_BRACKETS,
    NEIGHBOURHOODS,
    Attestation,
    CastRequest,
    check_selections,
    parse_cast_request,
)
from chalicelib.cycle import PHASES, Cycle, PhaseWindow, Proposal
from chalicelib.errors import InvalidInput

pytestmark = pytest.mark.unit

START = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)


def body(**changes) -> dict:
    data = {
        "selections": ["p1", "p2"],
        "attestation": {"boston_resident": True, "birth_date": "2000-05-17"},
        "voter": {"kind": "email", "value": "resident@example.org"},
    }
    data.update(changes)
    return data


def with_attestation(**attestation) -> dict:
    return body(attestation=attestation)


def refused(data: object, code: str, field: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_cast_request(data)
    assert (info.value.code, info.value.field) == (code, field)
    assert info.value.status == 400
    return info.value


def make_cycle(selection_limit: int = 2) -> Cycle:
    day = timedelta(days=1)
    return Cycle(
        cycle_id="boston-2027",
        name="Boston PB 2027",
        budget_cap=100_000,
        selection_limit=selection_limit,
        min_voting_age=11,
        calendar={
            p: PhaseWindow(START + day * i, START + day * (i + 1))
            for i, p in enumerate(PHASES)
        },
        proposals=tuple(
            Proposal(f"p{i}", 10_000 * i, {"en": f"Project {i}"}) for i in (1, 2, 3)
        ),
    )


# -- valid requests -----------------------------------------------------------


def test_a_request_with_a_birth_date_is_parsed():
    request = parse_cast_request(body())

    assert request == CastRequest(
        selections=("p1", "p2"),
        attestation=Attestation(True, birth_date=date(2000, 5, 17)),
        voter_kind="email",
        voter_value="resident@example.org",
    )


def test_a_request_with_a_stated_age_is_parsed():
    request = parse_cast_request(with_attestation(boston_resident=True, age=16))

    assert request.attestation == Attestation(True, age=16)


def test_a_request_from_a_sixth_grader_is_parsed():
    request = parse_cast_request(
        with_attestation(boston_resident=True, sixth_grade=True)
    )

    assert request.attestation == Attestation(True, sixth_grade=True)


def test_a_non_resident_attestation_parses_for_eligibility_to_refuse():
    request = parse_cast_request(with_attestation(boston_resident=False, age=40))

    assert request.attestation.boston_resident is False


@pytest.mark.parametrize("kind", ["access_code", "email", "phone"])
def test_every_voter_kind_is_accepted(kind):
    request = parse_cast_request(body(voter={"kind": kind, "value": "x"}))

    assert request.voter_kind == kind


def test_optional_neighbourhood_and_age_bracket_are_kept():
    request = parse_cast_request(body(neighbourhood="roxbury", age_bracket="25-34"))

    assert request.neighbourhood == "roxbury"
    assert request.age_bracket == "25-34"


def test_optional_fields_given_as_null_are_absent():
    request = parse_cast_request(body(neighbourhood=None, age_bracket=None))

    assert request.neighbourhood is None
    assert request.age_bracket is None


@pytest.mark.parametrize("age", [0, 130])
def test_age_bounds_are_accepted(age):
    request = parse_cast_request(with_attestation(boston_resident=True, age=age))

    assert request.attestation.age == age


def test_a_selection_of_64_characters_is_accepted():
    request = parse_cast_request(body(selections=["p" * 64]))

    assert request.selections == ("p" * 64,)


def test_parsing_does_not_change_the_body():
    data = body(neighbourhood="fenway")
    before = copy.deepcopy(data)

    parse_cast_request(data)

    assert data == before


# -- refused requests: shape ------------------------------------------------


@pytest.mark.parametrize("data", [None, [], "ballot", 3, ["selections"]])
def test_a_body_that_is_not_an_object_is_refused(data):
    refused(data, "INVALID_TYPE", "body")


@pytest.mark.parametrize("name", ["selections", "attestation", "voter"])
def test_a_missing_required_field_is_named(name):
    data = body()
    del data[name]

    refused(data, "MISSING_FIELD", name)


def test_an_empty_body_names_the_first_missing_field():
    refused({}, "MISSING_FIELD", "selections")


def test_an_unknown_top_level_field_is_named():
    refused(body(ballot_id="b-1"), "UNKNOWN_FIELD", "ballot_id")


def test_unknown_fields_are_checked_before_missing_ones():
    refused({"zebra": 1}, "UNKNOWN_FIELD", "zebra")


def test_the_first_unknown_field_in_sorted_order_is_named():
    refused(body(zz=1, aa=2), "UNKNOWN_FIELD", "aa")


def test_an_unknown_voter_field_is_named_with_its_path():
    refused(
        body(voter={"kind": "email", "value": "a@b.org", "x": 1}),
        "UNKNOWN_FIELD",
        "voter.x",
    )


def test_an_unknown_attestation_field_is_named_with_its_path():
    refused(
        with_attestation(boston_resident=True, age=30, x=1),
        "UNKNOWN_FIELD",
        "attestation.x",
    )


@pytest.mark.parametrize("name", ["voter", "attestation"])
@pytest.mark.parametrize("value", [None, "yes", ["kind"], 1])
def test_a_nested_part_that_is_not_an_object_is_refused(name, value):
    refused(body(**{name: value}), "INVALID_TYPE", name)


# -- refused requests: selections ---------------------------------------------


@pytest.mark.parametrize(
    "selections",
    [
        "p1",
        {"p1": True},
        None,
        ["p1", 2],
        ["p1", None],
        [""],
        ["p" * 65],
        [["p1"]],
    ],
)
def test_selections_that_are_not_a_list_of_ids_are_refused(selections):
    refused(body(selections=selections), "INVALID_SELECTIONS", "selections")


def test_an_empty_selection_is_refused():
    refused(body(selections=[]), "NO_SELECTION", "selections")


def test_a_proposal_chosen_twice_is_refused():
    refused(body(selections=["p1", "p2", "p1"]), "DUPLICATE_SELECTION", "selections")


# -- refused requests: voter --------------------------------------------------


@pytest.mark.parametrize("kind", [None, "", "EMAIL", "passport", 1])
def test_an_unknown_voter_kind_is_refused(kind):
    refused(body(voter={"kind": kind, "value": "x"}), "INVALID_VOTER", "voter.kind")


def test_a_voter_without_a_kind_is_refused():
    refused(body(voter={"value": "x"}), "INVALID_VOTER", "voter.kind")


@pytest.mark.parametrize("value", [None, "", "   ", 6175550134, "x" * 321])
def test_a_missing_or_bad_voter_value_is_refused(value):
    refused(
        body(voter={"kind": "phone", "value": value}), "INVALID_VOTER", "voter.value"
    )


def test_a_voter_without_a_value_is_refused():
    refused(body(voter={"kind": "email"}), "INVALID_VOTER", "voter.value")


def test_a_voter_value_of_320_characters_is_accepted():
    request = parse_cast_request(body(voter={"kind": "email", "value": "x" * 320}))

    assert len(request.voter_value) == 320


# -- refused requests: attestation --------------------------------------------


@pytest.mark.parametrize("resident", [None, "true", 1, 0])
def test_residency_must_be_true_or_false(resident):
    refused(
        with_attestation(boston_resident=resident, age=30),
        "MISSING_FIELD",
        "attestation.boston_resident",
    )


def test_a_missing_residency_answer_is_refused():
    refused(with_attestation(age=30), "MISSING_FIELD", "attestation.boston_resident")


@pytest.mark.parametrize(
    "proofs",
    [
        {},
        {"age": 30, "birth_date": "1997-01-01"},
        {"age": 12, "sixth_grade": True},
        {"birth_date": "2015-01-01", "sixth_grade": True},
        {"age": 12, "birth_date": "2015-01-01", "sixth_grade": True},
    ],
)
def test_exactly_one_proof_of_age_is_required(proofs):
    refused(
        with_attestation(boston_resident=True, **proofs),
        "INVALID_ATTESTATION",
        "attestation",
    )


@pytest.mark.parametrize("value", [False, None, "true", 1])
def test_sixth_grade_can_only_be_true(value):
    refused(
        with_attestation(boston_resident=True, sixth_grade=value),
        "INVALID_ATTESTATION",
        "attestation.sixth_grade",
    )


@pytest.mark.parametrize("age", [True, False, 16.0, 16.5, "16", None, -1, 131])
def test_a_bad_age_is_refused(age):
    refused(
        with_attestation(boston_resident=True, age=age),
        "INVALID_AGE",
        "attestation.age",
    )


@pytest.mark.parametrize(
    "birth_date",
    [
        "2010-2-1",
        "2010-02-30",
        "2010-13-01",
        "20100201",
        "2010/02/01",
        "01-02-2010",
        "2010-02-01T00:00",
        " 2010-02-01",
        "2010-W05-3",
        "",
        None,
        20100201,
    ],
)
def test_a_birth_date_not_written_yyyy_mm_dd_is_refused(birth_date):
    refused(
        with_attestation(boston_resident=True, birth_date=birth_date),
        "INVALID_DATE",
        "attestation.birth_date",
    )


# -- refused requests: optional choices ---------------------------------------


@pytest.mark.parametrize("value", ["Roxbury", "cambridge", "", 3, ["roxbury"]])
def test_an_unknown_neighbourhood_is_refused(value):
    refused(body(neighbourhood=value), "INVALID_CHOICE", "neighbourhood")


@pytest.mark.parametrize("value", ["10-17", "65", "", 30])
def test_an_unknown_age_bracket_is_refused(value):
    refused(body(age_bracket=value), "INVALID_CHOICE", "age_bracket")


@pytest.mark.parametrize("value", NEIGHBOURHOODS)
def test_every_neighbourhood_is_accepted(value):
    assert parse_cast_request(body(neighbourhood=value)).neighbourhood == value


@pytest.mark.parametrize("value", AGE_BRACKETS)
def test_every_age_bracket_is_accepted(value):
    assert parse_cast_request(body(age_bracket=value)).age_bracket == value


# -- fingerprint --------------------------------------------------------------


def test_the_fingerprint_ignores_the_order_of_selections():
    one = parse_cast_request(body(selections=["p1", "p2", "p3"]))
    other = parse_cast_request(body(selections=["p3", "p1", "p2"]))

    assert one.fingerprint() == other.fingerprint()


def test_the_fingerprint_leaves_the_voter_and_attestation_out():
    one = parse_cast_request(body())
    other = parse_cast_request(
        body(
            voter={"kind": "phone", "value": "617 555 0134"},
            attestation={"boston_resident": True, "age": 70},
            neighbourhood="mattapan",
        )
    )

    assert one.fingerprint() == other.fingerprint()


def test_the_fingerprint_changes_with_the_selections():
    one = parse_cast_request(body(selections=["p1", "p2"]))
    other = parse_cast_request(body(selections=["p1", "p3"]))
    fewer = parse_cast_request(body(selections=["p1"]))

    assert len({one.fingerprint(), other.fingerprint(), fewer.fingerprint()}) == 3


def test_the_fingerprint_is_64_hex_characters_without_the_voter():
    request = parse_cast_request(body())
    fingerprint = request.fingerprint()

    assert len(fingerprint) == 64
    assert set(fingerprint) <= set("0123456789abcdef")
    assert "resident" not in fingerprint


# -- check_selections ---------------------------------------------------------


def test_selections_within_the_limit_and_on_the_ballot_pass():
    request = parse_cast_request(body(selections=["p3", "p1"]))

    assert check_selections(request, make_cycle()) is None


def test_more_selections_than_the_limit_are_refused():
    request = parse_cast_request(body(selections=["p1", "p2", "p3"]))

    with pytest.raises(InvalidInput) as info:
        check_selections(request, make_cycle(selection_limit=2))

    assert (info.value.code, info.value.field) == ("TOO_MANY_SELECTIONS", "selections")


def test_the_selection_limit_itself_is_allowed():
    request = parse_cast_request(body(selections=["p1", "p2", "p3"]))

    assert check_selections(request, make_cycle(selection_limit=3)) is None


def test_a_proposal_not_on_the_ballot_is_named_by_index():
    request = parse_cast_request(body(selections=["p1", "p2", "p9"]))

    with pytest.raises(InvalidInput) as info:
        check_selections(request, make_cycle(selection_limit=3))

    assert (info.value.code, info.value.field) == ("UNKNOWN_PROPOSAL", "selections[2]")
    assert "p9" in info.value.message


def test_the_first_unknown_proposal_is_the_one_named():
    request = parse_cast_request(body(selections=["x1", "p1", "x2"]))

    with pytest.raises(InvalidInput) as info:
        check_selections(request, make_cycle(selection_limit=3))

    assert info.value.field == "selections[0]"


def test_the_limit_is_checked_before_the_ids():
    request = parse_cast_request(body(selections=["x1", "x2", "x3"]))

    with pytest.raises(InvalidInput) as info:
        check_selections(request, make_cycle(selection_limit=2))

    assert info.value.code == "TOO_MANY_SELECTIONS"


# -- the voter: a pass, an access code with or without a contact --------------


def test_a_pass_is_taken_as_is_and_may_be_long():
    token = "p1." + "a" * 600 + ".sig"
    request = parse_cast_request(body(voter={"kind": "pass", "value": token}))
    assert (request.voter_kind, request.voter_value) == ("pass", token)
    assert request.voter_contact is None


def test_an_access_code_may_carry_a_phone_or_email():
    request = parse_cast_request(
        body(
            voter={
                "kind": "access_code",
                "value": "7KQ2-M9XD-4HTB",
                "contact": {"kind": "phone", "value": "617 555 0134"},
            }
        )
    )
    assert request.voter_contact == ("phone", "617 555 0134")


@pytest.mark.parametrize(
    "voter, code, field",
    [
        ({"kind": "email", "value": "a@b.org", "contact": {}}, "UNKNOWN_FIELD",
         "voter.contact"),
        ({"kind": "access_code", "value": "X", "contact": "617"}, "INVALID_TYPE",
         "voter.contact"),
        ({"kind": "access_code", "value": "X", "contact": {"kind": "fax",
          "value": "1"}}, "INVALID_VOTER", "voter.contact.kind"),
        ({"kind": "access_code", "value": "X", "contact": {"kind": "phone"}},
         "INVALID_VOTER", "voter.contact.value"),
        ({"kind": "access_code", "value": "X", "contact": {"kind": "phone",
          "value": "1", "x": 1}}, "UNKNOWN_FIELD", "voter.contact.x"),
        ({"kind": "pass", "value": "p" * 1025}, "INVALID_VOTER", "voter.value"),
    ],
)  # fmt: skip
def test_bad_voter_contacts_name_their_field(voter, code, field):
    refused(body(voter=voter), code, field)
