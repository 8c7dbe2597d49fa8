// Event mode: one device, many voters. Between two voters every trace of
// the last one goes (form state, receipt, voter identifier, history entries)
// while ballots still waiting to be sent stay queued.

const SETTING = "pb.kiosk";
// The language the event staff had chosen when they turned event mode on.
// Each new voter starts in it, not in the last voter's language: staff set
// the device up for the event (say, Vietnamese at a Dorchester festival),
// and a voter who needs another language switches, as on any visit.
const STAFF_LANGUAGE = "pb.kiosk.lang";
const LANGUAGE = "pb.lang";
// The event's site, as the volunteer typed it on staff/vouch.html: a device
// setting, not a voter's trace.
export const VOUCH_SITE = "pb.staff.site";
// What survives a clear-down: the device's settings and the unsent queue.
const KEPT = new Set([SETTING, STAFF_LANGUAGE, LANGUAGE, VOUCH_SITE, "pb.queue"]);

// A volunteer's handoff (staff/vouch.html to the ballot, same tab): the
// voter pass waits under HANDOFF until the ballot page reads it, which
// empties it at once; VOUCHED then marks the tab as handed over, so the
// confirmation hands the device back to the volunteer's sign-in.
export const HANDOFF = "pb.handoff";
export const VOUCHED = "pb.vouched";

export function isKiosk() {
  try {
    return localStorage.getItem(SETTING) === "on";
  } catch {
    return false;
  }
}

export function setKiosk(on) {
  if (on) {
    localStorage.setItem(SETTING, "on");
    const chosen = localStorage.getItem(LANGUAGE) || document.documentElement.lang || "en";
    localStorage.setItem(STAFF_LANGUAGE, chosen);
  } else {
    localStorage.removeItem(SETTING);
    localStorage.removeItem(STAFF_LANGUAGE);
  }
}

/** Removes everything a voter left on the device, except the unsent queue. */
export function clearVoterTraces() {
  try {
    sessionStorage.clear();
    for (const key of Object.keys(localStorage)) {
      if (!KEPT.has(key)) localStorage.removeItem(key);
    }
    // Back to the staff's language (English if none was recorded).
    localStorage.setItem(LANGUAGE, localStorage.getItem(STAFF_LANGUAGE) || "en");
  } catch {
    // storage disabled: nothing was kept in it either
  }
  for (const form of document.querySelectorAll("form")) form.reset();
}

/** True when a volunteer handed this tab to the resident (staff/vouch.html). */
export function wasHandedOver() {
  try {
    return sessionStorage.getItem(VOUCHED) === "1";
  } catch {
    return false;
  }
}

/**
 * Starts the next voter on a clean ballot page, or, after a volunteer's
 * handoff, gives the device back to the volunteer's sign-in (the handoff
 * signed them out). location.replace drops the confirmation from history,
 * so Back cannot show the previous voter's receipt.
 */
export function nextVoter() {
  const handedOver = wasHandedOver();
  clearVoterTraces();
  if (handedOver) return location.replace("staff/index.html?next=vouch");
  sessionStorage.setItem("pb.cleared", "1");
  location.replace("ballot.html");
}
