// The stand tablet's offline queue: signatures that could not be sent yet wait in
// IndexedDB, each under the UUID the tablet gave it, until the server acknowledges them.
// The server accepts a UUID at most once, so sending an entry again is always safe.
// What a resident typed is sealed before it is stored (see seal): whoever holds the
// tablet later cannot read who signed; only the server can open it.
"use strict";

(function () {
  const DB_NAME = "initiatives-kiosk";
  const STORE = "queue";
  const REJECTED_KEY = "initiatives-kiosk-rejected";
  const LOCK_NAME = "initiatives-kiosk-queue";
  const SEND_TIMEOUT_MS = 10000;
  const DAY_MS = 24 * 60 * 60 * 1000;
  // The same first element the server's associated data has (initiatives/kiosk_queue.py).
  const AAD_PURPOSE = "initiatives.kiosk.queue/v1";
  // The fields the queue itself needs, kept readable; everything else the form sent is
  // sealed (so a personal field added to the form one day is sealed too).
  const PLAIN_FIELDS = ["initiative", "text_version"];

  function openDb() {
    return new Promise(function (resolve, reject) {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "uuid" });
      };
      request.onsuccess = function () {
        resolve(request.result);
      };
      request.onerror = function () {
        reject(request.error);
      };
    });
  }

  // Runs fn(store) in one transaction; resolves with the request's result once the
  // transaction has completed ("strict": written to disk, so it survives a crash).
  async function withStore(mode, fn) {
    const db = await openDb();
    try {
      return await new Promise(function (resolve, reject) {
        const tx = db.transaction(STORE, mode, { durability: "strict" });
        const request = fn(tx.objectStore(STORE));
        tx.oncomplete = function () {
          resolve(request ? request.result : undefined);
        };
        tx.onerror = tx.onabort = function () {
          reject(tx.error);
        };
      });
    } finally {
      db.close();
    }
  }

  // Only sealed entries are stored: never a resident's name or address in plain text.
  function add(entry) {
    if (!entry.sealed) {
      return Promise.reject(new Error("only sealed entries are queued"));
    }
    return withStore("readwrite", function (store) {
      return store.put(entry);
    }).then(notify);
  }

  function all() {
    return withStore("readonly", function (store) {
      return store.getAll();
    }).then(function (entries) {
      return (entries || []).sort(function (a, b) {
        return a.queuedAt - b.queuedAt;
      });
    });
  }

  function count() {
    return withStore("readonly", function (store) {
      return store.count();
    });
  }

  function remove(uuid) {
    return withStore("readwrite", function (store) {
      return store.delete(uuid);
    });
  }

  function newUuid() {
    if (crypto.randomUUID) {
      return crypto.randomUUID();
    }
    // Plain http (not a secure context) has no randomUUID: build a version 4 UUID.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // --- sealing (WebCrypto only) -------------------------------------------------------

  // WebCrypto exists in secure contexts only (https, or http on this machine itself).
  function subtle() {
    return window.isSecureContext && window.crypto && window.crypto.subtle
      ? window.crypto.subtle
      : null;
  }

  function canSeal() {
    return Boolean(subtle());
  }

  function toBase64(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 1) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text);
  }

  function fromBase64(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  // The entry as it may be stored: its personal fields encrypted with a fresh AES-GCM
  // key, bound to this kiosk, UUID, initiative and signing time, and that key wrapped
  // with RSA-OAEP under the kiosk's public key (the sign screen's data-queue-key).
  // Resolves with null where it cannot be sealed: then nothing is stored at all.
  async function seal(entry, key) {
    const box = subtle();
    if (!box || !key || !key.publicKey || !key.keyId || !key.kioskId) {
      return null;
    }
    const plain = {};
    const personal = {};
    Object.keys(entry.fields).forEach(function (name) {
      (PLAIN_FIELDS.indexOf(name) >= 0 ? plain : personal)[name] = entry.fields[name];
    });
    const publicKey = await box.importKey(
      "spki",
      fromBase64(key.publicKey),
      { name: "RSA-OAEP", hash: "SHA-256" },
      false,
      ["wrapKey"]
    );
    const aesKey = await box.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const encoder = new TextEncoder();
    const aad = encoder.encode(
      JSON.stringify([
        AAD_PURPOSE,
        String(key.kioskId),
        entry.uuid,
        plain.initiative || "",
        entry.signedAt,
      ])
    );
    const data = await box.encrypt(
      { name: "AES-GCM", iv: iv, additionalData: aad },
      aesKey,
      encoder.encode(JSON.stringify(personal))
    );
    const wrapped = await box.wrapKey("raw", aesKey, publicKey, { name: "RSA-OAEP" });
    return {
      uuid: entry.uuid,
      fields: plain,
      sealed: {
        v: 1,
        kid: key.keyId,
        key: toBase64(wrapped),
        iv: toBase64(iv),
        data: toBase64(data),
      },
      signedAt: entry.signedAt,
      lang: entry.lang,
      queuedAt: entry.queuedAt,
    };
  }

  function token() {
    const meta = document.querySelector("meta[name='kiosk-token']");
    return meta ? meta.content : "";
  }

  // Only the server's own answers (its JSON) settle an entry: a page from something in
  // between (a proxy's maintenance page, a captive portal), even with 200, is "retry".
  function classify(status, data) {
    if (status === 200 && data.status === "received") {
      return { kind: "ok" };
    }
    if (status === 422 && (data.status === "unreadable" || data.status === "too_old")) {
      // Sealed to a key that is gone (the tablet was unbound, or bound to another
      // kiosk), damaged, or waited too long: it can never be delivered.
      return { kind: "undeliverable", reason: data.status };
    }
    if (
      (status === 400 || status === 413 || status === 422) &&
      (data.status === "invalid" || data.status === "error")
    ) {
      return { kind: "invalid", errors: data.errors || {} };
    }
    if (status === 409 && data.status === "closed") {
      return { kind: "closed", message: data.message || "" };
    }
    if (status === 403) {
      return { kind: data.status === "not_assigned" ? "not_assigned" : "locked" };
    }
    return { kind: "retry" }; // 429, 5xx, a proxy's error page: try again later
  }

  // Sends one entry (queued: from the queue).  Never rejects: a network failure or a
  // timeout is "retry".  A sealed entry goes sealed; the server opens it.
  async function send(entry, queued) {
    const body = new URLSearchParams(entry.fields);
    if (entry.sealed) {
      body.set("sealed", JSON.stringify(entry.sealed));
    }
    if (queued || entry.sealed) {
      body.set("queued", "1");
    }
    body.set("client_uuid", entry.uuid);
    body.set("signed_at", entry.signedAt);
    body.set("lang", entry.lang);
    const controller = new AbortController();
    const timer = setTimeout(function () {
      controller.abort();
    }, SEND_TIMEOUT_MS);
    try {
      const response = await fetch(document.body.dataset.apiUrl, {
        method: "POST",
        body: body,
        headers: { "X-Kiosk-Token": token(), Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
      let data = {};
      try {
        data = await response.json();
      } catch (error) {
        data = {};
      }
      return classify(response.status, data);
    } catch (error) {
      return { kind: "retry" };
    } finally {
      clearTimeout(timer);
    }
  }

  // The tablet's own date, as the panel's "today" counts go: refusals are counted per
  // day, so one from an earlier day does not stay on the panel for good.
  function today() {
    const now = new Date();
    return [now.getFullYear(), now.getMonth() + 1, now.getDate()].join("-");
  }

  // Today's refused entries, by UUID, with why (reasons: "closed", "too_old",
  // "unreadable", "invalid", "discarded"; none for a count kept by an older release):
  // recorded before the entry is deleted, so a page left in between (the volunteer
  // opening the panel) cannot lose the count, and an entry refused again after such a
  // break is not counted twice.  Only UUIDs and reasons: never who.
  function rejectedToday() {
    const none = { uuids: [], reasons: {} };
    try {
      const stored = JSON.parse(localStorage.getItem(REJECTED_KEY) || "null");
      if (!stored || stored.day !== today() || !Array.isArray(stored.uuids)) {
        return none;
      }
      const reasons = stored.reasons && typeof stored.reasons === "object" ? stored.reasons : {};
      return { uuids: stored.uuids, reasons: reasons };
    } catch (error) {
      return none;
    }
  }

  // How many per reason, for the volunteer's panel ("other": recorded without one).
  function rejectedByReason() {
    const stored = rejectedToday();
    const counts = {};
    stored.uuids.forEach(function (uuid) {
      const reason = stored.reasons[uuid] || "other";
      counts[reason] = (counts[reason] || 0) + 1;
    });
    return counts;
  }

  function countRejected(uuid, reason) {
    const stored = rejectedToday();
    if (stored.uuids.indexOf(uuid) < 0) {
      stored.uuids.push(uuid);
      stored.reasons[uuid] = reason;
    }
    localStorage.setItem(
      REJECTED_KEY,
      JSON.stringify({ day: today(), uuids: stored.uuids, reasons: stored.reasons })
    );
  }

  // An entry the server answered "not_assigned" (the initiative was taken off this kiosk,
  // or the tablet was enrolled at another): kept, since it may be given back, and sent
  // again with the rest, but marked, so the volunteer's panel shows it and can discard it.
  function markStranded(entry) {
    if (entry.stranded) {
      return Promise.resolve();
    }
    entry.stranded = true;
    return withStore("readwrite", function (store) {
      return store.put(entry);
    });
  }

  async function dropStranded() {
    let dropped = 0;
    for (const entry of await all()) {
      if (entry.stranded) {
        countRejected(entry.uuid, "discarded"); // not delivered: the panel's count says so
        await remove(entry.uuid);
        dropped += 1;
      }
    }
    return dropped;
  }

  // Deletes the marked entries (the volunteer confirmed it), not while a flush runs.
  function discardStranded() {
    const work = navigator.locks
      ? navigator.locks.request(LOCK_NAME, dropStranded)
      : dropStranded();
    return work.finally(notify);
  }

  // Entries wait KIOSK_QUEUE_MAX_DAYS at most (by the tablet's clock): the server would
  // refuse them, and the privacy notice promises they are gone by then.
  function expired(entry) {
    const days = Number(document.body.dataset.queueMaxDays) || 30;
    return Date.now() - entry.queuedAt > days * DAY_MS;
  }

  async function dropExpired() {
    for (const entry of await all()) {
      if (expired(entry)) {
        countRejected(entry.uuid, "too_old"); // not delivered: the panel's count says so
        await remove(entry.uuid);
      }
    }
  }

  // Also on a tablet that is not enrolled (any more): its queue is never sent.
  function expire() {
    const work = navigator.locks ? navigator.locks.request(LOCK_NAME, dropExpired) : dropExpired();
    return work.catch(function () {}).then(notify);
  }

  async function sendAll() {
    if (!token()) {
      return; // not an enrolled page: keep everything for when the tablet is enrolled
    }
    await dropExpired();
    for (const entry of await all()) {
      const result = await send(entry, true);
      if (result.kind === "ok") {
        await remove(entry.uuid); // only now: the server has acknowledged it
      } else if (
        result.kind === "invalid" ||
        result.kind === "closed" ||
        result.kind === "undeliverable"
      ) {
        // The server will never take it (the collection closed meanwhile, say).
        countRejected(entry.uuid, result.reason || result.kind);
        await remove(entry.uuid);
      } else if (result.kind === "not_assigned") {
        await markStranded(entry);
      } else {
        break; // offline, rate-limited or locked: the rest would fail the same way
      }
      await notify();
    }
  }

  let running = null;

  // One flush at a time, across tabs too (Web Locks), so an entry is not sent twice
  // at once by this device; the server would accept it once anyway.
  function flush() {
    if (running) {
      return running;
    }
    const work = navigator.locks ? navigator.locks.request(LOCK_NAME, sendAll) : sendAll();
    running = work
      .catch(function () {})
      .then(notify)
      .finally(function () {
        running = null;
      });
    return running;
  }

  async function notify() {
    let length = 0;
    let stranded = 0;
    const rejected = rejectedByReason();
    try {
      const entries = await all();
      length = entries.length;
      stranded = entries.filter(function (entry) {
        return entry.stranded;
      }).length;
    } catch (error) {
      length = 0;
    }
    window.dispatchEvent(
      new CustomEvent("kioskqueue", {
        detail: {
          length: length,
          rejected: rejectedToday().uuids.length,
          rejectedByReason: rejected,
          stranded: stranded,
        },
      })
    );
    return length;
  }

  window.KioskQueue = {
    add: add,
    all: all,
    canSeal: canSeal,
    count: count,
    discardStranded: discardStranded,
    expire: expire,
    flush: flush,
    newUuid: newUuid,
    notify: notify,
    seal: seal,
    send: send,
  };
})();
