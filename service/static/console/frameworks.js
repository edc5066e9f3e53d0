// The framework editor's script: drag-and-drop reordering, which posts the same `move` a keyboard
// user's "move up/down" buttons post (those work without this script), and keeping each field's
// aria-invalid and the <details> around it in step with the error slots the server's check swaps in.
// No validation here: every message comes from the server.
"use strict";
(function () {
  var dragged = null;

  function node(el) {
    return el && el.closest ? el.closest("[data-pointer]") : null;
  }

  function sibling(el) {
    // The list item among the dragged one's siblings that `el` is in (or null).
    var found = node(el);
    while (found && dragged && found.parentElement !== dragged.parentElement) {
      found = node(found.parentElement);
    }
    return found;
  }

  document.addEventListener("dragstart", function (event) {
    var handle = event.target.closest ? event.target.closest(".handle") : null;
    if (!handle) {
      return;
    }
    dragged = node(handle);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.getAttribute("data-pointer"));
  });

  document.addEventListener("dragover", function (event) {
    var over = dragged ? sibling(event.target) : null;
    if (over && over !== dragged) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
    }
  });

  document.addEventListener("dragenter", function (event) {
    var over = dragged ? sibling(event.target) : null;
    document.querySelectorAll(".drag-over").forEach(function (el) { el.classList.remove("drag-over"); });
    if (over && over !== dragged) {
      over.classList.add("drag-over");
    }
  });

  document.addEventListener("drop", function (event) {
    var over = dragged ? sibling(event.target) : null;
    document.querySelectorAll(".drag-over").forEach(function (el) { el.classList.remove("drag-over"); });
    if (!over || over === dragged) {
      dragged = null;
      return;
    }
    event.preventDefault();
    var form = dragged.closest("form");
    var action = document.createElement("input");
    action.type = "hidden";
    action.name = "action";
    action.className = "drag-action";
    action.value = "move " + dragged.getAttribute("data-pointer") + " " + over.getAttribute("data-pointer");
    form.appendChild(action);
    dragged = null;
    form.requestSubmit();
  });

  document.addEventListener("dragend", function () {
    dragged = null;
  });

  document.addEventListener("htmx:afterRequest", function () {
    document.querySelectorAll("input.drag-action").forEach(function (el) { el.remove(); });
  });

  // After a check's messages are swapped in: mark the fields they describe, open what hides them.
  function mark() {
    document.querySelectorAll("#editor [aria-describedby]").forEach(function (field) {
      var slot = document.getElementById(field.getAttribute("aria-describedby"));
      if (!slot) {
        return;
      }
      if (slot.textContent.trim()) {
        field.setAttribute("aria-invalid", "true");
        var details = field.closest("details");
        if (details) {
          details.open = true;
        }
      } else if (field.hasAttribute("aria-invalid")) {
        field.removeAttribute("aria-invalid");
      }
    });
  }
  // Once per answer (not per swapped slot: a check swaps hundreds of them).
  document.addEventListener("htmx:afterSettle", mark);
})();
