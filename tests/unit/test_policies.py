"""The hand-written IAM policies keep the API away from what it must not touch.

IAM cannot check a condition expression, so "append only" is enforced in two
layers: the role may only PutItem on the audit table, inside transactions
(no UpdateItem, DeleteItem or BatchWriteItem), and every put the code makes
carries ``attribute_not_exists`` (see ``Store.append_audit``).
"""

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
        assert statement["Effect"] in ("Allow", "Deny")
        if statement["Effect"] == "Deny":
            assert not any(a.startswith("dynamodb:") for a in statement["Action"])
            continue
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if ":table/" in resource:
                table = resource.split(":table/")[1]
                allowed.setdefault(table, set()).update(statement["Action"])
    return allowed


def transaction_only(path: Path) -> dict[str, set[str]]:
    """Table name to the actions granted only inside ``TransactWriteItems``."""
    only: dict[str, set[str]] = {}
    for statement in json.loads(path.read_text())["Statement"]:
        condition = statement.get("Condition", {}).get("ForAnyValue:StringEquals", {})
        if condition.get("dynamodb:EnclosingOperation") != ["TransactWriteItems"]:
            continue
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if ":table/" in resource:
                table = resource.split(":table/")[1]
                only.setdefault(table, set()).update(statement["Action"])
    return only


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_only_appends_audit_and_changes_cycles_in_transactions(stage):
    path = ROOT / ".chalice" / f"policy-{stage}.json"
    api = grants(path)
    in_transactions = transaction_only(path)

    # Cycles: read, check, and conditional puts inside transactions only.
    assert api[f"pb-{stage}-cycles"] == {
        "dynamodb:GetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
    }
    assert "dynamodb:PutItem" in in_transactions[f"pb-{stage}-cycles"]
    # Audit: append (inside transactions) and read for the export; nothing
    # that changes or removes an entry.
    assert api[f"pb-{stage}-audit"] == {"dynamodb:PutItem", "dynamodb:Query"}
    assert in_transactions[f"pb-{stage}-audit"] == {"dynamodb:PutItem"}
    for table in (f"pb-{stage}-cycles", f"pb-{stage}-audit"):
        assert not api[table] & {
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        }


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_never_reads_ballots_and_counts_turnout_on_the_index_only(stage):
    api = grants(ROOT / ".chalice" / f"policy-{stage}.json")

    assert api[f"pb-{stage}-ballots"] == {"dynamodb:PutItem"}
    assert not any(table.startswith(f"pb-{stage}-ballots/") for table in api)
    assert api[f"pb-{stage}-voter-marks"] == {"dynamodb:PutItem", "dynamodb:GetItem"}
    assert api[f"pb-{stage}-voter-marks/index/by-cycle"] == {"dynamodb:Query"}
    assert not any("*" in action for actions in api.values() for action in actions)
    assert not any("*" in table for table in api)


@pytest.mark.parametrize("stage", STAGES)
def test_the_scheduled_app_reads_ballots_but_no_voter_marks(stage):
    scheduled = grants(ROOT / "scheduled" / ".chalice" / f"policy-{stage}.json")

    assert scheduled[f"pb-{stage}-ballots"] == {"dynamodb:Query"}
    assert f"pb-{stage}-voter-marks" not in scheduled
    assert f"pb-{stage}-idempotency" not in scheduled
    assert "dynamodb:UpdateItem" not in scheduled[f"pb-{stage}-cycles"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_writes_paper_batches_in_transactions_only(stage):
    path = ROOT / ".chalice" / f"policy-{stage}.json"
    api = grants(path)
    in_transactions = transaction_only(path)
    table = f"pb-{stage}-paper"

    assert api[table] == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert in_transactions[table] == {
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert not api[table] & {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}


@pytest.mark.parametrize("stage", STAGES)
def test_the_scheduled_app_only_reads_paper_and_seals_its_ledger(stage):
    scheduled = grants(ROOT / "scheduled" / ".chalice" / f"policy-{stage}.json")

    assert scheduled[f"pb-{stage}-paper"] == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_texts_phones_only_and_emails_as_its_own_stage(stage):
    statements = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())[
        "Statement"
    ]
    messaging = [
        s
        for s in statements
        if any(a.split(":")[0] in ("sns", "ses") for a in s["Action"])
    ]
    by_sid = {s["Sid"]: s for s in messaging}

    # Direct-to-phone Publish has no ARN to name, so it needs Resource "*";
    # a Deny on every SNS ARN keeps it from topics and mobile apps.
    text = by_sid["TextOneTimeCodesToPhones"]
    assert (text["Effect"], text["Action"], text["Resource"]) == (
        "Allow",
        ["sns:Publish"],
        "*",
    )
    deny = by_sid["NeverPublishToTopicsOrApps"]
    assert (deny["Effect"], deny["Action"], deny["Resource"]) == (
        "Deny",
        ["sns:Publish"],
        "arn:aws:sns:*:*:*",
    )
    # Email only through SES SendEmail, and only from the stage's sender.
    email = by_sid["EmailOneTimeCodesAsTheStage"]
    assert email["Action"] == ["ses:SendEmail"]
    assert email["Condition"] == {
        "StringLike": {"ses:FromAddress": f"pb-{stage}-codes@*"}
    }
    assert len(messaging) == 3
