// The loading / error line that pages show while their data arrives.

import { byId, el, show } from "./dom.js";
import { language, setText, t } from "./i18n.js";

/** Friendly catalog text for API error codes we have words for. */
const ERROR_KEYS = {
  NETWORK: "common.unreachable",
  NO_CONFIG: "common.unreachable",
  INTERNAL_ERROR: "common.unreachable",
  TRY_AGAIN: "error.try_again",
  PHASE_CLOSED: "error.phase_closed",
  BALLOT_NOT_OPEN: "ballot.not_open",
  BALLOT_NOT_PUBLISHED: "ballot.not_open",
  RESULTS_NOT_PUBLISHED: "results.not_yet",
  NOT_FOUND: "home.no_cycle",
  NO_SELECTION: "ballot.none_chosen",
  NOT_RESIDENT: "error.not_resident",
  UNDER_AGE: "error.under_age",
  INVALID_AGE: "ballot.error_age",
  INVALID_ATTESTATION: "ballot.error_age",
  INVALID_VOTER: "verify.error_attested",
  INVALID_EMAIL: "error.invalid_email",
  INVALID_PHONE: "error.invalid_phone",
  INVALID_ACCESS_CODE: "error.invalid_access_code",
  ALREADY_VOTED: "error.already_voted",
  IDEMPOTENCY_KEY_REUSED: "error.idempotency_key_reused",
  // Proving who you are (verify.js fills in the numbers of CODE_INCORRECT
  // and RATE_LIMITED; these are the sentences without numbers).
  METHOD_NOT_OFFERED: "verify.error_method_not_offered",
  INVALID_CODE: "verify.error_code_format",
  CODE_INCORRECT: "verify.error_code_wrong",
  CODE_EXPIRED: "verify.error_code_expired",
  TOO_MANY_ATTEMPTS: "verify.error_too_many_attempts",
  VERIFICATION_USED: "verify.error_code_used",
  VERIFICATION_NOT_FOUND: "verify.error_code_expired",
  RATE_LIMITED: "verify.error_rate_limited_later",
  PASS_EXPIRED: "verify.error_pass_expired",
  PASS_INVALID: "verify.error_pass_invalid",
  ACCESS_CODE_NOT_VALID: "verify.error_access_code_not_valid",
};

/**
 * Fills `node` with the text for an ApiError: the catalog's words when we
 * have them, else the server's own message (marked as English).
 */
export function describeError(node, error) {
  const busy = error.status === 429 ? "error.try_again" : null;
  const key = ERROR_KEYS[error.code] || busy || (error.status >= 500 ? "common.unreachable" : null);
  if (key || !error.serverMessage) return setText(node, key || "common.unreachable");
  node.textContent = error.serverMessage;
  if (language() !== "en") node.lang = "en";
  return node;
}

/** Shows "Loading…" in the page's status region. */
export function loading() {
  const region = byId("page-status");
  region.replaceChildren(setText(el("p"), "common.loading"));
  show(region);
}

export function done() {
  const region = byId("page-status");
  region.replaceChildren();
  show(region, false);
}

/** Shows an error with a "Try again" button that runs `retry`. */
export function failed(error, retry) {
  const region = byId("page-status");
  const alert = el("div", { className: "usa-alert usa-alert--warning usa-alert--slim" });
  const body = el("div", { className: "usa-alert__body" });
  body.append(describeError(el("p", { className: "usa-alert__text" }), error));
  alert.append(body);
  region.replaceChildren(alert);
  if (retry && (error.status === 0 || error.status >= 500)) {
    const again = el("button", { className: "usa-button usa-button--outline", attrs: { type: "button" } });
    again.textContent = t("common.try_again");
    again.addEventListener("click", retry);
    region.append(again);
  }
  show(region);
}
