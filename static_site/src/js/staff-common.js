// What the staff console's pages share: the Cognito sign-in (and the
// challenges it may answer with: a new password, an MFA code), the access
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

/** The challenges the console answers; any other is SIGN_IN_CHALLENGE. */
export const CHALLENGES = new Set(["NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA", "SMS_MFA"]);

/** Cognito's error types (`__type`, maybe prefixed) -> the console's codes. */
const COGNITO_ERRORS = {
  NotAuthorizedException: "SIGN_IN_REFUSED",
  UserNotFoundException: "SIGN_IN_REFUSED",
  InvalidPasswordException: "NEW_PASSWORD_REFUSED",
  CodeMismatchException: "MFA_CODE_WRONG",
  ExpiredCodeException: "MFA_CODE_WRONG",
  TooManyRequestsException: "TRY_AGAIN",
  LimitExceededException: "TRY_AGAIN",
};

/** One call to the pool's JSON API (`target` is the operation's name). */
async function cognito(target, body) {
  const { cognito_url: url } = await config();
  if (!url) throw new ApiError(0, { code: "NO_CONFIG" });
  let answer;
  try {
    answer = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
      },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0);
  }
  const reply = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const type = String(reply.__type || "").split("#").pop();
    throw new ApiError(answer.status, { code: COGNITO_ERRORS[type] || "SIGN_IN_REFUSED" });
  }
  return reply;
}

/**
 * What a sign-in step answered: `{signedIn: true}` once the access token is
 * kept, else `{challenge, session, username}` for the next step. A challenge
 * the console cannot answer throws ApiError SIGN_IN_CHALLENGE.
 */
function nextStep(reply, username) {
  const access = reply.AuthenticationResult?.AccessToken;
  if (access) {
    storage()?.setItem(TOKEN_KEY, access);
    return { signedIn: true };
  }
  const challenge = reply.ChallengeName;
  const parameters = reply.ChallengeParameters || {};
  if (!CHALLENGES.has(challenge) || !reply.Session) {
    throw new ApiError(200, { code: "SIGN_IN_CHALLENGE" });
  }
  // Known limit: a pool that requires attributes at the first sign-in
  // (requiredAttributes, e.g. a name) would need fields for them here; the
  // staff pool of infra/template.yaml requires none.
  if (challenge === "NEW_PASSWORD_REQUIRED" && requiredAttributes(parameters).length) {
    throw new ApiError(200, { code: "SIGN_IN_CHALLENGE" });
  }
  const who = parameters.USER_ID_FOR_SRP || parameters.USERNAME || username;
  return { challenge, session: reply.Session, username: who };
}

function requiredAttributes(parameters) {
  try {
    return JSON.parse(parameters.requiredAttributes || "[]");
  } catch {
    return [];
  }
}

/**
 * Cognito InitiateAuth (USER_PASSWORD_AUTH) against config.json's
 * cognito_url and client_id. Resolves to a step (see nextStep); throws
 * ApiError SIGN_IN_REFUSED, SIGN_IN_CHALLENGE, TRY_AGAIN or NETWORK.
 */
export async function signIn(username, password) {
  const { client_id: clientId } = await config();
  if (!clientId) throw new ApiError(0, { code: "NO_CONFIG" });
  const reply = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: clientId,
    AuthParameters: { USERNAME: username, PASSWORD: password },
  });
  return nextStep(reply, username);
}

/**
 * RespondToAuthChallenge for a step signIn (or an earlier answer) gave:
 * `answer` is the new password for NEW_PASSWORD_REQUIRED, the code for the
 * MFA challenges. Resolves to the next step; throws ApiError
 * NEW_PASSWORD_REFUSED, MFA_CODE_WRONG, SIGN_IN_REFUSED (the session has
 * expired: start again), SIGN_IN_CHALLENGE, TRY_AGAIN or NETWORK.
 */
export async function answerChallenge(step, answer) {
  const { client_id: clientId } = await config();
  const responses = { USERNAME: step.username };
  if (step.challenge === "NEW_PASSWORD_REQUIRED") responses.NEW_PASSWORD = answer;
  else responses[`${step.challenge}_CODE`] = answer;
  const reply = await cognito("RespondToAuthChallenge", {
    ChallengeName: step.challenge,
    ClientId: clientId,
    Session: step.session,
    ChallengeResponses: responses,
  });
  return nextStep(reply, step.username);
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

/**
 * A staff request whose answer is not JSON (a CSV export, the printable
 * PDF sheet): resolves to the fetch Response once it is 2xx. A refusal
 * still comes as JSON and throws ApiError; a 401 signs out.
 */
async function staffRaw(path, options = {}) {
  const { api_url: base } = await config();
  const bearer = token();
  if (!bearer) {
    toSignIn(true);
    throw new ApiError(401, { code: "TOKEN_MISSING" });
  }
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${bearer}` };
  let answer;
  try {
    answer = await fetch(base + path, { ...options, headers, cache: "no-store" });
  } catch {
    throw new ApiError(0);
  }
  if (answer.status === 401) toSignIn(true);
  if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => ({})));
  return answer;
}

/** The raw answer of a staff GET that is not JSON (the audit CSV). */
export async function staffText(path) {
  return (await staffRaw(path)).text();
}

/**
 * A staff request answered with a file: resolves to {blob, filename}, the
 * name from Content-Disposition (the API exposes it to the site) or
 * `fallback`.
 */
export async function staffFile(path, options, fallback) {
  const answer = await staffRaw(path, options);
  const disposition = answer.headers.get("Content-Disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition)?.[1];
  return { blob: await answer.blob(), filename: named || fallback };
}

/**
 * Hands a file to the browser's downloads, as a click on a link would.
 * Returns the object URL, which stays valid while the page is open (the
 * caller may offer it again as a link, and revokes it when replaced).
 */
export function saveFile(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  return url;
}

export function toSignIn(expired) {
  signOut(expired);
  if (!location.pathname.endsWith("/staff/") && !location.pathname.endsWith("/index.html")) {
    location.assign("index.html");
  }
}

/**
 * The console's pages in the staff bar, each shown only to a member whose
 * groups allow reading it (`me` is GET /staff/me). The links keep the
 * ?cycle= of the page, so the three pages stay on the same cycle.
 */
const NAV = {
  "nav-dashboard": ["dashboard.html", "dashboard.read"],
  "nav-codes": ["access-codes.html", "access_codes.read"],
  "nav-paper": ["paper.html", "paper.read"],
};

export function showStaffNav(me) {
  const actions = new Set(me?.actions || []);
  const cycle = new URLSearchParams(location.search).get("cycle");
  const query = cycle === null ? "" : `?cycle=${encodeURIComponent(cycle)}`;
  let any = false;
  for (const [id, [page, action]] of Object.entries(NAV)) {
    const link = byId(id);
    if (!link) continue;
    link.href = page + query;
    const allowed = actions.has(action);
    show(link.parentElement, allowed);
    any ||= allowed;
  }
  const nav = byId("staff-nav");
  if (nav) show(nav, any);
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
  if (!access) return;
  try {
    await cognito("GlobalSignOut", { AccessToken: access });
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
