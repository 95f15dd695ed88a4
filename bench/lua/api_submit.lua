-- wrk script: POST /api/v1/applications/ with a Bearer token and a JSON body (bench/load_submit.py --api).
-- Each request carries a reference unique to this run, thread and request, so stored rows can be counted,
-- and an amount (in cents) unique to them too: the same inputs from the same user within
-- applications.services.DUPLICATE_WINDOW are refused as a possible duplicate (409), which is not what
-- this measures. BENCH_RUN: this wrk run's number within the bench.
local token = os.getenv("BENCH_API_TOKEN")
local run = tonumber(os.getenv("BENCH_RUN") or "0") or 0
local prefix = os.getenv("BENCH_PREFIX")
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  counter = counter + 1
  local body = string.format(
    '{"person_age": 31, "person_income": 52000, "person_home_ownership": "RENT", "person_emp_length": 6.5, '
      .. '"loan_intent": "EDUCATION", "loan_grade": "B", "loan_amnt": %.2f, "loan_int_rate": 11.25, '
      .. '"cb_person_default_on_file": "N", "cb_person_cred_hist_length": 7, "applicant_reference": "%s-%d-%d"}',
    1000 + (((tid or 0) * 1000000 + run * 100000 + counter) % 3000000) / 100, prefix, tid or 0, counter)
  return wrk.format("POST", "/api/v1/applications/", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["X-Forwarded-Proto"] = "https",
  }, body)
end
