"""``pbctl up``: the local stack, kept serving, with the site and a live clock.

The API runs on ``chalice local`` (127.0.0.1:8001 by default), the site is
built (``npm run build`` in ``static_site/``, when ``dist`` is missing or
stale) and served from ``static_site/dist`` by :mod:`pbctl.siteserver`
(127.0.0.1:8000) with a ``config.json`` naming the API, and the phase clock
runs every minute on the wall clock, as its EventBridge schedule does in AWS.
A ``.pb`` ballot is imported so there is something to vote on, and a staff
account (``office-admin``, user ``admin`` by default) is made with a
generated password that is printed once, with how to get a token and call
the staff API. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from chalicelib.cycle import DEFAULT_VERIFICATION, format_time
from chalicelib.errors import PBError
from chalicelib.importer import cycle_from_election, cycle_id_for
from chalicelib.jobs import run_phase_clock
from pbctl.commands.demo import DEFAULT_PB, quiet_logs, read_election
from pbctl.localrun import HOST, LocalRun, LocalRunError, require_free
from pbctl.localstack import create_staff_user, generate_password
from pbctl.siteserver import (
    SiteBuildError,
    ensure_site_built,
    serve_site,
    staff_config,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("up", help="serve the local stack until Ctrl-C")
    parser.add_argument("--pb", default=DEFAULT_PB, help="the .pb ballot to import")
    parser.add_argument("--aws-port", type=int, default=5000)
    parser.add_argument("--api-port", type=int, default=8001)
    parser.add_argument("--site-port", type=int, default=8000)
    parser.add_argument("--voting-hours", type=float, default=24.0)
    parser.add_argument(
        "--staff-user", default="admin", help="the local office-admin account"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet_logs()
    election = read_election(args.pb, "up")
    if election is None:
        return 1
    try:
        require_free(args.site_port)
        ensure_site_built()
    except SiteBuildError as exc:
        print(f"pbctl up: the site did not build: {exc}", file=sys.stderr)
        return 1
    except LocalRunError as exc:
        print(f"pbctl up: {exc}", file=sys.stderr)
        return 1
    # A terminal closing (SIGHUP) or a service manager (SIGTERM) stops it as
    # cleanly as Ctrl-C does: chalice local and moto must not outlive it.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    site_origin = f"http://{HOST}:{args.site_port}"
    try:
        with LocalRun(
            aws_port=args.aws_port, api_port=args.api_port, site_origin=site_origin
        ) as local:
            now = datetime.now(UTC)
            cycle = dataclasses.replace(
                cycle_from_election(
                    election,
                    cycle_id=cycle_id_for(Path(args.pb).name, prefix="local"),
                    now=now,
                    voting_for=timedelta(hours=args.voting_hours),
                ),
                # The methods a real cycle offers by default; their texts and
                # emails land in the local moto server (see the printout).
                verification=DEFAULT_VERIFICATION,
                languages=SITE_LANGUAGES,
            )
            local.services.store.create_cycle(cycle, actor="pbctl:up", now=now)
            run_phase_clock({"time": format_time(now)})
            password = generate_password()
            create_staff_user(
                boto3.client("cognito-idp"),
                local.outputs["UserPoolId"],
                args.staff_user,
                ["office-admin"],
                password,
            )
            site = serve_site(
                args.site_port,
                local.api_url,
                staff=staff_config(local.aws_endpoint, local.outputs),
            )
            stop = threading.Event()
            clock = threading.Thread(
                target=tick_every_minute, args=(stop,), daemon=True
            )
            clock.start()
            print(f"Site: {site_origin}/  (ballot: {site_origin}/ballot.html)")
            print(f"API:  {local.api_url}/cycle")
            print(f"Staff console: {site_origin}/staff/")
            print(
                "Codes sent by text or email (nothing leaves this machine): "
                f"{local.aws_endpoint}/moto-api/data.json (sns, ses)"
            )
            print_staff_sign_in(local, args.staff_user, password, cycle.cycle_id)
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


#: The participation site's languages (static_site/src/i18n).
SITE_LANGUAGES = ("en", "es", "ht", "vi", "zh-Hans", "pt", "kea")


def print_staff_sign_in(local, username: str, password: str, cycle_id: str) -> None:
    """How to sign in as the local office admin; the password shows only here."""
    pbctl = shlex.quote(str(Path(sys.executable).parent / "pbctl"))
    token_command = (
        f"{pbctl} staff-token --endpoint-url {local.aws_endpoint} "
        f"--username {shlex.quote(username)} --password {shlex.quote(password)}"
    )
    print(f"Staff: {username} (office-admin), password {password} (shown once)")
    print(f"  TOKEN=$({token_command})")
    print(
        '  curl -H "Authorization: Bearer $TOKEN" '
        f"{local.api_url}/staff/cycles/{cycle_id}/dashboard"
    )


def _interrupt(number, frame) -> None:
    raise KeyboardInterrupt


def tick_every_minute(stop: threading.Event) -> None:
    while not stop.wait(60):
        try:
            run_phase_clock({"time": format_time(datetime.now(UTC))})
        except Exception as exc:  # keep serving; the next minute tries again
            print(f"phase clock failed: {exc}", file=sys.stderr)
