-- wrk script for bench/overload.py: GETs of the URL, counting answers by status (200, 503, other);
-- one JSON line of figures at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, shed, other = 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 503 then shed = shed + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local counts = {ok = 0, shed = 0, other = 0}
  for _, thread in ipairs(threads) do
    counts.ok = counts.ok + thread:get("ok")
    counts.shed = counts.shed + thread:get("shed")
    counts.other = counts.other + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"status_200": %d, "status_503": %d, "status_other": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    counts.ok, counts.shed, counts.other, e.connect, e.read, e.write, e.timeout))
end
