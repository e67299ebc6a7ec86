-- wrk script: POST a different pre-signed body each request, count non-success answers,
-- and optionally pace each connection (second argument: delay in ms) for a fixed total rate.
-- Also reads each answer's handle_time (the server's own time) and prints its p50 and p99.
local bodies = {}
local delay_ms = 0
local index = 0
bad = 0
handle_ms = {}
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
  local seconds = string.match(body, '"handle_time":"([%d.]+) seconds"')
  if seconds then table.insert(handle_ms, tonumber(seconds) * 1000) end
end

if true then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local total = 0
  local times = {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
    for _, ms in ipairs(thread:get("handle_ms")) do table.insert(times, ms) end
  end
  io.write(string.format("non-success answers: %d\n", total))
  if #times > 0 then
    table.sort(times)
    io.write(string.format("handle_time p50: %.2f ms\n", times[math.ceil(#times * 0.50)]))
    io.write(string.format("handle_time p99: %.2f ms\n", times[math.ceil(#times * 0.99)]))
  end
end
