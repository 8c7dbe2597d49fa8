// Refusals from the staff API in plain words: a sentence for each code of
// docs/api.md's staff tables, in the page's language, and the field at
// fault. A code without a sentence here gets a generic one that names it,
// so a new code is never shown as a blank or a raw English message.

import { el } from "./dom.js";
import { setText, t } from "./i18n.js";

/** code -> catalog key; `code/field` entries win over the bare code. */
const REFUSALS = {
  "ILLEGAL_TRANSITION/proposals": "staff.error_no_proposals",
  "ILLEGAL_TRANSITION/result": "staff.error_no_result",
  ILLEGAL_TRANSITION: "staff.error_illegal",
  PHASE_NOT_OPEN: "staff.error_phase_not_open",
  STALE_VERSION: "staff.error_stale",
  PHASE_STARTED: "staff.error_phase_started",
  CYCLE_EXISTS: "staff.error_cycle_exists",
  "NOT_FOUND/batch_id": "staff.paper_error_no_batch",
  "NOT_FOUND/entry_id": "staff.paper_error_no_entry",
  NOT_FOUND: "staff.error_cycle_not_found",
  NOT_PERMITTED: "staff.error_not_permitted",
  FORBIDDEN: "staff.error_not_permitted",
  ACTION_NOT_DECLARED: "staff.error_action_closed",
  MISSING_FIELD: "staff.error_missing",
  INVALID_TYPE: "staff.error_type",
  UNKNOWN_FIELD: "staff.error_request",
  INVALID_CHOICE: "staff.error_choice",
  "INVALID_INPUT/batch_id": "staff.paper_error_batch_id",
  "INVALID_INPUT/cover_sheets": "staff.paper_error_cover",
  "INVALID_INPUT/sheets": "staff.paper_error_sheet_count",
  INVALID_INPUT: "staff.error_input",
  INVALID_TIME: "staff.error_time",
  TIME_IN_PAST: "staff.error_time_past",
  INVALID_LANGUAGE: "staff.error_language",
  INVALID_TEXT: "staff.error_text",
  TOO_LONG: "staff.error_too_long",
  UNSUPPORTED_MEDIA_TYPE: "staff.error_request",
  MALFORMED_JSON: "staff.error_request",
  BODY_TOO_LARGE: "staff.error_request",
  PHASE_CLOSED: "staff.error_phase_closed",
  ALREADY_REVOKED: "staff.error_already_revoked",
  BATCH_EXISTS: "staff.error_batch_exists",
  BATCH_CLOSED: "staff.error_batch_closed",
  BATCH_NOT_AGREED: "staff.error_batch_not_agreed",
  ENTRY_DISCARDED: "staff.error_entry_discarded",
  INVALID_BATCH_ID: "staff.error_batch_id",
  OUT_OF_RANGE: "staff.error_out_of_range",
  SAME_ENTRANT: "staff.error_same_entrant",
  TOO_MANY_ENTRIES: "staff.error_too_many_entries",
  "INVALID_ATTESTATION/attestation.seen_in_person": "staff.error_attestation",
  METHOD_NOT_OFFERED: "staff.error_method_not_offered",
  // What a paper sheet may be refused with, as the online ballot is.
  NO_SELECTION: "staff.paper_error_selections",
  INVALID_SELECTIONS: "staff.paper_error_selections",
  DUPLICATE_SELECTION: "staff.paper_error_selections",
  TOO_MANY_SELECTIONS: "staff.paper_error_too_many",
  UNKNOWN_PROPOSAL: "staff.paper_error_selections",
  INVALID_VOTER: "staff.paper_error_voter",
  INVALID_EMAIL: "staff.paper_error_voter",
  INVALID_PHONE: "staff.paper_error_voter",
  INVALID_ACCESS_CODE: "staff.paper_error_voter",
  INVALID_ATTESTATION: "staff.paper_error_age",
  INVALID_AGE: "staff.paper_error_age",
  INVALID_DATE: "staff.paper_error_age",
  TRY_AGAIN: "error.try_again",
  INTERNAL_ERROR: "common.unreachable",
  NETWORK: "common.unreachable",
  NO_CONFIG: "common.unreachable",
};

/** Fields with a name in the catalogs; any other is shown as its path. */
const FIELDS = {
  reason: "staff.field_reason",
  version: "staff.field_version",
  phase: "staff.field_phase",
  proposals: "staff.field_proposals",
  result: "staff.field_result",
  cycle_id: "staff.field_cycle_id",
  batch_id: "staff.paper_field_batch_id",
  entry_id: "staff.paper_field_entry_id",
  site: "staff.codes_field_site",
  count: "staff.codes_field_count",
  cover_sheets: "staff.paper_field_cover",
  sheets: "staff.paper_field_sheets",
};
/** The parts of one paper sheet an entry refusal may name. */
const SHEET_FIELDS = {
  selections: "staff.paper_field_selections",
  spoiled: "staff.paper_spoiled",
  attestation: "staff.paper_field_age",
  "attestation.boston_resident": "staff.paper_resident",
  "attestation.age": "staff.paper_field_age",
  "attestation.birth_date": "staff.paper_field_age",
  "attestation.sixth_grade": "staff.paper_field_age",
  voter: "staff.paper_field_voter",
  "voter.kind": "staff.paper_field_voter",
  "voter.value": "staff.paper_field_voter",
  neighbourhood: "staff.neighbourhood",
  age_bracket: "staff.paper_field_age",
};
/** `sheets[3].voter.value` -> sheet number 4 and the part `voter.value`. */
const SHEET_FIELD = /^sheets\[(\d+)\](?:\.(.+))?$/;

/** The sheet (numbered from 1) a refusal names, or null. */
export function refusedSheet(field) {
  const match = SHEET_FIELD.exec(field || "");
  return match ? Number(match[1]) + 1 : null;
}

/** The catalog key for a refusal, or null when its code has no sentence. */
export function refusalKey(error) {
  return REFUSALS[`${error.code}/${error.field}`] || REFUSALS[error.code] || null;
}

/** The field at fault in the page's language (its path when unnamed). */
export function fieldName(field) {
  const sheet = SHEET_FIELD.exec(field || "");
  if (sheet) {
    const part = sheet[2] && SHEET_FIELDS[sheet[2]] ? t(SHEET_FIELDS[sheet[2]]) : sheet[2] || "";
    const number = Number(sheet[1]) + 1;
    return part
      ? t("staff.paper_field_sheet_part", { sheet: number, part })
      : t("staff.paper_field_sheet", { sheet: number });
  }
  return FIELDS[field] ? t(FIELDS[field]) : field;
}

/**
 * Fills `node` with the refusal: its sentence (or the generic one with the
 * code), then the field at fault when the API named one. `params` fill the
 * sentence's placeholders (the cycle id of "cycle not found").
 */
export function describeRefusal(node, error, params = {}) {
  node.replaceChildren();
  const key = refusalKey(error);
  const sentence = key
    ? setText(el("span", { className: "pb-refusal__text" }), key, params)
    : setText(el("span", { className: "pb-refusal__text" }), "staff.error_other", {
        code: error.code,
      });
  node.append(sentence);
  if (error.field && key !== "staff.error_cycle_not_found") {
    const where = el("span", { className: "pb-refusal__field" });
    setText(where, "staff.error_field", { field: fieldName(error.field) });
    node.append(" ", where);
  }
  node.dataset.code = error.code;
  return node;
}
