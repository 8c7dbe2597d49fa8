// Results: funded and unfunded proposals, the SVG chart, budget and turnout.
// Titles come from GET /ballot (per language); the result's own English
// titles stand in if the ballot cannot be read.

import { getBallot, getResults } from "./api.js";
import { drawChart, redrawOnResize } from "./chart.js";
import { byId, el, show } from "./dom.js";
import { localized, money, number, setText, t } from "./i18n.js";
import { startPage } from "./layout.js";
import { done, failed, loading } from "./status.js";

let result = null;
let titles = {};
let error = null;

async function load() {
  loading();
  try {
    const [answer, ballot] = await Promise.all([getResults(), getBallot().catch(() => null)]);
    result = answer;
    titles = Object.fromEntries((ballot?.proposals || []).map((p) => [p.proposal_id, p.title]));
    error = null;
  } catch (exc) {
    error = exc;
  }
  render();
}

function titleOf(id) {
  if (titles[id]) return localized(titles[id]);
  const english = result.titles?.[id];
  return localized(english ? { en: english } : { en: id });
}

function entry(proposal) {
  const title = titleOf(proposal.proposal_id);
  const item = el("li", { className: "pb-result" });
  item.append(el("span", { className: "pb-result__title", text: title.text, attrs: { lang: title.lang } }));
  const facts = [t("results.votes", { count: number(proposal.votes) }), money(proposal.cost)];
  const reason = `results.reason.${proposal.reason}`;
  if (!proposal.funded && t(reason) !== reason) facts.push(t(reason));
  item.append(el("span", { className: "pb-result__facts", text: facts.join(" · ") }));
  return { item, fallback: title.fallback };
}

function render() {
  if (error) return failed(error, load);
  if (!result) return;
  done();
  const voters = number(result.ballots_counted);
  setText(byId("results-summary"), "results.summary", {
    voters,
    spent: money(result.spent),
    budget: money(result.budget),
    count: number(result.funded.length),
  });
  setText(byId("budget-used"), "results.budget_used", {
    spent: money(result.spent),
    budget: money(result.budget),
  });
  setText(byId("turnout"), "results.turnout", { voters });

  let anyFallback = false;
  const funded = byId("funded-list");
  const unfunded = byId("unfunded-list");
  funded.replaceChildren();
  unfunded.replaceChildren();
  for (const proposal of result.proposals) {
    const { item, fallback } = entry(proposal);
    anyFallback ||= fallback;
    (proposal.funded ? funded : unfunded).append(item);
  }
  show(byId("unfunded-section"), unfunded.children.length > 0);
  show(byId("fallback-note"), anyFallback);
  const hashKey = "results.ballot_hash";
  const hashLine = byId("ballot-hash");
  hashLine.textContent = t(hashKey) !== hashKey ? t(hashKey, { hash: result.ballot_hash }) : "";
  show(byId("results"));
  drawResults();
}

function drawResults() {
  const rows = result.proposals.map((p) => ({
    label: `${p.rank}. ${titleOf(p.proposal_id).text}`,
    votes: p.votes,
    valueText: number(p.votes),
    funded: p.funded,
  }));
  const lastFunded = result.proposals.map((p) => p.funded).lastIndexOf(true);
  const cutAfter = lastFunded < rows.length - 1 ? lastFunded : -1;
  drawChart(byId("chart"), {
    rows,
    cutAfter,
    title: t("results.chart_title"),
    description: t("results.chart_desc"),
    lineLabel: t("results.budget_line"),
  });
}

redrawOnResize(byId("chart"), () => result && drawResults());
startPage(render)
  .then(load)
  .catch((exc) => console.error(exc));
