"""The cycle: field validation, the calendar, the state machine and the hash."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from chalicelib.cycle import (
    PHASES,
    Cycle,
    Phase,
    PhaseWindow,
    Proposal,
    Transition,
    advance,
    ballot_hash,
    cycle_from_dict,
    cycle_to_dict,
    due_phase,
    next_phase,
    parse_time,
)
from chalicelib.errors import IllegalTransition, InvalidInput

pytestmark = pytest.mark.unit

START = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ORDER = (Phase.SCHEDULED, *PHASES)
VOTING_AT = ORDER.index(Phase.VOTING)
RESULTS_AT = ORDER.index(Phase.RESULTS)


def make_calendar(start: datetime = START) -> dict[Phase, PhaseWindow]:
    """Back-to-back one-day phases from ``start``."""
    return {
        phase: PhaseWindow(start + DAY * i, start + DAY * (i + 1))
        for i, phase in enumerate(PHASES)
    }


def make_proposals() -> tuple[Proposal, ...]:
    return (
        Proposal("p1", 40_000, {"en": "Bike racks", "es": "Bicicleteros"}),
        Proposal("p2", 75_000, {"en": "Library laptops"}, {"en": "Forty laptops"}),
        Proposal("p3", 0, {"en": "Free mural wall"}, department="arts"),
    )


def make_cycle(**changes) -> Cycle:
    fields = {
        "cycle_id": "boston-2027",
        "name": "Boston PB 2027",
        "budget_cap": 1_000_000,
        "selection_limit": 3,
        "min_voting_age": 11,
        "calendar": make_calendar(),
        "proposals": make_proposals(),
    }
    fields.update(changes)
    return Cycle(**fields)


def at(cycle: Cycle, phase: Phase) -> Cycle:
    """``cycle`` placed directly in ``phase`` (with the hashes it would have)."""
    return dataclasses.replace(
        cycle,
        phase=phase,
        ballot_hash=ballot_hash(cycle) if ORDER.index(phase) >= VOTING_AT else "",
        result_hash="sha256:r" if ORDER.index(phase) >= RESULTS_AT else "",
    )


def raises_invalid(field: str, **changes) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        make_cycle(**changes)
    assert info.value.field == field
    assert info.value.code == "INVALID_INPUT"
    return info.value


# -- field validation -------------------------------------------------------


def test_a_well_formed_cycle_starts_scheduled_at_version_zero():
    cycle = make_cycle()

    assert cycle.phase is Phase.SCHEDULED
    assert cycle.version == 0
    assert cycle.ballot_hash == ""
    assert cycle.result_hash == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cycle_id", ""),
        ("cycle_id", "boston 2027"),
        ("cycle_id", "boston/2027"),
        ("cycle_id", "---"),
        ("cycle_id", "a" * 65),
        ("cycle_id", "boston-2027\n"),
        ("budget_cap", 0),
        ("budget_cap", -5),
        ("budget_cap", 100.0),
        ("budget_cap", True),
        ("budget_cap", "1000"),
        ("selection_limit", 0),
        ("selection_limit", 2.0),
        ("selection_limit", True),
        ("min_voting_age", -1),
        ("min_voting_age", 121),
        ("min_voting_age", 11.5),
        ("min_voting_age", False),
        ("vote_type", "cumulativ"),
        ("vote_type", "ordinal"),
        ("rule", "equalshares"),
        ("tie_break", "random"),
        ("min_project_score", -1),
        ("min_project_score", 0.5),
        ("min_project_score", True),
        ("phase", "voting"),
        ("timezone", "America/Nowhere"),
        ("timezone", ""),
        ("timezone", "../etc/passwd"),
    ],
)
def test_a_bad_field_value_is_refused_naming_the_field(field, value):
    raises_invalid(field, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cycle_id", "a" * 64),
        ("cycle_id", "Boston_PB-2027"),
        ("budget_cap", 1),
        ("selection_limit", 1),
        ("min_voting_age", 0),
        ("min_voting_age", 120),
        ("vote_type", "choose-1"),
        ("vote_type", "cumulative"),
        ("rule", "greedy-no-skip"),
        ("rule", "greedy-threshold"),
        ("tie_break", "cost-asc"),
        ("tie_break", "cost-desc"),
        ("min_project_score", 5),
        ("timezone", "UTC"),
    ],
)
def test_boundary_values_are_accepted(field, value):
    assert getattr(make_cycle(**{field: value}), field) == value


@pytest.mark.parametrize(
    ("proposals", "field"),
    [
        ((Proposal("", 1, {"en": "x"}),), "proposals[0].proposal_id"),
        ((Proposal("p" * 65, 1, {"en": "x"}),), "proposals[0].proposal_id"),
        (
            (Proposal("p1", 1, {"en": "x"}), Proposal("p1", 2, {"en": "y"})),
            "proposals[1].proposal_id",
        ),
        ((Proposal("p1", -1, {"en": "x"}),), "proposals[0].cost"),
        ((Proposal("p1", 10.5, {"en": "x"}),), "proposals[0].cost"),
        ((Proposal("p1", True, {"en": "x"}),), "proposals[0].cost"),
        ((Proposal("p1", 1, {"es": "solo"}),), "proposals[0].title"),
        ((Proposal("p1", 1, {"en": ""}),), "proposals[0].title"),
        (
            (Proposal("p1", 1, {"en": "x"}), Proposal("p2", 1, {})),
            "proposals[1].title",
        ),
    ],
)
def test_a_bad_proposal_is_refused_naming_its_index_and_field(proposals, field):
    raises_invalid(field, proposals=proposals)


# -- calendar rules -----------------------------------------------------------


def test_a_calendar_missing_a_phase_is_refused_naming_it():
    calendar = make_calendar()
    del calendar[Phase.TALLY]

    error = raises_invalid("calendar", calendar=calendar)

    assert "tally" in error.message


def test_an_empty_calendar_is_refused():
    raises_invalid("calendar", calendar={})


@pytest.mark.parametrize("phase", PHASES)
def test_a_phase_that_does_not_end_after_it_starts_is_refused(phase):
    calendar = make_calendar()
    start = calendar[phase].start
    calendar[phase] = PhaseWindow(start, start)

    raises_invalid(f"calendar.{phase.value}", calendar=calendar)


def test_a_phase_ending_before_it_starts_is_refused():
    calendar = make_calendar()
    window = calendar[Phase.VOTING]
    calendar[Phase.VOTING] = PhaseWindow(window.end, window.start)

    raises_invalid("calendar.voting", calendar=calendar)


def test_overlapping_phases_are_refused_naming_the_later_phase():
    # GIVEN voting starting an hour before ballot review ends
    calendar = make_calendar()
    voting = calendar[Phase.VOTING]
    calendar[Phase.VOTING] = PhaseWindow(voting.start - timedelta(hours=1), voting.end)

    raises_invalid("calendar.voting", calendar=calendar)


def test_a_gap_between_phases_is_allowed():
    calendar = make_calendar()
    tally = calendar[Phase.TALLY]
    calendar[Phase.TALLY] = PhaseWindow(tally.start + timedelta(hours=2), tally.end)

    assert make_cycle(calendar=calendar).calendar[Phase.TALLY].start > (
        calendar[Phase.VOTING].end
    )


@pytest.mark.parametrize("end", ["start", "end"])
def test_naive_phase_times_are_refused(end):
    calendar = make_calendar()
    window = calendar[Phase.PRIORITIES]
    naive = {
        "start": window.start.replace(tzinfo=None),
        "end": window.end.replace(tzinfo=None),
    }
    calendar[Phase.PRIORITIES] = PhaseWindow(
        naive["start"] if end == "start" else window.start,
        naive["end"] if end == "end" else window.end,
    )

    raises_invalid("calendar.priorities", calendar=calendar)


def test_phase_times_in_any_zone_are_compared_as_instants():
    # GIVEN voting written in Boston time, starting exactly when review ends
    calendar = make_calendar()
    eastern = timezone(timedelta(hours=-5))
    voting = calendar[Phase.VOTING]
    calendar[Phase.VOTING] = PhaseWindow(
        voting.start.astimezone(eastern), voting.end.astimezone(eastern)
    )

    assert make_cycle(calendar=calendar).calendar[Phase.VOTING] == voting


# -- the state machine ------------------------------------------------------


def test_next_phase_walks_the_whole_order_and_stops():
    assert [next_phase(p) for p in ORDER] == [*PHASES, None]


LEGAL = {(a, b) for a, b in zip(ORDER, ORDER[1:], strict=False)}
ILLEGAL = [(a, b) for a in ORDER for b in ORDER if (a, b) not in LEGAL]


@pytest.mark.parametrize(("from_phase", "to_phase"), ILLEGAL)
def test_every_move_but_the_next_phase_is_illegal(from_phase, to_phase):
    cycle = at(make_cycle(), from_phase)

    with pytest.raises(IllegalTransition) as info:
        advance(
            cycle, to_phase, now=START, actor="a", reason="r", result_hash="sha256:r"
        )

    assert info.value.code == "ILLEGAL_TRANSITION"
    assert info.value.field == "phase"
    assert info.value.status == 409


def test_the_illegal_pairs_are_all_pairs_but_the_nine_steps():
    assert len(LEGAL) == 9
    assert len(ILLEGAL) == len(ORDER) ** 2 - 9


@pytest.mark.parametrize(("from_phase", "to_phase"), sorted(LEGAL))
def test_each_legal_step_increments_the_version_and_records_it(from_phase, to_phase):
    cycle = dataclasses.replace(at(make_cycle(), from_phase), version=7)
    now = START + timedelta(hours=5)

    after, transition = advance(
        cycle,
        to_phase,
        now=now,
        actor="staff:ana",
        reason="by hand",
        result_hash="sha256:r",
    )

    assert after.phase is to_phase
    assert after.version == 8
    assert cycle.version == 7  # the input is not changed
    assert transition == Transition(
        cycle_id="boston-2027",
        from_phase=from_phase,
        to_phase=to_phase,
        at=now,
        actor="staff:ana",
        reason="by hand",
        from_version=7,
    )


def test_entering_voting_freezes_the_ballot_hash():
    cycle = at(make_cycle(), Phase.BALLOT_REVIEW)
    assert cycle.ballot_hash == ""

    after, _ = advance(cycle, Phase.VOTING, now=START, actor="a", reason="r")

    assert after.ballot_hash == ballot_hash(cycle)
    assert after.ballot_hash.startswith("sha256:")
    assert len(after.ballot_hash) == len("sha256:") + 64


def test_only_entering_voting_sets_the_ballot_hash():
    cycle = make_cycle()

    after, _ = advance(cycle, Phase.IDEA_COLLECTION, now=START, actor="a", reason="r")

    assert after.ballot_hash == ""


def test_an_empty_ballot_cannot_open_voting():
    cycle = at(make_cycle(proposals=()), Phase.BALLOT_REVIEW)

    with pytest.raises(IllegalTransition) as info:
        advance(cycle, Phase.VOTING, now=START, actor="a", reason="r")

    assert info.value.code == "ILLEGAL_TRANSITION"
    assert info.value.field == "proposals"


def test_results_need_a_result_hash():
    cycle = at(make_cycle(), Phase.TALLY)

    with pytest.raises(IllegalTransition) as info:
        advance(cycle, Phase.RESULTS, now=START, actor="a", reason="r")

    assert info.value.code == "ILLEGAL_TRANSITION"
    assert info.value.field == "result"


def test_entering_results_records_the_result_hash():
    cycle = at(make_cycle(), Phase.TALLY)

    after, _ = advance(
        cycle, Phase.RESULTS, now=START, actor="a", reason="r", result_hash="sha256:x"
    )

    assert after.result_hash == "sha256:x"
    assert after.ballot_hash == cycle.ballot_hash


def test_walking_every_phase_from_scheduled_reaches_implementation():
    cycle = make_cycle()
    transitions = []

    for phase in PHASES:
        cycle, transition = advance(
            cycle, phase, now=START, actor="a", reason="r", result_hash="sha256:r"
        )
        transitions.append(transition)

    assert cycle.phase is Phase.IMPLEMENTATION
    assert cycle.version == len(PHASES)
    assert [t.from_version for t in transitions] == list(range(len(PHASES)))
    assert next_phase(cycle.phase) is None


# -- due_phase ----------------------------------------------------------------


def test_a_scheduled_cycle_is_due_for_idea_collection_at_its_start():
    cycle = make_cycle()
    start = cycle.calendar[Phase.IDEA_COLLECTION].start

    assert due_phase(cycle, start - timedelta(seconds=1)) is None
    assert due_phase(cycle, start) is Phase.IDEA_COLLECTION
    assert due_phase(cycle, start + timedelta(days=400)) is Phase.IDEA_COLLECTION


@pytest.mark.parametrize("phase", PHASES[:-1])
def test_each_phase_is_due_to_close_at_its_end_inclusive(phase):
    cycle = at(make_cycle(), phase)
    end = cycle.calendar[phase].end

    assert due_phase(cycle, end - timedelta(microseconds=1)) is None
    assert due_phase(cycle, end) is next_phase(phase)
    assert due_phase(cycle, end + DAY) is next_phase(phase)


def test_implementation_has_no_successor_even_long_after_its_end():
    cycle = at(make_cycle(), Phase.IMPLEMENTATION)
    end = cycle.calendar[Phase.IMPLEMENTATION].end

    assert due_phase(cycle, end) is None
    assert due_phase(cycle, end + DAY * 3650) is None


def test_due_phase_moves_one_step_at_a_time_even_when_far_behind():
    # GIVEN a scheduled cycle and a clock past every phase
    cycle = make_cycle()
    late = cycle.calendar[Phase.IMPLEMENTATION].end + DAY

    assert due_phase(cycle, late) is Phase.IDEA_COLLECTION


# -- ballot_hash ------------------------------------------------------------


def test_the_same_cycle_always_hashes_the_same():
    assert ballot_hash(make_cycle()) == ballot_hash(make_cycle())


def test_the_ballot_hash_ignores_phase_version_name_and_calendar():
    cycle = make_cycle()
    other = dataclasses.replace(
        cycle,
        name="Renamed",
        phase=Phase.VOTING,
        version=9,
        calendar=make_calendar(START + DAY * 30),
    )

    assert ballot_hash(other) == ballot_hash(cycle)


def test_the_ballot_hash_is_independent_of_dict_insertion_order():
    titles = make_proposals()
    reordered = tuple(
        dataclasses.replace(
            p,
            title=dict(reversed(list(p.title.items()))),
            summary=dict(reversed(list(p.summary.items()))),
        )
        for p in titles
    )
    assert list(reordered[0].title) == ["es", "en"]

    assert ballot_hash(make_cycle(proposals=reordered)) == ballot_hash(make_cycle())


def _with_first_proposal(**changes) -> Cycle:
    first, *rest = make_proposals()
    return make_cycle(proposals=(dataclasses.replace(first, **changes), *rest))


@pytest.mark.parametrize(
    "changed",
    [
        lambda: _with_first_proposal(cost=40_001),
        lambda: _with_first_proposal(title={"en": "Bike racks!", "es": "Bicicleteros"}),
        lambda: _with_first_proposal(title={"en": "Bike racks", "es": "Otro"}),
        lambda: _with_first_proposal(summary={"en": "New"}),
        lambda: _with_first_proposal(department="transport"),
        lambda: make_cycle(selection_limit=2),
        lambda: make_cycle(budget_cap=999_999),
        lambda: make_cycle(min_voting_age=12),
        lambda: make_cycle(vote_type="choose-1"),
        lambda: make_cycle(rule="greedy-no-skip"),
        lambda: make_cycle(tie_break="cost-asc"),
        lambda: make_cycle(min_project_score=1),
        lambda: make_cycle(cycle_id="boston-2028"),
        lambda: make_cycle(proposals=tuple(reversed(make_proposals()))),
    ],
    ids=[
        "cost",
        "title-en",
        "title-es",
        "summary",
        "department",
        "selection_limit",
        "budget_cap",
        "min_voting_age",
        "vote_type",
        "rule",
        "tie_break",
        "min_project_score",
        "cycle_id",
        "ballot-order",
    ],
)
def test_changing_what_a_voter_sees_changes_the_ballot_hash(changed):
    assert ballot_hash(changed()) != ballot_hash(make_cycle())


# -- serialisation ------------------------------------------------------------


def test_a_cycle_survives_a_round_trip_through_a_dict():
    cycle = make_cycle(
        phase=Phase.RESULTS,
        version=8,
        vote_type="choose-1",
        rule="greedy-threshold",
        tie_break="cost-desc",
        min_project_score=3,
        timezone="UTC",
        languages=("en", "es", "zh"),
        ballot_hash="sha256:b",
        result_hash="sha256:r",
    )

    assert cycle_from_dict(cycle_to_dict(cycle)) == cycle


def test_a_round_trip_keeps_times_given_in_another_zone_as_the_same_instant():
    eastern = timezone(timedelta(hours=-5))
    calendar = {
        phase: PhaseWindow(w.start.astimezone(eastern), w.end.astimezone(eastern))
        for phase, w in make_calendar().items()
    }
    cycle = make_cycle(calendar=calendar)

    data = cycle_to_dict(cycle)

    assert data["calendar"]["voting"]["start"] == "2027-01-06T12:00:00Z"
    assert cycle_from_dict(data) == cycle


def test_cycle_from_dict_fills_defaults_for_optional_fields():
    data = cycle_to_dict(make_cycle())
    for name in ("name", "phase", "version", "vote_type", "rule", "languages"):
        del data[name]

    cycle = cycle_from_dict(data)

    assert cycle.name == "boston-2027"
    assert cycle.phase is Phase.SCHEDULED
    assert cycle.version == 0
    assert cycle.vote_type == "approval"
    assert cycle.rule == "greedy"
    assert cycle.languages == ("en",)


@pytest.mark.parametrize(
    "name", ["cycle_id", "budget_cap", "selection_limit", "min_voting_age", "calendar"]
)
def test_cycle_from_dict_names_a_missing_required_field(name):
    data = cycle_to_dict(make_cycle())
    del data[name]

    with pytest.raises(InvalidInput) as info:
        cycle_from_dict(data)

    assert info.value.field == name


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phase": "counting"}, "cycle"),
        ({"version": "one"}, "cycle"),
        ({"budget_cap": -1}, "budget_cap"),
        ({"calendar": []}, "calendar"),
        ({"calendar": {"lunch": {}}}, "calendar"),
        (
            {"calendar": {"voting": {"start": "2027-01-01T00:00:00Z"}}},
            "calendar.voting",
        ),
    ],
)
def test_cycle_from_dict_refuses_malformed_data(changes, field):
    data = {**cycle_to_dict(make_cycle()), **changes}

    with pytest.raises(InvalidInput) as info:
        cycle_from_dict(data)

    assert info.value.field == field


def test_cycle_from_dict_refuses_a_fractional_cost():
    # GIVEN submitted data whose first cost has cents
    data = cycle_to_dict(make_cycle())
    data["proposals"][0]["cost"] = 40_000.5

    with pytest.raises(InvalidInput) as info:
        cycle_from_dict(data)

    assert info.value.field == "proposals[0].cost"


def test_cycle_from_dict_names_the_bad_time_of_a_phase():
    data = cycle_to_dict(make_cycle())
    data["calendar"]["tally"]["end"] = "2027-01-09T12:00:00"

    with pytest.raises(InvalidInput) as info:
        cycle_from_dict(data)

    assert info.value.field == "calendar.tally.end"


# -- parse_time ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2027-01-15T14:00:00Z",
        "2027-01-15T14:00:00+00:00",
        "2027-01-15T09:00:00-05:00",
        "2027-01-15T15:00:00+01:00",
        "2027-01-15T14:00:00.000Z",
    ],
)
def test_parse_time_reads_any_offset_into_utc(text):
    moment = parse_time(text)

    assert moment == datetime(2027, 1, 15, 14, 0, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["2027-01-15T14:00:00", "2027-01-15"])
def test_parse_time_refuses_a_time_without_a_zone(text):
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="calendar.voting.start")

    assert info.value.code == "INVALID_TIME"
    assert info.value.field == "calendar.voting.start"


@pytest.mark.parametrize(
    "text",
    ["", "soon", "2027-13-01T00:00:00Z", "2027-01-15T25:00:00Z", None, 1700000000],
)
def test_parse_time_refuses_garbage_naming_the_field(text):
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="opens_at")

    assert info.value.field == "opens_at"


def test_parse_time_names_a_default_field():
    with pytest.raises(InvalidInput) as info:
        parse_time("never")

    assert info.value.field == "time"


# -- first_voting_day ---------------------------------------------------------


def test_first_voting_day_is_the_boston_date_voting_opens():
    # GIVEN voting opening at 03:00 UTC, which is 22:00 the evening before in Boston
    calendar = make_calendar(datetime(2027, 1, 10, 3, 0, tzinfo=UTC))
    assert calendar[Phase.VOTING].start == datetime(2027, 1, 15, 3, 0, tzinfo=UTC)

    cycle = make_cycle(calendar=calendar)

    assert cycle.first_voting_day == date(2027, 1, 14)


def test_first_voting_day_follows_the_cycle_time_zone():
    calendar = make_calendar(datetime(2027, 1, 10, 3, 0, tzinfo=UTC))

    assert make_cycle(calendar=calendar, timezone="UTC").first_voting_day == date(
        2027, 1, 15
    )


def test_first_voting_day_after_five_utc_is_the_same_date():
    calendar = make_calendar(datetime(2027, 1, 10, 5, 0, tzinfo=UTC))

    assert make_cycle(calendar=calendar).first_voting_day == date(2027, 1, 15)


# -- small helpers ------------------------------------------------------------


def test_proposal_lookup_and_current_window():
    cycle = at(make_cycle(), Phase.VOTING)

    assert cycle.proposal("p2").title["en"] == "Library laptops"
    assert cycle.proposal("nope") is None
    assert cycle.window() == cycle.calendar[Phase.VOTING]
    assert make_cycle().window() is None


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00-05:00",  # would format as a 3-digit year
        "1999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",  # overflows when converted to UTC
        "2101-01-01T00:00:00Z",
    ],
)
def test_parse_time_refuses_years_outside_the_supported_range(text):
    with pytest.raises(InvalidInput) as info:
        parse_time(text, field="calendar.implementation.end")

    assert (info.value.code, info.value.field) == (
        "INVALID_TIME",
        "calendar.implementation.end",
    )


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"proposal_id": "\u202eevil"}, "proposals[0].proposal_id"),
        ({"proposal_id": " p1"}, "proposals[0].proposal_id"),
        ({"department": "\x00\x1b[31m"}, "proposals[0].department"),
        ({"department": "d" * 121}, "proposals[0].department"),
    ],
)
def test_proposal_ids_and_departments_are_plain_text(changes, field):
    proposal = dataclasses.replace(make_proposals()[0], **changes)
    with pytest.raises(InvalidInput) as info:
        make_cycle(proposals=(proposal,))
    assert info.value.field == field


# -- verification methods ------------------------------------------------------


def test_a_cycle_offers_every_method_but_attested_by_default():
    from chalicelib.cycle import DEFAULT_VERIFICATION

    cycle = make_cycle()
    assert cycle.verification == DEFAULT_VERIFICATION
    assert not cycle.offers("attested")
    assert all(cycle.offers(m) for m in ("sms", "email", "access_code", "in_person"))


@pytest.mark.parametrize(
    "methods", [(), ("sms", "sms"), ("sms", "fax"), ["sms"], ("sms", 1)]
)
def test_verification_is_a_non_empty_set_of_known_methods(methods):
    with pytest.raises(InvalidInput) as refused:
        make_cycle(verification=methods)
    assert refused.value.field == "verification"


def test_verification_survives_storage_and_old_documents_get_the_default():
    from chalicelib.cycle import DEFAULT_VERIFICATION, cycle_from_dict, cycle_to_dict

    cycle = make_cycle(verification=("attested",))
    document = cycle_to_dict(cycle)
    assert document["verification"] == ["attested"]
    assert cycle_from_dict(document) == cycle
    del document["verification"]
    assert cycle_from_dict(document).verification == DEFAULT_VERIFICATION
