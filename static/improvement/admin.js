// What CIR adds to every admin page (a file, not an inline <script>: CSP).
// The filter boxes of Django's two-list picker (filter_horizontal) name their search
// icon with aria-label on a plain span; as an image the name is allowed and read out.
// This runs after the pickers are built: their script listens for "load" earlier on.
window.addEventListener("load", function () {
  document.querySelectorAll(".selector .search-label-icon[aria-label]").forEach(function (icon) {
    icon.setAttribute("role", "img");
  });
});
