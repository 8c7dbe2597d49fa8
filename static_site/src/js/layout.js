// What every page shares: language, navigation menu, the offline and
// queued-ballot notes, the event-mode switch, and the service worker.

import { byId, show } from "./dom.js";
import { initLanguage, onLanguageChange, setText } from "./i18n.js";
import { languageSwitcher } from "./langbar.js";
import { isKiosk, setKiosk } from "./kiosk.js";
import { onQueueChange, pendingCount, startSending } from "./queue.js";

function menu() {
  const nav = byId("site-nav");
  const overlay = document.querySelector(".usa-overlay");
  const open = document.querySelector(".usa-menu-btn");
  const close = nav.querySelector(".usa-nav__close");
  const toggle = (visible) => {
    nav.classList.toggle("is-visible", visible);
    overlay.classList.toggle("is-visible", visible);
    document.body.classList.toggle("usa-js-mobile-nav--active", visible);
    open.setAttribute("aria-expanded", String(visible));
    (visible ? close : open).focus();
  };
  open.addEventListener("click", () => toggle(true));
  close.addEventListener("click", () => toggle(false));
  overlay.addEventListener("click", () => toggle(false));
  nav.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && nav.classList.contains("is-visible")) toggle(false);
  });
  // Leaving the narrow layout with the menu open would leave the page inert.
  matchMedia("(min-width: 64em)").addEventListener("change", (query) => {
    if (query.matches && nav.classList.contains("is-visible")) toggle(false);
  });
}

function connectionNotes() {
  const offline = byId("offline-note");
  const queued = byId("queued-note");
  const update = () => {
    show(offline, !navigator.onLine);
    const count = pendingCount();
    setText(queued.querySelector("p"), "ballot.queued_count", { count });
    show(queued, count > 0);
  };
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  onQueueChange(update);
  onLanguageChange(update);
  update();
}

function kioskSwitch() {
  const box = byId("kiosk-toggle");
  const note = byId("kiosk-note");
  box.checked = isKiosk();
  show(note, box.checked);
  document.body.classList.toggle("pb-kiosk", box.checked);
  box.addEventListener("change", () => {
    setKiosk(box.checked);
    show(note, box.checked);
    document.body.classList.toggle("pb-kiosk", box.checked);
  });
}

function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("sw.js").catch((exc) => {
    console.warn("service worker not registered", exc.message);
  });
}

/**
 * Prepares the shared parts, then calls render() now and after every
 * language switch. Pages keep their own data and re-render from it.
 */
export async function startPage(render) {
  await initLanguage();
  languageSwitcher();
  menu();
  connectionNotes();
  kioskSwitch();
  registerServiceWorker();
  startSending();
  onLanguageChange(() => render());
  await render();
}
