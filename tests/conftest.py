"""Fixtures for every test tier.

Layering (see tests/functional/conftest.py for the AWS layers):

1. ``aws_credentials`` (autouse): fake credentials and region, no profile, no
   custom endpoint, no shared config; no test can reach a real AWS account.
2. ``aws``: ``moto.mock_aws()`` active.
3. ``stack``: the resources of ``infra/template.yaml`` created in moto.
4. ``settings``: the app settings from the stack outputs, also set as PB_*.

``pabulib_dir`` and ``pabulib_file`` find the real elections in
``$PABULIB_DIR`` (default ``<repo>/../shared/pabulib``) and skip when absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_pabulib_dir() -> Path:
    """Return where the pabulib elections should be, present or not."""
    configured = os.environ.get("PABULIB_DIR")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "pabulib"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials for every test, so nothing can reach real AWS."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)

    # An empty config keeps ~/.aws (profiles, endpoints, regions) out of tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture(scope="session")
def pabulib_dir() -> Path:
    """The folder of real pabulib elections; skips the test when it is absent."""
    folder = find_pabulib_dir()
    if not folder.is_dir():
        pytest.skip(f"pabulib elections not found at {folder} (set PABULIB_DIR)")
    return folder


@pytest.fixture
def pabulib_file(pabulib_dir: Path) -> Callable[[str], Path]:
    """Return a function from a ``.pb`` file name to its path; skips if absent."""

    def find(name: str) -> Path:
        path = pabulib_dir / name
        if not path.is_file():
            pytest.skip(f"pabulib election {name} not found in {pabulib_dir}")
        return path

    return find
