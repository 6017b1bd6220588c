// Cobot sizes the iframe from {frameHeight: h} posted to the parent (cobot-api.md).
// A file, not an inline script: the Content-Security-Policy allows scripts from our own origin only.
(function () {
  if (window.parent === window) return;
  var last = 0;
  function report() {
    var height = document.documentElement.scrollHeight;
    if (height !== last) {
      last = height;
      window.parent.postMessage(JSON.stringify({frameHeight: height}), "*");
    }
  }
  window.addEventListener("load", report);
  if (window.ResizeObserver) new ResizeObserver(report).observe(document.body);
})();
