// The org tree: a unit's "+" button loads its children once (htmx, hx-trigger="click once"); after that
// the same button shows and hides them. aria-expanded tells assistive technology which state it is in.
// Delegated from the document, so buttons that arrive with loaded children work too.
"use strict";
document.addEventListener("htmx:afterSwap", function (event) {
  var list = event.detail.target;
  var button = list && list.previousElementSibling;
  while (button && !button.matches("button.open")) {
    button = button.previousElementSibling;
  }
  if (button) {
    button.setAttribute("aria-expanded", "true");
    button.textContent = "−";
    button.dataset.loaded = "true";
  }
});
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("ul.tree button.open");
  if (!button || button.dataset.loaded !== "true") {
    return;
  }
  var list = button.parentElement.querySelector(":scope > ul.kids");
  var open = button.getAttribute("aria-expanded") === "true";
  list.hidden = open;
  button.setAttribute("aria-expanded", open ? "false" : "true");
  button.textContent = open ? "+" : "−";
});
