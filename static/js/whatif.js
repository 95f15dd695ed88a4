// What-if: while an officer changes the amount or the rate (or any input on
// the new-application form), ask the server what the model would say.
// The answer comes from the same engine as a submission (applications.views.
// application_what_if); nothing is stored. Requests wait for a pause in typing
// and only the latest answer is shown.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-whatif-url]");
  Array.prototype.forEach.call(forms, function (form) {
    var box = document.getElementById(form.getAttribute("data-whatif-result"));
    if (!box) { return; }
    var outProbability = box.querySelector("[data-whatif=probability]");
    var outDecision = box.querySelector("[data-whatif=decision]");
    var outNote = box.querySelector("[data-whatif=note]");
    var timer = null;
    var sequence = 0;

    function show(probability, decision, note) {
      outProbability.textContent = probability;
      outDecision.textContent = decision;
      outDecision.className = "decision-badge" + (decision.length > 1 ? " decision-" + decision.toLowerCase() : "");
      outNote.textContent = note;
    }

    function complete() {
      var required = form.querySelectorAll("[required]");
      for (var i = 0; i < required.length; i += 1) {
        if (String(required[i].value).trim() === "") { return false; }
      }
      return true;
    }

    function ask() {
      if (!complete()) { show("—", "—", "Fill in every field to see what the model would say."); return; }
      sequence += 1;
      var mine = sequence;
      fetch(form.getAttribute("data-whatif-url"), {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      }).then(function (response) {
        return response.json().catch(function () { return { ok: false, message: "No answer from the server." }; });
      }).then(function (answer) {
        if (mine !== sequence) { return; }
        if (answer.ok) {
          var note = answer.outside_experience.length ? answer.outside_experience.join(" ") : "Not stored: submit to record a decision.";
          show(answer.probability_text, answer.decision, note);
        } else {
          var detail = answer.message || "Not available.";
          if (answer.errors) {
            detail = Object.keys(answer.errors).map(function (k) { return answer.errors[k].join(" "); }).join(" ");
          }
          show("—", "—", detail);
        }
      }).catch(function () {
        if (mine === sequence) { show("—", "—", "No answer from the server."); }
      });
    }

    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 400);
    });
    form.addEventListener("change", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 100);
    });
    if (form.hasAttribute("data-whatif-now")) { ask(); }
  });
}());
