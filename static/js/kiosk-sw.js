// Service worker of the stand tablet (served as /kiosk/sw.js, scope /kiosk).
//
// It keeps the loop's screens and assets so the tablet keeps working when the mobile
// connection drops.  Pages are fetched from the network first and fall back to the copy
// kept here; signatures (POSTs) are never touched: they go to the network, and the page
// queues them in IndexedDB when that fails.  The volunteer's pages and forms go to the
// network too; when it is down they lead back to the start screen.  No page kept here
// holds personal data: only GET responses of the shell are stored, and those are blank
// forms.
"use strict";

const CACHE = "initiatives-kiosk-v1";
const SHELL_URL = new URL("shell.json", self.location).pathname;
const NAVIGATION_TIMEOUT_MS = 4000;
// Never from the cache: signatures, the volunteer's pages, and this machinery itself.
const NETWORK_ONLY = ["/kiosk/api/", "/kiosk/volunteer", "/kiosk/enrol", "/kiosk/sw.js", SHELL_URL];
const VOLUNTEER = "/kiosk/volunteer";
const START_URL = "/kiosk";

function cacheable(response) {
  return response && response.status === 200 && response.type === "basic" && !response.redirected;
}

// Fetches every screen and asset of the loop into the cache, then records the shell's
// version (under the shell's own URL), so that an unchanged shell is not fetched again.
async function refreshShell() {
  const response = await fetch(SHELL_URL, { credentials: "same-origin", cache: "no-store" });
  if (!cacheable(response)) {
    return;
  }
  const shell = await response.json();
  const cache = await caches.open(CACHE);
  await Promise.all(
    shell.pages.concat(shell.assets).map(async function (url) {
      const fresh = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (cacheable(fresh)) {
        await cache.put(url, fresh);
      }
    })
  );
  await cache.put(SHELL_URL, new Response(JSON.stringify({ version: shell.version })));
}

async function refreshIfChanged(version) {
  const kept = await (await caches.open(CACHE)).match(SHELL_URL);
  if (kept && version && (await kept.json()).version === version) {
    return;
  }
  await refreshShell();
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    refreshShell()
      .catch(function () {})
      .then(function () {
        return self.skipWaiting();
      })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (keys) {
        return Promise.all(
          keys
            .filter(function (key) {
              return key.indexOf("initiatives-kiosk-") === 0 && key !== CACHE;
            })
            .map(function (key) {
              return caches.delete(key);
            })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "refresh") {
    event.waitUntil(refreshIfChanged(event.data.version).catch(function () {}));
  }
});

function timeout(ms) {
  return new Promise(function (resolve, reject) {
    setTimeout(function () {
      reject(new Error("timeout"));
    }, ms);
  });
}

async function networkFirst(event) {
  const request = event.request;
  const cache = await caches.open(CACHE);
  const network = fetch(request).then(async function (response) {
    // Only a page the shell already holds is refreshed: nothing else gets stored.
    if (cacheable(response) && (await cache.match(request.url))) {
      await cache.put(request.url, response.clone());
    }
    return response;
  });
  event.waitUntil(network.catch(function () {}));
  try {
    // A dying mobile connection can hang for minutes: give it a few seconds.
    return await Promise.race([network, timeout(NAVIGATION_TIMEOUT_MS)]);
  } catch (error) {
    const kept = await cache.match(request.url);
    return kept || network;
  }
}

// The volunteer's pages need the network.  When it is down the tablet stays in the loop,
// on its start screen (which says the network is down), instead of the browser's own
// "no internet" page, from which nobody could sign until the network returned.
async function volunteerPage(event) {
  try {
    return await Promise.race([fetch(event.request), timeout(NAVIGATION_TIMEOUT_MS)]);
  } catch (error) {
    return Response.redirect(START_URL, 303);
  }
}

async function staleWhileRevalidate(event) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(event.request.url);
  const network = fetch(event.request).then(async function (response) {
    if (cacheable(response) && kept) {
      await cache.put(event.request.url, response.clone());
    }
    return response;
  });
  event.waitUntil(network.catch(function () {}));
  return kept || network;
}

self.addEventListener("fetch", function (event) {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.search) {
    return;
  }
  // A volunteer's page opened or form sent (the PIN, say): from the network, always.
  if (request.mode === "navigate" && url.pathname.startsWith(VOLUNTEER)) {
    event.respondWith(volunteerPage(event));
    return;
  }
  if (request.method !== "GET") {
    return;
  }
  if (
    NETWORK_ONLY.some(function (prefix) {
      return url.pathname.startsWith(prefix);
    })
  ) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(event));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staleWhileRevalidate(event));
  }
});
