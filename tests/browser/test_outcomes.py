"""What the voter is told after casting, and the fixes around it.

A ballot the server has not recorded (5xx, 429) is "Not sent yet" and turns
into the receipt once the confirmation page's retries get through; one the
server refuses later is said to be refused; the confirmation opened with
nothing to confirm thanks no one. Also: the closing time on the home page,
numeric dates in ht and kea, focus never under the sticky count bar, no
sideways scroll with a 60-letter word, and event mode's language reset.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import new_voter_id, stored_ballot
from tests.browser.pages import (
    catalog,
    choose,
    fill_about_you,
    open_page,
    wait_until_rendered,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

EN = catalog("en")
BUSY = {"code": "TRY_AGAIN", "message": "Busy, try again."}
LONG_WORD = "Supercalifragilisticexpialidocious" + "x" * 26  # 60 letters


def answer_busy_then(page, then, busy: int = 1) -> list[str]:
    """Routes POST /ballots: ``busy`` answers of 503, then ``then(route)``."""
    seen: list[str] = []

    def handle(route):
        if route.request.method != "POST":
            return route.continue_()
        seen.append(route.request.headers.get("idempotency-key", ""))
        if len(seen) <= busy:
            return route.fulfill(
                status=503,
                content_type="application/json",
                body=json.dumps(BUSY),
                headers={"Access-Control-Allow-Origin": "*"},
            )
        return then(route)

    page.route("**/ballots", handle)
    return seen


def cast(
    page, voter: str, title: str = "Library laptops", language: str = "en"
) -> None:
    page.locator("#proposals input[name=selection]").first.wait_for()
    choose(page, title, language)
    fill_about_you(page, voter)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")


def heading(page):
    return page.get_by_role("heading", level=1)


def test_a_busy_server_means_not_sent_yet_then_the_receipt(
    new_page, local_stack, cycle
):
    page = new_page("/ballot.html", service_workers="block")
    # (busy for the cast, the queue's flush and the first retry on arrival)
    seen = answer_busy_then(page, lambda route: route.continue_(), busy=3)

    # WHEN the server answers 503 to the cast, THEN no thanks: "Not sent yet"
    cast(page, new_voter_id())
    expect(heading(page)).to_have_text(EN["confirm.not_sent_heading"])
    expect(page.locator("#confirm-queued")).to_contain_text(EN["confirm.not_sent"])
    expect(page.locator("#confirm-recorded")).to_be_hidden()
    assert EN["confirm.heading"] not in page.locator("main").inner_text()
    assert page.evaluate("() => document.activeElement.id") == "confirm-heading"

    # AND the page retries by itself, under the same key, until it is recorded
    expect(heading(page)).to_have_text(EN["confirm.heading"], timeout=20_000)
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$"))
    assert stored_ballot(local_stack, cycle.cycle_id, receipt.inner_text())
    assert len(seen) >= 4 and len(set(seen)) == 1, seen
    assert page.evaluate("() => localStorage.getItem('pb.queue')") == "[]"
    # AND the change is announced: focus is on the new heading
    assert page.evaluate("() => document.activeElement.id") == "confirm-heading"
    assert page.record.errors == []


def test_a_queued_ballot_refused_later_is_said_plainly(new_page):
    page = new_page("/ballot.html", service_workers="block")

    def already_voted(route):
        return route.fulfill(
            status=409,
            content_type="application/json",
            body=json.dumps({"code": "ALREADY_VOTED", "message": "Already voted."}),
            headers={"Access-Control-Allow-Origin": "*"},
        )

    answer_busy_then(page, already_voted, busy=3)
    cast(page, new_voter_id())
    expect(heading(page)).to_have_text(EN["confirm.not_sent_heading"])

    expect(heading(page)).to_have_text(EN["confirm.refused_heading"], timeout=15_000)
    refused = page.locator("#confirm-refused")
    expect(refused).to_contain_text(EN["confirm.refused"])
    expect(refused).to_contain_text(EN["error.already_voted"])
    expect(refused.get_by_role("link", name=EN["confirm.start_again"])).to_be_visible()
    expect(page.locator("#confirm-queued")).to_be_hidden()
    assert page.evaluate("() => localStorage.getItem('pb.queue')") == "[]"


def test_the_confirmation_with_nothing_to_confirm_thanks_no_one(new_page):
    page = new_page("/confirmation.html")
    expect(heading(page)).to_have_text(EN["confirm.nothing_heading"])
    main = page.locator("main")
    expect(main).not_to_contain_text(EN["confirm.heading"])
    expect(main.get_by_role("link", name=EN["confirm.go_to_ballot"])).to_be_visible()
    assert EN["confirm.heading"] not in page.title()


def test_the_home_page_says_when_the_phase_closes(new_page, cycle):
    page = new_page(goto=False)
    open_page(page, "home")
    ends = page.locator("#current-ends")
    pattern = re.escape(EN["home.phase_ends"])
    pattern = pattern.replace(r"\{date\}", r"[A-Z][a-z]+ \d{1,2}, \d{4}")
    pattern = pattern.replace(r"\{time\}", r"\d{1,2}:\d{2}\s?[AP]M")
    expect(ends).to_have_text(re.compile("^" + pattern + "$"))

    # AND in Haitian Creole and Kabuverdianu the dates are numeric, with no
    # French or Portuguese month names
    for language in ("ht", "kea"):
        open_page(page, "home", language)
        text = page.locator("#current-ends").inner_text()
        assert re.search(r"\b\d{2}/\d{2}/\d{4}\b", text), text
        timeline = page.locator("#timeline").inner_text().lower()
        for month in ("janvier", "décembre", "dezembro", "janeiro", "março", "mars"):
            assert month not in timeline and month not in text.lower(), language


#: Scrolls so that proposal ``index``'s label starts just under the sticky bar
#: (where "scroll into view if needed" sees it as visible), then focuses it.
FOCUS_UNDER_THE_BAR = """(index) => {
    const input = document.querySelectorAll('#proposals input[name=selection]')[index];
    const label = input.labels[0];
    const bar = document.getElementById('ballot-tally');
    const under = innerHeight - bar.getBoundingClientRect().height + 10;
    const top = label.getBoundingClientRect().top - under;
    window.scrollBy({top, behavior: 'instant'});
    input.focus();
    const shown = label.getBoundingClientRect();
    const stuck = bar.getBoundingClientRect();
    return {top: shown.top, bar: stuck.top, stuck: stuck.bottom >= innerHeight - 1};
}"""


def test_focus_is_never_under_the_count_bar_on_a_phone(new_page):
    page = new_page(goto=False, viewport={"width": 360, "height": 640})
    open_page(page, "ballot")
    hidden, checked = [], 0
    for index in range(5):
        box = page.evaluate(FOCUS_UNDER_THE_BAR, index)
        if box["stuck"]:
            checked += 1
            # at least a line of the focused tile shows above the bar
            if box["top"] + 16 > box["bar"]:
                hidden.append((index, box))
    assert checked, "the bar was never stuck over a proposal"
    assert not hidden, f"focused proposals under the count bar: {hidden}"


def test_a_60_letter_word_does_not_widen_the_page(new_page):
    page = new_page(
        goto=False, viewport={"width": 320, "height": 640}, service_workers="block"
    )

    def long_titles(route):
        answer = route.fetch()
        ballot = answer.json()
        ballot["proposals"][0]["title"] = {"en": f"New {LONG_WORD} benches"}
        ballot["proposals"][0]["summary"] = {"en": f"All {LONG_WORD} parks."}
        route.fulfill(response=answer, body=json.dumps(ballot))

    page.route(re.compile(r".*/ballot$"), long_titles)
    open_page(page, "ballot")
    expect(page.locator("#proposals")).to_contain_text(LONG_WORD)
    width = "() => [document.scrollingElement.scrollWidth, innerWidth]"
    scroll, client = page.evaluate(width)
    assert scroll <= client, f"{scroll} px of content in a {client} px window"

    # AND the review step, which lists the title again
    choose(page, f"New {LONG_WORD} benches")
    fill_about_you(page, new_voter_id())
    page.locator("#review-button").click()
    expect(page.locator("#review-list")).to_contain_text(LONG_WORD)
    scroll, client = page.evaluate(width)
    assert scroll <= client, f"review: {scroll} px in a {client} px window"
    # AND the two review buttons are apart on a phone
    edit = page.locator("#edit-button").bounding_box()
    cast_box = page.locator("#cast-button").bounding_box()
    gap = cast_box["y"] - (edit["y"] + edit["height"])
    assert gap >= 8, f"only {gap} px between the review buttons"


def test_next_voter_starts_in_the_staff_language(new_page):
    page = new_page(goto=False, service_workers="block")
    # GIVEN staff who turn event mode on while the site is in Spanish
    open_page(page, "ballot", "es")
    page.locator('label[for="kiosk-toggle"]').click()
    # WHEN a voter switches to Vietnamese, casts and presses Next voter
    page.locator("#lang-select").select_option("vi")
    page.locator("#lang-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    cast(page, new_voter_id(), "Library laptops", "vi")
    page.locator("#next-voter").click()
    page.wait_for_url("**/ballot.html")
    # THEN the next voter sees the staff's Spanish, not the last voter's language
    wait_until_rendered(page, "ballot", "es")
    expect(page.locator("#ballot-heading")).to_have_text(
        catalog("es")["ballot.heading"]
    )


def test_a_closed_ballot_links_to_the_timeline_and_results(browser, results_site_url):
    context = browser.new_context(base_url=results_site_url)
    try:
        page = context.new_page()
        page.goto("/ballot.html")
        links = page.locator("#closed-links")
        expect(links).to_be_visible()
        expect(page.locator("#page-status")).to_contain_text(EN["ballot.not_open"])
        timeline = links.get_by_role("link", name=EN["ballot.see_timeline"])
        expect(timeline).to_have_attribute("href", "index.html#timeline-section")
        results = links.get_by_role("link", name=EN["home.cta_results"])
        expect(results).to_have_attribute("href", "results.html")
        results.click()
        page.wait_for_url("**/results.html")
    finally:
        context.close()


def test_every_language_shows_dollars_with_a_plain_sign(new_page):
    page = new_page(goto=False)
    for language in ("en", "es", "ht", "vi", "zh-Hans", "pt", "kea"):
        open_page(page, "home", language)
        budget = page.locator("#budget").inner_text()
        assert "$" in budget and "US$" not in budget, (language, budget)


def test_titles_and_the_intro_use_the_bundled_sans(new_page):
    page = new_page(goto=False)
    open_page(page, "ballot")
    fonts = page.evaluate(
        """() => ['#proposals .usa-card__heading', '#instructions'].map(
            (s) => getComputedStyle(document.querySelector(s)).fontFamily)"""
    )
    for family in fonts:
        assert family.startswith('"Source Sans Pro Web"'), fonts
        assert "Merriweather" not in family and "Georgia" not in family, fonts
