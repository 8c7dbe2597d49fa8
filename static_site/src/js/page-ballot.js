// The ballot: choose, say who you are and prove it (verify.js), review, cast.
//
// A cast ballot goes into the device's queue first (with its one
// Idempotency-Key) and is then sent; if the connection fails it stays queued
// and the voter sees that it will be sent later. Only a 4xx sends the voter
// back to the form, since nothing was recorded then. The voter is read again
// at the moment of casting, so a pass that expired or was forgotten (event
// mode, idle) during the review is never sent.

import { getBallot, getCycle, postBallot } from "./api.js";
import { renderCards, totalCost, updateTally } from "./ballot-cards.js";
import { byId, el, focusOn, show } from "./dom.js";
import { localized, money, setText, t } from "./i18n.js";
import { isKiosk } from "./kiosk.js";
import { startPage } from "./layout.js";
import { enqueue, newIdempotencyKey, send } from "./queue.js";
import { describeError, done, failed, loading } from "./status.js";
import {
  afterRefusal,
  passExpiry,
  readVoter,
  renderVerification,
  setupVerification,
  voterField,
  wireVerification,
} from "./verify.js";
import { fillNeighbourhoods, readForm, showFieldErrors } from "./voter-form.js";

let ballot = null;
let cycle = null;
let loadError = null;
const chosen = new Set();
let reviewing = false;
let pendingBody = null;

async function load() {
  loading();
  try {
    [cycle, ballot] = await Promise.all([getCycle(), getBallot()]);
    loadError = cycle.phase === "voting" ? null : { code: "BALLOT_NOT_OPEN", status: 409 };
    if (!loadError) setupVerification(cycle, showErrors);
  } catch (exc) {
    loadError = exc;
  }
  render();
}

function render() {
  // Voting not open (before, or after it closed): say where to go instead.
  show(byId("closed-links"), loadError?.code === "BALLOT_NOT_OPEN");
  if (loadError) {
    failed(loadError, load);
    show(byId("ballot-form"), false);
    show(byId("review"), false);
    return;
  }
  if (!ballot) return;
  done();
  setText(byId("instructions"), "ballot.instructions", { limit: ballot.selection_limit });
  renderCards(ballot, chosen, () => updateTally(ballot, chosen));
  renderVerification();
  if (reviewing) renderReview();
  show(byId("ballot-form"), !reviewing);
  show(byId("review"), reviewing);
}

function renderReview() {
  const list = byId("review-list");
  list.replaceChildren();
  for (const proposal of ballot.proposals.filter((p) => chosen.has(p.proposal_id))) {
    const title = localized(proposal.title);
    const item = el("li");
    item.append(el("span", { text: title.text, attrs: { lang: title.lang } }));
    item.append(` — ${money(proposal.cost)}`);
    list.append(item);
  }
  setText(byId("review-total"), "ballot.chosen_total", { amount: money(totalCost(ballot, chosen)) });
}

function toReview(event) {
  event.preventDefault();
  const { body, errors } = readForm(chosen);
  showFieldErrors(errors);
  if (errors.length) return;
  reviewing = true;
  byId("casting").textContent = "";
  render();
  focusOn(byId("review-heading"));
  window.scrollTo(0, 0);
  pendingBody = body;
}

function toForm() {
  reviewing = false;
  render();
  focusOn(byId("ballot-heading"));
}

/** Errors for the form, from the review too (a pass forgotten meanwhile). */
function showErrors(errors, options) {
  if (reviewing && errors.length) {
    reviewing = false;
    render();
  }
  showFieldErrors(errors, options);
}

// One key per ballot: every retry, from here or from the queue, reuses it.
// It is renewed only after a refusal, when nothing was recorded.
let castKey = null;

async function cast() {
  const { voter, errors } = readVoter();
  if (errors.length) return showErrors(errors);
  pendingBody = { ...pendingBody, voter };
  const button = byId("cast-button");
  button.disabled = true;
  setText(byId("casting"), "ballot.casting");
  castKey ??= newIdempotencyKey();
  let result;
  try {
    enqueue(castKey, pendingBody);
    result = await send(castKey);
  } catch {
    // The device would not store it (storage full or disabled): send it
    // without the safety net; on failure the voter can press Cast again.
    result = await sendUnstored(castKey, pendingBody);
  }
  button.disabled = false;
  if (result.outcome === "recorded") return confirmed({ receipt: result.receipt });
  if (result.outcome === "kept") {
    // Not recorded yet (offline, 5xx, 429): the confirmation page says so
    // and keeps sending it under the same key until the server answers.
    console.warn("ballot queued for later", result.error?.code);
    const expires = passExpiry();
    const queued = { queued: true, key: castKey };
    if (expires) queued.pass_expires_at = new Date(expires).toISOString();
    return confirmed(queued);
  }
  if (result.outcome === "failed") {
    describeError(byId("casting"), result.error);
    return;
  }
  castKey = null;
  reviewing = false;
  const error = result.error || { code: "NETWORK", status: 0 };
  const field = fieldOf(error.field, pendingBody.voter);
  afterRefusal(error);
  render();
  showFieldErrors([{ field, node: describeError(el("span"), error) }]);
}

async function sendUnstored(key, body) {
  try {
    return { outcome: "recorded", receipt: await postBallot(key, body) };
  } catch (error) {
    const final = error.status >= 400 && error.status < 500;
    return { outcome: final ? "refused" : "failed", error };
  }
}

// Maps an API field such as "attestation.age" to the form group at fault.
function fieldOf(field = "", voter = null) {
  if (field.startsWith("selections")) return "selections";
  if (field.startsWith("voter")) return voterField(field, voter);
  if (field === "attestation.boston_resident") return "resident";
  if (field.startsWith("attestation") || field === "age_bracket") return "age";
  return "";
}

function confirmed(outcome) {
  sessionStorage.setItem("pb.receipt", JSON.stringify(outcome));
  chosen.clear();
  // Replace, not push: Back must not return to a filled-in ballot.
  location.replace("confirmation.html");
}

// Keeps the page's scroll-padding-bottom (site.css) at the sticky count bar's
// height, so a focused field is never scrolled under the bar (WCAG 2.4.11).
function trackTallyHeight() {
  const tally = byId("ballot-tally");
  if (!tally || !window.ResizeObserver) return;
  new ResizeObserver(() => {
    const height = Math.ceil(tally.getBoundingClientRect().height);
    const margin = 8; // a little air between the focus ring and the bar
    document.documentElement.style.setProperty("--pb-tally-height", `${height + margin}px`);
  }).observe(tally);
}

function wire() {
  fillNeighbourhoods();
  wireVerification();
  trackTallyHeight();
  byId("ballot-form").addEventListener("submit", toReview);
  byId("edit-button").addEventListener("click", toForm);
  byId("cast-button").addEventListener("click", cast);
  if (sessionStorage.getItem("pb.cleared")) {
    sessionStorage.removeItem("pb.cleared");
    show(byId("cleared-note"));
  }
  // A page restored from the back/forward cache may still hold the last
  // voter's choices; on a shared device start over instead.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && isKiosk()) location.reload();
  });
}

wire();
startPage(render)
  .then(load)
  .catch((exc) => console.error(exc));
