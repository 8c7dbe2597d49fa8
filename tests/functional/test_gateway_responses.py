"""CORS on API Gateway's own errors, merged into the packaged API.

Chalice adds CORS headers to the app's answers only. API Gateway's own
4xx/5xx (a missing route, throttling, an integration failure) come from
``infra/api-gateway-responses.json``, merged with
``chalice package --merge-template``. They are declared inside the REST API's
definition (``x-amazon-apigateway-gateway-responses``), so every deployment of
the API carries them.

The same template throttles the stage (``MethodSettings``): a default for
every route and lower limits for each public route a resident writes through.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.api import lint_file

from pbctl.localstack import TEMPLATE_PATH, load_template

pytestmark = [pytest.mark.functional, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHALICE = Path(sys.executable).parent / "chalice"
MERGE_TEMPLATE = REPO_ROOT / "infra" / "api-gateway-responses.json"
HEADER = "gatewayresponse.header."


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """``chalice package --stage dev --merge-template ...``: (template, path)."""
    out = tmp_path_factory.mktemp("pb-api-merged")
    # Packaging calls no AWS API, but Chalice wants a region and credentials.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )

    result = subprocess.run(
        [
            str(CHALICE),
            "package",
            "--stage",
            "dev",
            "--merge-template",
            str(MERGE_TEMPLATE),
            str(out),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    path = out / "sam.json"
    return json.loads(path.read_text()), path


@pytest.fixture
def app_cors(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CORS headers the app itself sends (chalicelib/api/public.py)."""
    from chalicelib.api import public

    monkeypatch.setenv("PB_SITE_ORIGIN", "https://d111111abcdef8.cloudfront.net")
    return public._cors().get_access_control_headers()


def gateway_responses(template: dict) -> dict:
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    return body["x-amazon-apigateway-gateway-responses"]


def test_both_default_responses_allow_only_the_site_origin(packaged) -> None:
    template, _ = packaged

    responses = gateway_responses(template)

    assert sorted(responses) == ["DEFAULT_4XX", "DEFAULT_5XX"]
    for response in responses.values():
        parameters = response["responseParameters"]
        assert parameters[f"{HEADER}Access-Control-Allow-Origin"] == {
            "Fn::Sub": "'${SiteOrigin}'"
        }


def test_gateway_headers_match_the_apps_cors(packaged, app_cors) -> None:
    template, _ = packaged

    for response in gateway_responses(template).values():
        static = {
            name.removeprefix(HEADER): value
            for name, value in response["responseParameters"].items()
            if isinstance(value, str)
        }
        # Static header values are quoted for API Gateway.
        assert static == {
            name: f"'{app_cors[name]}'"
            for name in (
                "Access-Control-Allow-Headers",
                "Access-Control-Expose-Headers",
            )
        }


def test_gateway_errors_have_the_apis_error_shape(packaged) -> None:
    template, _ = packaged

    for response in gateway_responses(template).values():
        assert response["responseTemplates"] == {
            "application/json": '{"code":"$context.error.responseType",'
            '"message":$context.error.messageString}'
        }


def test_site_origin_is_one_https_origin(packaged) -> None:
    template, _ = packaged
    parameter = template["Parameters"]["SiteOrigin"]

    assert "Default" not in parameter  # a deploy must name it
    pattern = parameter["AllowedPattern"]
    assert re.fullmatch(pattern, "https://d111111abcdef8.cloudfront.net")
    assert re.fullmatch(pattern, "https://pb.boston.gov:8443")
    for refused in (
        "*",
        "",
        "http://d111111abcdef8.cloudfront.net",
        "https://pb.boston.gov/",
        "https://a.example,https://b.example",
        "https://pb.boston.gov' , 'x",
    ):
        assert not re.fullmatch(pattern, refused), refused


def test_lambda_and_gateway_share_the_origin(packaged) -> None:
    template, _ = packaged
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"][
        "Variables"
    ]

    assert variables["PB_SITE_ORIGIN"] == {"Ref": "SiteOrigin"}
    # The merge adds to the stage's variables; it replaces none of the others.
    assert variables["PB_STAGE"] == "dev"
    assert variables["PB_CYCLES_TABLE"] == "pbctl-deploy-fills:CyclesTableName"


def test_merge_keeps_chalices_routes_and_lints_clean(packaged) -> None:
    template, path = packaged
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]

    assert template["Resources"]["RestAPI"]["Type"] == "AWS::Serverless::Api"
    assert {"/cycle", "/ballot", "/ballots"} <= set(body["paths"])
    assert [str(match) for match in lint_file(path)] == []


def test_each_stage_ships_the_site_origin_placeholder() -> None:
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())
    outputs = load_template(TEMPLATE_PATH)["Outputs"]

    placeholders = {
        stage: values["environment_variables"]["PB_SITE_ORIGIN"]
        for stage, values in config["stages"].items()
    }

    assert placeholders == {
        "dev": "pbctl-deploy-fills:SiteUrl",
        "prod": "pbctl-deploy-fills:SiteUrl",
    }
    assert "SiteUrl" in outputs


# -- throttling ---------------------------------------------------------------


def method_settings(template: dict) -> dict[tuple[str, str], dict]:
    """(resource path, method) -> the stage's method setting."""
    properties = template["Resources"]["RestAPI"]["Properties"]
    return {
        (s["ResourcePath"], s["HttpMethod"]): s for s in properties["MethodSettings"]
    }


def limit(template: dict, value: dict) -> int:
    """A limit's default value, from the parameter it refers to."""
    return int(template["Parameters"][value["Ref"]]["Default"])


def resident_writes() -> list[tuple[str, str]]:
    """(method setting path, method) of every public route that writes."""
    from app import app

    return sorted(
        ("/" + path.replace("/", "~1"), method)  # API Gateway's escaping
        for path, methods in app.routes.items()
        for method in methods
        if method in ("POST", "PUT", "PATCH", "DELETE")
        and not path.startswith("/staff")
    )


def test_the_stage_is_throttled_on_every_route(packaged) -> None:
    template, _ = packaged

    stage = method_settings(template)[("/*", "*")]

    assert stage["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert stage["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
    assert limit(template, stage["ThrottlingRateLimit"]) == 200
    assert limit(template, stage["ThrottlingBurstLimit"]) == 400


def test_every_resident_write_has_the_lower_limits(packaged) -> None:
    template, _ = packaged
    settings = method_settings(template)
    stage = settings[("/*", "*")]

    writes = resident_writes()

    assert ("/~1ballots", "POST") in writes
    for key in writes:
        assert key in settings, f"no throttling for {key}: add a MethodSetting"
        setting = settings[key]
        assert setting["ThrottlingRateLimit"] == {"Ref": "ResidentWriteRateLimit"}
        assert setting["ThrottlingBurstLimit"] == {"Ref": "ResidentWriteBurstLimit"}
    for name in ("Rate", "Burst"):
        write = limit(template, {"Ref": f"ResidentWrite{name}Limit"})
        assert write < limit(template, stage[f"Throttling{name}Limit"])


def test_every_throttled_route_exists(packaged) -> None:
    # API Gateway refuses a method setting for a route it does not have.
    template, _ = packaged
    paths = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]

    for resource_path, method in method_settings(template):
        if resource_path == "/*":
            continue
        path = resource_path.removeprefix("/").replace("~1", "/")
        assert method.lower() in paths[path], (resource_path, method)


def test_the_limits_are_parameters_a_deploy_can_override(packaged) -> None:
    template, _ = packaged

    for name in (
        "ApiRateLimit",
        "ApiBurstLimit",
        "ResidentWriteRateLimit",
        "ResidentWriteBurstLimit",
    ):
        parameter = template["Parameters"][name]
        assert parameter["Type"] == "Number"
        assert parameter["MinValue"] == 1
        assert parameter["Description"]
