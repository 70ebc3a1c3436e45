-- wrk script: POST /v1/route with 200 rotating text queries (embedded on
-- the first pass, then served from the embedding cache).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local queries = {}
for i = 1, 200 do
  queries[i] = string.format('{"query": "find an agent for synthetic skill %d of a task number %d", "k": 5}', i % 4, i)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, queries[(n % 200) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    latency:percentile(50)/1000, latency:percentile(99)/1000, latency:percentile(99.9)/1000, summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
