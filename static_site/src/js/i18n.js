// Interface language: catalogs, the chosen language, and Intl formatting.
//
// Each catalog is a flat map of keys to messages with {name} placeholders.
// A key missing from a language falls back to English, key by key, so a
// partly translated catalog is still usable.

import { CATALOGS, STAFF_CATALOGS } from "./catalogs.js";

/** The site's languages, named in their own language for the switcher. */
export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "es", name: "Español" },
  { code: "ht", name: "Kreyòl ayisyen" },
  { code: "vi", name: "Tiếng Việt" },
  { code: "zh-Hans", name: "简体中文" },
  { code: "pt", name: "Português" },
  { code: "kea", name: "Kabuverdianu" },
];

// Chromium's ICU lacks some of our languages; format with a close neighbour.
const FORMAT_LOCALES = {
  en: ["en-US"],
  es: ["es-US", "es"],
  ht: ["ht-HT", "fr-HT", "fr"],
  vi: ["vi-VN", "vi"],
  "zh-Hans": ["zh-Hans-CN", "zh-CN", "zh"],
  pt: ["pt-BR", "pt"],
  kea: ["kea-CV", "pt-CV", "pt"],
};
// ICU has no Haitian Creole or Kabuverdianu data, so their neighbours would
// spell months in French ("décembre") or Portuguese ("dezembro"), which
// readers of ht and kea may not expect. Those two get all-numeric dates,
// day first as in Haiti and Cape Verde (e.g. 05/12/2026), which read the
// same in every language.
const NUMERIC_DATES = new Set(["ht", "kea"]);
const RTL = new Set(["ar", "fa", "he", "ur"]);
const STORAGE_KEY = "pb.lang";

let current = "en";
let english = {};
let messages = {};
let formatLocale = "en-US";
const listeners = [];

export const language = () => current;

/** The first language the browser prefers that the site offers, else English. */
function preferred() {
  const saved = safeGet(STORAGE_KEY);
  if (LANGUAGES.some((l) => l.code === saved)) return saved;
  for (const wanted of navigator.languages || []) {
    const lower = wanted.toLowerCase();
    if (lower.startsWith("zh") && !/tw|hk|hant/.test(lower)) return "zh-Hans";
    const match = LANGUAGES.find((l) => l.code === lower.split("-")[0]);
    if (match) return match.code;
  }
  return "en";
}

function safeGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage may be disabled; the site still works in English
  }
}

// The staff console's pages (data-catalog="staff" on <body>) also load the
// staff.* messages, which the build keeps out of the public catalogs.
const withStaff = () => document.body?.dataset.catalog === "staff";

async function fetchCatalog(href) {
  if (!href) return {};
  try {
    const answer = await fetch(new URL(href, import.meta.url));
    return answer.ok ? await answer.json() : {};
  } catch {
    return {};
  }
}

async function loadCatalog(code) {
  if (!withStaff()) return fetchCatalog(CATALOGS[code]);
  const [site, staff] = await Promise.all([
    fetchCatalog(CATALOGS[code]),
    fetchCatalog(STAFF_CATALOGS[code]),
  ]);
  return { ...site, ...staff };
}

function pickFormatLocale(code) {
  for (const candidate of FORMAT_LOCALES[code] || ["en-US"]) {
    if (Intl.NumberFormat.supportedLocalesOf([candidate]).length) return candidate;
  }
  return "en-US";
}

/** Loads the preferred language; call once before rendering. */
export async function initLanguage() {
  english = await loadCatalog("en");
  await applyLanguage(preferred(), false);
}

/** Switches language, remembers it, and re-renders every listener. */
export async function setLanguage(code) {
  if (!LANGUAGES.some((l) => l.code === code)) return;
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered, but still applied
  }
  await applyLanguage(code, true);
}

async function applyLanguage(code, notify) {
  messages = code === "en" ? english : await loadCatalog(code);
  current = code;
  formatLocale = pickFormatLocale(code);
  const root = document.documentElement;
  root.lang = code;
  root.dir = RTL.has(code.split("-")[0]) ? "rtl" : "ltr";
  translateTree(document);
  if (notify) for (const listener of listeners) listener(code);
}

/** Registers a re-render to run after every language switch. */
export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** True when `key` has no text in the current language and English is shown. */
export function isFallback(key) {
  return current !== "en" && !(key in messages) && key in english;
}

/** The message for `key` with {placeholders} filled in, as plain text. */
export function t(key, params = {}) {
  const template = messages[key] ?? english[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in params ? String(params[name]) : whole,
  );
}

/**
 * Sets an element's text from the catalog; marks English fallbacks with
 * lang="en" so screen readers pronounce them as English.
 */
export function setText(node, key, params) {
  node.textContent = t(key, params);
  if (isFallback(key)) node.lang = "en";
  else node.removeAttribute("lang");
  return node;
}

/**
 * Translates static markup: data-i18n="key" sets the text, and
 * data-i18n-attr="attr:key;attr:key" sets attributes.
 */
export function translateTree(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) setText(node, node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of node.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      node.setAttribute(attr, t(key));
    }
  }
  const titleKey = document.body?.dataset.titleKey;
  if (titleKey) document.title = `${t(titleKey)} – ${t("meta.site_title")}`;
}

/**
 * Whole dollars as currency in the current language's conventions; always
 * "$" (narrowSymbol), never "US$", since every amount here is in dollars.
 */
export function money(amount) {
  return new Intl.NumberFormat(formatLocale, {
    style: "currency",
    currency: "USD",
    currencyDisplay: "narrowSymbol",
    maximumFractionDigits: 0,
    minimumFractionDigits: 0,
  }).format(amount);
}

export function number(value) {
  return new Intl.NumberFormat(formatLocale).format(value);
}

const DATE_STYLE = { dateStyle: "long" };
const NUMERIC_DATE = { day: "2-digit", month: "2-digit", year: "numeric" };

function dateOptions() {
  return NUMERIC_DATES.has(current) ? NUMERIC_DATE : DATE_STYLE;
}

/** A date (ISO string) in the cycle's time zone, e.g. "March 1, 2026". */
export function date(iso, timeZone = "America/New_York") {
  return new Intl.DateTimeFormat(formatLocale, { ...dateOptions(), timeZone }).format(
    new Date(iso),
  );
}

/** A time of day (ISO string) in the cycle's time zone, e.g. "5:00 PM". */
export function time(iso, timeZone = "America/New_York") {
  return new Intl.DateTimeFormat(formatLocale, { timeStyle: "short", timeZone }).format(
    new Date(iso),
  );
}

/** True when two instants fall on the same calendar day in `timeZone`. */
export function sameDay(a, b, timeZone = "America/New_York") {
  const day = new Intl.DateTimeFormat("en-CA", { dateStyle: "short", timeZone });
  return day.format(new Date(a)) === day.format(new Date(b));
}

/**
 * Text of a per-language map from the API ({en: ..., es: ...}); returns
 * {text, fallback, lang} where fallback says English stood in.
 */
export function localized(map) {
  const texts = map || {};
  if (texts[current]) return { text: texts[current], fallback: false, lang: current };
  if (texts.en) return { text: texts.en, fallback: current !== "en", lang: "en" };
  const [lang, text] = Object.entries(texts)[0] || ["en", ""];
  return { text, fallback: lang !== current, lang };
}

/** A date and time (ISO string) in the cycle's time zone, e.g. "Mar 1, 2026, 5:00 PM". */
export function dateTime(iso, timeZone = "America/New_York") {
  const day = NUMERIC_DATES.has(current) ? NUMERIC_DATE : { dateStyle: "medium" };
  const options = day === NUMERIC_DATE
    ? { ...day, hour: "numeric", minute: "2-digit", timeZone }
    : { ...day, timeStyle: "short", timeZone };
  return new Intl.DateTimeFormat(formatLocale, options).format(new Date(iso));
}

/**
 * A date and time that names its zone, e.g. "Mar 1, 2026, 5:00 PM EST":
 * the staff console's times, which staff must never have to guess. The
 * zone's short name comes from Intl ("EST", or an offset such as "GMT-5"
 * where the language has no abbreviation).
 */
export function zonedDateTime(iso, timeZone = "America/New_York") {
  const day = NUMERIC_DATES.has(current)
    ? NUMERIC_DATE
    : { year: "numeric", month: "short", day: "numeric" };
  return new Intl.DateTimeFormat(formatLocale, {
    ...day,
    hour: "numeric",
    minute: "2-digit",
    timeZone,
    timeZoneName: "short",
  }).format(new Date(iso));
}

/** A zone's name in the current language, e.g. "Eastern Time", else its id. */
export function zoneName(timeZone) {
  try {
    const parts = new Intl.DateTimeFormat(formatLocale, {
      timeZone,
      timeZoneName: "longGeneric",
    }).formatToParts(new Date());
    return parts.find((part) => part.type === "timeZoneName")?.value || timeZone;
  } catch {
    return timeZone;
  }
}
