// Paper ballots: register a batch (an envelope with its cover-sheet count),
// list the cycle's batches with their status, enter a batch sheet by sheet
// (typed blind: nothing of anyone's entry is ever shown, only sheet counts
// and, for a disputed batch, the numbers of the sheets that differ), finish
// a count, discard a batch or an entry (with a reason and a confirmation),
// and the reconciliation report with its CSV. Controls show only to groups
// the API allows (docs/api.md); the API refuses the rest anyway.
//
// What a volunteer types stays in this page's memory only, and is
// forgotten once sent or abandoned: never in storage another person on the
// same device could read.

import { getBallot } from "./api.js";
import { byId, el, focusOn, show } from "./dom.js";
import { localized, number, setText, t, zonedDateTime } from "./i18n.js";
import {
  staffCall,
  staffText,
  startStaffPage,
  token,
  toSignIn,
} from "./staff-common.js";
import { refusedSheet } from "./staff-errors.js";
import { loadBatchPage, markInvalid, showNotice, showPageRefusal } from "./staff-page.js";
import { done, failed, loading } from "./status.js";
import { fillNeighbourhoods } from "./voter-form.js";

const MAX_SHEETS = 250;
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const BIRTH_DATE = /^\d{4}-\d{2}-\d{2}$/;
const STATUSES = ["open", "disputed", "committing", "counted", "discarded"];

let me = null; // GET /staff/me
let board = null; // the cycle's dashboard: name, id, time zone
let batches = null; // GET .../paper/batches
let error = null;
let selected = null; // the batch id shown in the panel
let ballot = null; // {proposals, limit} once an entry needs it
let entry = null; // {batchId, sheets, index, reviewing} while typing
let report = null; // GET .../paper/reconciliation, once shown
let reportUrl = null;
let busy = false;
const notices = { register: null, list: null, batch: null, entry: null, discard: null, report: null };

const can = (action) => (me?.actions || []).includes(action);
const paperPath = () => `/staff/cycles/${encodeURIComponent(board.cycle_id)}/paper`;
const batchPath = (id) => `${paperPath()}/batches/${encodeURIComponent(id)}`;
const when = (iso) => zonedDateTime(iso, board?.timezone || "America/New_York");
const statusName = (status) =>
  STATUSES.includes(status) ? t(`staff.paper_status_${status}`) : status;
const sheetList = (numbers) => numbers.map((n) => number(n)).join(", ");
const activeEntries = (batch) => batch.entries.filter((e) => e.status === "active");
const open = (batch) => batch.status === "open" || batch.status === "disputed";

async function load() {
  loading();
  try {
    ({ me, board, batches } = await loadBatchPage(me, "paper/batches"));
    error = null;
  } catch (exc) {
    error = exc;
  }
  render();
}

function render() {
  if (error) {
    show(byId("paper"), false);
    if (error.status === 401) return; // on its way to the sign-in page
    if (!showPageRefusal(error, board?.cycle_id)) failed(error, load);
    return;
  }
  if (!board || !batches) return;
  done();
  byId("cycle-name").textContent = board.name || board.cycle_id;
  const typing = Boolean(entry);
  show(byId("register-section"), can("paper.register") && !typing);
  show(byId("batches-heading").parentElement, !typing);
  show(byId("report-section"), can("paper.report") && !typing);
  for (const [name, notice] of Object.entries(notices)) {
    showNotice(byId(`${name}-status`), notice, board.cycle_id);
  }
  renderBatches();
  renderPanel();
  renderEntry();
  renderReport();
  show(byId("paper"));
}

// The batches -----------------------------------------------------------------

function statusText(batch) {
  if (batch.status === "disputed" && batch.differing_sheets.length) {
    return t("staff.paper_status_disputed_sheets", { sheets: sheetList(batch.differing_sheets) });
  }
  if (batch.status === "counted" && batch.counted) {
    return t("staff.paper_status_counted_ballots", { count: number(batch.counted.sheets) });
  }
  return statusName(batch.status);
}

function renderBatches() {
  const tbody = byId("batches-table").tBodies[0];
  tbody.replaceChildren();
  for (const batch of batches) {
    const button = el("button", {
      className: "usa-button usa-button--unstyled",
      text: batch.batch_id,
      attrs: {
        type: "button",
        "data-batch": batch.batch_id,
        "aria-current": batch.batch_id === selected ? "true" : undefined,
      },
    });
    button.addEventListener("click", () => selectBatch(batch.batch_id));
    tbody.append(
      el("tr", {
        attrs: { "data-batch": batch.batch_id, "data-status": batch.status },
        children: [
          el("th", { attrs: { scope: "row" }, children: [button] }),
          el("td", { text: batch.site }),
          el("td", { text: number(batch.cover_sheets) }),
          el("td", { text: number(activeEntries(batch).length) }),
          el("td", { text: statusText(batch), attrs: { "data-status": batch.status } }),
        ],
      }),
    );
  }
  show(byId("no-batches"), batches.length === 0);
  show(byId("batches-wrap"), batches.length > 0);
}

function selectBatch(id) {
  selected = id;
  notices.batch = null;
  render();
  focusOn(byId("batch-heading"));
}

const current = () => batches?.find((b) => b.batch_id === selected) || null;

function fact(list, key, value) {
  list.append(el("dt", { text: t(key) }), el("dd", { text: value }));
}

function refusedText(refused) {
  const words = {
    ALREADY_VOTED: "staff.paper_refused_duplicate",
    NOT_RESIDENT: "staff.paper_refused_resident",
    UNDER_AGE: "staff.paper_refused_age",
  };
  return refused
    .map(({ sheet, code }) =>
      t("staff.paper_refused_sheet", { sheet: number(sheet), why: words[code] ? t(words[code]) : code }),
    )
    .join("; ");
}

function renderPanel() {
  const batch = current();
  show(byId("batch-panel"), Boolean(batch) && !entry);
  if (!batch) return;
  setText(byId("batch-heading"), "staff.paper_batch_heading", { batch: batch.batch_id });
  const facts = byId("batch-facts");
  facts.replaceChildren();
  fact(facts, "staff.codes_col_site", batch.site);
  fact(facts, "staff.paper_col_cover", number(batch.cover_sheets));
  fact(
    facts,
    "staff.paper_registered",
    t("staff.paper_registered_by", { actor: batch.registered_by, time: when(batch.registered_at) }),
  );
  fact(facts, "staff.codes_col_status", statusText(batch));
  if (batch.counted) {
    const counted = batch.counted;
    fact(facts, "staff.paper_col_counted", number(counted.sheets));
    fact(facts, "staff.paper_col_anonymous", number(counted.without_identifier));
    fact(facts, "staff.paper_refused", counted.refused.length ? refusedText(counted.refused) : t("staff.paper_nothing"));
    fact(facts, "staff.paper_col_spoiled", counted.spoiled.length ? sheetList(counted.spoiled) : t("staff.paper_nothing"));
  }
  if (batch.discard_reason) fact(facts, "staff.audit_reason", batch.discard_reason);
  renderEntries(batch);
  // A second entry must come from someone else: the button is not offered
  // to whoever typed one already (the API would refuse it as SAME_ENTRANT).
  const mine = activeEntries(batch).some((item) => item.actor === me.actor);
  show(byId("entered-already"), can("paper.enter") && open(batch) && mine);
  show(byId("enter-button"), can("paper.enter") && open(batch) && !mine);
  show(byId("count-button"), can("paper.count") && batch.status === "committing");
  show(byId("discard-button"), can("paper.discard_batch") && open(batch));
}

function renderEntries(batch) {
  const discarding = can("paper.discard_entry") && open(batch);
  show(byId("entry-actions-col"), discarding);
  const tbody = byId("entries-table").tBodies[0];
  tbody.replaceChildren();
  for (const item of batch.entries) {
    const status =
      item.status === "active"
        ? t("staff.paper_entry_active")
        : t("staff.paper_entry_discarded", { reason: item.discard_reason || "" });
    const cells = [
      el("th", { text: item.entry_id, attrs: { scope: "row" } }),
      el("td", { text: item.actor }),
      el("td", { text: when(item.at) }),
      el("td", { text: number(item.sheets) }),
      el("td", { text: number(item.spoiled) }),
      el("td", { text: status }),
    ];
    if (discarding) {
      const cell = el("td");
      if (item.status === "active") {
        const button = el("button", {
          className: "usa-button usa-button--outline usa-button--secondary",
          text: t("staff.paper_discard_entry"),
          attrs: {
            type: "button",
            "data-entry": item.entry_id,
            "aria-label": t("staff.paper_discard_entry_label", { entry: item.entry_id, actor: item.actor }),
          },
        });
        button.addEventListener("click", () => askToDiscard(batch, item));
        cell.append(button);
      }
      cells.push(cell);
    }
    tbody.append(el("tr", { attrs: { "data-entry": item.entry_id }, children: cells }));
  }
  show(byId("no-entries"), batch.entries.length === 0);
  show(byId("entries-wrap"), batch.entries.length > 0);
}

// Registering ------------------------------------------------------------------

function readRegisterForm() {
  const id = byId("batch-id");
  const site = byId("paper-site");
  const cover = byId("cover");
  const coverText = cover.value.trim();
  const sheets = /^\d{1,3}$/.test(coverText) ? Number(coverText) : NaN;
  const bad = {
    id: !BATCH_ID.test(id.value.trim()),
    site: !site.value.trim(),
    cover: !(sheets >= 1 && sheets <= MAX_SHEETS),
  };
  markInvalid(id, byId("batch-id-error"), byId("batch-id-group"), bad.id);
  markInvalid(site, byId("paper-site-error"), byId("paper-site-group"), bad.site);
  markInvalid(cover, byId("cover-error"), byId("cover-group"), bad.cover);
  const first = [bad.id && id, bad.site && site, bad.cover && cover].find(Boolean);
  if (first) {
    first.focus();
    return null;
  }
  const body = { batch_id: id.value.trim(), site: site.value.trim(), cover_sheets: sheets };
  const reason = byId("register-reason").value.trim();
  if (reason) body.reason = reason;
  return body;
}

async function register(event) {
  event.preventDefault();
  if (busy) return;
  const body = readRegisterForm();
  if (!body) return;
  const refused = await send(byId("register-button"), "register", async () => {
    await staffCall(`${paperPath()}/batches`, json(body));
    for (const id of ["batch-id", "paper-site", "cover", "register-reason"]) byId(id).value = "";
    selected = body.batch_id;
    return ["staff.paper_registered_notice", { batch: body.batch_id, count: number(body.cover_sheets) }];
  });
  // A refusal naming a field of the form marks that field as well.
  const fields = { batch_id: "batch-id", site: "paper-site", cover_sheets: "cover", reason: "register-reason" };
  const input = refused && fields[refused.field] && byId(fields[refused.field]);
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.closest(".usa-form-group")?.classList.add("usa-form-group--error");
  }
}

const json = (body) => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body ?? {}),
});

/**
 * Runs one request with its button disabled (a second click sends nothing),
 * puts its outcome in notices[slot], reloads the batches and moves focus to
 * the notice. `work` returns [key, params] for the success sentence.
 */
async function send(button, slot, work) {
  busy = true;
  button.disabled = true;
  let refused = null;
  try {
    const [key, params] = await work();
    notices[slot] = [key, params, "success"];
  } catch (exc) {
    if (exc.status === 401) return null;
    refused = exc;
    notices[slot] = [null, exc, "error"];
  } finally {
    busy = false;
    button.disabled = false;
  }
  await load();
  focusOn(byId(`${slot}-status`));
  return refused;
}

// Counting and discarding ----------------------------------------------------------

async function finishCount() {
  const batch = current();
  if (busy || !batch) return;
  await send(byId("count-button"), "batch", async () => {
    const { body } = await staffCall(`${batchPath(batch.batch_id)}/count`, json());
    return ["staff.paper_counted", { batch: batch.batch_id, count: number(body.counted?.sheets ?? 0) }];
  });
}

function askToDiscard(batch, item = null) {
  const dialog = byId("discard-dialog");
  dialog.dataset.batch = batch.batch_id;
  dialog.dataset.entry = item ? item.entry_id : "";
  if (item) {
    setText(byId("discard-heading"), "staff.paper_discard_entry_heading", { entry: item.entry_id });
    setText(byId("discard-text"), "staff.paper_discard_entry_text", {
      entry: item.entry_id,
      actor: item.actor,
      batch: batch.batch_id,
    });
    setText(byId("discard-confirm"), "staff.paper_discard_entry_confirm");
  } else {
    setText(byId("discard-heading"), "staff.paper_discard_heading", { batch: batch.batch_id });
    setText(byId("discard-text"), "staff.paper_discard_text", {
      batch: batch.batch_id,
      count: number(batch.cover_sheets),
    });
    setText(byId("discard-confirm"), "staff.paper_discard_confirm");
  }
  const reason = byId("discard-reason");
  reason.value = "";
  markInvalid(reason, byId("discard-reason-error"), byId("discard-reason-group"), false);
  notices.discard = null;
  showNotice(byId("discard-status"), null);
  dialog.showModal();
  reason.focus();
}

async function discard(event) {
  event.preventDefault();
  const dialog = byId("discard-dialog");
  if (busy || !dialog.open) return; // one request per confirmation
  const reason = byId("discard-reason");
  const missing = !reason.value.trim();
  markInvalid(reason, byId("discard-reason-error"), byId("discard-reason-group"), missing);
  if (missing) {
    reason.focus();
    return;
  }
  const { batch, entry: entryId } = dialog.dataset;
  const path = entryId
    ? `${batchPath(batch)}/entries/${encodeURIComponent(entryId)}/discard`
    : `${batchPath(batch)}/discard`;
  busy = true;
  byId("discard-confirm").disabled = true;
  try {
    await staffCall(path, json({ reason: reason.value.trim() }));
    notices.batch = entryId
      ? ["staff.paper_entry_discarded_notice", { entry: entryId, batch }, "success"]
      : ["staff.paper_discarded_notice", { batch }, "success"];
    dialog.close();
  } catch (exc) {
    if (exc.status === 401) return;
    notices.discard = [null, exc, "error"];
    if (exc.field === "reason") reason.setAttribute("aria-invalid", "true");
  } finally {
    busy = false;
    byId("discard-confirm").disabled = false;
  }
  await load();
  focusOn(byId(dialog.open ? "discard-status" : "batch-status"));
}

// Entering a batch, sheet by sheet -------------------------------------------------

/**
 * The proposals a sheet can name: the staff view of the cycle for members
 * who may read it, else (event volunteers) the public ballot, which is the
 * current cycle's. Null when neither is this cycle's ballot.
 */
async function loadBallot() {
  if (ballot?.cycleId === board.cycle_id) return ballot;
  let source = null;
  if (can("cycle.read")) {
    source = (await staffCall(`/staff/cycles/${encodeURIComponent(board.cycle_id)}`)).body;
  } else {
    try {
      source = await getBallot();
    } catch {
      source = null;
    }
    if (source?.cycle_id !== board.cycle_id) source = null;
  }
  if (!source?.proposals?.length) return null;
  ballot = { cycleId: board.cycle_id, proposals: source.proposals, limit: source.selection_limit };
  return ballot;
}

const blankSheet = () => ({
  spoiled: false,
  selections: new Set(),
  resident: false,
  age: "",
  birthDate: "",
  sixthGrade: false,
  voter: "",
  neighbourhood: "",
});

async function startEntry() {
  const batch = current();
  if (busy || !batch) return;
  busy = true;
  try {
    if (!(await loadBallot())) {
      notices.batch = ["staff.paper_no_ballot", {}, "warning"];
      render();
      focusOn(byId("batch-status"));
      return;
    }
  } catch (exc) {
    if (exc.status === 401) return;
    notices.batch = [null, exc, "error"];
    render();
    return;
  } finally {
    busy = false;
  }
  entry = { batchId: batch.batch_id, sheets: null, index: 0, reviewing: false };
  notices.entry = null;
  buildProposals();
  byId("sheet-count").value = String(batch.cover_sheets);
  render();
  byId("sheet-count").focus();
}

function buildProposals() {
  const list = byId("proposals");
  list.replaceChildren();
  ballot.proposals.forEach((proposal, index) => {
    const id = `proposal-${index + 1}`;
    const title = localized(proposal.title);
    const input = el("input", {
      className: "usa-checkbox__input",
      attrs: { id, type: "checkbox", name: "selection", value: proposal.proposal_id },
    });
    const label = el("label", { className: "usa-checkbox__label", attrs: { for: id } });
    list.append(el("li", { className: "usa-checkbox", children: [input, label] }));
  });
  nameProposals();
}

/** The proposals' titles in the page's language (again after a switch). */
function nameProposals() {
  const labels = byId("proposals").querySelectorAll("label");
  ballot.proposals.forEach((proposal, index) => {
    const title = localized(proposal.title);
    labels[index].textContent = `${index + 1}. ${title.text}`;
    if (title.fallback) labels[index].lang = title.lang;
    else labels[index].removeAttribute("lang");
  });
}

function renderEntry() {
  show(byId("entry-section"), Boolean(entry));
  if (!entry) return;
  const batch = batches.find((b) => b.batch_id === entry.batchId);
  setText(byId("entry-heading"), "staff.paper_entry_heading", {
    batch: entry.batchId,
    site: batch?.site ?? "",
  });
  const started = Boolean(entry.sheets);
  show(byId("start-form"), !started);
  show(byId("sheet-form"), started && !entry.reviewing);
  show(byId("review"), started && entry.reviewing);
  if (!started) return;
  if (entry.reviewing) {
    const spoiled = entry.sheets.filter((s) => s.spoiled).length;
    setText(byId("review-text"), "staff.paper_review_text", {
      sheets: number(entry.sheets.length),
      spoiled: number(spoiled),
      batch: entry.batchId,
    });
    return;
  }
  nameProposals();
  const total = entry.sheets.length;
  setText(byId("sheet-progress"), "staff.paper_sheet_of", {
    sheet: number(entry.index + 1),
    total: number(total),
  });
  setText(byId("proposals-legend"), "staff.paper_proposals_legend", { limit: number(ballot.limit) });
  byId("previous-sheet").disabled = entry.index === 0;
  setText(byId("next-sheet"), entry.index + 1 === total ? "staff.paper_review" : "staff.paper_next");
}

/** Puts sheet `index` of the entry into the form. */
function fillSheet() {
  const sheet = entry.sheets[entry.index];
  byId("spoiled").checked = sheet.spoiled;
  for (const box of byId("proposals").querySelectorAll("input")) {
    box.checked = sheet.selections.has(box.value);
  }
  byId("resident").checked = sheet.resident;
  byId("age").value = sheet.age;
  byId("birth-date").value = sheet.birthDate;
  byId("sixth-grade").checked = sheet.sixthGrade;
  byId("voter").value = sheet.voter;
  byId("neighbourhood").value = sheet.neighbourhood;
  show(byId("sheet-fields"), !sheet.spoiled);
  clearSheetErrors();
}

/** Reads the form into sheet `index` of the entry. */
function keepSheet() {
  const selections = new Set(
    [...byId("proposals").querySelectorAll("input:checked")].map((box) => box.value),
  );
  entry.sheets[entry.index] = {
    spoiled: byId("spoiled").checked,
    selections,
    resident: byId("resident").checked,
    age: byId("age").value.trim(),
    birthDate: byId("birth-date").value.trim(),
    sixthGrade: byId("sixth-grade").checked,
    voter: byId("voter").value.trim(),
    neighbourhood: byId("neighbourhood").value,
  };
}

const SHEET_GROUPS = {
  proposals: ["proposals-group", "proposals-error", () => byId("proposals").querySelector("input")],
  age: ["age-group", "age-error", () => byId("age")],
  voter: ["voter-group", "voter-error", () => byId("voter")],
};

function clearSheetErrors() {
  for (const [group, message] of Object.values(SHEET_GROUPS)) {
    byId(group).classList.remove("usa-form-group--error");
    show(byId(message), false);
  }
  for (const input of byId("sheet-form").querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
}

/** Marks a part of the sheet in error with `fill(span)` as its message. */
function sheetError(part, fill) {
  const [group, message, input] = SHEET_GROUPS[part];
  byId(group).classList.add("usa-form-group--error");
  fill(byId(message));
  show(byId(message));
  input().setAttribute("aria-invalid", "true");
}

/** The sheet's local problems, marked on the form; true when it can go. */
function checkSheet(sheet) {
  clearSheetErrors();
  if (sheet.spoiled) return true;
  const problems = [];
  if (sheet.selections.size === 0) {
    problems.push("proposals");
    sheetError("proposals", (span) => setText(span, "staff.paper_error_selections"));
  } else if (sheet.selections.size > ballot.limit) {
    problems.push("proposals");
    sheetError("proposals", (span) =>
      setText(span, "staff.paper_error_too_many_limit", { limit: number(ballot.limit) }),
    );
  }
  const given = [sheet.age !== "", sheet.birthDate !== "", sheet.sixthGrade].filter(Boolean).length;
  const ageOk = sheet.age === "" || /^\d{1,3}$/.test(sheet.age);
  const dateOk = sheet.birthDate === "" || BIRTH_DATE.test(sheet.birthDate);
  if (given !== 1 || !ageOk || !dateOk) {
    problems.push("age");
    sheetError("age", (span) => setText(span, "staff.paper_error_age"));
  }
  if (problems.length) SHEET_GROUPS[problems[0]][2]().focus();
  return problems.length === 0;
}

/** The API's shape of one sheet. */
function sheetBody(sheet) {
  if (sheet.spoiled) return { spoiled: true };
  const attestation = { boston_resident: sheet.resident };
  if (sheet.sixthGrade) attestation.sixth_grade = true;
  else if (sheet.birthDate) attestation.birth_date = sheet.birthDate;
  else attestation.age = Number(sheet.age);
  const body = { selections: [...sheet.selections], attestation };
  if (sheet.voter) body.voter = { kind: sheet.voter.includes("@") ? "email" : "phone", value: sheet.voter };
  if (sheet.neighbourhood) body.neighbourhood = sheet.neighbourhood;
  return body;
}

function goToSheet(index) {
  entry.index = index;
  entry.reviewing = false;
  render();
  fillSheet();
  focusOn(byId("sheet-progress"));
}

function begin(event) {
  event.preventDefault();
  const input = byId("sheet-count");
  const text = input.value.trim();
  const count = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  const bad = !(count >= 1 && count <= MAX_SHEETS);
  markInvalid(input, byId("sheet-count-error"), byId("sheet-count-group"), bad);
  if (bad) {
    input.focus();
    return;
  }
  entry.sheets = Array.from({ length: count }, blankSheet);
  goToSheet(0);
}

function nextSheet(event) {
  event.preventDefault();
  keepSheet();
  if (!checkSheet(entry.sheets[entry.index])) return;
  notices.entry = null;
  showNotice(byId("entry-status"), null);
  if (entry.index + 1 < entry.sheets.length) {
    goToSheet(entry.index + 1);
    return;
  }
  entry.reviewing = true;
  render();
  focusOn(byId("review-heading"));
}

function previousSheet() {
  keepSheet();
  if (entry.index > 0) goToSheet(entry.index - 1);
}

/** Number keys tick proposals, Enter on a box goes on: typing without the mouse. */
function sheetKeys(event) {
  const target = event.target;
  const typing = target.matches("input[type=text], select, textarea");
  if (event.key === "Enter" && target.matches("input[type=checkbox]")) {
    event.preventDefault();
    byId("sheet-form").requestSubmit();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey || !/^[1-9]$/.test(event.key)) return;
  const box = byId(`proposal-${event.key}`);
  if (!box || byId("spoiled").checked) return;
  event.preventDefault();
  box.checked = !box.checked;
  box.focus();
}

async function sendEntry() {
  if (busy || !entry?.reviewing) return;
  const batchId = entry.batchId;
  const button = byId("send-entry");
  busy = true;
  button.disabled = true;
  try {
    const { body } = await staffCall(`${batchPath(batchId)}/entries`, json({ sheets: entry.sheets.map(sheetBody) }));
    entry = null; // forgotten at once: the next person types blind
    selected = batchId;
    notices.batch = [...sentNotice(body), "success"];
    if (body.batch.status === "disputed") notices.batch[2] = "warning";
  } catch (exc) {
    if (exc.status === 401) return;
    notices.entry = [null, exc, "error"];
  } finally {
    busy = false;
    button.disabled = false;
  }
  await load();
  const sheet = entry ? refusedSheet(notices.entry?.[1]?.field) : null;
  if (sheet && sheet <= entry.sheets.length) {
    // Back to the sheet the API refused, its part marked.
    goToSheet(sheet - 1);
    markRefusedPart(notices.entry[1].field);
    return;
  }
  focusOn(byId(entry ? "entry-status" : "batch-status"));
}

function sentNotice(body) {
  const batch = body.batch;
  const id = batch.batch_id;
  if (body.replayed) return ["staff.paper_sent_replayed", { batch: id }];
  if (batch.status === "counted") {
    return ["staff.paper_sent_counted", { batch: id, count: number(batch.counted?.sheets ?? 0) }];
  }
  if (batch.status === "disputed") {
    return ["staff.paper_sent_disputed", { batch: id, sheets: sheetList(batch.differing_sheets) }];
  }
  if (batch.status === "committing") return ["staff.paper_sent_committing", { batch: id }];
  return ["staff.paper_sent_open", { batch: id }];
}

function markRefusedPart(field) {
  const part = /^sheets\[\d+\]\.(\w+)/.exec(field)?.[1];
  const group = { selections: "proposals", attestation: "age", age_bracket: "age", voter: "voter" }[part];
  if (!group) return;
  sheetError(group, (span) => {
    span.replaceChildren();
    const sentence = byId("entry-status").querySelector(".pb-refusal__text");
    if (sentence) span.append(sentence.cloneNode(true));
  });
}

function askToStop() {
  byId("stop-dialog").showModal();
  byId("stop-cancel").focus();
}

function stopEntry() {
  byId("stop-dialog").close();
  entry = null;
  notices.entry = null;
  render();
  focusOn(byId("batch-heading"));
}

// The reconciliation ---------------------------------------------------------------

async function showReport() {
  const region = byId("report-status");
  region.replaceChildren(setText(el("p"), "common.loading"));
  try {
    const [body, csv] = await Promise.all([
      staffCall(`${paperPath()}/reconciliation`).then((r) => r.body),
      staffText(`${paperPath()}/reconciliation.csv`),
    ]);
    report = body;
    if (reportUrl) URL.revokeObjectURL(reportUrl);
    reportUrl = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    notices.report = null;
  } catch (exc) {
    if (exc.status === 401) return;
    notices.report = [null, exc, "error"];
  }
  showNotice(region, notices.report, board.cycle_id);
  renderReport();
}

const FIGURES = ["cover_sheets", "counted", "without_identifier", "refused_duplicate", "refused_ineligible", "spoiled"];

function statusCounts(counts) {
  return Object.entries(counts || {})
    .map(([status, n]) => `${statusName(status)}: ${number(n)}`)
    .join(", ");
}

function reportRow(level, name, status, figures, matches) {
  const verdict =
    matches === null || matches === undefined
      ? t("staff.paper_matches_pending")
      : t(matches ? "staff.paper_matches_yes" : "staff.paper_matches_no");
  return el("tr", {
    attrs: { "data-level": level, "data-name": name },
    children: [
      el("th", { text: level === "batch" ? name : t(`staff.paper_report_${level}`, { site: name }), attrs: { scope: "row" } }),
      el("td", { text: status }),
      ...FIGURES.map((figure) => el("td", { text: number(figures[figure]), attrs: { "data-figure": figure } })),
      el("td", { text: level === "batch" ? verdict : "" }),
    ],
  });
}

function renderReport() {
  if (!can("paper.report") || !report) return;
  const link = byId("report-download");
  link.href = reportUrl;
  link.download = `paper-reconciliation-${board.cycle_id}.csv`;
  show(link);
  const tbody = byId("report-table").tBodies[0];
  tbody.replaceChildren();
  for (const row of report.batches) {
    tbody.append(reportRow("batch", row.batch_id, statusName(row.status), row, row.cover_matches));
  }
  for (const site of report.sites) {
    tbody.append(reportRow("site", site.site, statusCounts(site.batches), site, null));
  }
  tbody.append(reportRow("total", "", statusCounts(report.totals.batches), report.totals, null));
  const waits = byId("report-waits");
  if (report.tally_waits_for.length) {
    setText(waits, "staff.paper_report_waits", { batches: report.tally_waits_for.join(", ") });
  } else {
    setText(waits, "staff.paper_report_no_wait");
  }
  show(waits);
  show(byId("report-wrap"));
}

function wire() {
  fillNeighbourhoods();
  byId("register-form").addEventListener("submit", register);
  byId("enter-button").addEventListener("click", startEntry);
  byId("count-button").addEventListener("click", finishCount);
  byId("discard-button").addEventListener("click", () => current() && askToDiscard(current()));
  byId("discard-form").addEventListener("submit", discard);
  byId("discard-cancel").addEventListener("click", () => {
    byId("discard-dialog").close();
    byId("batch-heading").focus();
  });
  byId("start-form").addEventListener("submit", begin);
  byId("start-cancel").addEventListener("click", stopEntry);
  byId("sheet-form").addEventListener("submit", nextSheet);
  byId("sheet-form").addEventListener("keydown", sheetKeys);
  byId("spoiled").addEventListener("change", (event) => {
    show(byId("sheet-fields"), !event.target.checked);
  });
  byId("previous-sheet").addEventListener("click", previousSheet);
  byId("stop-entry").addEventListener("click", askToStop);
  byId("stop-confirm").addEventListener("click", stopEntry);
  byId("stop-cancel").addEventListener("click", () => byId("stop-dialog").close());
  byId("send-entry").addEventListener("click", sendEntry);
  byId("review-back").addEventListener("click", () => goToSheet(entry.sheets.length - 1));
  byId("report-button").addEventListener("click", showReport);
}

if (!token()) {
  toSignIn(false);
} else {
  startStaffPage(render)
    .then(() => {
      wire();
      return load();
    })
    .catch((exc) => console.error(exc));
}
