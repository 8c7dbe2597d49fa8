"""infra/template.yaml: lint-clean, and the stack it builds in moto.

moto's CloudFormation ignores some properties (stage AllowedValues, PITR, TTL,
bucket versioning, public access block, ownership controls, deletion policies),
never reports table SSE, and cannot create the Secrets Manager secret. Those
are asserted on the parsed template; where moto has an API for them, the moto
checks then confirm that ``pbctl.localstack.create_stack`` applied them.

moto has no CloudFront at all (nor ``AWS::S3::BucketPolicy``): the
distribution, its origin access control, its response headers policy and the
site bucket policy sit under the ``DeployCdn`` condition, the local stack is
built with ``CreateCdn=false``, and they are asserted on the template.
"""

from __future__ import annotations

import re
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
    "VerificationTable": ("verification", [("pk", "HASH")]),
    "PaperTable": ("paper", [("cycle_id", "HASH"), ("item_id", "RANGE")]),
}
BUCKETS = ("SiteBucket", "ResultsBucket", "ArtifactsBucket")
OUTPUTS = {
    *(f"{logical_id}Name" for logical_id in TABLES),
    *(f"{logical_id}Arn" for logical_id in TABLES),
    "SiteBucketName",
    "ResultsBucketName",
    "ArtifactsBucketName",
    "VoterKeySecretArn",
    "UserPoolId",
    "UserPoolArn",
    "UserPoolClientId",
    "UserPoolIssuer",
    "ScheduledDeadLetterQueueArn",
    "ScheduledDeadLetterQueueUrl",
    "AlarmTopicArn",
}
#: Indexes by table: the dashboard's turnout index on voter marks only.
INDEXES = {
    "VoterMarksTable": [
        {
            "IndexName": "by-cycle",
            "KeySchema": [{"AttributeName": "cycle_id", "KeyType": "HASH"}],
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": ["channel", "neighbourhood"],
            },
        }
    ]
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
    indexes = INDEXES.get(logical_id, [])
    index_keys = {k["AttributeName"] for i in indexes for k in i["KeySchema"]}
    assert {
        (a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]
    } == {(name, "S") for name, _ in keys} | {(name, "S") for name in index_keys}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    assert [
        {k: i[k] for k in ("IndexName", "KeySchema", "Projection")}
        for i in table.get("GlobalSecondaryIndexes", [])
    ] == indexes


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


def test_only_idempotency_and_verification_expire(
    stack: dict[str, str], template: dict
) -> None:
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
        "VerificationTable": {"AttributeName": "expires_at", "Enabled": True},
        "AuditTable": None,
        "PaperTable": None,
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
        "PB_VERIFICATION_TABLE": "pb-prod-verification",
        "PB_PAPER_TABLE": "pb-prod-paper",
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


# CloudFront in front of the site bucket (template only: moto has no CloudFront)

CDN_RESOURCES = {
    "SiteBucketPolicy": "AWS::S3::BucketPolicy",
    "SiteOriginAccessControl": "AWS::CloudFront::OriginAccessControl",
    "SiteResponseHeadersPolicy": "AWS::CloudFront::ResponseHeadersPolicy",
    "SiteDistribution": "AWS::CloudFront::Distribution",
}
CSP_WITHOUT_API = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self' {cognito}; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
).format(cognito="https://cognito-idp.us-east-1.amazonaws.com")
API_ORIGIN = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def resolve(value, template: dict, parameters: dict[str, str]):
    """Evaluate the few intrinsics the CSP uses (Ref, Sub, If, Equals, Not)."""
    if not isinstance(value, dict):
        return value
    ((name, argument),) = value.items()
    if name == "Ref":
        return parameters[argument]
    if name == "Fn::Sub":
        text, names = argument if isinstance(argument, list) else (argument, {})
        names = {k: resolve(v, template, parameters) for k, v in names.items()}
        return re.sub(
            r"\$\{([^}]+)\}", lambda m: {**parameters, **names}[m.group(1)], text
        )
    if name == "Fn::If":
        condition, if_true, if_false = argument
        chosen = resolve(template["Conditions"][condition], template, parameters)
        return resolve(if_true if chosen else if_false, template, parameters)
    if name == "Fn::Equals":
        left, right = (resolve(a, template, parameters) for a in argument)
        return left == right
    if name == "Fn::Not":
        return not resolve(argument[0], template, parameters)
    raise AssertionError(f"unexpected intrinsic {name}")


def test_cdn_resources_exist_only_when_deploying_the_cdn(template: dict) -> None:
    resources = template["Resources"]
    parameter = template["Parameters"]["CreateCdn"]

    assert {
        logical_id: (resources[logical_id]["Type"], resources[logical_id]["Condition"])
        for logical_id in CDN_RESOURCES
    } == {logical_id: (kind, "DeployCdn") for logical_id, kind in CDN_RESOURCES.items()}
    assert template["Conditions"]["DeployCdn"] == {
        "Fn::Equals": [{"Ref": "CreateCdn"}, "true"]
    }
    assert (parameter["Default"], parameter["AllowedValues"]) == (
        "true",
        ["true", "false"],
    )
    # Nothing outside the condition may point at a CDN resource.
    unconditional = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource.get("Condition") != "DeployCdn"
    }
    for cdn_id in CDN_RESOURCES:
        assert cdn_id not in repr(unconditional)


def test_distribution_serves_the_bucket_over_https_only(template: dict) -> None:
    config = template["Resources"]["SiteDistribution"]["Properties"][
        "DistributionConfig"
    ]
    behaviour = config["DefaultCacheBehavior"]

    assert config["Enabled"] is True
    assert config["DefaultRootObject"] == "index.html"
    assert config["Origins"] == [
        {
            "Id": "site-bucket",
            "DomainName": {"Fn::GetAtt": ["SiteBucket", "RegionalDomainName"]},
            "OriginAccessControlId": {"Fn::GetAtt": ["SiteOriginAccessControl", "Id"]},
            # An empty identity: origin access control, not the legacy OAI.
            "S3OriginConfig": {"OriginAccessIdentity": ""},
        }
    ]
    assert behaviour["TargetOriginId"] == "site-bucket"
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["Compress"] is True
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "SiteResponseHeadersPolicy"}


def test_origin_access_control_signs_every_request(template: dict) -> None:
    config = template["Resources"]["SiteOriginAccessControl"]["Properties"][
        "OriginAccessControlConfig"
    ]

    assert config["OriginAccessControlOriginType"] == "s3"
    assert config["SigningBehavior"] == "always"
    assert config["SigningProtocol"] == "sigv4"


def test_site_bucket_is_readable_only_by_the_distribution(template: dict) -> None:
    properties = template["Resources"]["SiteBucketPolicy"]["Properties"]
    allow, deny = properties["PolicyDocument"]["Statement"]

    assert properties["Bucket"] == {"Ref": "SiteBucket"}
    assert allow == {
        "Sid": "CloudFrontReadsThroughOriginAccessControl",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": "${SiteBucket.Arn}/*"},
        "Condition": {
            "StringEquals": {
                "AWS:SourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}"
                    ":distribution/${SiteDistribution}"
                }
            }
        },
    }
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("api_origin", "connect_src"),
    [("", "connect-src 'self' "), (API_ORIGIN, f"connect-src 'self' {API_ORIGIN} ")],
    ids=["no-api-origin", "api-origin"],
)
def test_csp_allows_no_inline_script_and_only_the_api(
    template: dict, api_origin: str, connect_src: str
) -> None:
    headers = template["Resources"]["SiteResponseHeadersPolicy"]["Properties"][
        "ResponseHeadersPolicyConfig"
    ]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]

    parameters = {"ApiOrigin": api_origin, "AWS::Region": "us-east-1"}
    value = resolve(csp["ContentSecurityPolicy"], template, parameters)

    # the API and the staff console's sign-in endpoint, nothing else
    assert value == CSP_WITHOUT_API.replace("connect-src 'self' ", connect_src)
    assert "unsafe" not in value
    assert csp["Override"] is True


def test_security_headers_on_every_site_answer(template: dict) -> None:
    headers = template["Resources"]["SiteResponseHeadersPolicy"]["Properties"][
        "ResponseHeadersPolicyConfig"
    ]["SecurityHeadersConfig"]

    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63072000,
        "IncludeSubdomains": True,
        "Override": True,
    }
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["ReferrerPolicy"] == {
        "ReferrerPolicy": "strict-origin-when-cross-origin",
        "Override": True,
    }
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("", True),
        (API_ORIGIN, True),
        ("https://api.pb.boston.gov:8443", True),
        ("http://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", False),
        (f"{API_ORIGIN}/api", False),
        ("https://x.example; script-src *", False),
    ],
)
def test_api_origin_parameter_accepts_only_an_https_origin(
    template: dict, value: str, allowed: bool
) -> None:
    pattern = template["Parameters"]["ApiOrigin"]["AllowedPattern"]

    assert template["Parameters"]["ApiOrigin"]["Default"] == ""
    assert bool(re.fullmatch(pattern, value)) is allowed


def test_site_outputs_come_with_the_cdn(template: dict) -> None:
    outputs = template["Outputs"]

    assert {
        name: (outputs[name]["Condition"], outputs[name]["Value"])
        for name in ("SiteUrl", "SiteDomainName", "SiteDistributionId")
    } == {
        "SiteUrl": (
            "DeployCdn",
            {"Fn::Sub": "https://${SiteDistribution.DomainName}"},
        ),
        "SiteDomainName": (
            "DeployCdn",
            {"Fn::GetAtt": ["SiteDistribution", "DomainName"]},
        ),
        "SiteDistributionId": ("DeployCdn", {"Ref": "SiteDistribution"}),
    }


def test_local_stack_is_built_without_the_cdn(stack: dict[str, str]) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")

    described = cloudformation.describe_stacks(StackName="pb-dev")["Stacks"][0]
    parameters = {
        p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]
    }
    resources = cloudformation.list_stack_resources(StackName="pb-dev")
    types = {r["ResourceType"] for r in resources["StackResourceSummaries"]}

    assert parameters["CreateCdn"] == "false"
    assert not {t for t in types if "CloudFront" in t or "BucketPolicy" in t}
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=stack["SiteBucketName"])


def test_moto_still_cannot_build_cloudfront(aws: None) -> None:
    # Known limit of moto 5.2.5. When this test fails, moto models CloudFront:
    # create_stack can stop passing CreateCdn=false and check the real thing.
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="pb-dev-voter-key", SecretString="k")["ARN"]
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")

    with pytest.raises(AttributeError, match="has_cfn_attr"):
        cloudformation.create_stack(
            StackName="pb-dev",
            TemplateBody=TEMPLATE_PATH.read_text(encoding="utf-8"),
            Parameters=[
                {"ParameterKey": "Stage", "ParameterValue": "dev"},
                {"ParameterKey": "ExistingVoterKeySecretArn", "ParameterValue": arn},
            ],
        )


# The staff user pool (template, and the pool create_stack makes in moto)

STAFF_GROUPS = [
    "office-admin",
    "office-staff",
    "oversight-board",
    "department-reviewer",
    "event-volunteer",
]


def test_staff_pool_groups_and_client_in_the_template(template: dict) -> None:
    resources = template["Resources"]
    pool = resources["StaffUserPool"]
    client = resources["StaffUserPoolClient"]["Properties"]
    groups = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Cognito::UserPoolGroup"
    ]

    assert pool["DeletionPolicy"] == "Retain"
    assert pool["Properties"]["AdminCreateUserConfig"] == {
        "AllowAdminCreateUserOnly": True
    }
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    ordered = sorted(groups, key=lambda g: g["Precedence"])
    assert [g["GroupName"] for g in ordered] == STAFF_GROUPS
    assert [g["Precedence"] for g in ordered] == [1, 2, 3, 4, 5]
    assert all(g["UserPoolId"] == {"Ref": "StaffUserPool"} for g in ordered)
    assert all(g["Description"] for g in ordered)
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    for logical_id in ("StaffUserPool", "StaffUserPoolClient"):
        assert resources[logical_id]["Condition"] == "CreateStaffUserPool"


def test_staff_pool_outputs_follow_an_existing_pool(template: dict) -> None:
    outputs = template["Outputs"]

    assert outputs["UserPoolId"]["Value"] == {
        "Fn::If": [
            "CreateStaffUserPool",
            {"Ref": "StaffUserPool"},
            {"Ref": "ExistingStaffUserPoolId"},
        ]
    }
    issuer = outputs["UserPoolIssuer"]["Value"]["Fn::Sub"]
    assert issuer[0] == "https://cognito-idp.${AWS::Region}.amazonaws.com/${PoolId}"


def test_the_local_pool_is_built_from_the_template(stack: dict[str, str]) -> None:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool_id = stack["UserPoolId"]

    pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
    groups = cognito.list_groups(UserPoolId=pool_id)["Groups"]
    client = cognito.describe_user_pool_client(
        UserPoolId=pool_id, ClientId=stack["UserPoolClientId"]
    )["UserPoolClient"]

    assert pool["Name"] == "pb-dev-staff"
    assert pool["Arn"] == stack["UserPoolArn"]
    assert stack["UserPoolIssuer"] == (
        f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    )
    assert [g["GroupName"] for g in sorted(groups, key=lambda g: g["Precedence"])] == (
        STAFF_GROUPS
    )
    assert "ClientSecret" not in client
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    assert "ALLOW_USER_SRP_AUTH" in client["ExplicitAuthFlows"]
