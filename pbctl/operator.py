"""Where an operator command acts: a stage's stack in AWS, or the local moto.

``pbctl cycle create``, ``pbctl audit export`` and ``pbctl staff-token`` read
the outputs of ``pb-<stage>`` and act on its tables or user pool. With
``--endpoint-url`` (a moto server on loopback only, e.g. the one ``make up``
runs) they use fake credentials and that endpoint for every client,
PynamoDB's too; without it, the caller's own AWS credentials and region.

Every refused action is audited like a refused staff request
(:func:`audit_refusal`: ``refused``, with the command, code and field,
never the input), and :func:`fail` prints the refusal and returns the exit
status of :mod:`pbctl.exitcodes`.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import PBError
from chalicelib.services import Services
from chalicelib.settings import Settings
from chalicelib.staff import STAFF_AUDIT
from chalicelib.storage.repository import audit_item
from pbctl.exitcodes import Unreachable, UsageError, classify
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


class EndpointRefused(TargetError, UsageError):
    """``--endpoint-url`` is not a moto server on loopback (exit 2)."""


class StageUnreachable(TargetError, Unreachable):
    """No connection, no credentials, or no stack ``pb-<stage>`` (exit 3)."""


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
            raise EndpointRefused(str(exc)) from exc
        # PynamoDB builds its own clients: it follows AWS_ENDPOINT_URL.
        os.environ.update({**LOCAL_ENV, "AWS_ENDPOINT_URL": endpoint_url})
    session = boto3.session.Session()
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    try:
        stack = cloudformation.describe_stacks(StackName=f"pb-{stage}")["Stacks"][0]
    except (ClientError, BotoCoreError) as exc:
        raise StageUnreachable(f"cannot read stack pb-{stage}: {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Target(stage, outputs, session, endpoint_url)


def operator_actor(target: Target) -> str:
    """``pbctl:<who>`` for the audit log: the AWS principal, never an email.

    An assumed role's session name (or an IAM user name) is often an email
    address: it is replaced by a short hash of itself, so that each person
    stays distinct in the log without their address being stored. Locally,
    the operating system user.
    """
    return principal_actor(target.client("sts"), local=target.endpoint_url is not None)


def principal_actor(sts: Any, *, local: bool) -> str:
    """:func:`operator_actor` from an STS client; ``local`` for a moto server."""
    if local:
        return f"pbctl:{getpass.getuser()}"
    try:
        arn = sts.get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError) as exc:
        raise StageUnreachable(f"cannot tell who you are: {exc}") from exc
    head, _, name = arn.rpartition("/")
    if "@" in name:
        digest = hashlib.sha256(name.casefold().encode()).hexdigest()[:12]
        arn = f"{head}/sha256-{digest}"
    return f"pbctl:{arn}"


def write_audit(
    dynamodb: Any,
    table: str,
    *,
    actor: str,
    action: str,
    after: dict,
    audit_cycle: str = STAFF_AUDIT,
    now: datetime | None = None,
) -> None:
    """Append one entry with a plain DynamoDB client (``pbctl deploy`` and
    ``site-sync``, which hold boto3 clients rather than the app's store).

    The same item and condition as ``Store.append_audit``: a one-item
    transaction that never overwrites an entry.
    """
    item = audit_item(
        audit_cycle,
        now=now or datetime.now(UTC),
        actor=actor,
        action=action,
        after=after,
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(entry_id)",
                }
            }
        ]
    )


def audit_refusal(
    target: Target,
    services: Services,
    command: str,
    exc: PBError,
    *,
    cycle_id: str | None = None,
) -> None:
    """Append ``refused`` for a refused ``pbctl`` action, as the staff API does.

    Under ``cycle_id``'s log when that cycle exists, else under ``@staff``
    (with the id, cut to 64 characters). Keeps the command, code and field
    only: never the input, so no file content or reason text is copied.
    A refusal that cannot be written is reported on stderr; it does not
    change the exit status.
    """
    partition = STAFF_AUDIT
    if cycle_id:
        try:
            services.store.get_cycle(cycle_id)
            partition = cycle_id
        except PBError:
            pass
    after = {"command": f"pbctl {command}", "code": exc.code, "field": exc.field}
    if cycle_id and partition == STAFF_AUDIT:
        after["cycle_id"] = cycle_id[:64]
    try:
        services.store.append_audit(
            partition,
            now=services.clock(),
            actor=operator_actor(target),
            action="refused",
            after=after,
        )
    except (PBError, TargetError, RuntimeError, ClientError, BotoCoreError) as err:
        print(f"pbctl {command}: the refusal was not audited: {err}", file=sys.stderr)


def fail(command: str, exc: BaseException) -> int:
    """Print why ``pbctl <command>`` stopped; return its exit status."""
    if isinstance(exc, PBError):
        where = f" (field {exc.field})" if exc.field else ""
        print(f"pbctl {command}: {exc.code}{where}: {exc.message}", file=sys.stderr)
    else:
        print(f"pbctl {command}: {exc}", file=sys.stderr)
    return classify(exc)
