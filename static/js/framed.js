// Pages framed inside Cobot (templates/embedded/): what differs between the frame and a tab of its own,
// and the ways on when the browser keeps no cookie for AccessBridge inside the frame
// (spaces/embedded_cookies.py says why). No inline script: this file works under a CSP nonce too.
(function () {
  "use strict";
  var framed = window.top !== window;

  document.querySelectorAll("[data-top-level-only]").forEach(function (element) {
    element.hidden = framed;
  });

  var fallback = document.getElementById("cookie-fallback");
  if (!fallback) return;
  var allowButton = document.getElementById("storage-access");
  var status = document.getElementById("storage-access-status");

  function show() {
    fallback.hidden = false;
    // Offered only inside a frame, where the browser has the Storage Access API.
    allowButton.hidden = !(framed && document.requestStorageAccess);
  }

  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  // Did the CSRF cookie come back? The answer sets it again; its token goes into the page's forms.
  function cookiesComeBack() {
    return fetch(fallback.dataset.probeUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (answer) {
        document.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (input) {
          input.value = answer.csrf_token;
        });
        return answer.cookies;
      });
  }

  allowButton.addEventListener("click", function () {
    say("");
    document.requestStorageAccess()
      .then(function () {
        return cookiesComeBack().then(cookiesComeBack);
      })
      .then(function (cameBack) {
        if (!cameBack) {
          say("Your browser still keeps no cookie here: open the page in a new tab.");
        } else if (fallback.dataset.retryUrl && fallback.hasAttribute("data-show-now")) {
          window.location.assign(fallback.dataset.retryUrl); // the refused form's page, to send it again
        } else {
          fallback.hidden = true; // the sign-in form below now carries its cookie
        }
      })
      .catch(function () {
        say("Your browser did not allow it: open the page in a new tab.");
      });
  });

  if (fallback.hasAttribute("data-show-now")) {
    show();
  } else if (framed) {
    cookiesComeBack().then(function (cameBack) {
      if (!cameBack) show();
    }, function () {
      /* no answer: nothing to tell; the sign-in itself will say what went wrong */
    });
  }
})();
