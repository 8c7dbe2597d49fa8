"""The embedded local stack that ``pbctl demo`` and ``pbctl up`` run on.

:class:`LocalRun` starts moto in server mode on 127.0.0.1, creates the stack
from ``infra/template.yaml`` in it, points this process's AWS settings at it
and serves the API with ``chalice local`` (stage ``local``, through
:mod:`pbctl.chalicelocal`, which lets it take a burst of clients) on
loopback. No other host is ever contacted: the credentials are fake, and
every client, ours and Chalice's, is aimed at the loopback moto endpoint.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3

from chalicelib.services import get_services, reset_services
from chalicelib.settings import Settings, StaffAuthSettings
from pbctl.localstack import (
    create_stack,
    is_loopback,
    jwks_url,
    sender_email,
    start_moto_server,
)

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
LOG_DIR = ROOT / ".local"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class LocalRunError(RuntimeError):
    pass


class LocalRun:
    """moto + the stack + ``chalice local``; use as a context manager."""

    def __init__(
        self,
        *,
        aws_port: int,
        api_port: int,
        site_origin: str = "",
        api_aws_endpoint: str = "",
    ):
        """``api_aws_endpoint``, when given, is where ``chalice local`` sends
        its AWS calls instead of the moto server (a loopback proxy in front of
        it, say, that counts or fails chosen calls); this process's own
        clients still talk to moto directly."""
        self.aws_port = aws_port
        self.api_port = api_port
        self.site_origin = site_origin
        if api_aws_endpoint and not is_loopback(urlsplit(api_aws_endpoint).hostname):
            raise LocalRunError(
                f"the API's AWS endpoint must be on loopback, not {api_aws_endpoint}"
            )
        self.api_aws_endpoint = api_aws_endpoint
        self._moto = None
        self.outputs: dict[str, str] = {}
        self._api: subprocess.Popen | None = None
        self._log = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def log_path(self) -> Path:
        """chalice local's output; one file per port, so two stacks never mix."""
        return LOG_DIR / f"chalice-local-{self.api_port}.log"

    @property
    def aws_endpoint(self) -> str:
        return self._moto.endpoint_url

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    def __enter__(self) -> LocalRun:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        for port in (self.aws_port, self.api_port):
            require_free(port)
        self._moto = start_moto_server(self.aws_port, host=HOST)
        self._set_env(
            {
                **FAKE_AWS,
                "AWS_ENDPOINT_URL": self._moto.endpoint_url,
                "PB_METRICS": "off",
            }
        )
        outputs = create_stack(boto3.client("cloudformation"), stage="dev")
        self.outputs = outputs
        settings = Settings.from_stack_outputs(outputs, stage="dev")
        # Staff tokens are checked against the keys the moto server publishes.
        staff_auth = StaffAuthSettings.from_stack_outputs(
            outputs, jwks_url=jwks_url(self._moto.endpoint_url, outputs["UserPoolId"])
        )
        self._set_env(
            {
                **settings.to_env(),
                **staff_auth.to_env(),
                "PB_SITE_ORIGIN": self.site_origin,
                "PB_SENDER_EMAIL": sender_email("dev"),
            }
        )
        reset_services()
        self.services = get_services()
        # A file, not a pipe: an unread pipe fills up and stalls the server.
        LOG_DIR.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        api_endpoint = {}
        if self.api_aws_endpoint:
            api_endpoint["AWS_ENDPOINT_URL"] = self.api_aws_endpoint
        self._api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pbctl.chalicelocal",
                "local",
                "--no-autoreload",
                "--stage",
                "local",
                "--host",
                HOST,
                "--port",
                str(self.api_port),
            ],
            cwd=ROOT,
            env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", **api_endpoint},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_for_api()

    def stop(self) -> None:
        if self._api is not None and self._api.poll() is None:
            self._api.terminate()
            try:
                self._api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._api.kill()
        self._api = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        reset_services()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _wait_for_api(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._api.poll() is not None:
                log = self.log_path.read_text(errors="replace")
                raise LocalRunError(f"chalice local exited:\n{log[-2000:]}")
            try:
                status, _ = request(HOST, self.api_port, "GET", "/cycle")
                if status in (200, 404):
                    return
            except OSError:
                time.sleep(0.2)
        raise LocalRunError("chalice local did not answer within a minute")


def request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: object = None,
    headers: dict | None = None,
    connection=None,
) -> tuple[int, object]:
    """One JSON request on loopback; returns (status, decoded body)."""
    own = connection is None
    conn = connection or http.client.HTTPConnection(host, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(
            method,
            path,
            body=payload,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        answer = conn.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None
    finally:
        if own:
            conn.close()


def require_free(port: int) -> None:
    """Raise ``LocalRunError`` if something already listens on ``port``."""
    if port == 0:
        return
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise LocalRunError(
                f"port {port} on {HOST} is in use; pick another "
                "(AWS_PORT=, API_PORT=, SITE_PORT= for make)"
            )
