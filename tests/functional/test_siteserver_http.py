"""pbctl's site server answers odd requests cleanly (plain http.client).

A SiteServer on a free loopback port serves a tiny ``dist`` made here: a NUL
in the path is a 404, not a dropped connection; ``gzip;q=0`` gets no gzip;
``build.json`` (the build's notes for the tools) is not served; methods
other than GET and HEAD get 405 with the security headers; and the Server
header has no trailing space.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbctl.siteserver import SiteServer, accepts_gzip

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SiteServer]:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "build.json").write_text(
        json.dumps({"csp": "default-src 'self'; connect-src 'self'"})
    )
    (dist / "index.html").write_text("<!doctype html><p>" + "hello " * 100 + "</p>")
    with SiteServer(0, "http://127.0.0.1:9", dist=dist) as site:
        yield site


def fetch(site: SiteServer, method: str, path: str, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


def test_a_nul_byte_in_the_path_is_not_found(server) -> None:
    status, headers, _ = fetch(server, "GET", "/index.html%00.txt")
    assert status in (400, 404)
    assert headers["X-Content-Type-Options"] == "nosniff"
    # AND the server still answers afterwards
    assert fetch(server, "GET", "/")[0] == 200


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("*;q=0.5", True),
        ("br;q=1, *;q=0", False),
        ("identity", False),
    ],
)
def test_gzip_only_when_accepted(server, accept: str, gzipped: bool) -> None:
    status, headers, _ = fetch(server, "GET", "/", {"Accept-Encoding": accept})
    assert status == 200
    assert (headers.get("Content-Encoding") == "gzip") is gzipped
    assert accepts_gzip(accept) is gzipped


def test_build_json_is_not_served(server) -> None:
    assert fetch(server, "GET", "/build.json")[0] == 404
    assert fetch(server, "HEAD", "/build.json")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "OPTIONS", "DELETE", "PATCH"])
def test_other_methods_are_not_allowed(server, method: str) -> None:
    status, headers, _ = fetch(server, method, "/index.html")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    for name in SECURITY_HEADERS:
        assert headers.get(name), f"{name} missing from the 405"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_the_server_header_has_no_trailing_space(server) -> None:
    _, headers, _ = fetch(server, "GET", "/")
    assert headers["Server"] == headers["Server"].strip()
    assert headers["Server"].startswith("pb-site")
