"""Paper ballots through the staff API: double entry, the count, the tally's wait.

Real tokens (moto's Cognito) on the module's staff stack; every test makes
its own cycle, open for voting now, and reads the moto tables to see what
was, and was not, written.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import random
import uuid
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib.cycle import format_time
from chalicelib.jobs import run_phase_clock
from chalicelib.paper import SHEET_ITEMS_PER_TRANSACTION
from tests.functional.conftest import (
    open_voting,
    small_cycle,
    staff_call,
    table_items,
)

pytestmark = pytest.mark.functional


@pytest.fixture
def client(staff_services):
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def cycle(staff_services):
    """A fresh cycle, open for voting now and current for the public site."""
    now = staff_services.clock()
    cycle_id = "paper-" + uuid.uuid4().hex[:8]
    made = open_voting(staff_services.store, small_cycle(now, cycle_id=cycle_id), now)
    # The shared store caches the current cycle for a few seconds; online
    # ballots of this test must go to this cycle, not the previous test's.
    staff_services.store._current = None
    return made


def sheet(selections, voter=None, *, age=30, resident=True, **extra) -> dict:
    body = {
        "selections": list(selections),
        "attestation": {"boston_resident": resident, "age": age},
        **extra,
    }
    if voter is not None:
        kind = "phone" if voter[0].isdigit() or voter[0] in "+(" else "email"
        body["voter"] = {"kind": kind, "value": voter}
    return body


SPOILED = {"spoiled": True}


def register(client, stack, cycle_id, batch_id, cover, *, site="Mattapan Branch"):
    answer = staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle_id}/paper/batches",
        stack.token("staffer"),
        {"batch_id": batch_id, "site": site, "cover_sheets": cover},
    )
    assert answer.status_code == 201, answer.json_body
    return answer.json_body


def enter(client, stack, cycle_id, batch_id, who, sheets):
    return staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle_id}/paper/batches/{batch_id}/entries",
        stack.token(who),
        {"sheets": sheets},
    )


def read_batch(client, stack, cycle_id, batch_id) -> dict:
    answer = staff_call(
        client,
        "GET",
        f"/staff/cycles/{cycle_id}/paper/batches/{batch_id}",
        stack.token("volunteer"),
    )
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


def ballots_of(services, cycle_id) -> list[dict]:
    return [
        item
        for item in table_items(services.settings.ballots_table)
        if item["cycle_id"]["S"] == cycle_id
    ]


def marks_of(services, cycle_id) -> list[dict]:
    return [
        item
        for item in table_items(services.settings.voter_marks_table)
        if item["cycle_id"]["S"] == cycle_id
    ]


def cast_online(client, cycle, voter: dict, selections=("p1",)):
    answer = client.http.post(
        "/ballots",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        },
        body=json.dumps(
            {
                "selections": list(selections),
                "attestation": {"boston_resident": True, "age": 40},
                "voter": voter,
            }
        ),
    )
    if answer.status_code == 201:
        assert answer.json_body["cycle_id"] == cycle.cycle_id
    return answer


SHEETS = [
    sheet(["p1", "p2"], "617-555-0101", neighbourhood="mattapan"),
    sheet(["p3"], "ana@example.org"),
    sheet(["p2"]),  # no identifier
    SPOILED,
]


# -- agreement --------------------------------------------------------------


def test_two_agreeing_entries_count_the_batch(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "b1", 4)

    first = enter(client, staff_stack, cycle.cycle_id, "b1", "volunteer", SHEETS)
    assert first.status_code == 201, first.json_body
    assert first.json_body["batch"]["status"] == "open"
    assert ballots_of(staff_services, cycle.cycle_id) == []

    # The second typist writes the same sheets their own way: selections in
    # another order, the phone with other punctuation, the email in capitals.
    retyped = [
        sheet(["p2", "p1"], "(617) 555 0101", neighbourhood="mattapan"),
        sheet(["p3"], "ANA@example.org"),
        sheet(["p2"]),
        SPOILED,
    ]
    second = enter(client, staff_stack, cycle.cycle_id, "b1", "staffer", retyped)

    assert second.status_code == 201, second.json_body
    batch = second.json_body["batch"]
    assert batch["status"] == "counted"
    assert batch["agreed_entries"] == ["e1", "e2"]
    assert batch["counted"] == {
        "sheets": 3,
        "without_identifier": 1,
        "refused": [],
        "spoiled": [4],
    }
    ballots = ballots_of(staff_services, cycle.cycle_id)
    assert sorted(
        tuple(sorted(v["S"] for v in b["selections"]["L"])) for b in ballots
    ) == [
        ("p1", "p2"),
        ("p2",),
        ("p3",),
    ]
    assert all(b["ballot_hash"]["S"] == cycle.ballot_hash for b in ballots)
    marks = marks_of(staff_services, cycle.cycle_id)
    assert sorted(m["channel"]["S"] for m in marks) == ["paper", "paper"]
    # The entries keep their counts but no longer their sheets.
    for item in table_items(staff_services.settings.paper_table):
        if (
            item["item_id"]["S"].startswith("entry#b1#")
            and item["cycle_id"]["S"] == cycle.cycle_id
        ):
            assert item["document"]["S"].count("voter_key") == 0
            assert json.loads(item["document"]["S"])["sheets"] is None
    # Nothing stored holds a raw identity.
    paper_text = json.dumps(table_items(staff_services.settings.paper_table))
    assert "ana@example.org" not in paper_text.lower()
    assert "5550101" not in paper_text.replace("-", "").replace(" ", "")
    actions = [e["action"] for e in staff_services.store.audit_entries(cycle.cycle_id)]
    assert actions[-4:] == [
        "paper_batch_registered",
        "paper_entry_recorded",
        "paper_entry_recorded",
        "paper_batch_counted",
    ]


def test_disagreeing_entries_leave_the_batch_disputed_until_a_third_agrees(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "b2", 4)
    enter(client, staff_stack, cycle.cycle_id, "b2", "volunteer", SHEETS)
    misread = [SHEETS[0], sheet(["p1"], "ana@example.org"), SHEETS[2], SHEETS[3]]

    second = enter(client, staff_stack, cycle.cycle_id, "b2", "staffer", misread)

    assert second.status_code == 201
    batch = second.json_body["batch"]
    assert batch["status"] == "disputed"
    assert batch["differing_sheets"] == [2]
    assert batch["counted"] is None
    assert ballots_of(staff_services, cycle.cycle_id) == []
    assert marks_of(staff_services, cycle.cycle_id) == []
    # Nobody sees what the others typed: entries show counts only.
    assert "selections" not in json.dumps(batch)

    # A third person reads the paper again and agrees with the first entry.
    third = enter(client, staff_stack, cycle.cycle_id, "b2", "admin", SHEETS)

    assert third.json_body["batch"]["status"] == "counted"
    assert third.json_body["batch"]["agreed_entries"] == ["e1", "e3"]
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 3


def test_one_person_entering_twice_is_not_independent(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "b3", 4)
    enter(client, staff_stack, cycle.cycle_id, "b3", "volunteer", SHEETS)

    # The same sheets again (a retry): answered as a replay, nothing counted.
    again = enter(client, staff_stack, cycle.cycle_id, "b3", "volunteer", SHEETS)
    assert again.status_code == 200
    assert again.json_body["replayed"] is True
    assert again.json_body["batch"]["status"] == "open"
    assert len(again.json_body["batch"]["entries"]) == 1

    # Different sheets from the same person: refused, audited, nothing written.
    audit_before = len(staff_services.store.audit_entries(cycle.cycle_id))
    paper_before = table_items(staff_services.settings.paper_table)
    other = enter(client, staff_stack, cycle.cycle_id, "b3", "volunteer", SHEETS[:3])

    assert other.status_code == 409
    assert other.json_body["code"] == "SAME_ENTRANT"
    assert other.json_body["field"] == "batch_id"
    assert table_items(staff_services.settings.paper_table) == paper_before
    assert ballots_of(staff_services, cycle.cycle_id) == []
    entries = staff_services.store.audit_entries(cycle.cycle_id)
    assert len(entries) == audit_before + 1
    assert entries[-1]["action"] == "refused"
    assert entries[-1]["after"]["code"] == "SAME_ENTRANT"
    assert entries[-1]["after"]["action"] == "paper.enter"


def test_an_admin_discards_an_entry_with_a_reason(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "b4", 4)
    enter(client, staff_stack, cycle.cycle_id, "b4", "volunteer", SHEETS[:3])
    path = f"/staff/cycles/{cycle.cycle_id}/paper/batches/b4/entries/e1/discard"

    # Not a volunteer's call, nor office staff's.
    refused = staff_call(
        client, "POST", path, staff_stack.token("staffer"), {"reason": "typo"}
    )
    assert refused.status_code == 403

    answer = staff_call(
        client, "POST", path, staff_stack.token("admin"), {"reason": "skipped sheet 4"}
    )

    assert answer.status_code == 200
    assert answer.json_body["entries"][0]["status"] == "discarded"
    assert answer.json_body["entries"][0]["discard_reason"] == "skipped sheet 4"
    logged = staff_services.store.audit_entries(cycle.cycle_id)[-1]
    assert (logged["action"], logged["reason"]) == (
        "paper_entry_discarded",
        "skipped sheet 4",
    )
    # The same volunteer may now type the batch again, and a colleague agree.
    enter(client, staff_stack, cycle.cycle_id, "b4", "volunteer", SHEETS)
    final = enter(client, staff_stack, cycle.cycle_id, "b4", "staffer", SHEETS)
    assert final.json_body["batch"]["status"] == "counted"
    assert final.json_body["batch"]["agreed_entries"] == ["e2", "e3"]


# -- one vote per resident across channels ---------------------------------


def test_an_online_voter_is_refused_on_paper_and_a_paper_voter_online(
    client, staff_services, staff_stack, cycle
):
    online = cast_online(client, cycle, {"kind": "phone", "value": "+1 617 555 0142"})
    assert online.status_code == 201, online.json_body
    sheets = [
        sheet(["p1"], "617-555-0142"),  # the same phone, typed otherwise
        sheet(["p2"], "new.voter@example.org"),
        sheet(["p3"], "kid@example.org", age=9),
        sheet(["p3"], "visitor@example.org", resident=False),
        sheet(["p1"], "new.voter@example.org"),  # same person, second sheet
    ]
    register(client, staff_stack, cycle.cycle_id, "b5", 5)
    enter(client, staff_stack, cycle.cycle_id, "b5", "volunteer", sheets)
    marks_before = len(marks_of(staff_services, cycle.cycle_id))

    answer = enter(client, staff_stack, cycle.cycle_id, "b5", "staffer", sheets)

    counted = answer.json_body["batch"]["counted"]
    assert counted["sheets"] == 1
    assert counted["refused"] == [
        {"sheet": 1, "code": "ALREADY_VOTED"},
        {"sheet": 3, "code": "UNDER_AGE"},
        {"sheet": 4, "code": "NOT_RESIDENT"},
        {"sheet": 5, "code": "ALREADY_VOTED"},
    ]
    ballots = ballots_of(staff_services, cycle.cycle_id)
    assert len(ballots) == 2  # the online one and sheet 2
    assert len(marks_of(staff_services, cycle.cycle_id)) == marks_before + 1

    # And the other way round: the paper voter cannot vote online.
    late = cast_online(
        client, cycle, {"kind": "email", "value": "New.Voter@example.org"}
    )
    assert late.status_code == 409
    assert late.json_body["code"] == "ALREADY_VOTED"
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 2


# -- a count that stops half-way --------------------------------------------


def test_a_resumed_count_counts_nothing_twice(
    client, staff_services, staff_stack, cycle, monkeypatch
):
    # Enough sheets with identifiers for three transactions.
    size = SHEET_ITEMS_PER_TRANSACTION // 2
    sheets = [
        sheet(["p1" if n % 2 else "p2"], f"voter{n}@example.org")
        for n in range(2 * size + 5)
    ]
    register(client, staff_stack, cycle.cycle_id, "b6", len(sheets))
    enter(client, staff_stack, cycle.cycle_id, "b6", "volunteer", sheets)

    # The Lambda dies after the first group of sheets is written.
    store = staff_services.store
    write = store.write_paper_sheets
    calls = []

    def dies_on_the_second_group(cycle_, batch, writes):
        calls.append(len(writes))
        if len(calls) == 2:
            raise TimeoutError("Lambda timed out")
        return write(cycle_, batch, writes)

    monkeypatch.setattr(store, "write_paper_sheets", dies_on_the_second_group)
    crashed = enter(client, staff_stack, cycle.cycle_id, "b6", "staffer", sheets)
    monkeypatch.setattr(store, "write_paper_sheets", write)

    assert crashed.status_code == 500
    assert (
        read_batch(client, staff_stack, cycle.cycle_id, "b6")["status"] == "committing"
    )
    assert len(ballots_of(staff_services, cycle.cycle_id)) == size

    # The tally waits for it meanwhile.
    board = staff_call(
        client,
        "GET",
        f"/staff/cycles/{cycle.cycle_id}/dashboard",
        staff_stack.token("volunteer"),
    ).json_body
    assert board["paper"]["tally_waits_for"] == [
        {"batch_id": "b6", "site": "Mattapan Branch", "status": "committing"}
    ]

    # The staffer's client retries the same entry: it resumes the count.
    retried = enter(client, staff_stack, cycle.cycle_id, "b6", "staffer", sheets)
    assert retried.status_code == 200
    assert retried.json_body["replayed"] is True
    assert retried.json_body["batch"]["status"] == "counted"
    assert retried.json_body["batch"]["counted"]["sheets"] == len(sheets)
    assert retried.json_body["batch"]["counted"]["refused"] == []

    # Asking to count again, after it is counted, changes nothing at all.
    tables = [
        table_items(getattr(staff_services.settings, name))
        for name in ("ballots_table", "voter_marks_table", "paper_table")
    ]
    path = f"/staff/cycles/{cycle.cycle_id}/paper/batches/b6/count"
    again = staff_call(client, "POST", path, staff_stack.token("volunteer"), {})
    assert again.status_code == 200
    assert again.json_body["status"] == "counted"
    assert [
        table_items(getattr(staff_services.settings, name))
        for name in ("ballots_table", "voter_marks_table", "paper_table")
    ] == tables

    ballots = ballots_of(staff_services, cycle.cycle_id)
    assert len(ballots) == len(sheets)
    assert len({b["ballot_id"]["S"] for b in ballots}) == len(sheets)
    assert len(marks_of(staff_services, cycle.cycle_id)) == len(sheets)
    counted = [
        e
        for e in staff_services.store.audit_entries(cycle.cycle_id)
        if e["action"] == "paper_batch_counted"
    ]
    assert len(counted) == 1
    assert counted[0]["after"]["counted"] == len(sheets)


def test_a_count_that_died_before_closing_the_batch_finishes_it(
    client, staff_services, staff_stack, cycle, monkeypatch
):
    register(client, staff_stack, cycle.cycle_id, "b7", 4)
    enter(client, staff_stack, cycle.cycle_id, "b7", "volunteer", SHEETS)
    store = staff_services.store
    save = store.save_paper_change

    def dies_when_closing(before, after, **kwargs):
        if after.status == "counted":
            raise TimeoutError("Lambda timed out")
        return save(before, after, **kwargs)

    monkeypatch.setattr(store, "save_paper_change", dies_when_closing)
    assert (
        enter(client, staff_stack, cycle.cycle_id, "b7", "staffer", SHEETS).status_code
        == 500
    )
    monkeypatch.setattr(store, "save_paper_change", save)
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 3  # all written

    path = f"/staff/cycles/{cycle.cycle_id}/paper/batches/b7/count"
    answer = staff_call(client, "POST", path, staff_stack.token("volunteer"), {})

    assert answer.status_code == 200
    assert answer.json_body["status"] == "counted"
    assert answer.json_body["counted"]["sheets"] == 3
    assert answer.json_body["counted"]["refused"] == []
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 3
    assert len(marks_of(staff_services, cycle.cycle_id)) == 2


# -- the tally waits ----------------------------------------------------------


def published(settings, cycle_id: str) -> dict | None:
    s3 = boto3.client("s3", region_name="us-east-1")
    try:
        body = s3.get_object(
            Bucket=settings.results_bucket, Key=f"results/{cycle_id}/result.json"
        )["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return json.loads(body)


def test_the_clock_waits_for_open_batches_and_staff_release_it(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "b8", 4)
    enter(client, staff_stack, cycle.cycle_id, "b8", "volunteer", SHEETS)
    tally_end = cycle.calendar[cycle.phase].end + timedelta(minutes=5)

    run_phase_clock({"time": format_time(tally_end)})

    # Voting closed, but the tally waits, past its own end.
    assert staff_services.store.get_cycle(cycle.cycle_id).phase.value == "tally"
    assert published(staff_services.settings, cycle.cycle_id) is None
    board = staff_call(
        client,
        "GET",
        f"/staff/cycles/{cycle.cycle_id}/dashboard",
        staff_stack.token("board"),
    ).json_body
    assert board["paper"]["tally_waits_for"] == [
        {"batch_id": "b8", "site": "Mattapan Branch", "status": "open"}
    ]
    assert board["paper"]["entry_closed"] is False

    # After voting closed, paper entry goes on: a late batch is registered
    # and counted, and the clock still waits for the first.
    register(client, staff_stack, cycle.cycle_id, "late", 1)
    for who in ("volunteer", "staffer"):
        enter(client, staff_stack, cycle.cycle_id, "late", who, [sheet(["p3"])])
    run_phase_clock({"time": format_time(tally_end + timedelta(minutes=1))})
    assert published(staff_services.settings, cycle.cycle_id) is None

    # Staff discard the batch nobody could finish; that releases the tally.
    path = f"/staff/cycles/{cycle.cycle_id}/paper/batches/b8/discard"
    bare = staff_call(client, "POST", path, staff_stack.token("staffer"), {})
    assert (bare.status_code, bare.json_body["field"]) == (400, "reason")
    discarded = staff_call(
        client,
        "POST",
        path,
        staff_stack.token("staffer"),
        {"reason": "envelope water-damaged; voters invited to vote online"},
    )
    assert discarded.json_body["status"] == "discarded"

    run_phase_clock({"time": format_time(tally_end + timedelta(minutes=2))})

    assert staff_services.store.get_cycle(cycle.cycle_id).phase.value == "results"
    result = published(staff_services.settings, cycle.cycle_id)
    assert result["ballots_counted"] == 1  # the late batch's one sheet
    assert staff_services.store.paper_sealed(cycle.cycle_id)
    # Entry is closed now: nothing more is registered.
    after = staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle.cycle_id}/paper/batches",
        staff_stack.token("staffer"),
        {"batch_id": "too-late", "site": "City Hall", "cover_sheets": 3},
    )
    assert (after.status_code, after.json_body["code"]) == (409, "PHASE_CLOSED")
    # The refusal is in the log; the clock itself logged only phase changes.
    entries = staff_services.store.audit_entries(cycle.cycle_id)
    assert (entries[-1]["action"], entries[-1]["after"]["code"]) == (
        "refused",
        "PHASE_CLOSED",
    )
    by_clock = [e["action"] for e in entries if e["actor"] == "system:phase-clock"]
    assert set(by_clock) == {"phase_changed"}


# -- reconciliation -----------------------------------------------------------


def test_the_reconciliation_report_adds_up(client, staff_services, staff_stack, cycle):
    voted = cast_online(client, cycle, {"kind": "email", "value": "online@example.org"})
    assert voted.status_code == 201
    counted = [
        *SHEETS,
        sheet(["p1"], "online@example.org"),
        sheet(["p2"], age=8),
    ]
    register(client, staff_stack, cycle.cycle_id, "lib-1", 7)
    for who in ("volunteer", "staffer"):
        enter(client, staff_stack, cycle.cycle_id, "lib-1", who, counted)
    register(client, staff_stack, cycle.cycle_id, "lib-2", 3)
    enter(client, staff_stack, cycle.cycle_id, "lib-2", "volunteer", SHEETS[:2])
    register(client, staff_stack, cycle.cycle_id, "fair-1", 2, site="=HYPERLINK(1)")
    for who in ("volunteer", "staffer"):
        enter(client, staff_stack, cycle.cycle_id, "fair-1", who, [sheet(["p1"])])

    answer = staff_call(
        client,
        "GET",
        f"/staff/cycles/{cycle.cycle_id}/paper/reconciliation",
        staff_stack.token("board"),
    )

    assert answer.status_code == 200
    report = answer.json_body
    rows = {r["batch_id"]: r for r in report["batches"]}
    lib1 = rows["lib-1"]
    assert (lib1["status"], lib1["cover_sheets"]) == ("counted", 7)
    assert [e["sheets"] for e in lib1["entries"]] == [6, 6]
    assert (
        lib1["counted"],
        lib1["without_identifier"],
        lib1["refused_duplicate"],
        lib1["refused_ineligible"],
        lib1["spoiled"],
    ) == (3, 1, 1, 1, 1)
    # One sheet short of its cover sheet: the report says so.
    assert lib1["cover_matches"] is False
    assert rows["fair-1"]["cover_matches"] is False
    assert rows["lib-2"]["status"] == "open"
    assert rows["lib-2"]["cover_matches"] is None
    assert [e["sheets"] for e in rows["lib-2"]["entries"]] == [2]
    for row in report["batches"]:
        if row["status"] == "counted":
            entered = row["entries"][0]["sheets"]
            parts = ("counted", "refused_duplicate", "refused_ineligible", "spoiled")
            assert sum(row[name] for name in parts) == entered
    figures = (
        "cover_sheets",
        "counted",
        "refused_duplicate",
        "refused_ineligible",
        "spoiled",
    )
    sites = {s["site"]: s for s in report["sites"]}
    assert sites["Mattapan Branch"]["cover_sheets"] == 10
    assert sites["Mattapan Branch"]["batches"] == {"counted": 1, "open": 1}
    for name in figures:
        assert sum(s[name] for s in report["sites"]) == report["totals"][name]
        assert sum(r[name] for r in report["batches"]) == report["totals"][name]
    assert report["totals"]["counted"] == 4
    assert report["tally_waits_for"] == ["lib-2"]
    # The counted figures are the ballots that exist (one more was online).
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 1 + 4

    csv_answer = staff_call(
        client,
        "GET",
        f"/staff/cycles/{cycle.cycle_id}/paper/reconciliation.csv",
        staff_stack.token("staffer"),
    )
    assert csv_answer.status_code == 200
    assert csv_answer.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(csv_answer.body.decode())))
    assert [r["level"] for r in table] == ["batch"] * 3 + ["site"] * 2 + ["total"]
    fair = next(r for r in table if r["batch_id"] == "fair-1")
    assert fair["site"] == "'=HYPERLINK(1)"
    total = table[-1]
    assert int(total["counted"]) == report["totals"]["counted"]
    assert int(total["cover_sheets"]) == report["totals"]["cover_sheets"]


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sheets", "code", "field"),
    [
        ([{"selections": ["p1"]}], "MISSING_FIELD", "sheets[0].attestation"),
        ([sheet(["p9"])], "UNKNOWN_PROPOSAL", "sheets[0].selections[0]"),
        (
            [SPOILED, sheet(["p1", "p2", "p3"])],
            "TOO_MANY_SELECTIONS",
            "sheets[1].selections",
        ),
        ([sheet(["p1"], "555-01")], "INVALID_PHONE", "sheets[0].voter.value"),
        (
            [{"spoiled": True, "selections": ["p1"]}],
            "UNKNOWN_FIELD",
            "sheets[0].selections",
        ),
        ([{"spoiled": False}], "INVALID_INPUT", "sheets[0].spoiled"),
        ([], "INVALID_INPUT", "sheets"),
        (
            [sheet(["p1"], age=30, age_bracket="65+")],
            "INVALID_CHOICE",
            "sheets[0].age_bracket",
        ),
    ],
)
def test_a_bad_entry_is_refused_with_its_field_and_writes_nothing(
    client, staff_services, staff_stack, cycle, sheets, code, field
):
    register(client, staff_stack, cycle.cycle_id, "bad", 2)
    before = table_items(staff_services.settings.paper_table)

    answer = enter(client, staff_stack, cycle.cycle_id, "bad", "volunteer", sheets)

    assert answer.status_code == 400
    assert (answer.json_body["code"], answer.json_body["field"]) == (code, field)
    assert table_items(staff_services.settings.paper_table) == before
    refused = staff_services.store.audit_entries(cycle.cycle_id)[-1]
    assert (refused["action"], refused["after"]["code"]) == ("refused", code)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"site": "x", "cover_sheets": 3}, 400, "MISSING_FIELD", "batch_id"),
        (
            {"batch_id": "a b", "site": "x", "cover_sheets": 3},
            400,
            "INVALID_INPUT",
            "batch_id",
        ),
        (
            {"batch_id": "b1\n", "site": "x", "cover_sheets": 3},
            400,
            "INVALID_INPUT",
            "batch_id",
        ),
        ({"batch_id": "b", "cover_sheets": 3}, 400, "MISSING_FIELD", "site"),
        (
            {"batch_id": "b", "site": "x", "cover_sheets": 0},
            400,
            "INVALID_INPUT",
            "cover_sheets",
        ),
        (
            {"batch_id": "b", "site": "x", "cover_sheets": "3"},
            400,
            "INVALID_TYPE",
            "cover_sheets",
        ),
        (
            {"batch_id": "b", "site": "x", "cover_sheets": 3, "n": 1},
            400,
            "UNKNOWN_FIELD",
            "n",
        ),
        (
            {"batch_id": "dup", "site": "x", "cover_sheets": 3},
            409,
            "BATCH_EXISTS",
            "batch_id",
        ),
    ],
)
def test_a_bad_batch_is_refused_and_writes_nothing(
    client, staff_services, staff_stack, cycle, body, status, code, field
):
    register(client, staff_stack, cycle.cycle_id, "dup", 2)
    before = table_items(staff_services.settings.paper_table)

    answer = staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle.cycle_id}/paper/batches",
        staff_stack.token("admin"),
        body,
    )

    assert answer.status_code == status
    assert (answer.json_body["code"], answer.json_body["field"]) == (code, field)
    assert table_items(staff_services.settings.paper_table) == before


def test_volunteers_cannot_register_batches(client, staff_stack, cycle):
    answer = staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle.cycle_id}/paper/batches",
        staff_stack.token("volunteer"),
        {"batch_id": "v1", "site": "x", "cover_sheets": 3},
    )

    assert (answer.status_code, answer.json_body["code"]) == (403, "NOT_PERMITTED")


def test_a_counted_batch_takes_no_more_entries_and_cannot_be_discarded(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "done", 4)
    for who in ("volunteer", "staffer"):
        enter(client, staff_stack, cycle.cycle_id, "done", who, SHEETS)

    late = enter(client, staff_stack, cycle.cycle_id, "done", "admin", SHEETS)
    # The entry that made it count, sent again (its answer was lost, say):
    # the batch is counted, not a second entry by the same person.
    retried = enter(client, staff_stack, cycle.cycle_id, "done", "staffer", SHEETS)
    discard = staff_call(
        client,
        "POST",
        f"/staff/cycles/{cycle.cycle_id}/paper/batches/done/discard",
        staff_stack.token("admin"),
        {"reason": "second thoughts"},
    )

    for answer in (late, retried, discard):
        assert answer.status_code == 409
        assert (answer.json_body["code"], answer.json_body["field"]) == (
            "BATCH_CLOSED",
            "batch_id",
        )
    assert len(ballots_of(staff_services, cycle.cycle_id)) == 3


ODD = [None, True, 0, -1, 2**70, 1.5, "", "p1", "\u0000", "é" * 400, [], {}, [None]]


def test_no_mutated_entry_gets_a_500_or_writes_a_ballot(
    client, staff_services, staff_stack, cycle
):
    register(client, staff_stack, cycle.cycle_id, "fuzz", 4)
    rng = random.Random(20270412)

    for _ in range(60):
        sheets = copy.deepcopy(SHEETS[:3])
        target = rng.choice(sheets)
        path = rng.choice(["selections", "attestation", "voter", "neighbourhood"])
        if isinstance(target.get(path), dict) and rng.random() < 0.5:
            target[path][rng.choice([*target[path], "extra"])] = rng.choice(ODD)
        else:
            target[path] = rng.choice(ODD)
        answer = enter(client, staff_stack, cycle.cycle_id, "fuzz", "volunteer", sheets)
        assert answer.status_code < 500, answer.json_body
        if answer.status_code == 409:  # a valid mutation after an earlier one
            assert answer.json_body["code"] == "SAME_ENTRANT"
        elif answer.status_code >= 400:
            assert answer.json_body["field"].startswith(("sheets[", "body"))

    assert ballots_of(staff_services, cycle.cycle_id) == []
