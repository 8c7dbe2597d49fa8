"""The audit log as CSV, and the dashboard's turnout, through the staff API."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid

import pytest
from chalice.test import Client

from app import app
from chalicelib.cycle import Phase, format_time
from tests.functional.conftest import (
    assert_refused,
    ledger,
    open_voting,
    small_cycle,
    staff_call,
)

pytestmark = pytest.mark.functional

FORMULAS = ['=HYPERLINK("http://127.0.0.1/x","click")', "+1+1", "-2", "@SUM(A1)"]


@pytest.fixture
def client(staff_services):
    with Client(app) as test_client:
        yield test_client


def rows(answer) -> list[dict]:
    return list(csv.DictReader(io.StringIO(answer.body.decode("utf-8"))))


def test_the_csv_export_defuses_formulas_and_logs_itself(
    client, staff_services, staff_stack
):
    now = staff_services.clock()
    staff_services.store.create_cycle(
        small_cycle(now, cycle_id="sheet"), actor="test", now=now, make_current=False
    )
    token = staff_stack.token("staffer")
    for reason in FORMULAS:
        version = staff_services.store.get_cycle("sheet").version
        answer = staff_call(
            client,
            "POST",
            "/staff/cycles/sheet/phase",
            token,
            {"action": "advance", "version": version, "reason": reason},
        )
        assert answer.status_code == 200

    answer = staff_call(
        client, "GET", "/staff/cycles/sheet/audit.csv", staff_stack.token("board")
    )

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="audit-sheet.csv"'
    )
    table = rows(answer)
    assert [r["action"] for r in table] == [
        "cycle_created",
        *["phase_changed"] * 4,
        "audit_exported",
    ]
    assert [r["reason"] for r in table[1:5]] == ["'" + f for f in FORMULAS]
    assert json.loads(table[1]["after"]) == {
        "phase": "idea_collection",
        "request": "advance",
        "version": 1,
    }
    assert table[-1]["actor"] == "staff:board"
    # No cell of the file starts a formula.
    for row in table:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_the_office_wide_log_exports_refusals_of_no_cycle(
    client, staff_services, staff_stack
):
    staff_call(client, "POST", "/staff/cycles", staff_stack.token("admin"), {"x": 1})

    answer = staff_call(client, "GET", "/staff/audit.csv", staff_stack.token("admin"))

    table = rows(answer)
    refusal = [r for r in table if r["action"] == "refused"][-1]
    assert json.loads(refusal["after"])["field"] == "x"
    assert table[-1]["action"] == "audit_exported"


def test_exporting_an_unknown_cycle_is_not_found(client, staff_services, staff_stack):
    before = ledger(staff_services)

    answer = staff_call(
        client, "GET", "/staff/cycles/unknown/audit.csv", staff_stack.token("admin")
    )

    assert_refused(
        staff_services, before, answer, 404, "NOT_FOUND", "cycle_id", partition="@staff"
    )


def test_no_route_can_change_the_audit_log():
    audit_routes = {
        path: set(methods) for path, methods in app.routes.items() if "audit" in path
    }

    assert audit_routes == {
        "/staff/cycles/{cycle_id}/audit.csv": {"GET"},
        "/staff/audit.csv": {"GET"},
    }


def cast(client, voter: str, neighbourhood: str | None):
    body = {
        "selections": ["p1"],
        "attestation": {"boston_resident": True, "birth_date": "1990-04-01"},
        "voter": {"kind": "email", "value": voter},
    }
    if neighbourhood:
        body["neighbourhood"] = neighbourhood
    answer = client.http.post(
        "/ballots",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
        body=json.dumps(body),
    )
    assert answer.status_code == 201


def test_the_dashboard_shows_turnout_but_never_a_count_per_proposal(
    client, staff_services, staff_stack
):
    now = staff_services.clock()
    open_voting(staff_services.store, small_cycle(now, cycle_id="dash"), now)
    for n, place in enumerate(["dorchester", "dorchester", "roxbury", None]):
        cast(client, f"resident{n}@example.org", place)

    answer = staff_call(
        client, "GET", "/staff/cycles/dash/dashboard", staff_stack.token("volunteer")
    )

    assert answer.status_code == 200
    body = answer.json_body
    assert body["phase"] == "voting"
    assert body["next_phase"] == "tally"
    assert body["turnout"] == {
        "total": 4,
        "by_channel": {"online": 4},
        "by_neighbourhood": {"dorchester": 2, "none": 1, "roxbury": 1},
    }
    voting = [d for d in body["deadlines"] if d["phase"] == "voting"]
    assert voting[0]["status"] == "current"
    assert body["phase_ends"] == voting[0]["end"]
    assert [d["status"] for d in body["deadlines"]].count("past") == 5
    # Nothing in the answer names a proposal, let alone counts one.
    text = json.dumps(body)
    for proposal in ("p1", "p2", "p3", "votes", "selections"):
        assert f'"{proposal}"' not in text
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_dashboard_counts_only_its_cycle(client, staff_services, staff_stack):
    now = staff_services.clock()
    staff_services.store.create_cycle(
        small_cycle(now, cycle_id="quiet"), actor="test", now=now, make_current=False
    )

    answer = staff_call(
        client, "GET", "/staff/cycles/quiet/dashboard", staff_stack.token("reviewer")
    )

    assert answer.json_body["phase"] == "scheduled"
    assert answer.json_body["turnout"] == {
        "total": 0,
        "by_channel": {},
        "by_neighbourhood": {},
    }


def test_the_dashboard_says_when_a_phase_opened_early(
    client, staff_services, staff_stack
):
    # GIVEN a cycle the phase clock opened for voting, on its calendar
    now = staff_services.clock()
    store = staff_services.store
    cycle = small_cycle(now, cycle_id="early")
    cycle = dataclasses.replace(cycle, timezone="America/Los_Angeles")
    open_voting(store, cycle, now)
    token = staff_stack.token("staffer")
    before = staff_call(client, "GET", "/staff/cycles/early/dashboard", token)
    started = before.json_body["phase_started"]
    version = before.json_body["version"]
    assert started["planned"] == format_time(cycle.calendar[Phase.VOTING].start)
    assert started["early"] is False

    # WHEN staff close voting an hour before its calendar end
    answer = staff_call(
        client,
        "POST",
        "/staff/cycles/early/phase",
        token,
        {"action": "close", "phase": "voting", "reason": "early", "version": version},
    )
    assert answer.status_code == 200, answer.json_body
    closed_at = answer.json_body["transition"]["at"]

    # THEN the dashboard says the tally opened then, before its planned start
    body = staff_call(client, "GET", "/staff/cycles/early/dashboard", token).json_body
    assert body["phase"] == "tally"
    assert body["timezone"] == "America/Los_Angeles"
    assert body["phase_started"] == {
        "at": closed_at,
        "planned": format_time(cycle.calendar[Phase.TALLY].start),
        "early": True,
    }
    opened = {d["phase"]: d["opened"] for d in body["deadlines"]}
    assert opened["tally"] == closed_at
    assert opened["voting"] == started["at"]
    assert opened["results"] is None and opened["implementation"] is None
