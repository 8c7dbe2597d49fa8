"""The staff console in a real Chromium: sign-in through the local staff pool
(moto's Cognito) with its challenges (a new password, an MFA code), the
dashboard and its times, phase controls with a confirmation step, refusals
in words, the audit log, accessibility in every language and the 320 px
layout.

Phase changes run on throwaway cycles stored next to the shared one (not
current, so the public site never shows them) and reached with
``dashboard.html?cycle=ID``: the shared voting cycle other tests vote in is
never moved.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib.clock import close_due_phases
from chalicelib.cycle import Phase
from chalicelib.staff import change_phase
from chalicelib.storage.repository import StoredBallot, VoterMark
from pbctl.commands.stafftoken import sign_in
from pbctl.localrun import HOST, request
from pbctl.localstack import create_staff_user, generate_password
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

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

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


def record_ballots(store, cycle_id: str, count: int) -> None:
    """``count`` ballots straight into a cycle that is not the current one
    (the HTTP API casts into the current cycle only), as the cast path
    writes them: voter mark, ballot and idempotency record together."""
    cycle = store.get_cycle(cycle_id)
    now = datetime.now(UTC)
    for _ in range(count):
        tag = uuid.uuid4().hex
        store.record_ballot(
            cycle,
            mark=VoterMark(
                f"{cycle_id}#{tag}", now.date().isoformat(), "online", None, None
            ),
            ballot=StoredBallot(tag, ("p1",), now.date().isoformat()),
            idempotency_id=f"{cycle_id}#{tag}",
            fingerprint=tag,
            expires_at=int(now.timestamp()) + 86_400,
            now=now.timestamp(),
        )


def make_throwaway_cycle(
    local_stack, cycle_id: str, *, ballots: int = 0, timezone: str | None = None
) -> str:
    """A small cycle in voting with ``ballots`` ballots, not the current one."""
    store = local_stack.services.store
    now = datetime.now(UTC)
    cycle = dataclasses.replace(small_cycle(now, cycle_id=cycle_id), name=cycle_id)
    if timezone:
        cycle = dataclasses.replace(cycle, timezone=timezone)
    store.create_cycle(cycle, actor="test", now=now, make_current=False)
    close_due_phases(store, now=now, on_voting_closed=lambda c: "")
    assert store.get_cycle(cycle_id).phase is Phase.VOTING
    record_ballots(store, cycle_id, ballots)
    return cycle_id


@pytest.fixture
def throwaway_cycle(local_stack):
    """Return ``make(cycle_id, ballots=0, timezone=None)``: see
    :func:`make_throwaway_cycle`; the id is made unique per call."""

    def make(cycle_id: str, **options) -> str:
        unique = f"{cycle_id}-{uuid.uuid4().hex[:6]}"
        return make_throwaway_cycle(local_stack, unique, **options)

    return make


def close_voting_early(local_stack, cycle_id: str) -> dict:
    """Staff close voting before its calendar end, by the state machine."""
    store = local_stack.services.store
    version = store.get_cycle(cycle_id).version
    _, transition = change_phase(
        store,
        cycle_id,
        {"action": "close", "phase": "voting", "reason": "early", "version": version},
        actor=f"staff:{ADMIN}",
        now=datetime.now(UTC),
        published=lambda cid: None,
    )
    return transition


def pool_user(local_stack, username: str, *, temporary: str | None = None) -> str:
    """A member of ``office-admin`` in the local pool; returns the password.

    With ``temporary``, the account keeps that temporary password, so its
    first sign-in is answered with NEW_PASSWORD_REQUIRED, as a real pool
    does for an account an administrator created.
    """
    cognito = boto3.client("cognito-idp")
    pool = local_stack.outputs["UserPoolId"]
    if temporary is None:
        password = generate_password()
        create_staff_user(cognito, pool, username, ["office-admin"], password)
        return password
    cognito.admin_create_user(
        UserPoolId=pool,
        Username=username,
        TemporaryPassword=temporary,
        MessageAction="SUPPRESS",
    )
    cognito.admin_add_user_to_group(
        UserPoolId=pool, Username=username, GroupName="office-admin"
    )
    return temporary


def sms_mfa_user(local_stack, username: str) -> str:
    """A member whose sign-in asks for a code sent by text (SMS_MFA)."""
    password = pool_user(local_stack, username)
    boto3.client("cognito-idp").admin_set_user_mfa_preference(
        UserPoolId=local_stack.outputs["UserPoolId"],
        Username=username,
        SMSMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    return password


def totp_mfa_user(local_stack, username: str) -> str:
    """A member with an authenticator app (SOFTWARE_TOKEN_MFA), enrolled as
    a member enrols: sign in, associate the app, verify a code, prefer it."""
    password = pool_user(local_stack, username)
    cognito = boto3.client("cognito-idp")
    access = api_token(local_stack, username, password)
    cognito.associate_software_token(AccessToken=access)
    cognito.verify_software_token(AccessToken=access, UserCode="123456")
    cognito.admin_set_user_mfa_preference(
        UserPoolId=local_stack.outputs["UserPoolId"],
        Username=username,
        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
    )
    return password


def submit_sign_in(page, username: str, password: str) -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#sign-in-button").click()


def plain(text: str) -> str:
    """Text with the no-break spaces ICU puts in dates made plain spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


def en_time(moment: datetime, zone: str) -> str:
    """A time as the console shows it in English: "Mar 1, 2026, 5:00 PM EST"."""
    local = moment.astimezone(ZoneInfo(zone))
    hour = local.hour % 12 or 12
    return (
        f"{local:%b} {local.day}, {local.year}, {hour}:{local:%M} {local:%p} {local:%Z}"
    )


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
    cycle_id = throwaway_cycle("boston-staff-move", ballots=1)
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
    expect(page.locator("#zero-ballots")).to_be_hidden()  # a ballot is recorded
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
    cycle_id = throwaway_cycle("boston-staff-stale", ballots=1)
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
        refusal_text("en", "staff.error_stale", "staff.field_version")
    )
    expect(page.locator("#current-phase")).to_have_text(
        "Current phase: Counting the votes"
    )
    after = store.get_cycle(cycle_id)
    assert (after.phase, after.version) == (moved_to.phase, moved_to.version)


# Early starts, time zones, missing cycles -------------------------------------


def test_an_early_close_shows_when_the_next_phase_started_against_its_plan(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    # GIVEN staff closed voting before its calendar end
    cycle_id = throwaway_cycle("boston-staff-early", ballots=1)
    transition = close_voting_early(local_stack, cycle_id)
    cycle = local_stack.services.store.get_cycle(cycle_id)
    planned = cycle.calendar[Phase.TALLY].start
    assert transition.at < planned
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    open_dashboard(page, cycle_id)

    # THEN the dashboard says the count started early: when, against when planned
    zone = cycle.timezone
    started = page.locator("#phase-started")
    expect(started).to_be_visible()
    assert plain(started.inner_text()) == message(
        "en",
        "staff.phase_started_early",
        phase="Counting the votes",
        time=en_time(transition.at, zone),
        planned=en_time(planned, zone),
    )
    # AND the calendar marks the phase that opened early, and only that one
    early = page.locator("#calendar li .pb-opened-early")
    expect(early).to_have_count(1)
    expect(
        page.locator("#calendar li[data-phase=tally] .pb-opened-early")
    ).to_be_visible()
    assert plain(early.inner_text()) == message(
        "en", "staff.calendar_opened_early", time=en_time(transition.at, zone)
    )


def test_a_phase_the_clock_opened_on_time_is_not_called_early(
    new_page, staff_accounts, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-ontime", ballots=1)
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    open_dashboard(page, cycle_id)

    expect(page.locator("#current-phase")).to_have_text("Current phase: Voting")
    expect(page.locator("#phase-started")).to_be_hidden()
    expect(page.locator("#calendar .pb-opened-early")).to_have_count(0)


def test_every_time_on_the_dashboard_names_the_cycle_time_zone(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    # GIVEN a cycle kept in Los Angeles time, so Boston's zone would be wrong
    cycle_id = throwaway_cycle(
        "boston-staff-zone", ballots=1, timezone="America/Los_Angeles"
    )
    close_voting_early(local_stack, cycle_id)
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    for language, zone_mark in (("en", r"P[DS]T"), ("zh-Hans", r"GMT-[78]")):
        open_dashboard(page, cycle_id, language)
        page.locator("#audit-button").click()
        expect(page.locator("#audit-wrap")).to_be_visible()

        # THEN every time shown carries the cycle's zone, never Boston's
        spans = page.locator("#calendar li p:not(.pb-opened-early)").all_inner_texts()
        times = [
            page.locator("#phase-ends").inner_text(),
            page.locator("#phase-started").inner_text(),
            page.locator("#as-of").inner_text(),
            *page.locator("#calendar li .pb-opened-early").all_inner_texts(),
            *page.locator("#audit-table tbody td:first-child").all_inner_texts(),
        ]
        assert len(spans) == 9 and len(times) > 4
        for text in spans:  # "{start} to {end}": two times, two zones
            assert len(re.findall(zone_mark, text)) == 2, f"[{language}] {text!r}"
        for text in times:
            assert len(re.findall(zone_mark, text)) >= 1, f"[{language}] {text!r}"
        for text in spans + times:
            assert not re.search(r"E[DS]T|GMT-[45]\b", text), text
        # AND the page says once, in words, which zone that is
        expect(page.locator("#times-in")).to_contain_text("America/Los_Angeles")
    expect(page.locator("#times-in")).to_contain_text("太平洋")
    open_dashboard(page, cycle_id, "en")
    expect(page.locator("#times-in")).to_have_text(
        message("en", "staff.times_in", zone="Pacific Time", id="America/Los_Angeles")
    )


@pytest.mark.parametrize("wanted", ["no-such-cycle", "not%20an%20id!"])
def test_a_cycle_id_no_cycle_has_says_cycle_not_found_in_every_language(
    new_page, staff_accounts, wanted
):
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])
    shown = urllib.parse.unquote(wanted)

    for language in LANGUAGES:
        set_language(page, language)
        page.goto(f"/staff/dashboard.html?cycle={wanted}")
        wait_for_language(page, language)

        status = page.locator("#page-status")
        expect(status).to_have_text(
            message(language, "staff.error_cycle_not_found", cycle=shown)
        )
        expect(status.locator(".usa-alert--error")).to_be_visible()
        expect(page.locator("#dashboard")).to_be_hidden()
    assert not page.record.errors


# Refusals in words ----------------------------------------------------------------


def refusal_text(language: str, key: str, field_key: str | None, **params) -> str:
    """What the console shows for a refusal: the sentence, then the field."""
    sentence = message(language, key, **params)
    if field_key is None:
        return sentence
    field = (
        message(language, field_key) if field_key.startswith("staff.") else field_key
    )
    return f"{sentence} {message(language, 'staff.error_field', field=field)}"


def ask_for_move(page, reason: str) -> None:
    page.locator("#reason").fill(reason)
    page.locator("#phase-button").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.locator("#confirm-button").click()


def test_refusals_are_sentences_naming_the_field_in_every_language(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-refused", ballots=1)
    store = local_stack.services.store
    before = store.get_cycle(cycle_id)
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    for language in LANGUAGES:
        open_dashboard(page, cycle_id, language)

        # WHEN the API refuses the reason (a tab is a control character)
        ask_for_move(page, "closing\tnow")

        # THEN its sentence and the field at fault show, in the page's language
        status = page.locator("#phase-status")
        expect(status).to_have_text(
            refusal_text(language, "staff.error_text", "staff.field_reason")
        )
        expect(status.locator("[data-code=INVALID_TEXT]")).to_be_visible()
        expect(page.locator("#reason")).to_have_attribute("aria-invalid", "")
        assert not status.locator("[lang=en]").count() or language == "en"

    # AND nothing moved
    after = store.get_cycle(cycle_id)
    assert (after.phase, after.version) == (before.phase, before.version)
    assert not page.record.errors


def test_a_refusal_with_its_own_field_gets_its_own_sentence(
    new_page, staff_accounts, local_stack
):
    # GIVEN a cycle preparing its ballot with no proposals on it (voting due
    # in a month, so that the phase clock leaves it alone meanwhile)
    store = local_stack.services.store
    now = datetime.now(UTC)
    cycle_id = f"boston-staff-empty-{uuid.uuid4().hex[:6]}"
    empty = dataclasses.replace(
        small_cycle(now + timedelta(days=30), cycle_id=cycle_id),
        name=cycle_id,
        proposals=(),
        phase=Phase.BALLOT_REVIEW,
    )
    store.create_cycle(empty, actor="test", now=now, make_current=False)
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    for language in ("en", "vi"):
        open_dashboard(page, cycle_id, language)
        ask_for_move(page, "open voting")

        # THEN the API's ILLEGAL_TRANSITION on `proposals` is said as such
        expect(page.locator("#phase-status")).to_have_text(
            refusal_text(language, "staff.error_no_proposals", "staff.field_proposals")
        )
    assert store.get_cycle(cycle_id).phase is Phase.BALLOT_REVIEW


def test_an_unknown_refusal_code_falls_back_to_a_generic_sentence_with_the_code(
    new_page, staff_accounts, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-unknown", ballots=1)
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])

    # GIVEN an API that answers a code this console has no words for (the
    # real API has none such, so the answer is made up in the browser)
    def refuse(route):
        route.fulfill(
            status=409,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps(
                {
                    "code": "BRAND_NEW_CODE",
                    "message": "An English sentence the console must not show.",
                    "field": "calendar.voting.end",
                }
            ),
        )

    page.route(re.compile(r".*/staff/cycles/[^/]+/phase$"), refuse)

    for language in ("en", "es", "kea"):
        open_dashboard(page, cycle_id, language)
        ask_for_move(page, "a reason")

        status = page.locator("#phase-status")
        expect(status).to_have_text(
            refusal_text(
                language,
                "staff.error_other",
                "calendar.voting.end",
                code="BRAND_NEW_CODE",
            )
        )
        assert "English sentence" not in status.inner_text()


# Closing voting with no ballots ------------------------------------------------------


def test_closing_voting_with_no_ballots_needs_a_second_explicit_confirmation(
    new_page, staff_accounts, local_stack, throwaway_cycle
):
    cycle_id = throwaway_cycle("boston-staff-empty-vote", ballots=0)
    store = local_stack.services.store
    page = new_page("/staff/")
    staff_sign_in(page, ADMIN, staff_accounts[ADMIN])
    open_dashboard(page, cycle_id)
    expect(page.locator("#turnout-total")).to_have_text("0 ballots cast")

    # WHEN the close is asked for, THEN the dialog warns that nothing was cast
    page.locator("#reason").fill("Nobody came")
    page.locator("#phase-button").click()
    expect(page.locator("#zero-ballots")).to_be_visible()
    expect(page.locator("#zero-ballots .usa-alert")).to_have_text(
        message("en", "staff.zero_ballots_warning")
    )
    tick = page.locator("#zero-ballots-confirm")
    expect(tick).not_to_be_checked()

    # WHEN it is confirmed without the second confirmation, THEN nothing is sent
    sent = []
    page.on(
        "request",
        lambda r: sent.append(r.url) if r.url.endswith("/phase") else None,
    )
    page.locator("#confirm-button").click()
    expect(page.locator("#zero-ballots-error")).to_be_visible()
    expect(page.locator("#zero-ballots-group")).to_have_class(
        re.compile("usa-form-group--error")
    )
    expect(tick).to_be_focused()
    assert not sent
    expect(page.locator("#confirm-dialog")).to_be_visible()
    assert store.get_cycle(cycle_id).phase is Phase.VOTING

    # WHEN the box is ticked too, THEN voting closes
    page.locator("label[for=zero-ballots-confirm]").click()  # USWDS styles the label
    expect(tick).to_be_checked()
    page.locator("#confirm-button").click()
    expect(page.locator("#phase-status")).to_have_text(
        "The cycle moved from Voting to Counting the votes."
    )
    assert store.get_cycle(cycle_id).phase is Phase.TALLY
    assert len(sent) == 1
    assert not page.record.errors


# Sign-in challenges ------------------------------------------------------------------


def test_a_temporary_password_must_be_replaced_at_the_first_sign_in(
    new_page, local_stack
):
    username = f"console-new-{uuid.uuid4().hex[:6]}"
    temporary = pool_user(local_stack, username, temporary=generate_password())
    page = new_page("/staff/")
    wait_for_language(page, "en")

    # WHEN the account signs in with its temporary password
    submit_sign_in(page, username, temporary)

    # THEN the pool's NEW_PASSWORD_REQUIRED shows the new-password form
    form = page.locator("#new-password-form")
    expect(form).to_be_visible()
    expect(page.locator("#sign-in-form")).to_be_hidden()
    expect(page.locator("#new-password")).to_be_focused()
    expect(page.locator("#password")).to_have_value("")
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None

    # WHEN the two passwords differ, THEN the console says so and sends nothing
    fresh = generate_password()
    page.locator("#new-password").fill(fresh)
    page.locator("#new-password-again").fill(fresh + "x")
    page.locator("#new-password-button").click()
    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.new_password_mismatch")
    )
    expect(page.locator("#new-password-again")).to_be_focused()

    # WHEN the pool refuses a weak one, THEN the policy is spelled out
    page.locator("#new-password").fill("weak")
    page.locator("#new-password-again").fill("weak")
    page.locator("#new-password-button").click()
    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.new_password_refused")
    )
    expect(form).to_be_visible()

    # WHEN a good one is set, THEN the member is signed in
    page.locator("#new-password").fill(fresh)
    page.locator("#new-password-again").fill(fresh)
    page.locator("#new-password-button").click()
    page.wait_for_url("**/staff/dashboard.html")
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#staff-who")).to_have_text(f"Signed in as staff:{username}")

    # AND the pool holds the new password: the account is confirmed
    user = boto3.client("cognito-idp").admin_get_user(
        UserPoolId=local_stack.outputs["UserPoolId"], Username=username
    )
    assert user["UserStatus"] == "CONFIRMED"
    assert api_token(local_stack, username, fresh).count(".") == 2
    assert not page.record.errors


@pytest.mark.parametrize(
    ("make_user", "intro"),
    [(sms_mfa_user, "staff.mfa_intro_sms"), (totp_mfa_user, "staff.mfa_intro_totp")],
    ids=["SMS_MFA", "SOFTWARE_TOKEN_MFA"],
)
def test_an_mfa_challenge_asks_for_the_code_and_answers_it(
    new_page, local_stack, make_user, intro
):
    username = f"console-mfa-{uuid.uuid4().hex[:6]}"
    password = make_user(local_stack, username)
    page = new_page("/staff/")
    wait_for_language(page, "en")

    submit_sign_in(page, username, password)

    # THEN the pool's challenge shows the code form, worded for its kind
    expect(page.locator("#mfa-form")).to_be_visible()
    expect(page.locator("#sign-in-form")).to_be_hidden()
    expect(page.locator("#mfa-intro")).to_have_text(message("en", intro))
    expect(page.locator("#mfa-code")).to_be_focused()

    # WHEN no code is given, THEN nothing is sent
    page.locator("#mfa-button").click()
    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.field_required")
    )

    # WHEN the code is given, THEN the answer signs the member in. (moto
    # accepts any code: a wrong one is refused in the test below.)
    page.locator("#mfa-code").fill("123 456")
    page.locator("#mfa-button").click()
    page.wait_for_url("**/staff/dashboard.html")
    expect(page.locator("#dashboard")).to_be_visible()
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')").count(".") == 2


def test_a_wrong_code_is_refused_and_an_expired_challenge_starts_over(
    new_page, local_stack
):
    username = f"console-mfa-{uuid.uuid4().hex[:6]}"
    password = sms_mfa_user(local_stack, username)
    page = new_page("/staff/")
    set_language(page, "es")
    page.goto("/staff/")
    wait_for_language(page, "es")

    # GIVEN a pool that refuses the code, then finds the session expired:
    # moto checks neither, so its answers are replaced in the browser.
    answers = iter(["CodeMismatchException", "NotAuthorizedException"])
    sent = []

    def cognito(route):
        target = route.request.headers.get("x-amz-target", "")
        if not target.endswith("RespondToAuthChallenge"):
            route.continue_()
            return
        sent.append(json.loads(route.request.post_data))
        route.fulfill(
            status=400,
            content_type="application/x-amz-json-1.1",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps({"__type": next(answers), "message": "refused"}),
        )

    page.route(f"{local_stack.aws_endpoint}/**", cognito)
    submit_sign_in(page, username, password)
    expect(page.locator("#mfa-form")).to_be_visible()

    page.locator("#mfa-code").fill("000000")
    page.locator("#mfa-button").click()
    expect(page.locator("#page-status")).to_have_text(message("es", "staff.mfa_wrong"))
    expect(page.locator("#mfa-form")).to_be_visible()
    expect(page.locator("#mfa-code")).to_have_value("")
    assert sent[0]["ChallengeName"] == "SMS_MFA"
    assert sent[0]["ChallengeResponses"] == {
        "USERNAME": username,
        "SMS_MFA_CODE": "000000",
    }

    page.locator("#mfa-code").fill("111111")
    page.locator("#mfa-button").click()
    expect(page.locator("#page-status")).to_have_text(
        message("es", "staff.challenge_expired")
    )
    expect(page.locator("#sign-in-form")).to_be_visible()
    expect(page.locator("#mfa-form")).to_be_hidden()
    expect(page.locator("#password")).to_be_focused()
    assert page.evaluate(f"() => sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_a_challenge_the_console_cannot_answer_is_said_plainly(new_page, local_stack):
    # GIVEN a pool asking to set up MFA (a pool with MFA required does; the
    # local pool's MFA is optional, so the answer is made up in the browser)
    def cognito(route):
        if not route.request.headers.get("x-amz-target", "").endswith("InitiateAuth"):
            route.continue_()
            return
        route.fulfill(
            status=200,
            content_type="application/x-amz-json-1.1",
            headers={"Access-Control-Allow-Origin": "*"},
            body=json.dumps(
                {
                    "ChallengeName": "MFA_SETUP",
                    "Session": "s",
                    "ChallengeParameters": {},
                }
            ),
        )

    page = new_page("/staff/")
    wait_for_language(page, "en")
    page.route(f"{local_stack.aws_endpoint}/**", cognito)

    submit_sign_in(page, ADMIN, "whatever-password")

    expect(page.locator("#page-status")).to_have_text(
        message("en", "staff.sign_in_unsupported")
    )
    expect(page.locator("#sign-in-form")).to_be_visible()
    expect(page.locator("#mfa-form")).to_be_hidden()
    expect(page.locator("#new-password-form")).to_be_hidden()


# Accessibility, languages, small screens, policy ----------------------------------


@dataclasses.dataclass(frozen=True)
class Scenes:
    """What the views below show: accounts whose sign-in is challenged (never
    answered here, so each challenge comes back every time) and cycles."""

    temporary: tuple[str, str]  # username, temporary password
    sms: tuple[str, str]  # username, password
    early_cycle: str  # closed voting early: the count started early
    empty_cycle: str  # in voting with no ballots


@pytest.fixture(scope="module")
def scenes(local_stack) -> Scenes:
    tag = uuid.uuid4().hex[:6]
    temporary = f"console-view-new-{tag}"
    sms = f"console-view-sms-{tag}"
    early = make_throwaway_cycle(local_stack, f"boston-view-early-{tag}", ballots=2)
    close_voting_early(local_stack, early)
    return Scenes(
        temporary=(
            temporary,
            pool_user(local_stack, temporary, temporary=generate_password()),
        ),
        sms=(sms, sms_mfa_user(local_stack, sms)),
        early_cycle=early,
        empty_cycle=make_throwaway_cycle(local_stack, f"boston-view-empty-{tag}"),
    )


def staff_views(page, staff_accounts, scenes: Scenes, language: str):
    """Each staff view in ``language``: (name, page state ready for a check)."""

    def start_over() -> None:
        page.evaluate(f"() => sessionStorage.removeItem('{TOKEN_KEY}')")
        page.goto("/staff/")
        wait_for_language(page, language)

    set_language(page, language)
    start_over()
    yield "sign-in"
    page.locator("#sign-in-button").click()  # empty: the error state
    expect(page.locator("#page-status .usa-alert")).to_be_visible()
    yield "sign-in error"
    submit_sign_in(page, *scenes.temporary)
    expect(page.locator("#new-password-form")).to_be_visible()
    yield "new password"
    page.locator("#new-password").fill("one-password")
    page.locator("#new-password-again").fill("another")
    page.locator("#new-password-button").click()
    expect(page.locator("#page-status .usa-alert")).to_be_visible()
    yield "new password error"
    start_over()
    submit_sign_in(page, *scenes.sms)
    expect(page.locator("#mfa-form")).to_be_visible()
    yield "code"
    page.locator("#mfa-button").click()  # no code: the error state
    expect(page.locator("#page-status .usa-alert")).to_be_visible()
    yield "code error"
    start_over()
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
    open_dashboard(page, scenes.early_cycle, language)
    expect(page.locator("#phase-started")).to_be_visible()
    yield "dashboard of a phase that started early"
    open_dashboard(page, scenes.empty_cycle, language)
    page.locator("#reason").fill("tab\there")  # refused by the API below
    page.locator("#phase-button").click()
    page.locator("#confirm-button").click()  # not ticked: the error state
    expect(page.locator("#zero-ballots-error")).to_be_visible()
    yield "confirmation with no ballots, not ticked"
    page.locator("label[for=zero-ballots-confirm]").click()
    page.locator("#confirm-button").click()
    expect(page.locator("#phase-status [data-code=INVALID_TEXT]")).to_be_visible()
    yield "refusal naming its field"
    page.goto("/staff/dashboard.html?cycle=no-such-cycle")
    wait_for_language(page, language)
    expect(page.locator("#page-status .usa-alert--error")).to_be_visible()
    yield "cycle not found"
    open_dashboard(page, None, language)


def test_axe_finds_nothing_on_the_staff_pages_in_any_language(
    new_page, staff_accounts, scenes
):
    page = new_page(goto=False)
    add_axe(page.context)

    failures = []
    for language in LANGUAGES:
        for view in staff_views(page, staff_accounts, scenes, language):
            if violations := axe_violations(page):
                failures.append(describe_violations(f"{view} [{language}]", violations))
        # every staff string shown is the language's own, never an English fallback
        assert not page.locator("main [lang=en]").count() or language == "en"
        expect(page.locator("h1")).to_have_text(
            catalog(language)["staff.dashboard_heading"]
        )

    assert not failures, "axe-core violations:\n" + "\n".join(failures)


def test_nothing_on_the_staff_pages_scrolls_sideways_at_320_px(
    new_page, staff_accounts, scenes
):
    page = new_page(goto=False, viewport={"width": 320, "height": 640})

    wide = []
    for language in LANGUAGES:
        for view in staff_views(page, staff_accounts, scenes, language):
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
    assert [p.name for p in pages] == [
        "access-codes.html",
        "dashboard.html",
        "index.html",
        "paper.html",
        "vouch.html",
    ]
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
