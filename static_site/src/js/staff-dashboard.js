// The cycle dashboard: phase, calendar and deadlines, turnout by channel and
// neighbourhood (never a count per proposal: the API holds none), the phase
// controls with a confirmation step, and the audit log. Every time shown
// names the cycle's time zone; every refusal is a sentence (staff-errors.js).

import { getCycle } from "./api.js";
import { byId, el, focusOn, show } from "./dom.js";
import { number, setText, t, zonedDateTime, zoneName } from "./i18n.js";
import {
  rememberActor,
  showStaffNav,
  staffCall,
  staffText,
  startStaffPage,
  token,
  toSignIn,
  updateStaffBar,
} from "./staff-common.js";
import { describeRefusal } from "./staff-errors.js";
import { done, failed, loading } from "./status.js";

const AUDIT_ACTIONS = new Set([
  "cycle_created",
  "phase_changed",
  "calendar_edited",
  "audit_exported",
  "refused",
]);
/** The access-code and paper actions, named on their own pages' keys. */
const BATCH_ACTIONS = {
  access_codes_generated: "staff.codes_audit_generated",
  access_codes_revoked: "staff.codes_audit_revoked",
  paper_batch_registered: "staff.paper_audit_registered",
  paper_entry_recorded: "staff.paper_audit_entered",
  paper_batch_counted: "staff.paper_audit_counted",
  paper_entry_discarded: "staff.paper_audit_entry_discarded",
  paper_batch_discarded: "staff.paper_audit_discarded",
};

let me = null; // GET /staff/me
let board = null; // GET /staff/cycles/{id}/dashboard
let error = null;
let audit = null; // parsed rows, once shown
let auditUrl = null;
let notice = null; // [key, params, kind] after a phase change
let submitting = false;

const phaseName = (phase) => t(`phase.${phase}`);
/** ?cycle=ID shows another cycle than the one the public site shows. */
const wanted = new URLSearchParams(location.search).get("cycle");
const CYCLE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** The cycle's own zone (the dashboard names it), Boston's until it loads. */
const zone = () => board?.timezone || "America/New_York";
const when = (iso) => zonedDateTime(iso, zone());
/** What a ?cycle= id that no cycle has is told, without asking the API. */
const NO_SUCH_CYCLE = { status: 404, code: "NOT_FOUND", field: "cycle_id" };

async function load() {
  loading();
  try {
    if (wanted !== null && !CYCLE_ID.test(wanted)) throw NO_SUCH_CYCLE;
    // A named cycle needs no current one (GET /cycle).
    const id = encodeURIComponent(wanted ?? (await getCycle()).cycle_id);
    [me, board] = await Promise.all([
      me || staffCall("/staff/me").then((r) => r.body),
      staffCall(`/staff/cycles/${id}/dashboard`).then((r) => r.body),
    ]);
    rememberActor(me.actor);
    updateStaffBar();
    showStaffNav(me);
    error = null;
  } catch (exc) {
    error = exc;
  }
  render();
}

/** A refusal in words; "cycle not found" names the cycle asked for. */
function errorText(node, exc) {
  return describeRefusal(node, exc, { cycle: wanted ?? board?.cycle_id ?? "" });
}

function alertBox(kind, fill) {
  const alert = el("div", { className: `usa-alert usa-alert--${kind} usa-alert--slim` });
  const body = el("div", { className: "usa-alert__body" });
  const text = el("p", { className: "usa-alert__text" });
  fill(text);
  body.append(text);
  alert.append(body);
  return alert;
}

function render() {
  if (error) {
    show(byId("dashboard"), false);
    // No current cycle at all is the public site's case, worded as there.
    const noCurrent = error.code === "NOT_FOUND" && wanted === null && !board;
    if (error.status === 401) return; // staffCall is on its way to the sign-in page
    if (error.status >= 400 && error.status < 500 && !noCurrent) {
      const region = byId("page-status");
      const kind = error.status === 404 ? "error" : "warning";
      region.replaceChildren(alertBox(kind, (p) => errorText(p, error)));
      show(region);
      return;
    }
    return failed(error, load);
  }
  if (!board) return;
  done();
  byId("cycle-name").textContent = board.name || board.cycle_id;
  setText(byId("current-phase"), "staff.phase_now", { phase: phaseName(board.phase) });
  byId("phase-ends").textContent = board.phase_ends
    ? t("staff.phase_ends", { time: when(board.phase_ends) })
    : "";
  const started = board.phase_started;
  const early = byId("phase-started");
  show(early, Boolean(started?.early));
  if (started?.early) {
    setText(early, "staff.phase_started_early", {
      phase: phaseName(board.phase),
      time: when(started.at),
      planned: when(started.planned),
    });
  }
  setText(byId("as-of"), "staff.as_of", { time: when(board.as_of) });
  setText(byId("times-in"), "staff.times_in", { zone: zoneName(zone()), id: zone() });
  // Event volunteers (and office staff) vouch for residents on their own page.
  show(byId("vouch-link"), (me?.actions || []).includes("voter.vouch"));
  renderTurnout();
  renderCalendar();
  renderPhaseControls();
  renderAudit();
  show(byId("dashboard"));
}

function countRows(tbody, counts, label) {
  tbody.replaceChildren();
  const entries = Object.entries(counts || {});
  if (!entries.length) {
    const cell = el("td", { text: t("staff.none_yet"), attrs: { colspan: 2 } });
    tbody.append(el("tr", { children: [cell] }));
  }
  for (const [name, count] of entries) {
    tbody.append(
      el("tr", {
        children: [el("th", { text: label(name), attrs: { scope: "row" } }), el("td", { text: number(count) })],
      }),
    );
  }
}

function renderTurnout() {
  const turnout = board.turnout || {};
  setText(byId("turnout-total"), "staff.turnout_total", { count: number(turnout.total || 0) });
  const channel = (name) => (name === "online" ? t("staff.channel_online") : name);
  const place = (name) => (name === "none" ? t("ballot.neighbourhood_none") : name);
  countRows(byId("by-channel").tBodies[0], turnout.by_channel, channel);
  countRows(byId("by-neighbourhood").tBodies[0], turnout.by_neighbourhood, place);
}

function renderCalendar() {
  const list = byId("calendar");
  list.replaceChildren();
  for (const step of board.deadlines || []) {
    const current = step.status === "current";
    const item = el("li", {
      className: "usa-process-list__item" + (current ? " pb-phase--current" : ""),
      attrs: { "aria-current": current ? "step" : undefined, "data-phase": step.phase },
    });
    const heading = el("h3", { className: "usa-process-list__heading", text: phaseName(step.phase) });
    if (current) {
      heading.append(" ", el("span", { className: "usa-tag pb-phase__tag", text: t("phase.current") }));
    }
    const dates = t("home.phase_dates", { start: when(step.start), end: when(step.end) });
    item.append(heading, el("p", { text: dates }));
    if (step.opened && Date.parse(step.opened) < Date.parse(step.start)) {
      const opened = t("staff.calendar_opened_early", { time: when(step.opened) });
      item.append(el("p", { className: "pb-opened-early", text: opened }));
    }
    list.append(item);
  }
}

/** The move the controls offer: close the current phase, open the next. */
function move() {
  if (!board.next_phase) return null;
  return { from: board.phase, to: board.next_phase };
}

/**
 * Closing voting with no ballot recorded leaves the count nothing to count,
 * and voting never opens again: that needs a second, explicit confirmation.
 * (The count comes from an index that may lag a ballot by a moment, so this
 * errs on the side of asking.)
 */
const closesEmptyVoting = (next) => next.from === "voting" && !(board.turnout?.total > 0);

function markInvalid(input, error, group, invalid) {
  show(error, invalid);
  input.toggleAttribute("aria-invalid", invalid);
  group.classList.toggle("usa-form-group--error", invalid);
}

function renderPhaseControls() {
  const allowed = (me?.actions || []).includes("phase.change");
  show(byId("phase-section"), allowed);
  if (!allowed) return;
  const next = move();
  show(byId("phase-form"), Boolean(next));
  show(byId("last-phase"), !next);
  if (next) {
    const names = { from: phaseName(next.from), to: phaseName(next.to) };
    setText(byId("phase-button"), "staff.phase_button", names);
  }
  const status = byId("phase-status");
  status.replaceChildren();
  if (notice) {
    const [key, params, kind] = notice;
    const shown =
      key === "staff.phase_moved"
        ? { from: phaseName(params.from), to: phaseName(params.to) }
        : params;
    status.append(alertBox(kind, (p) => (key ? setText(p, key, shown) : errorText(p, params))));
  }
  // A refusal of the reason points at the reason box itself.
  const reasonRefused = Boolean(notice && !notice[0] && notice[1].field === "reason");
  byId("reason").toggleAttribute("aria-invalid", reasonRefused);
  byId("phase-form").classList.toggle("usa-form-group--error", reasonRefused);
}

function askToConfirm(event) {
  event.preventDefault();
  const reason = byId("reason");
  const next = move();
  if (!next) return;
  const missing = !reason.value.trim();
  markInvalid(reason, byId("reason-error"), byId("phase-form"), missing);
  if (missing) {
    reason.focus();
    return;
  }
  const names = { from: phaseName(next.from), to: phaseName(next.to) };
  setText(byId("confirm-text"), "staff.confirm_text", names);
  const dialog = byId("confirm-dialog");
  dialog.dataset.from = next.from;
  dialog.dataset.version = String(board.version);
  const empty = closesEmptyVoting(next);
  dialog.dataset.empty = empty ? "1" : "";
  show(byId("zero-ballots"), empty);
  const tick = byId("zero-ballots-confirm");
  tick.checked = false;
  markInvalid(tick, byId("zero-ballots-error"), byId("zero-ballots-group"), false);
  byId("confirm-button").disabled = false;
  dialog.showModal();
  byId("cancel-button").focus();
}

async function changePhase() {
  const dialog = byId("confirm-dialog");
  if (submitting || !dialog.open) return; // one request per confirmation
  const tick = byId("zero-ballots-confirm");
  if (dialog.dataset.empty && !tick.checked) {
    // The second confirmation: nothing is sent until the box is ticked.
    markInvalid(tick, byId("zero-ballots-error"), byId("zero-ballots-group"), true);
    tick.focus();
    return;
  }
  const from = dialog.dataset.from;
  const body = {
    action: from === "scheduled" ? "open" : "close",
    phase: from === "scheduled" ? board.next_phase : from,
    reason: byId("reason").value.trim(),
    // The version read with the dashboard: a second click, or a change
    // made meanwhile by someone else, is refused as STALE_VERSION.
    version: Number(dialog.dataset.version),
  };
  submitting = true;
  byId("confirm-button").disabled = true;
  try {
    const { body: answer } = await staffCall(
      `/staff/cycles/${encodeURIComponent(board.cycle_id)}/phase`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      },
    );
    const { from: was, to } = answer.transition;
    // Phase ids, not names: the notice is drawn again after a language switch.
    notice = ["staff.phase_moved", { from: was, to }, "success"];
    byId("reason").value = "";
  } catch (exc) {
    if (exc.status === 401) return;
    notice = [null, exc, "error"];
  } finally {
    submitting = false;
    dialog.close();
  }
  await load();
  if (audit) await showAudit();
  focusOn(byId("phase-status"));
}

// The audit log, from the CSV export -----------------------------------------

/** RFC 4180 rows: quoted cells may hold commas, quotes and line breaks. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        cell += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ",") {
      row.push(cell);
      cell = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += char;
    }
  }
  if (cell || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** A cell as written, without the apostrophe the export adds before a formula. */
const unguard = (cell) => (/^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell);

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function auditRows(text) {
  const [header, ...rows] = parseCsv(text);
  const at = (name) => header.indexOf(name);
  return rows
    .filter((row) => row.length === header.length)
    .map((row) => {
      const cell = (name) => unguard(row[at(name)] || "");
      return {
        at: cell("at"),
        actor: cell("actor"),
        action: cell("action"),
        reason: cell("reason"),
        before: parseJson(cell("before")),
        after: parseJson(cell("after")),
      };
    });
}

function describeEntry(entry) {
  const what = AUDIT_ACTIONS.has(entry.action)
    ? t(`staff.audit_${entry.action}`)
    : BATCH_ACTIONS[entry.action]
      ? t(BATCH_ACTIONS[entry.action])
      : entry.action;
  if (entry.action === "phase_changed" && entry.before?.phase && entry.after?.phase) {
    return `${what}: ${phaseName(entry.before.phase)} → ${phaseName(entry.after.phase)}`;
  }
  if (entry.action === "refused" && entry.after?.code) return `${what}: ${entry.after.code}`;
  return what;
}

async function showAudit() {
  const status = byId("audit-status");
  status.replaceChildren(setText(el("p"), "common.loading"));
  try {
    const text = await staffText(`/staff/cycles/${encodeURIComponent(board.cycle_id)}/audit.csv`);
    audit = auditRows(text);
    if (auditUrl) URL.revokeObjectURL(auditUrl);
    auditUrl = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    status.replaceChildren();
  } catch (exc) {
    if (exc.status === 401) return;
    status.replaceChildren(alertBox("error", (p) => errorText(p, exc)));
  }
  renderAudit();
}

function renderAudit() {
  const allowed = (me?.actions || []).includes("audit.export");
  show(byId("audit-section"), allowed);
  if (!allowed || !audit) return;
  const link = byId("audit-download");
  link.href = auditUrl;
  link.download = `audit-${board.cycle_id}.csv`;
  show(link);
  const tbody = byId("audit-table").tBodies[0];
  tbody.replaceChildren();
  for (const entry of audit) {
    tbody.append(
      el("tr", {
        attrs: { "data-action": entry.action },
        children: [
          el("td", { text: entry.at ? when(entry.at) : "" }),
          el("td", { text: entry.actor }),
          el("td", { text: describeEntry(entry) }),
          el("td", { text: entry.reason }),
        ],
      }),
    );
  }
  show(byId("audit-wrap"));
}

function wire() {
  byId("phase-form").addEventListener("submit", askToConfirm);
  byId("confirm-button").addEventListener("click", changePhase);
  byId("cancel-button").addEventListener("click", () => {
    byId("confirm-dialog").close();
    byId("phase-button").focus();
  });
  byId("audit-button").addEventListener("click", showAudit);
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
