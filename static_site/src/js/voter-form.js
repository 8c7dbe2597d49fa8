// The "About you" half of the ballot and its verification step (verify.js):
// reading them into the API's shape and showing errors next to the fields
// they belong to (USWDS error pattern).

import { byId, el, focusOn, show } from "./dom.js";
import { setText } from "./i18n.js";
import { readVoter } from "./verify.js";

/** Boston's neighbourhoods, the slugs the API accepts (chalicelib/ballot.py). */
export const NEIGHBOURHOODS = [
  "allston", "back-bay", "bay-village", "beacon-hill", "brighton", "charlestown",
  "chinatown", "dorchester", "downtown", "east-boston", "fenway", "hyde-park",
  "jamaica-plain", "leather-district", "longwood", "mattapan", "mission-hill",
  "north-end", "roslindale", "roxbury", "south-boston", "south-boston-waterfront",
  "south-end", "west-end", "west-roxbury",
];

// Proper names, the same in every language.
const placeName = (slug) => slug.split("-").map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");

export function fillNeighbourhoods() {
  const select = byId("neighbourhood");
  for (const slug of NEIGHBOURHOODS) {
    select.append(el("option", { text: placeName(slug), attrs: { value: slug } }));
  }
}

/** Reads the form; returns {body, errors} with errors as {field, key}. */
export function readForm(chosen) {
  const errors = [];
  if (chosen.size === 0) errors.push({ field: "selections", key: "ballot.none_chosen" });
  const resident = byId("resident").checked;
  if (!resident) errors.push({ field: "resident", key: "ballot.error_resident" });
  const ageText = byId("age").value.trim();
  const sixthGrade = byId("sixth-grade").checked;
  const attestation = { boston_resident: resident };
  if (sixthGrade) attestation.sixth_grade = true;
  else if (/^\d{1,3}$/.test(ageText)) attestation.age = Number(ageText);
  else errors.push({ field: "age", key: "ballot.error_age" });
  const { voter, errors: voterErrors } = readVoter();
  errors.push(...voterErrors);
  const body = { selections: [...chosen], attestation, voter };
  const neighbourhood = byId("neighbourhood").value;
  if (neighbourhood) body.neighbourhood = neighbourhood;
  return { body, errors };
}

/** The field of a group to put the focus on: its text box, else a shown radio. */
function focusable(group) {
  const shown = [...group.querySelectorAll("input")].filter((i) => !i.closest("[hidden]"));
  return shown.find((i) => i.type !== "radio") || shown.find((i) => i.checked) || shown[0];
}

/** The form groups that show their own errors: group-NAME and error-NAME. */
const GROUPS = ["resident", "age", "method", "contact", "code", "access", "access-contact", "voter"];

/**
 * Marks each field in error and lists every error in an alert that takes
 * focus, so a keyboard or screen reader user lands on what to fix. With
 * `summary: false` (a code that could not be sent or checked) there is no
 * list: the first field in error takes the focus, and its message, tied to
 * it by aria-describedby, is read with it.
 */
export function showFieldErrors(errors, { summary = true } = {}) {
  for (const name of GROUPS) {
    byId(`group-${name}`).classList.remove("usa-form-group--error");
    show(byId(`error-${name}`), false);
  }
  for (const input of document.querySelectorAll("#ballot-form [aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  const alert = byId("form-error");
  const list = byId("form-error-list");
  list.replaceChildren();
  show(alert, false);
  if (!errors.length) return;
  let first = null;
  for (const error of errors) {
    const message = () => error.node?.cloneNode(true) || setText(el("span"), error.key);
    list.append(el("li", { children: [message()] }));
    if (GROUPS.includes(error.field)) {
      const group = byId(`group-${error.field}`);
      group.classList.add("usa-form-group--error");
      const slot = byId(`error-${error.field}`);
      slot.replaceChildren(message());
      show(slot);
      const input = group.querySelector("input:not([type=radio])");
      input?.setAttribute("aria-invalid", "true");
      first ??= focusable(group);
    }
  }
  if (summary || !first) {
    show(alert);
    focusOn(alert);
  } else {
    first.focus();
  }
}
