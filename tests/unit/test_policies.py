"""The hand-written IAM policies keep the API away from what it must not touch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")


def grants(path: Path) -> dict[str, set[str]]:
    """Table name to the DynamoDB actions the policy allows on it."""
    allowed: dict[str, set[str]] = {}
    for statement in json.loads(path.read_text())["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if ":table/" in resource:
                table = resource.split(":table/")[1]
                allowed.setdefault(table, set()).update(statement["Action"])
    return allowed


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_cannot_change_cycles_or_audit_or_read_ballots(stage):
    api = grants(ROOT / ".chalice" / f"policy-{stage}.json")

    assert api[f"pb-{stage}-cycles"] == {
        "dynamodb:GetItem",
        "dynamodb:ConditionCheckItem",
    }
    assert f"pb-{stage}-audit" not in api
    assert api[f"pb-{stage}-ballots"] == {"dynamodb:PutItem"}
    assert api[f"pb-{stage}-voter-marks"] == {"dynamodb:PutItem", "dynamodb:GetItem"}
    assert not any("*" in action for actions in api.values() for action in actions)


@pytest.mark.parametrize("stage", STAGES)
def test_the_scheduled_app_reads_ballots_but_no_voter_marks(stage):
    scheduled = grants(ROOT / "scheduled" / ".chalice" / f"policy-{stage}.json")

    assert scheduled[f"pb-{stage}-ballots"] == {"dynamodb:Query"}
    assert f"pb-{stage}-voter-marks" not in scheduled
    assert f"pb-{stage}-idempotency" not in scheduled
    assert "dynamodb:UpdateItem" not in scheduled[f"pb-{stage}-cycles"]
