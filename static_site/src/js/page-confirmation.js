// The confirmation: the receipt of a recorded ballot, or, for one the server
// has not recorded yet (offline, 5xx, 429), "Not sent yet" while this page
// keeps sending it; it turns into the receipt once the send succeeds, or
// says plainly that the ballot was refused. Opened with nothing to confirm,
// it says so and links to the ballot. On a shared device, "Next voter"
// wipes it all.

import { byId, focusOn, show } from "./dom.js";
import { setText, t, time } from "./i18n.js";
import { isKiosk, nextVoter, wasHandedOver } from "./kiosk.js";
import { startPage } from "./layout.js";
import { onSent, send } from "./queue.js";
import { describeError } from "./status.js";

const STORAGE_KEY = "pb.receipt";
// First retries come quickly (a busy server often recovers in seconds),
// then settle at the queue's own pace.
const RETRY_DELAYS_MS = [3000, 5000, 10000, 20000, 30000];

function outcome() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
  } catch {
    return null;
  }
}

function remember(result) {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(result));
  } catch {
    // not kept across a reload, but shown now
  }
}

/** Which of the page's states `result` is: recorded, queued, refused or nothing. */
function stateOf(result) {
  if (result?.receipt) return "recorded";
  if (result?.refused) return "refused";
  if (result?.elsewhere) return "elsewhere";
  if (result?.queued) return "queued";
  return "nothing";
}

const HEADINGS = {
  recorded: "confirm.heading",
  queued: "confirm.not_sent_heading",
  refused: "confirm.refused_heading",
  elsewhere: "ballot.heading",
  nothing: "confirm.nothing_heading",
};

function render() {
  const result = outcome();
  const state = stateOf(result);
  const heading = HEADINGS[state];
  setText(byId("confirm-heading"), heading);
  document.body.dataset.titleKey = heading;
  document.title = `${t(heading)} – ${t("meta.site_title")}`;
  show(byId("confirm-recorded"), state === "recorded");
  show(byId("confirm-queued"), state === "queued");
  show(byId("confirm-refused"), state === "refused");
  show(byId("confirm-elsewhere"), state === "elsewhere");
  show(byId("confirm-nothing"), state === "nothing");
  if (state === "recorded") byId("receipt").textContent = result.receipt.receipt;
  if (state === "refused") describeError(byId("refused-reason"), result.refused);
  // A ballot that carries a voter pass must reach the server before the
  // pass expires; after that the resident proves who they are again.
  const passNote = byId("queued-pass-note");
  show(passNote, state === "queued" && Boolean(result.pass_expires_at));
  if (state === "queued" && result.pass_expires_at) {
    setText(passNote, "verify.queued_pass_expires", { time: time(result.pass_expires_at) });
  }
  const handedOver = wasHandedOver();
  show(byId("next-voter"), isKiosk() || handedOver);
  setText(byId("next-voter"), handedOver ? "verify.hand_back" : "confirm.next_voter");
  return state;
}

/** Moves to the state a send ended in and announces it by focusing the heading. */
function settle(key, result) {
  const current = outcome();
  if (!current?.queued || current.key !== key) return;
  if (result.outcome === "recorded") remember({ receipt: result.receipt });
  else if (result.outcome === "refused") {
    const { code, status, field, serverMessage } = result.error;
    remember({ refused: { code, status, field, serverMessage } });
  } else return;
  render();
  focusOn(byId("confirm-heading"));
}

let attempt = 0;
let timer = null;

async function retry() {
  clearTimeout(timer);
  const current = outcome();
  if (!current?.queued || !current.key) return;
  const result = await send(current.key);
  if (result.outcome === "kept") {
    const delay = RETRY_DELAYS_MS[Math.min(attempt++, RETRY_DELAYS_MS.length - 1)];
    timer = setTimeout(retry, delay);
  }
  // "recorded" and "refused" arrive through onSent; "gone" (and no answer
  // here) means another window sent it, and that window shows the answer.
  if (result.outcome === "gone" && outcome()?.queued) {
    remember({ elsewhere: true });
    render();
  }
}

onSent(settle);
byId("next-voter").addEventListener("click", nextVoter);
// The event-mode switch lives in the footer; follow it here at once.
byId("kiosk-toggle").addEventListener("change", render);
window.addEventListener("online", () => {
  attempt = 0;
  retry();
});
startPage(render)
  .then(() => {
    // Focus the heading so screen readers announce the outcome at once.
    focusOn(byId("confirm-heading"));
    retry();
  })
  .catch((exc) => console.error(exc));
