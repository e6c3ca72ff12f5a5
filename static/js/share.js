// Share box on the initiative page (templates/signing/_share.html).  Progressive
// enhancement: without this script the link is still there to select and copy, and the
// WhatsApp link still works.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var input = document.querySelector("[data-share-link]");
  var copy = document.querySelector("[data-copy-link]");
  var share = document.querySelector("[data-native-share]");
  var status = document.querySelector("[data-copy-status]");
  if (!input) {
    return;
  }

  // A tap in the field selects the whole address, ready to copy by hand.
  input.addEventListener("focus", function () {
    input.select();
  });

  function say(message) {
    status.textContent = "";
    // A fresh text node each time, so screen readers announce a repeated message too.
    window.setTimeout(function () {
      status.textContent = message;
    }, 50);
  }

  function copyBySelection() {
    input.focus();
    input.select();
    var copied = false;
    try {
      // The older way, for pages served without HTTPS where navigator.clipboard is missing.
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    say(copied ? copy.dataset.copied : copy.dataset.copyFailed);
  }

  if (copy) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () {
          say(copy.dataset.copied);
        }, copyBySelection);
      } else {
        copyBySelection();
      }
    });
  }

  // Phones offer their own share sheet (WhatsApp, SMS, mail) through the Web Share API.
  // Desktop browsers may have the API without a useful sheet, so only touch screens get it.
  var touch = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  if (share && navigator.share && touch) {
    share.hidden = false;
    share.addEventListener("click", function () {
      navigator.share({ title: share.dataset.shareTitle, url: input.value }).catch(function (error) {
        // Closing the sheet is no error; anything else: offer the link to copy instead.
        if (error && error.name !== "AbortError" && copy) {
          copy.click();
        }
      });
    });
  }
});
