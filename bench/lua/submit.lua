-- wrk script: logged-in officers POST loan applications to /applications/new/.
--
-- Configured through the environment (set by bench/load_common.py):
--   BENCH_SESSIONS   file, one line per logged-in officer: "<Cookie header>\t<csrfmiddlewaretoken>"
--   BENCH_PREFIX     unique prefix of this run's applicant_reference and idempotency tokens
--   BENCH_RUN        this wrk run's number within the bench (0, 1, ...): keeps inputs distinct across runs
--   BENCH_IDS_OUT    file to write the acknowledged application ids to (one per line)
--   BENCH_DUP_EVERY  N > 0: every Nth request re-sends the previous form (same token), as a retried POST
--   BENCH_TOKENS     "1": each form carries its own idempotency token (as the page renders one)
--   BENCH_NO_TOKEN_EVERY  N > 0: every Nth form carries no token (as from a script; never retried)
--   BENCH_RETRIED_OUT     file to write the tokens of the retried forms to (one per line)
--   BENCH_ORIGIN     https://127.0.0.1:<port>, sent as Origin and Referer (with X-Forwarded-Proto: https,
--                    as from the TLS-terminating load balancer)
-- Each request has a unique applicant_reference. A success is a 302/303 to
-- /applications/<id>/; response() counts statuses and keeps the ids, done()
-- prints one JSON line starting with "BENCH_JSON ".

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local sessions = {}
local prefix, origin, dup_every, use_tokens, no_token_every, run
counter, sent, dup_sent, bad_location = 0, 0, 0, 0  -- globals: done() reads them with thread:get()
statuses = {}
ids = {}
retried = {}
local last = nil
local amounts = { "3000", "7500", "12000", "18000", "24000", "35000" }
local rates = { "6.5", "9.75", "11.25", "14.1", "17.9", "21.3" }

function init(args)
  prefix = os.getenv("BENCH_PREFIX") or "bench"
  run = tonumber(os.getenv("BENCH_RUN") or "0") or 0
  origin = os.getenv("BENCH_ORIGIN") or ""
  dup_every = tonumber(os.getenv("BENCH_DUP_EVERY") or "0") or 0
  use_tokens = os.getenv("BENCH_TOKENS") ~= "0"
  no_token_every = tonumber(os.getenv("BENCH_NO_TOKEN_EVERY") or "0") or 0
  for line in io.lines(os.getenv("BENCH_SESSIONS")) do
    local cookie, csrf = line:match("^(.-)\t(.-)$")
    if cookie then sessions[#sessions + 1] = { cookie = cookie, csrf = csrf } end
  end
  if #sessions == 0 then error("no sessions in BENCH_SESSIONS") end
end

local function form_for(n, session)
  local ref = prefix .. "-" .. tid .. "-" .. n
  local parts = {
    "csrfmiddlewaretoken=" .. session.csrf,
    "person_age=" .. tostring(22 + n % 40),
    "person_income=" .. tostring(30000 + (n % 50) * 1500),
    "person_home_ownership=RENT",
    "person_emp_length=3.5",
    "loan_intent=EDUCATION",
    "loan_grade=" .. string.char(65 + n % 5),
    -- Cents from (thread, run, request): no two requests within the duplicate window
    -- (applications.services.DUPLICATE_WINDOW) have the same inputs, across the runs
    -- of one bench too (BENCH_RUN: the warm-up and each round count from n = 1 again).
    "loan_amnt=" .. string.format(
      "%.2f", tonumber(amounts[n % #amounts + 1]) + ((tid * 300000 + run * 20000 + n) % 1000000) / 100
    ),
    "loan_int_rate=" .. rates[n % #rates + 1],
    "cb_person_default_on_file=N",
    "cb_person_cred_hist_length=4",
    "applicant_reference=" .. ref,
  }
  local token = nil
  if use_tokens and not (no_token_every > 0 and n % no_token_every == 0) then
    token = prefix .. "t" .. tid .. "n" .. n
    parts[#parts + 1] = "idempotency_key=" .. token
  end
  return table.concat(parts, "&"), token
end

function request()
  counter = counter + 1
  local session, body
  if dup_every > 0 and last ~= nil and counter % dup_every == 0 then
    -- A retried POST: the very same form (same token, same reference) again.
    session, body = last.session, last.body
    dup_sent = dup_sent + 1
    retried[#retried + 1] = last.token
    last = nil
  else
    local token
    session = sessions[(counter * 7 + tid) % #sessions + 1]
    body, token = form_for(counter, session)
    -- Only a form with a token is retried: without one, a retry is a second application.
    if token then last = { session = session, body = body, token = token } else last = nil end
  end
  sent = sent + 1
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = session.cookie,
    ["Origin"] = origin,
    ["Referer"] = origin .. "/applications/new/",
    ["X-Forwarded-Proto"] = "https",
  }
  return wrk.format("POST", "/applications/new/", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 302 or status == 303 then
    local location = headers["Location"] or headers["location"] or ""
    local id = location:match("/applications/(%d+)/$")
    if id then ids[#ids + 1] = id else bad_location = bad_location + 1 end
  end
end

local function json_number(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  return string.format("%.6f", x)
end

function done(summary, latency, requests)
  local all_statuses, total_sent, total_dups, total_bad, acked = {}, 0, 0, 0, 0
  local out = io.open(os.getenv("BENCH_IDS_OUT"), "w")
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      all_statuses[status] = (all_statuses[status] or 0) + n
    end
    for _, id in ipairs(thread:get("ids")) do
      out:write(id, "\n")
      acked = acked + 1
    end
    total_sent = total_sent + thread:get("sent")
    total_dups = total_dups + thread:get("dup_sent")
    total_bad = total_bad + thread:get("bad_location")
  end
  out:close()
  local retried_path = os.getenv("BENCH_RETRIED_OUT")
  if retried_path and retried_path ~= "" then
    local rout = io.open(retried_path, "w")
    for _, thread in ipairs(threads) do
      for _, token in ipairs(thread:get("retried")) do rout:write(token, "\n") end
    end
    rout:close()
  end
  local parts = {}
  for status, n in pairs(all_statuses) do parts[#parts + 1] = string.format('"%d": %d', status, n) end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  print(string.format(
    'BENCH_JSON {"seconds": %s, "responses": %d, "sent": %d, "retries_sent": %d, "acked": %d, "bad_location": %d, '
      .. '"acked_per_s": %s, "responses_per_s": %s, "p50_ms": %s, "p90_ms": %s, "p99_ms": %s, "max_ms": %s, "mean_ms": %s, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}',
    json_number(seconds), summary.requests, total_sent, total_dups, acked, total_bad,
    json_number(acked / seconds), json_number(summary.requests / seconds),
    json_number(latency:percentile(50) / 1000), json_number(latency:percentile(90) / 1000),
    json_number(latency:percentile(99) / 1000), json_number(latency.max / 1000), json_number(latency.mean / 1000),
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
