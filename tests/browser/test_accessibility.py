"""WCAG 2.1 AA in a real Chromium: axe-core, the keyboard, screen reader
semantics, 320 px and 200% zoom."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import SELECTION_LIMIT, new_voter_id, stored_ballot
from tests.browser.pages import (
    LANGUAGES,
    VOTING_PAGES,
    add_axe,
    axe_violations,
    choose,
    describe_violations,
    fill_about_you,
    open_page,
    wait_until_rendered,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


def sweep(page, names, languages, extra=None) -> list[str]:
    """axe on each page in each language; returns readable failures."""
    failures = []
    for language in languages:
        for name in names:
            open_page(page, name, language)
            if violations := axe_violations(page):
                failures.append(describe_violations(f"{name} [{language}]", violations))
            if extra and name in extra:
                failures += extra[name](page, language)
    return failures


def review_step(page, language: str) -> list[str]:
    """The ballot's second step, with two choices made and the form filled."""
    labels = page.locator("#proposals .usa-checkbox__label")
    labels.nth(0).click()
    labels.nth(1).click()
    fill_about_you(page, new_voter_id())
    page.locator("#review-button").click()
    expect(page.locator("#review")).to_be_visible()
    failures = []
    if violations := axe_violations(page):
        failures.append(describe_violations(f"ballot review [{language}]", violations))

    # AND the confirmation with a receipt on it
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")
    expect(page.locator("#receipt")).not_to_be_empty()
    if violations := axe_violations(page):
        failures.append(describe_violations(f"receipt [{language}]", violations))
    return failures


def test_axe_finds_nothing_on_any_page_in_any_language(new_page):
    page = new_page(goto=False)
    add_axe(page.context)

    failures = sweep(page, VOTING_PAGES, LANGUAGES, extra={"ballot": review_step})

    assert not failures, "axe-core violations (WCAG 2.0/2.1 A, AA):\n" + "\n".join(
        failures
    )


def test_axe_finds_nothing_on_published_results(browser, results_site_url):
    context = browser.new_context(base_url=results_site_url)
    try:
        add_axe(context)
        page = context.new_page()

        failures = sweep(page, ["home", "results"], LANGUAGES)

        assert not failures, "axe-core violations:\n" + "\n".join(failures)
        expect(page.locator("#funded-list li")).to_have_count(4)
        expect(page.locator("#chart svg[role=img]")).to_have_count(1)
    finally:
        context.close()


# Keyboard only.


FOCUS_STATE = """() => {
    // A ring is an outline or a box shadow on the focused element, or, for
    // a native box that USWDS hides off-screen, on its label or the box the
    // label draws (::before).
    const node = document.activeElement;
    const ringed = (style) =>
        (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) ||
        (style.boxShadow !== "none" && style.boxShadow !== "");
    const styles = [getComputedStyle(node)];
    for (const label of node.labels || []) {
        styles.push(getComputedStyle(label), getComputedStyle(label, "::before"));
    }
    return {id: node.id, ring: styles.some(ringed)};
}"""


def tab_to(page, element_id: str, limit: int = 60) -> None:
    """Presses Tab until ``element_id`` has focus, and checks the focus shows."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if state["id"] == element_id:
            assert state["ring"], f"#{element_id} has the focus but shows no ring"
            return
    raise AssertionError(f"#{element_id} never took the focus with Tab")


def test_a_whole_vote_with_the_keyboard_alone(new_page, local_stack, cycle):
    page = new_page("/ballot.html")
    wait_until_rendered(page, "ballot")
    voter = new_voter_id()

    # GIVEN the skip link first, THEN it is visible when focused
    page.keyboard.press("Tab")
    skip = page.locator(".usa-skipnav")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()

    # WHEN two proposals are chosen with Space (USWDS hides the native box,
    # so its label must show the focus)
    for proposal in ("p2", "p5"):
        tab_to(page, f"proposal-{proposal}")
        page.keyboard.press("Space")
    expect(page.locator("#chosen-count")).to_have_text(f"2 of {SELECTION_LIMIT} chosen")

    # AND the form is filled from the keyboard
    tab_to(page, "resident")
    page.keyboard.press("Space")
    tab_to(page, "age")
    page.keyboard.type("34")
    # (the ways of proving who you are are one radio group: Tab reaches its
    # first, the arrows move along it and choose)
    tab_to(page, "method-sms")
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    expect(page.locator("#method-attested")).to_be_checked()
    tab_to(page, "voter-id")
    page.keyboard.type(voter)
    tab_to(page, "review-button")
    page.keyboard.press("Enter")

    # THEN the review takes the focus, and Cast is reached by Tab
    expect(page.locator("#review")).to_be_visible()
    expect(page.locator("#review-heading")).to_be_focused()
    tab_to(page, "cast-button")
    page.keyboard.press("Enter")

    page.wait_for_url("**/confirmation.html")
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$"))
    stored = stored_ballot(local_stack, cycle.cycle_id, receipt.inner_text())
    assert stored is not None and sorted(stored.selections) == ["p2", "p5"]


def test_the_language_switcher_works_from_the_keyboard(new_page):
    page = new_page("/")
    wait_until_rendered(page, "home")

    tab_to(page, "lang-select")
    page.keyboard.press("End")  # the last language, Kabuverdianu
    page.keyboard.press("Tab")
    expect(page.locator("#lang-form button[type=submit]")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("html")).to_have_attribute("lang", "kea")


# What a screen reader is told.


def test_each_choice_names_its_title_and_cost_and_exposes_its_state(new_page):
    page = new_page("/ballot.html")
    wait_until_rendered(page, "ballot")

    box = page.get_by_role("checkbox", name="Choose Library laptops")
    expect(box).to_have_accessible_name(
        "Choose Library laptops Estimated cost: $500,000"
    )
    for title, cost in (
        ("Bike racks downtown", "$150,000"),
        ("Splash pad", "$900,000"),
    ):
        expect(
            page.get_by_role("checkbox", name=re.compile(title))
        ).to_have_accessible_name(re.compile(rf"{title}.*{re.escape(cost)}"))

    expect(box).not_to_be_checked()
    choose(page, "Library laptops")
    expect(box).to_be_checked()
    choose(page, "Bike racks downtown")

    region = page.locator("#ballot-tally")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region).to_contain_text(f"2 of {SELECTION_LIMIT} chosen")
    expect(region).to_contain_text("$650,000")
    snapshot = page.locator("#proposals").aria_snapshot()
    assert re.search(r'checkbox "Choose Library laptops[^"]*" \[checked\]', snapshot)
    assert re.search(r'checkbox "Choose Splash pad[^"]*"(?! \[checked\])', snapshot)


# Small screens and zoom.


def no_horizontal_scroll(page) -> tuple[int, int]:
    return page.evaluate(
        "() => [document.scrollingElement.scrollWidth,"
        " document.scrollingElement.clientWidth]"
    )


def test_nothing_scrolls_sideways_at_320_px(new_page, browser, results_site_url):
    page = new_page(goto=False, viewport={"width": 320, "height": 640})
    results = browser.new_context(
        base_url=results_site_url, viewport={"width": 320, "height": 640}
    )
    try:
        wide = []
        pages = [(page, name) for name in VOTING_PAGES]
        pages.append((results.new_page(), "results"))
        for on, name in pages:
            for language in LANGUAGES:
                open_page(on, name, language)
                scroll, client = no_horizontal_scroll(on)
                if scroll > client:
                    wide.append(f"{name} [{language}]: {scroll} px > {client} px")
        assert not wide, "horizontal scroll at 320 px:\n" + "\n".join(wide)
    finally:
        results.close()


def test_the_ballot_is_usable_at_200_percent_zoom(new_page):
    # A 1280 x 800 window at 200% lays out in 640 x 400 CSS px, drawn with two
    # device pixels per CSS pixel. (CSS zoom on a wide viewport is no stand-in:
    # media queries still see 1280 px, so the narrow layout never applies.)
    page = new_page(
        goto=False, viewport={"width": 640, "height": 400}, device_scale_factor=2
    )
    open_page(page, "ballot")

    choose(page, "Library laptops")
    fill_about_you(page, new_voter_id())
    page.locator("#review-button").click()
    cast = page.locator("#cast-button")
    cast.scroll_into_view_if_needed()
    expect(cast).to_be_visible()
    expect(cast).to_be_in_viewport()
    expect(cast).to_be_enabled()
    scroll, client = no_horizontal_scroll(page)
    assert scroll <= client, f"{scroll} px of content in a {client} px window"
