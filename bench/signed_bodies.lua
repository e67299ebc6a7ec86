-- wrk script: POST a different pre-signed body each request, count non-success answers,
-- and optionally pace each connection (second argument: delay in ms) for a fixed total rate.
local bodies = {}
local delay_ms = 0
local index = 0
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    table.insert(bodies, line)
  end
  if args[2] then delay_ms = tonumber(args[2]) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  index = index + 1
  if index > #bodies then index = 1 end
  return wrk.format(nil, nil, nil, bodies[index])
end

function response(status, headers, body)
  if not string.find(body, '"status":"success"', 1, true) then bad = bad + 1 end
end

if true then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("non-success answers: %d\n", total))
end
