// The results bar chart, drawn as SVG: one bar per proposal in ranking
// order, funded ones dark, and a dashed line where the budget ran out.
//
// The drawing is sized in CSS pixels to its container (redrawn on resize)
// so the labels stay legible at 320 px and at 200% zoom. It is one image to
// assistive technology; the lists below it carry the same data as text.

import { svg } from "./dom.js";

const ROW = 58;
const LABEL = 20;
const BAR = 24;
const PAD = 8;

/**
 * rows: [{label, votes, valueText, funded}] in ranking order; cutAfter: the
 * index of the row after which the budget line goes (-1 for none).
 */
export function drawChart(container, { rows, cutAfter, title, description, lineLabel }) {
  const width = Math.max(260, Math.floor(container.clientWidth || 600));
  const height = rows.length * ROW + PAD * 2 + (cutAfter >= 0 ? LABEL : 0);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    "aria-labelledby": "chart-title chart-desc",
    class: "pb-chart__svg",
  });
  chart.append(svg("title", { id: "chart-title" }, title), svg("desc", { id: "chart-desc" }, description));

  const most = Math.max(1, ...rows.map((row) => row.votes));
  const room = width - 90; // space to the right of the longest bar for its value
  const maxChars = Math.floor(width / 8.5);
  let y = PAD;
  rows.forEach((row, index) => {
    const text = row.label.length > maxChars ? row.label.slice(0, maxChars - 1) + "…" : row.label;
    chart.append(svg("text", { x: 0, y: y + 15, class: "pb-chart__label" }, text));
    const length = Math.max(2, Math.round((row.votes / most) * room));
    const kind = row.funded ? "pb-chart__bar--funded" : "pb-chart__bar--unfunded";
    chart.append(svg("rect", { x: 0, y: y + LABEL, width: length, height: BAR, class: kind }));
    chart.append(
      svg("text", { x: length + 6, y: y + LABEL + 17, class: "pb-chart__value" }, row.valueText),
    );
    y += ROW;
    if (index === cutAfter) {
      const lineY = y - 4;
      chart.append(
        svg("line", { x1: 0, x2: width, y1: lineY, y2: lineY, class: "pb-chart__budget-line" }),
      );
      chart.append(
        svg("text", { x: width, y: lineY + 16, "text-anchor": "end", class: "pb-chart__budget-label" }, lineLabel),
      );
      y += LABEL;
    }
  });
  container.replaceChildren(chart);
}

/** Redraws when the container's width changes noticeably. */
export function redrawOnResize(container, draw) {
  let last = container.clientWidth;
  let timer;
  new ResizeObserver(() => {
    if (Math.abs(container.clientWidth - last) < 16) return;
    last = container.clientWidth;
    clearTimeout(timer);
    timer = setTimeout(draw, 100);
  }).observe(container);
}
