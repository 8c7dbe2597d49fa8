"""Logs and metrics of a ballot: a correlation id on every log line, no
personal data anywhere in the output, and the metric helpers' EMF lines."""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest
from chalice.test import Client

from app import app
from chalicelib.observability import count, idea_submitted, logger
from tests.functional.conftest import table_items

pytestmark = pytest.mark.functional

EMAIL = "resident.privacy@example.org"
PHONE = "+16175550123"
ADULT = {"boston_resident": True, "birth_date": "1990-04-01"}


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _metrics(lines: list[dict]) -> dict[str, dict]:
    """``{metric name: the EMF line}`` of every embedded-metric line."""
    found = {}
    for line in lines:
        for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                found[metric["Name"]] = line
    return found


@pytest.fixture
def debug_logs(monkeypatch, capsys):
    """Every log level on, metrics on: the most the app ever writes. Yields a
    function that sends Powertools' log lines (its handler keeps the stdout it
    was built with) to capsys as well."""
    monkeypatch.setenv("PB_METRICS", "on")
    before = logger.log_level
    handlers = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    streams = [(h, h.stream) for h in handlers]

    def redirect() -> None:
        """Call in the test: capsys's stdout is only final then."""
        for handler in handlers:
            handler.stream = sys.stdout

    logger.setLevel(logging.DEBUG)
    logging.getLogger("chalicelib").setLevel(logging.DEBUG)
    yield redirect
    logger.setLevel(before)
    logging.getLogger("chalicelib").setLevel(before)
    for handler, stream in streams:
        handler.stream = stream  # as it was, without flushing capsys's stream


def _cast(client, voter: dict, key: str):
    body = {"selections": ["p1"], "attestation": ADULT, "voter": voter}
    return client.http.post(
        "/ballots",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        body=json.dumps(body),
    )


def test_ballot_logs_carry_a_correlation_id_and_no_personal_data(
    voting_cycle, settings, debug_logs, capsys
):
    debug_logs()
    capsys.readouterr()
    keys = [uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex]
    with Client(app) as client:
        recorded = _cast(client, {"kind": "email", "value": EMAIL}, keys[0])
        by_phone = _cast(client, {"kind": "phone", "value": PHONE}, keys[1])
        again = _cast(client, {"kind": "email", "value": EMAIL}, keys[2])
    out = capsys.readouterr().out

    assert (recorded.status_code, by_phone.status_code) == (201, 201)
    assert again.status_code == 409
    assert again.json_body["code"] == "ALREADY_VOTED"
    lines = _lines(out)
    logs = [line for line in lines if "level" in line]
    request_ids = {r.headers["X-Request-Id"] for r in (recorded, by_phone, again)}
    assert logs, out
    assert {line["correlation_id"] for line in logs} <= request_ids
    assert all(line["correlation_id"] for line in logs)
    receipts = [recorded.json_body["receipt"], by_phone.json_body["receipt"]]
    voter_keys = [m["voter_key"]["S"] for m in table_items(settings.voter_marks_table)]
    ballot_ids = [b["ballot_id"]["S"] for b in table_items(settings.ballots_table)]
    assert len(voter_keys) == 2 and len(ballot_ids) == 2
    for secret in [EMAIL, PHONE, PHONE[2:], *receipts, *voter_keys, *ballot_ids]:
        assert secret not in out
    for receipt in receipts:
        assert receipt.replace("-", "") not in out
    metrics = _metrics(lines)
    assert metrics["BallotRecorded"]["channel"] == "online"
    assert metrics["BallotRefused"]["code"] == "ALREADY_VOTED"


def test_idea_submitted_emits_one_count_by_channel_and_stage(monkeypatch, capsys):
    monkeypatch.setenv("PB_METRICS", "on")
    monkeypatch.setenv("PB_STAGE", "prod")

    idea_submitted("event")

    (line,) = _lines(capsys.readouterr().out)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "BostonPB"
    assert directive["Metrics"] == [{"Name": "IdeaSubmitted", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["channel", "stage"]
    assert (line["IdeaSubmitted"], line["channel"], line["stage"]) == (
        [1.0],
        "event",
        "prod",
    )


def test_metrics_switched_off_write_nothing(monkeypatch, capsys):
    monkeypatch.setenv("PB_METRICS", "off")

    idea_submitted("online")
    count("BallotRecorded", channel="online")

    assert capsys.readouterr().out == ""
