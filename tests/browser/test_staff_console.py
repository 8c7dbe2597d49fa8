"""The staff console in a real Chromium: sign-in through the local staff pool
(moto's Cognito), the dashboard, phase controls with a confirmation step, the
audit log, accessibility in every language and the 320 px layout.

Phase changes run on throwaway cycles stored next to the shared one (not
current, so the public site never shows them) and reached with
``dashboard.html?cycle=ID``: the shared voting cycle other tests vote in is
never moved.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.request
from datetime import UTC, datetime

import boto3
import pytest

from chalicelib.clock import close_due_phases
from chalicelib.cycle import Phase
from pbctl.commands.stafftoken import sign_in
from pbctl.localrun import HOST, request
from tests.browser.conftest import PROPOSALS, XSS_TITLE
from tests.browser.pages import (
    LANGUAGES,
    add_axe,
    axe_violations,
    catalog,
    describe_violations,
    message,
)
from tests.functional.conftest import small_cycle

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

ADMIN = "console-admin"
VOLUNTEER = "console-volunteer"
TOKEN_KEY = "pb.staff.token"


# Steps ------------------------------------------------------------------------


def wait_for_language(page, language: str) -> None:
    page.locator("#lang-select option").nth(len(LANGUAGES) - 1).wait_for(
        state="attached"
    )
    page.wait_for_function(
        "code => document.documentElement.lang === code", arg=language
    )


def set_language(page, language: str) -> None:
    if page.url == "about:blank":
        page.goto("/staff/")
    page.evaluate("code => localStorage.setItem('pb.lang', code)", language)


def staff_sign_in(page, username: str, password: str, language: str = "en") -> None:
    """Signs in on the sign-in page and waits for the dashboard's figures."""
    set_language(page, language)
    page.goto("/staff/")
    wait_for_language(page, language)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#sign-in-button").click()
    page.wait_for_url("**/staff/dashboard.html")
    expect(page.locator("#dashboard")).to_be_visible()


def open_dashboard(page, cycle_id: str | None = None, language: str = "en") -> None:
    set_language(page, language)
    page.goto("/staff/dashboard.html" + (f"?cycle={cycle_id}" if cycle_id else ""))
    wait_for_language(page, language)
    expect(page.locator("#dashboard")).to_be_visible()


def api_token(local_stack, username: str, password: str) -> str:
    cognito = boto3.client("cognito-idp")
    return sign_in(cognito, local_stack.outputs["UserPoolClientId"], username, password)


@pytest.fixture
def throwaway_cycle(local_stack):
    """Return ``make(cycle_id)``: a small cycle in voting, not the current one."""

    def make(cycle_id: str) -> str:
        store = local_stack.services.store
        now = datetime.now(UTC)
        cycle = dataclasses.replace(small_cycle(now, cycle_id=cycle_id), name=cycle_id)
        store.create_cycle(cycle, actor="test", now=now, make_current=False)
        close_due_phases(store, now=now, on_voting_closed=lambda c: "")
        assert store.get_cycle(cycle_id).phase is Phase.VOTING
        return cycle_id

    return make


# Signing in -------------------------------------------------------------------


def test_the_right_password_signs_in_and_sign_out_forgets_the_token(
    new_page, staff_accounts
):
    page = new_page("/staff/")

    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    expect(page.locator("#staff-who")).to_have_text(f"Signed in as staff:{ADMIN}")
    token = page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')")
    assert token and token.count(".") == 2, "an access token (a JWT) is kept"
    assert page.evaluate("() => Object.keys(localStorage)") == ["pb.lang"]

    page.locator("#sign-out").click()
    page.wait_for_url("**/staff/index.html")
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None
    page.goto("/staff/dashboard.html")
    page.wait_for_url("**/staff/index.html")
    assert not page.record.errors


def test_a_wrong_password_is_refused_with_an_error(new_page, staff_accounts):
    page = new_page("/staff/")
    wait_for_language(page, "en")

    page.locator("#username").fill(ADMIN)
    page.locator("#password").fill(staff_accounts[ADMIN] + "-wrong")
    page.locator("#sign-in-button").click()

    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.sign_in_failed")
    )
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#password")).to_be_focused()
    assert page.url.endswith("/staff/")
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_a_401_clears_the_token_and_asks_to_sign_in_again(new_page):
    page = new_page("/staff/")
    page.evaluate(f"() => sessionStorage.setItem('{TOKEN_KEY}', 'not.a.token')")

    page.goto("/staff/dashboard.html")

    page.wait_for_url("**/staff/index.html")
    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.signed_out_expired")
    )
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None


# The dashboard ----------------------------------------------------------------


def test_the_dashboard_shows_phase_and_turnout_but_no_count_per_proposal(
    new_page, staff_accounts, cast_via_api, local_stack, cycle
):
    # GIVEN two more ballots in the shared voting cycle
    for selections in (["p1", "p2"], ["p4"]):
        status, body = cast_via_api(selections)
        assert status == 201, body
    total = len(local_stack.services.store.turnout(cycle.cycle_id))
    page = new_page("/staff/")

    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    expect(page.locator("#cycle-name")).to_have_text(cycle.name)
    expect(page.locator("#current-phase")).to_have_text("Current phase: Voting")
    expect(page.locator("#turnout-total")).to_have_text(f"{total} ballots cast")
    expect(page.locator("#by-channel tbody tr")).to_have_text(re.compile(r"Online"))
    expect(page.locator("#by-channel tbody td")).to_have_text(str(total))
    expect(page.locator("#by-neighbourhood tbody")).to_contain_text("Prefer not")
    # the calendar has every phase, the current one marked
    current = page.locator("#calendar li[aria-current=step]")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-phase", "voting")
    expect(page.locator("#calendar li")).to_have_count(len(cycle.calendar))
    # the controls offer the next step
    expect(page.locator("#phase-button")).to_have_text(
        "Close Voting and open Counting the votes"
    )
    # AND no proposal, and no count of votes for one, is anywhere on the page
    text = page.locator("body").inner_text()
    for proposal in PROPOSALS:
        assert proposal.title["en"] not in text
        assert proposal.proposal_id not in re.findall(r"\bp\d\b", text)
    assert XSS_TITLE not in text
    assert not re.search(
        r"\bvotes? for\b",
        text.replace(message("en", "staff.turnout_note"), ""),
        re.IGNORECASE,
    )
    assert not page.record.errors and not page.record.console_errors


def test_a_volunteer_sees_the_figures_but_no_controls_or_audit(
    new_page, staff_accounts
):
    page = new_page("/staff/")

    staff_sign_in(page, VOLUNTEER, staff_accounts[VOLUNTEER])

    expect(page.locator("#turnout-total")).to_be_visible()
    expect(page.locator("#phase-section")).to_be_hidden()
    expect(page.locator("#audit-section")).to_be_hidden()


# Phase controls and the audit log ----------------------------------------------


def test_a_phase_change_needs_a_reason_and_a_confirmation_and_is_audited(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-move")
    store = local_stack.services.store
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])
    open_dashboard(page, cycle_id)
    expect(page.locator("#cycle-name")).to_have_text(cycle_id)
    dialog = page.locator("#confirm-dialog")

    # WHEN the move is asked for without a reason, THEN nothing is asked or sent
    page.locator("#phase-button").click()
    expect(page.locator("#reason-error")).to_be_visible()
    expect(page.locator("#reason")).to_be_focused()
    expect(dialog).to_be_hidden()

    # WHEN a reason is given, THEN the dialog shows from -> to, and Cancel keeps it
    page.locator("#reason").fill("Closing early for the browser test")
    page.locator("#phase-button").click()
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text(
        "from Voting to Counting the votes"
    )
    page.locator("#cancel-button").click()
    expect(dialog).to_be_hidden()
    assert store.get_cycle(cycle_id).phase is Phase.VOTING

    # WHEN it is confirmed (twice, quickly), THEN the cycle moves one step only
    page.locator("#phase-button").click()
    confirm = page.locator("#confirm-button")
    confirm.click()
    confirm.dispatch_event("click")  # a second click must not move it again
    expect(page.locator("#phase-status")).to_have_text(
        "The cycle moved from Voting to Counting the votes."
    )
    expect(page.locator("#current-phase")).to_have_text(
        "Current phase: Counting the votes"
    )
    assert store.get_cycle(cycle_id).phase is Phase.TALLY

    # AND the audit log shows the change with its actor and reason
    page.locator("#audit-button").click()
    row = page.locator("#audit-table tbody tr[data-action=phase_changed]").last
    expect(row).to_contain_text("Phase changed: Voting → Counting the votes")
    expect(row).to_contain_text(f"staff:{ADMIN}")
    expect(row).to_contain_text("Closing early for the browser test")
    download = page.locator("#audit-download")
    expect(download).to_be_visible()
    expect(download).to_have_attribute("href", re.compile(r"^blob:"))
    with page.expect_download() as caught:
        download.click()
    saved = caught.value
    assert saved.suggested_filename == f"audit-{cycle_id}.csv"
    csv = open(saved.path(), encoding="utf-8").read()
    assert csv.startswith("entry_id,at,actor,action,reason,before,after")
    assert "Closing early for the browser test" in csv
    assert not page.record.errors


def test_a_change_made_meanwhile_is_refused_in_plain_words(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-stale")
    store = local_stack.services.store
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])
    open_dashboard(page, cycle_id)
    page.locator("#reason").fill("Second try")
    page.locator("#phase-button").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()

    # GIVEN someone else moves the cycle while the dialog is open
    token = api_token(local_stack, ADMIN, staff_accounts[ADMIN])
    version = store.get_cycle(cycle_id).version
    status, body = request(
        HOST,
        local_stack.api_port,
        "POST",
        f"/staff/cycles/{cycle_id}/phase",
        body={"action": "advance", "reason": "elsewhere", "version": version},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 200, body
    moved_to = store.get_cycle(cycle_id)

    page.locator("#confirm-button").click()

    expect(page.locator("#phase-status")).to_have_text(
        message("en", "staff.error_stale")
    )
    expect(page.locator("#current-phase")).to_have_text(
        "Current phase: Counting the votes"
    )
    after = store.get_cycle(cycle_id)
    assert (after.phase, after.version) == (moved_to.phase, moved_to.version)


# Accessibility, languages, small screens, policy ----------------------------------


def staff_views(page, staff_accounts, language: str):
    """Each staff view in ``language``: (name, page state ready for a check)."""
    set_language(page, language)
    page.evaluate(f"() => sessionStorage.removeItem('{TOKEN_KEY}')")
    page.goto("/staff/")
    wait_for_language(page, language)
    yield "sign-in"
    page.locator("#sign-in-button").click()  # empty: the error state
    expect(page.locator("#page-status .usa-alert")).to_be_visible()
    yield "sign-in error"
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN], language)
    yield "dashboard"
    page.locator("#audit-button").click()
    expect(page.locator("#audit-wrap")).to_be_visible()
    page.locator("#phase-button").click()  # no reason: the error state
    expect(page.locator("#reason-error")).to_be_visible()
    yield "dashboard with audit log and reason error"
    page.locator("#reason").fill("axe")
    page.locator("#phase-button").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    yield "confirmation dialog"
    page.locator("#cancel-button").click()


def test_axe_finds_nothing_on_the_staff_pages_in_any_language(new_page, staff_accounts):
    page = new_page(goto=False)
    add_axe(page.context)

    failures = []
    for language in LANGUAGES:
        for view in staff_views(page, staff_accounts, language):
            if violations := axe_violations(page):
                failures.append(describe_violations(f"{view} [{language}]", violations))
        # every staff string shown is the language's own, never an English fallback
        assert not page.locator("main [lang=en]").count() or language == "en"
        expect(page.locator("h1")).to_have_text(
            catalog(language)["staff.dashboard_heading"]
        )

    assert not failures, "axe-core violations:\n" + "\n".join(failures)


def test_nothing_on_the_staff_pages_scrolls_sideways_at_320_px(
    new_page, staff_accounts
):
    page = new_page(goto=False, viewport={"width": 320, "height": 640})

    wide = []
    for language in LANGUAGES:
        for view in staff_views(page, staff_accounts, language):
            scroll, client = page.evaluate(
                "() => [document.scrollingElement.scrollWidth,"
                " document.scrollingElement.clientWidth]"
            )
            if scroll > client:
                wide.append(f"{view} [{language}]: {scroll} px > {client} px")

    assert not wide, "horizontal scroll at 320 px:\n" + "\n".join(wide)


def test_staff_pages_are_served_under_a_policy_that_allows_the_sign_in(
    site, site_url, local_stack
):
    pages = sorted((site.dist / "staff").glob("*.html"))
    assert [p.name for p in pages] == ["dashboard.html", "index.html"]
    for page in pages:
        with urllib.request.urlopen(f"{site_url}/staff/{page.name}") as answer:
            policy = answer.headers["Content-Security-Policy"]
        rules = dict(
            (part.split()[0], part.split()[1:])
            for part in policy.split(";")
            if part.strip()
        )
        assert rules["script-src"] == ["'self'"], page.name
        assert "'unsafe-inline'" not in policy
        assert local_stack.aws_endpoint in rules["connect-src"], page.name
        assert "<script>" not in page.read_text(encoding="utf-8")
    # and the public precache leaves the console out
    build = json.loads((site.dist / "build.json").read_text(encoding="utf-8"))
    assert "staff/index.html" in build["pages"]
    assert not [entry for entry in build["precache"] if "staff" in entry]
