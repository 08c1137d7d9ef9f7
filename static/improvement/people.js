// CIR people pickers: the box above a list of people filters it as one types (name,
// username or email). Progressive enhancement: without this file the whole list shows.
(function () {
  if (window.cirPeople) return; // the pickers' template includes this file once per list
  window.cirPeople = true;

  function reveal(root) {
    (root || document).querySelectorAll("[data-people-filter][hidden]").forEach(function (box) {
      box.hidden = false;
    });
  }

  function filter(box) {
    var picker = box.closest("[data-people]");
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var items = picker.querySelectorAll("li[data-search]");
    var shown = 0;
    items.forEach(function (item) {
      var text = item.getAttribute("data-search");
      var ticked = item.querySelector("input:checked");
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      // a ticked person stays in sight: the list shows who holds the role
      item.hidden = !(match || ticked);
      if (match) shown += 1;
    });
    picker.querySelector("[data-people-none]").hidden = shown > 0;
    picker.querySelector("[data-people-count]").textContent = words.length
      ? shown + " of " + items.length + " people match"
      : "";
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-people-filter]")) filter(event.target);
  });
  // Enter in the filter box does not send the form: it moves to the first match
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || !box.matches || !box.matches("[data-people-filter]")) return;
    event.preventDefault();
    var first = box.closest("[data-people]").querySelector("li[data-search]:not([hidden]) input");
    if (first) first.focus();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { reveal(); });
  } else {
    reveal();
  }
  document.addEventListener("htmx:load", function (event) { reveal(event.detail.elt); });
})();
