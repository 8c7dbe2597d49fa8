"""``pbctl site-sync``: put the built site in the stage's bucket.

Reads ``pb-<stage>``'s outputs (the caller's AWS credentials, or a moto
server on loopback with ``--endpoint-url``), adds the stage's
``config.json`` (the API, and the staff pool's client and region) and syncs
``static_site/dist`` with the content types and cache headers of
:mod:`pbctl.sitesync`. The API URL is ``--api-url`` or the ``EndpointURL``
output of ``pb-<stage>-api`` (the stack ``pbctl deploy`` puts the API in).

A sync that was started (not ``--dry-run``) is appended to the audit log
under ``@staff`` as ``site_synced`` (counts, the API URL, and ``outcome``
``ok`` or ``failed``), as the operator (:func:`pbctl.operator.operator_actor`).
Exit statuses: :mod:`pbctl.exitcodes`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from pbctl import sitesync
from pbctl.exitcodes import OK, USAGE, classify
from pbctl.operator import principal_actor, write_audit
from pbctl.sitesync import SiteSyncError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIST = ROOT / "static_site" / "dist"
STAGES = ("dev", "prod")
#: Fake credentials for a local moto server: the caller's are never sent to it.
LOCAL_CREDENTIALS = {
    "aws_access_key_id": "local",
    "aws_secret_access_key": "local",
    "aws_session_token": "local",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``site-sync`` subcommand to ``subparsers``."""
    parser = subparsers.add_parser(
        "site-sync",
        help="sync the built site to the stage's bucket (run `make site` first; "
        "see infra/README.md)",
        description=(
            "Upload static_site/dist and the stage's config.json to the site "
            "bucket of pb-<stage>: assets first, pages last, stale objects "
            "deleted after every upload succeeded. Unchanged objects are skipped."
        ),
    )
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument(
        "--dist", type=Path, default=DEFAULT_DIST, help="the built site folder"
    )
    parser.add_argument(
        "--api-url",
        help="the API the site calls (default: the EndpointURL output of "
        "pb-<stage>-api)",
    )
    parser.add_argument(
        "--site-origin",
        help="where the site is served (default: the stack's SiteUrl output)",
    )
    parser.add_argument(
        "--endpoint-url",
        help="a moto server on loopback, e.g. http://127.0.0.1:5000 (never AWS)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    parser.set_defaults(handler=run)


def _session(endpoint_url: str | None) -> boto3.session.Session:
    if endpoint_url is None:
        return boto3.session.Session()
    region = boto3.session.Session().region_name or "us-east-1"
    return boto3.session.Session(**LOCAL_CREDENTIALS, region_name=region)


def run(args: argparse.Namespace) -> int:
    """Sync; 0 on success, else the status of :mod:`pbctl.exitcodes`."""
    local = args.endpoint_url is not None
    try:
        if local:
            sitesync.check_endpoint(args.endpoint_url)
        api_url = args.api_url and sitesync.check_url(
            args.api_url, "--api-url", allow_path=True, local=local
        )
        site_origin = args.site_origin and sitesync.check_url(
            args.site_origin, "--site-origin", allow_path=False, local=local
        )
        sitesync.check_dist(args.dist)  # before any AWS call
    except SiteSyncError as exc:
        print(f"pbctl site-sync: {exc}", file=sys.stderr)
        return USAGE

    session = _session(args.endpoint_url)

    def client(service: str):
        return session.client(service, endpoint_url=args.endpoint_url)

    try:
        cloudformation, s3 = client("cloudformation"), client("s3")
        stack = sitesync.read_stack(cloudformation, args.stage)
        if not api_url:
            found = sitesync.deployed_api_url(cloudformation, args.stage)
            if found is None:
                print(
                    f"pbctl site-sync: no API URL: pass --api-url, or deploy the "
                    f"API first (pbctl deploy --stage {args.stage}; the URL is the "
                    f"EndpointURL output of {sitesync.api_stack_name(args.stage)})",
                    file=sys.stderr,
                )
                return USAGE
            api_url = sitesync.check_url(
                found, "EndpointURL", allow_path=True, local=local
            )
        site_origin = site_origin or stack.outputs.get("SiteUrl")
        sitesync.check_csp_allows(stack, api_url, site_origin)
        staff = sitesync.staff_settings(stack, args.endpoint_url)
        files = sitesync.collect(args.dist, api_url, staff)
    except (SiteSyncError, BotoCoreError) as exc:
        print(f"pbctl site-sync: {exc}", file=sys.stderr)
        return classify(exc)

    report, failure = None, None
    try:
        report = sitesync.sync(
            s3,
            stack.bucket,
            files,
            dry_run=args.dry_run,
            progress=lambda action, key: print(f"  {action:6} {key}"),
        )
    except (SiteSyncError, BotoCoreError) as exc:
        failure = exc
    if not args.dry_run:
        _audit_sync(client, stack, args.stage, local, api_url, report, failure)
    if failure is not None:
        print(f"pbctl site-sync: {failure}", file=sys.stderr)
        return classify(failure)

    print(report.summary())
    print(f"config.json: api_url {api_url}")
    if site_origin:
        print(f"Site: {site_origin}/")
    return OK


def _audit_sync(client, stack, stage, local, api_url, report, failure) -> None:
    """``site_synced`` under ``@staff``: what changed, never a file's content."""
    after = {
        "command": "pbctl site-sync",
        "stage": stage,
        "api_url": api_url,
        "outcome": "failed" if failure is not None else "ok",
    }
    if report is not None:
        after.update(
            uploaded=len(report.uploaded),
            unchanged=len(report.unchanged),
            deleted=len(report.deleted),
        )
    try:
        write_audit(
            client("dynamodb"),
            stack.outputs["AuditTableName"],
            actor=principal_actor(client("sts"), local=local),
            action="site_synced",
            after=after,
        )
    except (KeyError, ClientError, BotoCoreError, RuntimeError) as exc:
        print(f"pbctl site-sync: the sync was not audited: {exc}", file=sys.stderr)
