// Home: what PB is, the current phase with its dates, and the timeline.

import { getCycle } from "./api.js";
import { byId, el, show } from "./dom.js";
import { date, money, sameDay, setText, t, time } from "./i18n.js";
import { startPage } from "./layout.js";
import { done, failed, loading } from "./status.js";

// The action that fits each phase, if any.
const CALLS_TO_ACTION = {
  idea_collection: ["home.cta_ideas", "ideas.html"],
  voting: ["home.cta_vote", "ballot.html"],
  results: ["home.cta_results", "results.html"],
  implementation: ["home.cta_results", "results.html"],
};

let cycle = null;
let error = null;

async function load() {
  loading();
  try {
    cycle = await getCycle();
    error = null;
  } catch (exc) {
    cycle = null;
    error = exc;
  }
  render();
}

/** "March 1 to March 20", or for one day "December 5, 9:00 AM to 5:00 PM". */
function span({ start, end }, zone) {
  if (sameDay(start, end, zone)) {
    return t("home.phase_day", { date: date(start, zone), start: time(start, zone), end: time(end, zone) });
  }
  return t("home.phase_dates", { start: date(start, zone), end: date(end, zone) });
}

function render() {
  if (error) failed(error, load);
  if (!cycle) {
    show(byId("current"), false);
    show(byId("timeline-section"), false);
    return;
  }
  done();
  const zone = cycle.timezone;
  byId("cycle-name").textContent = cycle.name;

  const phaseName = t(`phase.${cycle.phase}`);
  setText(byId("current-phase"), "home.current_phase", { phase: phaseName });
  const window = cycle.calendar[cycle.phase];
  byId("current-dates").textContent = window ? span(window, zone) : "";
  // When the current phase closes, to the minute, in the cycle's time zone.
  byId("current-ends").textContent = window
    ? t("home.phase_ends", { date: date(window.end, zone), time: time(window.end, zone) })
    : "";
  show(byId("current-ends"), Boolean(window));
  setText(byId("budget"), "home.budget", { amount: money(cycle.budget_cap) });
  const action = CALLS_TO_ACTION[cycle.phase];
  if (action) {
    setText(byId("cta"), action[0]).href = action[1];
  }
  show(byId("cta-wrap"), Boolean(action));
  show(byId("current"));

  const list = byId("timeline");
  list.replaceChildren();
  for (const [phase, dates] of Object.entries(cycle.calendar)) {
    const current = phase === cycle.phase;
    const item = el("li", {
      className: "usa-process-list__item" + (current ? " pb-phase--current" : ""),
      attrs: { "aria-current": current ? "step" : undefined },
    });
    const heading = el("h3", { className: "usa-process-list__heading", text: t(`phase.${phase}`) });
    if (current) {
      heading.append(" ", el("span", { className: "usa-tag pb-phase__tag", text: t("phase.current") }));
    }
    item.append(heading, el("p", { text: span(dates, zone) }));
    list.append(item);
  }
  show(byId("timeline-section"));
  // Linked as index.html#timeline-section: the section exists only now.
  if (location.hash === "#timeline-section") byId("timeline-section").scrollIntoView();
}

startPage(render)
  .then(load)
  .catch((exc) => console.error(exc));
