// A form that came back with errors: move focus to its error summary, so a
// screen reader reads the problems first (focus would stay on the page body);
// a link in the summary focuses its field, not only scrolls to it.
// A file, not inline: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var summary = document.querySelector(".error-summary[tabindex]");
  if (!summary) { return; }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    field.focus();
    field.scrollIntoView({block: "center"});
  });
}());
