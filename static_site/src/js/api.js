// The public API. Its origin comes from config.json, written per stage at
// deploy (locally by pbctl's site server), never baked into the build.

let configPromise;

/**
 * {api_url} (and, for the staff console, cognito_url, client_id, region)
 * from config.json; the service worker serves a cached copy offline.
 */
export function config() {
  // Relative to this module (in assets/), so pages in any folder find it.
  configPromise ??= fetch(new URL("../config.json", import.meta.url), { cache: "no-cache" })
    .then((answer) => {
      if (!answer.ok) throw new ApiError(0, { code: "NO_CONFIG" });
      return answer.json();
    })
    .catch((exc) => {
      configPromise = undefined; // try again next time, e.g. once back online
      throw exc;
    });
  return configPromise;
}

/**
 * An answer other than 2xx, or no answer at all (status 0). `retryAfter`
 * holds the Retry-After header in seconds (429, 503) and `attemptsLeft` the
 * tries a one-time code has left (CODE_INCORRECT), when the API sent them.
 */
export class ApiError extends Error {
  constructor(status, body = {}, headers = null) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || (status ? "HTTP_" + status : "NETWORK");
    this.field = body.field;
    this.serverMessage = body.message;
    if (Number.isInteger(body.attempts_left)) this.attemptsLeft = body.attempts_left;
    const wait = Number.parseInt(headers?.get("Retry-After") ?? "", 10);
    if (Number.isFinite(wait) && wait >= 0) this.retryAfter = wait;
  }
}

async function send(path, options, timeoutMs) {
  const { api_url: base } = await config();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return await fetch(base + path, { ...options, signal: abort.signal });
  } catch {
    throw new ApiError(0);
  } finally {
    clearTimeout(timer);
  }
}

export async function call(path, options = {}, timeoutMs = 20000) {
  const answer = await send(path, options, timeoutMs);
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new ApiError(answer.status, body, answer.headers);
  return { status: answer.status, body };
}

/** The URL of a published result file (receipts.txt, ballots.pb...). */
export const resultFileUrl = (name) =>
  config().then(({ api_url: base }) => `${base}/results/files/${encodeURIComponent(name)}`);

/** The bytes of a published result file, as an ArrayBuffer. */
export async function getResultFile(name) {
  const answer = await send(`/results/files/${encodeURIComponent(name)}`, {}, 60000);
  if (!answer.ok) throw new ApiError(answer.status, await answer.json().catch(() => ({})));
  return answer.arrayBuffer();
}

export const getCycle = () => call("/cycle").then((r) => r.body);
export const getBallot = () => call("/ballot").then((r) => r.body);
export const getResults = () => call("/results").then((r) => r.body);

/** POST /ballots with the ballot's own Idempotency-Key; resolves to the receipt. */
export function postBallot(key, body) {
  return call("/ballots", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify(body),
  }).then((r) => r.body);
}

const postJson = (path, body) =>
  call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
  }).then((r) => r.body);

/**
 * POST /verifications: sends a one-time code by "sms" or "email" to
 * `contact`, written in `language`; resolves to {verification_id,
 * method, expires_at}.
 */
export const startVerification = (method, contact, language) =>
  postJson("/verifications", { method, contact, language });

/** POST /verifications/{id} with the code; resolves to {voter_pass, expires_at}. */
export const checkVerification = (verificationId, code) =>
  postJson(`/verifications/${encodeURIComponent(verificationId)}`, { code });
