// The proposal cards of the ballot and the running count of choices.
//
// A card whose title or summary has no text in the current language shows
// the English one (marked lang="en") with a note saying so.
//
// Each card's checkbox is a native input whose label holds the title and
// the cost, so a screen reader says name, cost and checked state. The count
// and total sit in one aria-live="polite" region that is re-written on
// every change.

import { byId, el, show } from "./dom.js";
import { localized, money, setText, t } from "./i18n.js";

/** Renders the cards; `chosen` is a Set of proposal ids kept across renders. */
export function renderCards(ballot, chosen, onChange) {
  const list = byId("proposals");
  list.replaceChildren();
  for (const proposal of ballot.proposals) {
    const title = localized(proposal.title);
    const summary = localized(proposal.summary);
    list.append(card(proposal, title, summary, chosen, onChange));
  }
  updateTally(ballot, chosen);
}

function card(proposal, title, summary, chosen, onChange) {
  const id = `proposal-${proposal.proposal_id}`.replace(/[^\w-]/g, "_");
  const item = el("li", { className: "usa-card pb-proposal" });
  const container = el("div", { className: "usa-card__container" });
  const header = el("div", { className: "usa-card__header" });
  header.append(el("h2", { className: "usa-card__heading", text: title.text, attrs: { lang: title.lang } }));
  const body = el("div", { className: "usa-card__body" });
  // Said on the card it concerns: which proposals are untranslated matters.
  if (title.fallback || (summary.text && summary.fallback)) {
    body.append(el("p", { className: "pb-proposal__fallback", text: t("common.english_fallback") }));
  }
  if (summary.text) body.append(el("p", { text: summary.text, attrs: { lang: summary.lang } }));
  const cost = t("ballot.cost", { amount: money(proposal.cost) });
  body.append(el("p", { className: "pb-proposal__cost", text: cost }));
  if (proposal.department) {
    body.append(el("p", { text: t("ballot.department", { department: proposal.department }) }));
  }
  const footer = el("div", { className: "usa-card__footer" });
  const box = el("div", { className: "usa-checkbox" });
  const input = el("input", {
    className: "usa-checkbox__input usa-checkbox__input--tile",
    attrs: { type: "checkbox", id, name: "selection", value: proposal.proposal_id },
  });
  input.checked = chosen.has(proposal.proposal_id);
  input.addEventListener("change", () => {
    if (input.checked) chosen.add(proposal.proposal_id);
    else chosen.delete(proposal.proposal_id);
    onChange();
  });
  const label = el("label", { className: "usa-checkbox__label", attrs: { for: id } });
  label.append(el("span", { text: t("ballot.choose", { title: title.text }) }));
  label.append(el("span", { className: "usa-checkbox__label-description", text: cost }));
  box.append(input, label);
  footer.append(box);
  container.append(header, body, footer);
  item.append(container);
  return item;
}

/** The total cost of the chosen proposals, in whole dollars. */
export function totalCost(ballot, chosen) {
  return ballot.proposals
    .filter((p) => chosen.has(p.proposal_id))
    .reduce((sum, p) => sum + p.cost, 0);
}

/**
 * Re-writes the live count and disables the unchosen boxes once the limit
 * is reached, so a choice past the limit cannot be made at all.
 */
export function updateTally(ballot, chosen) {
  const limit = ballot.selection_limit;
  const full = chosen.size >= limit;
  for (const input of document.querySelectorAll('#proposals input[name="selection"]')) {
    input.disabled = full && !input.checked;
    input.closest(".pb-proposal").classList.toggle("pb-proposal--chosen", input.checked);
  }
  setText(byId("chosen-count"), "ballot.chosen_count", { count: chosen.size, limit });
  setText(byId("chosen-total"), "ballot.chosen_total", { amount: money(totalCost(ballot, chosen)) });
  const note = byId("limit-note");
  setText(note, "ballot.limit_reached", { limit });
  show(note, full);
}
