// The stand tablet's loop: one signer after another, with nothing of the previous signer
// left on screen, in the DOM or behind the Back button.  Every move between screens
// replaces the history entry and loads a fresh page; the form is emptied on the way out.
"use strict";

(function () {
  const body = document.body;
  const page = body.dataset.kioskPage;
  const startUrl = body.dataset.startUrl;
  const enrolled = Boolean(document.querySelector("meta[name='kiosk-token']"));
  const queue = window.KioskQueue;

  function go(url) {
    window.location.replace(url);
  }

  // Links inside the loop replace the current history entry: Back leads nowhere earlier.
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[data-replace]");
    if (
      !link ||
      event.defaultPrevented || // handled on the page (the privacy notice opens over the form)
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey
    ) {
      return;
    }
    event.preventDefault();
    go(link.href);
  });

  // A page brought back from the back-forward cache could be an earlier screen.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && page !== "enrol" && page !== "start") {
      go(startUrl);
    }
  });

  // Error-summary links focus their field (as site.js does on the public pages).
  document.addEventListener("click", function (event) {
    const link = event.target.closest(".error-summary a[href^='#']");
    if (!link) {
      return;
    }
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (target) {
      event.preventDefault();
      target.focus();
      target.scrollIntoView({ block: "center" });
    }
  });
  const summary = document.querySelector("[data-autofocus]");
  if (summary) {
    summary.focus();
  }

  // --- network and queue status (numbers only, never who) -------------------------------

  // Without WebCrypto (plain http to another machine) nothing can be sealed, so nothing
  // is saved offline: the footer does not say "saved on the tablet", and the start screen
  // and the panel tell the volunteer why.  (The resident hears it only if her signature
  // could not be sent: kiosk-sign.js.)
  const insecure = Boolean(queue && enrolled && !queue.canSeal());
  document.querySelectorAll("[data-insecure]").forEach(function (el) {
    el.hidden = !insecure;
  });

  function showNetwork() {
    document.querySelectorAll("[data-network]").forEach(function (el) {
      el.hidden = navigator.onLine || insecure;
    });
  }

  window.addEventListener("kioskqueue", function (event) {
    const length = event.detail.length;
    document.querySelectorAll("[data-queue-length]").forEach(function (el) {
      el.textContent = String(length);
    });
    document.querySelectorAll("[data-queue-status], [data-queue-notice]").forEach(function (el) {
      el.hidden = length === 0;
    });
    document.querySelectorAll("[data-queue-rejected]").forEach(function (el) {
      el.hidden = event.detail.rejected === 0;
    });
    document.querySelectorAll("[data-queue-rejected-count]").forEach(function (el) {
      el.textContent = String(event.detail.rejected);
    });
    // Why, per reason the tablet recorded (kiosk-queue.js): a line each, with its count.
    const byReason = event.detail.rejectedByReason || {};
    document.querySelectorAll("[data-rejected-reason]").forEach(function (el) {
      const count = byReason[el.dataset.rejectedReason] || 0;
      el.hidden = count === 0;
      el.querySelector("[data-rejected-reason-count]").textContent = String(count);
    });
    document.querySelectorAll("[data-queue-stranded]").forEach(function (el) {
      el.hidden = !event.detail.stranded;
    });
    document.querySelectorAll("[data-queue-stranded-count]").forEach(function (el) {
      el.textContent = String(event.detail.stranded || 0);
    });
    document.querySelectorAll("[data-leave-blocked]").forEach(function (el) {
      el.hidden = length === 0;
    });
    body.dataset.queued = String(length);
  });

  window.addEventListener("online", showNetwork);
  window.addEventListener("offline", showNetwork);
  showNetwork();

  // --- service worker and the flusher -----------------------------------------------------

  if ("serviceWorker" in navigator) {
    if (enrolled) {
      navigator.serviceWorker
        .register(body.dataset.swUrl, { scope: body.dataset.swScope })
        .then(function (registration) {
          // The start screen is where a switch of initiative shows: refresh the cached shell.
          const worker = registration.active || registration.waiting || registration.installing;
          if (page === "start" && worker && navigator.onLine) {
            worker.postMessage({ type: "refresh", version: body.dataset.shellVersion });
          }
        })
        .catch(function () {});
    } else if (page === "enrol") {
      // Not enrolled (any more): no cached loop pages may remain usable offline.  The
      // queue stays, and is sent once the tablet is enrolled again.
      navigator.serviceWorker.getRegistrations().then(function (registrations) {
        registrations.forEach(function (registration) {
          registration.unregister();
        });
      });
      if (window.caches) {
        caches.keys().then(function (keys) {
          keys
            .filter(function (key) {
              return key.indexOf("initiatives-kiosk-") === 0;
            })
            .forEach(function (key) {
              caches.delete(key);
            });
        });
      }
    }
  }

  if (queue) {
    queue.notify();
    queue.expire(); // entries past KIOSK_QUEUE_MAX_DAYS go, even on a tablet not enrolled
    if (enrolled) {
      queue.flush();
      window.addEventListener("online", function () {
        queue.flush();
      });
      const seconds = Number(body.dataset.flushSeconds) || 30;
      setInterval(function () {
        queue.flush();
      }, seconds * 1000);
    }
  }

  // --- thank-you screens: back to the start after a few seconds ---------------------------

  if (page === "thanks") {
    const seconds = Number(body.dataset.resetSeconds) || 8;
    setTimeout(function () {
      go(startUrl);
    }, seconds * 1000);
  }

  // --- the volunteer's panel ------------------------------------------------------------

  if (page === "panel") {
    const flushButton = document.querySelector("[data-flush-now]");
    if (flushButton) {
      flushButton.addEventListener("click", function () {
        queue.flush();
      });
    }
    // Entries the server will not take for this kiosk hold residents' names and addresses:
    // the volunteer may delete them, after a confirmation (they cannot be brought back).
    const discard = document.querySelector("[data-discard-stranded]");
    if (discard) {
      discard.addEventListener("click", function () {
        if (window.confirm(discard.dataset.confirm)) {
          queue.discardStranded();
        }
      });
    }
    const leave = document.querySelector("[data-leave-form]");
    if (leave) {
      leave.addEventListener("submit", function (event) {
        if (Number(body.dataset.queued || "0") > 0) {
          event.preventDefault(); // leaving would strand signatures on the tablet
          document.querySelector("[data-leave-blocked]").hidden = false;
        }
      });
    }
  }

  // Back to the loop from the panel: the server is asked to lock it again, then the start
  // screen opens whatever the answer.  (Sent as a form, the lock ended on the browser's
  // own "no internet" page while the stand's connection was down, and nobody could sign.)
  // Without the server's answer the PIN is still asked for within minutes, and Back
  // cannot reach the panel: its history entry is replaced.
  function lockPanel(form) {
    const controller = new AbortController();
    const timer = setTimeout(function () {
      controller.abort();
    }, 4000);
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "manual", // the answer only sends to the start screen, opened below
      signal: controller.signal,
    })
      .catch(function () {})
      .then(function () {
        clearTimeout(timer);
        go(startUrl);
      });
  }

  const lockForm = document.querySelector("[data-lock-form]");
  if (lockForm) {
    lockForm.addEventListener("submit", function (event) {
      event.preventDefault();
      lockPanel(lockForm);
    });
  }

  // The volunteer's pages must not stay open for the next resident: after a while
  // without a touch the PIN page (and the privacy notice's own screen) returns to the
  // start and the panel locks itself.
  if (page === "pin" || page === "panel" || page === "privacy") {
    const idleMs = (Number(body.dataset.idleSeconds) || 60) * 1000;
    let timer = null;
    const restart = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (lockForm) {
          lockPanel(lockForm);
        } else {
          go(startUrl);
        }
      }, idleMs);
    };
    ["input", "keydown", "pointerdown", "touchstart", "wheel"].forEach(function (type) {
      document.addEventListener(type, restart, { capture: true, passive: true });
    });
    restart();
  }

  if (page === "sign") {
    window.KioskSignForm(document.getElementById("sign"), body.dataset, go);
  }
})();
