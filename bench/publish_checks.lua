-- wrk script: nginx-rtmp's on_publish callbacks. Each request is a new encoder connection
-- publishing its own stream name (cam<n>, client id n) with the credentials given as the
-- first two arguments (user, pass), as nginx-rtmp posts them; the third argument "refused"
-- counts 403 as expected (wrong credentials), otherwise 2xx; the fourth names the run (stream
-- names and client ids are r<run>-<n>: each run's encoders are new); an optional fifth is a
-- per-connection delay in ms (for a fixed total rate). Counts answers other than expected.
local n = 0
local user, pass, expect_refusal, run, delay_ms = "studio", "", false, "0", 0
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  user = args[1] or user
  pass = args[2] or pass
  expect_refusal = args[3] == "refused"
  run = args[4] or run
  delay_ms = tonumber(args[5]) or 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  n = n + 1
  local body = "app=demo-origin%2Flive&flashver=FMLE%2F3.0&swfurl=&tcurl=rtmp%3A%2F%2F127.0.0.1"
    .. "%3A1935%2Fdemo-origin%2Flive&pageurl=&addr=198.51.100.7&clientid=r" .. run .. "-" .. n
    .. "&call=publish&name=r" .. run .. "-cam" .. n .. "&type=live&user=" .. user
    .. "&pass=" .. pass
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  local refused = status == 403
  local admitted = status >= 200 and status < 300
  if (expect_refusal and not refused) or (not expect_refusal and not admitted) then
    bad = bad + 1
  end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("unexpected answers: %d\n", total))
end
