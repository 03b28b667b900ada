// Inside the booking widget's iframe: tells the embedding page (embed.js) how tall this page
// is, so the iframe grows with it. Nothing else; the page works without it.
(function () {
  "use strict";
  if (window.parent === window) {
    return;
  }
  var last = 0;
  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      // The height is not a secret: any embedding page may know it.
      window.parent.postMessage({ type: "workorders:height", height: height }, "*");
    }
  }
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(report).observe(document.documentElement);
  }
  window.addEventListener("load", report);
  report();
})();
