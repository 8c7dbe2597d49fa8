// The confirmation: the receipt of a recorded ballot, or the promise that a
// queued one will be sent. On a shared device, "Next voter" wipes it all.

import { byId, show } from "./dom.js";
import { isKiosk, nextVoter } from "./kiosk.js";
import { startPage } from "./layout.js";

function outcome() {
  try {
    return JSON.parse(sessionStorage.getItem("pb.receipt") || "null");
  } catch {
    return null;
  }
}

function render() {
  const result = outcome();
  show(byId("confirm-recorded"), Boolean(result?.receipt));
  show(byId("confirm-queued"), Boolean(result?.queued));
  if (result?.receipt) byId("receipt").textContent = result.receipt.receipt;
  show(byId("next-voter"), isKiosk());
}

byId("next-voter").addEventListener("click", nextVoter);
// The event-mode switch lives in the footer; follow it here at once.
byId("kiosk-toggle").addEventListener("change", render);
startPage(render).catch((exc) => console.error(exc));
