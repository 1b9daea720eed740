-- POST /v1/clicks with DATA.batch events per request. click_ids are unique across runs, threads and
-- requests: "<run id>-<thread>-<counter>". Acked events are read from each 200 answer's "accepted"
-- (minus "duplicates" when the design reports them), so node can wait until the metrics show them all.
local seq = 0
local nreq = 0
local headers_by_region = {}

function init(args)
  for k, region in ipairs(DATA.regions) do
    local h = { ["Content-Type"] = "application/json", ["X-Region"] = region }
    if DATA.token then h["Authorization"] = "Bearer " .. DATA.token end
    headers_by_region[k] = h
  end
end

function request()
  nreq = nreq + 1
  local ts = os.time() * 1000
  local parts = {}
  local prefix = DATA.run_id .. "-" .. tid .. "-"
  for j = 1, DATA.batch do
    seq = seq + 1
    parts[j] = '{"click_id":"' .. prefix .. seq .. '","campaign_id":"' .. DATA.campaign ..
      '","ad_id":"ad-' .. (seq % DATA.ads) .. '","ts":' .. ts .. '}'
  end
  events_sent = events_sent + DATA.batch
  local h = headers_by_region[(nreq + tid) % #headers_by_region + 1]
  return wrk.format("POST", DATA.path, h, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  tally_ingest(status, body)
end
