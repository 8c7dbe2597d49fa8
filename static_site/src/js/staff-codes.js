// Access codes: the cycle's batches (site, codes, used, status), a new
// batch whose printable sheet downloads at once (the only copy of its
// codes: the API keeps none), and revoking a batch with a reason and a
// confirmation. Each control shows only to groups the API allows; the API
// refuses the rest anyway.

import { byId, el, focusOn, show } from "./dom.js";
import { date, number, setText, t } from "./i18n.js";
import {
  saveFile,
  staffCall,
  staffFile,
  startStaffPage,
  token,
  toSignIn,
} from "./staff-common.js";
import { loadBatchPage, markInvalid, showNotice, showPageRefusal } from "./staff-page.js";
import { done, failed, loading } from "./status.js";

let me = null; // GET /staff/me
let board = null; // the cycle's dashboard: its name and id
let batches = null; // GET .../access-code-batches
let error = null;
let generated = null; // [key, params, kind] after making a batch
let listNotice = null; // after a revoke
let revokeNotice = null; // a refusal shown in the revoke dialog
let sheetUrl = null; // the last sheet, while this page is open
let busy = false;

const can = (action) => (me?.actions || []).includes(action);
const base = () => `/staff/cycles/${encodeURIComponent(board.cycle_id)}/access-code-batches`;

async function load() {
  loading();
  try {
    ({ me, board, batches } = await loadBatchPage(me, "access-code-batches"));
    error = null;
  } catch (exc) {
    error = exc;
  }
  render();
}

function render() {
  if (error) {
    show(byId("codes"), false);
    if (error.status === 401) return; // on its way to the sign-in page
    if (!showPageRefusal(error, board?.cycle_id)) failed(error, load);
    return;
  }
  if (!board || !batches) return;
  done();
  byId("cycle-name").textContent = board.name || board.cycle_id;
  show(byId("generate-section"), can("access_codes.create"));
  showNotice(byId("generate-status"), generated, board.cycle_id);
  showNotice(byId("list-status"), listNotice, board.cycle_id);
  showNotice(byId("revoke-status"), revokeNotice, board.cycle_id);
  renderBatches();
  show(byId("codes"));
}

function statusText(batch) {
  if (batch.status === "revoked") {
    return batch.reason
      ? t("staff.codes_status_revoked_reason", { reason: batch.reason })
      : t("staff.codes_status_revoked");
  }
  return t("staff.codes_status_active");
}

function renderBatches() {
  const revoking = can("access_codes.revoke");
  show(byId("actions-col"), revoking);
  const tbody = byId("batches-table").tBodies[0];
  tbody.replaceChildren();
  for (const batch of batches) {
    const cells = [
      el("th", { text: batch.batch_id, attrs: { scope: "row" } }),
      el("td", { text: batch.site }),
      // A day in the cycle's own calendar: shown as written, whatever the zone.
      el("td", { text: date(batch.created_on, "UTC") }),
      el("td", { text: number(batch.count) }),
      el("td", { text: number(batch.used_count) }),
      el("td", { text: statusText(batch), attrs: { "data-status": batch.status } }),
    ];
    if (revoking) {
      const cell = el("td");
      if (batch.status === "active") {
        const button = el("button", {
          className: "usa-button usa-button--outline usa-button--secondary",
          text: t("staff.codes_revoke"),
          attrs: {
            type: "button",
            "data-batch": batch.batch_id,
            "aria-label": t("staff.codes_revoke_label", { batch: batch.batch_id, site: batch.site }),
          },
        });
        button.addEventListener("click", () => askToRevoke(batch));
        cell.append(button);
      }
      cells.push(cell);
    }
    tbody.append(el("tr", { attrs: { "data-batch": batch.batch_id }, children: cells }));
  }
  show(byId("no-batches"), batches.length === 0);
  show(byId("batches-wrap"), batches.length > 0);
}

// Making a batch ---------------------------------------------------------------

/** The form's values, or null after marking the fields to fix. */
function readGenerateForm() {
  const site = byId("site");
  const count = byId("count");
  const siteMissing = !site.value.trim();
  const text = count.value.trim();
  const amount = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  const countWrong = !(amount >= 1 && amount <= 1000);
  markInvalid(site, byId("site-error"), byId("site-group"), siteMissing);
  markInvalid(count, byId("count-error"), byId("count-group"), countWrong);
  if (siteMissing) site.focus();
  else if (countWrong) count.focus();
  return siteMissing || countWrong ? null : { site: site.value.trim(), count: amount };
}

/** A refusal that names a field of the form marks that field too. */
function markRefusedField(exc) {
  const fields = { site: ["site", "site-group"], count: ["count", "count-group"] };
  for (const [name, [input, group]] of Object.entries(fields)) {
    const refused = exc?.field === name;
    byId(input).toggleAttribute("aria-invalid", false);
    if (refused) byId(input).setAttribute("aria-invalid", "true");
    byId(group).classList.toggle("usa-form-group--error", refused);
  }
}

async function generate(event) {
  event.preventDefault();
  if (busy) return;
  const body = readGenerateForm();
  if (!body) return;
  busy = true;
  const button = byId("generate-button");
  button.disabled = true;
  generated = ["staff.codes_generating", {}, "info"];
  render();
  try {
    const { blob, filename } = await staffFile(
      base(),
      {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/pdf" },
        body: JSON.stringify(body),
      },
      `access-codes-${board.cycle_id}.pdf`,
    );
    if (sheetUrl) URL.revokeObjectURL(sheetUrl);
    sheetUrl = saveFile(blob, filename);
    const again = byId("sheet-again");
    again.href = sheetUrl;
    again.download = filename;
    show(again);
    generated = [
      "staff.codes_generated",
      { count: number(body.count), site: body.site, file: filename },
      "success",
    ];
    markRefusedField(null);
    byId("site").value = "";
    byId("count").value = "";
  } catch (exc) {
    if (exc.status === 401) return;
    generated = [null, exc, "error"];
    markRefusedField(exc);
  } finally {
    busy = false;
    button.disabled = false;
  }
  await load();
  focusOn(byId("generate-status"));
}

// Revoking a batch ---------------------------------------------------------------

function askToRevoke(batch) {
  const dialog = byId("revoke-dialog");
  dialog.dataset.batch = batch.batch_id;
  setText(byId("revoke-text"), "staff.codes_revoke_text", {
    batch: batch.batch_id,
    site: batch.site,
    unused: number(batch.unused_count),
  });
  byId("revoke-reason").value = "";
  markInvalid(byId("revoke-reason"), byId("revoke-reason-error"), byId("revoke-reason-group"), false);
  revokeNotice = null;
  showNotice(byId("revoke-status"), null);
  byId("revoke-confirm").disabled = false;
  dialog.showModal();
  byId("revoke-reason").focus();
}

async function revoke(event) {
  event.preventDefault();
  const dialog = byId("revoke-dialog");
  if (busy || !dialog.open) return; // one request per confirmation
  const reason = byId("revoke-reason");
  const missing = !reason.value.trim();
  markInvalid(reason, byId("revoke-reason-error"), byId("revoke-reason-group"), missing);
  if (missing) {
    reason.focus();
    return;
  }
  const batchId = dialog.dataset.batch;
  busy = true;
  byId("revoke-confirm").disabled = true;
  try {
    await staffCall(`${base()}/${encodeURIComponent(batchId)}/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ reason: reason.value.trim() }),
    });
    listNotice = ["staff.codes_revoked", { batch: batchId }, "success"];
    revokeNotice = null;
    dialog.close();
  } catch (exc) {
    if (exc.status === 401) return;
    // The refusal shows in the dialog, next to the reason it may be about.
    revokeNotice = [null, exc, "error"];
    if (exc.field === "reason") reason.setAttribute("aria-invalid", "true");
  } finally {
    busy = false;
    byId("revoke-confirm").disabled = false;
  }
  await load();
  if (dialog.open) focusOn(byId("revoke-status"));
  else focusOn(byId("list-status"));
}

function wire() {
  byId("generate-form").addEventListener("submit", generate);
  byId("revoke-form").addEventListener("submit", revoke);
  byId("revoke-cancel").addEventListener("click", () => {
    const batchId = byId("revoke-dialog").dataset.batch;
    byId("revoke-dialog").close();
    document.querySelector(`#batches-table button[data-batch="${CSS.escape(batchId)}"]`)?.focus();
  });
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
