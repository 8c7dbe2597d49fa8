"""``pbctl cycle create``, ``pbctl audit export`` and ``pbctl staff-token``
against a moto server on loopback, and the JWKS fetched from it over HTTP."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import boto3
import pytest

from chalicelib.auth import TokenVerifier
from chalicelib.storage.jwks import JwksFetcher
from pbctl.localstack import (
    create_stack,
    create_staff_user,
    jwks_url,
    start_moto_server,
)
from pbctl.main import main
from pbctl.operator import LOCAL_ENV
from tests.functional.conftest import STAFF_PASSWORD, dead_endpoint

pytestmark = pytest.mark.functional

CYCLE_YAML = """\
cycle_id: yaml-2027
name: Boston PB 2027
budget_cap: 1000000
selection_limit: 5
min_voting_age: 11
languages: [en, es]
verification: [sms, email, attested]
calendar:
  idea_collection: {start: 2030-01-01T09:00:00-05:00, end: 2030-01-31T17:00:00-05:00}
  priorities: {start: 2030-02-01T09:00:00-05:00, end: 2030-02-28T17:00:00-05:00}
  eligibility_review: {start: 2030-03-01T09:00:00-05:00, end: 2030-03-15T17:00:00-04:00}
  visioning: {start: 2030-03-16T09:00:00-04:00, end: 2030-04-30T17:00:00-04:00}
  ballot_review: {start: 2030-05-01T09:00:00-04:00, end: 2030-05-15T17:00:00-04:00}
  voting: {start: "2030-05-16T09:00:00-04:00", end: "2030-05-31T20:00:00-04:00"}
  tally: {start: 2030-06-01T00:00:00Z, end: 2030-06-02T00:00:00Z}
  results: {start: 2030-06-02T00:00:00Z, end: 2030-06-30T00:00:00Z}
  implementation: {start: 2030-07-01T00:00:00Z, end: 2031-06-30T00:00:00Z}
proposals:
  - proposal_id: trees
    cost: 400000
    title: {en: Street trees, es: Árboles}
"""


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_ENV.items():
            patch.setenv(name, value)
        with start_moto_server(0) as running:
            cloudformation = boto3.client(
                "cloudformation", endpoint_url=running.endpoint_url
            )
            outputs = create_stack(cloudformation, stage="dev")
            cognito = boto3.client("cognito-idp", endpoint_url=running.endpoint_url)
            create_staff_user(
                cognito,
                outputs["UserPoolId"],
                "admin",
                ["office-admin"],
                STAFF_PASSWORD,
            )
            yield running, outputs


@pytest.fixture
def local_env(monkeypatch):
    """pbctl points this process at the endpoint; put everything back after."""
    for name in [*LOCAL_ENV, "AWS_ENDPOINT_URL"]:
        monkeypatch.setenv(name, os.environ.get(name, ""))


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_staff_token_signs_in_and_the_key_set_is_fetched_over_loopback(
    server, local_env, capsys
):
    running, outputs = server

    status, out, err = run(
        capsys,
        "staff-token",
        "--endpoint-url",
        running.endpoint_url,
        "--username",
        "admin",
        "--password",
        STAFF_PASSWORD,
    )

    assert status == 0, err
    verifier = TokenVerifier(
        issuer=outputs["UserPoolIssuer"],
        client_id=outputs["UserPoolClientId"],
        keys=JwksFetcher(jwks_url(running.endpoint_url, outputs["UserPoolId"])),
    )
    identity = verifier.verify(out.strip())
    assert identity.actor == "staff:admin"
    assert identity.groups == {"office-admin"}


def test_staff_token_refuses_a_wrong_password_and_a_remote_endpoint(
    server, local_env, capsys
):
    running, _ = server
    wrong = run(
        capsys,
        "staff-token",
        "--endpoint-url",
        running.endpoint_url,
        "--username",
        "admin",
        "--password",
        "not-it",
    )
    remote = run(
        capsys,
        "staff-token",
        "--endpoint-url",
        "https://cognito-idp.us-east-1.amazonaws.com",
        "--username",
        "admin",
        "--password",
        "x",
    )

    assert wrong[0] == 1
    assert "sign-in refused (NotAuthorizedException)" in wrong[2]
    assert remote[0] == 2  # bad usage: only a loopback moto server
    assert "refusing endpoint" in remote[2]


def test_cycle_create_from_yaml_then_audit_export(
    server, local_env, capsys, tmp_path: Path
):
    running, outputs = server
    path = tmp_path / "cycle.yaml"
    path.write_text(CYCLE_YAML, encoding="utf-8")

    created = run(
        capsys, "cycle", "create", str(path), "--endpoint-url", running.endpoint_url
    )
    out_file = tmp_path / "audit.csv"
    exported = run(
        capsys,
        "audit",
        "export",
        "yaml-2027",
        "--out",
        str(out_file),
        "--endpoint-url",
        running.endpoint_url,
    )

    assert created[0] == 0, created[2]
    assert '"cycle_id": "yaml-2027"' in created[1]
    assert '"voting": {"start": "2030-05-16T13:00:00Z"' in created[1]
    assert '"verification": ["sms", "email", "attested"]' in created[1]
    assert exported[0] == 0, exported[2]
    rows = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert [r["action"] for r in rows] == ["cycle_created", "audit_exported"]
    assert rows[0]["actor"].startswith("pbctl:")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("budget_cap: 1000000", "budget_cap: lots"),
            "INVALID_TYPE (field budget_cap)",
        ),
        (
            (
                "tally: {start: 2030-06-01T00:00:00Z",
                "tally: {start: 2030-06-01T00:00:00",
            ),
            "INVALID_TIME (field calendar.tally.start)",
        ),
        (
            ("languages: [en, es]", "languages: [es]"),
            "INVALID_LANGUAGE (field languages)",
        ),
        (
            ("verification: [sms, email, attested]", "verification: [sms, fax]"),
            "INVALID_INPUT (field verification)",
        ),
        (
            ("verification: [sms, email, attested]", "verification: sms"),
            "INVALID_TYPE (field verification)",
        ),
    ],
)
def test_a_bad_cycle_file_writes_nothing(
    server, local_env, capsys, tmp_path: Path, change, message
):
    running, outputs = server
    path = tmp_path / "cycle.yaml"
    path.write_text(
        CYCLE_YAML.replace("yaml-2027", "bad-yaml").replace(*change), encoding="utf-8"
    )

    before = staff_refusals(running, outputs)

    status, _, err = run(
        capsys, "cycle", "create", str(path), "--endpoint-url", running.endpoint_url
    )

    assert status == 2  # an invalid file is bad input
    assert message in err
    # The refusal is audited under @staff: the command, code and field only.
    code, field = message.split(" (field ")
    refusals = staff_refusals(running, outputs)
    assert refusals[:-1] == before
    assert refusals[-1]["after"] == {
        "command": "pbctl cycle create",
        "code": code,
        "field": field.rstrip(")"),
    }
    assert refusals[-1]["actor"].startswith("pbctl:")
    dynamodb = boto3.client("dynamodb", endpoint_url=running.endpoint_url)
    item = dynamodb.get_item(
        TableName=outputs["CyclesTableName"], Key={"cycle_id": {"S": "bad-yaml"}}
    )
    assert "Item" not in item
    audit = dynamodb.query(
        TableName=outputs["AuditTableName"],
        KeyConditionExpression="cycle_id = :c",
        ExpressionAttributeValues={":c": {"S": "bad-yaml"}},
    )
    assert audit["Items"] == []


def staff_refusals(running, outputs) -> list[dict]:
    """The ``refused`` entries of the ``@staff`` log, oldest first."""
    dynamodb = boto3.client("dynamodb", endpoint_url=running.endpoint_url)
    items = dynamodb.query(
        TableName=outputs["AuditTableName"],
        KeyConditionExpression="cycle_id = :c",
        ExpressionAttributeValues={":c": {"S": "@staff"}},
        ConsistentRead=True,
    )["Items"]
    return [
        {"actor": i["actor"]["S"], "after": json.loads(i["after"]["S"])}
        for i in items
        if i["action"]["S"] == "refused"
    ]


def test_a_file_that_is_not_yaml_is_a_usage_error_and_audited(
    server, local_env, capsys, tmp_path: Path
):
    running, outputs = server
    path = tmp_path / "cycle.yaml"
    path.write_text("cycle_id: [unclosed", encoding="utf-8")
    before = len(staff_refusals(running, outputs))

    status, _, err = run(
        capsys, "cycle", "create", str(path), "--endpoint-url", running.endpoint_url
    )

    assert status == 2
    assert "is not valid YAML" in err
    refusals = staff_refusals(running, outputs)
    assert len(refusals) == before + 1
    assert refusals[-1]["after"] == {
        "command": "pbctl cycle create",
        "code": "INVALID_INPUT",
        "field": "file",
    }


def test_yaml_aliases_are_refused_before_they_can_expand(
    server, local_env, tmp_path, capsys
):
    running, _ = server
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x", "x"]\nb: &b [*a, *a]\nc: [*b, *b]\n')

    status = main(
        ["cycle", "create", str(bomb), "--endpoint-url", running.endpoint_url]
    )

    assert status == 2
    assert "aliases" in capsys.readouterr().err


def test_an_unreadable_file_and_no_stage_is_still_a_usage_error(
    local_env, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # Nothing listens on this loopback port: the refusal cannot be audited,
    # and the file's fault, not the network's, decides the exit status.
    missing = tmp_path / "nope.yaml"

    status = main(["cycle", "create", str(missing), "--endpoint-url", dead_endpoint()])

    err = capsys.readouterr().err
    assert status == 2
    assert "nope.yaml" in err
    assert "the refusal was not audited" in err
