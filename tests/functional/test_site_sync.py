"""``pbctl site-sync`` against the moto stack: types, caching, order, idempotence.

A small fake build is made in ``tmp_path`` (the real one comes from
``npm run build``). S3 calls are recorded with botocore
``before-parameter-build`` event hooks on the client the sync uses, so the
order of uploads and deletes is observed, not inferred; a ``before-call`` hook
injects a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from pbctl import sitesync
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import main
from pbctl.sitesync import IMMUTABLE, NO_CACHE, SiteSyncError, Stack

pytestmark = pytest.mark.functional

API_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/api"

# key in dist -> (Content-Type, Cache-Control)
BUILD = {
    "index.html": ("text/html; charset=utf-8", NO_CACHE),
    "results/index.html": ("text/html; charset=utf-8", NO_CACHE),
    "assets/app.3f9a1c2b.js": ("text/javascript; charset=utf-8", IMMUTABLE),
    "assets/app.3f9a1c2b.js.map": ("application/json; charset=utf-8", IMMUTABLE),
    "assets/site-0badc0de.css": ("text/css; charset=utf-8", IMMUTABLE),
    "assets/logo.5e0c77aa19.svg": ("image/svg+xml", IMMUTABLE),
    "fonts/public-sans.9c1d2e3f.woff2": ("font/woff2", IMMUTABLE),
    "icons/icon-192.png": ("image/png", NO_CACHE),
    "favicon.ico": ("image/vnd.microsoft.icon", NO_CACHE),
    "manifest.webmanifest": ("application/manifest+json", NO_CACHE),
    "sw.js": ("text/javascript; charset=utf-8", NO_CACHE),
    "i18n/en.json": ("application/json; charset=utf-8", NO_CACHE),
    "i18n/es.json": ("application/json; charset=utf-8", NO_CACHE),
}
UPLOADED = {*BUILD, "config.json"}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A fake ``static_site/dist``, with a build-time config.json to be ignored."""
    root = tmp_path / "dist"
    for key in BUILD:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"contents of {key}\n".encode())
    (root / "config.json").write_text('{"api_url": "http://127.0.0.1:8001"}\n')
    return root


@pytest.fixture
def s3(aws: None):
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(stack: dict[str, str]) -> str:
    return stack["SiteBucketName"]


def record_calls(client, *operations: str) -> list[tuple[str, str]]:
    """Record (operation, key) for each call of ``operations`` on ``client``."""
    calls: list[tuple[str, str]] = []

    def hook(model, params, **kwargs):
        keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])]
        for key in keys or [params.get("Key", "")]:
            calls.append((model.name, key))

    for operation in operations:
        client.meta.events.register(f"before-parameter-build.s3.{operation}", hook)
    return calls


def run_sync(s3, bucket: str, dist: Path, **kwargs) -> sitesync.SyncReport:
    return sitesync.sync(s3, bucket, sitesync.collect(dist, API_URL), **kwargs)


def bucket_keys(s3, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


# Headers and contents ---------------------------------------------------------


def test_every_file_gets_its_type_and_cache_header(s3, bucket: str, dist: Path):
    report = run_sync(s3, bucket, dist)

    assert set(report.uploaded) == UPLOADED
    assert bucket_keys(s3, bucket) == UPLOADED
    seen = {}
    for key in BUILD:
        head = s3.head_object(Bucket=bucket, Key=key)
        seen[key] = (head["ContentType"], head["CacheControl"])
    assert seen == BUILD


def test_config_json_names_the_api_and_dist_is_untouched(s3, bucket: str, dist: Path):
    built = (dist / "config.json").read_bytes()

    run_sync(s3, bucket, dist)

    obj = s3.get_object(Bucket=bucket, Key="config.json")
    assert json.loads(obj["Body"].read()) == {"api_url": API_URL}
    assert obj["ContentType"] == "application/json; charset=utf-8"
    assert obj["CacheControl"] == NO_CACHE
    assert (dist / "config.json").read_bytes() == built
    assert sorted(p.name for p in dist.iterdir() if p.is_file()) == [
        "config.json",
        "favicon.ico",
        "index.html",
        "manifest.webmanifest",
        "sw.js",
    ]


def test_objects_carry_the_bytes_and_their_sha256(s3, bucket: str, dist: Path):
    run_sync(s3, bucket, dist)

    obj = s3.get_object(Bucket=bucket, Key="assets/app.3f9a1c2b.js")
    body = obj["Body"].read()
    assert body == b"contents of assets/app.3f9a1c2b.js\n"
    assert obj["Metadata"] == {"sha256": sitesync.site_file("x.js", body).sha256}


@pytest.mark.parametrize(
    ("name", "fingerprinted"),
    [
        ("app.3f9a1c2b.js", True),
        ("chunk-5e0c77aa.css", True),
        ("vendor_0123456789abcdef.js", True),
        ("3f9a1c2bdeadbeef.woff2", True),
        ("app.3f9a1c2b.js.map", True),
        ("app.js", False),
        ("app.min.js", False),
        ("app.3f9a1c2.js", False),  # 7 hex digits: too short for a hash
        ("report-20241201.json", False),  # all digits: a date, not a hash
        ("app.3F9A1C2B.js", False),  # hashes are lower case
        ("app.3f9a1c2bz.js", False),  # not hex
        ("3f9a1c2b/app.js", False),  # a hashed folder does not count
    ],
)
def test_fingerprint_detection(name: str, fingerprinted: bool):
    assert sitesync.is_fingerprinted(name) is fingerprinted


@pytest.mark.parametrize(
    "key",
    [
        "about.3f9a1c2b.html",
        "manifest.3f9a1c2b.webmanifest",
        "manifest.json",
        "sw.js",
        "config.json",
    ],
)
def test_entry_points_are_never_immutable(key: str):
    assert sitesync.cache_control_for(key) == NO_CACHE


# Deleting, skipping, ordering -------------------------------------------------


def test_objects_no_longer_built_are_deleted(s3, bucket: str, dist: Path):
    for key in ("assets/app.00aa11bb.js", "old-page.html"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"stale")

    report = run_sync(s3, bucket, dist)

    assert report.deleted == ["assets/app.00aa11bb.js", "old-page.html"]
    assert bucket_keys(s3, bucket) == UPLOADED


def test_second_run_uploads_nothing(s3, bucket: str, dist: Path):
    run_sync(s3, bucket, dist)
    calls = record_calls(s3, "PutObject", "DeleteObjects")

    again = run_sync(s3, bucket, dist)

    assert calls == []
    assert (again.uploaded, again.deleted) == ([], [])
    assert set(again.unchanged) == UPLOADED


def test_changed_bytes_or_headers_are_uploaded_again(s3, bucket: str, dist: Path):
    run_sync(s3, bucket, dist)
    (dist / "i18n" / "es.json").write_text('{"hello": "hola"}\n')
    # Same bytes as the build, but the wrong type and caching.
    body = (dist / "sw.js").read_bytes()
    sha = sitesync.site_file("sw.js", body).sha256
    s3.put_object(
        Bucket=bucket,
        Key="sw.js",
        Body=body,
        ContentType="application/octet-stream",
        CacheControl=IMMUTABLE,
        Metadata={"sha256": sha},
    )
    calls = record_calls(s3, "PutObject")

    report = run_sync(s3, bucket, dist)

    assert report.uploaded == ["i18n/es.json", "sw.js"]
    assert calls == [("PutObject", "i18n/es.json"), ("PutObject", "sw.js")]
    head = s3.head_object(Bucket=bucket, Key="sw.js")
    assert (head["ContentType"], head["CacheControl"]) == BUILD["sw.js"]


def test_assets_go_up_before_config_pages_and_service_worker(
    s3, bucket: str, dist: Path
):
    s3.put_object(Bucket=bucket, Key="assets/app.00aa11bb.js", Body=b"stale")
    calls = record_calls(s3, "PutObject", "DeleteObjects")

    run_sync(s3, bucket, dist)

    keys = [key for op, key in calls if op == "PutObject"]
    pages = ["index.html", "results/index.html"]
    assert set(keys[:-4]) == UPLOADED - {"config.json", "sw.js", *pages}
    assert keys[-4:] == ["config.json", *pages, "sw.js"]
    assert calls[-1] == ("DeleteObjects", "assets/app.00aa11bb.js")
    assert [op for op, _ in calls].count("DeleteObjects") == 1


def test_dry_run_writes_nothing(s3, bucket: str, dist: Path):
    s3.put_object(Bucket=bucket, Key="old-page.html", Body=b"stale")
    calls = record_calls(s3, "PutObject", "DeleteObjects", "CopyObject")

    report = run_sync(s3, bucket, dist, dry_run=True)

    assert calls == []
    assert bucket_keys(s3, bucket) == {"old-page.html"}
    assert set(report.uploaded) == UPLOADED
    assert report.deleted == ["old-page.html"]
    assert report.summary() == (
        f"s3://{bucket}: would upload 14, unchanged 0, would delete 1"
    )


def test_a_failed_upload_deletes_nothing(s3, bucket: str, dist: Path):
    s3.put_object(Bucket=bucket, Key="old-page.html", Body=b"stale")

    def refuse_index(params, **kwargs):
        # before-call sees the serialised request: the key is in the URL path.
        path = params["url_path"]
        if path.endswith("/index.html") and "/results/" not in path:
            error = {"Error": {"Code": "InternalError", "Message": "injected"}}
            return AWSResponse("https://s3.test", 500, {}, None), error
        return None

    s3.meta.events.register("before-call.s3.PutObject", refuse_index)

    with pytest.raises(SiteSyncError, match="after 11 uploads; nothing was deleted"):
        run_sync(s3, bucket, dist)

    keys = bucket_keys(s3, bucket)
    assert "old-page.html" in keys
    assert {"index.html", "results/index.html", "sw.js"} & keys == set()


# Refusals ---------------------------------------------------------------------


def test_a_folder_without_index_html_is_refused(tmp_path: Path):
    (tmp_path / "app.3f9a1c2b.js").write_text("")

    with pytest.raises(SiteSyncError, match="holds no index.html; build the site"):
        sitesync.collect(tmp_path, API_URL)


def test_unknown_file_types_are_refused_by_name(dist: Path):
    (dist / "notes.docx").write_bytes(b"x")
    (dist / "README").write_bytes(b"x")

    with pytest.raises(
        SiteSyncError, match=r"no content type known for README, notes.docx;"
    ):
        sitesync.collect(dist, API_URL)


def test_a_missing_stack_is_named(aws: None):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")

    with pytest.raises(SiteSyncError, match="cannot read stack pb-prod"):
        sitesync.read_stack(cloudformation, "prod")


def test_the_local_stack_has_no_cdn_outputs(stack: dict[str, str]):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")

    read = sitesync.read_stack(cloudformation, "dev")

    assert read.bucket == stack["SiteBucketName"]
    assert read.parameters["CreateCdn"] == "false"
    assert "SiteUrl" not in read.outputs


def cdn_stack(api_origin: str) -> Stack:
    return Stack(
        name="pb-prod",
        outputs={"SiteBucketName": "b", "SiteUrl": "https://d1.cloudfront.net"},
        parameters={"ApiOrigin": api_origin},
    )


def test_csp_that_would_block_the_api_is_refused():
    with pytest.raises(
        SiteSyncError,
        match=r"allows connect-src none but self but the API is at "
        r"https://a1b2c3d4e5\.execute-api\.us-east-1\.amazonaws\.com; update "
        r"pb-prod with ApiOrigin=",
    ):
        sitesync.check_csp_allows(cdn_stack(""), API_URL, "https://d1.cloudfront.net")


@pytest.mark.parametrize(
    ("stack", "site_origin"),
    [
        (cdn_stack("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"), None),
        (cdn_stack(""), "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
        (Stack("pb-dev", {"SiteBucketName": "b"}, {"ApiOrigin": ""}), None),
    ],
    ids=["api-origin-in-csp", "same-origin", "no-cdn"],
)
def test_csp_that_allows_the_api_passes(stack: Stack, site_origin: str | None):
    assert sitesync.check_csp_allows(stack, API_URL, site_origin) is None


def test_staff_settings_name_the_regional_cognito_endpoint():
    stack = Stack(
        "pb-prod",
        {
            "SiteBucketName": "b",
            "UserPoolClientId": "client123",
            "UserPoolIssuer": "https://cognito-idp.us-east-2.amazonaws.com/us-east-2_Ab",
        },
        {},
    )

    assert sitesync.staff_settings(stack) == {
        "cognito_url": "https://cognito-idp.us-east-2.amazonaws.com/",
        "client_id": "client123",
        "region": "us-east-2",
    }
    assert sitesync.staff_settings(stack, "http://127.0.0.1:5000")["cognito_url"] == (
        "http://127.0.0.1:5000/"
    )
    assert sitesync.staff_settings(Stack("pb-dev", {"SiteBucketName": "b"}, {})) == {}


def test_config_json_carries_the_staff_settings_when_given(dist: Path):
    staff = {"cognito_url": "https://c/", "client_id": "x", "region": "us-east-1"}

    files = {f.key: f for f in sitesync.collect(dist, API_URL, staff)}

    assert json.loads(files["config.json"].body) == {"api_url": API_URL, **staff}


API_STACK = """\
Resources:
  Placeholder:
    Type: AWS::SNS::Topic
Outputs:
  EndpointURL:
    Value: %s
"""


def test_deployed_api_url_is_the_api_stacks_endpoint_output(aws: None):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="pb-dev-api", TemplateBody=API_STACK % (API_URL + "/")
    )

    assert sitesync.deployed_api_url(cloudformation, "dev") == API_URL + "/"
    assert sitesync.deployed_api_url(cloudformation, "prod") is None


# The command ------------------------------------------------------------------


def site_sync(*args: str) -> int:
    return main(["site-sync", *args])


def staff_audit(stack: dict[str, str]) -> list[dict]:
    """The ``@staff`` audit entries of the moto stack, oldest first."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    items = dynamodb.query(
        TableName=stack["AuditTableName"],
        KeyConditionExpression="cycle_id = :c",
        ExpressionAttributeValues={":c": {"S": "@staff"}},
        ConsistentRead=True,
    )["Items"]
    return [
        {
            "actor": i["actor"]["S"],
            "action": i["action"]["S"],
            "after": json.loads(i["after"]["S"]),
        }
        for i in items
    ]


def test_command_syncs_then_finds_nothing_to_do(
    s3, bucket: str, stack, dist: Path, capsys: pytest.CaptureFixture[str]
):
    args = ("--stage", "dev", "--dist", str(dist), "--api-url", API_URL + "/")

    assert site_sync(*args) == 0
    first = capsys.readouterr().out
    assert site_sync(*args) == 0
    second = capsys.readouterr().out

    # Each sync is audited under the operator's principal, with its counts.
    identity = boto3.client("sts", region_name="us-east-1").get_caller_identity()
    entries = staff_audit(stack)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("site_synced", f"pbctl:{identity['Arn']}")
    ] * 2
    assert [
        {k: e["after"][k] for k in ("outcome", "uploaded", "unchanged", "deleted")}
        for e in entries
    ] == [
        {"outcome": "ok", "uploaded": 14, "unchanged": 0, "deleted": 0},
        {"outcome": "ok", "uploaded": 0, "unchanged": 14, "deleted": 0},
    ]
    assert entries[0]["after"]["command"] == "pbctl site-sync"

    assert f"s3://{bucket}: uploaded 14, unchanged 0, deleted 0" in first
    assert "  upload index.html" in first
    assert f"config.json: api_url {API_URL}\n" in first
    assert second == (
        f"s3://{bucket}: uploaded 0, unchanged 14, deleted 0\n"
        f"config.json: api_url {API_URL}\n"
    )


def test_command_dry_run_writes_nothing(
    s3, bucket: str, dist: Path, capsys: pytest.CaptureFixture[str]
):
    code = site_sync("--stage", "dev", "--dist", str(dist), "--api-url", API_URL)

    assert code == 0
    (dist / "index.html").write_text("<p>changed</p>")
    capsys.readouterr()

    code = site_sync(
        "--stage", "dev", "--dist", str(dist), "--api-url", API_URL, "--dry-run"
    )

    assert code == 0
    assert capsys.readouterr().out.startswith(
        "  upload index.html\n"
        f"s3://{bucket}: would upload 1, unchanged 13, would delete 0\n"
    )
    body = s3.get_object(Bucket=bucket, Key="index.html")["Body"].read()
    assert body == b"contents of index.html\n"


def test_a_failed_sync_is_audited_as_failed(
    s3, bucket: str, stack, dist: Path, monkeypatch, capsys
):
    def refuse(*args, **kwargs):
        raise SiteSyncError("S3 refused the sync after 0 uploads; nothing was deleted")

    monkeypatch.setattr(sitesync, "sync", refuse)

    code = site_sync("--stage", "dev", "--dist", str(dist), "--api-url", API_URL)

    assert code == 1
    assert "S3 refused the sync" in capsys.readouterr().err
    (entry,) = staff_audit(stack)
    assert (entry["action"], entry["after"]["outcome"]) == ("site_synced", "failed")
    assert "uploaded" not in entry["after"]


def test_a_dry_run_is_not_audited(s3, bucket: str, stack, dist: Path, capsys):
    code = site_sync(
        "--stage", "dev", "--dist", str(dist), "--api-url", API_URL, "--dry-run"
    )

    assert code == 0
    assert staff_audit(stack) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.us-east-1.amazonaws.com",
        "http://10.0.0.1:5000",
        "http://0.0.0.0:5000",
        "file:///127.0.0.1",
    ],
)
def test_command_refuses_a_non_loopback_endpoint(
    endpoint: str, dist: Path, capsys: pytest.CaptureFixture[str]
):
    code = site_sync(
        "--stage", "dev", "--dist", str(dist), "--api-url", API_URL,
        "--endpoint-url", endpoint,
    )  # fmt: skip

    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        f"pbctl site-sync: refusing endpoint {endpoint!r}: --endpoint-url is for "
        "a moto server on loopback (http://127.0.0.1:PORT); leave it out to use "
        "AWS\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--api-url", "http://api.example.org/api"),
            "--api-url must be an https:// URL, not 'http://api.example.org/api'",
        ),
        (
            ("--api-url", API_URL, "--site-origin", "https://d1.cloudfront.net/x"),
            "--site-origin must be an origin, without a path, not "
            "'https://d1.cloudfront.net/x'",
        ),
    ],
    ids=["plain-http-api", "origin-with-path"],
)
def test_command_refuses_bad_urls(
    args: tuple[str, ...], message: str, dist: Path, capsys
):
    code = site_sync("--stage", "prod", "--dist", str(dist), *args)

    assert code == 2
    assert capsys.readouterr().err == f"pbctl site-sync: {message}\n"


def test_command_without_an_api_url_says_where_to_get_one(stack, dist: Path, capsys):
    # pb-dev exists, pb-dev-api (the API's stack) does not.
    code = site_sync("--stage", "dev", "--dist", str(dist))

    assert code == 2
    assert (
        "no API URL: pass --api-url, or deploy the API first (pbctl deploy "
        "--stage dev; the URL is the EndpointURL output of pb-dev-api)"
    ) in capsys.readouterr().err


def test_command_reads_the_api_url_from_the_api_stack(
    s3, bucket: str, dist: Path, capsys
):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="pb-dev-api", TemplateBody=API_STACK % (API_URL + "/")
    )

    code = site_sync("--stage", "dev", "--dist", str(dist))

    assert code == 0, capsys.readouterr().err
    config = s3.get_object(Bucket=bucket, Key="config.json")["Body"].read()
    assert json.loads(config)["api_url"] == API_URL


def test_command_without_a_stack_cannot_reach_the_stage(aws: None, dist, capsys):
    code = site_sync("--stage", "prod", "--dist", str(dist), "--api-url", API_URL)

    assert code == 3
    assert "cannot read stack pb-prod" in capsys.readouterr().err


def test_command_without_a_build_fails_before_touching_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # No moto here: a call to AWS would fail differently than this message.
    code = site_sync("--stage", "dev", "--dist", str(tmp_path), "--api-url", API_URL)

    assert code == 2
    assert "holds no index.html" in capsys.readouterr().err


def test_command_targets_the_moto_server_bucket(
    dist: Path, capsys: pytest.CaptureFixture[str]
):
    with start_moto_server(port=0) as server:
        endpoint = server.endpoint_url
        cloudformation = boto3.client(
            "cloudformation", region_name="us-east-1", endpoint_url=endpoint
        )
        outputs = create_stack(cloudformation, stage="dev")
        api = "http://127.0.0.1:8001"

        code = site_sync(
            "--stage", "dev", "--dist", str(dist), "--api-url", api,
            "--endpoint-url", endpoint, "--site-origin", "http://127.0.0.1:8000",
        )  # fmt: skip

        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        bucket = outputs["SiteBucketName"]
        keys = bucket_keys(s3, bucket)
        obj = s3.get_object(Bucket=bucket, Key="config.json")
        config = json.loads(obj["Body"].read())
        head = s3.head_object(Bucket=bucket, Key="assets/app.3f9a1c2b.js")

    assert code == 0
    assert keys == UPLOADED
    # AND the staff console signs in to the stack's pool through the moto server
    assert config == {
        "api_url": api,
        "cognito_url": endpoint + "/",
        "client_id": outputs["UserPoolClientId"],
        "region": "us-east-1",
    }
    assert (head["ContentType"], head["CacheControl"]) == (
        BUILD["assets/app.3f9a1c2b.js"]
    )
    assert capsys.readouterr().out.endswith("Site: http://127.0.0.1:8000/\n")
