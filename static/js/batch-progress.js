// The batch page's live progress bar: polls the job's progress.json every
// second until the job is finished, and updates the bar and the counts.
// A file, not inline: the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var section = document.getElementById("batch");
  if (!section || section.getAttribute("data-finished") === "true") { return; }
  var url = section.getAttribute("data-progress-url");
  var bar = document.getElementById("batch-bar");
  var numbers = new Intl.NumberFormat();
  function text(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }
  function show(progress) {
    if (bar) { bar.max = Math.max(progress.total_rows, 1); bar.value = progress.rows_done; bar.textContent = progress.percent + "%"; }
    text("batch-status", progress.status_label);
    text("batch-done", numbers.format(progress.rows_done));
    text("batch-total", numbers.format(progress.total_rows));
    text("batch-stored", numbers.format(progress.rows_stored));
    text("batch-rejected", numbers.format(progress.rows_rejected));
    text("batch-rate", progress.rows_per_second ? ", " + numbers.format(Math.round(progress.rows_per_second)) + " rows/s" : "");
    text("batch-left", progress.seconds_left !== null ? ", about " + numbers.format(progress.seconds_left) + " s left" : "");
    if (progress.finished) {
      var cancel = document.getElementById("batch-cancel");
      if (cancel) { cancel.hidden = true; }
    }
  }
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (progress) {
        document.getElementById("batch-connection").hidden = true;
        show(progress);
        if (!progress.finished) { window.setTimeout(poll, 1000); }
      })
      .catch(function () {
        document.getElementById("batch-connection").hidden = false;
        window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 1000);
}());
