// The console's only script of its own. It sends the session's CSRF token (from the page's
// <meta name="csrf-token">) with every htmx request, as the X-CSRF-Token header the server
// checks on writes; plain forms carry it as a hidden field. No inline script anywhere (CSP).
"use strict";
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) {
    event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  }
});
