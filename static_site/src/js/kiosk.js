// Event mode: one device, many voters. Between two voters every trace of
// the last one goes (form state, receipt, voter identifier, history entries)
// while ballots still waiting to be sent stay queued.

const SETTING = "pb.kiosk";
// What survives a clear-down: the device's settings and the unsent queue.
const KEPT = new Set(["pb.kiosk", "pb.lang", "pb.queue"]);

export function isKiosk() {
  try {
    return localStorage.getItem(SETTING) === "on";
  } catch {
    return false;
  }
}

export function setKiosk(on) {
  if (on) localStorage.setItem(SETTING, "on");
  else localStorage.removeItem(SETTING);
}

/** Removes everything a voter left on the device, except the unsent queue. */
export function clearVoterTraces() {
  try {
    sessionStorage.clear();
    for (const key of Object.keys(localStorage)) {
      if (!KEPT.has(key)) localStorage.removeItem(key);
    }
  } catch {
    // storage disabled: nothing was kept in it either
  }
  for (const form of document.querySelectorAll("form")) form.reset();
}

/**
 * Starts the next voter on a clean ballot page. location.replace drops the
 * confirmation from history, so Back cannot show the previous voter's receipt.
 */
export function nextVoter() {
  clearVoterTraces();
  sessionStorage.setItem("pb.cleared", "1");
  location.replace("ballot.html");
}
