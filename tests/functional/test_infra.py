"""infra/template.yaml: lint-clean, and the stack it builds in moto.

moto's CloudFormation ignores some properties (stage AllowedValues, PITR, TTL,
bucket versioning, public access block, ownership controls, deletion policies),
never reports table SSE, and cannot create the Secrets Manager secret. Those
are asserted on the parsed template; where moto has an API for them, the moto
checks then confirm that ``pbctl.localstack.create_stack`` applied them.
"""

from __future__ import annotations

import string
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from cfnlint.api import lint_file

from chalicelib.settings import Settings
from pbctl.localstack import (
    TEMPLATE_PATH,
    LocalStackError,
    create_stack,
    load_template,
    start_moto_server,
)

pytestmark = pytest.mark.functional

# logical id -> (table name suffix, [(attribute, key type)])
TABLES = {
    "CyclesTable": ("cycles", [("cycle_id", "HASH")]),
    "VoterMarksTable": ("voter-marks", [("voter_key", "HASH")]),
    "BallotsTable": ("ballots", [("cycle_id", "HASH"), ("ballot_id", "RANGE")]),
    "IdempotencyTable": ("idempotency", [("idempotency_id", "HASH")]),
    "AuditTable": ("audit", [("cycle_id", "HASH"), ("entry_id", "RANGE")]),
}
BUCKETS = ("SiteBucket", "ResultsBucket")
OUTPUTS = {
    *(f"{logical_id}Name" for logical_id in TABLES),
    *(f"{logical_id}Arn" for logical_id in TABLES),
    "SiteBucketName",
    "ResultsBucketName",
    "VoterKeySecretArn",
}
ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE_PATH)


def test_template_passes_cfn_lint() -> None:
    matches = lint_file(Path(TEMPLATE_PATH))

    assert [str(match) for match in matches] == []


def test_stack_creates_with_every_output(stack: dict[str, str]) -> None:
    assert set(stack) == OUTPUTS


def test_outputs_map_onto_settings(settings: Settings) -> None:
    assert settings.cycles_table == "pb-dev-cycles"
    assert settings.ballots_table == "pb-dev-ballots"
    assert settings.stage == "dev"
    assert Settings.from_env() == settings


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_schema_and_protection(stack: dict[str, str], logical_id: str) -> None:
    suffix, keys = TABLES[logical_id]
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    table = dynamodb.describe_table(TableName=f"pb-dev-{suffix}")["Table"]

    assert stack[f"{logical_id}Name"] == f"pb-dev-{suffix}"
    assert stack[f"{logical_id}Arn"] == table["TableArn"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == keys
    assert {
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    } == {(name, "S") for name, _ in keys}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    assert table.get("GlobalSecondaryIndexes", []) == []


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_encrypted_with_kms(template: dict, logical_id: str) -> None:
    properties = template["Resources"][logical_id]["Properties"]

    # moto keeps CloudFormation's SSEEnabled key but reports SSE only for the
    # API's Enabled key, so DescribeTable never shows it: the template is the proof.
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_point_in_time_recovery(
    stack: dict[str, str], template: dict, logical_id: str
) -> None:
    suffix, _ = TABLES[logical_id]
    resource = template["Resources"][logical_id]
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    # moto's CloudFormation ignores this property: the template is the proof.
    assert resource["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    backups = dynamodb.describe_continuous_backups(TableName=f"pb-dev-{suffix}")
    description = backups["ContinuousBackupsDescription"]
    assert (
        description["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        == "ENABLED"
    )


@pytest.mark.parametrize("logical_id", TABLES)
def test_table_is_retained_and_named_by_stage(template: dict, logical_id: str) -> None:
    suffix, _ = TABLES[logical_id]
    resource = template["Resources"][logical_id]

    # moto applies no deletion policy; the template is the proof.
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"
    assert resource["Properties"]["TableName"] == {"Fn::Sub": f"pb-${{Stage}}-{suffix}"}


def test_only_idempotency_expires(stack: dict[str, str], template: dict) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")

    # moto's CloudFormation ignores TimeToLiveSpecification: check the template.
    ttl = {
        logical_id: template["Resources"][logical_id]["Properties"].get(
            "TimeToLiveSpecification"
        )
        for logical_id in TABLES
    }
    assert ttl == {
        "CyclesTable": None,
        "VoterMarksTable": None,
        "BallotsTable": None,
        "IdempotencyTable": {"AttributeName": "expires_at", "Enabled": True},
        "AuditTable": None,
    }
    reported = dynamodb.describe_time_to_live(TableName="pb-dev-idempotency")
    assert reported["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }
    audit = dynamodb.describe_time_to_live(TableName="pb-dev-audit")
    assert audit["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


@pytest.mark.parametrize("logical_id", BUCKETS)
def test_bucket_encrypted_versioned_and_private(
    stack: dict[str, str], template: dict, logical_id: str
) -> None:
    name = stack[f"{logical_id}Name"]
    properties = template["Resources"][logical_id]["Properties"]
    s3 = boto3.client("s3", region_name="us-east-1")

    # moto's CloudFormation models bucket encryption itself.
    encryption = s3.get_bucket_encryption(Bucket=name)
    rules = encryption["ServerSideEncryptionConfiguration"]["Rules"]
    assert [r["ApplyServerSideEncryptionByDefault"] for r in rules] == [
        {"SSEAlgorithm": "AES256"}
    ]

    # moto's CloudFormation ignores these three: the template is the proof, and
    # moto's answers show create_stack applied them to the local stack.
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["PublicAccessBlockConfiguration"] == ALL_BLOCKED
    assert properties["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    public_access = s3.get_public_access_block(Bucket=name)
    assert public_access["PublicAccessBlockConfiguration"] == ALL_BLOCKED
    ownership = s3.get_bucket_ownership_controls(Bucket=name)
    assert ownership["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]


def test_results_bucket_is_retained(template: dict) -> None:
    resource = template["Resources"]["ResultsBucket"]

    assert resource["DeletionPolicy"] == "Retain"
    assert resource["UpdateReplacePolicy"] == "Retain"


def test_voter_key_secret_exists(stack: dict[str, str], template: dict) -> None:
    resource = template["Resources"]["VoterKeySecret"]
    secrets = boto3.client("secretsmanager", region_name="us-east-1")

    # moto's CloudFormation cannot create secrets; create_stack makes one and
    # passes it in, so the resource itself is checked on the template.
    assert resource["Type"] == "AWS::SecretsManager::Secret"
    assert resource["DeletionPolicy"] == "Retain"
    assert resource["Properties"]["Name"] == {"Fn::Sub": "pb-${Stage}-voter-key"}
    assert resource["Properties"]["GenerateSecretString"] == {
        "PasswordLength": 64,
        "ExcludePunctuation": True,
    }
    described = secrets.describe_secret(SecretId=stack["VoterKeySecretArn"])
    assert described["Name"] == "pb-dev-voter-key"
    value = secrets.get_secret_value(SecretId=stack["VoterKeySecretArn"])
    assert len(value["SecretString"]) == 64
    assert set(value["SecretString"]) <= set(string.ascii_letters + string.digits)


def test_stage_is_dev_or_prod_only(template: dict) -> None:
    # moto does not enforce AllowedValues; create_stack and the template do.
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]
    cloudformation = SimpleNamespace(meta=SimpleNamespace(endpoint_url="unused"))

    with pytest.raises(LocalStackError, match="stage must be one of"):
        create_stack(cloudformation, stage="staging")


def test_prod_stack_names_carry_the_stage(aws: None) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")

    outputs = create_stack(cloudformation, stage="prod")

    assert Settings.from_stack_outputs(outputs, stage="prod").to_env() == {
        "PB_CYCLES_TABLE": "pb-prod-cycles",
        "PB_VOTER_MARKS_TABLE": "pb-prod-voter-marks",
        "PB_BALLOTS_TABLE": "pb-prod-ballots",
        "PB_IDEMPOTENCY_TABLE": "pb-prod-idempotency",
        "PB_AUDIT_TABLE": "pb-prod-audit",
        "PB_SITE_BUCKET": outputs["SiteBucketName"],
        "PB_RESULTS_BUCKET": outputs["ResultsBucketName"],
        "PB_VOTER_KEY_SECRET_ARN": outputs["VoterKeySecretArn"],
        "PB_STAGE": "prod",
    }
    assert ":secret:pb-prod-voter-key" in outputs["VoterKeySecretArn"]


def test_stack_creates_in_moto_server_mode() -> None:
    with start_moto_server(port=0) as server:
        assert server.host == "127.0.0.1"
        cloudformation = boto3.client(
            "cloudformation",
            region_name="us-east-1",
            endpoint_url=server.endpoint_url,
        )

        outputs = create_stack(cloudformation, stage="dev")

        dynamodb = boto3.client(
            "dynamodb", region_name="us-east-1", endpoint_url=server.endpoint_url
        )
        tables = dynamodb.list_tables()["TableNames"]
    assert set(outputs) == OUTPUTS
    assert sorted(tables) == sorted(f"pb-dev-{suffix}" for suffix, _ in TABLES.values())


def test_moto_server_refuses_non_loopback_hosts() -> None:
    with pytest.raises(LocalStackError, match="loopback"):
        start_moto_server(port=0, host="0.0.0.0")


def test_create_stack_refuses_a_real_endpoint_without_moto() -> None:
    # A stub, never a real client: nothing is sent anywhere.
    cloudformation = SimpleNamespace(
        meta=SimpleNamespace(
            endpoint_url="https://cloudformation.us-east-1.amazonaws.com",
            region_name="us-east-1",
        )
    )

    with pytest.raises(LocalStackError, match="refusing to build the local stack"):
        create_stack(cloudformation, stage="dev")
