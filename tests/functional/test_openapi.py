"""The API serves its OpenAPI document, and real answers match it.

The Schemathesis run (test_openapi_fuzz.py) cannot reach a published
result in its few minutes of voting; here a cycle is voted, closed by the
phase clock and tallied, and ``GET /results`` is checked against the
document's ``Result`` schema, and each file it lists, read with
``GET /results/files/{name}``, against the document's answer for it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta

import pytest
from chalice.test import Client
from jsonschema import Draft202012Validator, FormatChecker

from app import app as api_app
from chalicelib.api.public import OPENAPI
from scheduled.app import app as scheduled_app
from tests.functional.test_phase_clock import tick

pytestmark = pytest.mark.functional

DOCUMENT = json.loads(OPENAPI.read_text(encoding="utf-8"))


def conforms(body: object, schema_name: str) -> list[str]:
    """The ways ``body`` breaks the document's ``schema_name``; empty if none."""
    return conforms_to(body, {"$ref": f"#/components/schemas/{schema_name}"})


def conforms_to(body: object, schema: dict) -> list[str]:
    """The ways ``body`` breaks ``schema`` (its refs into the document)."""
    validator = Draft202012Validator(
        {**DOCUMENT, **schema}, format_checker=FormatChecker()
    )
    return [error.message for error in validator.iter_errors(body)]


def test_the_document_is_served_and_cacheable() -> None:
    with Client(api_app) as client:
        answer = client.http.get("/openapi.json")

    assert answer.status_code == 200
    assert answer.json_body == DOCUMENT
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "public, max-age=3600"
    assert answer.headers["X-Request-Id"]


def test_a_read_with_any_content_type_gets_the_documented_answer(services) -> None:
    # Chalice alone would answer 415 {"Code", "Message"}: outside the document.
    with Client(api_app) as client:
        for path, status, code in [
            ("/openapi.json", 200, None),
            ("/cycle", 404, "NOT_FOUND"),
            ("/ballot", 404, "NOT_FOUND"),
            ("/staff/me", 401, "TOKEN_MISSING"),
            ("/staff/audit.csv", 401, "TOKEN_MISSING"),
        ]:
            answer = client.http.get(path, headers={"Content-Type": "text/plain"})

            assert answer.status_code == status, path
            if code is not None:
                assert answer.json_body["code"] == code
                assert conforms(answer.json_body, "Error") == []


def test_a_published_result_matches_the_document(services, voting_cycle) -> None:
    deadline = voting_cycle.calendar[voting_cycle.phase].end
    with Client(api_app) as api, Client(scheduled_app) as clock:
        for number, selections in enumerate([["p1"], ["p2", "p3"], ["p2"]]):
            cast = api.http.post(
                "/ballots",
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex,
                },
                body=json.dumps(
                    {
                        "selections": selections,
                        "attestation": {"boston_resident": True, "age": 30},
                        "voter": {"kind": "email", "value": f"r{number}@example.org"},
                        "neighbourhood": "roxbury",
                    }
                ),
            )
            assert cast.status_code == 201, cast.json_body
            assert conforms(cast.json_body, "Receipt") == []
        tick(clock, deadline + timedelta(minutes=2))

        result = api.http.get("/results")
        cycle = api.http.get("/cycle")
        ballot = api.http.get("/ballot")
        files = {
            name: api.http.get(f"/results/files/{name}")
            for name in result.json_body["files"]
        }
        unlisted = api.http.get("/results/files/result.json")

    assert result.status_code == 200
    assert result.json_body["ballots_counted"] == 3
    assert conforms(result.json_body, "Result") == []
    assert cycle.json_body["phase"] == "results"
    assert conforms(cycle.json_body, "PublicCycle") == []
    assert conforms(ballot.json_body, "Ballot") == []

    operation = DOCUMENT["paths"]["/results/files/{name}"]["get"]
    media = set(operation["responses"]["200"]["content"])
    assert set(files) == {"result.csv", "ballots.pb", "ballots.csv", "receipts.txt"}
    for name, answer in files.items():
        assert answer.status_code == 200, name
        assert answer.headers["Content-Type"].split(";")[0] in media, name
        digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        assert digest == result.json_body["files"][name], name
    assert unlisted.status_code == 404
    assert unlisted.json_body["code"] == "NO_SUCH_FILE"
    refusals = operation["responses"]["404"]["content"]["application/json"]
    assert conforms_to(unlisted.json_body, refusals["schema"]) == []
