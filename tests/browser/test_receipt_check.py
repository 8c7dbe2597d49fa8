"""The results page checks a receipt on the device: a real one is found, a
wrong one is not, a malformed one is refused, and nothing of the receipt
ever leaves the browser. In every language, and clean under axe-core."""

from __future__ import annotations

import hashlib

import pytest

from tests.browser.pages import (
    LANGUAGES,
    add_axe,
    axe_violations,
    describe_violations,
    message,
    open_page,
)
from tests.browser.results_stack import BALLOTS

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

#: Well formed (24 of A-Z, 2-7) but handed to no voter.
WRONG = "ABCD-EFGH-IJKL-MNOP-QRST-2345"


@pytest.fixture
def results_page(browser, results_site):
    context = browser.new_context(base_url=results_site.url)
    add_axe(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(f"{request.url} {request.post_data or ''}"),
    )
    page.sent = sent
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def check(page, typed: str) -> None:
    page.locator("#receipt-input").fill(typed)
    page.locator("#receipt-button").click()


def answer(page):
    return page.locator("#receipt-answer .usa-alert__text").first


def test_a_real_receipt_is_found_and_a_wrong_one_is_not(results_page, results_site):
    page = results_page
    receipt = results_site.receipts[0]
    assert len(results_site.receipts) == len(BALLOTS)
    open_page(page, "results")
    found = message("en", "results.check_found", count=len(BALLOTS))

    # WHEN the voter types their receipt, lower case and without dashes
    check(page, receipt.replace("-", "").lower())

    # THEN it is found, in a status region a screen reader announces
    expect(answer(page)).to_have_text(found)
    expect(page.locator("#receipt-answer")).to_have_attribute("role", "status")
    expect(page.locator("#receipt-answer .usa-alert--success")).to_have_count(1)
    expect(page.locator("#receipt-what")).to_have_text(
        message("en", "results.check_what")
    )

    # WHEN a receipt no voter was given is typed, THEN it is not found
    check(page, WRONG)
    expect(answer(page)).to_have_text(message("en", "results.check_not_found"))
    expect(page.locator("#receipt-answer .usa-alert--warning")).to_have_count(1)

    # WHEN something that cannot be a receipt is typed, THEN the field says so
    check(page, "ABCD-EFGH-1234")
    expect(page.locator("#error-receipt")).to_have_text(
        message("en", "results.check_invalid")
    )
    expect(page.locator("#receipt-input")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#receipt-input")).to_be_focused()
    expect(page.locator("#receipt-answer")).to_be_empty()

    # AND a good receipt afterwards clears the error
    check(page, receipt)
    expect(answer(page)).to_have_text(found)
    expect(page.locator("#error-receipt")).to_be_hidden()

    # Neither the receipts nor their hashes were ever sent: only the public
    # list was fetched, once.
    hashes = [hashlib.sha256(r.encode()).hexdigest() for r in (receipt, WRONG)]
    for secret in [receipt, receipt.replace("-", ""), WRONG, *hashes]:
        assert not any(secret.lower() in s.lower() for s in page.sent), secret
    assert sum("/results/files/receipts.txt" in s for s in page.sent) == 1
    assert page.errors == []


def test_the_check_speaks_every_language_and_axe_finds_nothing(
    results_page, results_site
):
    page = results_page
    receipt = results_site.receipts[-1]
    failures = []
    for language in LANGUAGES:
        open_page(page, "results", language)
        check(page, WRONG)
        expect(answer(page)).to_have_text(message(language, "results.check_not_found"))
        check(page, receipt)
        expect(answer(page)).to_have_text(
            message(language, "results.check_found", count=len(BALLOTS))
        )
        expect(page.locator("#check-heading")).to_have_text(
            message(language, "results.check_heading")
        )
        if violations := axe_violations(page):
            failures.append(describe_violations(f"found [{language}]", violations))
        check(page, "not a receipt")
        expect(page.locator("#error-receipt")).to_be_visible()
        if violations := axe_violations(page):
            failures.append(describe_violations(f"invalid [{language}]", violations))

    assert not failures, "axe-core violations:\n" + "\n".join(failures)


def test_the_published_files_are_listed_with_their_digests(results_page):
    page = results_page
    open_page(page, "results")

    links = page.locator("#files-list a")
    expect(links).to_have_text(
        ["ballots.csv", "ballots.pb", "receipts.txt", "result.csv"]
    )
    href = links.nth(2).get_attribute("href")
    assert href.endswith("/results/files/receipts.txt")
    body = page.request.get(href).body()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    expect(page.locator("#files-list li").nth(2)).to_contain_text(digest)
