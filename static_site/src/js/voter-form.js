// The "About you" half of the ballot: reading it into the API's shape and
// showing errors next to the fields they belong to (USWDS error pattern).

import { byId, el, focusOn, show } from "./dom.js";
import { setText } from "./i18n.js";

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

/** The kind of identifier the voter typed, as the API names it. */
export function voterKind(value) {
  if (value.includes("@")) return "email";
  const digits = value.replace(/\D/g, "");
  if (/^[+\d\s().-]+$/.test(value) && digits.length >= 7) return "phone";
  return "access_code";
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
  const voter = byId("voter-id").value.trim();
  if (!voter) errors.push({ field: "voter", key: "ballot.error_voter" });
  const body = {
    selections: [...chosen],
    attestation,
    voter: { kind: voterKind(voter), value: voter },
  };
  const neighbourhood = byId("neighbourhood").value;
  if (neighbourhood) body.neighbourhood = neighbourhood;
  return { body, errors };
}

const GROUPS = { resident: "resident", age: "age", voter: "voter" };

/**
 * Marks each field in error and lists every error in an alert that takes
 * focus, so a keyboard or screen reader user lands on what to fix.
 */
export function showFieldErrors(errors) {
  for (const name of Object.keys(GROUPS)) {
    byId(`group-${name}`).classList.remove("usa-form-group--error");
    show(byId(`error-${name}`), false);
  }
  for (const input of document.querySelectorAll("#ballot-form [aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  const alert = byId("form-error");
  const list = byId("form-error-list");
  list.replaceChildren();
  if (!errors.length) return show(alert, false);
  for (const error of errors) {
    const message = () => error.node?.cloneNode(true) || setText(el("span"), error.key);
    list.append(el("li", { children: [message()] }));
    if (GROUPS[error.field]) {
      const group = byId(`group-${error.field}`);
      group.classList.add("usa-form-group--error");
      const slot = byId(`error-${error.field}`);
      slot.replaceChildren(message());
      show(slot);
      group.querySelector("input")?.setAttribute("aria-invalid", "true");
    }
  }
  show(alert);
  focusOn(alert);
}
