-- wrk: POST jobs spread over 10 named queues with priorities from -100 to 100
-- (countdown jobs that stay pending behind the running ones). JR_PLAIN=1 sends
-- the same jobs without options, built the same way (one string.format per
-- request), so both sides of the comparison cost wrk the same.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local plain = os.getenv("JR_PLAIN") == "1"
local n = 0
request = function()
    n = n + 1
    local body
    if plain then
        body = string.format('{"job_type":"countdown","params":{"seconds":%d}}', 60)
    else
        body = string.format('{"job_type":"countdown","params":{"seconds":60},"queue":"q%d","priority":%d}',
                             n % 10, (n * 37) % 201 - 100)
    end
    return wrk.format(nil, nil, nil, body)
end
