// Ballots waiting on this device for a connection (event mode).
//
// A ballot is written here *before* its first send, with the Idempotency-Key
// it keeps for every retry, so a dropped connection, a closed tab or a crash
// can never lose it nor count it twice. An entry leaves the queue only when
// the server has answered for good: 201 (recorded, or replayed) or a 4xx
// (refused; 409 ALREADY_VOTED and IDEMPOTENCY_KEY_REUSED are final too).
// Network failures, timeouts, 5xx, 408 and 429 keep it for the next try.
//
// A ballot proved by a voter pass (a code by text or email, or a volunteer's
// vouch) keeps its pass inside the entry, because without it the ballot
// cannot be sent; it is the only place the site writes a pass to storage.
// What that costs is bounded: a pass lives 30 minutes, names one cycle and
// casts one ballot, so once expired it can only replay the receipt of this
// very ballot (same Idempotency-Key and selections). The entry leaves the
// queue, pass and all, as soon as the server answers for good. If the device
// reconnects after the pass expired and the ballot was not recorded, the
// server refuses it with PASS_EXPIRED: the entry is dropped like any refusal,
// and the confirmation page, which showed the pass's expiry while the ballot
// waited, tells the voter it was not counted and to prove who they are again.
// An entry is never sent with its pass stripped, since a lost answer may
// hide a recorded ballot whose receipt only the same request gets back.
//
// Known limit: an entry holds the whole request body, the voter's pass,
// access code, email or phone included, in localStorage until it is sent,
// so on a shared event device someone with the browser's developer tools
// could read an unsent ballot (and, within the pass's 30 minutes or with an
// access code, cast that voter's ballot first). To close it, encrypt entries
// with a non-extractable WebCrypto key kept in IndexedDB and show event
// staff a count of unsent ballots before a device changes hands.

import { ApiError, postBallot } from "./api.js";

const STORAGE_KEY = "pb.queue";
const RETRY_EVERY_MS = 30000;
const RETRYABLE_4XX = new Set([408, 429]);
const listeners = [];
const sentListeners = [];

function read() {
  try {
    const entries = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(entries) ? entries : [];
  } catch {
    return [];
  }
}

function write(entries) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(entries));
  for (const listener of listeners) listener(entries.length);
}

export const pendingCount = () => read().length;

/** Calls back with the number of waiting ballots whenever it changes. */
export function onQueueChange(listener) {
  listeners.push(listener);
}

/**
 * Calls back with (key, result) whenever a send of a queued ballot ends for
 * good in this page ("recorded" with its receipt, or "refused"), whoever
 * sent it: the confirmation page's retries or the background flush.
 */
export function onSent(listener) {
  sentListeners.push(listener);
}

function settled(key, result) {
  for (const listener of sentListeners) listener(key, result);
  return result;
}

/** A fresh key for one ballot: letters, digits and '-' as the API asks. */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Stores a ballot for sending; throws if the device cannot keep it. */
export function enqueue(key, body) {
  const entries = read().filter((entry) => entry.key !== key);
  entries.push({ key, body, queued_at: new Date().toISOString() });
  write(entries);
}

function remove(key) {
  write(read().filter((entry) => entry.key !== key));
}

// One sender per ballot at a time, across tabs when the browser has Web
// Locks, so two tabs never race the same key into the server.
const localLocks = new Map();
function withLock(key, task) {
  if (navigator.locks?.request) return navigator.locks.request(`pb-ballot-${key}`, task);
  const previous = localLocks.get(key) || Promise.resolve();
  const next = previous.then(task, task);
  localLocks.set(key, next.catch(() => {}));
  return next;
}

/**
 * Sends one queued ballot. Resolves to {outcome: "recorded", receipt},
 * {outcome: "refused", error} or {outcome: "kept", error}.
 */
export function send(key) {
  return withLock(key, async () => {
    const entry = read().find((e) => e.key === key);
    if (!entry) return { outcome: "gone" };
    try {
      const receipt = await postBallot(entry.key, entry.body);
      remove(entry.key);
      return settled(entry.key, { outcome: "recorded", receipt });
    } catch (error) {
      if (!(error instanceof ApiError)) return { outcome: "kept", error };
      const final = error.status >= 400 && error.status < 500;
      if (final && !RETRYABLE_4XX.has(error.status)) {
        remove(entry.key);
        return settled(entry.key, { outcome: "refused", error });
      }
      return { outcome: "kept", error };
    }
  });
}

let flushing = false;

/** Tries every waiting ballot once, oldest first. */
export async function flush() {
  if (flushing || !navigator.onLine) return;
  flushing = true;
  try {
    for (const entry of read()) {
      const result = await send(entry.key);
      // The voter has gone; only the code is logged, never the ballot.
      if (result.outcome === "refused") console.warn("queued ballot refused", result.error.code);
      if (result.outcome === "kept") break; // still offline: wait for the next try
    }
  } finally {
    flushing = false;
  }
}

/** Sends waiting ballots now, when the connection returns, and periodically. */
export function startSending() {
  window.addEventListener("online", () => flush());
  setInterval(() => flush(), RETRY_EVERY_MS);
  window.addEventListener("storage", (event) => {
    if (event.key === STORAGE_KEY) for (const listener of listeners) listener(pendingCount());
  });
  flush();
}
