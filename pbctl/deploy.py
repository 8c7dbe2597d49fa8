"""Deploying a stage: the infra stack, both Chalice apps, the site.

:func:`plan` lists the steps of ``pbctl deploy --stage S`` in order; the
command prints them (``--dry-run``) or runs them:

1. create or update the stack ``pb-<stage>`` from ``infra/template.yaml``
   (:func:`deploy_stack`, the boto3 equivalent of ``aws cloudformation
   deploy``), wait, and read its outputs;
2. fill the ``pbctl-deploy-fills:<Output>`` placeholders of both
   ``.chalice/config.json`` files for that stage from the outputs
   (:func:`fill_config`) into a **deploy-time copy** of each app
   (:func:`write_deploy_copy`, under ``build/deploy/<stage>/``, which git
   ignores). The committed config files keep their placeholders: no account
   id, bucket name or secret ARN is ever written into the repository. The
   copy links the app's code and policy files, and links ``.chalice/deployed``
   back to the project's own, so the deployed-resources record that
   ``chalice deploy`` keeps (and ``pbctl site-sync`` reads) stays where it
   always is;
3. ``chalice --project-dir <copy> deploy --stage S`` for the API, then for
   ``scheduled/`` (subprocesses), and point each scheduled function's
   on-failure destination at the stack's dead-letter queue
   (``PutFunctionEventInvokeConfig``: ``chalice deploy`` has no setting for
   it); then, if the API's origin is not yet the stack's ``ApiOrigin``
   (the site's CSP ``connect-src``), update the stack with it;
4. build the site and ``pbctl site-sync --stage S``.

With ``--endpoint-url`` (a moto server on loopback) steps 1 and 2 run against
moto; ``chalice deploy`` cannot, so steps 3 and 4 are skipped and say so.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from chalicelib.settings import PLACEHOLDER_PREFIX

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "infra" / "template.yaml"
#: The two Chalice apps: name -> project directory.
APPS = {"api": ROOT, "scheduled": ROOT / "scheduled"}
#: What a deploy-time copy links from each app's project directory.
APP_FILES = ("app.py", "chalicelib", "requirements.txt", "vendor")
DEPLOY_DIR = ROOT / "build" / "deploy"
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


def stack_name(stage: str) -> str:
    return f"pb-{stage}"


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
        raise DeployError(f"cannot read stack {name}: {exc}") from exc


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
    ``Existing*`` ids of a rebuilt stage are never lost by a routine deploy).
    An update with nothing to change is ``unchanged``. Raises
    ``DeployError`` if the stack is in a state that needs a person (a failed
    first create), or does not reach ``*_COMPLETE`` (CloudFormation has then
    rolled an update back by itself).
    """
    name = stack_name(stage)
    body = template_path.read_text(encoding="utf-8")
    if len(body.encode()) > MAX_TEMPLATE_BODY:
        raise DeployError(
            f"{template_path} is over {MAX_TEMPLATE_BODY} bytes: CloudFormation "
            "wants it from S3 (aws cloudformation deploy --s3-bucket)"
        )
    given = {"Stage": stage, **parameters}
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
            TemplateBody=body,
            Parameters=[
                {"ParameterKey": k, "ParameterValue": v} for k, v in given.items()
            ],
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
                StackName=name, TemplateBody=body, Parameters=params
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


def write_deploy_copy(
    app: str, stage: str, outputs: Mapping[str, str], *, base: Path = DEPLOY_DIR
) -> Path:
    """Write ``build/deploy/<stage>/<app>/`` and return it.

    It holds ``.chalice/config.json`` filled for ``stage``, links to the
    app's code (``app.py``, ``chalicelib``, ``requirements.txt``, ``vendor``
    when present) and policy files, and ``.chalice/deployed`` linked to the
    project's own record. Raises ``DeployError`` from :func:`fill_config`.
    """
    project = APPS[app]
    config = json.loads((project / ".chalice" / "config.json").read_text("utf-8"))
    filled = fill_config(config, stage, outputs)
    target = base / stage / app
    chalice_dir = target / ".chalice"
    chalice_dir.mkdir(parents=True, exist_ok=True)
    links = {name: project / name for name in APP_FILES}
    links.update(
        {p.name: p for p in (project / ".chalice").glob("policy-*.json")}
        | {"deployed": project / ".chalice" / "deployed"}
    )
    (project / ".chalice" / "deployed").mkdir(exist_ok=True)
    for name, source in links.items():
        where = chalice_dir / name if name.startswith(("policy-", "deployed")) else None
        link = where or target / name
        if link.is_symlink() or link.exists():
            link.unlink()
        if source.exists():
            link.symlink_to(source.resolve(), target_is_directory=source.is_dir())
    config_file = chalice_dir / "config.json"
    config_file.write_text(json.dumps(filled, indent=2) + "\n", encoding="utf-8")
    return target


# 3. the apps ----------------------------------------------------------------


def chalice_command(project_dir: Path, stage: str) -> list[str]:
    chalice = Path(sys.executable).parent / "chalice"
    return [str(chalice), "--project-dir", str(project_dir), "deploy", "--stage", stage]


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
    """The environment for ``chalice deploy``: the caller's, minus any endpoint
    override, so chalice can only ever reach AWS's own endpoints."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
