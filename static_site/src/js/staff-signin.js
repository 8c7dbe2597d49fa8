// Staff sign-in: username and password to Cognito, then, if the pool asks,
// a new password (an account's first sign-in with its temporary one) or an
// MFA code (an authenticator app or a text message), then the dashboard (or
// the volunteer's vouch page, when it sent the member here).
// The challenge's session lives in this page's memory only.

import { byId, el, show } from "./dom.js";
import { setText } from "./i18n.js";
import { answerChallenge, signIn, startStaffPage, takeExpired, token } from "./staff-common.js";

const SIGN_IN_ERRORS = {
  SIGN_IN_REFUSED: "staff.sign_in_failed",
  SIGN_IN_CHALLENGE: "staff.sign_in_unsupported",
  TRY_AGAIN: "error.try_again",
};
/** What an answer to a challenge may be refused with. */
const CHALLENGE_ERRORS = {
  NEW_PASSWORD_REFUSED: "staff.new_password_refused",
  MFA_CODE_WRONG: "staff.mfa_wrong",
  SIGN_IN_REFUSED: "staff.challenge_expired", // the session ran out
  SIGN_IN_CHALLENGE: "staff.sign_in_unsupported",
  TRY_AGAIN: "error.try_again",
};
const FORMS = ["sign-in-form", "new-password-form", "mfa-form"];
const MFA_INTROS = {
  SOFTWARE_TOKEN_MFA: "staff.mfa_intro_totp",
  SMS_MFA: "staff.mfa_intro_sms",
};

// Where a signed-in member goes: the dashboard, or the page that sent them
// here (?next=vouch: the volunteer's page, after a handoff to a resident).
const NEXT_PAGES = { vouch: "vouch.html" };
const wantedNext = new URLSearchParams(location.search).get("next");
const nextPage = Object.hasOwn(NEXT_PAGES, wantedNext) ? NEXT_PAGES[wantedNext] : "dashboard.html";

let message = takeExpired() ? ["staff.signed_out_expired", "info"] : null;
/** The challenge being answered: {challenge, session, username}, or null. */
let step = null;

function formFor(current) {
  if (!current) return "sign-in-form";
  return current.challenge === "NEW_PASSWORD_REQUIRED" ? "new-password-form" : "mfa-form";
}

function render() {
  const shown = formFor(step);
  for (const id of FORMS) show(byId(id), id === shown);
  if (step && shown === "mfa-form") setText(byId("mfa-intro"), MFA_INTROS[step.challenge]);
  const region = byId("page-status");
  region.replaceChildren();
  if (!message) return;
  const [key, kind] = message;
  const alert = el("div", { className: `usa-alert usa-alert--${kind} usa-alert--slim` });
  const body = el("div", { className: "usa-alert__body" });
  body.append(setText(el("p", { className: "usa-alert__text" }), key));
  alert.append(body);
  region.append(alert);
}

/** Shows `key` as an error and puts focus on the field to fix. */
function refuse(key, focusId) {
  message = [key, "error"];
  render();
  byId(focusId).focus();
}

/** After a step: the dashboard once signed in, else the next challenge's form. */
function proceed(next) {
  if (next.signedIn) {
    location.assign(nextPage);
    return true;
  }
  step = next;
  message = null;
  render();
  byId(step.challenge === "NEW_PASSWORD_REQUIRED" ? "new-password" : "mfa-code").focus();
  return false;
}

/** A refused answer: an expired session or an unanswerable step starts over. */
function challengeRefused(exc, focusId) {
  const key = CHALLENGE_ERRORS[exc.code] || "common.unreachable";
  if (exc.code === "SIGN_IN_REFUSED" || exc.code === "SIGN_IN_CHALLENGE") {
    step = null;
    focusId = "password";
  }
  refuse(key, focusId);
}

/** Runs a step's request with its button disabled; re-enables on failure. */
async function busy(buttonId, work) {
  const button = byId(buttonId);
  button.disabled = true;
  try {
    if (await work()) return;
  } catch (exc) {
    console.error(exc);
  }
  button.disabled = false;
}

function wire() {
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const username = byId("username").value.trim();
    const password = byId("password").value;
    if (!username || !password) {
      refuse("staff.sign_in_failed", username ? "password" : "username");
      return;
    }
    busy("sign-in-button", async () => {
      try {
        return proceed(await signIn(username, password));
      } catch (exc) {
        refuse(SIGN_IN_ERRORS[exc.code] || "common.unreachable", "password");
        return false;
      } finally {
        byId("password").value = ""; // not kept once sent, whatever the answer
      }
    });
  });

  byId("new-password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const fresh = byId("new-password");
    const again = byId("new-password-again");
    if (!fresh.value) return refuse("staff.field_required", "new-password");
    if (fresh.value !== again.value) {
      again.value = "";
      return refuse("staff.new_password_mismatch", "new-password-again");
    }
    busy("new-password-button", async () => {
      try {
        const next = await answerChallenge(step, fresh.value);
        fresh.value = again.value = "";
        return proceed(next);
      } catch (exc) {
        fresh.value = again.value = "";
        challengeRefused(exc, "new-password");
        return false;
      }
    });
  });

  byId("mfa-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = byId("mfa-code");
    const value = code.value.replace(/\s+/g, "");
    if (!value) return refuse("staff.field_required", "mfa-code");
    busy("mfa-button", async () => {
      try {
        const next = await answerChallenge(step, value);
        code.value = "";
        return proceed(next);
      } catch (exc) {
        code.value = "";
        challengeRefused(exc, "mfa-code");
        return false;
      }
    });
  });
}

if (token()) {
  location.replace(nextPage); // already signed in in this tab
} else {
  startStaffPage(render)
    .then(wire)
    .catch((exc) => console.error(exc));
}
