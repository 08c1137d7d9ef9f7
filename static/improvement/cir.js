// CIR: progressive enhancement only. Every page works without this file (and without htmx).
document.documentElement.classList.add("js");

// On a phone, fold the register's filters away unless some are set (they start open, so
// they are there without JavaScript).
document.addEventListener("DOMContentLoaded", function () {
  if (window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details[data-collapse-narrow]").forEach(function (d) {
      if (!d.querySelector("summary .count")) d.removeAttribute("open");
    });
  }
});

// After an in-place update, move keyboard focus to the first field in error (if any), so that
// a keyboard or screen-reader user lands on what needs fixing.
document.addEventListener("htmx:afterSwap", function (event) {
  var invalid = event.detail.target && event.detail.target.querySelector
    ? event.detail.target.querySelector('[aria-invalid="true"]')
    : null;
  var target = invalid || document.getElementById(event.detail.target && event.detail.target.id);
  if (invalid) {
    invalid.focus();
  } else if (target && !target.contains(document.activeElement)) {
    var status = target.querySelector('[role="status"], [role="alert"]');
    if (status) {
      status.setAttribute("tabindex", "-1");
      status.focus({ preventScroll: false });
    }
  }
});

// htmx does not swap 403/5xx answers or network failures: say so at the top of the page.
function cirShowError(text) {
  var main = document.getElementById("main");
  if (!main) return;
  var p = document.createElement("p");
  p.className = "message message--error";
  p.setAttribute("role", "alert");
  p.textContent = text;
  main.insertBefore(p, main.firstChild);
  window.scrollTo({ top: 0 });
}
// A 403 page names the role or RACI position needed: show its words.
function cirForbiddenReason(xhr) {
  try {
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var reason = doc.getElementById("forbidden-reason");
    return reason ? reason.textContent.trim() : "";
  } catch (e) {
    return "";
  }
}
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  var status = xhr ? xhr.status : 0;
  if (status === 403) {
    var reason = cirForbiddenReason(xhr);
    cirShowError("You are not allowed to do that. " + (reason || "Reload the page to see what you can do."));
  } else {
    cirShowError("Something went wrong (" + status + "). Reload the page and try again.");
  }
});
document.addEventListener("htmx:sendError", function () {
  cirShowError("The server could not be reached. Check your connection and try again.");
});
