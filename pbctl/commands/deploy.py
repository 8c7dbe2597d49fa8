"""``pbctl deploy --stage S [--dry-run]``: the stack, both apps, the site.

The steps and why the committed config files are never rewritten are in
:mod:`pbctl.deploy`. ``--dry-run`` prints every step, the commands exactly,
and calls neither AWS nor chalice. ``--endpoint-url`` (a moto server on
loopback) deploys the stack and writes the filled configs there, and skips
``chalice deploy`` and the site, which cannot target moto.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pbctl import deploy as d
from pbctl import sitesync
from pbctl.localstack import LocalStackError, create_stack
from pbctl.operator import LOCAL_ENV
from pbctl.sitesync import SiteSyncError

STAGES = ("dev", "prod")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="deploy a stage: the stack, both Chalice apps, the site",
        description=(
            "Create or update pb-<stage> from infra/template.yaml, fill both "
            "apps' stage configs from its outputs into build/deploy/<stage>/, "
            "chalice deploy the API and the scheduled app, route failed "
            "scheduled runs to the dead-letter queue, and sync the site."
        ),
    )
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument(
        "--dry-run", action="store_true", help="print every step, call nothing"
    )
    parser.add_argument(
        "--endpoint-url",
        help="a moto server on loopback: stack and configs only (never AWS)",
    )
    parser.add_argument(
        "--alarm-email", help="subscribe this address to the stage's alarm topic"
    )
    parser.add_argument(
        "--site-origin",
        help="the site's origin for the API's CORS (default: the SiteUrl output)",
    )
    parser.add_argument(
        "--skip-site", action="store_true", help="do not build and sync the site"
    )
    parser.set_defaults(handler=run)


def _default_clients(endpoint_url: str | None) -> Callable[[str], Any]:
    if endpoint_url is None:
        session = boto3.session.Session()
        return lambda service: session.client(service)
    os.environ.update(LOCAL_ENV)
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        aws_session_token="local",
        region_name="us-east-1",
    )
    return lambda service: session.client(service, endpoint_url=endpoint_url)


def run(
    args: argparse.Namespace,
    *,
    runner: d.Runner = d.subprocess_runner,
    clients: Callable[[str], Any] | None = None,
) -> int:
    """Deploy; 0 on success, 1 when a step failed, 2 on a refused endpoint."""
    if args.endpoint_url is not None:
        try:
            sitesync.check_endpoint(args.endpoint_url)
        except SiteSyncError as exc:
            print(f"pbctl deploy: {exc}", file=sys.stderr)
            return 2
    try:
        _deploy(args, runner, clients or _default_clients(args.endpoint_url))
    except (d.DeployError, LocalStackError, SiteSyncError) as exc:
        print(f"pbctl deploy: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"pbctl deploy: AWS refused: {exc}", file=sys.stderr)
        return 1
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def _parameters(args: argparse.Namespace) -> dict[str, str]:
    return {"AlarmEmail": args.alarm_email} if args.alarm_email else {}


def _deploy(args, runner: d.Runner, clients: Callable[[str], Any]) -> None:
    stage, dry, local = args.stage, args.dry_run, args.endpoint_url is not None
    name = d.stack_name(stage)
    prefix = "dry run: " if dry else ""
    where = f" at {args.endpoint_url}" if local else ""

    # 1. the stack
    params = ", ".join(
        f"{k}={v}" for k, v in {"Stage": stage, **_parameters(args)}.items()
    )
    _say(
        f"{prefix}[1/4] stack {name}{where}: create or update from "
        f"{d.TEMPLATE_PATH.relative_to(d.ROOT)} ({params}; other parameters "
        "keep their previous values), wait, read outputs"
    )
    outputs: dict[str, str] = {}
    parameters: dict[str, str] = {}
    if not dry:
        cloudformation = clients("cloudformation")
        if local and d.describe(cloudformation, name) is None:
            # moto cannot build the secret or the staff pool from the template.
            outputs = create_stack(cloudformation, stage=stage)
            action = "created"
        else:
            result = d.deploy_stack(cloudformation, stage, parameters=_parameters(args))
            outputs, parameters, action = (
                result.outputs,
                result.parameters,
                result.action,
            )
        _say(f"      {name} {action}; outputs: {', '.join(sorted(outputs))}")
    if args.site_origin:
        outputs["SiteUrl"] = sitesync.check_url(
            args.site_origin, "--site-origin", allow_path=False, local=local
        )

    # 2. the configs
    copies = {}
    for app, project in d.APPS.items():
        copy_dir = d.DEPLOY_DIR / stage / app
        config = (project / ".chalice" / "config.json").read_text("utf-8")
        fills = d.placeholders(json.loads(config), stage)
        listed = ", ".join(f"{v}<-{o}" for v, o in sorted(fills.items()))
        _say(f"{prefix}[2/4] write {copy_dir}/.chalice/config.json ({listed})")
        if not dry:
            d.write_deploy_copy(app, stage, outputs, base=d.DEPLOY_DIR)
        copies[app] = copy_dir

    # 3. the apps
    steps = [
        d.Step(f"chalice deploy {app}", command=d.chalice_command(copy_dir, stage))
        for app, copy_dir in copies.items()
    ]
    for step in steps:
        if local:
            step.skipped = "chalice deploy cannot target moto"
        _say(f"{prefix}[3/4] {step.describe()}")
        if not dry and not step.skipped:
            status = runner(step.command, step.cwd)
            if status != 0:
                raise d.DeployError(f"{step.title} failed (exit {status})")
    functions = ", ".join(d.scheduled_function_names(stage))
    queue = outputs.get("ScheduledDeadLetterQueueArn", "<ScheduledDeadLetterQueueArn>")
    route = f"failed async runs of {functions} -> {queue}"
    _say(f"{prefix}[3/4] {'skip  ' if local else 'do    '}{route}")
    if not dry and not local:
        d.route_failures_to_queue(clients("lambda"), stage, queue)
    _say(
        f"{prefix}[3/4] {'skip  ' if local else 'do    '}update {name} with "
        "ApiOrigin=<origin of the deployed API> if it differs"
    )
    if not dry and not local:
        api_url = sitesync.deployed_api_url(d.APPS["api"], stage)
        if api_url is None:
            raise d.DeployError(
                f"chalice recorded no API URL in .chalice/deployed/{stage}.json"
            )
        origin = sitesync.origin_of(api_url)
        if parameters.get("ApiOrigin", "") != origin:
            d.deploy_stack(
                clients("cloudformation"),
                stage,
                parameters={**_parameters(args), "ApiOrigin": origin},
            )
            _say(f"      {name} updated: ApiOrigin={origin}")

    # 4. the site
    site = [
        d.Step("build the site", command=d.site_build_command()),
        d.Step("sync the site", command=d.site_sync_command(stage)),
    ]
    for step in site:
        if local:
            step.skipped = "the local site is served by pbctl up"
        elif args.skip_site:
            step.skipped = "--skip-site"
        _say(f"{prefix}[4/4] {step.describe()}")
        if not dry and not step.skipped:
            status = runner(step.command, step.cwd)
            if status != 0:
                raise d.DeployError(f"{step.title} failed (exit {status})")
    _say(f"{prefix}done: {name}")
