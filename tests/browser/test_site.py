"""Smoke tests of the participation site in a real Chromium."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    SELECTION_LIMIT,
    XSS_TITLE,
    new_voter_id,
    stored_ballot,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


# USWDS hides the native checkbox off-screen and draws its own box on the
# label, so tests click labels, as people do.


def choose(page, title: str) -> None:
    page.get_by_text(f"Choose {title}", exact=True).click()


def fill_about_you(page, voter: str) -> None:
    page.locator('label[for="resident"]').click()
    page.locator("#age").fill("34")
    page.locator('label[for="method-attested"]').click()
    page.locator("#voter-id").fill(voter)


def test_home_highlights_the_current_phase(new_page):
    page = new_page("/")

    current = page.locator('#timeline [aria-current="step"]')
    expect(current).to_have_count(1)
    expect(current).to_have_class(re.compile("pb-phase--current"))
    expect(current.locator(".usa-process-list__heading")).to_contain_text("Voting")
    expect(current).to_contain_text("current phase")
    expect(page.locator("#current-phase")).to_have_text("Now: Voting")
    expect(page.locator("#cta")).to_have_attribute("href", "ballot.html")
    assert page.record.errors == []


def test_vote_end_to_end_in_english(new_page, local_stack, cycle):
    page = new_page("/ballot.html")

    # GIVEN the ballot; WHEN two proposals are chosen
    choose(page, "Library laptops")
    choose(page, "Bike racks downtown")

    # THEN the live region counts them and totals their cost
    tally = page.locator("#ballot-tally")
    expect(tally).to_have_attribute("aria-live", "polite")
    expect(page.locator("#chosen-count")).to_have_text(f"2 of {SELECTION_LIMIT} chosen")
    expect(page.locator("#chosen-total")).to_have_text(
        "Total cost of your choices: $650,000"
    )

    # WHEN the voter reviews, THEN the review lists exactly the choices
    fill_about_you(page, new_voter_id())
    page.get_by_role("button", name="Review my ballot").click()
    review = page.locator("#review")
    expect(review).to_be_visible()
    expect(page.locator("#review-list li")).to_have_count(2)
    expect(review).to_contain_text("Library laptops")
    expect(review).to_contain_text("$650,000")

    # WHEN cast, THEN the confirmation shows a receipt that the store holds
    page.get_by_role("button", name="Cast my ballot").click()
    page.wait_for_url("**/confirmation.html")
    assert page.record.console == [], page.record.console
    expect(page.get_by_role("heading", name="Thank you for voting!")).to_be_visible()
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$"))
    stored = stored_ballot(local_stack, cycle.cycle_id, receipt.inner_text())
    assert stored is not None
    assert sorted(stored.selections) == ["p2", "p5"]
    assert page.evaluate("localStorage.getItem('pb.queue')") == "[]"
    assert page.record.errors == []


def test_the_selection_limit_cannot_be_passed(new_page):
    page = new_page("/ballot.html")
    boxes = page.locator('#proposals input[name="selection"]')
    labels = page.locator("#proposals .usa-checkbox__label")
    expect(boxes).to_have_count(5)

    for index in range(SELECTION_LIMIT):
        labels.nth(index).click()
    # A click on a disabled choice changes nothing.
    labels.nth(SELECTION_LIMIT).click(force=True)
    expect(boxes.nth(SELECTION_LIMIT)).not_to_be_checked()

    expect(page.locator("#chosen-count")).to_have_text(
        f"{SELECTION_LIMIT} of {SELECTION_LIMIT} chosen"
    )
    for index in range(SELECTION_LIMIT, 5):
        expect(boxes.nth(index)).to_be_disabled()
    expect(page.locator("#limit-note")).to_be_visible()
    expect(page.locator("#limit-note")).to_contain_text(
        f"You have chosen {SELECTION_LIMIT} proposals, the most allowed"
    )
    # Unchoosing one frees the others again.
    labels.nth(0).click()
    expect(boxes.nth(4)).to_be_enabled()
    expect(page.locator("#limit-note")).to_be_hidden()


def test_an_html_title_shows_as_literal_text(new_page):
    page = new_page("/ballot.html")

    heading = page.locator(".usa-card__heading", has_text=XSS_TITLE)
    expect(heading).to_have_count(1)
    expect(heading).to_have_text(XSS_TITLE)
    assert page.locator("#proposals img").count() == 0
    choose(page, XSS_TITLE)
    expect(page.locator("#chosen-count")).to_contain_text("1 of")
    page.wait_for_timeout(300)
    assert page.record.dialogs == []


def test_haitian_creole_is_applied_and_remembered(new_page):
    page = new_page("/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.locator("#lang-select").select_option("ht")
    page.locator("#lang-form button[type=submit]").click()

    expect(page.locator("html")).to_have_attribute("lang", "ht")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    assert page.evaluate("localStorage.getItem('pb.lang')") == "ht"
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "ht")
    expect(page.locator("#lang-select")).to_have_value("ht")
    page.goto("/ballot.html")
    expect(page.locator("html")).to_have_attribute("lang", "ht")
