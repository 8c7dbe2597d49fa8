"""Deploying a stage: the infra stack, both Chalice apps, the site.

``pbctl deploy --stage S`` (:mod:`pbctl.commands.deploy`) runs these steps
in order, or prints them (``--dry-run``):

1. create or update the stack ``pb-<stage>`` from ``infra/template.yaml``
   (:func:`deploy_stack`, the boto3 equivalent of ``aws cloudformation
   deploy``), wait, and read its outputs;
2. fill the ``pbctl-deploy-fills:<Output>`` placeholders of both
   ``.chalice/config.json`` files for that stage from the outputs
   (:func:`fill_config`) into a **deploy-time copy** of each app
   (:func:`write_deploy_copy`, under ``build/deploy/<stage>/``, which git
   ignores). The committed config files keep their placeholders: no account
   id, bucket name or secret ARN is ever written into the repository. The
   copy links the app's code; its policy file for the stage is written with
   the table names of the outputs (:func:`fill_policy`), so a stage swapped
   to a restored table (``Restored*Table`` parameters) reaches that table;
3. for the API, then ``scheduled/``: ``chalice package --merge-template
   infra/<app merge template> --stage S`` of the copy (a subprocess), upload
   the zip and the packaged template to the stack's artifacts bucket
   (:func:`upload_package`, the boto3 equivalent of ``aws cloudformation
   package``), and create or update the app's own stack ``pb-<stage>-<app>``
   from it (:func:`deploy_app_stack`). The API's merge template carries API
   Gateway's own error responses with CORS (``infra/api-gateway-responses.json``);
   both name the functions ``pb-api-<stage>`` and
   ``pb-scheduled-<stage>-phase-clock``, as the alarms expect. Then point each
   scheduled function's on-failure destination at the dead-letter queue
   (``PutFunctionEventInvokeConfig``), and, if the API's origin (the
   ``EndpointURL`` output of ``pb-<stage>-api``) is not yet the stack's
   ``ApiOrigin`` (the site's CSP ``connect-src``), update the stack with it;
4. build the site and ``pbctl site-sync --stage S``.

Nothing lives in ``.chalice/deployed/``: what is deployed is the app stacks,
and every packaged template stays in the artifacts bucket under a name made
of its SHA-256, so a rollback is a redeploy of an earlier one (docs/runbook.md).

With ``--endpoint-url`` (a moto server on loopback) steps 1 and 2 run against
moto; moto has no SAM transform, so steps 3 and 4 are skipped and say so.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from chalicelib.settings import PLACEHOLDER_PREFIX
from pbctl.exitcodes import Unreachable
from pbctl.localstack import load_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
#: The two Chalice apps: name -> project directory.
APPS = {"api": ROOT, "scheduled": ROOT / "scheduled"}
#: The merge template of each app (``chalice package --merge-template``).
MERGE_TEMPLATES = {
    "api": ROOT / "infra" / "api-gateway-responses.json",
    "scheduled": ROOT / "infra" / "scheduled-app.json",
}
#: What a deploy-time copy links from each app's project directory.
APP_FILES = ("app.py", "chalicelib", "requirements.txt", "vendor")
DEPLOY_DIR = ROOT / "build" / "deploy"
#: Chalice's SAM templates make IAM roles and need the SAM transform.
APP_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
#: The tables of a stage: short name -> (stack output, restored-table parameter).
TABLES = {
    "cycles": ("CyclesTableName", "RestoredCyclesTable"),
    "voter-marks": ("VoterMarksTableName", "RestoredVoterMarksTable"),
    "ballots": ("BallotsTableName", "RestoredBallotsTable"),
    "idempotency": ("IdempotencyTableName", "RestoredIdempotencyTable"),
    "audit": ("AuditTableName", "RestoredAuditTable"),
    "verification": ("VerificationTableName", "RestoredVerificationTable"),
    "paper": ("PaperTableName", "RestoredPaperTable"),
}
#: The scheduled app's functions (``@app.schedule(name=...)``); Chalice names
#: them ``pb-scheduled-<stage>-<name>``. A test checks this against the app.
SCHEDULED_FUNCTIONS = ("phase-clock",)
#: Lambda's own retries of a failed asynchronous run before the dead-letter
#: queue, and how old a tick may be before it is dropped there instead.
ASYNC_RETRIES = 2
ASYNC_MAX_AGE = 3600
#: CloudFormation takes a template body of at most this many bytes.
MAX_TEMPLATE_BODY = 51_200
NO_UPDATES = "No updates are to be performed"

Runner = Callable[[Sequence[str], Path], int]


class DeployError(RuntimeError):
    """A deploy step failed; the message says which and why."""


class StackUnreachable(DeployError, Unreachable):
    """CloudFormation cannot be asked: no connection or no credentials."""


def stack_name(stage: str) -> str:
    return f"pb-{stage}"


def app_stack_name(stage: str, app: str) -> str:
    """The stack of one Chalice app: ``pb-<stage>-api``, ``pb-<stage>-scheduled``."""
    return f"pb-{stage}-{app}"


def default_table_name(stage: str, table: str) -> str:
    """What the template names a table: ``pb-<stage>-<table>``."""
    return f"pb-{stage}-{table}"


def restored_table_pattern(stage: str, table: str) -> re.Pattern[str]:
    """The names a restored table may have (as the template's pattern allows)."""
    return re.compile(rf"pb-{stage}-{re.escape(table)}-restored-[0-9A-Za-z.-]+")


def restored_table_parameters(stage: str, swaps: Sequence[str]) -> dict[str, str]:
    """``{RestoredXTable: name}`` from ``--use-restored-table TABLE=NAME`` values.

    An empty name swaps back to the stack's own table. Raises ``ValueError``
    for an unknown table or a name that is not ``pb-<stage>-<table>-restored-*``.
    """
    parameters = {}
    for swap in swaps:
        table, sep, name = swap.partition("=")
        if not sep or table not in TABLES:
            raise ValueError(
                f"--use-restored-table takes TABLE=NAME with TABLE one of "
                f"{', '.join(TABLES)}, not {swap!r}"
            )
        if name and not restored_table_pattern(stage, table).fullmatch(name):
            raise ValueError(
                f"a restored {table} table of {stage} is named "
                f"pb-{stage}-{table}-restored-<suffix>, not {name!r}"
            )
        parameters[TABLES[table][1]] = name
    return parameters


def check_tables_exist(dynamodb: Any, parameters: Mapping[str, str]) -> None:
    """Raise ``DeployError`` unless every restored table named is ``ACTIVE``."""
    for name in sorted(v for k, v in parameters.items() if k.startswith("Restored")):
        if not name:
            continue
        try:
            status = dynamodb.describe_table(TableName=name)["Table"]["TableStatus"]
        except ClientError as exc:
            raise DeployError(f"cannot use table {name}: {exc}") from exc
        if status != "ACTIVE":
            raise DeployError(f"table {name} is {status}; wait until it is ACTIVE")


# 1. the stack ---------------------------------------------------------------


@dataclass(frozen=True)
class StackResult:
    name: str
    action: str  # "created", "updated" or "unchanged"
    outputs: dict[str, str]
    parameters: dict[str, str]


def describe(cloudformation: Any, name: str) -> dict | None:
    """The stack's description, or ``None`` if there is none."""
    try:
        return cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise StackUnreachable(f"cannot read stack {name}: {exc}") from exc
    except BotoCoreError as exc:
        raise StackUnreachable(f"cannot read stack {name}: {exc}") from exc


def _result(cloudformation: Any, name: str, action: str) -> StackResult:
    stack = describe(cloudformation, name)
    if stack is None:
        raise DeployError(f"stack {name} vanished while deploying")
    return StackResult(
        name=name,
        action=action,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in stack.get("Parameters", [])
        },
    )


def deploy_stack(
    cloudformation: Any,
    stage: str,
    *,
    parameters: Mapping[str, str],
    template_path: Path = TEMPLATE_PATH,
    delay: int = 10,
    max_attempts: int = 360,
) -> StackResult:
    """Create ``pb-<stage>`` or update it from ``template_path``; wait.

    A new stack gets ``Stage`` and ``parameters``; an existing one gets
    ``parameters`` and keeps every other parameter's previous value (the
    ``Existing*`` ids of a rebuilt stage, a restored table swapped in, are
    never lost by a routine deploy). See :func:`deploy_named_stack`.
    """
    body = compact_template(template_path)
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        # Known limit: past this size the template must go through S3
        # (TemplateURL, e.g. from the ArtifactsBucket of an existing stack).
        raise DeployError(
            f"{template_path} is over {MAX_TEMPLATE_BODY} bytes even as compact "
            "JSON: CloudFormation wants it from S3 (TemplateURL)"
        )
    return deploy_named_stack(
        cloudformation,
        stack_name(stage),
        template={"TemplateBody": body},
        parameters={"Stage": stage, **parameters},
        delay=delay,
        max_attempts=max_attempts,
    )


def compact_template(template_path: Path) -> str:
    """The template as CloudFormation reads it, in compact JSON.

    The YAML file keeps its comments and layout for people; CloudFormation
    takes a template body of at most ``MAX_TEMPLATE_BODY`` bytes, and the
    same template without comments or indentation is about a fifth smaller.
    """
    return json.dumps(load_template(template_path), separators=(",", ":"))


def deploy_named_stack(
    cloudformation: Any,
    name: str,
    *,
    template: Mapping[str, str],
    parameters: Mapping[str, str],
    capabilities: Sequence[str] = (),
    delay: int = 10,
    max_attempts: int = 360,
) -> StackResult:
    """Create stack ``name`` or update it from ``template`` (``TemplateBody``
    or ``TemplateURL``); wait.

    An update passes ``parameters`` and keeps every other parameter's
    previous value. An update with nothing to change is ``unchanged``.
    Raises ``DeployError`` if the stack is in a state that needs a person (a
    failed first create), or does not reach ``*_COMPLETE`` (CloudFormation
    has then rolled an update back by itself).
    """
    given = dict(parameters)
    extra = {"Capabilities": list(capabilities)} if capabilities else {}
    existing = describe(cloudformation, name)
    if existing is not None and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {name} failed its first create (ROLLBACK_COMPLETE); read its "
            "events, delete it (retained tables and buckets stay) and deploy again"
        )
    if existing is not None and existing["StackStatus"].endswith("_IN_PROGRESS"):
        raise DeployError(
            f"stack {name} is {existing['StackStatus']}; wait for it to finish"
        )
    if existing is None:
        cloudformation.create_stack(
            StackName=name,
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in given.items()
            ],
            **template,
            **extra,
        )
        waiter, action = "stack_create_complete", "created"
    else:
        # Previous values are passed as values, which CloudFormation treats
        # the same as UsePreviousValue for parameters that are not NoEcho
        # (none are): moto 5.2.5 fails UsePreviousValue with a KeyError for a
        # parameter that was left to its default at create.
        params = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
        for previous in existing.get("Parameters", []):
            key = previous["ParameterKey"]
            if key in given:
                continue
            value = previous.get("ParameterValue")
            if value is None or value == "****":
                params.append({"ParameterKey": key, "UsePreviousValue": True})
            else:
                params.append({"ParameterKey": key, "ParameterValue": value})
        try:
            cloudformation.update_stack(
                StackName=name, Parameters=params, **template, **extra
            )
        except ClientError as exc:
            if NO_UPDATES in str(exc):
                return _result(cloudformation, name, "unchanged")
            raise DeployError(f"cannot update stack {name}: {exc}") from exc
        waiter, action = "stack_update_complete", "updated"
    try:
        cloudformation.get_waiter(waiter).wait(
            StackName=name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts},
        )
    except WaiterError as exc:
        raise DeployError(
            f"stack {name} did not finish ({exc}); see its events: "
            f"aws cloudformation describe-stack-events --stack-name {name}"
        ) from exc
    return _result(cloudformation, name, action)


# 2. the config --------------------------------------------------------------


def placeholders(config: Mapping, stage: str) -> dict[str, str]:
    """``{variable: output}`` of every placeholder in ``stage``'s environment."""
    env = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    return {
        name: value.removeprefix(PLACEHOLDER_PREFIX)
        for name, value in env.items()
        if isinstance(value, str) and value.startswith(PLACEHOLDER_PREFIX)
    }


def fill_config(config: Mapping, stage: str, outputs: Mapping[str, str]) -> dict:
    """A copy of ``config`` with ``stage``'s placeholders filled from ``outputs``.

    Other stages are left as they are. Raises ``DeployError`` naming every
    output that is missing or empty (nothing is half-filled).
    """
    if stage not in config.get("stages", {}):
        raise DeployError(f"the config has no stage {stage!r}")
    wanted = placeholders(config, stage)
    missing = sorted({o for o in wanted.values() if not outputs.get(o)})
    if missing:
        raise DeployError(
            f"stack {stack_name(stage)} has no output {', '.join(missing)} "
            f"to fill {', '.join(v for v, o in sorted(wanted.items()) if o in missing)}"
        )
    filled = copy.deepcopy(dict(config))
    env = filled["stages"][stage]["environment_variables"]
    for variable, output in wanted.items():
        env[variable] = outputs[output]
    return filled


def fill_policy(policy: Mapping, stage: str, outputs: Mapping[str, str]) -> dict:
    """A copy of an app's IAM policy for ``stage`` with each table ARN naming
    the table the stack's outputs name (a restored one, after a swap).

    ``arn:...:table/pb-<stage>-cycles`` (and its ``/index/...``) becomes
    ``arn:...:table/<CyclesTableName>``; nothing else changes.
    """
    names = {
        default_table_name(stage, table): outputs.get(output) or ""
        for table, (output, _) in TABLES.items()
    }

    def swap(resource: str) -> str:
        head, sep, tail = resource.partition(":table/")
        if not sep:
            return resource
        table, slash, rest = tail.partition("/")
        return head + sep + (names.get(table) or table) + slash + rest

    filled = copy.deepcopy(dict(policy))
    for statement in filled.get("Statement", []):
        resources = statement.get("Resource")
        if isinstance(resources, str):
            statement["Resource"] = swap(resources)
        elif isinstance(resources, list):
            statement["Resource"] = [swap(r) for r in resources]
    return filled


def write_deploy_copy(
    app: str, stage: str, outputs: Mapping[str, str], *, base: Path = DEPLOY_DIR
) -> Path:
    """Write ``build/deploy/<stage>/<app>/`` and return it.

    It holds ``.chalice/config.json`` filled for ``stage``, links to the
    app's code (``app.py``, ``chalicelib``, ``requirements.txt``, ``vendor``
    when present) and to its other stages' policy files, and the stage's
    policy file filled by :func:`fill_policy`. Raises ``DeployError`` from
    :func:`fill_config`.
    """
    project = APPS[app]
    config = json.loads((project / ".chalice" / "config.json").read_text("utf-8"))
    filled = fill_config(config, stage, outputs)
    target = base / stage / app
    chalice_dir = target / ".chalice"
    chalice_dir.mkdir(parents=True, exist_ok=True)
    policy_name = filled["stages"][stage].get("iam_policy_file", f"policy-{stage}.json")
    links = {name: (target / name, project / name) for name in APP_FILES}
    links.update(
        {
            p.name: (chalice_dir / p.name, p)
            for p in (project / ".chalice").glob("policy-*.json")
            if p.name != policy_name
        }
    )
    for link, source in links.values():
        if link.is_symlink() or link.exists():
            link.unlink()
        if source.exists():
            link.symlink_to(source.resolve(), target_is_directory=source.is_dir())
    policy_file = chalice_dir / policy_name
    if policy_file.is_symlink():
        policy_file.unlink()
    policy = json.loads((project / ".chalice" / policy_name).read_text("utf-8"))
    policy_file.write_text(
        json.dumps(fill_policy(policy, stage, outputs), indent=2) + "\n",
        encoding="utf-8",
    )
    config_file = chalice_dir / "config.json"
    config_file.write_text(json.dumps(filled, indent=2) + "\n", encoding="utf-8")
    return target


# 3. the apps ----------------------------------------------------------------


def package_dir(stage: str, app: str, *, base: Path = DEPLOY_DIR) -> Path:
    """Where ``chalice package`` writes: ``build/deploy/<stage>/<app>-package``."""
    return base / stage / f"{app}-package"


def chalice_package_command(
    project_dir: Path, stage: str, out_dir: Path, merge_template: Path
) -> list[str]:
    chalice = Path(sys.executable).parent / "chalice"
    return [
        str(chalice),
        "--project-dir",
        str(project_dir),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(merge_template),
        str(out_dir),
    ]


@dataclass(frozen=True)
class Package:
    """An app's packaged template, uploaded: where it is and what it holds."""

    app: str
    bucket: str
    template_key: str
    code_key: str
    template_url: str
    template: dict


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _put_once(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    """Upload ``body`` under ``key`` unless it is there already (keys are
    content hashes, so an object under the key is these bytes)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
            raise DeployError(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def upload_package(s3: Any, bucket: str, app: str, out_dir: Path) -> Package:
    """Upload what ``chalice package`` wrote to ``out_dir``; the template too.

    The boto3 equivalent of ``aws cloudformation package``: the zip goes to
    ``<app>/<sha256>.zip``, every function's ``CodeUri`` is pointed at it,
    and that template goes to ``<app>/<sha256>.template.json`` (also written
    beside ``sam.json`` as ``packaged.json``). Names are content hashes, so
    an earlier package is never overwritten and stays deployable. Raises
    ``DeployError`` when the package is incomplete.
    """
    try:
        template = json.loads((out_dir / "sam.json").read_text("utf-8"))
        code = (out_dir / "deployment.zip").read_bytes()
    except (OSError, ValueError) as exc:
        raise DeployError(f"chalice package left no usable {out_dir}: {exc}") from exc
    code_key = f"{app}/{_sha256(code)}.zip"
    _put_once(s3, bucket, code_key, code, "application/zip")
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{bucket}/{code_key}"
    body = (json.dumps(template, indent=2, sort_keys=True) + "\n").encode()
    (out_dir / "packaged.json").write_bytes(body)
    template_key = f"{app}/{_sha256(body)}.template.json"
    _put_once(s3, bucket, template_key, body, "application/json")
    region = s3.meta.region_name or "us-east-1"
    return Package(
        app=app,
        bucket=bucket,
        template_key=template_key,
        code_key=code_key,
        template_url=f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}",
        template=template,
    )


def deploy_app_stack(
    cloudformation: Any,
    stage: str,
    package: Package,
    *,
    parameters: Mapping[str, str],
    delay: int = 10,
    max_attempts: int = 360,
) -> StackResult:
    """Create or update ``pb-<stage>-<app>`` from an uploaded package; wait."""
    return deploy_named_stack(
        cloudformation,
        app_stack_name(stage, package.app),
        template={"TemplateURL": package.template_url},
        parameters={"Stage": stage, **parameters},
        capabilities=APP_CAPABILITIES,
        delay=delay,
        max_attempts=max_attempts,
    )


def source_commit() -> str:
    """``git rev-parse HEAD`` of the checkout (``+dirty`` if it has changes),
    or ``""`` outside git: which source a deploy shipped, for the audit log."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+dirty" if dirty else "")


def scheduled_function_names(stage: str) -> list[str]:
    return [f"pb-scheduled-{stage}-{name}" for name in SCHEDULED_FUNCTIONS]


def route_failures_to_queue(lambda_client: Any, stage: str, queue_arn: str) -> None:
    """Send each scheduled function's failed async runs to ``queue_arn``."""
    for function in scheduled_function_names(stage):
        try:
            lambda_client.put_function_event_invoke_config(
                FunctionName=function,
                MaximumRetryAttempts=ASYNC_RETRIES,
                MaximumEventAgeInSeconds=ASYNC_MAX_AGE,
                DestinationConfig={"OnFailure": {"Destination": queue_arn}},
            )
        except ClientError as exc:
            raise DeployError(
                f"cannot set the dead-letter queue of {function}: {exc}"
            ) from exc


def subprocess_runner(command: Sequence[str], cwd: Path) -> int:
    """Run ``command`` in ``cwd`` with :func:`chalice_env`; its exit status."""
    return subprocess.run(
        list(command), cwd=cwd, env=chalice_env(), check=False
    ).returncode


# 4. the site ----------------------------------------------------------------


def site_build_command() -> list[str]:
    return [
        sys.executable,
        "-c",
        "from pbctl.siteserver import ensure_site_built; ensure_site_built()",
    ]


def site_sync_command(stage: str, api_url: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "pbctl.main", "site-sync", "--stage", stage]
    if api_url:
        command += ["--api-url", api_url]
    return command


# the plan -------------------------------------------------------------------


@dataclass
class Step:
    """One step of a deploy: a title, and a command or an in-process action."""

    title: str
    command: list[str] | None = None
    cwd: Path = ROOT
    action: Callable[[], None] | None = field(default=None, repr=False)
    skipped: str = ""

    def describe(self) -> str:
        if self.skipped:
            return f"skip  {self.title}: {self.skipped}"
        if self.command is not None:
            where = "" if self.cwd == ROOT else f" (in {self.cwd})"
            return f"run   {' '.join(self.command)}{where}"
        return f"do    {self.title}"


def chalice_env() -> dict[str, str]:
    """The environment for ``chalice package``: the caller's, minus any
    endpoint override, so chalice can only ever reach AWS's own endpoints."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
