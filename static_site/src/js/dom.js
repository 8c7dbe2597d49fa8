// Building DOM from data. Text always goes in through textContent, so a
// proposal title such as "<img onerror=...>" stays a literal string.

/** createElement with a class list, attributes and text or children. */
export function el(tag, { className, text, attrs, children } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children || []) if (child) node.append(child);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element; geometry goes in attributes, never in inline styles. */
export function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export const byId = (id) => document.getElementById(id);

/** Shows or hides with the hidden attribute (CSS-free, works under the CSP). */
export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Moves focus to a heading or region, making it focusable if need be. */
export function focusOn(node) {
  if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
  node.focus();
}
