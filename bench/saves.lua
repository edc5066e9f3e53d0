-- wrk script of bench/saves.py: real answer saves with rising revisions.
--   wrk ... -s bench/saves.lua URL -- <first revision> <plan directory>
-- The plan (written by saves.py) gives each wrk thread n its own tokens (tokens-n.txt, one a line)
-- and entries (entries-n.txt: path, token line, answer JSON, tab-separated); a thread cycles through
-- its entries in order, so an item comes back only after every other item of the thread's attempts,
-- each time with the next revision.
-- Responses are checked: a 200 whose body does not say "applied":true was not a real save.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("thread_number", #threads)
end

function init(args)
    first_revision = tonumber(args[1])
    tokens, entries = {}, {}
    for line in io.lines(args[2] .. "/tokens-" .. thread_number .. ".txt") do
        tokens[#tokens + 1] = line
    end
    for line in io.lines(args[2] .. "/entries-" .. thread_number .. ".txt") do
        local path, token, answer = line:match("^([^\t]*)\t(%d+)\t(.*)$")
        entries[#entries + 1] = {path, tonumber(token), answer}
    end
    cycle = #entries
    sent, not_applied, statuses = 0, 0, {}
end

function request()
    local entry = entries[sent % #entries + 1]
    local revision = first_revision + math.floor(sent / #entries)
    sent = sent + 1
    return wrk.format("PUT", entry[1], {["Authorization"] = tokens[entry[2]], ["Content-Type"] = "application/json"},
                      '{"revision":' .. revision .. ',"answer":' .. entry[3] .. '}')
end

function response(status, headers, body)
    if status == 200 then
        if not string.find(body, '"applied":true', 1, true) then
            not_applied = not_applied + 1
        end
    else
        statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
    end
end

function done(summary, latency, requests)
    local not_applied_total, sent_most, by_status = 0, 0, {}
    for _, thread in ipairs(threads) do
        not_applied_total = not_applied_total + thread:get("not_applied")
        sent_most = math.max(sent_most, thread:get("sent") / thread:get("cycle"))
        for status, n in pairs(thread:get("statuses")) do
            by_status[#by_status + 1] = string.format('"%s":%d', status, n)
        end
    end
    local e = summary.errors
    io.write(string.format(
        'SAVES_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
        '"not_applied":%d,"statuses":{%s},"socket_errors":%d,"timeouts":%d,"rounds":%.3f}\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
        latency.max, not_applied_total, table.concat(by_status, ","),
        e.connect + e.read + e.write, e.timeout, sent_most))
end
