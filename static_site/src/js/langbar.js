// The language switcher every page shows, public site and staff console alike.

import { byId, el } from "./dom.js";
import { LANGUAGES, language, onLanguageChange, setLanguage } from "./i18n.js";

export function languageSwitcher() {
  const select = byId("lang-select");
  for (const { code, name } of LANGUAGES) {
    // Each name is in its own language; lang lets screen readers say it right.
    select.append(el("option", { text: name, attrs: { value: code, lang: code } }));
  }
  select.value = language();
  // A button applies the choice: changing a select alone must not reload
  // the page's text under a keyboard user's feet (WCAG 3.2.2).
  byId("lang-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setLanguage(select.value);
  });
  onLanguageChange((code) => {
    select.value = code;
  });
}
