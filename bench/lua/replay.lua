-- Cycles through prebuilt requests (DATA.requests: {method, path, headers, body?}); each thread
-- starts at a different offset. Tallies statuses; for a 2xx, DATA.events_per_request events count as acked.
local reqs, n, i

function init(args)
  reqs = {}
  for k, r in ipairs(DATA.requests) do reqs[k] = wrk.format(r.method, r.path, r.headers, r.body) end
  n = #reqs
  i = ((tid or 1) * 7919) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

function response(status, headers, body)
  tally(status, body)
  if status >= 200 and status < 300 then acked = acked + (DATA.events_per_request or 0) end
end
