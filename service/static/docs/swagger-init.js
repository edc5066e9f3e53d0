// Starts Swagger UI on /docs. A served file, not an inline script, so the page's
// Content-Security-Policy can forbid inline scripts (script-src 'self').
"use strict";
(function () {
  var container = document.getElementById("swagger-container");
  window.ui = SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    dom_id: "#swagger-container",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, // the default posts the document to a public validator: none on an intranet
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
