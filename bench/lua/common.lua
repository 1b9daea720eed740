-- Shared by every bench scenario (node prepends `local DATA = {...}` and appends the scenario).
-- Each wrk thread has its own Lua state; setup() and done() run in the main state and reach the
-- threads' tallies through thread:get().
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- Per-thread tallies (globals, so thread:get can read them).
statuses = {}
acked = 0
duplicates = 0
events_sent = 0
requests_with_rejects = 0

error_codes = {}

-- Counts a status; for an error status also the JSON error code ({"error":{"code":...}}).
function tally(status, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
  if status >= 400 then
    local code = body and string.match(body, '"code"%s*:%s*"([%w_]+)"') or "?"
    local ck = k .. ":" .. code
    error_codes[ck] = (error_codes[ck] or 0) + 1
  end
end

-- Counts one click ingest answer: acknowledged and duplicate events, requests with rejected events.
function tally_ingest(status, body)
  tally(status, body)
  if status == 200 then
    acked = acked + (tonumber(string.match(body, '"accepted"%s*:%s*(%d+)')) or 0)
    duplicates = duplicates + (tonumber(string.match(body, '"duplicates"%s*:%s*(%d+)')) or 0)
    if not string.find(body, '"rejected"%s*:%s*%[%s*%]') then requests_with_rejects = requests_with_rejects + 1 end
  end
end

local function json(v)
  local t = type(v)
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = string.format("%q:%s", tostring(k), json(x)) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "number" then
    return string.format("%.17g", v)
  elseif v == nil then
    return "null"
  end
  return tostring(v)
end

function done(summary, latency, requests)
  local agg = { statuses = {}, error_codes = {}, acked = 0, duplicates = 0, events_sent = 0, requests_with_rejects = 0 }
  for _, t in ipairs(threads) do
    for k, n in pairs(t:get("statuses") or {}) do agg.statuses[k] = (agg.statuses[k] or 0) + n end
    for k, n in pairs(t:get("error_codes") or {}) do agg.error_codes[k] = (agg.error_codes[k] or 0) + n end
    agg.acked = agg.acked + (t:get("acked") or 0)
    agg.duplicates = agg.duplicates + (t:get("duplicates") or 0)
    agg.events_sent = agg.events_sent + (t:get("events_sent") or 0)
    agg.requests_with_rejects = agg.requests_with_rejects + (t:get("requests_with_rejects") or 0)
  end
  -- Scenarios may name extra per-thread globals (EXTRA) and keep a ground-truth table (cells).
  if EXTRA then
    agg.extra, agg.per_thread, agg.cells = {}, {}, {}
    for _, t in ipairs(threads) do
      local pt = {}
      for _, k in ipairs(EXTRA) do
        local v = t:get(k) or 0
        pt[k] = v
        agg.extra[k] = (agg.extra[k] or 0) + v
      end
      agg.per_thread[#agg.per_thread + 1] = pt
      for k, n in pairs(t:get("cells") or {}) do agg.cells[k] = (agg.cells[k] or 0) + n end
    end
  end
  local pct = {}
  for _, p in ipairs({ 50, 75, 90, 99, 99.9 }) do pct[tostring(p)] = latency:percentile(p) end
  local out = {
    duration_us = summary.duration,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = summary.errors,
    latency_us = { min = latency.min, max = latency.max, mean = latency.mean, stdev = latency.stdev, percentiles = pct },
    tallies = agg,
  }
  io.write("BENCH_JSON ", json(out), "\n")
end
