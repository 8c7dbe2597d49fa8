// What the access-code and paper pages share beyond staff-common.js: the
// cycle they work on (?cycle=ID, else the current one), alerts that hold a
// catalog sentence or a refusal, and the USWDS error state of a field.

import { getCycle } from "./api.js";
import { byId, el, show } from "./dom.js";
import { setText } from "./i18n.js";
import { rememberActor, showStaffNav, staffCall, updateStaffBar } from "./staff-common.js";
import { describeRefusal } from "./staff-errors.js";

/** ?cycle=ID names another cycle than the one the public site shows. */
export const wantedCycle = new URLSearchParams(location.search).get("cycle");
const CYCLE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** What a ?cycle= id that no cycle has is told, without asking the API. */
const NO_SUCH_CYCLE = { status: 404, code: "NOT_FOUND", field: "cycle_id" };

/** The id of the cycle the page works on; throws NOT_FOUND for a bad one. */
export async function cycleIdOfPage() {
  if (wantedCycle !== null && !CYCLE_ID.test(wantedCycle)) throw NO_SUCH_CYCLE;
  return wantedCycle ?? (await getCycle()).cycle_id;
}

/**
 * What both batch pages read first: who is signed in (`me`, asked for only
 * once), the cycle's dashboard, and the batches under `list` (a path below
 * /staff/cycles/{id}/). Fills the staff bar and its navigation.
 */
export async function loadBatchPage(me, list) {
  const id = encodeURIComponent(await cycleIdOfPage());
  const [member, board] = await Promise.all([
    me || staffCall("/staff/me").then((r) => r.body),
    staffCall(`/staff/cycles/${id}/dashboard`).then((r) => r.body),
  ]);
  rememberActor(member.actor);
  updateStaffBar();
  showStaffNav(member);
  const batches = (await staffCall(`/staff/cycles/${id}/${list}`)).body.batches;
  return { me: member, board, batches };
}

/** A slim USWDS alert whose text `fill(p)` writes. */
export function alertBox(kind, fill) {
  const alert = el("div", { className: `usa-alert usa-alert--${kind} usa-alert--slim` });
  const body = el("div", { className: "usa-alert__body" });
  const text = el("p", { className: "usa-alert__text" });
  fill(text);
  body.append(text);
  alert.append(body);
  return alert;
}

/**
 * Fills a status region from a notice: `[key, params, kind]` for a
 * sentence of the catalog, `[null, error, kind]` for a refusal (its
 * sentence and field, staff-errors.js). An empty notice empties it.
 */
export function showNotice(region, notice, cycleId = "") {
  region.replaceChildren();
  if (!notice) return;
  const [key, params, kind] = notice;
  region.append(
    alertBox(kind, (p) =>
      key ? setText(p, key, params) : describeRefusal(p, params, { cycle: cycleId }),
    ),
  );
}

/**
 * The page-wide refusal (no such cycle, not allowed) in the page's status
 * region; returns false for a failure that is not a refusal (offline, 5xx).
 */
export function showPageRefusal(exc, cycleId) {
  if (!(exc.status >= 400 && exc.status < 500)) return false;
  const region = byId("page-status");
  const kind = exc.status === 404 ? "error" : "warning";
  region.replaceChildren(
    alertBox(kind, (p) => describeRefusal(p, exc, { cycle: wantedCycle ?? cycleId ?? "" })),
  );
  show(region);
  return true;
}

/** Shows or clears a field's USWDS error state (group, message, aria-invalid). */
export function markInvalid(input, message, group, invalid) {
  show(message, invalid);
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  group.classList.toggle("usa-form-group--error", invalid);
}
