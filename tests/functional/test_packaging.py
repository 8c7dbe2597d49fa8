"""Both Chalice apps package the shared chalicelib and use their own policies.

``scheduled/chalicelib`` is a symlink to ``../chalicelib``; this test proves
that ``chalice package`` follows it, and that neither app's role is generated
by Chalice (``autogen_policy`` is off; the policy files are the roles).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHALICE = Path(sys.executable).parent / "chalice"
SHARED_MODULES = (
    "app.py",
    "chalicelib/__init__.py",
    "chalicelib/cycle.py",
    "chalicelib/errors.py",
    # Served as GET /openapi.json: a data file, which the zip must keep too.
    "chalicelib/api/openapi.json",
)
APPS = {"pb-api": REPO_ROOT, "pb-scheduled": REPO_ROOT / "scheduled"}


@pytest.fixture(scope="module", params=sorted(APPS))
def package(request: pytest.FixtureRequest, tmp_path_factory) -> tuple[Path, Path]:
    """Run ``chalice package --stage dev``; return (project dir, output dir)."""
    project = APPS[request.param]
    out = tmp_path_factory.mktemp(request.param)
    # Packaging calls no AWS API, but Chalice wants a region and credentials:
    # fake ones, with the host's AWS settings dropped. pip keeps its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )

    result = subprocess.run(
        [str(CHALICE), "package", "--stage", "dev", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against a hung pip, not a speed target
    )

    assert result.returncode == 0, result.stdout + result.stderr
    return project, out


def test_zip_holds_the_shared_modules(package: tuple[Path, Path]) -> None:
    _, out = package

    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())

    missing = [module for module in SHARED_MODULES if module not in names]
    assert missing == []


def test_roles_come_from_the_policy_files(package: tuple[Path, Path]) -> None:
    project, out = package
    template = json.loads((out / "sam.json").read_text())
    policy = json.loads((project / ".chalice" / "policy-dev.json").read_text())
    resources = template["Resources"]
    roles = {
        name: resource
        for name, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    functions = [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]

    # Chalice names its generated role DefaultRole; ours are one per function.
    assert roles and "DefaultRole" not in roles
    for role in roles.values():
        documents = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert documents == [policy]
    assert functions
    for function in functions:
        assert function["Properties"]["Role"]["Fn::GetAtt"][0] in roles
        assert function["Properties"]["Runtime"] in ("python3.11", "python3.12")


def test_staff_routes_sit_behind_the_cognito_authorizer(package) -> None:
    project, out = package
    template = json.loads((out / "sam.json").read_text())
    apis = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    ]
    if project != REPO_ROOT:
        assert apis == []  # the scheduled app answers no HTTP at all
        return
    (api,) = apis
    swagger = api["Properties"]["DefinitionBody"]
    scheme = swagger["securityDefinitions"]["StaffUserPool"]

    # The stage's pool ARN (a placeholder until pbctl deploy fills it: API
    # Gateway refuses that ARN, so an unfilled deploy fails rather than opens).
    assert scheme["x-amazon-apigateway-authorizer"] == {
        "type": "cognito_user_pools",
        "providerARNs": ["pbctl-deploy-fills:UserPoolArn"],
    }
    for path, methods in swagger["paths"].items():
        for method, operation in methods.items():
            if method == "options":
                continue
            security = operation.get("security")
            if path.startswith("/staff"):
                assert security == [
                    {"StaffUserPool": ["aws.cognito.signin.user.admin"]}
                ], path
            else:
                assert security is None, path
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert "jwt/__init__.py" in names
    assert any(n.startswith("cryptography/") for n in names)
    assert "chalicelib/auth.py" in names
