// Vouching in person (staff/vouch.html): a signed-in event volunteer
// confirms they see the resident, may type the resident's phone or email,
// and gets a voter pass (POST /staff/cycles/{id}/vouch), then hands the
// device over.
//
// The handoff is a same-tab navigation to the ballot, chosen as the least
// leaky of the ways to carry the pass across: the pass goes into this tab's
// sessionStorage (kiosk.js's HANDOFF), which the ballot page empties the
// moment it reads it, and lives on in that page's memory only. Before the
// tab navigates the volunteer is signed out of it (the access token leaves
// sessionStorage), so the resident holding the device cannot get back to
// the staff console or vouch for anyone; location.replace keeps this page
// out of Back. The cost: the volunteer signs in again for each resident
// (the confirmation page's button leads back to the sign-in, then here).
// A new tab or window would keep the volunteer signed in, but the resident
// could switch to it; a pass in the URL would land in history.

import { getCycle } from "./api.js";
import { byId, el, focusOn, show } from "./dom.js";
import { setText } from "./i18n.js";
import { HANDOFF, VOUCH_SITE } from "./kiosk.js";
import {
  rememberActor,
  signOut,
  staffCall,
  startStaffPage,
  token,
  updateStaffBar,
} from "./staff-common.js";
import { describeRefusal } from "./staff-errors.js";
import { done, failed, loading } from "./status.js";

const GROUPS = ["seen", "contact", "site"];
/** Sentences for refusals of this page that the console's table lacks. */
const OWN_REFUSALS = {
  INVALID_PHONE: "staff.vouch_error_phone",
  INVALID_EMAIL: "staff.vouch_error_email",
  PHASE_CLOSED: "staff.vouch_not_voting",
  METHOD_NOT_OFFERED: "staff.vouch_not_offered",
  NOT_PERMITTED: "staff.vouch_not_permitted",
};

let cycle = null; // GET /cycle
let me = null; // GET /staff/me
let error = null;
let submitting = false;

async function load() {
  loading();
  try {
    [cycle, me] = await Promise.all([
      getCycle(),
      staffCall("/staff/me").then((r) => r.body),
    ]);
    rememberActor(me.actor);
    updateStaffBar();
    error = null;
  } catch (exc) {
    error = exc;
  }
  render();
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

/** Why this page cannot vouch now, as a catalog key, or null if it can. */
function closedReason() {
  if (!(me?.actions || []).includes("voter.vouch")) return "staff.vouch_not_permitted";
  if (cycle.phase !== "voting") return "staff.vouch_not_voting";
  if (!(cycle.verification || []).includes("in_person")) return "staff.vouch_not_offered";
  return null;
}

function render() {
  const form = byId("vouch-form");
  const region = byId("page-status");
  if (error) {
    show(form, false);
    if (error.status === 401) return; // staffCall is on its way to the sign-in page
    if (error.status >= 400 && error.status < 500) {
      region.replaceChildren(alertBox("error", (p) => describe(p, error)));
      return show(region);
    }
    return failed(error, load);
  }
  if (!cycle) return;
  done();
  byId("cycle-name").textContent = cycle.name || cycle.cycle_id;
  const closed = closedReason();
  show(form, !closed);
  if (closed) {
    region.replaceChildren(alertBox("warning", (p) => setText(p, closed)));
    show(region);
  }
}

/** A refusal in words: this page's own sentence, else the console's. */
function describe(node, exc, withField = true) {
  const own = OWN_REFUSALS[exc.code];
  if (own) return setText(node, own);
  return describeRefusal(node, withField ? exc : { code: exc.code });
}

function groupOf(field = "") {
  if (field.startsWith("attestation.site")) return "site";
  if (field.startsWith("attestation")) return "seen";
  if (field.startsWith("contact")) return "contact";
  return null;
}

/** Marks the field at fault and focuses it; an error of no field goes above. */
function showError(group, fill) {
  for (const name of GROUPS) {
    byId(`group-${name}`).classList.remove("usa-form-group--error");
    byId(name).removeAttribute("aria-invalid");
    show(byId(`error-${name}`), false);
  }
  const region = byId("page-status");
  region.replaceChildren();
  show(region, false);
  if (!fill) return;
  if (!group) {
    region.replaceChildren(alertBox("error", fill));
    show(region);
    return focusOn(region);
  }
  byId(`group-${group}`).classList.add("usa-form-group--error");
  const slot = byId(`error-${group}`);
  fill(slot);
  show(slot);
  byId(group).setAttribute("aria-invalid", "true");
  byId(group).focus();
}

function vouchBody() {
  const body = { attestation: { seen_in_person: true } };
  const site = byId("site").value.trim();
  if (site) body.attestation.site = site;
  const contact = byId("contact").value.trim();
  if (contact) body.contact = { kind: contact.includes("@") ? "email" : "phone", value: contact };
  return body;
}

async function vouch(event) {
  event.preventDefault();
  if (submitting) return;
  if (!byId("seen").checked) {
    return showError("seen", (node) => setText(node, "staff.vouch_seen_required"));
  }
  const body = vouchBody();
  try {
    localStorage.setItem(VOUCH_SITE, body.attestation.site || "");
  } catch {
    // not remembered for the next resident; nothing else changes
  }
  submitting = true;
  const button = byId("vouch-button");
  button.disabled = true;
  try {
    const path = `/staff/cycles/${encodeURIComponent(cycle.cycle_id)}/vouch`;
    const answer = await staffCall(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    handOver(answer.body);
  } catch (exc) {
    submitting = false;
    button.disabled = false;
    if (exc.status === 401) return; // signed out: on the way to the sign-in page
    const group = groupOf(exc.field);
    showError(group, (node) => describe(node, exc, !group));
  }
}

/** Puts the pass where the ballot page takes it, signs out, opens the ballot. */
function handOver(answer) {
  byId("contact").value = "";
  try {
    sessionStorage.setItem(
      HANDOFF,
      JSON.stringify({ voter_pass: answer.voter_pass, expires_at: answer.expires_at }),
    );
  } catch {
    submitting = false;
    byId("vouch-button").disabled = false;
    return showError(null, (node) => setText(node, "staff.vouch_no_storage"));
  }
  signOut(false);
  location.replace("../ballot.html");
}

function wire() {
  byId("vouch-form").addEventListener("submit", vouch);
  try {
    byId("site").value = localStorage.getItem(VOUCH_SITE) || "";
  } catch {
    // storage disabled: the site starts empty
  }
}

if (!token()) {
  location.replace("index.html?next=vouch"); // sign in first, then come back here
} else {
  wire();
  startStaffPage(render)
    .then(load)
    .catch((exc) => console.error(exc));
}
