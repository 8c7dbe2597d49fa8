"""The seven languages: the switcher, the catalogs, Intl formatting and the
English fallback for proposal texts."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import new_voter_id, stored_ballot
from tests.browser.pages import (
    LANGUAGES,
    catalog,
    choose,
    fill_about_you,
    message,
    open_page,
    wait_until_rendered,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

#: The locales the site formats with, first supported wins (Chromium's ICU has
#: no Haitian Creole or Kabuverdianu data, hence the neighbours).
FORMAT_LOCALES = {
    "en": ["en-US"],
    "es": ["es-US", "es"],
    "ht": ["ht-HT", "fr-HT", "fr"],
    "vi": ["vi-VN", "vi"],
    "zh-Hans": ["zh-Hans-CN", "zh-CN", "zh"],
    "pt": ["pt-BR", "pt"],
    "kea": ["kea-CV", "pt-CV", "pt"],
}

INTL_MONEY = """([candidates, amount]) => {
    const locale = candidates.find(
        (c) => Intl.NumberFormat.supportedLocalesOf([c]).length) || "en-US";
    return new Intl.NumberFormat(locale, {
        style: "currency", currency: "USD", currencyDisplay: "narrowSymbol",
        minimumFractionDigits: 0, maximumFractionDigits: 0,
    }).format(amount);
}"""


def test_a_whole_vote_in_haitian_creole(new_page, local_stack, cycle):
    ht = catalog("ht")
    page = new_page("/")
    wait_until_rendered(page, "home")

    # GIVEN the switcher, WHEN Kreyòl is chosen and applied with the keyboard
    page.locator("#lang-select").select_option("ht")
    page.locator("#lang-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "ht")
    expect(page.locator("#cta")).to_have_text(ht["home.cta_vote"])

    # WHEN the voter follows the call to action and chooses two proposals
    page.locator("#cta").click()
    page.wait_for_url("**/ballot.html")
    wait_until_rendered(page, "ballot", "ht")
    expect(page.locator("#ballot-heading")).to_have_text(ht["ballot.heading"])
    expect(page.locator("#instructions")).to_have_text(
        message("ht", "ballot.instructions", limit=3)
    )
    choose(page, "Library laptops", "ht")
    choose(page, "Splash pad in Mattapan", "ht")
    expect(page.locator("#chosen-count")).to_have_text(
        message("ht", "ballot.chosen_count", count=2, limit=3)
    )

    # AND reviews, with every label of the form in Kreyòl
    for selector, key in (
        ('label[for="resident"]', "ballot.resident"),
        ('label[for="age"]', "ballot.age"),
        ("#verify > legend", "verify.legend"),
        ("#choice-sms label > span:first-child", "verify.method_sms"),
        ('label[for="voter-id"]', "verify.attested_label"),
        ("#review-button", "ballot.review"),
    ):
        expect(page.locator(selector)).to_have_text(ht[key])
    fill_about_you(page, new_voter_id())
    page.get_by_role("button", name=ht["ballot.review"]).click()
    expect(page.locator("#review-heading")).to_have_text(ht["ballot.review_heading"])
    expect(page.locator("#review-list li")).to_have_count(2)

    # THEN casting shows the receipt in Kreyòl, and the store holds the ballot
    page.get_by_role("button", name=ht["ballot.cast"]).click()
    page.wait_for_url("**/confirmation.html")
    expect(page.locator("html")).to_have_attribute("lang", "ht")
    expect(page.get_by_role("heading", level=1)).to_have_text(ht["confirm.heading"])
    expect(page.locator("#confirm-recorded")).to_contain_text(ht["confirm.recorded"])
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$"))
    stored = stored_ballot(local_stack, cycle.cycle_id, receipt.inner_text())
    assert stored is not None
    assert sorted(stored.selections) == ["p2", "p3"]
    assert page.record.errors == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_sets_lang_and_formats_money_with_intl(new_page, language):
    page = new_page(goto=False)
    open_page(page, "ballot", language)

    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.locator("#lang-select")).to_have_value(language)
    assert page.title().startswith(catalog(language)["ballot.heading"])

    # The cost of p5 (150,000 dollars) as Intl in this browser writes it.
    amount = page.evaluate(INTL_MONEY, [FORMAT_LOCALES[language], 150_000])
    assert re.search(r"150\D?000", amount), amount
    card = page.locator(".pb-proposal", has=page.locator("#proposal-p5"))
    expect(card.locator(".pb-proposal__cost")).to_have_text(
        message(language, "ballot.cost", amount=amount)
    )
    choose(page, "Bike racks downtown", language)
    expect(page.locator("#chosen-total")).to_have_text(
        message(language, "ballot.chosen_total", amount=amount)
    )


def card(page, proposal_id: str):
    return page.locator(".pb-proposal", has=page.locator(f"#proposal-{proposal_id}"))


def test_english_stands_in_for_a_missing_translation_with_a_note(new_page):
    page = new_page(goto=False)
    open_page(page, "ballot", "es")
    note = message("es", "common.english_fallback")

    # p1 has Spanish texts: shown in Spanish, with no note
    translated = card(page, "p1")
    expect(translated.locator(".usa-card__heading")).to_have_text(
        "Árboles en Blue Hill Avenue"
    )
    expect(translated.locator(".usa-card__heading")).to_have_attribute("lang", "es")
    expect(translated.locator(".pb-proposal__fallback")).to_have_count(0)

    # p2 has none: its English title is marked as English and noted
    untranslated = card(page, "p2")
    heading = untranslated.locator(".usa-card__heading")
    expect(heading).to_have_text("Library laptops")
    expect(heading).to_have_attribute("lang", "en")
    fallback = untranslated.locator(".pb-proposal__fallback")
    expect(fallback).to_be_visible()
    expect(fallback).to_have_text(note)

    # In English nothing is a fallback
    open_page(page, "ballot", "en")
    expect(page.locator(".pb-proposal__fallback")).to_have_count(0)
