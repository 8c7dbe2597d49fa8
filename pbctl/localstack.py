"""The local stack: moto on loopback, built from the production template.

Locally, and in the functional tests, moto stands in for AWS. Either it runs
in-process (``moto.mock_aws()``, used by the tests) or as a server on
127.0.0.1 (``start_moto_server``, used by ``chalice local`` and the demo). In
both cases ``create_stack`` feeds it the same ``infra/template.yaml`` that
``aws cloudformation deploy`` uses in production, so tables, buckets and the
secret have the names and key schemas the apps expect, and the stack outputs
become the apps' settings (``chalicelib.settings.Settings``).

moto 5.2's CloudFormation does not model everything in the template, so
``create_stack`` closes the gaps through the service APIs:

- ``AWS::SecretsManager::Secret`` is not supported at all. The secret is
  created through Secrets Manager first (64 characters, no punctuation, as
  the template asks) and handed to the stack as ``ExistingVoterKeySecretArn``,
  the parameter production uses to keep an old stage's key.
- ``PointInTimeRecoverySpecification`` and ``TimeToLiveSpecification`` on
  tables, and ``VersioningConfiguration``, ``PublicAccessBlockConfiguration``
  and ``OwnershipControls`` on buckets, are accepted but ignored. They are
  applied afterwards from the template's own values.
- ``SSESpecification`` on tables is stored under CloudFormation's key
  (``SSEEnabled``) while DescribeTable looks for the API's (``Enabled``), so
  moto never reports table encryption, and it has no API to set it later.
  Locally the tables are simply unencrypted; the tests check the template.
- ``AWS::Cognito::UserPool``, ``UserPoolGroup`` and ``UserPoolClient`` are
  not supported. The staff pool, its groups and its app client are created
  through the Cognito API from the template's own properties (name, password
  policy, groups with their descriptions and precedence, the client's sign-in
  flows) and handed to the stack as ``ExistingStaffUserPoolId`` and
  ``ExistingStaffUserPoolClientId``, the parameters production uses to keep a
  pool across a rebuild. moto signs the pool's tokens with the private key in
  ``moto/cognitoidp/resources`` and serves the public keys at
  ``<endpoint>/<pool id>/.well-known/jwks.json`` in server mode
  (:func:`moto_jwks` reads the same keys in-process).
- ``AllowedValues`` on parameters is not enforced; ``create_stack`` checks the
  stage itself.
- CloudFront is not modelled at all (``AWS::CloudFront::Distribution``,
  ``OriginAccessControl`` and ``ResponseHeadersPolicy``; nor
  ``AWS::S3::BucketPolicy``): moto warns and then fails on the first
  ``!GetAtt`` of one. The template puts them under its ``DeployCdn``
  condition and ``create_stack`` passes ``CreateCdn=false``, so the local
  site bucket has no distribution, no bucket policy and no ``SiteUrl``
  output; the tests check those resources on the template.
- ``AWS::CloudWatch::Alarm`` and ``AWS::SNS::Subscription`` are not modelled
  either. They sit under the ``DeployAlarms`` condition and ``create_stack``
  passes ``CreateAlarms=false``; the dead-letter queue and the alarm topic
  are built, and the tests check the alarms on the template.
- SES identities are not a template resource at all (the stage's sender
  address is verified by City IT, see docs/runbook.md). ``create_stack``
  verifies :data:`LOCAL_SENDER_EMAIL` in moto's SES, which refuses to send
  from an unverified address, and the local apps send from it.

Nothing here talks to anything but moto: servers bind to loopback only, and
``create_stack`` refuses a client that is aimed at a non-loopback endpoint
while no in-process moto mock is active.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import yaml
from botocore.exceptions import WaiterError
from moto.moto_server.threaded_moto_server import (
    MotoRequestHandler,
    ThreadedMotoServer,
    make_server,
)
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)

from pbctl import motoshim

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"
STAGES = ("dev", "prod")
SECRET_LENGTH = 64


class LocalStackError(RuntimeError):
    """The local stack could not be built, or the target is not moto."""


# Loading the template -------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short forms (``!Ref``, ``!Sub``)."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag in ("Ref", "Condition"):
        return {tag: value}
    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag}": value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse a CloudFormation YAML template; short forms become long forms."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)


# The moto server ------------------------------------------------------------


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class MotoServer:
    """A running moto server; ``stop()`` shuts it down."""

    host: str
    port: int
    _server: ThreadedMotoServer = field(repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _LocalMotoServer(ThreadedMotoServer):
    """moto's threaded server, serving one request at a time (see motoshim)."""

    def _server_entry(self) -> None:
        app = motoshim.serialised(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def start_moto_server(port: int, host: str = "127.0.0.1") -> MotoServer:
    """Start moto in server mode on a loopback address, in a daemon thread.

    ``port`` 0 picks a free port; read the chosen one from the handle. The
    server handles one request at a time and its DynamoDB transactions back
    up only the items they touch (:mod:`pbctl.motoshim`). Returns a
    ``MotoServer``. Raises ``LocalStackError`` if ``host`` is not a loopback
    address (moto's own default, 0.0.0.0, would expose it).
    """
    if not is_loopback(host):
        raise LocalStackError(f"moto only binds to loopback, not {host!r}")

    motoshim.install()
    server = _LocalMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return MotoServer(host=bound_host, port=bound_port, _server=server)


# The stack ------------------------------------------------------------------


def _moto_mock_active() -> bool:
    # moto keeps this flag on while any mock_aws() is entered in this process.
    try:
        from moto.core.models import botocore_stubber
    except ImportError:
        return False
    return bool(getattr(botocore_stubber, "enabled", False))


def _local_endpoint(client: Any) -> str | None:
    """Return the client's loopback endpoint, None under mock_aws, else raise."""
    endpoint = client.meta.endpoint_url
    if is_loopback(urlsplit(endpoint).hostname):
        return endpoint
    if _moto_mock_active():
        return None
    raise LocalStackError(
        f"refusing to build the local stack at {endpoint}: "
        "aim the client at a loopback moto server or start moto.mock_aws()"
    )


def _ensure_voter_key_secret(secrets: Any, stage: str) -> str:
    """Create ``pb-<stage>-voter-key`` unless it exists; return its ARN."""
    name = f"pb-{stage}-voter-key"
    try:
        return secrets.describe_secret(SecretId=name)["ARN"]
    except secrets.exceptions.ResourceNotFoundException:
        pass

    value = secrets.get_random_password(
        PasswordLength=SECRET_LENGTH, ExcludePunctuation=True
    )["RandomPassword"]
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


def _ensure_staff_user_pool(
    cognito: Any, template: dict[str, Any], stage: str
) -> tuple[str, str]:
    """Create the staff pool, groups and client as the template describes them.

    Returns ``(pool id, client id)``; a pool of the same name that exists
    already is reused with its first client.
    """
    resources = template["Resources"]
    pool_props = resources["StaffUserPool"]["Properties"]
    name = f"pb-{stage}-staff"
    for pool in cognito.list_user_pools(MaxResults=60)["UserPools"]:
        if pool["Name"] == name:
            clients = cognito.list_user_pool_clients(
                UserPoolId=pool["Id"], MaxResults=60
            )["UserPoolClients"]
            return pool["Id"], clients[0]["ClientId"]

    policy = dict(pool_props["Policies"]["PasswordPolicy"])
    pool_id = cognito.create_user_pool(
        PoolName=name,
        Policies={"PasswordPolicy": policy},
        AdminCreateUserConfig=pool_props["AdminCreateUserConfig"],
        UsernameConfiguration=pool_props["UsernameConfiguration"],
        AutoVerifiedAttributes=pool_props["AutoVerifiedAttributes"],
        MfaConfiguration=pool_props["MfaConfiguration"],
    )["UserPool"]["Id"]
    for resource in resources.values():
        if resource["Type"] != "AWS::Cognito::UserPoolGroup":
            continue
        props = resource["Properties"]
        cognito.create_group(
            UserPoolId=pool_id,
            GroupName=props["GroupName"],
            Description=props["Description"],
            Precedence=props["Precedence"],
        )
    client_props = resources["StaffUserPoolClient"]["Properties"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=f"pb-{stage}-staff-console",
        GenerateSecret=client_props["GenerateSecret"],
        ExplicitAuthFlows=client_props["ExplicitAuthFlows"],
        PreventUserExistenceErrors=client_props["PreventUserExistenceErrors"],
        AccessTokenValidity=client_props["AccessTokenValidity"],
        IdTokenValidity=client_props["IdTokenValidity"],
        RefreshTokenValidity=client_props["RefreshTokenValidity"],
        TokenValidityUnits=client_props["TokenValidityUnits"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def staff_groups(template_path: Path = TEMPLATE_PATH) -> list[str]:
    """The staff group names the template creates, in precedence order."""
    resources = load_template(template_path)["Resources"].values()
    groups = [
        r["Properties"] for r in resources if r["Type"] == "AWS::Cognito::UserPoolGroup"
    ]
    return [g["GroupName"] for g in sorted(groups, key=lambda g: g["Precedence"])]


def generate_password(length: int = 24) -> str:
    """A password that meets the pool's policy: every character class present."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_!%")
    alphabet = "".join(classes)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(any(c in group for c in password) for group in classes):
            return password


def create_staff_user(
    cognito: Any, pool_id: str, username: str, groups: list[str], password: str
) -> None:
    """Make a signed-in-ready staff account in ``groups`` (moto only).

    The password is set as permanent, so the first sign-in needs no change of
    password; a real pool sends a temporary one by email instead.
    """
    _local_endpoint(cognito)
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        TemporaryPassword=generate_password(),
        MessageAction="SUPPRESS",
    )
    cognito.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=password, Permanent=True
    )
    for group in groups:
        cognito.admin_add_user_to_group(
            UserPoolId=pool_id, Username=username, GroupName=group
        )


def moto_jwks() -> dict[str, Any]:
    """The public keys moto signs Cognito tokens with, read in-process."""
    from moto.utilities.utils import load_resource

    return dict(load_resource("cognitoidp/resources/jwks-public.json"))


def jwks_url(endpoint_url: str, pool_id: str) -> str:
    """Where a moto server serves the pool's public keys."""
    return f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"


def _apply_unmodelled_properties(
    template: dict[str, Any], physical_ids: dict[str, str], clients: dict[str, Any]
) -> None:
    """Apply the table and bucket properties moto's CloudFormation ignores."""
    # Known limit: moto 5.2.5 drops these properties on create; when it models
    # them, these calls become harmless repeats and can be removed.
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        name = physical_ids.get(logical_id)
        if name is None:
            continue

        if resource["Type"] == "AWS::DynamoDB::Table":
            pitr = props.get("PointInTimeRecoverySpecification")
            if pitr:
                clients["dynamodb"].update_continuous_backups(
                    TableName=name, PointInTimeRecoverySpecification=pitr
                )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                clients["dynamodb"].update_time_to_live(
                    TableName=name, TimeToLiveSpecification=ttl
                )

        if resource["Type"] == "AWS::S3::Bucket":
            versioning = props.get("VersioningConfiguration")
            if versioning:
                clients["s3"].put_bucket_versioning(
                    Bucket=name, VersioningConfiguration=versioning
                )
            public_access = props.get("PublicAccessBlockConfiguration")
            if public_access:
                clients["s3"].put_public_access_block(
                    Bucket=name, PublicAccessBlockConfiguration=public_access
                )
            ownership = props.get("OwnershipControls")
            if ownership:
                clients["s3"].put_bucket_ownership_controls(
                    Bucket=name, OwnershipControls=ownership
                )


#: The address local one-time codes are sent from, as PB_SENDER_EMAIL. The
#: IAM policies allow sending as ``pb-<stage>-codes@`` only.
LOCAL_SENDER_EMAIL = "pb-{stage}-codes@pb.localhost"


def sender_email(stage: str) -> str:
    """The local stack's verified sender address for ``stage``."""
    return LOCAL_SENDER_EMAIL.format(stage=stage)


def create_stack(
    cloudformation_client: Any,
    stage: str = "dev",
    stack_name: str | None = None,
    *,
    session: boto3.session.Session | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> dict[str, str]:
    """Create the stage's stack from ``infra/template.yaml`` in moto.

    The client must point at a loopback moto server, or moto's in-process mock
    must be active. Other service clients are built from ``session`` (default:
    the environment's credentials) at the same endpoint and region. The stack
    is named ``pb-<stage>`` unless ``stack_name`` says otherwise.

    Returns the stack outputs as ``{OutputKey: OutputValue}``. Raises
    ``LocalStackError`` for a non-moto target, an unknown stage, or a stack
    that does not reach CREATE_COMPLETE.
    """
    if stage not in STAGES:
        raise LocalStackError(f"stage must be one of {STAGES}, not {stage!r}")
    endpoint = _local_endpoint(cloudformation_client)
    session = session or boto3.session.Session()
    region = cloudformation_client.meta.region_name
    clients = {
        service: session.client(service, region_name=region, endpoint_url=endpoint)
        for service in ("secretsmanager", "dynamodb", "s3", "cognito-idp", "ses")
    }
    stack_name = stack_name or f"pb-{stage}"
    template = load_template(template_path)

    # moto cannot create the secret from the template; make it and pass it in.
    secret_arn = _ensure_voter_key_secret(clients["secretsmanager"], stage)
    # Nor the staff user pool: build it from the template's properties.
    pool_id, client_id = _ensure_staff_user_pool(
        clients["cognito-idp"], template, stage
    )

    cloudformation_client.create_stack(
        StackName=stack_name,
        TemplateBody=template_path.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "ExistingVoterKeySecretArn", "ParameterValue": secret_arn},
            {"ParameterKey": "ExistingStaffUserPoolId", "ParameterValue": pool_id},
            {
                "ParameterKey": "ExistingStaffUserPoolClientId",
                "ParameterValue": client_id,
            },
            # moto has no CloudFront; the local site bucket is read directly.
            {"ParameterKey": "CreateCdn", "ParameterValue": "false"},
            # Nor CloudWatch alarms (nor SNS subscriptions); the queue and the
            # topic are built, the alarms are checked on the template.
            {"ParameterKey": "CreateAlarms", "ParameterValue": "false"},
        ],
    )
    waiter = cloudformation_client.get_waiter("stack_create_complete")
    try:
        waiter.wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    except WaiterError as exc:
        raise LocalStackError(f"stack {stack_name} did not create: {exc}") from exc

    resources = cloudformation_client.list_stack_resources(StackName=stack_name)
    physical_ids = {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for summary in resources["StackResourceSummaries"]
        if summary.get("LogicalResourceId")
    }
    _apply_unmodelled_properties(template, physical_ids, clients)
    # One-time codes by email are sent from a verified identity only.
    clients["ses"].verify_email_identity(EmailAddress=sender_email(stage))

    stack = cloudformation_client.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {
        output["OutputKey"]: output["OutputValue"]
        for output in stack.get("Outputs", [])
    }
