"""``pbctl deploy --stage S [--dry-run]``: the stack, both apps, the site.

The steps and why the committed config files are never rewritten are in
:mod:`pbctl.deploy`. ``--dry-run`` prints every step, the commands exactly,
and calls neither AWS nor chalice. ``--endpoint-url`` (a moto server on
loopback) deploys the stack and writes the filled configs there, and skips
the app stacks and the site, which cannot target moto.

``--use-restored-table TABLE=NAME`` swaps a stage to a table restored to a
point in time: it sets the stack's ``Restored<Table>Table`` parameter, so
the stack's ``<Table>TableName`` output, and with it both apps' settings,
their roles, the throttling alarm and every ``pbctl`` command, name the
restored table (``TABLE=`` swaps back). The swap is kept by later deploys.

Every deploy that was started (not ``--dry-run``) is appended to the audit
log under ``@staff`` as ``deployed``: stage, source commit, what each stack
did, the packaged templates' keys (what a rollback redeploys), and
``outcome`` ``ok`` or ``failed`` with the step that failed. Exit statuses:
:mod:`pbctl.exitcodes`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pbctl import deploy as d
from pbctl import sitesync
from pbctl.exitcodes import OK, USAGE, classify
from pbctl.localstack import LocalStackError, create_stack
from pbctl.operator import LOCAL_ENV, principal_actor, write_audit
from pbctl.sitesync import SiteSyncError

STAGES = ("dev", "prod")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="deploy a stage: the stack, both Chalice apps, the site",
        description=(
            "Create or update pb-<stage> from infra/template.yaml, fill both "
            "apps' stage configs from its outputs into build/deploy/<stage>/, "
            "chalice package the API (with API Gateway's CORS error responses) "
            "and the scheduled app, deploy each as its own stack "
            "(pb-<stage>-api, pb-<stage>-scheduled), route failed scheduled "
            "runs to the dead-letter queue, and sync the site."
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
    parser.add_argument(
        "--use-restored-table",
        action="append",
        default=[],
        metavar="TABLE=NAME",
        help="point the stage at a table restored to a point in time "
        f"(TABLE: {', '.join(d.TABLES)}; NAME pb-<stage>-TABLE-restored-*; "
        "TABLE= swaps back); see docs/runbook.md",
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
    """Deploy; 0 on success, else the status of :mod:`pbctl.exitcodes`."""
    if args.endpoint_url is not None:
        try:
            sitesync.check_endpoint(args.endpoint_url)
        except SiteSyncError as exc:
            print(f"pbctl deploy: {exc}", file=sys.stderr)
            return USAGE
    try:
        swaps = d.restored_table_parameters(args.stage, args.use_restored_table)
    except ValueError as exc:
        print(f"pbctl deploy: {exc}", file=sys.stderr)
        return USAGE
    deploy = Deploy(args, runner, clients or _default_clients(args.endpoint_url), swaps)
    try:
        deploy.run()
    except (d.DeployError, LocalStackError, SiteSyncError) as exc:
        deploy.audit(failed=exc)
        print(f"pbctl deploy: {exc}", file=sys.stderr)
        return classify(exc)
    except (ClientError, BotoCoreError) as exc:
        deploy.audit(failed=exc)
        print(f"pbctl deploy: AWS refused: {exc}", file=sys.stderr)
        return classify(exc)
    deploy.audit()
    return OK


def _say(text: str) -> None:
    print(text, flush=True)


class Deploy:
    """One ``pbctl deploy``: its steps, and what it did for the audit log."""

    def __init__(self, args, runner: d.Runner, clients, swaps: dict[str, str]):
        self.args, self.runner, self.clients, self.swaps = args, runner, clients, swaps
        self.stage = args.stage
        self.dry = args.dry_run
        self.local = args.endpoint_url is not None
        self.prefix = "dry run: " if self.dry else ""
        self.outputs: dict[str, str] = {}
        self.record: dict[str, Any] = {"stacks": {}, "templates": {}}
        self.step = ""

    def parameters(self) -> dict[str, str]:
        given = {"AlarmEmail": self.args.alarm_email} if self.args.alarm_email else {}
        return {**given, **self.swaps}

    def say(self, step: str, text: str) -> None:
        self.step = step
        _say(f"{self.prefix}[{step}/4] {text}")

    def command(self, step: d.Step) -> None:
        if not self.dry and not step.skipped:
            status = self.runner(step.command, step.cwd)
            if status != 0:
                raise d.DeployError(f"{step.title} failed (exit {status})")

    def run(self) -> None:
        stage, name = self.stage, d.stack_name(self.stage)
        where = f" at {self.args.endpoint_url}" if self.local else ""

        # 1. the stack
        params = ", ".join(
            f"{k}={v}" for k, v in {"Stage": stage, **self.parameters()}.items()
        )
        self.say(
            "1",
            f"stack {name}{where}: create or update from "
            f"{d.TEMPLATE_PATH.relative_to(d.ROOT)} ({params}; other parameters "
            "keep their previous values), wait, read outputs",
        )
        parameters: dict[str, str] = {}
        if not self.dry:
            if self.swaps:
                d.check_tables_exist(self.clients("dynamodb"), self.swaps)
            cloudformation = self.clients("cloudformation")
            if self.local and d.describe(cloudformation, name) is None:
                # moto cannot build the secret or the staff pool from the
                # template; a fresh local stack has no restored table to use.
                self.outputs = create_stack(cloudformation, stage=stage)
                action = "created"
            if not self.outputs or self.swaps:
                result = d.deploy_stack(
                    cloudformation, stage, parameters=self.parameters()
                )
                self.outputs, parameters, action = (
                    result.outputs,
                    result.parameters,
                    result.action,
                )
            self.record["stacks"][name] = action
            _say(f"      {name} {action}; outputs: {', '.join(sorted(self.outputs))}")
        outputs = dict(self.outputs)
        if self.args.site_origin:
            outputs["SiteUrl"] = sitesync.check_url(
                self.args.site_origin,
                "--site-origin",
                allow_path=False,
                local=self.local,
            )

        # 2. the configs
        copies = {}
        for app, project in d.APPS.items():
            copy_dir = d.DEPLOY_DIR / stage / app
            config = (project / ".chalice" / "config.json").read_text("utf-8")
            fills = d.placeholders(json.loads(config), stage)
            listed = ", ".join(f"{v}<-{o}" for v, o in sorted(fills.items()))
            self.say("2", f"write {copy_dir}/.chalice/config.json ({listed})")
            if not self.dry:
                d.write_deploy_copy(app, stage, outputs, base=d.DEPLOY_DIR)
            copies[app] = copy_dir

        # 3. the apps: package, upload, deploy each app's stack
        skip = "the app stacks need AWS's SAM transform, which moto lacks"
        bucket = outputs.get("ArtifactsBucketName", "<ArtifactsBucketName>")
        api_url = None
        for app, copy_dir in copies.items():
            out_dir = d.package_dir(stage, app, base=d.DEPLOY_DIR)
            package = d.Step(
                f"chalice package {app}",
                command=d.chalice_package_command(
                    copy_dir, stage, out_dir, d.MERGE_TEMPLATES[app]
                ),
                skipped=skip if self.local else "",
            )
            self.say("3", package.describe())
            if not self.dry and not package.skipped:
                shutil.rmtree(out_dir, ignore_errors=True)
            self.command(package)
            app_stack = d.app_stack_name(stage, app)
            app_params = {"Stage": stage}
            if app == "api":
                app_params["SiteOrigin"] = outputs.get("SiteUrl", "<SiteUrl>")
            listed = ", ".join(f"{k}={v}" for k, v in app_params.items())
            self.say(
                "3",
                f"{'skip  ' if self.local else 'do    '}upload {out_dir.name} to "
                f"s3://{bucket}/{app}/, create or update {app_stack} ({listed})",
            )
            if self.dry or self.local:
                continue
            if "ArtifactsBucketName" not in outputs:
                raise d.DeployError(
                    f"stack {name} has no output ArtifactsBucketName to upload "
                    f"the {app} package to"
                )
            uploaded = d.upload_package(self.clients("s3"), bucket, app, out_dir)
            self.record["templates"][app] = f"s3://{bucket}/{uploaded.template_key}"
            app_params.pop("Stage")
            result = d.deploy_app_stack(
                self.clients("cloudformation"), stage, uploaded, parameters=app_params
            )
            self.record["stacks"][app_stack] = result.action
            _say(f"      {app_stack} {result.action} from {uploaded.template_key}")
            if app == "api":
                api_url = self.api_url(result.outputs, app_stack)

        functions = ", ".join(d.scheduled_function_names(stage))
        queue = outputs.get(
            "ScheduledDeadLetterQueueArn", "<ScheduledDeadLetterQueueArn>"
        )
        route = f"failed async runs of {functions} -> {queue}"
        self.say("3", f"{'skip  ' if self.local else 'do    '}{route}")
        if not self.dry and not self.local:
            d.route_failures_to_queue(self.clients("lambda"), stage, queue)
        self.say(
            "3",
            f"{'skip  ' if self.local else 'do    '}update {name} with "
            "ApiOrigin=<origin of the EndpointURL output of "
            f"{d.app_stack_name(stage, 'api')}> if it differs",
        )
        if api_url is not None:
            origin = sitesync.origin_of(api_url)
            if parameters.get("ApiOrigin", "") != origin:
                d.deploy_stack(
                    self.clients("cloudformation"),
                    stage,
                    parameters={**self.parameters(), "ApiOrigin": origin},
                )
                self.record["stacks"][name] = "updated"
                _say(f"      {name} updated: ApiOrigin={origin}")

        # 4. the site
        site = [
            d.Step("build the site", command=d.site_build_command()),
            d.Step(
                "sync the site",
                command=d.site_sync_command(stage, api_url or "<EndpointURL>"),
            ),
        ]
        for step in site:
            if self.local:
                step.skipped = "the local site is served by pbctl up"
            elif self.args.skip_site:
                step.skipped = "--skip-site"
            self.say("4", step.describe())
            self.command(step)
        self.step = ""
        _say(f"{self.prefix}done: {name}")

    def api_url(self, outputs: dict[str, str], app_stack: str) -> str:
        url = outputs.get("EndpointURL", "")
        try:
            return sitesync.check_url(url, "EndpointURL", allow_path=True, local=False)
        except SiteSyncError as exc:
            raise d.DeployError(
                f"stack {app_stack} has no usable EndpointURL output: {exc}"
            ) from exc

    def _existing_audit_table(self) -> str | None:
        """The audit table of a stack that exists, for a deploy refused early."""
        try:
            stack = d.describe(self.clients("cloudformation"), d.stack_name(self.stage))
        except (d.DeployError, ClientError, BotoCoreError):
            return None
        outputs = {
            o["OutputKey"]: o["OutputValue"] for o in (stack or {}).get("Outputs", [])
        }
        return outputs.get("AuditTableName")

    def audit(self, failed: BaseException | None = None) -> None:
        """``deployed`` under ``@staff``, once the stack's audit table exists.

        A dry run changed nothing and is not recorded; neither is a deploy
        that stopped where no stack could be read (there is no table to write).
        """
        if self.dry:
            return
        table = self.outputs.get("AuditTableName") or self._existing_audit_table()
        if not table:
            return
        after = {
            "command": "pbctl deploy",
            "stage": self.stage,
            "commit": d.source_commit(),
            "outcome": "ok" if failed is None else "failed",
            **self.record,
        }
        if self.swaps:
            after["restored_tables"] = self.swaps
        if failed is not None:
            after["failed_step"] = self.step
            after["exit"] = classify(failed)
        try:
            write_audit(
                self.clients("dynamodb"),
                table,
                actor=principal_actor(self.clients("sts"), local=self.local),
                action="deployed",
                after=after,
            )
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            print(f"pbctl deploy: the deploy was not audited: {exc}", file=sys.stderr)
