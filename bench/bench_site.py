"""Benchmark: what the ballot page costs to load, in bytes and in time.

Not a test. Run ``.venv/bin/python bench/bench_site.py``. It starts the
browser tier's local stack (moto, ``chalice local``, the ballot of
``tests/browser/conftest.py`` open for voting) and the site server (gzip on)
on free loopback ports, and drives Debian's Chromium through Playwright:

- bytes transferred for the ballot page, summed from the DevTools protocol's
  ``Network.loadingFinished`` ``encodedDataLength`` (headers and compressed
  bodies) on the page, plus what the service worker itself fetched (its
  precache on a first visit, its network-first API and config requests on a
  repeat; from Playwright's request sizes, as the page's DevTools session does
  not see the worker): a first visit in a fresh context (target 200 KB) and a
  repeat visit in the same context with the worker active (target 20 KB);
- time to a usable ballot (every proposal checkbox there and enabled, read
  as ``performance.now()`` in the page) under slow 3G, first and repeat visit.

Slow 3G is ``Network.emulateNetworkConditions`` with a latency of 400 ms and
400 kbit/s down and up (``downloadThroughput = uploadThroughput = 50000``
bytes/s). It applies to the page's own requests; the service worker's
fetches are not throttled by it (Chromium emulates per target), so on a
repeat visit the API answers the worker fetches arrive faster than they would.
Prints the figures and whether the byte targets are met; exits 0.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pbctl.commands.demo import quiet_logs  # noqa: E402
from pbctl.localrun import HOST, LocalRun  # noqa: E402
from pbctl.siteserver import SiteServer, ensure_site_built  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    browser_cycle,
    free_port,
)
from tests.functional.conftest import open_voting  # noqa: E402

FIRST_TARGET = 200 * 1024
REPEAT_TARGET = 20 * 1024
SLOW_3G = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
}
USABLE = """() => {
    const boxes = [...document.querySelectorAll('#proposals input[name=selection]')];
    const form = document.getElementById('ballot-form');
    const ready = boxes.length > 0 && !form.hidden
        && boxes.every((box) => !box.disabled)
        && boxes.every((box) => box.labels[0].getBoundingClientRect().height > 0);
    return ready ? performance.now() : false;
}"""


class Meter:
    """Bytes a page received over the network, and its worker's fetches."""

    def __init__(self, context, page, throttle: dict | None = None):
        self.page_bytes = 0
        self.worker_bytes = 0
        self._from_worker: set[str] = set()
        self._session = context.new_cdp_session(page)
        self._session.on("Network.responseReceived", self._on_response)
        self._session.on("Network.loadingFinished", self._on_finished)
        self._session.send("Network.enable")
        if throttle:
            self._session.send("Network.emulateNetworkConditions", throttle)
        self._context = context
        context.on("requestfinished", self._on_worker_request)

    def _on_response(self, event: dict) -> None:
        # Answered by the service worker: nothing crossed the network here.
        if event["response"].get("fromServiceWorker"):
            self._from_worker.add(event["requestId"])

    def _on_finished(self, event: dict) -> None:
        if event["requestId"] not in self._from_worker:
            self.page_bytes += int(event.get("encodedDataLength", 0))

    def _on_worker_request(self, request) -> None:
        if request.service_worker is None:
            return
        try:
            sizes = request.sizes()
        except Exception:  # a request the worker answered from its cache
            return
        self.worker_bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]

    def stop(self) -> None:
        self._context.remove_listener("requestfinished", self._on_worker_request)
        self._session.detach()

    @property
    def total(self) -> int:
        return self.page_bytes + self.worker_bytes


def visit(context, url: str, throttle: dict | None = None) -> tuple[Meter, float]:
    """Opens the ballot in a new tab; returns its meter and ms to usable."""
    page = context.new_page()
    meter = Meter(context, page, throttle)
    page.goto(url, wait_until="commit", timeout=120_000)
    usable = page.wait_for_function(USABLE, polling="raf", timeout=120_000)
    ms = float(usable.json_value())
    page.wait_for_load_state("networkidle", timeout=120_000)
    # The worker's install (its precache) belongs to the visit too.
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_timeout(300)
    meter.stop()
    page.close()
    return meter, ms


def wait_for_worker(context, url: str) -> None:
    page = context.new_page()
    page.goto(url)
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_load_state("networkidle")
    page.close()


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def run(browser, url: str) -> None:
    # Bytes, at full speed.
    context = browser.new_context()
    first, _ = visit(context, url)
    wait_for_worker(context, url)
    repeat, _ = visit(context, url)
    context.close()

    # Time to a usable ballot, under slow 3G.
    context = browser.new_context()
    _, first_ms = visit(context, url, SLOW_3G)
    wait_for_worker(context, url)
    _, repeat_ms = visit(context, url, SLOW_3G)
    context.close()

    def verdict(value: int, target: int) -> str:
        return "met" if value <= target else "NOT met"

    print("Ballot page, bytes transferred (headers + gzip bodies):")
    print(
        f"  first visit:  {kb(first.total)} = page {kb(first.page_bytes)} + worker "
        f"precache {kb(first.worker_bytes)}; target <= {kb(FIRST_TARGET)}: "
        f"{verdict(first.total, FIRST_TARGET)}"
    )
    print(
        f"  repeat visit: {kb(repeat.total)} = page {kb(repeat.page_bytes)} + worker "
        f"{kb(repeat.worker_bytes)}; target <= {kb(REPEAT_TARGET)}: "
        f"{verdict(repeat.total, REPEAT_TARGET)}"
    )
    print(
        "Time to a usable ballot, slow 3G (400 ms latency, 50,000 bytes/s down and up):"
    )
    print(f"  first visit:  {first_ms / 1000:.2f} s")
    print(f"  repeat visit: {repeat_ms / 1000:.2f} s (service worker active)")


def main() -> int:
    from playwright.sync_api import sync_playwright

    quiet_logs()
    if not CHROMIUM.is_file():
        print(f"bench_site: Chromium not found at {CHROMIUM}, skipped")
        return 0
    dist = ensure_site_built()
    site_port = free_port()
    local = LocalRun(
        aws_port=free_port(),
        api_port=free_port(),
        site_origin=f"http://{HOST}:{site_port}",
    )
    with local, SiteServer(site_port, local.api_url, dist=dist) as site:
        now = datetime.now(UTC)
        open_voting(local.services.store, browser_cycle(now), now)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                run(browser, f"{site.url}/ballot.html")
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
