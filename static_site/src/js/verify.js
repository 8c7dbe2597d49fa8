// The ballot's verification step: the resident proves who they are by one of
// the ways the cycle offers (GET /cycle's `verification`), and the step
// gives the ballot its `voter`.
//
// - sms, email: send a 6-digit code (POST /verifications), type it in
//   (POST /verifications/{id}), and get a voter pass, which the ballot
//   carries as {"kind": "pass"}.
// - access_code: the printed code, with an optional phone or email so the
//   same person cannot also vote by text or email.
// - attested (only where the cycle offers it): the phone or email as typed.
// - in_person: the volunteer's page (staff/vouch.html) hands the pass over
//   through sessionStorage, which this module reads once and empties.
//
// The pass is a bearer token for the resident's one ballot, so it lives in
// this module's memory only: never in localStorage or sessionStorage (bar
// the moment of a volunteer's handoff), gone with the page. The offline
// queue holds it inside an unsent ballot; js/queue.js says for how long.

import { checkVerification, startVerification } from "./api.js";
import { byId, el, focusOn, show } from "./dom.js";
import { language, setText, time } from "./i18n.js";
import { HANDOFF, isKiosk, VOUCHED } from "./kiosk.js";
import { describeError } from "./status.js";

/** The ways a resident can choose on this page, in the order offered. */
const CHOICES = ["sms", "email", "access_code", "attested"];
const SENT_BY = { sms: "phone", email: "email" };
/** A new code can be asked for this long after the last one was sent. */
const RESEND_AFTER_MS = 30_000;
/** A pass lives 30 minutes (chalicelib/passes.py); the server has the last word. */
const PASS_LIFETIME_MS = 30 * 60_000;
/** In event mode a pass left unused this long is forgotten (the voter walked off). */
const KIOSK_IDLE_MS = 5 * 60_000;

let offered = [];
let languages = ["en"];
let timeZone = "America/New_York";
let method = null;
/** The code sent last: {id, method, contact, expiresAt, sentAt, dead}. */
let challenge = null;
/** {value, method, expiresAt} in epoch ms, or null. */
let voterPass = null;
let ticker = null;
let idleTimer = null;
let idleWatched = false;
let onErrors = () => {};

const offers = (name) => offered.includes(name);

/**
 * Prepares the step for `cycle`; `showErrors(errors, {summary})` marks the
 * fields (voter-form.js's showFieldErrors). Takes a volunteer's handoff.
 */
export function setupVerification(cycle, showErrors) {
  offered = Array.isArray(cycle.verification) ? cycle.verification : [];
  languages = cycle.languages || ["en"];
  timeZone = cycle.timezone || timeZone;
  onErrors = showErrors;
  const choices = CHOICES.filter(offers);
  if (choices.length === 1) method = choices[0];
  renderVerification();
}

/** A pass a volunteer's page left for this tab, taken out of storage at once. */
function takeHandoff() {
  let handed = null;
  try {
    handed = JSON.parse(sessionStorage.getItem(HANDOFF) || "null");
    sessionStorage.removeItem(HANDOFF);
  } catch {
    return;
  }
  if (!handed?.voter_pass) return;
  keepPass(handed.voter_pass, handed.expires_at, "in_person");
  try {
    sessionStorage.setItem(VOUCHED, "1");
  } catch {
    // the confirmation will not offer to hand the device back; nothing else
  }
}

function keepPass(value, expiresAt, how) {
  const left = Date.parse(expiresAt) - Date.now();
  // A device clock far off makes `left` meaningless; fall back to the lifetime.
  const lifetime = left > 0 && left <= PASS_LIFETIME_MS ? left : PASS_LIFETIME_MS;
  voterPass = { value, method: how, expiresAt: Date.now() + lifetime };
  challenge = null;
  watchIdle();
}

/** Forgets the pass (expired, refused, or the resident chose another way). */
export function forgetPass() {
  voterPass = null;
  clearTimeout(idleTimer);
  renderVerification();
}

function restartIdle() {
  clearTimeout(idleTimer);
  if (!voterPass || !isKiosk()) return;
  idleTimer = setTimeout(() => {
    forgetPass();
    onErrors([{ field: "method", key: "verify.error_idle" }], { summary: true });
  }, KIOSK_IDLE_MS);
}

function watchIdle() {
  if (!idleWatched) {
    idleWatched = true;
    for (const type of ["keydown", "pointerdown", "input"]) {
      document.addEventListener(type, restartIdle, { passive: true });
    }
  }
  restartIdle();
}

// Rendering ------------------------------------------------------------------

export function renderVerification() {
  const verified = Boolean(voterPass);
  show(byId("vouched-note"), voterPass?.method === "in_person");
  show(byId("verified"), verified);
  if (verified) setText(byId("verified-text"), `verify.verified_${voterPass.method}`);
  // A cycle that offers only volunteers has nothing to choose here.
  show(byId("group-method"), !verified && CHOICES.some(offers));
  for (const name of CHOICES) {
    show(byId(`choice-${name}`), offers(name));
    byId(`method-${name}`).checked = method === name;
  }
  show(byId("in-person-note"), !verified && offers("in_person"));
  show(byId("panel-code"), !verified && method in SENT_BY);
  show(byId("panel-access"), !verified && method === "access_code");
  show(byId("panel-attested"), !verified && method === "attested");
  if (method in SENT_BY) renderCodePanel();
}

function renderCodePanel() {
  const input = byId("verify-contact");
  const phone = method === "sms";
  setText(byId("verify-contact-label"), phone ? "verify.phone" : "verify.email");
  setText(byId("verify-contact-hint"), phone ? "verify.phone_hint" : "verify.email_hint");
  input.type = phone ? "tel" : "email";
  input.autocomplete = phone ? "tel" : "email";
  input.inputMode = phone ? "tel" : "email";
  setText(byId("send-code"), phone ? "verify.send_sms" : "verify.send_email");
  const current = challenge?.method === method ? challenge : null;
  show(byId("send-code"), !current);
  show(byId("code-step"), Boolean(current));
  if (!current) return stopTicker();
  const sent = current.method === "sms" ? "verify.code_sent_sms" : "verify.code_sent_email";
  setText(byId("code-sent"), sent, {
    contact: current.contact,
    time: time(current.expiresAt, timeZone),
  });
  byId("check-code").disabled = current.dead;
  renderResend();
}

function renderResend() {
  const wait = challenge ? challenge.sentAt + RESEND_AFTER_MS - Date.now() : 0;
  const waiting = wait > 0 && !challenge.dead;
  byId("resend-code").disabled = waiting;
  const note = byId("resend-wait");
  show(note, waiting);
  if (!waiting) return stopTicker();
  setText(note, "verify.resend_wait", { seconds: Math.ceil(wait / 1000) });
  // The note is not a live region: it changes every second, and a screen
  // reader reads it when the resident reaches it, not at every tick.
  ticker ??= setInterval(renderResend, 1000);
}

function stopTicker() {
  clearInterval(ticker);
  ticker = null;
}

// Reading the step into the ballot ------------------------------------------

/** The kind of contact typed: an email if it has an @, else a phone. */

/**
 * The ballot's `voter`, or the errors that keep it from being one:
 * returns {voter, errors} with errors as {field, key}.
 */
/** The kind of contact a resident typed, as the API names it: phone or email. */
export const contactKind = (value) => (value.includes("@") ? "email" : "phone");

export function readVoter() {
  if (voterPass) {
    if (Date.now() >= voterPass.expiresAt) {
      forgetPass();
      return { voter: null, errors: [{ field: "method", key: "verify.error_pass_expired" }] };
    }
    return { voter: { kind: "pass", value: voterPass.value }, errors: [] };
  }
  if (!method) {
    const key = CHOICES.some(offers) ? "verify.error_method" : "verify.in_person_note";
    return { voter: null, errors: [{ field: "method", key }] };
  }
  if (method in SENT_BY) {
    if (challenge?.method === method && !challenge.dead) {
      return { voter: null, errors: [{ field: "code", key: "verify.error_check_first" }] };
    }
    return { voter: null, errors: [{ field: "contact", key: `verify.error_send_first_${method}` }] };
  }
  if (method === "access_code") {
    const code = byId("access-code").value.trim();
    if (!code) return { voter: null, errors: [{ field: "access", key: "verify.error_access_code" }] };
    const voter = { kind: "access_code", value: code };
    const contact = byId("access-contact").value.trim();
    if (contact) voter.contact = { kind: contactKind(contact), value: contact };
    return { voter, errors: [] };
  }
  const value = byId("voter-id").value.trim();
  if (!value) return { voter: null, errors: [{ field: "voter", key: "verify.error_attested" }] };
  return { voter: { kind: contactKind(value), value }, errors: [] };
}

/** The form group a ballot refusal's field belongs to, for the voter sent. */
export function voterField(field, voter) {
  if (field === "voter.kind") return "method";
  if (voter?.kind === "pass") return "method";
  if (voter?.kind === "access_code") {
    if (field.startsWith("voter.contact")) return "access-contact";
    return voter.contact && field === "voter" ? "access-contact" : "access";
  }
  return "voter";
}

/**
 * What a refused ballot means for the step: a pass that expired, is not
 * valid or has voted already can do nothing more, so it is forgotten and the
 * resident proves who they are again.
 */
export function afterRefusal(error) {
  if (["PASS_EXPIRED", "PASS_INVALID", "ALREADY_VOTED", "METHOD_NOT_OFFERED"].includes(error.code)) {
    if (voterPass) forgetPass();
  }
}

/** The pass's expiry (epoch ms) if the ballot uses one, for the queue's note. */
export const passExpiry = () => voterPass?.expiresAt ?? null;

// Sending and checking codes ------------------------------------------------

/** Words for a refusal of a send or a check, with its numbers filled in. */
export function describeVerifyError(error) {
  const node = el("span");
  if (error.code === "CODE_INCORRECT" && Number.isInteger(error.attemptsLeft)) {
    return setText(node, "verify.error_code_incorrect", { count: error.attemptsLeft });
  }
  if (error.code === "RATE_LIMITED") {
    const minutes = Math.max(1, Math.ceil((error.retryAfter ?? 3600) / 60));
    const key = error.field === "client" ? "verify.error_rate_limited_client" : "verify.error_rate_limited";
    return setText(node, key, { minutes });
  }
  return describeError(node, error);
}

/** The group a send or check refusal belongs next to. */
function fieldOfCheck(error) {
  if (error.field === "method" || error.code === "METHOD_NOT_OFFERED") return "method";
  if (error.field === "contact" || error.field === "client") return "contact";
  return "code";
}

const refuse = (field, key) => onErrors([{ field, key }], { summary: false });

const codeLanguage = () => (languages.includes(language()) ? language() : "en");

async function sendCode() {
  const contact = byId("verify-contact").value.trim();
  if (!contact) return refuse("contact", `verify.error_contact_${method}`);
  const button = challenge?.method === method ? byId("resend-code") : byId("send-code");
  button.disabled = true;
  try {
    const sent = await startVerification(method, contact, codeLanguage());
    challenge = {
      id: sent.verification_id,
      method,
      contact,
      expiresAt: sent.expires_at,
      sentAt: Date.now(),
      dead: false,
    };
    byId("verify-code").value = "";
    onErrors([], { summary: false });
    renderVerification();
    byId("verify-code").focus();
  } catch (error) {
    button.disabled = false;
    onErrors([{ field: fieldOfCheck(error), node: describeVerifyError(error) }], { summary: false });
    if (error.code === "METHOD_NOT_OFFERED") focusOn(byId(`method-${method}`));
  }
}

/** "123 456", "123-456" and full-width digits are the same code. */
const typedCode = (value) => value.normalize("NFKC").replace(/[\s-]/g, "");

async function checkCode() {
  const code = typedCode(byId("verify-code").value);
  if (!/^\d{6}$/.test(code)) return refuse("code", "verify.error_code_format");
  const button = byId("check-code");
  button.disabled = true;
  try {
    const answer = await checkVerification(challenge.id, code);
    keepPass(answer.voter_pass, answer.expires_at, challenge.method);
    byId("verify-code").value = "";
    onErrors([], { summary: false });
    renderVerification();
    focusOn(byId("verified-text"));
  } catch (error) {
    button.disabled = false;
    // These leave the code useless: only a new one helps, so offer it now.
    if (["CODE_EXPIRED", "TOO_MANY_ATTEMPTS", "VERIFICATION_USED", "VERIFICATION_NOT_FOUND"].includes(error.code)) {
      challenge.dead = true;
      renderVerification();
    }
    onErrors([{ field: fieldOfCheck(error), node: describeVerifyError(error) }], { summary: false });
  }
}

/** Enter in a field runs the button next to it, not the ballot's Review. */
function onEnter(input, action) {
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    action();
  });
}

/** Wires the step's controls and takes a volunteer's handoff, if any. */
export function wireVerification() {
  takeHandoff();
  for (const name of CHOICES) {
    byId(`method-${name}`).addEventListener("change", (event) => {
      if (!event.target.checked) return;
      method = name;
      renderVerification();
    });
  }
  byId("send-code").addEventListener("click", sendCode);
  byId("resend-code").addEventListener("click", sendCode);
  byId("check-code").addEventListener("click", checkCode);
  onEnter(byId("verify-contact"), () =>
    challenge?.method === method ? byId("verify-code").focus() : sendCode(),
  );
  onEnter(byId("verify-code"), checkCode);
  // A different phone or email needs its own code.
  byId("verify-contact").addEventListener("input", (event) => {
    if (challenge && event.target.value.trim() !== challenge.contact) {
      challenge = null;
      renderVerification();
    }
  });
  byId("verify-again").addEventListener("click", () => {
    forgetPass();
    focusOn(byId(method ? `method-${method}` : "group-method"));
  });
}
