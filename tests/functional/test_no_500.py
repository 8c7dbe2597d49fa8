"""No input produces a 500: seeded random mutations of a valid ballot."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from chalice.test import Client

from app import app
from tests.functional.conftest import table_items

pytestmark = pytest.mark.functional

VALID = {
    "selections": ["p1", "p2"],
    "attestation": {"boston_resident": True, "birth_date": "1990-04-01"},
    "voter": {"kind": "email", "value": "fuzz@example.org"},
    "neighbourhood": "dorchester",
    "age_bracket": "35-44",
}
ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**70,
    1.5,
    float("inf"),
    "",
    " ",
    "p1",
    "\u0000",
    "é" * 300,
    "<img src=x onerror=alert(1)>",
    [],
    [None],
    ["p1"] * 50,
    {},
    {"kind": "phone", "value": "+1" + "9" * 40},
    "2010-02-30",
    "9999-12-31",
    {"$ne": None},
    "'; DROP TABLE ballots; --",
    ["p1", {"x": 1}],
]


def mutate(rng: random.Random, value: object, depth: int = 0) -> object:
    """Replace, drop or add one thing somewhere in ``value``."""
    if isinstance(value, dict) and value and depth < 3 and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        copy = dict(value)
        roll = rng.random()
        if roll < 0.2:
            del copy[key]
        elif roll < 0.3:
            copy[rng.choice(["extra", "Selections", key + " "])] = 1
        else:
            copy[key] = mutate(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.5:
        copy = list(value)
        copy[rng.randrange(len(copy))] = rng.choice(ODD_VALUES)
        return copy
    return rng.choice(ODD_VALUES)


def test_random_bodies_never_get_a_5xx(voting_cycle, settings):
    rng = random.Random(20261204)
    statuses = set()
    with Client(app) as client:
        for _ in range(250):
            body = mutate(rng, VALID)
            answer = client.http.post(
                "/ballots",
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                },
                body=json.dumps(body, allow_nan=True),
            )
            statuses.add(answer.status_code)
            assert answer.status_code < 500, (body, answer.body)
            if answer.status_code >= 400:
                assert set(answer.json_body) >= {"code", "message"}
    # The mutations reach both sides: some are accepted, most refused.
    assert 201 in statuses and 400 in statuses
    accepted = len(table_items(settings.ballots_table))
    assert accepted == len(table_items(settings.voter_marks_table))
    assert accepted == len(table_items(settings.idempotency_table))


def test_random_verification_bodies_never_get_a_5xx(voting_cycle, settings):
    rng = random.Random(20270503)
    valid = {"method": "sms", "contact": "617 555 0134", "language": "en"}
    statuses = set()
    with Client(app) as client:
        started = client.http.post(
            "/verifications",
            headers={"Content-Type": "application/json"},
            body=json.dumps(valid),
        )
        assert started.status_code == 202
        check_path = f"/verifications/{started.json_body['verification_id']}"
        for number in range(160):
            path = "/verifications" if number % 2 else check_path
            body = mutate(rng, valid if number % 2 else {"code": "123456"})
            answer = client.http.post(
                path,
                headers={"Content-Type": "application/json"},
                body=json.dumps(body, allow_nan=True),
            )
            statuses.add(answer.status_code)
            assert answer.status_code < 500, (path, body, answer.body)
            if answer.status_code >= 400:
                assert set(answer.json_body) >= {"code", "message"}
    assert 400 in statuses


@pytest.mark.parametrize(
    "method, path, headers, body",
    [
        ("GET", "/cycle?x=%00", {}, None),
        ("GET", "/ballot", {"Content-Type": "text/html"}, None),
        (
            "POST",
            "/ballots",
            {
                "Content-Type": "application/json; charset=latin-1",
                "Idempotency-Key": "k" * 200,
            },
            "{}",
        ),
        ("POST", "/ballots", {"Content-Type": "application/json"}, ""),
        (
            "POST",
            "/ballots",
            {"Content-Type": "application/json", "Idempotency-Key": "abcdefgh"},
            "null",
        ),
        (
            "POST",
            "/ballots",
            {"Content-Type": "application/json", "Idempotency-Key": "abcdefgh"},
            '{"a":NaN}',
        ),
        ("POST", "/verifications", {"Content-Type": "application/json"}, "null"),
        (
            "POST",
            "/verifications/" + "%00" * 30,
            {"Content-Type": "application/json"},
            '{"code": "123456"}',
        ),
    ],
)
def test_odd_requests_never_get_a_5xx(voting_cycle, method, path, headers, body):
    with Client(app) as client:
        answer = client.http.request(method, path, headers=headers, body=body)
    assert answer.status_code < 500, answer.body


@pytest.mark.parametrize(
    "raw",
    [
        '{"selections": ["p1"], "\\ud800": 1}',
        '{"selections": ["p1"], "attestation": {"boston_resident": true, "age": 30},'
        ' "voter": {"kind": "email", "value": "a\\udc00@example.org"}}',
        '{"selections": ["\\ud83d"]}',
    ],
)
def test_lone_surrogates_are_refused_as_malformed(voting_cycle, settings, raw):
    with Client(app) as client:
        answer = client.http.post(
            "/ballots",
            headers={"Content-Type": "application/json", "Idempotency-Key": "abcdefgh"},
            body=raw,
        )
    assert answer.status_code == 400
    assert (answer.json_body["code"], answer.json_body["field"]) == (
        "MALFORMED_JSON",
        "body",
    )
    assert table_items(settings.ballots_table) == []


def test_no_cycle_yet_is_a_clean_404(services):
    with Client(app) as client:
        for path in ("/cycle", "/ballot", "/results"):
            answer = client.http.get(path)
            assert answer.status_code == 404
            assert answer.json_body["code"] == "NOT_FOUND"
