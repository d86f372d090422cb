-- wrk: POST jobs spread over 10 named queues with priorities from -100 to 100
-- (countdown jobs that stay pending behind the running ones).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
    n = n + 1
    local body = string.format('{"job_type":"countdown","params":{"seconds":60},"queue":"q%d","priority":%d}',
                               n % 10, (n * 37) % 201 - 100)
    return wrk.format(nil, nil, nil, body)
end
