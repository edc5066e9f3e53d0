// The service worker: keeps the app (never API answers) for use without a network. Network first,
// so an online load always gets the current release; the cache answers when the network does not.
const CACHE = "assess-take-v2";
const SHELL = "/take/";
const FILES = [
  "/take/",
  "/take/adaptive.js",
  "/take/api.js",
  "/take/app.css",
  "/take/app.js",
  "/take/auth.js",
  "/take/i18n.js",
  "/take/icon-192.png",
  "/take/icon.svg",
  "/take/items.js",
  "/take/manifest.webmanifest",
  "/take/store.js",
  "/take/strings.json",
  "/take/sync.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/take/")) return;
  const navigation = event.request.mode === "navigate";
  const key = navigation ? SHELL : url.pathname;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return response;
      })
      .catch(() => caches.match(key).then((hit) => hit || Response.error())),
  );
});
