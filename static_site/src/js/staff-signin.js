// Staff sign-in: username and password to Cognito, then the dashboard.

import { byId, el } from "./dom.js";
import { setText } from "./i18n.js";
import { signIn, startStaffPage, takeExpired, token } from "./staff-common.js";

const SIGN_IN_ERRORS = {
  SIGN_IN_REFUSED: "staff.sign_in_failed",
  SIGN_IN_CHALLENGE: "staff.sign_in_unsupported",
};

let message = takeExpired() ? ["staff.signed_out_expired", "info"] : null;

function render() {
  const region = byId("page-status");
  region.replaceChildren();
  if (!message) return;
  const [key, kind] = message;
  const alert = el("div", { className: `usa-alert usa-alert--${kind} usa-alert--slim` });
  const body = el("div", { className: "usa-alert__body" });
  body.append(setText(el("p", { className: "usa-alert__text" }), key));
  alert.append(body);
  region.append(alert);
}

function wire() {
  const form = byId("sign-in-form");
  const button = byId("sign-in-button");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = byId("username").value.trim();
    const password = byId("password").value;
    if (!username || !password) {
      message = ["staff.sign_in_failed", "error"];
      render();
      byId(username ? "password" : "username").focus();
      return;
    }
    button.disabled = true;
    try {
      await signIn(username, password);
      location.assign("dashboard.html");
      return;
    } catch (exc) {
      message = [SIGN_IN_ERRORS[exc.code] || "common.unreachable", "error"];
      byId("password").value = "";
      render();
      byId("password").focus();
    }
    button.disabled = false;
  });
}

if (token()) {
  location.replace("dashboard.html"); // already signed in in this tab
} else {
  startStaffPage(render)
    .then(wire)
    .catch((exc) => console.error(exc));
}
