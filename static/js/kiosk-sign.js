// The stand tablet's sign form: checks, sending (or queueing when offline), the idle
// warning, and emptying the form whenever the signer leaves it.
"use strict";

// "Menade du …?": the server's rule (initiatives/email_typos.py) with the lists the sign
// screen carries (data-suggest-* on the address field), so that a tablet offline asks the
// same question before it queues.  The address with its domain corrected, or null.
window.KioskEmailTypos = (function () {
  // Edits from a to b, two neighbouring letters swapped counting as one (optimal string
  // alignment), over code points as Python counts them.
  function distance(first, second) {
    const a = Array.from(first);
    const b = Array.from(second);
    let before = [];
    let previous = [];
    for (let j = 0; j <= b.length; j += 1) {
      previous.push(j);
    }
    for (let i = 1; i <= a.length; i += 1) {
      const current = [i];
      for (let j = 1; j <= b.length; j += 1) {
        let best = Math.min(
          previous[j] + 1,
          current[j - 1] + 1,
          previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)
        );
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
          best = Math.min(best, before[j - 2] + 1);
        }
        current.push(best);
      }
      before = previous;
      previous = current;
    }
    return previous[b.length];
  }

  // [name, ending] as Python's rpartition("."): no dot, no name.
  function parts(domain) {
    const dot = domain.lastIndexOf(".");
    return [dot < 0 ? "" : domain.slice(0, dot), domain.slice(dot + 1)];
  }

  function close(domain, provider, nameEditsFrom) {
    const typed = parts(domain);
    const known = parts(provider);
    if (typed[0] === known[0]) {
      return distance(typed[1], known[1]) <= 1;
    }
    if (Array.from(known[0]).length < nameEditsFrom) {
      return false;
    }
    if (distance(domain, provider) <= 1) {
      return true;
    }
    return distance(typed[0], known[0]) <= 1 && distance(typed[1], known[1]) <= 1;
  }

  function suggestedDomain(typed, rule) {
    const domain = typed.toLowerCase();
    if (!domain || rule.providers.includes(domain) || rule.lookalikes.includes(domain)) {
      return null;
    }
    const scored = rule.providers
      .filter(function (provider) {
        return close(domain, provider, rule.nameEditsFrom);
      })
      .map(function (provider) {
        return { edits: distance(domain, provider), provider: provider };
      })
      .sort(function (x, y) {
        return x.edits - y.edits;
      });
    if (!scored.length || (scored.length > 1 && scored[1].edits === scored[0].edits)) {
      return null; // none, or two equally likely
    }
    const best = scored[0];
    const nearer = rule.lookalikes.some(function (real) {
      return distance(domain, real) < best.edits;
    });
    return nearer ? null : best.provider;
  }

  function suggestion(address, rule) {
    const at = address.lastIndexOf("@");
    if (at <= 0) {
      return null;
    }
    const corrected = suggestedDomain(address.slice(at + 1), rule);
    return corrected ? address.slice(0, at) + "@" + corrected : null;
  }

  return { suggestion: suggestion };
})();

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
  // "Menade du …?" (the question's place is on the screen, hidden until asked).
  const email = form.querySelector("input[name='email']");
  const asked = form.querySelector("input[name='email_asked']");
  const suggestionBox = form.querySelector("[data-suggestion]");
  const rule =
    email && asked && suggestionBox && email.dataset.suggestProviders
      ? {
          providers: email.dataset.suggestProviders.split(" "),
          lookalikes: (email.dataset.suggestLookalikes || "").split(" ").filter(Boolean),
          nameEditsFrom: Number(email.dataset.suggestNameEditsFrom) || 5,
        }
      : null;
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
    // A hidden field keeps its value through a reset: the address asked about goes too.
    if (asked) {
      asked.value = "";
    }
    hideSuggestion();
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

  // --- "Menade du …?": asked once, after every other check passed; not an error ----------

  function sameAddress(a, b) {
    return a.trim().toLowerCase() === b.trim().toLowerCase();
  }

  function describedBy(input, id, on) {
    const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
      return x && x !== id;
    });
    if (on) {
      ids.push(id);
    }
    if (ids.length) {
      input.setAttribute("aria-describedby", ids.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }

  // A sentence with {address} in it: its words as text, the address left to right (an
  // Arabic or Persian sentence would otherwise reorder its parts).
  function fill(element, sentence, address) {
    element.textContent = "";
    sentence.split("{address}").forEach(function (part, index) {
      if (index > 0) {
        const span = document.createElement("span");
        span.dir = "ltr";
        span.textContent = address;
        element.appendChild(span);
      }
      element.appendChild(document.createTextNode(part));
    });
  }

  // The address to suggest, if the one typed looks like a typo not asked about yet.
  function addressToAsk() {
    if (!rule) {
      return null;
    }
    const typed = email.value.trim();
    const suggested = window.KioskEmailTypos.suggestion(typed, rule);
    if (!suggested || sameAddress(asked.value, typed)) {
      return null;
    }
    asked.value = typed;
    return suggested;
  }

  function showSuggestion(suggested) {
    clearErrors();
    const question = suggestionBox.querySelector("[data-suggestion-question]");
    const take = suggestionBox.querySelector("[data-suggestion-take]");
    fill(question, email.dataset.suggestQuestion, suggested);
    fill(take.querySelector("[data-suggestion-take-label]"), email.dataset.suggestTake, suggested);
    take.value = suggested;
    suggestionBox.hidden = false;
    describedBy(email, question.id, true);
    suggestionBox.focus();
  }

  function hideSuggestion() {
    if (!suggestionBox) {
      return;
    }
    suggestionBox.hidden = true;
    describedBy(email, "email-suggestion", false);
  }

  // The suggestion's button: its address in the field (seen, and checked as typed), as
  // long as the field still holds the address asked about.  (Enter in a field presses
  // the form's first submit button, the nameless one before this: the address as typed.)
  if (suggestionBox) {
    suggestionBox.querySelector("[data-suggestion-take]").addEventListener("click", function () {
      const take = this;
      if (!suggestionBox.hidden && take.value && sameAddress(asked.value, email.value)) {
        email.value = take.value;
      }
    });
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
    hideSuggestion();
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
      // The page-bound token is useless later (the device token counts); the address
      // asked about was for this screen only.
      if (name !== "csrf_token" && name !== "email_asked") {
        data[name] = value;
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
    const suggested = addressToAsk();
    if (suggested) {
      showSuggestion(suggested);
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
