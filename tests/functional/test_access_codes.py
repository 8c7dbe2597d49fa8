"""Access-code batches through the staff API: made, printed, listed, revoked.

Real moto DynamoDB and real staff tokens (the module's staff stack); each
test uses cycles of its own.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re

import boto3
import pytest
from chalice.test import Client
from pypdf import PdfReader

from app import app
from chalicelib import accesscodes
from chalicelib.cycle import Phase
from tests.conftest import REPO_ROOT
from tests.functional.conftest import (
    assert_refused,
    ledger,
    small_cycle,
    staff_call,
    table_items,
)

pytestmark = pytest.mark.functional

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
BATCHES = "/staff/cycles/{}/access-code-batches"


@pytest.fixture
def client(staff_services):
    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def make_cycle(staff_services):
    """Store a cycle with this id in ``phase`` (written as is, for the test)."""

    def make(cycle_id: str, phase: Phase = Phase.VOTING):
        now = staff_services.clock()
        cycle = dataclasses.replace(
            small_cycle(now, cycle_id=cycle_id),
            phase=phase,
            name="Boston PB 2027",
            languages=("en", "es", "vi", "zh-Hans"),
        )
        staff_services.store.create_cycle(
            cycle, actor="test", now=now, make_current=False
        )
        return cycle

    return make


def verification(staff_services) -> list[dict]:
    return table_items(staff_services.settings.verification_table)


def items_of(staff_services, cycle_id: str) -> list[dict]:
    return [
        item
        for item in verification(staff_services)
        if item["pk"]["S"].split("#")[1] == cycle_id
    ]


def generate(client, token, cycle_id, body, *, pdf=False):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if pdf:
        headers["Accept"] = "application/pdf"
    return client.http.post(
        BATCHES.format(cycle_id), headers=headers, body=json.dumps(body).encode()
    )


def test_a_batch_answers_its_codes_once_and_stores_only_their_keys(
    client, staff_services, staff_stack, make_cycle
):
    make_cycle("codes-json")

    answer = generate(
        client,
        staff_stack.token("staffer"),
        "codes-json",
        {"site": "Mattapan", "count": 25},
    )

    assert answer.status_code == 201, answer.json_body
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json_body
    codes = body["codes"]
    assert len(codes) == len(set(codes)) == 25
    assert all(accesscodes.display(accesscodes.canonical(c)) == c for c in codes)
    batch = body["batch"]
    assert batch["count"] == 25 and batch["used_count"] == 0
    assert (batch["status"], batch["site"]) == ("active", "Mattapan")

    # Only keyed HMACs are stored: no code, in any form, anywhere in the table.
    dump = json.dumps(verification(staff_services))
    for code in codes:
        assert code not in dump
        assert accesscodes.canonical(code) not in dump
    secret = staff_services.voter_secret()
    stored = {
        item["pk"]["S"]
        for item in items_of(staff_services, "codes-json")
        if item["pk"]["S"].startswith("code#")
    }
    assert stored == {
        f"code#codes-json#"
        f"{accesscodes.code_key(secret, 'codes-json', accesscodes.canonical(c))}"
        for c in codes
    }
    code_item = next(
        i for i in items_of(staff_services, "codes-json") if i["pk"]["S"] in stored
    )
    assert code_item["subject"]["S"] == batch["batch_id"]
    assert code_item["used"]["BOOL"] is False

    entry = staff_services.store.audit_entries("codes-json")[-1]
    assert (entry["action"], entry["actor"]) == (
        "access_codes_generated",
        "staff:staffer",
    )
    assert entry["after"] == {
        "batch_id": batch["batch_id"],
        "site": "Mattapan",
        "count": 25,
    }
    assert not any(c in json.dumps(entry) for c in codes)


def test_the_batch_item_is_written_after_every_code(
    client, staff_services, staff_stack, make_cycle, monkeypatch
):
    make_cycle("codes-order")
    written: list[list[str]] = []
    connection_class = type(staff_services.store._transaction()._connection)
    original = connection_class.transact_write_items

    def spy(self, *args, **kwargs):
        items = [
            *kwargs.get("condition_check_items", []),
            *kwargs.get("put_items", []),
            *kwargs.get("update_items", []),
        ]
        written.append(
            [
                (item.get("Item") or item.get("Key"))["pk"]["S"]
                for item in items
                if "pk" in (item.get("Item") or item.get("Key") or {})
            ]
        )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(connection_class, "transact_write_items", spy)

    answer = generate(
        client,
        staff_stack.token("admin"),
        "codes-order",
        {"site": "Roxbury", "count": 250},
    )

    assert answer.status_code == 201
    batch_pk = f"batch#codes-order#{answer.json_body['batch']['batch_id']}"
    *codes, last = written
    assert [len(w) for w in codes] == [100, 100, 50]
    assert all(pk.startswith("code#codes-order#") for w in codes for pk in w)
    assert batch_pk in last and "batches#codes-order" in last
    assert not any(pk.startswith("code#") for pk in last)


def test_an_interrupted_batch_is_unusable_and_a_retry_finishes_it(
    staff_services, make_cycle, monkeypatch
):
    from chalicelib import codebatches
    from chalicelib.errors import Unavailable

    make_cycle("codes-broken")
    store = staff_services.store
    now = staff_services.clock()
    _, batch = codebatches.prepare(
        store, "codes-broken", {"site": "Library", "count": 120}, now=now
    )
    secret = staff_services.voter_secret()
    transactions = store._transaction
    calls = []

    def failing_last():
        calls.append(1)
        if len(calls) == 3:  # the batch item's transaction
            raise Unavailable("the network went away")
        return transactions()

    monkeypatch.setattr(store, "_transaction", failing_last)
    with pytest.raises(Unavailable):
        codebatches.commit(store, batch, secret=secret, actor="test", now=now)

    # The codes are there but their batch is not: nothing lists or redeems it.
    pks = [i["pk"]["S"] for i in items_of(staff_services, "codes-broken")]
    assert len([p for p in pks if p.startswith("code#")]) == 120
    assert not [p for p in pks if p.startswith("batch")]
    assert store.list_access_code_batches("codes-broken") == []

    monkeypatch.setattr(store, "_transaction", transactions)
    codebatches.commit(store, batch, secret=secret, actor="test", now=now)
    codebatches.commit(store, batch, secret=secret, actor="test", now=now)

    pks = [i["pk"]["S"] for i in items_of(staff_services, "codes-broken")]
    assert len([p for p in pks if p.startswith("code#")]) == 120
    [listed] = store.list_access_code_batches("codes-broken")
    assert (listed.batch_id, listed.count, listed.status) == (
        batch.batch_id,
        120,
        "active",
    )
    generated = [
        e
        for e in store.audit_entries("codes-broken")
        if e["action"] == "access_codes_generated"
    ]
    assert len(generated) == 1


@pytest.fixture
def deployed_client(staff_services, tmp_path):
    """The test client with the stage's config as ``pbctl deploy`` fills it:
    Chalice sets each request's environment from ``.chalice/config.json``."""
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    config["stages"]["dev"]["environment_variables"]["PB_SITE_ORIGIN"] = (
        "https://pb.boston.gov"
    )
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    with Client(app, project_dir=str(tmp_path)) as test_client:
        yield test_client


def test_the_pdf_sheet_arrives_intact_with_exactly_its_batchs_codes(
    deployed_client, staff_services, staff_stack, make_cycle
):
    client = deployed_client
    make_cycle("codes-pdf")
    token = staff_stack.token("staffer")
    other = generate(client, token, "codes-pdf", {"site": "Dorchester", "count": 10})

    answer = generate(
        client, token, "codes-pdf", {"site": "Chinatown", "count": 14}, pdf=True
    )

    assert answer.status_code == 201
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"].startswith(
        'attachment; filename="access-codes-codes-pdf-'
    )
    assert answer.body.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(answer.body))
    assert len(reader.pages) == 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    printed = CODE.findall(text)
    assert len(printed) == len(set(printed)) == 14
    assert not set(printed) & set(other.json_body["codes"])
    assert "Chinatown" in text, text[:600]
    assert "pb.boston.gov/ballot.html" in text, text[:600]
    # The printed codes are exactly the batch's stored ones.
    batch_id = re.search(r"Batch (\S+)", text).group(1)
    secret = staff_services.voter_secret()
    stored = {
        i["pk"]["S"]
        for i in items_of(staff_services, "codes-pdf")
        if i.get("subject", {}).get("S") == batch_id
    }
    assert stored == {
        "code#codes-pdf#"
        + accesscodes.code_key(secret, "codes-pdf", accesscodes.canonical(c))
        for c in printed
    }


def test_the_list_counts_used_and_unused_codes(
    client, staff_services, staff_stack, make_cycle
):
    make_cycle("codes-list")
    token = staff_stack.token("staffer")
    first = generate(client, token, "codes-list", {"site": "Mattapan", "count": 40})
    second = generate(client, token, "codes-list", {"site": "Roxbury", "count": 5})
    first_id = first.json_body["batch"]["batch_id"]
    # As the ballot path records redemptions: used_count on the batch item.
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=staff_services.settings.verification_table,
        Key={"pk": {"S": f"batch#codes-list#{first_id}"}},
        UpdateExpression="SET used_count = :n",
        ExpressionAttributeValues={":n": {"N": "3"}},
    )

    answer = staff_call(client, "GET", BATCHES.format("codes-list"), token)

    assert answer.status_code == 200
    listed = {b["batch_id"]: b for b in answer.json_body["batches"]}
    assert listed[first_id]["count"] == 40
    assert listed[first_id]["used_count"] == 3
    assert listed[first_id]["unused_count"] == 37
    second_id = second.json_body["batch"]["batch_id"]
    assert (listed[second_id]["count"], listed[second_id]["unused_count"]) == (5, 5)
    listing = json.dumps(answer.json_body)
    for code in first.json_body["codes"] + second.json_body["codes"]:
        assert code not in listing


def test_an_admin_revokes_a_batch_with_a_reason_and_it_is_audited(
    client, staff_services, staff_stack, make_cycle
):
    make_cycle("codes-revoke")
    made = generate(
        client,
        staff_stack.token("staffer"),
        "codes-revoke",
        {"site": "Mattapan", "count": 3},
    )
    batch_id = made.json_body["batch"]["batch_id"]
    path = f"{BATCHES.format('codes-revoke')}/{batch_id}/revoke"

    answer = staff_call(
        client, "POST", path, staff_stack.token("admin"), {"reason": "sheet lost"}
    )

    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["batch"]["status"] == "revoked"
    assert answer.json_body["batch"]["reason"] == "sheet lost"
    entry = staff_services.store.audit_entries("codes-revoke")[-1]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "access_codes_revoked",
        "staff:admin",
        "sheet lost",
    )
    assert entry["before"]["status"] == "active"
    assert entry["after"] == {"batch_id": batch_id, "status": "revoked"}
    listed = staff_call(
        client, "GET", BATCHES.format("codes-revoke"), staff_stack.token("staffer")
    )
    assert listed.json_body["batches"][0]["status"] == "revoked"

    # A second revocation keeps the first reason and is refused, audited.
    before = ledger(staff_services)
    again = staff_call(
        client, "POST", path, staff_stack.token("admin"), {"reason": "again"}
    )
    assert_refused(
        staff_services,
        before,
        again,
        409,
        "ALREADY_REVOKED",
        "batch_id",
        partition="codes-revoke",
    )
    [batch] = staff_services.store.list_access_code_batches("codes-revoke")
    assert batch.reason == "sheet lost"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"site": "Mattapan", "count": 0}, 400, "OUT_OF_RANGE", "count"),
        ({"site": "Mattapan", "count": 1001}, 400, "OUT_OF_RANGE", "count"),
        ({"site": "", "count": 5}, 400, "MISSING_FIELD", "site"),
        ({"site": "图书馆", "count": 5}, 400, "INVALID_TEXT", "site"),
        ({"site": ["Mattapan"], "count": 5}, 400, "INVALID_TYPE", "site"),
        ({"site": "Mattapan", "count": 5, "x": 1}, 400, "UNKNOWN_FIELD", "x"),
    ],
)
def test_bad_batch_requests_write_nothing_but_the_refusal(
    client, staff_services, staff_stack, make_cycle, body, status, code, field
):
    cycle_id = f"codes-bad-{field}-{code.lower()}"[:40] + str(body.get("count"))
    make_cycle(cycle_id)
    before, stored = ledger(staff_services), verification(staff_services)

    answer = generate(client, staff_stack.token("staffer"), cycle_id, body, pdf=True)

    assert answer.headers["Content-Type"] == "application/json"
    assert_refused(
        staff_services, before, answer, status, code, field, partition=cycle_id
    )
    assert verification(staff_services) == stored


@pytest.mark.parametrize(
    "phase", [Phase.IDEA_COLLECTION, Phase.PRIORITIES, Phase.TALLY, Phase.RESULTS]
)
def test_no_codes_outside_eligibility_review_to_voting(
    client, staff_services, staff_stack, make_cycle, phase
):
    cycle_id = f"codes-{phase.value}"
    make_cycle(cycle_id, phase)
    before, stored = ledger(staff_services), verification(staff_services)

    answer = generate(
        client, staff_stack.token("admin"), cycle_id, {"site": "Mattapan", "count": 5}
    )

    assert_refused(
        staff_services, before, answer, 409, "PHASE_CLOSED", "phase", partition=cycle_id
    )
    assert verification(staff_services) == stored


def test_codes_can_be_printed_during_eligibility_review(
    client, staff_stack, make_cycle
):
    make_cycle("codes-early", Phase.ELIGIBILITY_REVIEW)

    answer = generate(
        client,
        staff_stack.token("admin"),
        "codes-early",
        {"site": "Mattapan", "count": 1},
    )

    assert answer.status_code == 201


def test_an_unknown_cycle_or_batch_is_not_found(
    client, staff_services, staff_stack, make_cycle
):
    stored = verification(staff_services)
    before = ledger(staff_services)

    answer = generate(
        client, staff_stack.token("admin"), "no-such-cycle", {"site": "x", "count": 5}
    )

    assert_refused(
        staff_services, before, answer, 404, "NOT_FOUND", "cycle_id", partition="@staff"
    )
    assert verification(staff_services) == stored

    make_cycle("codes-nobatch")
    for batch_id, status, code in (
        ("20270101-ABCDEFGH", 404, "NOT_FOUND"),
        ("not-a-batch", 400, "INVALID_BATCH_ID"),
    ):
        before = ledger(staff_services)
        answer = staff_call(
            client,
            "POST",
            f"{BATCHES.format('codes-nobatch')}/{batch_id}/revoke",
            staff_stack.token("admin"),
            {"reason": "lost"},
        )
        assert_refused(
            staff_services,
            before,
            answer,
            status,
            code,
            "batch_id",
            partition="codes-nobatch",
        )
    assert verification(staff_services) == stored


def test_a_cycle_that_leaves_voting_meanwhile_gets_no_usable_batch(
    staff_services, make_cycle
):
    from chalicelib import codebatches
    from chalicelib.errors import PhaseClosed

    make_cycle("codes-late")
    store, now = staff_services.store, staff_services.clock()
    _, batch = codebatches.prepare(
        store, "codes-late", {"site": "Library", "count": 2}, now=now
    )
    # Voting closes between reading the cycle and storing the batch.
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=staff_services.settings.cycles_table,
        Key={"cycle_id": {"S": "codes-late"}},
        UpdateExpression="SET phase = :p",
        ExpressionAttributeValues={":p": {"S": "tally"}},
    )

    with pytest.raises(PhaseClosed):
        codebatches.commit(
            store, batch, secret=staff_services.voter_secret(), actor="t", now=now
        )

    assert store.list_access_code_batches("codes-late") == []
    assert not [
        i
        for i in items_of(staff_services, "codes-late")
        if i["pk"]["S"].startswith("batch")
    ]
