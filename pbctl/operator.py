"""Where an operator command acts: a stage's stack in AWS, or the local moto.

``pbctl cycle create``, ``pbctl audit export`` and ``pbctl staff-token`` read
the outputs of ``pb-<stage>`` and act on its tables or user pool. With
``--endpoint-url`` (a moto server on loopback only, e.g. the one ``make up``
runs) they use fake credentials and that endpoint for every client,
PynamoDB's too; without it, the caller's own AWS credentials and region.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.services import Services
from chalicelib.settings import Settings
from pbctl.sitesync import SiteSyncError, check_endpoint

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class TargetError(RuntimeError):
    """The stack cannot be found, or the endpoint is not a local moto."""


@dataclass
class Target:
    stage: str
    outputs: dict[str, str]
    session: boto3.session.Session
    endpoint_url: str | None

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def services(self) -> Services:
        """The app's collaborators bound to this stack's tables."""
        return Services.from_settings(
            Settings.from_stack_outputs(self.outputs, stage=self.stage)
        )


def add_arguments(parser) -> None:
    parser.add_argument("--stage", default="dev", choices=("dev", "prod"))
    parser.add_argument(
        "--endpoint-url",
        help="a moto server on loopback, e.g. http://127.0.0.1:5000 "
        "(default: AWS with your own credentials)",
    )


def connect(stage: str, endpoint_url: str | None) -> Target:
    """Find ``pb-<stage>``'s outputs; raise ``TargetError``."""
    if endpoint_url is not None:
        try:
            check_endpoint(endpoint_url)
        except SiteSyncError as exc:
            raise TargetError(str(exc)) from exc
        # PynamoDB builds its own clients: it follows AWS_ENDPOINT_URL.
        os.environ.update({**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint_url})
    session = boto3.session.Session()
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    try:
        stack = cloudformation.describe_stacks(StackName=f"pb-{stage}")["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        raise TargetError(f"cannot read stack pb-{stage}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Target(stage, outputs, session, endpoint_url)


def operator_actor(target: Target) -> str:
    """``pbctl:<who>`` for the audit log: the AWS principal, never an email.

    An assumed role's session name (or an IAM user name) is often an email
    address: it is replaced by a short hash of itself, so that each person
    stays distinct in the log without their address being stored. Locally,
    the operating system user.
    """
    if target.endpoint_url is not None:
        return f"pbctl:{getpass.getuser()}"
    try:
        arn = target.client("sts").get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise TargetError(f"cannot tell who you are: {exc}") from exc
    head, _, name = arn.rpartition("/")
    if "@" in name:
        digest = hashlib.sha256(name.casefold().encode()).hexdigest()[:12]
        arn = f"{head}/sha256-{digest}"
    return f"pbctl:{arn}"
