// The assessment composer's pickers (no inline script: CSP). A button carrying data-add-code adds that
// code, on a line of its own, to a textarea: the one named by data-target, or the one chosen in the
// select named by data-target-from (the item finder's "add to"). The change event it sends lets the
// audience count (htmx) follow.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-add-code]");
  if (!button) {
    return;
  }
  event.preventDefault();
  var targetId = button.getAttribute("data-target");
  var from = button.getAttribute("data-target-from");
  if (from) {
    var select = document.getElementById(from);
    targetId = select ? select.value : null;
  }
  var field = targetId ? document.getElementById(targetId) : null;
  if (!field) {
    return;
  }
  var code = button.getAttribute("data-add-code");
  var present = field.value.split(/[\s,，;；]+/).filter(function (c) { return c; });
  if (present.indexOf(code) === -1) {
    present.push(code);
    field.value = present.join("\n");
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }
  button.setAttribute("aria-pressed", "true");
});
// Enter in the item finder's fields searches (htmx) instead of submitting the composer.
document.addEventListener("keydown", function (event) {
  if (event.key !== "Enter" || !event.target.closest("#item-finder input")) {
    return;
  }
  event.preventDefault();
  var search = document.querySelector('[data-testid="find-items"]');
  if (search) {
    search.click();
  }
});
