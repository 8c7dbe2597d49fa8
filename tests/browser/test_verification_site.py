"""Proving who you are on the site, in a real Chromium against the local stack.

The browser cycle offers every way (``sms``, ``email``, ``access_code``,
``in_person`` and ``attested``). Codes sent by text or email are read from
what the moto server recorded, through its ``/moto-api/data.json`` (SNS's
``SMS`` and SES's ``Message`` models), so every flow runs for real: the page
sends, the test reads the code moto was asked to deliver, the page checks it
and casts with the voter pass. Access codes come from a batch made as the
staff route makes one; vouching goes through ``staff/vouch.html`` signed in
as an event volunteer of the local staff pool.

Sends from the page all come from one client address, which may ask for 20
codes an hour (``PB_RATE_SENDS_PER_CLIENT``): the tests here ask for about
ten, each to a phone or email of its own.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib import accesscodes, codebatches, passes
from chalicelib.verification import find_code
from pbctl.commands.stafftoken import sign_in
from pbctl.localrun import HOST, request
from tests.browser.conftest import stored_ballot
from tests.browser.pages import (
    LANGUAGES,
    add_axe,
    axe_violations,
    catalog,
    choose,
    describe_violations,
    message,
    open_page,
    stored_count,
    wait_until_rendered,
)

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect

EN = catalog("en")
VOLUNTEER = "console-volunteer"
RECEIPT = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$")
STORAGE_DUMP = """() => JSON.stringify({
    local: Object.fromEntries(Object.entries(localStorage)),
    session: Object.fromEntries(Object.entries(sessionStorage)),
})"""


# What moto was asked to deliver ----------------------------------------------


def moto_models(local_stack) -> dict:
    """Every model moto's server tracks, as its /moto-api/data.json lists them."""
    url = f"{local_stack.aws_endpoint}/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback)
        return json.load(answer)


def texts_to(local_stack, e164: str) -> list[str]:
    return [
        sms["message"]
        for sms in moto_models(local_stack)["sns"]["SMS"]
        if sms["phone_number"] == e164
    ]


def emails_to(local_stack, address: str) -> list[dict]:
    return [
        mail
        for mail in moto_models(local_stack)["ses"]["Message"]
        if address in mail["destinations"].get("ToAddresses", [])
    ]


def wait_for(condition, timeout: float = 10.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def last_text_code(local_stack, e164: str, count: int = 1) -> str:
    texts = wait_for(
        lambda: (t := texts_to(local_stack, e164)) and len(t) >= count and t,
        what=f"text {count} to {e164}",
    )
    return find_code(texts[-1])


def new_phone() -> tuple[str, str]:
    """A phone no test has used, as typed and in E.164."""
    line = int(uuid.uuid4().hex[:8], 16) % 10_000
    exchange = 200 + int(uuid.uuid4().hex[:4], 16) % 800
    return f"(617) {exchange} {line:04d}", f"+1617{exchange}{line:04d}"


def new_email() -> str:
    return f"v{uuid.uuid4().hex[:12]}@example.org"


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# Steps on the page -----------------------------------------------------------


def about_you(page, language: str = "en") -> None:
    page.locator("#proposals input[name=selection]").first.wait_for()
    choose(page, "Library laptops", language)
    page.locator('label[for="resident"]').click()
    page.locator("#age").fill("34")


def pick(page, method: str) -> None:
    page.locator(f'label[for="method-{method}"]').click()


def send_code(page, method: str, contact: str) -> None:
    pick(page, method)
    page.locator("#verify-contact").fill(contact)
    page.locator("#send-code").click()
    expect(page.locator("#code-step")).to_be_visible()


def check_code(page, code: str) -> None:
    page.locator("#verify-code").fill(code)
    page.locator("#check-code").click()


def review_and_cast(page) -> str:
    page.locator("#review-button").click()
    expect(page.locator("#review")).to_be_visible()
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(RECEIPT)
    return receipt.inner_text()


def storage(page) -> str:
    return page.evaluate(STORAGE_DUMP)


def switch_language(page, language: str) -> None:
    page.locator("#lang-select").select_option(language)
    page.locator("#lang-form button[type=submit]").click()
    page.wait_for_function(
        "code => document.documentElement.lang === code", arg=language
    )


def error_of(page, field: str):
    return page.locator(f"#error-{field}")


def axe_in_every_language(page, where: str) -> list[str]:
    """axe on the page as it is, in each language; back to English after."""
    failures = []
    for language in LANGUAGES:
        switch_language(page, language)
        if violations := axe_violations(page):
            failures.append(describe_violations(f"{where} [{language}]", violations))
    switch_language(page, "en")
    return failures


def narrow_in_every_language(page, where: str) -> list[str]:
    wide = []
    for language in LANGUAGES:
        switch_language(page, language)
        scroll, client = page.evaluate(
            "() => [document.scrollingElement.scrollWidth,"
            " document.scrollingElement.clientWidth]"
        )
        if scroll > client:
            wide.append(f"{where} [{language}]: {scroll} px > {client} px")
    switch_language(page, "en")
    return wide


def volunteer_signs_in(page, staff_accounts) -> None:
    """The volunteer's sign-in, sent on to the vouch page."""
    page.goto("/staff/index.html?next=vouch")
    page.locator("#username").fill(VOLUNTEER)
    page.locator("#password").fill(staff_accounts[VOLUNTEER])
    page.locator("#sign-in-button").click()
    page.wait_for_url("**/staff/vouch.html")
    expect(page.locator("#vouch-form")).to_be_visible()


def access_codes(local_stack, cycle, count: int) -> list[str]:
    """The printed codes of a new batch, stored as the staff route stores it."""
    services = local_stack.services
    now = datetime.now(UTC)
    _, batch = codebatches.prepare(
        services.store,
        cycle.cycle_id,
        {"site": "Dudley Branch Library", "count": count},
        now=now,
    )
    codebatches.commit(
        services.store,
        batch,
        secret=services.voter_secret(),
        actor="test:office-staff",
        now=now,
    )
    return [accesscodes.display(code) for code in batch.codes]


def api(local_stack, method: str, path: str, body=None, headers=None):
    return request(HOST, local_stack.api_port, method, path, body, headers)


def cast_via_api(local_stack, voter: dict, selections=("p1",)):
    body = {
        "selections": list(selections),
        "attestation": {"boston_resident": True, "age": 30},
        "voter": voter,
    }
    return api(
        local_stack, "POST", "/ballots", body, {"Idempotency-Key": str(uuid.uuid4())}
    )


def in_person_turnout(local_stack, cycle) -> int:
    marks = local_stack.services.store.turnout(cycle.cycle_id)
    return sum(1 for channel, _ in marks if channel == "in_person")


# By text message -------------------------------------------------------------


def test_a_vote_by_text_message_code_with_a_wrong_try_first(
    new_page, local_stack, cycle
):
    page = new_page("/ballot.html")
    typed, e164 = new_phone()
    about_you(page)

    # GIVEN the resident asks for a code by text
    send_code(page, "sms", typed)
    expect(page.locator("#code-sent")).to_contain_text(typed)
    expect(page.locator("#verify-code")).to_be_focused()
    # THEN moto was asked to text one, in English, to the number in E.164
    (text,) = texts_to(local_stack, e164)
    assert "Boston PB voting code" in text
    code = find_code(text)
    # AND a new code cannot be asked for at once
    expect(page.locator("#resend-code")).to_be_disabled()
    expect(page.locator("#resend-wait")).to_be_visible()

    # WHEN a wrong code is typed, THEN the field says so with the tries left
    check_code(page, wrong(code))
    expect(error_of(page, "code")).to_have_text(
        message("en", "verify.error_code_incorrect", count=4)
    )
    expect(page.locator("#group-code")).to_have_class(
        re.compile("usa-form-group--error")
    )
    expect(page.locator("#verify-code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#verify-code")).to_be_focused()

    # WHEN the right one is typed, THEN the phone is confirmed and announced
    check_code(page, f"{code[:3]} {code[3:]}")  # a space is forgiven
    expect(page.locator("#verified-text")).to_have_text(EN["verify.verified_sms"])
    expect(page.locator("#verified-text")).to_be_focused()
    expect(page.locator("#group-method")).to_be_hidden()
    expect(error_of(page, "code")).to_be_hidden()
    # AND the pass (it starts "p1.") is in the page's memory only
    assert "p1." not in storage(page)

    # WHEN cast, THEN the ballot is stored and the device keeps no pass
    receipt = review_and_cast(page)
    assert stored_ballot(local_stack, cycle.cycle_id, receipt) is not None
    assert "p1." not in storage(page)
    assert page.evaluate("() => localStorage.getItem('pb.queue')") == "[]"
    assert page.record.errors == []

    # AND the same phone cannot vote again on its word
    status, body = cast_via_api(local_stack, {"kind": "phone", "value": e164})
    assert (status, body["code"]) == (409, "ALREADY_VOTED")


# By email, in Spanish --------------------------------------------------------


def test_a_vote_by_email_code_in_spanish(new_page, local_stack, cycle):
    page = new_page(goto=False)
    open_page(page, "ballot", "es")
    address = new_email()
    about_you(page, "es")

    pick(page, "email")
    expect(page.locator("#verify-contact-label")).to_have_text(
        catalog("es")["verify.email"]
    )
    expect(page.locator("#verify-contact")).to_have_attribute("type", "email")
    expect(page.locator("#send-code")).to_have_text(catalog("es")["verify.send_email"])
    page.locator("#verify-contact").fill(address)
    # Enter in the field sends the code (not the ballot's Review)
    page.locator("#verify-contact").press("Enter")
    expect(page.locator("#code-step")).to_be_visible()
    expect(page.locator("#review")).to_be_hidden()

    # THEN the email moto was asked to send is in Spanish
    (mail,) = wait_for(lambda: emails_to(local_stack, address), what="the email")
    assert mail["subject"].startswith("Su código para votar")
    code = find_code(mail["body"])

    page.locator("#verify-code").fill(code)
    page.locator("#verify-code").press("Enter")
    expect(page.locator("#verified-text")).to_have_text(
        catalog("es")["verify.verified_email"]
    )
    receipt = review_and_cast(page)
    assert stored_ballot(local_stack, cycle.cycle_id, receipt) is not None
    assert page.record.errors == []


# By access code --------------------------------------------------------------


def test_a_vote_by_access_code_and_a_used_code_is_refused_kindly(
    new_page, local_stack, cycle
):
    (code,) = access_codes(local_stack, cycle, 1)
    page = new_page("/ballot.html")
    about_you(page)

    # GIVEN Review with the access-code way chosen but no code typed
    pick(page, "access_code")
    page.locator("#review-button").click()
    # THEN the field says what is missing, and the summary takes the focus
    expect(error_of(page, "access")).to_have_text(EN["verify.error_access_code"])
    expect(page.locator("#form-error")).to_be_focused()

    # WHEN the code is typed in lower case without dashes, THEN it votes
    page.locator("#access-code").fill(code.replace("-", "").lower())
    receipt = review_and_cast(page)
    assert stored_ballot(local_stack, cycle.cycle_id, receipt) is not None

    # WHEN someone tries the same card again, THEN it is refused in words,
    # next to the code, and nothing is stored
    before = stored_count(local_stack, cycle.cycle_id)
    page = new_page("/ballot.html")
    about_you(page)
    pick(page, "access_code")
    page.locator("#access-code").fill(code)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()
    expect(error_of(page, "access")).to_have_text(
        EN["verify.error_access_code_not_valid"]
    )
    expect(page.locator("#ballot-form")).to_be_visible()
    expect(page.locator("#access-code")).to_have_attribute("aria-invalid", "true")
    assert stored_count(local_stack, cycle.cycle_id) == before


def test_a_phone_that_voted_by_text_cannot_vote_again_with_a_card(
    new_page, local_stack, cycle
):
    card, other = access_codes(local_stack, cycle, 2)
    typed, e164 = new_phone()
    # GIVEN the phone voted by text (straight through the API)
    status, started = api(
        local_stack, "POST", "/verifications", {"method": "sms", "contact": typed}
    )
    assert status == 202, started
    path = f"/verifications/{started['verification_id']}"
    status, proved = api(
        local_stack, "POST", path, {"code": last_text_code(local_stack, e164)}
    )
    assert status == 200, proved
    status, _ = cast_via_api(
        local_stack, {"kind": "pass", "value": proved["voter_pass"]}
    )
    assert status == 201
    before = stored_count(local_stack, cycle.cycle_id)

    # WHEN the same resident tries a card and gives the same phone with it
    page = new_page("/ballot.html")
    about_you(page)
    pick(page, "access_code")
    page.locator("#access-code").fill(card)
    page.locator("#access-contact").fill(typed)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()

    # THEN it is refused kindly, next to the phone, and nothing is counted
    expect(error_of(page, "access-contact")).to_have_text(EN["error.already_voted"])
    expect(page.locator("#form-error")).to_be_focused()
    expect(page.locator("#form-error")).to_contain_text(EN["error.already_voted"])
    assert stored_count(local_stack, cycle.cycle_id) == before
    # AND the card was not spent: someone else can still vote with it
    status, _ = cast_via_api(local_stack, {"kind": "access_code", "value": card})
    assert status == 201
    # (and a card given with a fresh phone votes too)
    status, _ = cast_via_api(
        local_stack,
        {
            "kind": "access_code",
            "value": other,
            "contact": {"kind": "phone", "value": new_phone()[0]},
        },
    )
    assert status == 201


# Codes that run out ----------------------------------------------------------


def test_tries_run_out_and_so_do_codes_for_one_phone_with_the_wait_said(
    new_page, local_stack
):
    page = new_page(goto=False)
    # A fake clock that runs on its own, so the wait before a resend can be
    # skipped; the server keeps real time.
    page.clock.install()
    page.goto("/ballot.html")
    typed, e164 = new_phone()
    about_you(page)
    send_code(page, "sms", typed)
    code = last_text_code(local_stack, e164)

    # WHEN five wrong codes are typed, THEN the tries count down, and the
    # fifth says the code is spent and a new code can be asked for at once
    for left in (4, 3, 2, 1):
        check_code(page, wrong(code))
        expect(error_of(page, "code")).to_have_text(
            message("en", "verify.error_code_incorrect", count=left)
        )
    check_code(page, wrong(code))
    expect(error_of(page, "code")).to_have_text(EN["verify.error_too_many_attempts"])
    expect(page.locator("#check-code")).to_be_disabled()
    expect(page.locator("#resend-code")).to_be_enabled()

    # WHEN a new code is sent, THEN a new wait starts before the next
    page.locator("#resend-code").click()
    last_text_code(local_stack, e164, count=2)
    expect(page.locator("#check-code")).to_be_enabled()
    expect(page.locator("#resend-code")).to_be_disabled()
    page.clock.fast_forward(31_000)
    expect(page.locator("#resend-code")).to_be_enabled()

    # WHEN a third and a fourth are asked for within the hour, THEN the
    # fourth is refused with how long to wait, next to the phone
    page.locator("#resend-code").click()
    last_text_code(local_stack, e164, count=3)
    page.clock.fast_forward(31_000)
    page.locator("#resend-code").click()
    refusal = error_of(page, "contact")
    expect(refusal).to_be_visible()
    minutes = re.search(r"\d+", refusal.inner_text())
    assert minutes, refusal.inner_text()
    expect(refusal).to_have_text(
        message("en", "verify.error_rate_limited", minutes=minutes.group())
    )
    # (the wait is the API's Retry-After: the seconds until the UTC hour turns)
    now = datetime.now(UTC)
    until_the_hour = 3600 - now.minute * 60 - now.second
    assert abs(int(minutes.group()) - -(-until_the_hour // 60)) <= 1
    expect(page.locator("#verify-contact")).to_be_focused()
    assert len(texts_to(local_stack, e164)) == 3


# In person -------------------------------------------------------------------


def test_a_volunteer_vouches_and_hands_over_the_device(
    new_page, local_stack, cycle, staff_accounts
):
    page = new_page(goto=False)
    volunteer_signs_in(page, staff_accounts)
    before = in_person_turnout(local_stack, cycle)
    typed, _ = new_phone()

    # GIVEN the box is not ticked, THEN nothing is vouched
    page.locator("#vouch-button").click()
    expect(page.locator("#error-seen")).to_have_text(
        catalog("en")["staff.vouch_seen_required"]
    )
    expect(page.locator("#seen")).to_be_focused()
    assert page.url.endswith("/staff/vouch.html")

    # WHEN the volunteer ticks it, types the phone and the site, and vouches
    page.locator('label[for="seen"]').click()
    page.locator("#contact").fill(typed)
    page.locator("#site").fill("Dudley Branch Library")
    page.locator("#vouch-button").click()

    # THEN the ballot opens for the resident, proved in person, and the
    # volunteer is signed out of the tab; the handoff is gone from storage
    page.wait_for_url("**/ballot.html")
    expect(page.locator("#vouched-note")).to_be_visible()
    expect(page.locator("#verified-text")).to_have_text(EN["verify.verified_in_person"])
    left = json.loads(storage(page))
    assert "pb.staff.token" not in left["session"]
    assert "pb.handoff" not in left["session"]
    assert "p1." not in json.dumps(left)
    assert left["local"].get("pb.staff.site") == "Dudley Branch Library"

    # WHEN the resident casts, THEN it counts as in person
    about_you(page)
    receipt = review_and_cast(page)
    assert stored_ballot(local_stack, cycle.cycle_id, receipt) is not None
    wait_for(
        lambda: in_person_turnout(local_stack, cycle) == before + 1,
        what="the in-person mark",
    )
    entries = local_stack.services.store.audit_entries(cycle.cycle_id)
    assert entries[-1]["action"] == "voter_vouched"
    assert typed not in json.dumps(entries[-1], default=str)

    # AND the phone given cannot vote again on its own
    status, body = cast_via_api(local_stack, {"kind": "phone", "value": typed})
    assert (status, body["code"]) == (409, "ALREADY_VOTED")

    # WHEN the resident gives the device back, THEN the volunteer's sign-in
    # comes up, with nothing of the resident left
    hand_back = page.locator("#next-voter")
    expect(hand_back).to_have_text(EN["verify.hand_back"])
    hand_back.click()
    page.wait_for_url(re.compile(r"/staff/index\.html\?next=vouch$"))
    expect(page.locator("#username")).to_be_visible()
    left = json.loads(storage(page))
    assert left["session"] == {}
    assert receipt not in json.dumps(left)
    # AND Back leads to a sign-in, not to a signed-in vouch page
    page.go_back()
    expect(page.locator("#username")).to_be_visible()
    assert "pb.staff.token" not in json.loads(storage(page))["session"]


def test_the_dashboard_leads_a_volunteer_to_vouching_and_no_one_else(
    new_page, staff_accounts
):
    # GIVEN a volunteer signed in, THEN the dashboard links to the vouch page
    page = new_page("/staff/")
    page.locator("#username").fill(VOLUNTEER)
    page.locator("#password").fill(staff_accounts[VOLUNTEER])
    page.locator("#sign-in-button").click()
    page.wait_for_url("**/staff/dashboard.html")
    page.get_by_role("link", name=EN["staff.vouch_link"]).click()
    page.wait_for_url("**/staff/vouch.html")
    expect(page.locator("#vouch-form")).to_be_visible()

    # GIVEN an office administrator (whose group does not vouch), THEN no
    # link, and the page itself says so instead of showing the form
    admin = new_page("/staff/")
    admin.locator("#username").fill("console-admin")
    admin.locator("#password").fill(staff_accounts["console-admin"])
    admin.locator("#sign-in-button").click()
    admin.wait_for_url("**/staff/dashboard.html")
    expect(admin.locator("#dashboard")).to_be_visible()
    expect(admin.locator("#vouch-link")).to_be_hidden()
    admin.goto("/staff/vouch.html")
    expect(admin.locator("#page-status")).to_have_text(EN["staff.vouch_not_permitted"])
    expect(admin.locator("#vouch-form")).to_be_hidden()


def volunteer_pass(local_stack, cycle, staff_accounts) -> dict:
    """A voter pass from a volunteer's vouch, straight through the staff API."""
    cognito = boto3.client("cognito-idp")
    token = sign_in(
        cognito,
        local_stack.outputs["UserPoolClientId"],
        VOLUNTEER,
        staff_accounts[VOLUNTEER],
    )
    status, vouched = api(
        local_stack,
        "POST",
        f"/staff/cycles/{cycle.cycle_id}/vouch",
        {"attestation": {"seen_in_person": True}},
        {"Authorization": f"Bearer {token}"},
    )
    assert status == 201, vouched
    return vouched


HAND_OVER = "handed => sessionStorage.setItem('pb.handoff', JSON.stringify(handed))"


def test_event_mode_forgets_a_pass_left_unused(
    new_page, local_stack, cycle, staff_accounts
):
    page = new_page(goto=False)
    page.clock.install()
    page.goto("/ballot.html")
    page.locator('label[for="kiosk-toggle"]').click()
    page.evaluate(HAND_OVER, volunteer_pass(local_stack, cycle, staff_accounts))
    page.reload()
    expect(page.locator("#verified")).to_be_visible()

    # WHEN the device is left alone for five minutes
    page.clock.fast_forward(5 * 60_000 + 1_000)

    # THEN the pass is forgotten and the next person must prove who they are
    expect(page.locator("#verified")).to_be_hidden()
    expect(error_of(page, "method")).to_have_text(EN["verify.error_idle"])
    expect(page.locator("#group-method")).to_be_visible()
    page.locator("#review-button").click()
    expect(error_of(page, "method")).to_have_text(EN["verify.error_method"])


def test_a_ballot_queued_offline_past_its_pass_asks_to_prove_again(
    new_page, local_stack, cycle, staff_accounts
):
    # GIVEN a pass from a volunteer's vouch (through the API), handed to a
    # ballot page the service worker controls
    vouched = volunteer_pass(local_stack, cycle, staff_accounts)
    page = new_page("/ballot.html")
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    wait_until_rendered(page, "ballot")
    before = stored_count(local_stack, cycle.cycle_id)

    # WHEN the connection drops and the ballot is cast with the pass
    page.context.set_offline(True)
    page.evaluate(HAND_OVER, vouched)
    page.reload()
    expect(page.locator("#verified-text")).to_have_text(EN["verify.verified_in_person"])
    about_you(page)
    page.locator("#review-button").click()
    page.locator("#cast-button").click()
    page.wait_for_url("**/confirmation.html")

    # THEN it waits, saying until when the pass holds
    expect(page.locator("#confirm-queued")).to_be_visible()
    expect(page.locator("#queued-pass-note")).to_contain_text(
        EN["verify.queued_pass_expires"].split("{time}")[0].strip()
    )
    (entry,) = json.loads(page.evaluate("() => localStorage.getItem('pb.queue')"))
    assert entry["body"]["voter"] == {"kind": "pass", "value": vouched["voter_pass"]}

    # WHEN the pass expires before the device reconnects (the same resident's
    # pass, issued 31 minutes ago, stands in for the wait)
    secret = local_stack.services.voter_secret()
    held = passes.read(
        secret, vouched["voter_pass"], cycle_id=cycle.cycle_id, now=datetime.now(UTC)
    )
    expired = passes.issue(
        secret,
        cycle_id=cycle.cycle_id,
        voter_key=held.voter_key,
        method=held.method,
        now=datetime.now(UTC) - timedelta(minutes=31),
    )
    entry["body"]["voter"]["value"] = expired
    page.evaluate(
        "entry => localStorage.setItem('pb.queue', JSON.stringify([entry]))", entry
    )
    page.context.set_offline(False)
    page.evaluate("() => dispatchEvent(new Event('online'))")

    # THEN the server refuses it, the device drops it, and the voter is told
    # to prove who they are again
    expect(page.get_by_role("heading", level=1)).to_have_text(
        EN["confirm.refused_heading"], timeout=15_000
    )
    expect(page.locator("#refused-reason")).to_have_text(
        EN["verify.error_pass_expired"]
    )
    assert page.evaluate("() => localStorage.getItem('pb.queue')") == "[]"
    assert stored_count(local_stack, cycle.cycle_id) == before


# Accessibility, small screens, the keyboard -----------------------------------


def test_axe_finds_nothing_in_any_new_state_in_any_language(
    new_page, local_stack, staff_accounts
):
    page = new_page(goto=False)
    add_axe(page.context)
    page.goto("/ballot.html")
    wait_until_rendered(page, "ballot")
    typed, e164 = new_phone()
    failures = []
    about_you(page)

    # The code way, before sending; then sent, with a wrong try shown
    pick(page, "sms")
    failures += axe_in_every_language(page, "sms: before sending")
    send_code(page, "sms", typed)
    check_code(page, wrong(last_text_code(local_stack, e164)))
    expect(error_of(page, "code")).to_be_visible()
    failures += axe_in_every_language(page, "sms: code sent, wrong try")
    # Confirmed
    check_code(page, last_text_code(local_stack, e164))
    expect(page.locator("#verified")).to_be_visible()
    failures += axe_in_every_language(page, "sms: confirmed")
    # The access-code way with its errors; the attested way
    page.locator("#verify-again").click()
    pick(page, "access_code")
    page.locator("#review-button").click()
    expect(error_of(page, "access")).to_be_visible()
    failures += axe_in_every_language(page, "access code: missing")
    pick(page, "attested")
    failures += axe_in_every_language(page, "attested")

    # The volunteer's page, plain and with its error; the ballot handed over
    volunteer_signs_in(page, staff_accounts)
    failures += axe_in_every_language(page, "vouch")
    page.locator("#vouch-button").click()
    expect(page.locator("#error-seen")).to_be_visible()
    failures += axe_in_every_language(page, "vouch: not ticked")
    page.locator('label[for="seen"]').click()
    page.locator("#vouch-button").click()
    page.wait_for_url("**/ballot.html")
    expect(page.locator("#vouched-note")).to_be_visible()
    failures += axe_in_every_language(page, "ballot handed over")
    # The confirmation that hands the device back
    about_you(page)
    review_and_cast(page)
    expect(page.locator("#next-voter")).to_be_visible()
    failures += axe_in_every_language(page, "confirmation: hand back")

    assert not failures, "axe-core violations:\n" + "\n".join(failures)


def test_nothing_new_scrolls_sideways_at_320_px(new_page, local_stack, staff_accounts):
    page = new_page(goto=False, viewport={"width": 320, "height": 640})
    page.goto("/ballot.html")
    wait_until_rendered(page, "ballot")
    typed, e164 = new_phone()
    about_you(page)
    wide = []

    send_code(page, "sms", typed)
    check_code(page, wrong(last_text_code(local_stack, e164)))
    expect(error_of(page, "code")).to_be_visible()
    wide += narrow_in_every_language(page, "sms: code sent, wrong try")
    check_code(page, last_text_code(local_stack, e164))
    wide += narrow_in_every_language(page, "sms: confirmed")
    page.locator("#verify-again").click()
    pick(page, "access_code")
    page.locator("#access-contact").fill("a.very.long.address.of.someone@example.org")
    page.locator("#review-button").click()
    wide += narrow_in_every_language(page, "access code: missing")
    volunteer_signs_in(page, staff_accounts)
    page.locator("#vouch-button").click()
    wide += narrow_in_every_language(page, "vouch: not ticked")

    assert not wide, "horizontal scroll at 320 px:\n" + "\n".join(wide)


FOCUS_ID = "() => document.activeElement.id"


def tab_to(page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUS_ID) == element_id:
            return
    raise AssertionError(f"#{element_id} never took the focus with Tab")


def test_a_vote_by_text_with_the_keyboard_alone(new_page, local_stack, cycle):
    page = new_page("/ballot.html")
    wait_until_rendered(page, "ballot")
    typed, e164 = new_phone()

    tab_to(page, "proposal-p5")
    page.keyboard.press("Space")
    tab_to(page, "resident")
    page.keyboard.press("Space")
    tab_to(page, "age")
    page.keyboard.type("16")
    # The first way offered is the text message: Space chooses it
    tab_to(page, "method-sms")
    page.keyboard.press("Space")
    expect(page.locator("#method-sms")).to_be_checked()
    tab_to(page, "verify-contact")
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    # The code field takes the focus once the code is sent
    expect(page.locator("#verify-code")).to_be_focused()
    page.keyboard.type(last_text_code(local_stack, e164))
    page.keyboard.press("Enter")
    expect(page.locator("#verified-text")).to_be_focused()
    tab_to(page, "review-button")
    page.keyboard.press("Enter")
    expect(page.locator("#review-heading")).to_be_focused()
    tab_to(page, "cast-button")
    page.keyboard.press("Enter")

    page.wait_for_url("**/confirmation.html")
    receipt = page.locator("#receipt")
    expect(receipt).to_have_text(RECEIPT)
    stored = stored_ballot(local_stack, cycle.cycle_id, receipt.inner_text())
    assert stored is not None and list(stored.selections) == ["p5"]
