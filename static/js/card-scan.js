// The card registration page (templates/locks/cards.html): the card field takes the focus, so a USB card
// reader that types like a keyboard lands there. `autofocus` alone is not enough: Chromium ignores it in a
// cross-origin frame (the page inside Cobot), while a focus() from the page itself is allowed.
(function () {
  "use strict";
  var field = document.querySelector("[data-card-scan]");
  if (field) field.focus();
})();
