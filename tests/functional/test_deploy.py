"""``pbctl deploy``: the dry run, the stack and configs on a loopback moto
server, the app stacks from their packages, and the chalice and site command
lines through a fake runner.

Nothing reaches AWS: the dry run gets clients and a runner that fail if
called, the rest aims every client at a moto server on 127.0.0.1. ``chalice
package`` is a recorded command line whose output is the real package of
this repository (made once per module with the real chalice), so the
template pbctl uploads and deploys is what production gets. moto's
CloudFormation has no SAM transform and cannot load chalice's template, so
the two app stacks are recorded by :class:`AppStacks` (the stage's own stack
is moto's). The apps' project folders are copied
to a temporary folder, so the real ``.chalice/`` is never written.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.settings import PLACEHOLDER_PREFIX
from pbctl import deploy as d
from pbctl.commands import deploy as command
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import build_parser
from pbctl.operator import LOCAL_ENV

pytestmark = [
    pytest.mark.functional,
    # moto 5.2.5 parses every resource on UpdateStack, conditions aside, and
    # warns about the (conditioned-out) alarm e-mail subscription and alarms.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*SNS.*Subscription"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*CloudWatch.*Alarm"),
]

SITE = "https://d111111abcdef8.cloudfront.net"
API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/api/"


@pytest.fixture
def projects(tmp_path, monkeypatch) -> dict[str, Path]:
    """Copies of both apps' ``.chalice`` configs and policies, as APPS."""
    apps = {}
    for app, project in d.APPS.items():
        copy = tmp_path / "project" / app
        (copy / ".chalice").mkdir(parents=True)
        for name in ("config.json", "policy-dev.json", "policy-prod.json"):
            shutil.copy(project / ".chalice" / name, copy / ".chalice" / name)
        (copy / "app.py").write_text("# app\n", encoding="utf-8")
        (copy / "chalicelib").mkdir()
        apps[app] = copy
    monkeypatch.setattr(d, "APPS", apps)
    monkeypatch.setattr(d, "DEPLOY_DIR", tmp_path / "deploy")
    return apps


def reset_moto(endpoint_url: str) -> None:
    """Empty every moto backend (shared by all servers of this process)."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOCAL_ENV.items():
            patch.setenv(name, value)
        with start_moto_server(0) as running:
            reset_moto(running.endpoint_url)
            yield running
            reset_moto(running.endpoint_url)


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["deploy", *argv])


def refuse(*_args, **_kwargs):
    raise AssertionError("the dry run called AWS or a command")


class AppStacks:
    """CloudFormation on moto, with the app stacks kept aside.

    moto has no SAM transform: it cannot even load chalice's template (its
    outputs name SAM resources). The two app stacks, ``pb-*-api`` and
    ``pb-*-scheduled``, are therefore recorded here: what pbctl asked
    (template URL, parameters, capabilities), answered as AWS answers once
    the transform ran (``EndpointURL`` resolved to the REST API's URL), with
    the template read back from the moto S3 bucket pbctl uploaded it to.
    Every other call, the stage's own stack included, goes to moto.
    """

    def __init__(self, client, s3):
        self._client, self._s3 = client, s3
        self.stacks: dict[str, dict] = {}

    def __getattr__(self, name):
        return getattr(self._client, name)

    @staticmethod
    def _is_app(name: str) -> bool:
        return name.endswith(("-api", "-scheduled"))

    def create_stack(self, **kwargs):
        if not self._is_app(kwargs["StackName"]):
            return self._client.create_stack(**kwargs)
        self.stacks[kwargs["StackName"]] = {**kwargs, "status": "CREATE_COMPLETE"}
        return {"StackId": kwargs["StackName"]}

    def update_stack(self, **kwargs):
        if not self._is_app(kwargs["StackName"]):
            return self._client.update_stack(**kwargs)
        previous = self.stacks[kwargs["StackName"]]
        kept = {p["ParameterKey"]: p for p in previous["Parameters"]}
        for given in kwargs["Parameters"]:
            kept[given["ParameterKey"]] = given
        self.stacks[kwargs["StackName"]] = {
            **kwargs,
            "Parameters": list(kept.values()),
            "status": "UPDATE_COMPLETE",
        }
        return {"StackId": kwargs["StackName"]}

    def describe_stacks(self, StackName):
        if not self._is_app(StackName):
            return self._client.describe_stacks(StackName=StackName)
        if StackName not in self.stacks:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {StackName} does not exist",
                    }
                },
                "DescribeStacks",
            )
        stack = self.stacks[StackName]
        outputs = [{"OutputKey": "EndpointURL", "OutputValue": API_URL}]
        return {
            "Stacks": [
                {
                    "StackName": StackName,
                    "StackStatus": stack["status"],
                    "Parameters": stack["Parameters"],
                    "Capabilities": stack["Capabilities"],
                    "Outputs": outputs if StackName.endswith("-api") else [],
                }
            ]
        }

    def get_waiter(self, name):
        waiter = self._client.get_waiter(name)
        stacks = self.stacks

        class Waiter:
            def wait(self, StackName, **kwargs):
                if StackName not in stacks:
                    waiter.wait(StackName=StackName, **kwargs)

        return Waiter()

    def get_template(self, StackName):
        """The template pbctl deployed, read from where it uploaded it."""
        url = self.stacks[StackName]["TemplateURL"]
        bucket = url.split("//", 1)[1].split(".", 1)[0]
        key = url.split(".amazonaws.com/", 1)[1]
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return {"TemplateBody": json.loads(body)}


def moto_clients(endpoint: str, lambda_client=None):
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name="us-east-1",
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    cloudformation = AppStacks(
        session.client("cloudformation", endpoint_url=endpoint), s3
    )

    def client(service: str):
        if service == "lambda" and lambda_client is not None:
            return lambda_client
        if service == "cloudformation":
            return cloudformation
        return session.client(service, endpoint_url=endpoint)

    return client


class FakeLambda:
    def __init__(self):
        self.calls = []

    def put_function_event_invoke_config(self, **kwargs):
        self.calls.append(kwargs)


@pytest.fixture(scope="module")
def real_packages(tmp_path_factory) -> dict[str, Path]:
    """``chalice package --merge-template`` of this repository's two apps
    (stage prod, committed configs), made once with the real chalice."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    made = {}
    for app, project in d.APPS.items():
        out = tmp_path_factory.mktemp(f"{app}-package")
        command = d.chalice_package_command(
            project, "prod", out, d.MERGE_TEMPLATES[app]
        )
        result = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stdout + result.stderr
        made[app] = out
    return made


class FakeRunner:
    """Records each command; ``chalice package`` of an app writes that app's
    real package (``packages``) to the output folder it was given."""

    def __init__(self, packages: dict[str, Path], fail_on: str | None = None):
        self.commands: list[list[str]] = []
        self.packages = packages
        self.fail_on = fail_on

    def __call__(self, command, cwd):
        self.commands.append(list(command))
        if self.fail_on and self.fail_on in " ".join(command):
            return 3
        if "package" in command:
            project = Path(command[command.index("--project-dir") + 1])
            shutil.copytree(self.packages[project.name], command[-1])
        return 0


def template_of(cloudformation, name: str) -> dict:
    """The template a stack was deployed from (botocore parses JSON bodies)."""
    body = cloudformation.get_template(StackName=name)["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else dict(body)


def staff_audit(clients, table: str) -> list[dict]:
    items = clients("dynamodb").query(
        TableName=table,
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


def test_dry_run_prints_every_step_and_calls_nothing(projects, capsys):
    status = command.run(
        args("--stage", "prod", "--dry-run"), runner=refuse, clients=refuse
    )

    out = capsys.readouterr().out
    assert status == 0
    chalice = str(Path(sys.executable).parent / "chalice")
    for app, merge in (
        ("api", "infra/api-gateway-responses.json"),
        ("scheduled", "infra/scheduled-app.json"),
    ):
        copy = d.DEPLOY_DIR / "prod" / app
        assert f"write {copy}/.chalice/config.json" in out
        assert (
            f"run   {chalice} --project-dir {copy} package --stage prod "
            f"--merge-template {d.ROOT / merge} {d.DEPLOY_DIR}/prod/{app}-package"
        ) in out
        assert (
            f"upload {app}-package to s3://<ArtifactsBucketName>/{app}/, create or "
            f"update pb-prod-{app} (Stage=prod"
        ) in out
    assert "create or update pb-prod-api (Stage=prod, SiteOrigin=<SiteUrl>)" in out
    assert "stack pb-prod: create or update from infra/template.yaml" in out
    assert "PB_SITE_ORIGIN<-SiteUrl" in out
    assert "PB_CYCLES_TABLE<-CyclesTableName" in out
    assert "PB_STAFF_USER_POOL_ARN<-UserPoolArn" in out
    assert "pb-scheduled-prod-phase-clock -> <ScheduledDeadLetterQueueArn>" in out
    assert (
        f"{sys.executable} -m pbctl.main site-sync --stage prod --api-url <EndpointURL>"
    ) in out
    assert all(line.startswith("dry run: ") for line in out.splitlines())
    assert not d.DEPLOY_DIR.exists()


def test_deploy_refuses_a_remote_endpoint(projects, capsys):
    status = command.run(
        args(
            "--stage", "dev", "--endpoint-url", "https://cloudformation.amazonaws.com"
        ),
        runner=refuse,
        clients=refuse,
    )

    assert status == 2
    assert "refusing endpoint 'https://cloudformation.amazonaws.com'" in (
        capsys.readouterr().err
    )


def test_local_deploy_builds_the_stack_and_fills_a_copy_of_each_config(
    projects, server, capsys
):
    committed = {
        app: (p / ".chalice" / "config.json").read_bytes()
        for app, p in projects.items()
    }

    status = command.run(
        args(
            "--stage",
            "dev",
            "--endpoint-url",
            server.endpoint_url,
            "--site-origin",
            "http://127.0.0.1:8000",
        ),
        runner=refuse,
        clients=moto_clients(server.endpoint_url),
    )

    out, err = capsys.readouterr()
    assert status == 0, err
    cloudformation = moto_clients(server.endpoint_url)("cloudformation")
    stack = cloudformation.describe_stacks(StackName="pb-dev")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    for app, project in projects.items():
        copy = d.DEPLOY_DIR / "dev" / app
        filled = json.loads((copy / ".chalice" / "config.json").read_text("utf-8"))
        dev = filled["stages"]["dev"]["environment_variables"]
        prod = filled["stages"]["prod"]["environment_variables"]
        assert not [v for v in dev.values() if v.startswith(PLACEHOLDER_PREFIX)]
        assert dev["PB_RESULTS_BUCKET"] == outputs["ResultsBucketName"]
        assert dev["PB_VOTER_KEY_SECRET_ARN"] == outputs["VoterKeySecretArn"]
        assert dev["PB_CYCLES_TABLE"] == outputs["CyclesTableName"] == "pb-dev-cycles"
        assert prod["PB_RESULTS_BUCKET"] == "pbctl-deploy-fills:ResultsBucketName"
        assert (project / ".chalice" / "config.json").read_bytes() == committed[app]
        assert (copy / "app.py").resolve() == (project / "app.py").resolve()
        # The stage's policy is written (table names from the outputs: the
        # same as committed here); the other stage's is linked.
        written = copy / ".chalice" / "policy-dev.json"
        assert not written.is_symlink()
        assert json.loads(written.read_text()) == json.loads(
            (project / ".chalice" / "policy-dev.json").read_text()
        )
        assert (copy / ".chalice" / "policy-prod.json").resolve() == (
            project / ".chalice" / "policy-prod.json"
        )
        assert not (copy / ".chalice" / "deployed").exists()
    api = json.loads((d.DEPLOY_DIR / "dev/api/.chalice/config.json").read_text())
    api_env = api["stages"]["dev"]["environment_variables"]
    assert api_env["PB_SITE_ORIGIN"] == "http://127.0.0.1:8000"
    assert api_env["PB_STAFF_USER_POOL_ARN"] == outputs["UserPoolArn"]
    assert (
        "skip  chalice package api: the app stacks need AWS's SAM transform, "
        "which moto lacks"
    ) in out
    # Audited as the local operator, with what the stack did.
    entry = staff_audit(moto_clients(server.endpoint_url), outputs["AuditTableName"])[
        -1
    ]
    assert entry["action"] == "deployed"
    assert entry["actor"].startswith("pbctl:")
    assert entry["after"]["outcome"] == "ok"
    assert entry["after"]["stacks"] == {"pb-dev": "created"}

    # A second deploy updates the stack in place and keeps its parameters.
    again = command.run(
        args(
            "--stage",
            "dev",
            "--endpoint-url",
            server.endpoint_url,
            "--site-origin",
            "http://127.0.0.1:8000",
        ),
        runner=refuse,
        clients=moto_clients(server.endpoint_url),
    )
    assert again == 0, capsys.readouterr().err
    after = cloudformation.describe_stacks(StackName="pb-dev")["Stacks"][0]
    assert after["Parameters"] == stack["Parameters"]
    assert {o["OutputKey"]: o["OutputValue"] for o in after["Outputs"]} == outputs


def test_a_missing_output_stops_the_deploy_naming_it(projects, server, capsys):
    status = command.run(
        args("--stage", "dev", "--endpoint-url", server.endpoint_url),
        runner=refuse,
        clients=moto_clients(server.endpoint_url),
    )

    assert status == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("stack pb-dev has no output SiteUrl to fill PB_SITE_ORIGIN")
    )
    assert not (d.DEPLOY_DIR / "dev" / "api" / ".chalice" / "config.json").exists()


@pytest.fixture(scope="module")
def aws_like_stack(server):
    """pb-prod built on the moto server, for deploys "to AWS" through it."""
    cloudformation = moto_clients(server.endpoint_url)("cloudformation")
    return create_stack(cloudformation, stage="prod")


@pytest.mark.slow
def test_deploy_packages_both_apps_into_their_stacks_then_the_queue_and_the_site(
    projects, server, aws_like_stack, real_packages, capsys
):
    runner, fake_lambda = FakeRunner(real_packages), FakeLambda()
    clients = moto_clients(server.endpoint_url, fake_lambda)

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE), runner=runner, clients=clients
    )

    out, err = capsys.readouterr()
    assert status == 0, err
    assert runner.commands == [
        d.chalice_package_command(
            d.DEPLOY_DIR / "prod" / app,
            "prod",
            d.DEPLOY_DIR / "prod" / f"{app}-package",
            d.MERGE_TEMPLATES[app],
        )
        for app in ("api", "scheduled")
    ] + [
        d.site_build_command(),
        [
            sys.executable,
            "-m",
            "pbctl.main",
            "site-sync",
            "--stage",
            "prod",
            "--api-url",
            API_URL.rstrip("/"),
        ],
    ]

    # The API stack is the packaged template: API Gateway's own errors carry
    # CORS for the site, the function and REST API are named by stage, and
    # the code is the zip uploaded to the artifacts bucket.
    cloudformation, s3 = clients("cloudformation"), clients("s3")
    bucket = aws_like_stack["ArtifactsBucketName"]
    api = template_of(cloudformation, "pb-prod-api")
    body = api["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert sorted(responses) == ["DEFAULT_4XX", "DEFAULT_5XX"]
    for response in responses.values():
        origin = response["responseParameters"][
            "gatewayresponse.header.Access-Control-Allow-Origin"
        ]
        assert origin == {"Fn::Sub": "'${SiteOrigin}'"}
    assert api["Resources"]["RestAPI"]["Properties"]["Name"] == {
        "Fn::Sub": "pb-api-${Stage}"
    }
    handler = api["Resources"]["APIHandler"]["Properties"]
    assert handler["FunctionName"] == {"Fn::Sub": "pb-api-${Stage}"}
    assert handler["Environment"]["Variables"]["PB_SITE_ORIGIN"] == {
        "Ref": "SiteOrigin"
    }
    code_uri = handler["CodeUri"]
    assert code_uri.startswith(f"s3://{bucket}/api/") and code_uri.endswith(".zip")
    code = s3.get_object(Bucket=bucket, Key=code_uri.split("/", 3)[3])["Body"].read()
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        assert {"app.py", "chalicelib/__init__.py"} <= set(archive.namelist())
    api_stack = cloudformation.describe_stacks(StackName="pb-prod-api")["Stacks"][0]
    assert {
        p["ParameterKey"]: p["ParameterValue"] for p in api_stack["Parameters"]
    } == {
        "Stage": "prod",
        "SiteOrigin": SITE,
    }
    assert set(api_stack["Capabilities"]) == {
        "CAPABILITY_IAM",
        "CAPABILITY_AUTO_EXPAND",
    }

    scheduled = template_of(cloudformation, "pb-prod-scheduled")
    clock = scheduled["Resources"]["PhaseClock"]["Properties"]
    assert clock["FunctionName"] == {"Fn::Sub": "pb-scheduled-${Stage}-phase-clock"}
    assert clock["CodeUri"].startswith(f"s3://{bucket}/scheduled/")

    assert fake_lambda.calls == [
        {
            "FunctionName": "pb-scheduled-prod-phase-clock",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": aws_like_stack["ScheduledDeadLetterQueueArn"]
                }
            },
        }
    ]
    stack = cloudformation.describe_stacks(StackName="pb-prod")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (
        parameters["ApiOrigin"]
        == "https://abc123defg.execute-api.us-east-1.amazonaws.com"
    )
    assert parameters["CreateAlarms"] == "false"  # kept from the local create
    assert "ApiOrigin=https://abc123defg" in out
    filled = json.loads((d.DEPLOY_DIR / "prod/api/.chalice/config.json").read_text())
    assert filled["stages"]["prod"]["environment_variables"]["PB_SITE_ORIGIN"] == SITE

    # Audited under the caller's AWS principal, with the packages deployed:
    # what a rollback redeploys.
    identity = clients("sts").get_caller_identity()
    entry = staff_audit(clients, aws_like_stack["AuditTableName"])[-1]
    assert (entry["action"], entry["actor"]) == ("deployed", f"pbctl:{identity['Arn']}")
    after = entry["after"]
    assert (after["outcome"], after["stage"], after["command"]) == (
        "ok",
        "prod",
        "pbctl deploy",
    )
    assert set(after["stacks"]) == {"pb-prod", "pb-prod-api", "pb-prod-scheduled"}
    for app in ("api", "scheduled"):
        location = after["templates"][app]
        assert location.startswith(f"s3://{bucket}/{app}/")
        key = location.split("/", 3)[3]
        packaged = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        local = d.DEPLOY_DIR / "prod" / f"{app}-package" / "packaged.json"
        assert packaged == json.loads(local.read_text())


@pytest.mark.slow
def test_a_failed_chalice_package_stops_before_the_next_step_and_is_audited(
    projects, server, aws_like_stack, real_packages, capsys
):
    runner, fake_lambda = FakeRunner(real_packages, fail_on="prod/api"), FakeLambda()
    clients = moto_clients(server.endpoint_url, fake_lambda)

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE), runner=runner, clients=clients
    )

    assert status == 1
    assert capsys.readouterr().err.strip() == (
        "pbctl deploy: chalice package api failed (exit 3)"
    )
    assert len(runner.commands) == 1
    assert fake_lambda.calls == []
    entry = staff_audit(clients, aws_like_stack["AuditTableName"])[-1]
    assert entry["action"] == "deployed"
    assert (entry["after"]["outcome"], entry["after"]["failed_step"]) == ("failed", "3")


@pytest.mark.slow
def test_skip_site_leaves_the_site_alone(
    projects, server, aws_like_stack, real_packages, capsys
):
    runner = FakeRunner(real_packages)

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE, "--skip-site"),
        runner=runner,
        clients=moto_clients(server.endpoint_url, FakeLambda()),
    )

    assert status == 0, capsys.readouterr().err
    assert [c[3] for c in runner.commands] == ["package", "package"]


@pytest.mark.slow
@pytest.mark.parametrize("app", sorted(d.APPS))
def test_merge_templates_only_name_what_chalice_makes(real_packages, app):
    merge = json.loads(d.MERGE_TEMPLATES[app].read_text())
    packaged = json.loads((real_packages[app] / "sam.json").read_text())
    resources = packaged["Resources"]

    # A merge onto a logical id chalice does not make would add a resource
    # without a type, which CloudFormation refuses.
    assert set(merge["Resources"]) <= {
        k for k, r in resources.items() if r.get("Type", "").startswith("AWS::")
    }
    assert all("Type" in r for r in resources.values())
    functions = {
        k: r["Properties"]["FunctionName"]
        for k, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    expected = {
        "api": {"APIHandler": {"Fn::Sub": "pb-api-${Stage}"}},
        "scheduled": {
            "PhaseClock": {
                "Fn::Sub": f"pb-scheduled-${{Stage}}-{d.SCHEDULED_FUNCTIONS[0]}"
            }
        },
    }
    assert functions == expected[app]
    assert packaged["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]


def test_a_dry_run_is_not_audited(projects, server, aws_like_stack, capsys):
    clients = moto_clients(server.endpoint_url)
    before = staff_audit(clients, aws_like_stack["AuditTableName"])

    status = command.run(
        args("--stage", "prod", "--dry-run"), runner=refuse, clients=refuse
    )

    assert status == 0
    assert staff_audit(clients, aws_like_stack["AuditTableName"]) == before


def test_fill_config_names_every_missing_output_and_fills_nothing() -> None:
    config = json.loads((d.ROOT / ".chalice" / "config.json").read_text("utf-8"))

    with pytest.raises(d.DeployError) as caught:
        d.fill_config(config, "dev", {"SiteBucketName": "b", "ResultsBucketName": ""})

    assert str(caught.value) == (
        "stack pb-dev has no output AuditTableName, BallotsTableName, "
        "CyclesTableName, IdempotencyTableName, PaperTableName, ResultsBucketName, "
        "SiteUrl, UserPoolArn, UserPoolClientId, UserPoolIssuer, "
        "VerificationTableName, VoterKeySecretArn, VoterMarksTableName to fill "
        "PB_AUDIT_TABLE, PB_BALLOTS_TABLE, PB_CYCLES_TABLE, PB_IDEMPOTENCY_TABLE, "
        "PB_PAPER_TABLE, PB_RESULTS_BUCKET, PB_SITE_ORIGIN, PB_STAFF_CLIENT_ID, "
        "PB_STAFF_ISSUER, PB_STAFF_USER_POOL_ARN, PB_VERIFICATION_TABLE, "
        "PB_VOTER_KEY_SECRET_ARN, PB_VOTER_MARKS_TABLE"
    )
    assert config["stages"]["dev"]["environment_variables"]["PB_SITE_BUCKET"] == (
        "pbctl-deploy-fills:SiteBucketName"
    )


def test_the_scheduled_functions_are_the_apps_schedules() -> None:
    spec = importlib.util.spec_from_file_location(
        "scheduled_app", d.ROOT / "scheduled" / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    assert tuple(s.name for s in module.app.event_sources) == d.SCHEDULED_FUNCTIONS


def test_chalice_runs_without_an_endpoint_override(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://127.0.0.1:5000")

    env = d.chalice_env()

    assert not [k for k in env if k.startswith("AWS_ENDPOINT")]
    assert env["AWS_REGION"] == "us-east-1"


# Swapping a stage to a table restored to a point in time ----------------------

RESTORED = "pb-dev-cycles-restored-20270601"


@pytest.fixture
def local_env(monkeypatch):
    """pbctl points this process at the endpoint; put everything back after."""
    for name in [*LOCAL_ENV, "AWS_ENDPOINT_URL"]:
        monkeypatch.setenv(name, os.environ.get(name, ""))


def local_deploy(server, *extra: str) -> int:
    return command.run(
        args(
            "--stage",
            "dev",
            "--endpoint-url",
            server.endpoint_url,
            "--site-origin",
            "http://127.0.0.1:8000",
            *extra,
        ),
        runner=refuse,
        clients=moto_clients(server.endpoint_url),
    )


def test_a_stage_swaps_to_a_restored_table_and_back(
    projects, server, local_env, capsys, tmp_path
):
    from pbctl.main import main
    from pbctl.operator import connect
    from tests.functional.test_staff_pbctl import CYCLE_YAML

    assert local_deploy(server) == 0, capsys.readouterr().err
    clients = moto_clients(server.endpoint_url)
    dynamodb = clients("dynamodb")
    dynamodb.restore_table_to_point_in_time(
        SourceTableName="pb-dev-cycles",
        TargetTableName=RESTORED,
        UseLatestRestorableTime=True,
    )

    status = local_deploy(server, "--use-restored-table", f"cycles={RESTORED}")

    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"RestoredCyclesTable={RESTORED}" in out
    stack = clients("cloudformation").describe_stacks(StackName="pb-dev")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["CyclesTableName"] == RESTORED
    assert outputs["CyclesTableArn"].endswith(f":table/{RESTORED}")
    assert outputs["BallotsTableName"] == "pb-dev-ballots"  # only the one swapped
    for app in ("api", "scheduled"):
        copy = d.DEPLOY_DIR / "dev" / app / ".chalice"
        config = json.loads((copy / "config.json").read_text())
        assert config["stages"]["dev"]["environment_variables"]["PB_CYCLES_TABLE"] == (
            RESTORED
        )
        policy = (copy / "policy-dev.json").read_text()
        assert f":table/{RESTORED}" in policy
        assert ':table/pb-dev-cycles"' not in policy
        assert ":table/pb-dev-audit" in policy  # untouched
    entry = staff_audit(clients, outputs["AuditTableName"])[-1]
    assert entry["after"]["restored_tables"] == {"RestoredCyclesTable": RESTORED}

    # Every pbctl command now acts on the restored table.
    path = tmp_path / "cycle.yaml"
    path.write_text(CYCLE_YAML.replace("yaml-2027", "after-restore"), "utf-8")
    created = main(
        ["cycle", "create", str(path), "--endpoint-url", server.endpoint_url]
    )
    assert created == 0, capsys.readouterr().err
    assert connect("dev", server.endpoint_url).services().settings.cycles_table == (
        RESTORED
    )
    key = {"cycle_id": {"S": "after-restore"}}
    assert "Item" in dynamodb.get_item(TableName=RESTORED, Key=key)
    assert "Item" not in dynamodb.get_item(TableName="pb-dev-cycles", Key=key)

    # Swap back: an empty name is the stack's own table again.
    assert local_deploy(server, "--use-restored-table", "cycles=") == 0
    stack = clients("cloudformation").describe_stacks(StackName="pb-dev")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["CyclesTableName"] == "pb-dev-cycles"


@pytest.mark.parametrize(
    ("swap", "status", "message"),
    [
        (
            "votes=pb-dev-votes-restored-1",
            2,
            "--use-restored-table takes TABLE=NAME with TABLE one of cycles, "
            "voter-marks, ballots, idempotency, audit, verification, paper, not "
            "'votes=pb-dev-votes-restored-1'",
        ),
        (
            "cycles=pb-prod-cycles-restored-1",
            2,
            "a restored cycles table of dev is named pb-dev-cycles-restored-<suffix>, "
            "not 'pb-prod-cycles-restored-1'",
        ),
        ("cycles=pb-dev-cycles-restored-missing", 1, "cannot use table"),
    ],
    ids=["unknown-table", "other-stage", "no-such-table"],
)
def test_a_bad_swap_is_refused_before_the_stack_changes(
    projects, server, capsys, swap, status, message
):
    assert local_deploy(server) == 0, capsys.readouterr().err
    clients = moto_clients(server.endpoint_url)
    before = clients("cloudformation").describe_stacks(StackName="pb-dev")["Stacks"][0]

    outputs = {o["OutputKey"]: o["OutputValue"] for o in before["Outputs"]}
    entries = len(staff_audit(clients, outputs["AuditTableName"]))

    assert local_deploy(server, "--use-restored-table", swap) == status
    assert message in capsys.readouterr().err
    after = clients("cloudformation").describe_stacks(StackName="pb-dev")["Stacks"][0]
    assert after["Parameters"] == before["Parameters"]
    log = staff_audit(clients, outputs["AuditTableName"])
    if status == 1:  # refused by the system: audited, with the step
        assert len(log) == entries + 1
        assert (log[-1]["after"]["outcome"], log[-1]["after"]["failed_step"]) == (
            "failed",
            "1",
        )
    else:  # bad usage: stopped before anything was asked
        assert len(log) == entries
