// The booking widget for any website. Paste where the widget should appear:
//
//   <script src="https://<your server>/embed.js" data-tenant="<company slug>"
//           data-service="<service id, optional>" async></script>
//
// Options (data-*): tenant (required), service (one service only), lang ("de" or "en"),
// mode ("inline", the default: the booking page in an iframe that grows with its content;
// "button": a button that opens it in a dialog), label (the button's text).
// The server only lets the page be framed by the company's configured website origins.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.tenant) {
    return;
  }
  var origin = new URL(script.src).origin;
  var data = script.dataset;
  var path = "/" + encodeURIComponent(data.tenant) + "/book" +
    (data.service ? "/" + encodeURIComponent(data.service) : "");
  var url = origin + path + (data.lang ? "?lang=" + encodeURIComponent(data.lang) : "");
  var german = (data.lang || document.documentElement.lang || "de").slice(0, 2) !== "en";
  var title = german ? "Termin buchen" : "Book an appointment";

  function frame() {
    var iframe = document.createElement("iframe");
    iframe.src = url;
    iframe.title = title;
    iframe.style.width = "100%";
    iframe.style.minHeight = "320px";
    iframe.style.border = "0";
    iframe.style.display = "block";
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || event.source !== iframe.contentWindow) {
        return;
      }
      var message = event.data || {};
      if (message.type === "workorders:height" && typeof message.height === "number") {
        iframe.style.height = Math.max(200, Math.min(message.height, 20000)) + "px";
      }
    });
    return iframe;
  }

  if (data.mode !== "button") {
    script.parentNode.insertBefore(frame(), script.nextSibling);
    return;
  }

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = data.label || title;
  button.className = "workorders-book";
  script.parentNode.insertBefore(button, script.nextSibling);
  var dialog = null;
  function close() {
    if (dialog) {
      dialog.remove();
      dialog = null;
      button.focus();
    }
  }
  button.addEventListener("click", function () {
    if (dialog) {
      return;
    }
    dialog = document.createElement("div");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.setAttribute("aria-label", title);
    dialog.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.5);" +
      "display:flex;align-items:flex-start;justify-content:center;overflow:auto;padding:1rem";
    var box = document.createElement("div");
    box.style.cssText = "background:#fff;width:100%;max-width:44rem;border-radius:.5rem;position:relative";
    var shut = document.createElement("button");
    shut.type = "button";
    shut.textContent = german ? "Schließen" : "Close";
    shut.style.cssText = "display:block;margin:.5rem .5rem 0 auto;min-height:44px;padding:.5rem 1rem";
    shut.addEventListener("click", close);
    box.appendChild(shut);
    box.appendChild(frame());
    dialog.appendChild(box);
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) {
        close();
      }
    });
    document.addEventListener("keydown", function onKey(event) {
      if (event.key === "Escape") {
        document.removeEventListener("keydown", onKey);
        close();
      }
    });
    document.body.appendChild(dialog);
    shut.focus();
  });
})();
