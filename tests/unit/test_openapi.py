"""docs/openapi.json describes exactly the routes the app registers.

Whoever adds a route (or a method, or a path parameter) to the Chalice app
must describe it in chalicelib/api/openapi.json (docs/openapi.json links to
it) in the same change: these tests name what is missing on either side.
tests/functional/test_openapi_fuzz.py then checks the answers against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib.api.public import OPENAPI
from chalicelib.auth import ACTIONS

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


def registered() -> dict[tuple[str, str], list[str]]:
    """(METHOD, path) -> path parameter names, of every route of the app."""
    return {
        (method.upper(), path): list(entry.view_args)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    }


def documented(document: dict) -> dict[tuple[str, str], dict]:
    """(METHOD, path) -> operation, of every operation in the document."""
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_document_is_the_one_the_app_serves() -> None:
    assert DOCUMENT.resolve() == OPENAPI.resolve()


def test_the_document_is_valid_openapi_3_1(document) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_route_of_the_app_is_documented(document) -> None:
    missing = sorted(set(registered()) - set(documented(document)))

    assert missing == [], (
        f"routes registered on the app but missing from {DOCUMENT.name}: "
        + ", ".join(f"{method} {path}" for method, path in missing)
    )


def test_every_documented_route_exists(document) -> None:
    extra = sorted(set(documented(document)) - set(registered()))

    assert extra == [], (
        f"operations in {DOCUMENT.name} that the app does not register: "
        + ", ".join(f"{method} {path}" for method, path in extra)
    )


def test_path_parameters_match_the_routes(document) -> None:
    for (method, path), view_args in registered().items():
        item = document["paths"].get(path, {})
        operation = item.get(method.lower(), {})
        parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
        names = [
            resolve(document, p)["name"]
            for p in parameters
            if resolve(document, p)["in"] == "path"
        ]
        assert sorted(names) == sorted(view_args), f"{method} {path}"


def test_staff_operations_need_the_bearer_token_and_public_ones_do_not(document):
    for (_, path), operation in documented(document).items():
        if path.startswith("/staff"):
            assert operation.get("security") == [{"staffAccessToken": []}], path
            assert "401" in operation["responses"], path
            assert "403" in operation["responses"], path
        else:
            assert "security" not in operation, path


def test_staff_summaries_name_a_declared_action(document) -> None:
    from chalicelib.api.staff import DECLARED

    for (method, path), operation in documented(document).items():
        if path.startswith("/staff"):
            action = DECLARED[(path, method)]
            assert action in ACTIONS
            assert f"action {action}" in operation["summary"], path


def test_every_error_code_of_the_document_is_in_api_md(document) -> None:
    api_md = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    codes = error_codes(document)

    assert "TOKEN_MISSING" in codes and "ALREADY_VOTED" in codes
    missing = sorted(code for code in codes if f"`{code}`" not in api_md)
    assert missing == []


def test_every_request_body_refuses_unknown_fields(document) -> None:
    for (_, path), operation in documented(document).items():
        if "requestBody" not in operation:
            continue
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert resolve(document, body)["additionalProperties"] is False, path


def resolve(document: dict, node: dict) -> dict:
    """``node``, or what its local ``$ref`` points to."""
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def error_codes(document: dict) -> set[str]:
    """Every ``code`` value that an error schema of the document names."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            code = node.get("properties", {}).get("code")
            if isinstance(code, dict):
                found.update(code.get("enum", []))
                if "const" in code:
                    found.add(code["const"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return {c for c in found if isinstance(c, str) and re.fullmatch("[A-Z_]+", c)}
