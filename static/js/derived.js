// Shows loan_percent_income and interest_burden while the officer types.
// Display only: the stored values are computed on the server by
// scoring.features.derived_values (same formulas, in the same order).
(function () {
  "use strict";
  var form = document.getElementById("application-form");
  if (!form) { return; }
  function number(name) {
    var input = form.elements[name];
    if (!input || input.value.trim() === "") { return NaN; }
    var value = Number(input.value.trim());
    return Number.isFinite(value) ? value : NaN;
  }
  function show(id, value) {
    var out = document.getElementById(id);
    if (out) { out.textContent = Number.isFinite(value) ? (value * 100).toFixed(2) + "%" : "—"; }
  }
  function update() {
    var income = number("person_income");
    var amount = number("loan_amnt");
    var rate = number("loan_int_rate");
    var ok = income > 0 && amount > 0;
    show("loan_percent_income", ok ? amount / income : NaN);
    show("interest_burden", ok && rate > 0 ? amount * (rate / 100) / income : NaN);
  }
  form.addEventListener("input", update);
  update();
}());
