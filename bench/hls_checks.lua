-- wrk script: nginx's auth_request subrequests for HLS viewers. Cycles through `viewers`
-- viewers (each its own user agent) spread over `streams` streams, each fetching its playlist
-- and segments, with the headers the generated nginx config sends. Counts answers other than
-- 204; optional third argument: a per-connection delay in ms (for a fixed total rate).
local n = 0
local viewers, streams, delay_ms = 2000, 20, 0
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  viewers = tonumber(args[1]) or viewers
  streams = tonumber(args[2]) or streams
  delay_ms = tonumber(args[3]) or 0
  wrk.headers["X-Cdnpanel-Secret"] = os.getenv("CDNPANEL_BENCH_HOOK_SECRET")
  wrk.headers["X-Real-IP"] = "198.51.100.7"
end

function request()
  n = n + 1
  local viewer = n % viewers
  local file = (n % 3 == 0) and "index.m3u8" or ((n % 50) .. ".ts")
  wrk.headers["X-Original-URI"] = "/demo-origin/live/cam" .. (viewer % streams) .. "/" .. file
  wrk.headers["User-Agent"] = "player-" .. viewer
  return wrk.format("GET", wrk.path)
end

function response(status, headers, body)
  if status ~= 204 then bad = bad + 1 end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("non-204 answers: %d\n", total))
end
