// What the staff console's pages share: the Cognito sign-in, the access
// token (sessionStorage only, gone with the tab, on sign-out and on any 401),
// staff API calls with the bearer token, and the page frame.

import { ApiError, call, config } from "./api.js";
import { byId, show } from "./dom.js";
import { initLanguage, onLanguageChange, setText } from "./i18n.js";
import { languageSwitcher } from "./langbar.js";

const TOKEN_KEY = "pb.staff.token";
const ACTOR_KEY = "pb.staff.actor";
/** Set when a 401 signed the member out, so the sign-in page can say why. */
const EXPIRED_KEY = "pb.staff.expired";

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export const token = () => storage()?.getItem(TOKEN_KEY) || null;
export const actor = () => storage()?.getItem(ACTOR_KEY) || "";

export function rememberActor(name) {
  storage()?.setItem(ACTOR_KEY, name);
}

/** Forgets the token; `expired` makes the sign-in page explain why. */
export function signOut(expired = false) {
  const store = storage();
  if (!store) return;
  store.removeItem(TOKEN_KEY);
  store.removeItem(ACTOR_KEY);
  if (expired) store.setItem(EXPIRED_KEY, "1");
}

/** True once after a 401 signed the member out. */
export function takeExpired() {
  const store = storage();
  const was = store?.getItem(EXPIRED_KEY) === "1";
  store?.removeItem(EXPIRED_KEY);
  return was;
}

/**
 * Cognito InitiateAuth (USER_PASSWORD_AUTH) against config.json's
 * cognito_url and client_id; keeps the access token. Throws ApiError with
 * code SIGN_IN_REFUSED, SIGN_IN_CHALLENGE or NETWORK.
 */
export async function signIn(username, password) {
  const { cognito_url: url, client_id: clientId } = await config();
  if (!url || !clientId) throw new ApiError(0, { code: "NO_CONFIG" });
  let answer;
  try {
    answer = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0);
  }
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new ApiError(answer.status, { code: "SIGN_IN_REFUSED" });
  const access = body.AuthenticationResult?.AccessToken;
  if (!access) throw new ApiError(answer.status, { code: "SIGN_IN_CHALLENGE" });
  storage()?.setItem(TOKEN_KEY, access);
  return access;
}

/** A staff API call with the token; a 401 signs out and goes to sign-in. */
export async function staffCall(path, options = {}) {
  const bearer = token();
  if (!bearer) {
    toSignIn(true);
    throw new ApiError(401, { code: "TOKEN_MISSING" });
  }
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${bearer}` };
  try {
    return await call(path, { ...options, headers, cache: "no-store" });
  } catch (exc) {
    if (exc.status === 401) toSignIn(true);
    throw exc;
  }
}

/** The raw answer of a staff GET that is not JSON (the audit CSV). */
export async function staffText(path) {
  const { api_url: base } = await config();
  const bearer = token();
  if (!bearer) {
    toSignIn(true);
    throw new ApiError(401, { code: "TOKEN_MISSING" });
  }
  let answer;
  try {
    answer = await fetch(base + path, {
      headers: { Authorization: `Bearer ${bearer}` },
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0);
  }
  if (answer.status === 401) toSignIn(true);
  if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => ({})));
  return answer.text();
}

export function toSignIn(expired) {
  signOut(expired);
  if (!location.pathname.endsWith("/staff/") && !location.pathname.endsWith("/index.html")) {
    location.assign("index.html");
  }
}

/** Shows who is signed in (once known) and the sign-out button. */
export function updateStaffBar() {
  const who = byId("staff-who");
  const signedIn = Boolean(token());
  show(byId("sign-out"), signedIn);
  show(who, signedIn && Boolean(actor()));
  if (signedIn && actor()) setText(who, "staff.signed_in_as", { actor: actor() });
}

/**
 * Cognito GlobalSignOut for the current token: it ends the member's refresh
 * tokens everywhere. Best effort: the page signs out locally whatever the
 * answer. The API checks tokens itself, so an access token already issued
 * stays valid until it expires (15 minutes, see infra/README.md).
 */
async function endSession(access) {
  try {
    const { cognito_url: url } = await config();
    if (!url || !access) return;
    await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.GlobalSignOut",
      },
      body: JSON.stringify({ AccessToken: access }),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    // Offline or refused: the local sign-out below still happens.
  }
}

function staffBar() {
  byId("sign-out").addEventListener("click", async () => {
    const access = token();
    signOut(false);
    await endSession(access);
    location.assign("index.html");
  });
  updateStaffBar();
  onLanguageChange(updateStaffBar);
}

/** Language and the staff bar, then render() now and after every switch. */
export async function startStaffPage(render) {
  await initLanguage();
  languageSwitcher();
  staffBar();
  onLanguageChange(() => render());
  await render();
}
