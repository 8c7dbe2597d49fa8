"""The staff console's access-code and paper-ballot pages in a real Chromium,
signed in through the local staff pool: a batch of codes made through the
page downloads its PDF sheet (read back with pypdf, its codes checked
against the stored keys) and is revoked with a reason and a confirmation;
two different members type a paper batch and it is counted, a disagreeing
entry leaves it disputed, a refused sheet takes the entrant back to it; the
reconciliation on the page is the API's; who sees what; axe and the 320 px
layout in every language.

Everything runs on throwaway cycles next to the shared one (reached with
``?cycle=ID``), except the volunteer's paper entry, which needs the current
cycle's public ballot and leaves nothing pending behind it.
"""

from __future__ import annotations

import dataclasses
import io
import re
import urllib.request
import uuid

import boto3
import pytest
from pypdf import PdfReader

from chalicelib import accesscodes
from pbctl.localrun import HOST, request
from tests.browser.pages import (
    LANGUAGES,
    add_axe,
    axe_violations,
    catalog,
    describe_violations,
    message,
)
from tests.browser.test_staff_console import (
    api_token,
    make_throwaway_cycle,
    refusal_text,
    set_language,
    staff_sign_in,
    wait_for_language,
)

pytestmark = pytest.mark.browser

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

ADMIN = "console-admin"
OFFICE = "console-office"
VOLUNTEER = "console-volunteer"
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")
SECTIONS = {"access-codes": "#codes", "paper": "#paper"}


# Steps ------------------------------------------------------------------------


def open_staff_page(page, name: str, cycle_id: str | None, language="en") -> None:
    set_language(page, language)
    page.goto(f"/staff/{name}.html" + (f"?cycle={cycle_id}" if cycle_id else ""))
    wait_for_language(page, language)
    expect(page.locator(SECTIONS[name])).to_be_visible()


def signed_in(new_page, staff_accounts, username: str, **options):
    page = new_page("/staff/", **options)
    staff_sign_in(page, username, staff_accounts[username])
    return page


@pytest.fixture
def cycle_of(local_stack):
    """Return ``make(name)``: a throwaway cycle in voting, not the current one."""

    def make(name: str) -> str:
        return make_throwaway_cycle(local_stack, f"{name}-{uuid.uuid4().hex[:6]}")

    return make


def staff_api(local_stack, staff_accounts, username: str):
    """Return ``call(method, path, body=None)`` as ``username``, via HTTP."""
    token = api_token(local_stack, username, staff_accounts[username])

    def call(method: str, path: str, body=None):
        return request(
            HOST,
            local_stack.api_port,
            method,
            path,
            body=body,
            headers={"Authorization": f"Bearer {token}"},
        )

    call.token = token
    return call


def api_text(local_stack, token: str, path: str) -> str:
    """A staff GET answered in text (the CSV export)."""
    wanted = urllib.request.Request(
        f"http://{HOST}:{local_stack.api_port}{path}",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(wanted) as answer:
        return answer.read().decode("utf-8")


def stored_code(local_stack, cycle_id: str, code: str) -> dict | None:
    """The verification item of ``code``, stored under its keyed HMAC."""
    services = local_stack.services
    key = accesscodes.code_key(
        services.voter_secret(), cycle_id, accesscodes.canonical(code)
    )
    item = boto3.client("dynamodb").get_item(
        TableName=services.settings.verification_table,
        Key={"pk": {"S": f"code#{cycle_id}#{key}"}},
        ConsistentRead=True,
    )
    return item.get("Item")


@dataclasses.dataclass
class Sheet:
    """One paper sheet as a volunteer types it (proposals by their number)."""

    proposals: tuple[int, ...] = ()
    spoiled: bool = False
    resident: bool = True
    age: str = ""
    sixth_grade: bool = False
    voter: str = ""


def type_entry(page, batch_id: str, sheets: list[Sheet], count: int | None = None):
    """Enters ``batch_id`` sheet by sheet from the keyboard, up to the review."""
    page.locator(f"#batches-table button[data-batch='{batch_id}']").click()
    page.locator("#enter-button").click()
    expect(page.locator("#sheet-count")).to_be_focused()
    if count is not None:
        page.locator("#sheet-count").fill(str(count))
    page.keyboard.press("Enter")
    for number, sheet in enumerate(sheets, start=1):
        progress = page.locator("#sheet-progress")
        expect(progress).to_have_text(f"Sheet {number} of {len(sheets)}")
        expect(progress).to_be_focused()
        # Blind: every sheet starts empty, whatever anyone typed before.
        expect(page.locator("#proposals input:checked")).to_have_count(0)
        expect(page.locator("#voter")).to_have_value("")
        if sheet.spoiled:
            page.locator("label[for=spoiled]").click()
            expect(page.locator("#sheet-fields")).to_be_hidden()
            page.locator("#spoiled").press("Enter")
            continue
        for proposal in sheet.proposals:
            page.keyboard.press(str(proposal))  # the number ticks the proposal
        if sheet.resident:
            page.locator("label[for=resident]").click()
        if sheet.sixth_grade:
            page.locator("label[for=sixth-grade]").click()
        page.locator("#age").fill(sheet.age)
        page.locator("#voter").fill(sheet.voter)
        page.locator("#voter").press("Enter")
    expect(page.locator("#review")).to_be_visible()


def send_entry(page) -> None:
    page.locator("#send-entry").click()
    expect(page.locator("#batch-panel")).to_be_visible()


def register_via_api(call, cycle_id: str, batch_id: str, cover: int, site="Mattapan"):
    status, body = call(
        "POST",
        f"/staff/cycles/{cycle_id}/paper/batches",
        {"batch_id": batch_id, "site": site, "cover_sheets": cover},
    )
    assert status == 201, body


def batch_row(page, batch_id: str):
    return page.locator(f"#batches-table tbody tr[data-batch='{batch_id}']")


# Access codes -------------------------------------------------------------------


def test_a_batch_made_on_the_page_downloads_a_sheet_of_its_codes_once(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("codes-sheet")
    page = signed_in(new_page, staff_accounts, ADMIN)
    open_staff_page(page, "access-codes", cycle_id)
    expect(page.locator("#no-batches")).to_be_visible()
    expect(page.locator("#once-warning")).to_have_text(
        message("en", "staff.codes_once_warning")
    )

    # WHEN the form is sent empty, THEN nothing is sent and both fields say why
    sent = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" else None)
    page.locator("#generate-button").click()
    expect(page.locator("#site-error")).to_be_visible()
    expect(page.locator("#count-error")).to_be_visible()
    expect(page.locator("#site")).to_be_focused()
    assert not [r for r in sent if "access-code-batches" in r.url]

    # WHEN a site and a count are given, THEN the sheet downloads at once
    page.locator("#site").fill("Mattapan Branch Library")
    page.locator("#count").fill("7")
    with page.expect_download() as caught:
        page.locator("#generate-button").click()
    download = caught.value
    [batch] = local_stack.services.store.list_access_code_batches(cycle_id)
    assert download.suggested_filename == (
        f"access-codes-{cycle_id}-{batch.batch_id}.pdf"
    )
    post = next(r for r in sent if "access-code-batches" in r.url)
    assert post.headers["accept"] == "application/pdf"

    # AND it is a PDF holding the batch's seven codes, each stored under its key
    pdf = open(download.path(), "rb").read()
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    codes = CODE.findall(text)
    assert len(codes) == len(set(codes)) == 7
    for code in codes:
        item = stored_code(local_stack, cycle_id, code)
        assert item and item["subject"]["S"] == batch.batch_id, code
    assert "Mattapan Branch Library" in text

    # AND the page says the codes are shown only this once, and lists the batch
    expect(page.locator("#generate-status")).to_have_text(
        message(
            "en",
            "staff.codes_generated",
            count=7,
            site="Mattapan Branch Library",
            file=download.suggested_filename,
        )
    )
    again = page.locator("#sheet-again")
    expect(again).to_have_attribute("href", re.compile(r"^blob:"))
    row = page.locator(f"#batches-table tbody tr[data-batch='{batch.batch_id}']")
    expect(row.locator("td")).to_have_text(
        ["Mattapan Branch Library", re.compile(r"\d{4}"), "7", "0", "Active", "Revoke"]
    )
    # the codes are nowhere on the page itself
    body = page.locator("body").inner_text()
    assert not CODE.search(body)
    assert not page.record.errors and not page.record.console_errors


def test_revoking_a_batch_needs_a_reason_and_a_confirmation(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("codes-revoke")
    call = staff_api(local_stack, staff_accounts, ADMIN)
    status, made = call(
        "POST",
        f"/staff/cycles/{cycle_id}/access-code-batches",
        {"site": "BPL", "count": 3},
    )
    assert status == 201, made
    batch_id = made["batch"]["batch_id"]
    store = local_stack.services.store
    page = signed_in(new_page, staff_accounts, ADMIN)
    open_staff_page(page, "access-codes", cycle_id)
    revoke = page.locator(f"#batches-table button[data-batch='{batch_id}']")
    expect(revoke).to_have_accessible_name(f"Revoke batch {batch_id} (BPL)")
    dialog = page.locator("#revoke-dialog")

    # WHEN the dialog is cancelled, THEN nothing changes and focus comes back
    revoke.click()
    expect(dialog).to_be_visible()
    expect(page.locator("#revoke-text")).to_have_text(
        message("en", "staff.codes_revoke_text", batch=batch_id, site="BPL", unused=3)
    )
    page.locator("#revoke-cancel").click()
    expect(dialog).to_be_hidden()
    expect(revoke).to_be_focused()

    # WHEN it is confirmed without a reason, THEN it asks for one
    revoke.click()
    page.locator("#revoke-confirm").click()
    expect(page.locator("#revoke-reason-error")).to_be_visible()
    expect(page.locator("#revoke-reason")).to_have_attribute("aria-invalid", "true")
    assert store.get_access_code_batch(cycle_id, batch_id).status == "active"

    # WHEN a reason is given, THEN the batch is revoked and the row says so
    page.locator("#revoke-reason").fill("Sheet left on the bus")
    page.locator("#revoke-confirm").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#list-status")).to_have_text(
        message("en", "staff.codes_revoked", batch=batch_id)
    )
    row = page.locator(f"#batches-table tbody tr[data-batch='{batch_id}']")
    expect(row.locator("td[data-status]")).to_have_text(
        "Revoked: Sheet left on the bus"
    )
    expect(row.locator("button")).to_have_count(0)
    after = store.get_access_code_batch(cycle_id, batch_id)
    assert (after.status, after.reason) == ("revoked", "Sheet left on the bus")
    entry = store.audit_entries(cycle_id)[-1]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "access_codes_revoked",
        f"staff:{ADMIN}",
        "Sheet left on the bus",
    )
    assert not page.record.errors


def test_a_refused_site_is_a_sentence_naming_the_field_in_every_language(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("codes-refused")
    page = signed_in(new_page, staff_accounts, ADMIN)

    for language in LANGUAGES:
        open_staff_page(page, "access-codes", cycle_id, language)
        page.locator("#site").fill("马塔潘图书馆")  # the sheet's font cannot print it
        page.locator("#count").fill("5")
        page.locator("#generate-button").click()

        status = page.locator("#generate-status")
        expect(status).to_have_text(
            refusal_text(language, "staff.error_text", "staff.codes_field_site")
        )
        expect(status.locator("[data-code=INVALID_TEXT]")).to_be_visible()
        expect(page.locator("#site")).to_have_attribute("aria-invalid", "true")
    assert local_stack.services.store.list_access_code_batches(cycle_id) == []
    assert not page.record.errors


def test_office_staff_make_codes_but_are_not_offered_revoking(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("codes-office")
    call = staff_api(local_stack, staff_accounts, ADMIN)
    status, made = call(
        "POST",
        f"/staff/cycles/{cycle_id}/access-code-batches",
        {"site": "BPL", "count": 1},
    )
    assert status == 201, made
    page = signed_in(new_page, staff_accounts, OFFICE)

    open_staff_page(page, "access-codes", cycle_id)

    expect(page.locator("#generate-section")).to_be_visible()
    expect(page.locator("#batches-table tbody tr")).to_have_count(1)
    expect(page.locator("#batches-table button")).to_have_count(0)
    expect(page.locator("#actions-col")).to_be_hidden()


def test_a_volunteer_sees_paper_entry_but_no_access_codes(
    new_page, staff_accounts, cycle_of
):
    cycle_id = cycle_of("codes-volunteer")
    page = signed_in(new_page, staff_accounts, VOLUNTEER)

    # THEN the staff bar offers the dashboard and paper ballots, not access codes
    nav = page.locator("#staff-nav")
    expect(nav).to_be_visible()
    expect(page.locator("#nav-paper")).to_be_visible()
    expect(page.locator("#nav-codes")).to_be_hidden()
    expect(page.locator("#nav-dashboard")).to_have_attribute("aria-current", "page")

    # AND the paper page offers no registering, discarding or report
    open_staff_page(page, "paper", cycle_id)
    expect(page.locator("#register-section")).to_be_hidden()
    expect(page.locator("#report-section")).to_be_hidden()
    expect(page.locator("#nav-paper")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-paper")).to_have_attribute(
        "href", f"paper.html?cycle={cycle_id}"
    )

    # AND the access-code page, asked for anyway, is refused in words
    set_language(page, "en")
    page.goto(f"/staff/access-codes.html?cycle={cycle_id}")
    expect(page.locator("#page-status")).to_have_text(
        refusal_text("en", "staff.error_not_permitted", "Authorization")
    )
    expect(page.locator("#codes")).to_be_hidden()


def test_an_admin_sees_both_pages_in_the_staff_bar(new_page, staff_accounts):
    page = signed_in(new_page, staff_accounts, ADMIN)

    expect(page.locator("#nav-codes")).to_be_visible()
    expect(page.locator("#nav-paper")).to_be_visible()
    page.locator("#nav-codes").click()
    page.wait_for_url("**/staff/access-codes.html")
    expect(page.locator("#codes")).to_be_visible()
    page.locator("#nav-paper").click()
    page.wait_for_url("**/staff/paper.html")
    expect(page.locator("#paper")).to_be_visible()


# Paper ballots ---------------------------------------------------------------------

#: Four sheets of an envelope whose cover says five: one counted with a phone
#: number, one spoiled, one counted without an identifier, one refused.
SHEETS = [
    Sheet(proposals=(1, 3), age="34"),
    Sheet(spoiled=True),
    Sheet(proposals=(2,), sixth_grade=True),
    Sheet(proposals=(1,), resident=False, age="40"),
]


def test_two_people_type_a_batch_and_it_is_counted_and_reconciled(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("paper-agree")
    store = local_stack.services.store
    phone = f"617-555-{uuid.uuid4().int % 10_000:04d}"
    first = [dataclasses.replace(SHEETS[0], voter=phone), *SHEETS[1:]]
    # the second person types the same number as it is written another way
    digits = phone.replace("-", "")
    second = [
        dataclasses.replace(
            SHEETS[0], voter=f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
        ),
        *SHEETS[1:],
    ]

    # GIVEN an admin registers the envelope on the page
    admin = signed_in(new_page, staff_accounts, ADMIN)
    open_staff_page(admin, "paper", cycle_id)
    admin.locator("#batch-id").fill("mattapan-a")
    admin.locator("#paper-site").fill("Mattapan Branch Library")
    admin.locator("#cover").fill("5")
    admin.locator("#register-button").click()
    expect(admin.locator("#register-status")).to_have_text(
        message("en", "staff.paper_registered_notice", batch="mattapan-a", count=5)
    )
    expect(batch_row(admin, "mattapan-a").locator("td")).to_have_text(
        ["Mattapan Branch Library", "5", "0", "Open"]
    )

    # WHEN the admin types its four sheets
    type_entry(admin, "mattapan-a", first, count=4)
    expect(admin.locator("#review-text")).to_have_text(
        message(
            "en", "staff.paper_review_text", sheets=4, spoiled=1, batch="mattapan-a"
        )
    )
    send_entry(admin)

    # THEN the batch waits for someone else, and the admin is not offered it again
    expect(admin.locator("#batch-status")).to_have_text(
        message("en", "staff.paper_sent_open", batch="mattapan-a")
    )
    expect(admin.locator("#enter-button")).to_be_hidden()
    expect(admin.locator("#entered-already")).to_be_visible()
    assert store.get_paper_batch(cycle_id, "mattapan-a").status == "open"

    # WHEN a different member types the same sheets
    office = signed_in(new_page, staff_accounts, OFFICE)
    open_staff_page(office, "paper", cycle_id)
    office.locator("#batches-table button[data-batch='mattapan-a']").click()
    # what the first person typed is nowhere on the page (only its sheet count)
    text = office.locator("body").inner_text()
    assert phone not in text and digits not in text
    type_entry(office, "mattapan-a", second, count=4)
    send_entry(office)

    # THEN the batch is counted: two ballots written, one spoiled, one refused
    expect(office.locator("#batch-status")).to_have_text(
        message("en", "staff.paper_sent_counted", batch="mattapan-a", count=2)
    )
    expect(batch_row(office, "mattapan-a").locator("td[data-status]")).to_have_text(
        "Counted: 2 ballots"
    )
    batch = store.get_paper_batch(cycle_id, "mattapan-a")
    assert batch.status == "counted"
    assert sum(1 for _ in store.iter_ballots(cycle_id)) == 2
    facts = office.locator("#batch-facts").inner_text()
    assert "sheet 4: not a Boston resident" in facts

    # AND the reconciliation on the admin's page is the API's, figure by figure
    call = staff_api(local_stack, staff_accounts, ADMIN)
    status, report = call("GET", f"/staff/cycles/{cycle_id}/paper/reconciliation")
    assert status == 200, report
    admin.reload()
    expect(admin.locator("#paper")).to_be_visible()
    admin.locator("#report-button").click()
    expect(admin.locator("#report-wrap")).to_be_visible()
    figures = [
        "cover_sheets",
        "counted",
        "without_identifier",
        "refused_duplicate",
        "refused_ineligible",
        "spoiled",
    ]
    rows = [
        ("batch", "mattapan-a", report["batches"][0]),
        ("site", "Mattapan Branch Library", report["sites"][0]),
        ("total", "", report["totals"]),
    ]
    for level, name, expected in rows:
        row = admin.locator(f"#report-table tr[data-level={level}][data-name='{name}']")
        shown = [row.locator(f"td[data-figure={f}]").inner_text() for f in figures]
        assert shown == [str(expected[f]) for f in figures], level
    assert [report["batches"][0][f] for f in figures] == [5, 2, 1, 0, 1, 1]
    assert report["batches"][0]["cover_matches"] is False  # 4 sheets, cover says 5
    expect(admin.locator("#report-table tr[data-level=batch] td").last).to_have_text(
        "No"
    )
    expect(admin.locator("#report-waits")).to_have_text(
        message("en", "staff.paper_report_no_wait")
    )

    # AND its CSV download is the API's export
    with admin.expect_download() as caught:
        admin.locator("#report-download").click()
    saved = caught.value
    assert saved.suggested_filename == f"paper-reconciliation-{cycle_id}.csv"
    csv = open(saved.path(), encoding="utf-8", newline="").read()
    assert csv == api_text(
        local_stack, call.token, f"/staff/cycles/{cycle_id}/paper/reconciliation.csv"
    )
    assert not admin.record.errors and not office.record.errors


def test_a_disagreeing_entry_leaves_the_batch_disputed_until_an_entry_is_discarded(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("paper-dispute")
    store = local_stack.services.store
    call = staff_api(local_stack, staff_accounts, ADMIN)
    register_via_api(call, cycle_id, "roxbury-b", cover=3, site="Roxbury")
    sheets = [
        Sheet(proposals=(1,), age="30"),
        Sheet(proposals=(2,), age="31"),
        Sheet(proposals=(3,), age="32"),
    ]
    admin = signed_in(new_page, staff_accounts, ADMIN)
    open_staff_page(admin, "paper", cycle_id)
    type_entry(admin, "roxbury-b", sheets)
    send_entry(admin)

    # WHEN someone else reads sheet 2 differently
    office = signed_in(new_page, staff_accounts, OFFICE)
    open_staff_page(office, "paper", cycle_id)
    other = [sheets[0], Sheet(proposals=(1, 2), age="31"), sheets[2]]
    type_entry(office, "roxbury-b", other)
    send_entry(office)

    # THEN the batch is disputed and says which sheet differs
    expect(office.locator("#batch-status")).to_have_text(
        message("en", "staff.paper_sent_disputed", batch="roxbury-b", sheets="2")
    )
    expect(batch_row(office, "roxbury-b").locator("td[data-status]")).to_have_text(
        "Disputed: the entries differ on sheets 2"
    )
    assert store.get_paper_batch(cycle_id, "roxbury-b").status == "disputed"
    assert sum(1 for _ in store.iter_ballots(cycle_id)) == 0
    # office staff may not discard an entry: no such button for them
    expect(office.locator("#entries-table button")).to_have_count(0)

    # WHEN the admin discards the second entry, with a reason and a confirmation
    admin.reload()
    expect(admin.locator("#paper")).to_be_visible()
    admin.locator("#batches-table button[data-batch='roxbury-b']").click()
    discard = admin.locator("#entries-table button[data-entry=e2]")
    expect(discard).to_have_accessible_name(f"Discard entry e2 by staff:{OFFICE}")
    discard.click()
    expect(admin.locator("#discard-dialog")).to_be_visible()
    admin.locator("#discard-confirm").click()
    expect(admin.locator("#discard-reason-error")).to_be_visible()
    assert store.get_paper_batch(cycle_id, "roxbury-b").status == "disputed"
    admin.locator("#discard-reason").fill("Misread sheet 2")
    admin.locator("#discard-confirm").click()

    # THEN the batch is open again, waiting for another entry
    expect(admin.locator("#batch-status")).to_have_text(
        message(
            "en", "staff.paper_entry_discarded_notice", entry="e2", batch="roxbury-b"
        )
    )
    expect(batch_row(admin, "roxbury-b").locator("td[data-status]")).to_have_text(
        "Open"
    )
    expect(admin.locator("#entries-table tr[data-entry=e2] td").nth(4)).to_have_text(
        "Discarded: Misread sheet 2"
    )

    # WHEN the admin discards the whole batch, THEN it is never counted
    admin.locator("#discard-button").click()
    expect(admin.locator("#discard-text")).to_have_text(
        message("en", "staff.paper_discard_text", batch="roxbury-b", count=3)
    )
    admin.locator("#discard-reason").fill("Envelope torn open")
    admin.locator("#discard-confirm").click()
    expect(batch_row(admin, "roxbury-b").locator("td[data-status]")).to_have_text(
        "Discarded"
    )
    expect(admin.locator("#enter-button")).to_be_hidden()
    assert store.get_paper_batch(cycle_id, "roxbury-b").status == "discarded"
    assert not admin.record.errors and not office.record.errors


def test_a_sheet_the_api_refuses_takes_the_entrant_back_to_it(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("paper-refused")
    call = staff_api(local_stack, staff_accounts, ADMIN)
    register_via_api(call, cycle_id, "fenway-c", cover=2)
    page = signed_in(new_page, staff_accounts, ADMIN)

    for language in ("en", "vi"):
        open_staff_page(page, "paper", cycle_id, language)
        # "12" is read as an access code, which is too short
        type_entry_in(page, language, "fenway-c")
        page.locator("#send-entry").click()

        # THEN sheet 2 is back on screen, its identifier marked, the refusal in words
        where = message(
            language,
            "staff.paper_field_sheet_part",
            sheet=2,
            part=message(language, "staff.paper_field_voter"),
        )
        expect(page.locator("#entry-status")).to_have_text(
            refusal_text(language, "staff.paper_error_voter", where)
        )
        expect(page.locator("#sheet-progress")).to_have_text(
            message(language, "staff.paper_sheet_of", sheet=2, total=2)
        )
        expect(page.locator("#voter")).to_have_value("12")
        expect(page.locator("#voter")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#voter-error")).to_have_text(
            message(language, "staff.paper_error_voter")
        )
    assert local_stack.services.store.paper_entries(cycle_id, "fenway-c") == []


def type_entry_in(page, language: str, batch_id: str) -> None:
    """Two sheets, the second with an identifier the API refuses, in any language."""
    page.locator(f"#batches-table button[data-batch='{batch_id}']").click()
    page.locator("#enter-button").click()
    expect(page.locator("#sheet-count")).to_be_focused()
    page.keyboard.press("Enter")
    for voter in ("", "12"):
        page.keyboard.press("1")
        page.locator("label[for=resident]").click()
        page.locator("#age").fill("50")
        page.locator("#voter").fill(voter)
        page.locator("#next-sheet").click()
    expect(page.locator("#review")).to_be_visible()


def test_local_checks_keep_a_sheet_until_it_is_complete(
    new_page, staff_accounts, local_stack, cycle_of
):
    cycle_id = cycle_of("paper-local")
    call = staff_api(local_stack, staff_accounts, ADMIN)
    register_via_api(call, cycle_id, "dorchester-d", cover=1)
    page = signed_in(new_page, staff_accounts, ADMIN)
    open_staff_page(page, "paper", cycle_id)
    page.locator("#batches-table button[data-batch='dorchester-d']").click()
    page.locator("#enter-button").click()
    expect(page.locator("#sheet-count")).to_be_focused()
    page.keyboard.press("Enter")

    # WHEN nothing is ticked and no age given, THEN both are marked
    page.locator("#next-sheet").click()
    expect(page.locator("#proposals-error")).to_have_text(
        message("en", "staff.paper_error_selections")
    )
    expect(page.locator("#age-error")).to_be_visible()
    expect(page.locator("#proposal-1")).to_be_focused()

    # WHEN more proposals are ticked than the ballot allows (2), THEN it says so
    for key in ("1", "2", "3"):
        page.keyboard.press(key)
    page.locator("#age").fill("20")
    page.locator("#age").press("Enter")
    expect(page.locator("#proposals-error")).to_have_text(
        message("en", "staff.paper_error_too_many_limit", limit=2)
    )
    expect(page.locator("#review")).to_be_hidden()

    # WHEN it is stopped, THEN a confirmation comes first and nothing was sent
    page.locator("#stop-entry").click()
    expect(page.locator("#stop-dialog")).to_be_visible()
    page.locator("#stop-confirm").click()
    expect(page.locator("#entry-section")).to_be_hidden()
    expect(page.locator("#batch-panel")).to_be_visible()
    assert local_stack.services.store.paper_entries(cycle_id, "dorchester-d") == []


def test_a_volunteer_types_a_batch_of_the_current_cycle_from_its_public_ballot(
    new_page, staff_accounts, local_stack, cycle
):
    call = staff_api(local_stack, staff_accounts, ADMIN)
    batch_id = f"volunteer-{uuid.uuid4().hex[:6]}"
    register_via_api(call, cycle.cycle_id, batch_id, cover=1, site="Hyde Park")
    try:
        page = signed_in(new_page, staff_accounts, VOLUNTEER)
        open_staff_page(page, "paper", None)
        expect(page.locator("#discard-button")).to_be_hidden()

        type_entry(page, batch_id, [Sheet(proposals=(2,), age="19")])
        send_entry(page)

        expect(page.locator("#batch-status")).to_have_text(
            message("en", "staff.paper_sent_open", batch=batch_id)
        )
        [entry] = local_stack.services.store.paper_entries(cycle.cycle_id, batch_id)
        assert entry.actor == f"staff:{VOLUNTEER}" and entry.sheet_count == 1
        assert entry.sheets[0].selections == (cycle.proposals[1].proposal_id,)
    finally:
        # nothing left pending in the shared cycle
        status, body = call(
            "POST",
            f"/staff/cycles/{cycle.cycle_id}/paper/batches/{batch_id}/discard",
            {"reason": "browser test"},
        )
        assert status == 200, body


# Accessibility, languages, small screens ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scenes:
    cycle_id: str  # a code batch, a counted paper batch and a disputed one
    counted: str
    disputed: str
    open: str  # no entry yet


@pytest.fixture(scope="module")
def scenes(local_stack, staff_accounts) -> Scenes:
    tag = uuid.uuid4().hex[:6]
    cycle_id = make_throwaway_cycle(local_stack, f"batches-view-{tag}")
    admin = staff_api(local_stack, staff_accounts, ADMIN)
    office = staff_api(local_stack, staff_accounts, OFFICE)
    status, body = admin(
        "POST",
        f"/staff/cycles/{cycle_id}/access-code-batches",
        {"site": "BPL", "count": 2},
    )
    assert status == 201, body
    sheet = {"selections": ["p1"], "attestation": {"boston_resident": True, "age": 30}}
    for batch_id, second in (
        ("view-counted", sheet),
        ("view-disputed", {**sheet, "selections": ["p2"]}),
    ):
        register_via_api(admin, cycle_id, batch_id, cover=2, site="Roxbury Branch")
        for call, first in ((admin, sheet), (office, second)):
            status, body = call(
                "POST",
                f"/staff/cycles/{cycle_id}/paper/batches/{batch_id}/entries",
                {"sheets": [first, {"spoiled": True}]},
            )
            assert status == 201, body
    register_via_api(admin, cycle_id, "view-open", cover=2, site="Roxbury Branch")
    return Scenes(cycle_id, "view-counted", "view-disputed", "view-open")


def batch_views(page, scenes: Scenes, language: str):
    """Each state of the two pages in ``language``: (name, ready for a check)."""
    open_staff_page(page, "access-codes", scenes.cycle_id, language)
    yield "access codes"
    page.locator("#generate-button").click()  # empty: the error state
    expect(page.locator("#site-error")).to_be_visible()
    yield "access codes, form errors"
    page.locator("#site").fill("Café 7")
    page.locator("#count").fill("1")
    with page.expect_download():
        page.locator("#generate-button").click()
    expect(page.locator("#sheet-again")).to_be_visible()
    yield "access codes, sheet made"
    page.locator("#batches-table tbody button").first.click()
    page.locator("#revoke-confirm").click()  # no reason: the error state
    expect(page.locator("#revoke-reason-error")).to_be_visible()
    yield "revoke dialog with its error"
    page.locator("#revoke-cancel").click()

    open_staff_page(page, "paper", scenes.cycle_id, language)
    page.locator("#register-button").click()  # empty: the error state
    expect(page.locator("#batch-id-error")).to_be_visible()
    yield "paper, register errors"
    page.locator(f"#batches-table button[data-batch={scenes.counted}]").click()
    expect(page.locator("#batch-panel")).to_be_visible()
    yield "paper, a counted batch"
    page.locator(f"#batches-table button[data-batch={scenes.disputed}]").click()
    expect(page.locator("#entries-table button").first).to_be_visible()
    yield "paper, a disputed batch"
    page.locator("#entries-table button").first.click()
    page.locator("#discard-confirm").click()
    expect(page.locator("#discard-reason-error")).to_be_visible()
    yield "discard dialog with its error"
    page.locator("#discard-cancel").click()
    page.locator("#report-button").click()
    expect(page.locator("#report-wrap")).to_be_visible()
    yield "paper, reconciliation"
    page.locator(f"#batches-table button[data-batch={scenes.open}]").click()
    page.locator("#enter-button").click()
    expect(page.locator("#start-form")).to_be_visible()
    yield "paper, entry start"
    page.locator("#sheet-count").fill("2")
    page.locator("#start-button").click()
    page.locator("#next-sheet").click()  # empty sheet: the error state
    expect(page.locator("#age-error")).to_be_visible()
    yield "paper, a sheet with errors"
    page.keyboard.press("1")
    page.locator("label[for=resident]").click()
    page.locator("#age").fill("44")
    page.locator("#next-sheet").click()
    page.locator("label[for=spoiled]").click()
    page.locator("#next-sheet").click()
    expect(page.locator("#review")).to_be_visible()
    yield "paper, review"
    page.locator("#review-back").click()
    page.locator("#stop-entry").click()
    expect(page.locator("#stop-dialog")).to_be_visible()
    yield "stop dialog"
    page.locator("#stop-confirm").click()


def test_axe_finds_nothing_on_the_batch_pages_in_any_language(
    new_page, staff_accounts, scenes
):
    page = signed_in(new_page, staff_accounts, ADMIN)
    add_axe(page.context)

    failures = []
    for language in LANGUAGES:
        for view in batch_views(page, scenes, language):
            if violations := axe_violations(page):
                failures.append(describe_violations(f"{view} [{language}]", violations))
            # every staff string shown is the language's own, never English
            # (proposal titles the cycle has only in English are marked so)
            if language != "en":
                shown = page.locator("main [lang=en]:not(#proposals label)")
                fallbacks = shown.all_inner_texts()
                assert not fallbacks, f"{view} [{language}]: {fallbacks}"
        expect(page.locator("h1")).to_have_text(
            catalog(language)["staff.paper_heading"]
        )

    assert not failures, "axe-core violations:\n" + "\n".join(failures)


def test_nothing_on_the_batch_pages_scrolls_sideways_at_320_px(
    new_page, staff_accounts, scenes
):
    page = signed_in(
        new_page, staff_accounts, ADMIN, viewport={"width": 320, "height": 640}
    )

    wide = []
    for language in LANGUAGES:
        for view in batch_views(page, scenes, language):
            scroll, client = page.evaluate(
                "() => [document.scrollingElement.scrollWidth,"
                " document.scrollingElement.clientWidth]"
            )
            if scroll > client:
                wide.append(f"{view} [{language}]: {scroll} px > {client} px")

    assert not wide, "horizontal scroll at 320 px:\n" + "\n".join(wide)
