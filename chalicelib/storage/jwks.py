"""The staff user pool's public signing keys (JWKS), fetched and cached.

:class:`JwksFetcher` is what :class:`chalicelib.auth.TokenVerifier` calls with
a token's ``kid``. It downloads ``<issuer>/.well-known/jwks.json`` once,
keeps the RSA signing keys by id, and fetches again only when an unknown id
turns up (Cognito rotating its keys) and at most once a minute, so a flood
of forged tokens with made-up ids cannot turn into a flood of downloads.

It only fetches over HTTPS, or plain HTTP to a loopback address (the local
moto server); it follows no redirect and uses no proxy for loopback.
:class:`StaticJwks` serves a fixed key set, for tests and moto in-process.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from chalicelib.errors import Unavailable

logger = logging.getLogger(__name__)

_MAX_BYTES = 64 * 1024


class JwksUrlRefused(ValueError):
    """The key set URL is neither HTTPS nor plain HTTP on loopback."""


def signing_keys(document: Mapping) -> dict[str, dict]:
    """RSA signature keys of a JWKS document, by ``kid``; others are dropped."""
    keys = {}
    for key in document.get("keys", ()) if isinstance(document, Mapping) else ():
        if not isinstance(key, Mapping) or not isinstance(key.get("kid"), str):
            continue
        if key.get("kty") != "RSA" or key.get("use", "sig") != "sig":
            continue
        if key.get("alg", "RS256") != "RS256":
            continue
        keys[key["kid"]] = dict(key)
    return keys


class StaticJwks:
    """A fixed key set: ``keys(kid)`` returns the JWK or ``None``."""

    def __init__(self, document: Mapping):
        self._keys = signing_keys(document)

    def __call__(self, kid: str) -> dict | None:
        return self._keys.get(kid)


def check_url(url: str) -> str:
    """Return ``url`` if it may be fetched; raise :class:`JwksUrlRefused`."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url
    raise JwksUrlRefused(
        f"refusing to fetch signing keys from {url!r}: "
        "only https, or http on a loopback address"
    )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        raise urllib.error.HTTPError(newurl, code, "redirect refused", headers, fp)


def _urllib_get(url: str, timeout: float) -> bytes:
    handlers: list = [_NoRedirect()]
    if urlsplit(url).scheme == "http":
        handlers.append(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    opener = urllib.request.build_opener(*handlers)
    with opener.open(url, timeout=timeout) as answer:  # noqa: S310 (checked)
        return answer.read(_MAX_BYTES + 1)


class JwksFetcher:
    """Callable ``kid -> JWK | None`` over a key set URL, cached per process.

    ``get(url, timeout)`` returns the body bytes (default: urllib); tests
    hand in a fake. Raises :class:`JwksUrlRefused` at construction for a URL
    that is not allowed, and :class:`Unavailable` when the keys cannot be had
    and none are cached.
    """

    def __init__(
        self,
        url: str,
        *,
        get: Callable[[str, float], bytes] = _urllib_get,
        clock: Callable[[], float] = time.monotonic,
        refetch_after: float = 60.0,
        timeout: float = 3.0,
    ):
        self.url = check_url(url)
        self._get = get
        self._clock = clock
        self._refetch_after = refetch_after
        self._timeout = timeout
        self._keys: dict[str, dict] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> dict | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            if kid in self._keys:
                return self._keys[kid]
            recent = (
                self._fetched_at is not None
                and self._clock() - self._fetched_at < self._refetch_after
            )
            if not recent:
                self._refresh()
        return self._keys.get(kid)

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        try:
            body = self._get(self.url, self._timeout)
            if len(body) > _MAX_BYTES:
                raise ValueError("key set too large")
            keys = signing_keys(json.loads(body))
        except (OSError, ValueError) as exc:
            logger.warning("signing keys unavailable", extra={"url": self.url})
            if self._keys:
                return  # keep the keys we had; a rotation can wait a minute
            raise Unavailable(
                "Staff sign-in is unavailable; please try again shortly."
            ) from exc
        self._keys = keys
