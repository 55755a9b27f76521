-- wrk's script for the write loads (bench/lib/wrk.ts). Arguments after "--":
--   kind ("refresh-chain" | "bodies"), data file, method, path, expect ("" for none), thread count
-- refresh-chain: the data file holds live refresh tokens, one per line; each
--   thread takes its share and rotates it as a queue (the successor of each
--   answer goes to the back), as the autocannon worker does.
-- bodies: the data file holds request bodies, one per line, sent in turn.
-- done() prints one line "WRK-RESULT <json>" with what wrk's summary lacks.

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  kind, method, path, expect, nthreads = args[1], args[3], args[4], args[5], tonumber(args[6])
  bad = 0
  q, qh, qt = {}, 1, 0
  local i = 0
  for line in io.lines(args[2]) do
    if i % nthreads == tid then qt = qt + 1; q[qt] = line end
    i = i + 1
  end
  next_body = 1
end

function request()
  if kind == "refresh-chain" then
    local token = q[qh]
    if token == nil then token = "chain-broken" else q[qh] = nil; qh = qh + 1 end
    return wrk.format(method, path, nil, '{"refresh_token":"' .. token .. '"}')
  end
  local body = q[next_body]
  next_body = next_body % qt + 1
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    if expect ~= "" and not string.find(body, expect, 1, true) then bad = bad + 1 end
    if kind == "refresh-chain" then
      local successor = string.match(body, '"refresh_token":"([^"]+)"')
      if successor then qt = qt + 1; q[qt] = successor end
    end
  end
end

function done(summary, latency, requests)
  local total_bad, remaining = 0, {}
  for _, thread in ipairs(threads) do
    total_bad = total_bad + thread:get("bad")
    if thread:get("kind") == "refresh-chain" then
      local tq, h, t = thread:get("q"), thread:get("qh"), thread:get("qt")
      for i = h, t do
        if tq[i] then table.insert(remaining, '"' .. tq[i] .. '"') end
      end
    end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests":%d,"durationUs":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"bad":%d,' ..
    '"p50":%.3f,"p90":%.3f,"p99":%.3f,"remaining":[%s]}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout, total_bad,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    table.concat(remaining, ",")))
end
