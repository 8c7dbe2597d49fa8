"""Event mode: the site offline from its service worker, the device's queue
of ballots, and the kiosk clear-down between voters."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser.conftest import new_voter_id, stored_ballot
from tests.browser.pages import choose, fill_about_you, open_page, stored_count

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


def controlled_by_service_worker(page) -> None:
    """Waits until the worker is active, then reloads so it controls the page."""
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.locator("#proposals input[name=selection]").first.wait_for()
    assert page.evaluate("() => navigator.serviceWorker.controller !== null")


def cast_on_page(page, voter: str, *titles: str) -> None:
    for title in titles:
        choose(page, title)
    fill_about_you(page, voter)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")


def queue(page) -> list[dict]:
    return json.loads(page.evaluate("() => localStorage.getItem('pb.queue') || '[]'"))


def wait_for(condition, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_ballot_cast_offline_is_kept_then_sent_once(
    new_page, local_stack, cycle, cast_via_api
):
    page = new_page("/ballot.html")
    controlled_by_service_worker(page)
    before = stored_count(local_stack, cycle.cycle_id)
    voter = new_voter_id()

    # GIVEN the connection drops, WHEN the ballot page is reloaded,
    # THEN the worker still serves it, proposals and all
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("#proposals input[name=selection]")).to_have_count(5)
    expect(page.locator("#offline-note")).to_be_visible()

    # WHEN a ballot is cast offline, THEN it is queued on the device, not stored
    cast_on_page(page, voter, "Library laptops", "Bike racks downtown")
    expect(page.locator("#confirm-queued")).to_be_visible()
    expect(page.locator("#confirm-recorded")).to_be_hidden()
    waiting = queue(page)
    assert len(waiting) == 1
    key = waiting[0]["key"]
    assert waiting[0]["body"]["selections"] == ["p2", "p5"]
    assert stored_count(local_stack, cycle.cycle_id) == before

    # WHEN the connection returns, THEN it is sent once and stored once
    page.context.set_offline(False)
    wait_for(lambda: queue(page) == [], what="the queue to empty")
    assert stored_count(local_stack, cycle.cycle_id) == before + 1

    # WHEN the page resends the same entry again, as after a crash between the
    # server's answer and the removal from the queue, by a reload and by two
    # 'online' events at once, THEN the server replays it: still one ballot
    page.evaluate(
        "entry => localStorage.setItem('pb.queue', JSON.stringify([entry]))",
        waiting[0],
    )
    page.reload()
    page.evaluate(
        "() => { for (const n of [1, 2]) dispatchEvent(new Event('online')); }"
    )
    wait_for(lambda: queue(page) == [], what="the resent entry to leave the queue")
    page.wait_for_timeout(500)
    assert stored_count(local_stack, cycle.cycle_id) == before + 1

    # AND the server holds the ballot under this voter and this key only
    status, body = cast_via_api(["p1"], voter=voter)
    assert (status, body["code"]) == (409, "ALREADY_VOTED")
    status, replay = cast_via_api(["p2", "p5"], voter=voter, key=key)
    assert status == 201
    assert stored_ballot(local_stack, cycle.cycle_id, replay["receipt"]) is not None
    assert stored_count(local_stack, cycle.cycle_id) == before + 1
    assert page.record.errors == []


# Kiosk mode.

STORAGE_DUMP = """async () => {
    const local = Object.fromEntries(Object.entries(localStorage));
    const session = Object.fromEntries(Object.entries(sessionStorage));
    const databases = indexedDB.databases ? await indexedDB.databases() : [];
    return {local, session, databases: databases.map((d) => d.name)};
}"""


def test_next_voter_leaves_no_trace_but_keeps_the_queue(new_page, local_stack, cycle):
    # Routes see every request only without a service worker in the way.
    page = new_page("/ballot.html", service_workers="block")
    page.locator('label[for="kiosk-toggle"]').click()
    expect(page.locator("#kiosk-note")).to_be_visible()
    queued_voter, voter = new_voter_id(), new_voter_id()

    # GIVEN a first voter whose ballot cannot reach the server (every send of
    # it fails on the way), so it stays in the device's queue
    def lose_queued_ballot(route):
        if queued_voter in (route.request.post_data or ""):
            return route.abort("connectionfailed")
        return route.continue_()

    page.route("**/ballots", lose_queued_ballot)
    page.locator("#proposals input[name=selection]").first.wait_for()
    choose(page, "Splash pad in Mattapan")
    fill_about_you(page, queued_voter)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")
    expect(page.locator("#confirm-queued")).to_be_visible()
    (queued,) = queue(page)
    page.locator("#next-voter").click()
    page.wait_for_url("**/ballot.html")
    expect(page.locator("#cleared-note")).to_be_visible()

    # WHEN the next voter casts and is recorded, then presses Next voter
    open_page(page, "ballot")
    cast_on_page(page, voter, "Library laptops")
    receipt = page.locator("#receipt").inner_text()
    assert stored_ballot(local_stack, cycle.cycle_id, receipt) is not None
    expect(page.locator("#next-voter")).to_be_visible()
    page.locator("#next-voter").click()
    page.wait_for_url("**/ballot.html")
    page.locator("#proposals input[name=selection]").first.wait_for()

    # THEN nothing on the device names the voter or the receipt
    storage = page.evaluate(STORAGE_DUMP)
    everything = json.dumps(storage)
    assert voter not in everything and receipt not in everything, storage
    assert storage["session"] == {}
    assert storage["databases"] == []
    assert set(storage["local"]) <= {"pb.kiosk", "pb.kiosk.lang", "pb.lang", "pb.queue"}
    # AND the form is empty
    expect(page.locator("#proposals input:checked")).to_have_count(0)
    expect(page.locator("#voter-id")).to_have_value("")
    expect(page.locator("#age")).to_have_value("")
    expect(page.locator("#resident")).not_to_be_checked()
    expect(page.locator("#chosen-count")).to_contain_text("0 of")
    # AND Back does not lead to the receipt
    page.go_back()
    assert "confirmation" not in page.url
    assert receipt not in page.content()
    # AND the unsent ballot of the first voter is still queued
    page.goto("/ballot.html")
    assert queue(page) == [queued]
