// The stand tablet's sign form: checks, sending (or queueing when offline), the idle
// warning, and emptying the form whenever the signer leaves it.
"use strict";

window.KioskSignForm = function (form, settings, go) {
  const queue = window.KioskQueue;
  const inputs = Array.from(form.querySelectorAll("input:not([type='hidden'])"));
  const button = form.querySelector("button[type='submit']");
  const message = form.querySelector("[data-form-message]");
  const summarySlot = document.querySelector("[data-error-summary-slot]");
  const warning = document.querySelector("[data-idle-warning]");
  const countdown = document.querySelector("[data-idle-countdown]");
  const idleSeconds = Number(settings.idleSeconds) || 60;
  const warningSeconds = Number(settings.idleWarningSeconds) || 15;
  // A resident reading the whole proposal may not touch the screen for minutes: while it
  // is open, the idle time is longer (never shorter), and only then.
  const proposal = document.querySelector("[data-proposal]");
  const readingSeconds = Math.max(Number(settings.readingIdleSeconds) || 0, idleSeconds);
  // The same shapes the server checks, so that nothing it would refuse is queued offline
  // as "saved"; the server still decides.  An address: letters, digits and
  // !#$%&'*+/=?^_`{|}~- before the @, in runs joined by single dots; after it, names of
  // letters or digits (a hyphen only inside) joined by dots, ending in a letter.
  const formats = {
    email: /^[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+(\.[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+)*@([\p{L}\p{M}\p{N}]([\p{L}\p{M}\p{N}-]*[\p{L}\p{M}\p{N}])?\.)+([\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N}-]*)?\p{L}$/u,
    postcode: /^\p{Nd}{3}\s?\p{Nd}{2}$/u,
  };
  let busy = false;
  // Idle time on the page's own monotonic clock: the tablet's wall clock may be set back
  // or forward (when the network returns, say), which must neither keep a resident's data
  // on screen nor empty the form under their fingers.
  let lastActivity = performance.now();

  function empty() {
    inputs.forEach(function (input) {
      if (input.type === "checkbox") {
        input.checked = false;
      } else {
        input.value = "";
      }
    });
    form.reset();
  }

  function leave(url) {
    empty();
    go(url);
  }

  // Whatever way the page is left (a link, a reload, the browser), it leaves no data.
  window.addEventListener("pagehide", empty);

  function hasInput() {
    return inputs.some(function (input) {
      return input.type === "checkbox" ? input.checked : input.value.trim() !== "";
    });
  }

  // --- checks and error messages (GOV.UK pattern: summary on top, message at the field) --

  // What comes before the last @ ("" without one), as the server reads it.
  function beforeAt(value) {
    const at = value.lastIndexOf("@");
    return at < 0 ? "" : value.slice(0, at);
  }

  // A pattern the server sent (data-*-pattern), or null if this browser cannot read it:
  // then the server alone decides.
  function pattern(source, flags) {
    try {
      return source ? new RegExp(source, flags) : null;
    } catch (error) {
      return null;
    }
  }

  // A field's value as the server reads it: without the invisible marks its filter takes
  // out of a name (data-invisible-pattern), and without outer spaces.
  function cleaned(input) {
    const invisible = pattern(input.dataset.invisiblePattern, "gu");
    return (invisible ? input.value.replace(invisible, "") : input.value).trim();
  }

  function check() {
    const errors = [];
    inputs.forEach(function (input) {
      const required = input.dataset.requiredMessage;
      if (input.type === "checkbox") {
        if (required && !input.checked) {
          errors.push({ input: input, text: required });
        }
        return;
      }
      const value = cleaned(input);
      const format = formats[input.name];
      const address = pattern(input.dataset.addressPattern, "iu");
      if (!value && required) {
        errors.push({ input: input, text: required });
      } else if (value && input.dataset.asciiMessage && /[^\x00-\x7f]/.test(beforeAt(value))) {
        // Letters such as å before the @ need a mail server most lack: the server refuses
        // them, so they are not queued as "saved" either.  (Checked first, as the server
        // does, since the address's shape allows only a-z there.)
        errors.push({ input: input, text: input.dataset.asciiMessage });
      } else if (value && format && !format.test(value) && input.dataset.formatMessage) {
        errors.push({ input: input, text: input.dataset.formatMessage });
      } else if (value && address && address.test(value)) {
        // A web or e-mail address in the name: the server's own pattern (names.py).
        errors.push({ input: input, text: input.dataset.addressMessage });
      }
    });
    return errors;
  }

  function clearErrors() {
    form.querySelectorAll("[data-field]").forEach(function (field) {
      field.classList.remove("field-error");
      const text = field.querySelector(".error-message");
      text.hidden = true;
      text.querySelector("[data-error-text]").textContent = "";
    });
    inputs.forEach(function (input) {
      input.removeAttribute("aria-invalid");
      const ids = (input.getAttribute("aria-describedby") || "")
        .split(" ")
        .filter(function (id) {
          return id && id !== input.id + "-error";
        });
      if (ids.length) {
        input.setAttribute("aria-describedby", ids.join(" "));
      } else {
        input.removeAttribute("aria-describedby");
      }
    });
    summarySlot.textContent = "";
    message.hidden = true;
    message.textContent = "";
  }

  function showErrors(errors) {
    clearErrors();
    const box = document.createElement("div");
    box.className = "error-summary";
    box.setAttribute("role", "alert");
    box.setAttribute("tabindex", "-1");
    box.setAttribute("aria-labelledby", "error-summary-title");
    const title = document.createElement("h2");
    title.id = "error-summary-title";
    title.textContent = form.dataset.errorTitle;
    const list = document.createElement("ul");
    errors.forEach(function (error) {
      const field = error.input.closest("[data-field]");
      field.classList.add("field-error");
      const text = field.querySelector(".error-message");
      text.hidden = false;
      text.querySelector("[data-error-text]").textContent = error.text;
      error.input.setAttribute("aria-invalid", "true");
      const ids = (error.input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      ids.push(error.input.id + "-error");
      error.input.setAttribute("aria-describedby", ids.join(" "));
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#" + error.input.id;
      link.textContent = error.text;
      item.appendChild(link);
      list.appendChild(item);
    });
    box.appendChild(title);
    box.appendChild(list);
    summarySlot.appendChild(box);
    box.focus();
  }

  function showMessage(text) {
    clearErrors();
    message.textContent = text;
    message.hidden = false;
  }

  function serverErrors(errors) {
    const found = [];
    Object.keys(errors).forEach(function (name) {
      const input = inputs.find(function (candidate) {
        return candidate.name === name;
      });
      if (input) {
        found.push({ input: input, text: errors[name] });
      }
    });
    if (found.length) {
      showErrors(found);
    } else {
      showMessage(form.dataset.genericError);
    }
  }

  // --- sending ------------------------------------------------------------------------

  function fields() {
    const data = {};
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") {
        data[name] = value; // the page-bound token is useless later; the device token counts
      }
    });
    return data;
  }

  async function submit(event) {
    event.preventDefault();
    if (busy) {
      return;
    }
    const errors = check();
    if (errors.length) {
      showErrors(errors);
      return;
    }
    busy = true;
    button.disabled = true;
    const entry = {
      uuid: queue.newUuid(),
      fields: fields(),
      signedAt: new Date().toISOString(),
      lang: settings.lang,
      queuedAt: Date.now(),
    };
    const result = await queue.send(entry);
    if (result.kind === "ok") {
      leave(settings.thanksUrl);
      return;
    }
    if (result.kind === "retry") {
      // Kept for later, sealed: only the server can read it.  Where the tablet cannot
      // seal (no WebCrypto without https, no key on this screen) nothing is kept, and
      // the resident is told so; the form keeps what she typed, to try again.
      try {
        const sealed = await queue.seal(entry, {
          publicKey: settings.queueKey,
          keyId: settings.queueKeyId,
          kioskId: settings.kioskId,
        });
        if (sealed) {
          await queue.add(sealed);
          leave(settings.savedUrl);
          return;
        }
        showMessage(form.dataset.notSavedMessage);
      } catch (error) {
        showMessage(form.dataset.notSavedMessage);
      }
    } else if (result.kind === "invalid") {
      serverErrors(result.errors);
    } else if (result.kind === "closed") {
      showMessage(result.message || form.dataset.genericError);
    } else if (result.kind === "undeliverable") {
      showMessage(form.dataset.genericError); // a live send is never sealed or old
    } else {
      showMessage(form.dataset.lockedMessage);
    }
    busy = false;
    button.disabled = false;
  }

  form.addEventListener("submit", submit);

  // --- the privacy notice: over the form, so that what was typed stays ----------------

  const notice = document.querySelector("[data-privacy-notice]");
  const noticeLink = document.querySelector("[data-privacy-open]");
  if (notice && noticeLink && typeof notice.showModal === "function") {
    noticeLink.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
        return;
      }
      event.preventDefault(); // the link is the way without the script: a screen of its own
      notice.showModal();
      notice.scrollTop = 0;
    });
    notice.querySelector("[data-privacy-close]").addEventListener("click", function () {
      notice.close();
    });
    notice.addEventListener("close", function () {
      noticeLink.focus();
    });
  }

  // --- idle: warn, then empty the form and go back to the start -------------------------

  function activity() {
    lastActivity = performance.now();
    warning.hidden = true;
  }

  ["input", "keydown", "pointerdown", "touchstart", "wheel"].forEach(function (type) {
    document.addEventListener(type, activity, { capture: true, passive: true });
  });
  document.querySelector("[data-idle-continue]").addEventListener("click", activity);

  setInterval(function () {
    if (busy) {
      return;
    }
    const idle = (performance.now() - lastActivity) / 1000;
    const reading = Boolean(proposal && proposal.open);
    if (!hasInput() && !reading) {
      // Nothing typed: nothing to protect, but the next signer should find the start.
      if (idle >= idleSeconds * 3) {
        leave(settings.startUrl);
      }
      return;
    }
    // Someone reading is warned too, typed or not, before the screen goes back.
    const limit = reading ? readingSeconds : idleSeconds;
    if (idle >= limit + warningSeconds) {
      leave(settings.startUrl);
    } else if (idle >= limit) {
      if (warning.hidden) {
        if (notice && notice.open) {
          notice.close(); // a modal dialog would sit above the warning
        }
        warning.hidden = false;
        warning.querySelector("[data-idle-continue]").focus();
      }
      countdown.textContent = String(Math.ceil(limit + warningSeconds - idle));
    }
  }, 250);
};
