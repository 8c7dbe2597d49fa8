"""``pbctl deploy``: the dry run, the stack and configs on a loopback moto
server, and the chalice and site command lines through a fake runner.

Nothing reaches AWS: the dry run gets clients and a runner that fail if
called, the rest aims every client at a moto server on 127.0.0.1, and
``chalice deploy`` (which cannot target moto) is a recorded command line.
The apps' project folders are copied to a temporary folder, so the real
``.chalice/`` is never written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from chalicelib.settings import PLACEHOLDER_PREFIX
from pbctl import deploy as d
from pbctl.commands import deploy as command
from pbctl.localstack import create_stack, start_moto_server
from pbctl.main import build_parser
from pbctl.operator import LOCAL_ENV

pytestmark = [
    pytest.mark.functional,
    # moto 5.2.5 parses every resource on UpdateStack, conditions aside, and
    # warns about the (conditioned-out) alarm e-mail subscription.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*SNS.*Subscription"),
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


def moto_clients(endpoint: str, lambda_client=None):
    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name="us-east-1",
    )

    def client(service: str):
        if service == "lambda" and lambda_client is not None:
            return lambda_client
        return session.client(service, endpoint_url=endpoint)

    return client


class FakeLambda:
    def __init__(self):
        self.calls = []

    def put_function_event_invoke_config(self, **kwargs):
        self.calls.append(kwargs)


class FakeRunner:
    """Records each command; ``chalice deploy`` of the API records its URL
    as chalice does, in the (linked) ``.chalice/deployed/<stage>.json``."""

    def __init__(self, fail_on: str | None = None):
        self.commands: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, command, cwd):
        self.commands.append(list(command))
        if self.fail_on and self.fail_on in " ".join(command):
            return 3
        if "--project-dir" in command:
            project = Path(command[command.index("--project-dir") + 1])
            record = project / ".chalice" / "deployed" / f"{command[-1]}.json"
            resources = []
            if project.name == "api":
                resources = [{"resource_type": "rest_api", "rest_api_url": API_URL}]
            record.write_text(json.dumps({"resources": resources}), "utf-8")
        return 0


def test_dry_run_prints_every_step_and_calls_nothing(projects, capsys):
    status = command.run(
        args("--stage", "prod", "--dry-run"), runner=refuse, clients=refuse
    )

    out = capsys.readouterr().out
    assert status == 0
    chalice = str(Path(sys.executable).parent / "chalice")
    for app in ("api", "scheduled"):
        copy = d.DEPLOY_DIR / "prod" / app
        assert f"write {copy}/.chalice/config.json" in out
        assert f"run   {chalice} --project-dir {copy} deploy --stage prod" in out
    assert "stack pb-prod: create or update from infra/template.yaml" in out
    assert "PB_SITE_ORIGIN<-SiteUrl" in out
    assert "PB_STAFF_USER_POOL_ARN<-UserPoolArn" in out
    assert "pb-scheduled-prod-phase-clock -> <ScheduledDeadLetterQueueArn>" in out
    assert f"{sys.executable} -m pbctl.main site-sync --stage prod" in out
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
        assert prod["PB_RESULTS_BUCKET"] == "pbctl-deploy-fills:ResultsBucketName"
        assert (project / ".chalice" / "config.json").read_bytes() == committed[app]
        assert (copy / "app.py").resolve() == (project / "app.py").resolve()
        assert (copy / ".chalice" / "policy-dev.json").resolve() == (
            project / ".chalice" / "policy-dev.json"
        )
        assert (copy / ".chalice" / "deployed").resolve() == (
            project / ".chalice" / "deployed"
        )
    api = json.loads((d.DEPLOY_DIR / "dev/api/.chalice/config.json").read_text())
    api_env = api["stages"]["dev"]["environment_variables"]
    assert api_env["PB_SITE_ORIGIN"] == "http://127.0.0.1:8000"
    assert api_env["PB_STAFF_USER_POOL_ARN"] == outputs["UserPoolArn"]
    assert "skip  chalice deploy api: chalice deploy cannot target moto" in out

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


def test_deploy_runs_chalice_for_both_apps_then_wires_the_queue_and_the_site(
    projects, server, aws_like_stack, capsys
):
    runner, fake_lambda = FakeRunner(), FakeLambda()
    clients = moto_clients(server.endpoint_url, fake_lambda)

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE), runner=runner, clients=clients
    )

    out, err = capsys.readouterr()
    assert status == 0, err
    chalice = str(Path(sys.executable).parent / "chalice")
    assert runner.commands == [
        [
            chalice,
            "--project-dir",
            str(d.DEPLOY_DIR / "prod/api"),
            "deploy",
            "--stage",
            "prod",
        ],
        [
            chalice,
            "--project-dir",
            str(d.DEPLOY_DIR / "prod/scheduled"),
            "deploy",
            "--stage",
            "prod",
        ],
        d.site_build_command(),
        [sys.executable, "-m", "pbctl.main", "site-sync", "--stage", "prod"],
    ]
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
    stack = clients("cloudformation").describe_stacks(StackName="pb-prod")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert (
        parameters["ApiOrigin"]
        == "https://abc123defg.execute-api.us-east-1.amazonaws.com"
    )
    assert parameters["CreateAlarms"] == "false"  # kept from the local create
    assert "ApiOrigin=https://abc123defg" in out
    filled = json.loads((d.DEPLOY_DIR / "prod/api/.chalice/config.json").read_text())
    assert filled["stages"]["prod"]["environment_variables"]["PB_SITE_ORIGIN"] == SITE


def test_a_failed_chalice_deploy_stops_before_the_next_step(
    projects, server, aws_like_stack, capsys
):
    runner, fake_lambda = FakeRunner(fail_on="prod/api"), FakeLambda()

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE),
        runner=runner,
        clients=moto_clients(server.endpoint_url, fake_lambda),
    )

    assert status == 1
    assert capsys.readouterr().err.strip() == (
        "pbctl deploy: chalice deploy api failed (exit 3)"
    )
    assert len(runner.commands) == 1
    assert fake_lambda.calls == []


def test_skip_site_leaves_the_site_alone(projects, server, aws_like_stack, capsys):
    runner = FakeRunner()

    status = command.run(
        args("--stage", "prod", "--site-origin", SITE, "--skip-site"),
        runner=runner,
        clients=moto_clients(server.endpoint_url, FakeLambda()),
    )

    assert status == 0, capsys.readouterr().err
    assert [c[-1] for c in runner.commands] == ["prod", "prod"]
    assert all("chalice" in c[0] for c in runner.commands)


def test_fill_config_names_every_missing_output_and_fills_nothing() -> None:
    config = json.loads((d.ROOT / ".chalice" / "config.json").read_text("utf-8"))

    with pytest.raises(d.DeployError) as caught:
        d.fill_config(config, "dev", {"SiteBucketName": "b", "ResultsBucketName": ""})

    assert str(caught.value) == (
        "stack pb-dev has no output ResultsBucketName, SiteUrl, UserPoolArn, "
        "UserPoolClientId, UserPoolIssuer, VoterKeySecretArn to fill "
        "PB_RESULTS_BUCKET, PB_SITE_ORIGIN, PB_STAFF_CLIENT_ID, PB_STAFF_ISSUER, "
        "PB_STAFF_USER_POOL_ARN, PB_VOTER_KEY_SECRET_ARN"
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
