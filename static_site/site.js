// The minimal participation site: home, ballot and results.
// Every text from the API is set with textContent, never as HTML.

const page = document.body.dataset.page;
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD",
  maximumFractionDigits: 0 });

async function api(path, options = {}) {
  const config = await (await fetch("config.json")).json();
  const answer = await fetch(config.api_url + path, options);
  const body = await answer.json().catch(() => ({}));
  return { status: answer.status, body };
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function say(text) {
  document.getElementById("message").textContent = text;
}

async function home() {
  const { status, body } = await api("/cycle");
  if (status !== 200) return say(body.message || "No cycle is running yet.");
  document.getElementById("cycle-name").textContent = body.name;
  document.getElementById("phase").textContent = body.phase.replaceAll("_", " ");
  const list = document.getElementById("timeline");
  for (const [phase, window] of Object.entries(body.calendar)) {
    const item = el("li", `${phase.replaceAll("_", " ")}: ` +
      `${new Date(window.start).toLocaleDateString()} – ` +
      `${new Date(window.end).toLocaleDateString()}`);
    if (phase === body.phase) item.className = "current";
    list.append(item);
  }
}

async function ballot() {
  const { status, body } = await api("/ballot");
  if (status !== 200) return say(body.message || "The ballot is not published yet.");
  const limit = body.selection_limit;
  document.getElementById("instructions").textContent =
    `Choose up to ${limit} proposals. Budget: ${money.format(body.budget_cap)}.`;
  const box = document.getElementById("proposals");
  for (const proposal of body.proposals) {
    const card = el("div", undefined, { class: "proposal" });
    const label = el("label");
    const input = el("input", undefined, { type: "checkbox", value: proposal.proposal_id,
      name: "selection" });
    label.append(input, el("span", proposal.title.en || proposal.proposal_id));
    card.append(label, el("p", `${money.format(proposal.cost)}`));
    box.append(card);
  }
  const count = document.getElementById("count");
  const form = document.getElementById("ballot-form");
  const chosen = () => [...form.querySelectorAll("input[name=selection]:checked")];
  const update = () => {
    const picked = chosen();
    for (const input of form.querySelectorAll("input[name=selection]")) {
      input.disabled = !input.checked && picked.length >= limit;
    }
    count.textContent = `${picked.length} of ${limit} chosen`;
  };
  form.addEventListener("change", update);
  update();
  form.hidden = false;
  const key = crypto.randomUUID();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const voter = document.getElementById("voter").value.trim();
    const kind = voter.includes("@") ? "email" : /^[+\d\s().-]+$/.test(voter)
      ? "phone" : "access_code";
    const { status: code, body: answer } = await api("/ballots", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": key },
      body: JSON.stringify({
        selections: chosen().map((input) => input.value),
        attestation: { boston_resident: document.getElementById("resident").checked,
          age: Number(document.getElementById("age").value) },
        voter: { kind, value: voter },
      }),
    });
    if (code === 201) {
      form.hidden = true;
      say(`Thank you. Your ballot is recorded. Receipt: ${answer.receipt}`);
    } else {
      say(answer.message || "Your ballot could not be recorded. Please try again.");
    }
  });
}

async function results() {
  const { status, body } = await api("/results");
  if (status !== 200) return say(body.message || "Results are not published yet.");
  document.getElementById("summary").textContent =
    `${body.ballots_counted} ballots; ${money.format(body.spent)} of ` +
    `${money.format(body.budget)} funded.`;
  const rows = document.querySelector("#results tbody");
  for (const p of body.proposals) {
    const row = el("tr");
    row.append(el("td", String(p.rank)),
      el("td", (body.titles || {})[p.proposal_id] || p.proposal_id),
      el("td", String(p.votes)), el("td", money.format(p.cost)),
      el("td", p.funded ? "Funded" : "Not funded"));
    rows.append(row);
  }
  document.getElementById("results").hidden = false;
}

({ home, ballot, results })[page]?.().catch(() =>
  say("The service cannot be reached. Please try again in a moment."));
