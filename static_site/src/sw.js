// The service worker: once a device has loaded the site it keeps working
// offline (event mode on poor connections).
//
// - Pages and built assets are precached at install, under a cache named for
//   the build's version, and answered from that cache first.
// - Other same-origin assets (USWDS icons, rarely used font weights) are
//   cached the first time they are fetched.
// - config.json and the API's GETs go to the network first and fall back to
//   the last good answer. POSTs are never touched: the page's own queue
//   owns ballots, so the worker cannot send one twice.
// - The staff console (staff/ pages, requests with a bearer token) is never
//   precached nor cached.
//
// The build fills in VERSION and PRECACHE; this file keeps a stable name.

const VERSION = __VERSION__;
const PRECACHE = __PRECACHE__;
const STATIC_CACHE = `pb-static-${VERSION}`;
const RUNTIME_CACHE = `pb-runtime-${VERSION}`;
const DATA_CACHE = "pb-data"; // API answers outlive a deploy
const NETWORK_TIMEOUT_MS = 6000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(STATIC_CACHE)
      // Pages skip the HTTP cache so a deploy never precaches a stale one;
      // fingerprinted assets may come from it, so the first visit does not
      // download what the page itself just loaded.
      .then((cache) => cache.addAll(PRECACHE.map(precacheRequest)))
      .then(() => self.skipWaiting()),
  );
});

function precacheRequest(url) {
  return new Request(url, { cache: url.startsWith("assets/") ? "default" : "reload" });
}

self.addEventListener("activate", (event) => {
  const keep = new Set([STATIC_CACHE, RUNTIME_CACHE, DATA_CACHE]);
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => !keep.has(n)).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  // Staff requests (a bearer token) and the staff console's pages are left
  // to the network: nothing a staff member sees is kept on the device.
  if (request.headers.has("Authorization")) return;
  const url = new URL(request.url);
  const sameOrigin = url.origin === self.location.origin;
  if (sameOrigin && url.pathname.includes("/staff/")) return;
  if (sameOrigin && url.pathname.endsWith("/config.json")) {
    event.respondWith(networkFirst(request));
  } else if (sameOrigin && request.mode === "navigate") {
    event.respondWith(page(request));
  } else if (sameOrigin) {
    event.respondWith(cacheFirst(request));
  } else if (url.protocol.startsWith("http")) {
    event.respondWith(networkFirst(request)); // the API
  }
});

/** A page from the precache (search ignored), else the network. */
async function page(request) {
  const cache = await caches.open(STATIC_CACHE);
  const path = new URL(request.url).pathname;
  const key = path.endsWith("/") ? "index.html" : request;
  const cached = await cache.match(key, { ignoreSearch: true });
  if (cached) return cached;
  try {
    return await fetch(request);
  } catch {
    return (await cache.match("index.html")) || Response.error();
  }
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const answer = await fetch(request);
  if (answer.ok) (await caches.open(RUNTIME_CACHE)).put(request, answer.clone());
  return answer;
}

/**
 * The network's answer when it comes within the timeout, else the cached
 * one; a late network answer still refreshes the cache for next time.
 */
async function networkFirst(request) {
  const cache = await caches.open(DATA_CACHE);
  const fromNetwork = fetch(request).then((answer) => {
    if (answer.ok) cache.put(request, answer.clone());
    return answer;
  });
  fromNetwork.catch(() => {}); // a late failure after the timeout is expected
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_TIMEOUT_MS));
  try {
    const first = await Promise.race([fromNetwork, timeout]);
    if (first) return first;
  } catch {
    // offline: fall through to the cache
  }
  const cached = await cache.match(request);
  if (cached) return cached;
  return fromNetwork; // nothing cached: wait for the network after all
}
