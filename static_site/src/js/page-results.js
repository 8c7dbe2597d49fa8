// Results: funded and unfunded proposals, the SVG chart, budget and turnout,
// the receipt check and the published files. Titles come from GET /ballot
// (per language); the result's own English titles stand in if the ballot
// cannot be read.

import { getBallot, getResultFile, getResults, resultFileUrl } from "./api.js";
import { drawChart, redrawOnResize } from "./chart.js";
import { byId, el, focusOn, show } from "./dom.js";
import { localized, money, number, setText, t } from "./i18n.js";
import { startPage } from "./layout.js";
import { checkDigest, choicesOf, normaliseReceipt, receiptHash, receiptSet } from "./receipt-check.js";
import { done, failed, loading } from "./status.js";

const RECEIPTS = "receipts.txt";
const BY_RECEIPT = "ballots-by-receipt.csv";

let result = null;
let titles = {};
let error = null;
// The last receipt check: { kind: "found" | "not_found" | "invalid" | "unavailable", choices }.
let check = null;
let receiptList = null;

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
  renderCheck();
  renderFiles();
  show(byId("results"));
  drawResults();
}

/** The published list, fetched once and checked against result.json's digest. */
function receipts() {
  receiptList ??= getResultFile(RECEIPTS)
    .then(async (bytes) => {
      await checkDigest(bytes, result.files?.[RECEIPTS]);
      return receiptSet(bytes);
    })
    .catch((exc) => {
      receiptList = null; // try again on the next check
      throw exc;
    });
  return receiptList;
}

async function choicesFor(hash) {
  if (!result.receipts_with_selections) return null;
  const bytes = await getResultFile(BY_RECEIPT);
  await checkDigest(bytes, result.files?.[BY_RECEIPT]);
  return choicesOf(bytes, hash);
}

async function onCheck(event) {
  event.preventDefault();
  const receipt = normaliseReceipt(byId("receipt-input").value);
  if (!receipt) {
    check = { kind: "invalid" };
    renderCheck();
    focusOn(byId("receipt-input"));
    return;
  }
  const button = byId("receipt-button");
  button.disabled = true;
  try {
    const hash = await receiptHash(receipt);
    const found = (await receipts()).has(hash);
    check = { kind: found ? "found" : "not_found", choices: found ? await choicesFor(hash) : null };
  } catch {
    check = { kind: "unavailable" };
  } finally {
    button.disabled = false;
  }
  renderCheck();
}

function renderCheck() {
  const group = byId("group-receipt");
  const input = byId("receipt-input");
  const problem = byId("error-receipt");
  const invalid = check?.kind === "invalid";
  group.classList.toggle("usa-form-group--error", invalid);
  input.classList.toggle("usa-input--error", invalid);
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  if (invalid) setText(problem, "results.check_invalid");
  show(problem, invalid);

  const answer = byId("receipt-answer");
  answer.replaceChildren();
  if (check && !invalid) {
    const kind = { found: "success", not_found: "warning", unavailable: "error" }[check.kind];
    const text = el("p", { className: "usa-alert__text" });
    setText(text, `results.check_${check.kind}`, { count: number(result.ballots_counted) });
    const body = el("div", { className: "usa-alert__body", children: [text] });
    if (check.choices) {
      const list = check.choices.map((id) => titleOf(id).text).join(", ");
      const chosen = el("p", { className: "usa-alert__text" });
      setText(chosen, "results.check_selections", { list });
      body.append(chosen);
    }
    answer.append(el("div", { className: `usa-alert usa-alert--${kind} usa-alert--slim`, children: [body] }));
  }
  const linked = result.receipts_with_selections ? "results.check_what_linked" : "results.check_what";
  setText(byId("receipt-what"), linked);
}

async function renderFiles() {
  const list = byId("files-list");
  const names = Object.keys(result.files || {}).sort();
  const items = await Promise.all(
    names.map(async (name) => {
      const link = el("a", { className: "usa-link", text: name, attrs: { href: await resultFileUrl(name) } });
      const digest = el("span", { className: "pb-hash", text: ` ${result.files[name]}` });
      return el("li", { children: [link, digest] });
    }),
  );
  list.replaceChildren(...items);
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
byId("receipt-form").addEventListener("submit", (event) => onCheck(event));
startPage(render)
  .then(load)
  .catch((exc) => console.error(exc));
