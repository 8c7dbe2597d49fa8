"""``pbctl site-sync``: put the built site in the stage's bucket.

Reads ``pb-<stage>``'s outputs (the caller's AWS credentials, or a moto
server on loopback with ``--endpoint-url``), adds the stage's
``config.json`` (the API, and the staff pool's client and region) and syncs
``static_site/dist`` with the content types and cache headers of
:mod:`pbctl.sitesync`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError

from pbctl import sitesync
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
        help="the API the site calls (default: what chalice deploy recorded in "
        ".chalice/deployed/<stage>.json)",
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


def _clients(endpoint_url: str | None) -> tuple[object, object]:
    if endpoint_url is None:
        session = boto3.session.Session()
        return session.client("cloudformation"), session.client("s3")
    region = boto3.session.Session().region_name or "us-east-1"
    session = boto3.session.Session(**LOCAL_CREDENTIALS, region_name=region)
    return (
        session.client("cloudformation", endpoint_url=endpoint_url),
        session.client("s3", endpoint_url=endpoint_url),
    )


def run(args: argparse.Namespace) -> int:
    """Sync; return 0 on success, 1 if the sync failed, 2 on bad arguments."""
    local = args.endpoint_url is not None
    try:
        if local:
            sitesync.check_endpoint(args.endpoint_url)
        api_url = args.api_url or sitesync.deployed_api_url(ROOT, args.stage)
        if api_url is None:
            raise SiteSyncError(
                f"no API URL: pass --api-url, or run chalice deploy --stage "
                f"{args.stage} first (it records the URL in .chalice/deployed/)"
            )
        api_url = sitesync.check_url(api_url, "--api-url", allow_path=True, local=local)
        site_origin = args.site_origin and sitesync.check_url(
            args.site_origin, "--site-origin", allow_path=False, local=local
        )
    except SiteSyncError as exc:
        print(f"pbctl site-sync: {exc}", file=sys.stderr)
        return 2

    try:
        files = sitesync.collect(args.dist, api_url)
        cloudformation, s3 = _clients(args.endpoint_url)
        stack = sitesync.read_stack(cloudformation, args.stage)
        site_origin = site_origin or stack.outputs.get("SiteUrl")
        sitesync.check_csp_allows(stack, api_url, site_origin)
        staff = sitesync.staff_settings(stack, args.endpoint_url)
        files = sitesync.collect(args.dist, api_url, staff)
        report = sitesync.sync(
            s3,
            stack.bucket,
            files,
            dry_run=args.dry_run,
            progress=lambda action, key: print(f"  {action:6} {key}"),
        )
    except (SiteSyncError, BotoCoreError) as exc:
        print(f"pbctl site-sync: {exc}", file=sys.stderr)
        return 1

    print(report.summary())
    print(f"config.json: api_url {api_url}")
    if site_origin:
        print(f"Site: {site_origin}/")
    return 0
