"""``pbctl up``: the local stack, kept serving, with the site and a live clock.

The API runs on ``chalice local`` (127.0.0.1:8001 by default), the site is
served from ``static_site/`` (127.0.0.1:8000) with a ``config.json`` naming
the API, and the phase clock runs every minute on the wall clock, as its
EventBridge schedule does in AWS. A ``.pb`` ballot is imported so there is
something to vote on. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chalicelib.cycle import format_time
from chalicelib.errors import PBError
from chalicelib.importer import cycle_from_election
from chalicelib.jobs import run_phase_clock
from chalicelib.pabulib import read_pb
from pbctl.commands.demo import DEFAULT_PB, quiet_logs
from pbctl.localrun import HOST, ROOT, LocalRun, LocalRunError

SITE = ROOT / "static_site"


def register(subparsers) -> None:
    parser = subparsers.add_parser("up", help="serve the local stack until Ctrl-C")
    parser.add_argument("--pb", default=DEFAULT_PB, help="the .pb ballot to import")
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8001)
    parser.add_argument("--site-port", type=int, default=8000)
    parser.add_argument("--voting-hours", type=float, default=24.0)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet_logs()
    try:
        election = read_pb(args.pb)
    except (OSError, PBError) as exc:
        print(f"pbctl up: cannot read {args.pb}: {exc}", file=sys.stderr)
        return 1
    site_origin = f"http://{HOST}:{args.site_port}"
    try:
        with LocalRun(
            aws_port=args.aws_port, api_port=args.api_port, site_origin=site_origin
        ) as local:
            now = datetime.now(UTC)
            cycle = cycle_from_election(
                election,
                cycle_id="local-"
                + Path(args.pb).stem.lower()[:40].replace("_", "-").replace(".", "-"),
                now=now,
                voting_for=timedelta(hours=args.voting_hours),
            )
            local.services.store.create_cycle(cycle, actor="pbctl:up", now=now)
            run_phase_clock({"time": format_time(now)})
            site = serve_site(args.site_port, local.api_url)
            stop = threading.Event()
            clock = threading.Thread(
                target=tick_every_minute, args=(stop,), daemon=True
            )
            clock.start()
            print(f"Site: {site_origin}/  (ballot: {site_origin}/ballot.html)")
            print(f"API:  {local.api_url}/cycle")
            closes = format_time(now + timedelta(hours=args.voting_hours))
            print(
                f"Voting is open until {closes}; the phase clock runs every "
                "minute. Ctrl-C stops.",
                flush=True,
            )
            try:
                stop.wait()
            except KeyboardInterrupt:
                print("\nStopping.")
            finally:
                stop.set()
                site.shutdown()
    except (LocalRunError, PBError) as exc:
        print(f"pbctl up: {exc}", file=sys.stderr)
        return 1
    return 0


def tick_every_minute(stop: threading.Event) -> None:
    while not stop.wait(60):
        try:
            run_phase_clock({"time": format_time(datetime.now(UTC))})
        except Exception as exc:  # keep serving; the next minute tries again
            print(f"phase clock failed: {exc}", file=sys.stderr)


class _SiteHandler(SimpleHTTPRequestHandler):
    """Static files from static_site/, plus the stage's config.json."""

    def __init__(self, *args, config: bytes, **kwargs):
        self._config = config
        super().__init__(*args, directory=str(SITE), **kwargs)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(self._config)))
            self.end_headers()
            self.wfile.write(self._config)
            return
        super().do_GET()

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass


def serve_site(port: int, api_url: str) -> ThreadingHTTPServer:
    config = json.dumps({"api_url": api_url}).encode()
    handler = functools.partial(_SiteHandler, config=config)
    server = ThreadingHTTPServer((HOST, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
