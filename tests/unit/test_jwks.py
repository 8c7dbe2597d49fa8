"""The key set fetcher: URL rules, caching and refetching, with a fake transport."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import Unavailable
from chalicelib.storage.jwks import JwksFetcher, JwksUrlRefused, signing_keys

pytestmark = pytest.mark.unit

KEY = {"kty": "RSA", "kid": "a", "n": "xyz", "e": "AQAB", "alg": "RS256", "use": "sig"}


class FakeGet:
    def __init__(self, *bodies):
        self.bodies = list(bodies)
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float) -> bytes:
        self.calls.append(url)
        body = self.bodies.pop(0)
        if isinstance(body, Exception):
            raise body
        return body


def document(*keys) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


@pytest.mark.parametrize(
    "url",
    [
        "http://cognito-idp.us-east-1.amazonaws.com/x/.well-known/jwks.json",
        "http://10.0.0.1/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/passwd",
        "https:///no-host",
    ],
)
def test_only_https_or_loopback_http_is_fetched(url):
    get = FakeGet()

    with pytest.raises(JwksUrlRefused):
        JwksFetcher(url, get=get)
    assert get.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://cognito-idp.us-east-1.amazonaws.com/p/.well-known/jwks.json",
        "http://127.0.0.1:5000/p/.well-known/jwks.json",
        "http://localhost:5000/p/.well-known/jwks.json",
        "http://[::1]:5000/p/.well-known/jwks.json",
    ],
)
def test_allowed_urls(url):
    assert JwksFetcher(url, get=FakeGet()).url == url


def test_keys_are_cached_and_an_unknown_kid_refetches_at_most_once_a_minute():
    now = [0.0]
    rotated = {**KEY, "kid": "b"}
    get = FakeGet(document(KEY), document(KEY, rotated))
    fetcher = JwksFetcher(
        "https://example.test/jwks.json", get=get, clock=lambda: now[0]
    )

    assert fetcher("a")["n"] == "xyz"
    assert fetcher("a") is not None
    assert fetcher("b") is None  # fetched a moment ago: no second download
    now[0] = 61.0
    assert fetcher("b")["kid"] == "b"
    assert len(get.calls) == 2


def test_a_failed_fetch_keeps_old_keys_or_answers_unavailable():
    now = [0.0]
    fetcher = JwksFetcher(
        "https://example.test/jwks.json",
        get=FakeGet(document(KEY), OSError("down")),
        clock=lambda: now[0],
    )
    assert fetcher("a") is not None
    now[0] = 120.0
    assert fetcher("other") is None
    assert fetcher("a") is not None

    empty = JwksFetcher(
        "https://example.test/jwks.json", get=FakeGet(b"not json"), clock=lambda: 0.0
    )
    with pytest.raises(Unavailable):
        empty("a")


def test_only_rsa_signing_keys_are_kept():
    keys = signing_keys(
        {
            "keys": [
                KEY,
                {**KEY, "kid": "enc", "use": "enc"},
                {**KEY, "kid": "ec", "kty": "EC"},
                {**KEY, "kid": "hs", "alg": "HS256"},
                {"kty": "RSA"},
                "junk",
            ]
        }
    )

    assert list(keys) == ["a"]
