"""Syncing the built site (``static_site/dist``) to a stage's site bucket.

The bucket is the ``SiteBucketName`` output of the stage's stack
(``pb-<stage>``); CloudFront serves it and follows each object's
``Cache-Control``, so the headers chosen here are the site's caching policy:

- fingerprinted files (a hash of 8 or more lowercase hex digits, not all
  digits, as the last segment before the extension: ``app.3f9a1c2b.js``,
  ``chunk-5e0c77aa.css``) never change under their name: cached for a year,
  ``immutable``;
- everything else, and always the HTML pages, ``sw.js``, ``config.json``
  and the web manifest, is ``no-cache``: browsers and CloudFront revalidate
  it on every use, so a new deploy shows at once without an invalidation.

``config.json`` (``{"api_url": ...}``, with the staff console's
``cognito_url``, ``client_id`` and ``region`` from the stack's outputs) is
written into the upload set, never into ``dist`` on disk, so one build serves
every stage.

The order keeps a visitor from ever loading a page whose assets are missing:
new assets go up first, then ``config.json``, the HTML pages and ``sw.js``
last; objects that are no longer in the build are deleted only after every
upload succeeded. An object whose bytes (a SHA-256 kept in its metadata),
content type and cache header already match is left alone, so a second run
uploads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError

from pbctl.exitcodes import Unreachable
from pbctl.localstack import is_loopback

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
SHA256_METADATA = "sha256"
CONFIG_KEY = "config.json"
SERVICE_WORKER_KEY = "sw.js"

#: Content-Type by file extension (lower case). A file with any other
#: extension stops the sync: with ``nosniff`` a wrong type breaks the page.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".pdf": "application/pdf",
}

# name.<hash>.ext, name-<hash>.ext or <hash>.ext; ".js.map" counts as one
# extension so a source map follows its script.
_FINGERPRINT = re.compile(r"(?:^|[._-])([0-9a-f]{8,})(?:\.js)?\.[A-Za-z0-9]+$")

# Upload phases, in order: what pages point at goes up before the pages.
ASSET, CONFIG, PAGE, SERVICE_WORKER = range(4)


class SiteSyncError(RuntimeError):
    """The sync cannot start, or S3 refused a request part-way."""


class StackUnreadable(SiteSyncError, Unreachable):
    """The stage's stack cannot be read: no connection, credentials or stack."""


@dataclass(frozen=True)
class SiteFile:
    """One object to put in the bucket: key, bytes and headers."""

    key: str
    body: bytes
    content_type: str
    cache_control: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def phase(self) -> int:
        if self.key == SERVICE_WORKER_KEY:
            return SERVICE_WORKER
        if self.key == CONFIG_KEY:
            return CONFIG
        if self.content_type.startswith("text/html"):
            return PAGE
        return ASSET


@dataclass
class SyncReport:
    """What a sync did (or, with ``dry_run``, would do), key by key."""

    bucket: str
    dry_run: bool
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would upload" if self.dry_run else "uploaded"
        gone = "would delete" if self.dry_run else "deleted"
        return (
            f"s3://{self.bucket}: {verb} {len(self.uploaded)}, "
            f"unchanged {len(self.unchanged)}, {gone} {len(self.deleted)}"
        )


# Classifying files ----------------------------------------------------------


def is_fingerprinted(key: str) -> bool:
    """True if the file name carries a content hash before its extension."""
    match = _FINGERPRINT.search(PurePosixPath(key).name)
    return bool(match) and not match.group(1).isdigit()


def content_type_for(key: str) -> str:
    """The Content-Type for ``key``; raises ``SiteSyncError`` if unknown."""
    suffix = PurePosixPath(key).suffix.lower()
    try:
        return CONTENT_TYPES[suffix]
    except KeyError:
        raise SiteSyncError(
            f"no content type known for {key!r} (extension {suffix or 'none'!r})"
        ) from None


def cache_control_for(key: str) -> str:
    """Immutable for fingerprinted assets; ``no-cache`` for the rest."""
    name = PurePosixPath(key).name
    entry_point = (
        key in (CONFIG_KEY, SERVICE_WORKER_KEY)
        or name.lower().endswith((".html", ".webmanifest"))
        or name == "manifest.json"
    )
    if entry_point or not is_fingerprinted(key):
        return NO_CACHE
    return IMMUTABLE


def site_file(key: str, body: bytes) -> SiteFile:
    return SiteFile(key, body, content_type_for(key), cache_control_for(key))


def config_body(api_url: str, staff: Mapping[str, str] | None = None) -> bytes:
    """The bytes of the stage's ``config.json``."""
    config = {"api_url": api_url, **(staff or {})}
    return (json.dumps(config, sort_keys=True) + "\n").encode()


def collect(
    dist: Path, api_url: str, staff: Mapping[str, str] | None = None
) -> list[SiteFile]:
    """Read ``dist`` into the upload set, with ``config.json``, in upload order.

    Raises ``SiteSyncError`` if ``dist`` is not a built site (no
    ``index.html``: syncing an empty folder would delete the whole site) or
    holds a file of unknown type.
    """
    files = _read_dist(dist)
    files[CONFIG_KEY] = site_file(CONFIG_KEY, config_body(api_url, staff))
    return sorted(files.values(), key=lambda f: (f.phase, f.key))


def check_dist(dist: Path) -> None:
    """Raise ``SiteSyncError`` as :func:`collect` would, reading only ``dist``."""
    _read_dist(dist)


def _read_dist(dist: Path) -> dict[str, SiteFile]:
    if not (dist / "index.html").is_file():
        raise SiteSyncError(
            f"{dist} holds no index.html; build the site first "
            "(npm run build in static_site/)"
        )
    files: dict[str, SiteFile] = {}
    unknown = []
    for path in sorted(dist.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(dist).as_posix()
        if key == CONFIG_KEY:
            continue  # the stage's own config.json replaces a built one
        try:
            files[key] = site_file(key, path.read_bytes())
        except SiteSyncError:
            unknown.append(key)
    if unknown:
        raise SiteSyncError(
            "no content type known for " + ", ".join(unknown) + "; "
            "add the extension to pbctl.sitesync.CONTENT_TYPES"
        )
    return files


# Where to sync --------------------------------------------------------------


def check_endpoint(url: str) -> str:
    """Return ``url`` if it is an http(s) URL of a loopback host, else raise.

    Only a local moto server is ever given an endpoint; AWS is reached through
    the SDK's own endpoints.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not is_loopback(parts.hostname):
        raise SiteSyncError(
            f"refusing endpoint {url!r}: --endpoint-url is for a moto server on "
            "loopback (http://127.0.0.1:PORT); leave it out to use AWS"
        )
    return url


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_url(url: str, what: str, *, allow_path: bool, local: bool) -> str:
    """Validate an API URL or site origin; return it without a trailing slash."""
    parts = urlsplit(url)
    schemes = ("http", "https") if local else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SiteSyncError(f"{what} must be an {wanted} URL, not {url!r}")
    if (
        parts.query
        or parts.fragment
        or (not allow_path and parts.path not in ("", "/"))
    ):
        shape = "a URL without query" if allow_path else "an origin, without a path,"
        raise SiteSyncError(f"{what} must be {shape} not {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class Stack:
    """What site-sync needs from ``pb-<stage>``."""

    name: str
    outputs: Mapping[str, str]
    parameters: Mapping[str, str]

    @property
    def bucket(self) -> str:
        try:
            return self.outputs["SiteBucketName"]
        except KeyError:
            raise SiteSyncError(
                f"stack {self.name} has no SiteBucketName output"
            ) from None


def read_stack(cloudformation: Any, stage: str) -> Stack:
    """DescribeStacks of ``pb-<stage>``; raises ``SiteSyncError`` if absent."""
    name = f"pb-{stage}"
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except (cloudformation.exceptions.ClientError, BotoCoreError) as exc:
        raise StackUnreadable(f"cannot read stack {name}: {exc}") from exc
    stack = stacks[0]
    return Stack(
        name=name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in stack.get("Parameters", [])
        },
    )


_ISSUER = re.compile(r"^https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/")


def staff_settings(stack: Stack, endpoint_url: str | None = None) -> dict[str, str]:
    """The staff console's sign-in settings for ``config.json``, from the stack.

    ``client_id`` is the ``UserPoolClientId`` output and ``region`` the one
    in ``UserPoolIssuer``; ``cognito_url`` is Cognito's regional endpoint, or
    the moto server for a local stack (``endpoint_url``). Empty when the
    stack has no staff pool outputs.
    """
    client_id = stack.outputs.get("UserPoolClientId")
    match = _ISSUER.match(stack.outputs.get("UserPoolIssuer", ""))
    if not client_id or not match:
        return {}
    region = match.group(1)
    url = endpoint_url or f"https://cognito-idp.{region}.amazonaws.com"
    return {
        "cognito_url": url.rstrip("/") + "/",
        "client_id": client_id,
        "region": region,
    }


def check_csp_allows(stack: Stack, api_url: str, site_origin: str | None) -> None:
    """Refuse a sync whose site could not reach its API under the stack's CSP.

    The distribution's Content-Security-Policy lets the site fetch from its
    own origin and from the stack's ``ApiOrigin`` parameter only.
    """
    if "SiteUrl" not in stack.outputs:
        return  # no CloudFront (the local stack): no CSP to match
    api_origin = origin_of(api_url)
    if site_origin and api_origin == origin_of(site_origin):
        return
    allowed = stack.parameters.get("ApiOrigin", "").lower()
    if allowed != api_origin:
        raise SiteSyncError(
            f"the site's CSP allows connect-src {allowed or 'none but self'} but "
            f"the API is at {api_origin}; update {stack.name} with "
            f"ApiOrigin={api_origin} first (see infra/README.md)"
        )


def api_stack_name(stage: str) -> str:
    """The stack ``pbctl deploy`` puts the API in (``pb-<stage>-api``)."""
    return f"pb-{stage}-api"


def deployed_api_url(cloudformation: Any, stage: str) -> str | None:
    """The API's URL: the ``EndpointURL`` output of ``pb-<stage>-api``.

    ``None`` when that stack does not exist yet or has no such output; raises
    ``StackUnreadable`` when CloudFormation cannot be asked at all.
    """
    name = api_stack_name(stage)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise StackUnreadable(f"cannot read stack {name}: {exc}") from exc
    except BotoCoreError as exc:
        raise StackUnreadable(f"cannot read stack {name}: {exc}") from exc
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "EndpointURL" and output.get("OutputValue"):
            return output["OutputValue"]
    return None


# The sync -------------------------------------------------------------------


def _current(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def _unchanged(s3: Any, bucket: str, file: SiteFile) -> bool:
    head = s3.head_object(Bucket=bucket, Key=file.key)
    return (
        head.get("Metadata", {}).get(SHA256_METADATA) == file.sha256
        and head.get("ContentType") == file.content_type
        and head.get("CacheControl") == file.cache_control
    )


def _put(s3: Any, bucket: str, file: SiteFile) -> None:
    s3.put_object(
        Bucket=bucket,
        Key=file.key,
        Body=file.body,
        ContentType=file.content_type,
        CacheControl=file.cache_control,
        ContentMD5=base64.b64encode(hashlib.md5(file.body).digest()).decode(),
        Metadata={SHA256_METADATA: file.sha256},
    )


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        answer = s3.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )
        errors = answer.get("Errors", [])
        if errors:
            failed = ", ".join(f"{e['Key']} ({e.get('Code')})" for e in errors)
            raise SiteSyncError(f"could not delete {failed}")


def sync(
    s3: Any,
    bucket: str,
    files: Iterable[SiteFile],
    *,
    dry_run: bool = False,
    progress: Callable[[str, str], None] | None = None,
) -> SyncReport:
    """Make ``bucket`` hold exactly ``files``; return what changed.

    ``files`` go up in the order given (``collect`` puts pages last); stale
    objects are deleted after the last upload. With ``dry_run`` only reads
    are made. ``progress(action, key)`` is called for each upload and delete.
    Raises ``SiteSyncError`` if S3 refuses a request; nothing is deleted then.
    """
    files = list(files)
    report = SyncReport(bucket=bucket, dry_run=dry_run)
    error = s3.exceptions.ClientError
    try:
        existing = _current(s3, bucket)
        for file in files:
            if file.key in existing and _unchanged(s3, bucket, file):
                report.unchanged.append(file.key)
                continue
            if not dry_run:
                _put(s3, bucket, file)
            report.uploaded.append(file.key)
            if progress:
                progress("upload", file.key)
    except error as exc:
        raise SiteSyncError(
            f"S3 refused the sync after {len(report.uploaded)} uploads; "
            f"nothing was deleted: {exc}"
        ) from exc
    stale = sorted(existing - {file.key for file in files})
    if stale and not dry_run:
        try:
            _delete(s3, bucket, stale)
        except error as exc:
            raise SiteSyncError(
                f"every file is up, but deleting stale objects failed: {exc}"
            ) from exc
    report.deleted = stale
    if progress:
        for key in stale:
            progress("delete", key)
    return report
