"""The local site server: ``static_site/dist`` on loopback, as CloudFront serves it.

It answers what the bucket and the distribution answer in a stage:

- the built files with their content types, gzip-compressed when the client
  accepts it;
- ``Cache-Control``: a year and ``immutable`` for fingerprinted assets
  (``assets/NAME.HASH.EXT``), ``no-cache`` for pages, ``sw.js``, the web
  manifest and ``config.json``;
- the Content-Security-Policy of the build (``dist/build.json``), with
  ``connect-src`` narrowed to the site itself, the API's origin and the
  staff sign-in endpoint (Cognito, locally the moto server);
- ``/config.json`` = ``{"api_url": ...}``, plus the staff console's
  ``cognito_url``, ``client_id`` and ``region`` when given, made in memory:
  one build serves every stage.

:func:`ensure_site_built` runs the npm build when ``dist`` is missing or older
than ``src``. Only loopback addresses are served.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
import logging
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pbctl.localrun import HOST, ROOT

logger = logging.getLogger(__name__)

SITE = ROOT / "static_site"
SRC = SITE / "src"
DIST = SITE / "dist"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = {".html", ".js", ".css", ".json", ".webmanifest", ".svg", ".txt", ".ttf"}
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
_FINGERPRINTED = re.compile(r"^assets/.+\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
#: Build outputs that are for the tools, not for browsers.
NOT_SERVED = {"build.json"}
ALLOWED_METHODS = "GET, HEAD"


def accepts_gzip(header: str) -> bool:
    """True when an Accept-Encoding header accepts gzip (q=0 refuses it)."""
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name:
            weights[name.lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


class SiteBuildError(RuntimeError):
    pass


def _newest(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0)


def site_is_stale(site: Path = SITE) -> bool:
    """True when ``dist`` is missing or older than its sources or the lock file."""
    built = site / "dist" / "build.json"
    if not built.is_file():
        return True
    inputs = [_newest(site / "src")]
    inputs += [
        (site / name).stat().st_mtime
        for name in ("build.mjs", "package-lock.json")
        if (site / name).exists()
    ]
    return built.stat().st_mtime < max(inputs)


def _modules_are_stale(site: Path) -> bool:
    """True when ``node_modules`` is missing or older than ``package-lock.json``.

    npm writes ``node_modules/.package-lock.json`` on every install, so a lock
    file that gained a package (a test tool such as axe-core) re-runs ``npm ci``.
    """
    installed = site / "node_modules" / ".package-lock.json"
    lock = site / "package-lock.json"
    if not installed.is_file():
        return True
    return lock.is_file() and installed.stat().st_mtime < lock.stat().st_mtime


def ensure_site_built(site: Path = SITE, *, force: bool = False) -> Path:
    """Build the site with npm if it is missing or stale; return ``dist``.

    Runs ``npm ci`` first when ``node_modules`` is absent (the registry is the
    only network it needs), then ``npm run build``. Raises
    :class:`SiteBuildError` with npm's output when either fails.
    """
    if not force and not site_is_stale(site):
        return site / "dist"
    steps = [["npm", "run", "build"]]
    if _modules_are_stale(site):
        steps.insert(0, ["npm", "ci", "--no-audit", "--no-fund"])
    for step in steps:
        try:
            run = subprocess.run(
                step, cwd=site, capture_output=True, text=True, timeout=600
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SiteBuildError(f"{' '.join(step)} could not run: {exc}") from exc
        if run.returncode != 0:
            output = (run.stdout + run.stderr)[-3000:]
            raise SiteBuildError(f"{' '.join(step)} failed:\n{output}")
    return site / "dist"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def content_security_policy(
    build_csp: str, api_url: str, cognito_url: str | None = None
) -> str:
    """The build's policy with connect-src set to 'self', the API and Cognito."""
    sources = [_origin(api_url)]
    if cognito_url and _origin(cognito_url) not in sources:
        sources.append(_origin(cognito_url))
    origin = " ".join(source for source in sources if source)
    directives = []
    for directive in build_csp.split(";"):
        directive = directive.strip()
        if not directive:
            continue
        if directive.split()[0] == "connect-src":
            directive = f"connect-src 'self' {origin}".strip()
        directives.append(directive)
    # Only a header can forbid framing; a <meta> policy cannot.
    directives.append("frame-ancestors 'none'")
    return "; ".join(directives)


def staff_config(aws_endpoint: str, outputs: dict[str, str]) -> dict[str, str]:
    """What the staff console needs in config.json to sign in on the local stack."""
    return {
        "cognito_url": aws_endpoint.rstrip("/") + "/",
        "client_id": outputs["UserPoolClientId"],
        "region": "us-east-1",
    }


class _SiteHandler(BaseHTTPRequestHandler):
    server_version = "pb-site"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version  # the stdlib adds " " + sys_version

    def _not_allowed(self) -> None:
        body = b"Method not allowed\n"
        self._send(405, body, ".txt", NO_CACHE, True, {"Allow": ALLOWED_METHODS})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def __init__(self, *args, dist: Path, config: bytes, csp: str, **kwargs):
        self._dist = dist
        self._config = config
        self._csp = csp
        super().__init__(*args, **kwargs)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/config.json":
            return self._send(200, self._config, ".json", NO_CACHE, send_body)
        relative = path.lstrip("/") or "index.html"
        if relative.endswith("/"):
            relative += "index.html"
        if "\x00" in relative or relative in NOT_SERVED:
            return self._send(404, b"Not found\n", ".txt", NO_CACHE, send_body)
        try:
            file = (self._dist / relative).resolve()
            found = file.is_relative_to(self._dist) and file.is_file()
        except (OSError, ValueError):  # a name the file system cannot hold
            found = False
        if not found:
            body = b"Not found\n"
            return self._send(404, body, ".txt", NO_CACHE, send_body)
        if file.suffix not in CONTENT_TYPES:
            return self._send(404, b"Not found\n", ".txt", NO_CACHE, send_body)
        rel = file.relative_to(self._dist).as_posix()
        cache = IMMUTABLE if _FINGERPRINTED.match(rel) else NO_CACHE
        return self._send(200, file.read_bytes(), file.suffix, cache, send_body)

    def _send(
        self,
        status: int,
        body: bytes,
        suffix: str,
        cache: str,
        send_body: bool,
        extra: dict[str, str] | None = None,
    ) -> None:
        gzip_ok = accepts_gzip(self.headers.get("Accept-Encoding", ""))
        compress = gzip_ok and suffix in COMPRESSIBLE and len(body) > 256
        if compress:
            body = gzip.compress(body, compresslevel=6, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPES[suffix])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        if suffix in COMPRESSIBLE:
            self.send_header("Vary", "Accept-Encoding")
        if compress:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Security-Policy", self._csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser moved on (a navigation, a closed tab)

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        logger.debug("site request", extra={"line": format % args})


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client hanging up mid-answer is routine; anything else is logged.
        logger.debug("site request failed", exc_info=True)


class SiteServer:
    """The site on ``127.0.0.1:port`` (0 picks a free port), in a thread.

    ``staff`` (see :func:`staff_config`) adds the staff sign-in settings to
    ``config.json`` and the Cognito endpoint to the policy's connect-src.
    """

    def __init__(
        self,
        port: int,
        api_url: str,
        *,
        dist: Path = DIST,
        host=HOST,
        staff: dict[str, str] | None = None,
    ):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the site server binds to loopback only, not {host}")
        self.dist = dist
        build = json.loads((dist / "build.json").read_text(encoding="utf-8"))
        handler = functools.partial(
            _SiteHandler,
            dist=dist.resolve(),
            config=json.dumps({"api_url": api_url, **(staff or {})}).encode(),
            csp=content_security_policy(
                build["csp"], api_url, (staff or {}).get("cognito_url")
            ),
        )
        self._server = _QuietServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()


def serve_site(
    port: int, api_url: str, dist: Path = DIST, staff: dict[str, str] | None = None
) -> SiteServer:
    """Start serving ``dist`` on loopback; call ``shutdown()`` to stop."""
    return SiteServer(port, api_url, dist=dist, staff=staff)
