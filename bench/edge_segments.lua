-- wrk script: HLS viewers fetching cached segments from an edge. Viewer n % viewers (its
-- ticket's query string, one per line of the file given as the first argument, or none)
-- fetches segment n % segments. Counts answers other than 200 and bytes short of a segment.
local n = 0
local queries, segments = {}, 10
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do table.insert(queries, line) end
  segments = tonumber(args[2]) or segments
end

function request()
  n = n + 1
  local query = queries[(n % #queries) + 1]
  local path = wrk.path .. (n % segments) .. ".ts" .. (query ~= "" and ("?" .. query) or "")
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("non-200 answers: %d\n", total))
end
