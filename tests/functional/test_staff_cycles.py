"""Creating cycles and editing their calendar through the staff API."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from app import app
from chalicelib.cycle import PHASES, format_time
from tests.functional.conftest import assert_refused, ledger, staff_call

pytestmark = pytest.mark.functional


@pytest.fixture
def client(staff_services):
    with Client(app) as test_client:
        yield test_client


def calendar_from(base: datetime) -> dict:
    """Each phase a day long, a day apart, from ``base``."""
    return {
        phase.value: {
            "start": format_time(base + timedelta(days=2 * i)),
            "end": format_time(base + timedelta(days=2 * i + 1)),
        }
        for i, phase in enumerate(PHASES)
    }


def new_cycle(cycle_id: str, *, base: datetime | None = None, **changes) -> dict:
    base = base or datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body = {
        "cycle_id": cycle_id,
        "name": "Boston PB 2027",
        "budget_cap": 1_000_000,
        "selection_limit": 5,
        "min_voting_age": 11,
        "languages": ["en", "es"],
        "calendar": calendar_from(base),
        "proposals": [
            {
                "proposal_id": "trees",
                "cost": 400_000,
                "title": {"en": "Street trees", "es": "Árboles"},
                "department": "Parks",
            },
            {"proposal_id": "laptops", "cost": 250_000, "title": {"en": "Laptops"}},
        ],
    }
    body.update(changes)
    return body


def test_office_admin_creates_a_cycle_that_is_audited(
    client, staff_services, staff_stack
):
    answer = staff_call(
        client,
        "POST",
        "/staff/cycles",
        staff_stack.token("admin"),
        new_cycle("created", reason="the 2027 cycle"),
    )

    assert answer.status_code == 201
    assert answer.json_body["phase"] == "scheduled"
    assert answer.json_body["version"] == 0
    stored = staff_services.store.get_cycle("created")
    assert stored.languages == ("en", "es")
    assert [p.proposal_id for p in stored.proposals] == ["trees", "laptops"]
    (entry,) = staff_services.store.audit_entries("created")
    assert entry["action"] == "cycle_created"
    assert entry["actor"] == "staff:admin"
    assert entry["reason"] == "the 2027 cycle"
    assert entry["before"] is None
    assert entry["after"]["budget_cap"] == 1_000_000
    assert entry["after"]["proposals"] == [["trees", 400_000], ["laptops", 250_000]]
    # The first cycle of a fresh stage becomes the one the public site shows.
    assert entry["after"]["current"] is True
    assert staff_services.store.current_cycle().cycle_id == "created"


def test_a_second_cycle_is_not_made_current_unless_asked(
    client, staff_services, staff_stack
):
    token = staff_stack.token("admin")
    staff_call(client, "POST", "/staff/cycles", token, new_cycle("first-of-two"))

    answer = staff_call(client, "POST", "/staff/cycles", token, new_cycle("later"))
    asked = staff_call(
        client, "POST", "/staff/cycles", token, new_cycle("asked", make_current=True)
    )

    assert answer.status_code == 201
    assert asked.status_code == 201
    assert staff_services.store.audit_entries("later")[0]["after"]["current"] is False
    assert staff_services.store.current_cycle().cycle_id == "asked"


def drop(name):
    def change(body):
        del body[name]

    return change


def put(path, value):
    def change(body):
        target = body
        *parents, last = path
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def drop_voting(body):
    del body["calendar"]["voting"]


BAD_CYCLES = [
    (drop("budget_cap"), "MISSING_FIELD", "budget_cap"),
    (drop("calendar"), "MISSING_FIELD", "calendar"),
    (put(["budget_cap"], "1000000"), "INVALID_TYPE", "budget_cap"),
    (put(["budget_cap"], 1.5), "INVALID_TYPE", "budget_cap"),
    (put(["budget_cap"], True), "INVALID_TYPE", "budget_cap"),
    (put(["budget_cap"], 0), "INVALID_INPUT", "budget_cap"),
    (put(["selection_limit"], 0), "INVALID_INPUT", "selection_limit"),
    (put(["min_voting_age"], 200), "INVALID_INPUT", "min_voting_age"),
    (put(["cycle_id"], "no spaces!"), "INVALID_INPUT", "cycle_id"),
    (put(["cycle_id"], "@current"), "INVALID_INPUT", "cycle_id"),
    (put(["vote_type"], "ranked"), "INVALID_INPUT", "vote_type"),
    (put(["timezone"], "Mars/Olympus"), "INVALID_INPUT", "timezone"),
    (put(["phase"], "voting"), "UNKNOWN_FIELD", "phase"),
    (put(["make_current"], "yes"), "INVALID_TYPE", "make_current"),
    (
        put(["receipts_with_selections"], "true"),
        "INVALID_TYPE",
        "receipts_with_selections",
    ),
    (put(["languages"], []), "INVALID_TYPE", "languages"),
    (put(["languages"], ["es"]), "INVALID_LANGUAGE", "languages"),
    (put(["languages"], ["en", "EN!"]), "INVALID_LANGUAGE", "languages[1]"),
    (put(["languages"], ["en", "en"]), "INVALID_LANGUAGE", "languages[1]"),
    (put(["languages"], ["en", "es\n"]), "INVALID_LANGUAGE", "languages[1]"),
    (put(["calendar", "lunch"], {}), "UNKNOWN_FIELD", "calendar.lunch"),
    (put(["calendar", "scheduled"], {}), "UNKNOWN_FIELD", "calendar.scheduled"),
    (drop_voting, "MISSING_FIELD", "calendar.voting"),
    (
        put(["calendar", "voting", "start"], "2027-03-01T09:00:00"),
        "INVALID_TIME",
        "calendar.voting.start",
    ),
    (
        put(["calendar", "voting", "end"], "next tuesday"),
        "INVALID_TIME",
        "calendar.voting.end",
    ),
    (put(["calendar", "voting", "end"], 5), "INVALID_TYPE", "calendar.voting.end"),
    (
        put(["calendar", "voting", "why"], "x"),
        "UNKNOWN_FIELD",
        "calendar.voting.why",
    ),
    (put(["proposals"], {}), "INVALID_TYPE", "proposals"),
    (put(["proposals", 0, "cost"], 1.5), "INVALID_TYPE", "proposals[0].cost"),
    (put(["proposals", 0, "cost"], -1), "INVALID_INPUT", "proposals[0].cost"),
    (
        put(["proposals", 0, "title"], {"en": "Trees", "fr": "Arbres"}),
        "INVALID_LANGUAGE",
        "proposals[0].title.fr",
    ),
    (
        put(["proposals", 0, "title"], {"es": "Árboles"}),
        "INVALID_INPUT",
        "proposals[0].title",
    ),
    (
        put(["proposals", 1, "proposal_id"], "trees"),
        "INVALID_INPUT",
        "proposals[1].proposal_id",
    ),
    (put(["proposals", 1, "votes"], 3), "UNKNOWN_FIELD", "proposals[1].votes"),
    (put(["name"], "a\x00b"), "INVALID_TEXT", "name"),
    (
        put(["proposals", 0, "proposal_id"], '=HYPERLINK("x","y")'),
        "INVALID_INPUT",
        "proposals[0].proposal_id",
    ),
    (
        put(["proposals", 1, "proposal_id"], "a,b"),
        "INVALID_INPUT",
        "proposals[1].proposal_id",
    ),
    (
        put(["calendar"], calendar_from(datetime(2025, 1, 6, tzinfo=UTC))),
        "TIME_IN_PAST",
        "calendar.voting.start",
    ),
    (put(["reason"], "line\rbreak"), "INVALID_TEXT", "reason"),
]


@pytest.mark.parametrize(
    ("change", "code", "field"), BAD_CYCLES, ids=[c[2] + ":" + c[1] for c in BAD_CYCLES]
)
def test_a_bad_cycle_is_refused_with_its_field_and_audited(
    client, staff_services, staff_stack, change, code, field
):
    body = copy.deepcopy(new_cycle("refused-cycle"))
    body.setdefault("reason", "marker-7731")
    change(body)
    before = ledger(staff_services)

    answer = staff_call(
        client, "POST", "/staff/cycles", staff_stack.token("admin"), body
    )

    entry = assert_refused(
        staff_services, before, answer, 400, code, field, partition="@staff"
    )
    assert entry["actor"] == "staff:admin"
    # The refusal keeps the code and field, never what was sent.
    assert "marker-7731" not in json.dumps(entry)
    assert "Street trees" not in json.dumps(entry)


@pytest.mark.parametrize(
    ("content_type", "raw", "code", "field"),
    [
        ("text/plain", b"{}", "UNSUPPORTED_MEDIA_TYPE", "Content-Type"),
        ("application/json", b"{nope", "MALFORMED_JSON", "body"),
        ("application/json", b"[]", "INVALID_TYPE", "body"),
        ("application/json", b"{" + b" " * 17000 + b"}", "BODY_TOO_LARGE", "body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client, staff_services, staff_stack, content_type, raw, code, field
):
    before = ledger(staff_services)

    answer = client.http.post(
        "/staff/cycles",
        headers={
            "Authorization": f"Bearer {staff_stack.token('admin')}",
            "Content-Type": content_type,
        },
        body=raw,
    )

    assert_refused(staff_services, before, answer, 400, code, field, partition="@staff")


def test_an_existing_cycle_id_is_refused(client, staff_services, staff_stack):
    token = staff_stack.token("admin")
    staff_call(client, "POST", "/staff/cycles", token, new_cycle("twice"))
    before = ledger(staff_services)

    answer = staff_call(client, "POST", "/staff/cycles", token, new_cycle("twice"))

    assert_refused(
        staff_services,
        before,
        answer,
        409,
        "CYCLE_EXISTS",
        "cycle_id",
        partition="@staff",
    )


# -- the calendar -------------------------------------------------------------


def shifted(window: dict, hours: int) -> dict:
    return {
        end: format_time(
            datetime.fromisoformat(window[end].replace("Z", "+00:00"))
            + timedelta(hours=hours)
        )
        for end in ("start", "end")
    }


@pytest.fixture
def scheduled(client, staff_stack):
    """Make a scheduled cycle whose phases all lie ahead; return its calendar."""

    def make(cycle_id: str) -> dict:
        body = new_cycle(cycle_id)
        answer = staff_call(
            client, "POST", "/staff/cycles", staff_stack.token("admin"), body
        )
        assert answer.status_code == 201
        return body["calendar"]

    return make


def test_staff_move_a_phase_that_has_not_started(
    client, staff_services, staff_stack, scheduled
):
    calendar = scheduled("moved")
    later = shifted(calendar["voting"], 12)

    answer = staff_call(
        client,
        "PATCH",
        "/staff/cycles/moved/calendar",
        staff_stack.token("staffer"),
        {"version": 0, "reason": "library hours", "calendar": {"voting": later}},
    )

    assert answer.status_code == 200
    assert answer.json_body["version"] == 1
    assert answer.json_body["calendar"]["voting"] == later
    assert staff_services.store.get_cycle("moved").version == 1
    entry = staff_services.store.audit_entries("moved")[-1]
    assert entry["action"] == "calendar_edited"
    assert entry["actor"] == "staff:staffer"
    assert entry["reason"] == "library hours"
    assert entry["before"] == {"version": 0, "calendar": {"voting": calendar["voting"]}}
    assert entry["after"] == {"version": 1, "calendar": {"voting": later}}


def test_calendar_edits_that_are_refused(
    client, staff_services, staff_stack, scheduled
):
    calendar = scheduled("guarded")
    token = staff_stack.token("staffer")
    now = datetime.now(UTC)

    def edit(body):
        return staff_call(
            client, "PATCH", "/staff/cycles/guarded/calendar", token, body
        )

    cases = [
        ({"reason": "r", "calendar": {}}, 400, "MISSING_FIELD", "version"),
        ({"version": 0, "calendar": {}}, 400, "MISSING_FIELD", "reason"),
        (
            {"version": 0, "reason": "r", "calendar": {}},
            400,
            "MISSING_FIELD",
            "calendar",
        ),
        (
            {"version": 0, "reason": "r", "calendar": []},
            400,
            "INVALID_TYPE",
            "calendar",
        ),
        (
            {
                "version": 0,
                "reason": "r",
                "calendar": {"voting": calendar["voting"]},
                "x": 1,
            },
            400,
            "UNKNOWN_FIELD",
            "x",
        ),
        (
            {"version": 7, "reason": "r", "calendar": {"voting": calendar["voting"]}},
            409,
            "STALE_VERSION",
            "version",
        ),
        (
            # voting would start before ballot review ends
            {
                "version": 0,
                "reason": "r",
                "calendar": {"voting": shifted(calendar["voting"], -30)},
            },
            400,
            "INVALID_INPUT",
            "calendar.voting",
        ),
        (
            {
                "version": 0,
                "reason": "r",
                "calendar": {
                    "idea_collection": {
                        "start": format_time(now - timedelta(hours=1)),
                        "end": calendar["idea_collection"]["end"],
                    }
                },
            },
            400,
            "TIME_IN_PAST",
            "calendar.idea_collection.start",
        ),
    ]
    for body, status, code, field in cases:
        before = ledger(staff_services)
        assert_refused(
            staff_services, before, edit(body), status, code, field, partition="guarded"
        )


def test_started_and_past_phases_cannot_be_moved(
    client, staff_services, staff_stack, scheduled
):
    calendar = scheduled("under-way")
    token = staff_stack.token("staffer")
    for phase in ("idea_collection", "priorities"):
        opened = staff_call(
            client,
            "POST",
            "/staff/cycles/under-way/phase",
            token,
            {"action": "open", "phase": phase, "reason": "early start"},
        )
        assert opened.status_code == 200
    version = staff_services.store.get_cycle("under-way").version

    for phase in ("idea_collection", "priorities"):  # past, then current
        before = ledger(staff_services)
        answer = staff_call(
            client,
            "PATCH",
            "/staff/cycles/under-way/calendar",
            token,
            {
                "version": version,
                "reason": "r",
                "calendar": {phase: shifted(calendar[phase], 1)},
            },
        )
        assert_refused(
            staff_services,
            before,
            answer,
            409,
            "PHASE_STARTED",
            f"calendar.{phase}",
            partition="under-way",
        )


def test_a_phase_whose_start_has_passed_cannot_be_moved(
    client, staff_services, staff_stack
):
    # Idea collection began an hour ago; the clock has not caught up yet.
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    body = new_cycle("late-clock", base=base)
    token = staff_stack.token("admin")
    assert staff_call(client, "POST", "/staff/cycles", token, body).status_code == 201
    before = ledger(staff_services)

    answer = staff_call(
        client,
        "PATCH",
        "/staff/cycles/late-clock/calendar",
        token,
        {
            "version": 0,
            "reason": "r",
            "calendar": {
                "idea_collection": shifted(body["calendar"]["idea_collection"], 2)
            },
        },
    )

    assert_refused(
        staff_services,
        before,
        answer,
        409,
        "PHASE_STARTED",
        "calendar.idea_collection",
        partition="late-clock",
    )


def test_an_unknown_cycle_is_refused_under_the_staff_log(
    client, staff_services, staff_stack
):
    before = ledger(staff_services)

    answer = staff_call(
        client,
        "PATCH",
        "/staff/cycles/nowhere/calendar",
        staff_stack.token("staffer"),
        {
            "version": 0,
            "reason": "r",
            "calendar": {"voting": {"start": "x", "end": "y"}},
        },
    )

    # The times are checked before the cycle is read: nothing is looked up
    # for a request that is wrong in itself.
    entry = assert_refused(
        staff_services,
        before,
        answer,
        400,
        "INVALID_TIME",
        "calendar.voting.start",
        partition="@staff",
    )
    assert entry["after"]["cycle_id"] == "nowhere"

    before = ledger(staff_services)
    answer = staff_call(
        client, "GET", "/staff/cycles/nowhere", staff_stack.token("staffer")
    )
    assert_refused(
        staff_services, before, answer, 404, "NOT_FOUND", "cycle_id", partition="@staff"
    )
