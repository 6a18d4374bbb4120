-- wrk script for bench/serve.py: one JSON line of figures at the end.
-- BENCH_METHOD=POST: each request decodes one random latent of BENCH_LATENT_DIM numbers, the body
-- wrapped as BENCH_BODY ("aeserve": {"model": ..., "latents": [[...]]}; "litserve": {"latents": [[...]]}).
-- BENCH_METHOD=GET: plain GETs of the URL's path (GET /sample?n=256).
local method = os.getenv("BENCH_METHOD") or "POST"
local dim = tonumber(os.getenv("BENCH_LATENT_DIM") or "2")
local model = os.getenv("BENCH_MODEL") or ""
local style = os.getenv("BENCH_BODY") or "aeserve"
local bodies = {}

function init(args)
  math.randomseed(12345)
  for i = 1, 256 do  -- a pool of bodies made once, so the client does no per-request work
    local numbers = {}
    for j = 1, dim do numbers[j] = string.format("%.4f", (math.random() * 2 - 1) * 1.5) end
    local latents = "[[" .. table.concat(numbers, ",") .. "]]"
    if style == "aeserve" then
      bodies[i] = '{"model":"' .. model .. '","latents":' .. latents .. '}'
    else
      bodies[i] = '{"latents":' .. latents .. '}'
    end
  end
  wrk.headers["Content-Type"] = "application/json"
end

local counter = 0
function request()
  if method == "GET" then return wrk.format("GET") end
  counter = counter % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[counter])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.timeout, e.status))
end
