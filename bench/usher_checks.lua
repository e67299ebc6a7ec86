-- wrk script: nginx's auth_request subrequests for viewers with SEVU tickets.
-- Arguments: a file of ticket keys (one per viewer), a mode, an optional delay in ms.
--   steady: viewer n % #keys requests playlists and segments of its stream with its ticket:
--           after each viewer's first request, checks of a running session.
--   new:    every request is a viewer not seen before (the next key of the file) on one of
--           20 streams, so every check is an admission written to the store.
-- Counts answers other than 204.
local keys = {}
local mode = "steady"
local delay_ms = 0
local n = 0
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do table.insert(keys, line) end
  mode = args[2] or mode
  delay_ms = tonumber(args[3]) or 0
  wrk.headers["X-Cdnpanel-Secret"] = os.getenv("CDNPANEL_BENCH_HOOK_SECRET")
  wrk.headers["X-Real-IP"] = "198.51.100.7"
end

function request()
  n = n + 1
  local viewer = n % #keys
  local stream, file
  if mode == "new" then
    viewer = n % #keys  -- the file holds more keys than a run makes requests
    stream = "cam" .. (n % 20)
    file = "index.m3u8"
  else
    stream = "cam" .. (viewer % 20)
    file = (n % 3 == 0) and "index.m3u8" or ((n % 50) .. ".ts")
  end
  wrk.headers["X-Original-URI"] = "/demo-origin/live/" .. stream .. "/" .. file ..
    "?key=" .. keys[viewer + 1] .. "&pass=bench-password"
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
