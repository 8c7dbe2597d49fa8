"""A real Chromium against the whole local stack, for the browser tier.

Layers, all session-scoped except the pages:

1. ``local_stack``: :class:`pbctl.localrun.LocalRun` (moto server, the stack
   from ``infra/template.yaml``, ``chalice local``) on free loopback ports,
   with a small cycle open for voting (:data:`PROPOSALS`, one of them titled
   with an HTML injection attempt).
2. ``site_url``: the site built with npm and served from ``static_site/dist``
   by :mod:`pbctl.siteserver`, with ``config.json`` naming the API.
3. ``browser``: Debian's Chromium (``/usr/bin/chromium``) driven by
   Playwright; nothing is downloaded.
4. ``new_page``: a factory of pages, each in a fresh context (no storage
   shared between tests), recording dialogs, page errors and console errors.

``cast_via_api`` casts a ballot straight through the HTTP API, for tests
that need votes the browser did not cast. ``staff_accounts`` are members of
the local stack's staff pool (made through the cognito-idp API, as ``make
up`` does), whose sign-in settings the site's ``config.json`` carries.
``results_site_url`` is a second site on a second stack
(:mod:`tests.browser.results_stack`) whose cycle has closed and published its
results.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from chalicelib.cycle import Cycle, Proposal
from chalicelib.voting import receipt_hash
from pbctl.localrun import HOST, LOG_DIR, ROOT, LocalRun, request
from pbctl.localstack import create_staff_user, generate_password
from pbctl.siteserver import SiteServer, ensure_site_built, staff_config
from tests.functional.conftest import open_voting, small_cycle

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path(os.environ.get("PB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS_TITLE = "<img src=x onerror=alert(1)>"
SELECTION_LIMIT = 3

#: The ballot: the three proposals of the functional tier's small cycle, given
#: summaries, departments and some Spanish, plus two more.
PROPOSALS = (
    Proposal(
        "p1",
        600_000,
        {"en": "Shade trees on Blue Hill Avenue", "es": "Árboles en Blue Hill Avenue"},
        {"en": "Plant 200 street trees.", "es": "Plantar 200 árboles."},
        "Parks and Recreation",
    ),
    Proposal(
        "p2",
        500_000,
        {"en": "Library laptops"},
        {"en": "Laptops to borrow at every branch."},
        "Boston Public Library",
    ),
    Proposal(
        "p3",
        900_000,
        {"en": "Splash pad in Mattapan"},
        {"en": "A water play area for hot days."},
        "Parks and Recreation",
    ),
    Proposal("p4", 250_000, {"en": XSS_TITLE}, {"en": XSS_TITLE}, "Public Works"),
    Proposal(
        "p5",
        150_000,
        {"en": "Bike racks downtown"},
        {"en": "Racks for 300 bikes."},
        "Transportation",
    ),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def browser_cycle(now: datetime) -> Cycle:
    base = small_cycle(now, cycle_id="boston-browser")
    return dataclasses.replace(
        base,
        name="Boston PB browser test",
        budget_cap=1_500_000,
        selection_limit=SELECTION_LIMIT,
        proposals=PROPOSALS,
        languages=("en", "es", "ht", "vi", "zh-Hans", "pt", "kea"),
    )


@pytest.fixture(autouse=True)
def aws_credentials() -> None:
    """LocalRun owns the AWS settings here (fake keys, the loopback moto).

    The other tiers' autouse fixture would unset ``AWS_ENDPOINT_URL`` per
    test and so aim in-process clients away from the local moto server.
    """


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalRun]:
    """The local stack with :func:`browser_cycle` open for voting."""
    site_port = free_port()
    local = LocalRun(
        aws_port=free_port(),
        api_port=free_port(),
        site_origin=f"http://{HOST}:{site_port}",
    )
    local.site_port = site_port
    with local:
        now = datetime.now(UTC)
        open_voting(local.services.store, browser_cycle(now), now)
        yield local


@pytest.fixture(scope="session")
def cycle(local_stack: LocalRun) -> Cycle:
    return local_stack.services.store.current_cycle()


@pytest.fixture(scope="session")
def site(local_stack: LocalRun) -> Iterator[SiteServer]:
    dist = ensure_site_built()
    staff = staff_config(local_stack.aws_endpoint, local_stack.outputs)
    with SiteServer(
        local_stack.site_port, local_stack.api_url, dist=dist, staff=staff
    ) as server:
        yield server


@pytest.fixture(scope="session")
def site_url(site: SiteServer) -> str:
    """The site's origin, e.g. ``http://127.0.0.1:PORT`` (no trailing slash)."""
    return site.url


@dataclasses.dataclass(frozen=True)
class ResultsSite:
    url: str
    #: The receipts of the ballots the results stack cast.
    receipts: tuple[str, ...]


@pytest.fixture(scope="session")
def results_site_url(results_site: ResultsSite) -> str:
    """A site whose API serves a published result: ``http://127.0.0.1:PORT``."""
    return results_site.url


@pytest.fixture(scope="session")
def results_site(site: SiteServer) -> Iterator[ResultsSite]:
    """The site of a published result, and the receipts its voters were given.

    The stack runs in a child process (LocalRun owns its process's AWS
    settings) with :func:`browser_cycle` voted on and closed; the site is
    served here from the same build as ``site_url``.
    """
    site_port, api_port = free_port(), free_port()
    LOG_DIR.mkdir(exist_ok=True)
    log = open(LOG_DIR / f"results-stack-{api_port}.log", "wb")  # noqa: SIM115
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.browser.results_stack",
            str(free_port()),
            str(api_port),
            f"http://{HOST}:{site_port}",
        ],
        cwd=ROOT,
        env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    receipts = []
    try:
        # "ready" once it serves; end of file if it died first.
        for line in child.stdout:
            if line.startswith("receipt "):
                receipts.append(line.split()[1])
            if line.strip() == "ready":
                break
        else:
            child.wait(timeout=30)
            pytest.fail(f"the results stack did not start; see {log.name}")
        api_url = f"http://{HOST}:{api_port}"
        with SiteServer(site_port, api_url, dist=site.dist) as server:
            yield ResultsSite(server.url, tuple(receipts))
    finally:
        child.stdin.close()  # the child serves until its stdin closes
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        # CI installs Chromium (.ci/run): there a missing browser is a failure.
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM} (set PB_CHROMIUM)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@dataclasses.dataclass
class PageRecord:
    """What a page did that a test may want to assert on."""

    dialogs: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    console_errors: list[str] = dataclasses.field(default_factory=list)
    console: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def new_page(browser, site_url: str) -> Iterator[Callable[..., object]]:
    """Return ``new_page(path="/", **context_options)``: a fresh page at ``path``.

    Each page has its own context (fresh storage, service worker and cache).
    ``page.record`` holds its dialogs (dismissed), page errors and console
    messages. Pass ``viewport=...``, ``offline=True`` later, etc. as context
    options; ``goto=False`` returns the page before any navigation.
    """
    contexts = []

    def make(path: str = "/", *, goto: bool = True, **options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(base_url=site_url, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        record = PageRecord()
        page.record = record

        def on_dialog(dialog) -> None:
            record.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: record.errors.append(str(exc)))

        def on_console(message) -> None:
            record.console.append(f"{message.type}: {message.text}")
            if message.type == "error":
                record.console_errors.append(message.text)

        page.on("console", on_console)
        if goto:
            page.goto(path)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def cast_via_api(local_stack: LocalRun) -> Callable[..., tuple[int, dict]]:
    """Return ``cast(selections, voter=None, key=None)``: POST /ballots directly.

    ``voter`` defaults to a fresh email (the browser cycle offers
    ``attested``); returns (status, body).
    """

    def cast(selections, voter: str | None = None, key: str | None = None):
        body = {
            "selections": list(selections),
            "attestation": {"boston_resident": True, "age": 30},
            "voter": {"kind": "email", "value": voter or new_voter_id()},
        }
        return request(
            HOST,
            local_stack.api_port,
            "POST",
            "/ballots",
            body=body,
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
        )

    return cast


def new_voter_id() -> str:
    """An email no test has used yet (one vote per voter per cycle).

    The browser cycle offers ``attested`` (it is built from the functional
    tier's ``small_cycle``), so the voter form's bare email is taken as the
    resident's word; the verification flows are tested in the functional tier.
    """
    return f"t{uuid.uuid4().hex[:15]}@example.org"


def stored_ballot(local_stack: LocalRun, cycle_id: str, receipt: str):
    """The stored ballot for ``receipt`` (stored under its SHA-256), or None."""
    ballot_id = receipt_hash(receipt)
    for ballot in local_stack.services.store.iter_ballots(cycle_id):
        if ballot.ballot_id == ballot_id:
            return ballot
    return None


#: The staff members the browser tier signs in as: username -> groups.
STAFF_GROUPS = {
    "console-admin": ["office-admin"],
    "console-office": ["office-staff"],
    "console-volunteer": ["event-volunteer"],
}


@pytest.fixture(scope="session")
def staff_accounts(local_stack: LocalRun) -> dict[str, str]:
    """username -> password of :data:`STAFF_GROUPS`, in the local staff pool."""
    cognito = boto3.client("cognito-idp")
    accounts = {}
    for username, groups in STAFF_GROUPS.items():
        password = generate_password()
        create_staff_user(
            cognito, local_stack.outputs["UserPoolId"], username, groups, password
        )
        accounts[username] = password
    return accounts
