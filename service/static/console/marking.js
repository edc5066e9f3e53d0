// Marking: a digit key chooses that level of the response being rated (not while typing a comment).
// Enter then saves (the form's own submit); the form posts through htmx and the next response is
// swapped in, so the handler is delegated from the document and survives the swaps.
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || !/^[0-9]$/.test(event.key)) {
    return;
  }
  var target = event.target;
  if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "radio"))) {
    return;
  }
  var radio = document.querySelector('#marking-task form.rate input[name="value"][value="' + event.key + '"]');
  if (radio) {
    radio.checked = true;
    radio.focus();
    event.preventDefault();
  }
});
