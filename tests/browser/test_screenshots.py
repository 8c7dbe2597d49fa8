"""Screenshots of every page, kept as test artifacts for people to look at.

Written to ``artifacts/screenshots/`` (gitignored): every page in English at
a phone's 360 x 740 and a laptop's 1280 x 800, and the ballot in Chinese and
Vietnamese, whose scripts need fonts the site does not ship.
"""

from __future__ import annotations

import json

import pytest

from pbctl.localrun import ROOT
from tests.browser.pages import PAGES, open_page, png_is_valid

pytestmark = pytest.mark.browser

SHOTS = ROOT / "artifacts" / "screenshots"
SIZES = {"phone": (360, 740), "laptop": (1280, 800)}


def shoot(page, name: str, language: str, size: str) -> None:
    open_page(page, name, language)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    path = SHOTS / f"{name}-{language}-{size}.png"
    page.screenshot(path=str(path), full_page=True)
    assert png_is_valid(path), f"{path} is not a PNG"


@pytest.mark.parametrize("size", SIZES)
def test_every_page_in_english(browser, site_url, results_site_url, cast_via_api, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    contexts = []
    try:
        for base_url in (site_url, results_site_url):
            contexts.append(
                browser.new_context(
                    base_url=base_url, viewport={"width": width, "height": height}
                )
            )
        voting, published = (context.new_page() for context in contexts)
        for name in PAGES:
            if name == "confirmation":
                # The confirmation as a voter sees it: with a real receipt.
                status, receipt = cast_via_api(["p1", "p5"])
                assert status == 201
                voting.goto("/")
                voting.evaluate(
                    "outcome => sessionStorage.setItem('pb.receipt', outcome)",
                    json.dumps({"receipt": receipt}),
                )
            shoot(published if name == "results" else voting, name, "en", size)
    finally:
        for context in contexts:
            context.close()


@pytest.mark.parametrize("language", ["zh-Hans", "vi"])
@pytest.mark.parametrize("size", SIZES)
def test_the_ballot_in_chinese_and_vietnamese(new_page, language, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    page = new_page(goto=False, viewport={"width": width, "height": height})

    shoot(page, "ballot", language, size)
