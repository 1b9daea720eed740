-- The realistic click workload (SPEC "Additions": the click bench default; issue 10 §7).
--
-- POST /v1/clicks with DATA.batch events per request over DATA.pairs (campaign, ad) pairs × the
-- regions (one per request, by header, rotated), event times spread over the last hour (most recent,
-- a long tail up to 60 minutes late), and about DATA.dup_rate of the events re-sent click_ids: some
-- within the same request, some from earlier requests of this run, some from an earlier run (the
-- preload, minutes old; DATA.old lists such runs). A fresh event's fields are a pure function of (thread, seq) and the run's
-- base time, so an earlier run's events can be re-sent exactly.
--
-- Clean stop: at DATA.duration_ms after its first request (or after DATA.max_events fresh events) a
-- thread sends nothing more (request() returns an empty request, which leaves the connection idle),
-- waits for every answer, prints "BENCH_THREAD_DONE" and stops; node then ends wrk. So every request
-- sent was answered, and the ground truth below is exact: per cell (minute, pair, region) the fresh
-- events of requests answered 200 — what the metrics must show, no more, no less.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
end

local M = 2147483647 -- Park–Miller: exact in doubles
local function pm(x) return (x * 48271) % M end

-- Fields of fresh event `seq` of thread `t` of a run with base time `base`: pair index, event time.
local function fields(t, seq, base)
  local r1 = pm(pm(seq * 131 + t * 7919 + 17))
  local r2 = pm(r1)
  local pair = r1 % DATA.pairs
  local u = r2 / M
  local age
  if u < 0.7 then age = u / 0.7 * 60000 -- 70 %: the last minute
  elseif u < 0.9 then age = 60000 + (u - 0.7) / 0.2 * 540000 -- 20 %: 1–10 minutes late
  else age = 600000 + (u - 0.9) / 0.1 * 2940000 end -- 10 %: 10–59 minutes late
  return pair, base - math.floor(age)
end

local function event_json(prefix, t, seq, base, campaigns)
  local pair, ts = fields(t, seq, base)
  return '{"click_id":"' .. prefix .. "-" .. t .. "-" .. seq .. '","campaign_id":"' .. campaigns[math.floor(pair / DATA.ads) + 1] ..
    '","ad_id":"ad-' .. (pair % DATA.ads) .. '","ts":' .. ts .. "}", pair, ts
end

local seq = 0
nreq = 0
local headers_by_region = {}
-- Recent fresh events of this thread, per region (for re-sends across requests). A re-send goes out
-- under the region of its first copy: with several connections the copy may reach the pipeline first,
-- and an anonymous beacon's region is its request's, so only then is the counted cell certain.
local rings = {}
local ring_n = {}
local RING = 10000
local started = nil
local stopping = false
outstanding = 0
fresh = 0
resent = 0
resent_in_batch = 0
resent_recent = 0
resent_old = 0
cells = {}
responses = 0
max_seq = 0
window_ms = 0

function init(args)
  local ctype = DATA.beacon and "text/plain;charset=UTF-8" or "application/json"
  for k, region in ipairs(DATA.regions) do
    local h = { ["Content-Type"] = ctype, ["X-Region"] = region }
    if DATA.token and not DATA.beacon then h["Authorization"] = "Bearer " .. DATA.token end
    headers_by_region[k] = h
  end
  for k = 1, #DATA.regions do rings[k], ring_n[k] = {}, 0 end
  math.randomseed((tid or 1) * 1000003 + (DATA.seed or 0))
end

local function finish()
  io.write("BENCH_THREAD_DONE ", tid, "\n")
  io.stdout:flush()
  wrk.thread:stop()
end

-- wrk calls request() once on the first thread's state before the load to check the request (and
-- sends nothing of it): answer that call without generating events, or they would be counted as sent.
local verified = false

function request()
  if not verified then
    verified = true
    if tid == 1 then return wrk.format("GET", "/noop") end
  end
  local now = now_ms()
  if started == nil then started = now end
  if stopping or now - started >= DATA.duration_ms or (DATA.max_events and fresh >= DATA.max_events) then
    if not stopping then
      stopping = true
      window_ms = now - started
      if outstanding == 0 then finish() end
    end
    return ""
  end
  nreq = nreq + 1
  local ri = (nreq + tid) % #headers_by_region + 1
  local parts = {}
  local prefix = DATA.run_id
  for j = 1, DATA.batch do
    local r = math.random()
    local s = nil
    if r < DATA.dup_rate then
      local kind = math.random()
      if kind < 0.3 and j > 1 then
        s = parts[math.random(1, j - 1)]
        resent_in_batch = resent_in_batch + 1
      elseif kind < 0.8 and ring_n[ri] > 0 then
        s = rings[ri][math.random(0, math.min(ring_n[ri], RING) - 1)]
        resent_recent = resent_recent + 1
      elseif DATA.old and #DATA.old > 0 then
        local o = DATA.old[math.random(1, #DATA.old)]
        s = event_json(o.prefix, math.random(1, o.threads), math.random(1, o.max_seq), o.base_ms, o.campaigns)
        resent_old = resent_old + 1
      end
      if s then resent = resent + 1 end
    end
    if s == nil then
      seq = seq + 1
      local pair, ts
      s, pair, ts = event_json(prefix, tid, seq, DATA.base_ms, DATA.campaigns)
      fresh = fresh + 1
      rings[ri][ring_n[ri] % RING] = s
      ring_n[ri] = ring_n[ri] + 1
      local key = math.floor(ts / 60000) .. "|" .. pair .. "|" .. ri
      cells[key] = (cells[key] or 0) + 1
    end
    parts[j] = s
  end
  max_seq = seq
  events_sent = events_sent + DATA.batch
  outstanding = outstanding + 1
  return wrk.format("POST", DATA.path, headers_by_region[ri], '{"events":[' .. table.concat(parts, ",") .. "]}")
end

function response(status, headers, body)
  tally_ingest(status, body)
  outstanding = outstanding - 1
  responses = responses + 1
  if stopping and outstanding == 0 then finish() end
end

-- Extra per-thread figures for done() in common.lua (merged there: numbers summed, cells merged).
EXTRA = { "outstanding", "nreq", "fresh", "resent", "resent_in_batch", "resent_recent", "resent_old", "responses", "window_ms", "max_seq" }
