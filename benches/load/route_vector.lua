-- wrk script: POST /v1/route with a fixed vector query (route_vector.json,
-- written by publish_agents.py), data-class and cost constraints.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("route_vector.json", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, requests %d, errors: connect %d read %d write %d status %d timeout %d\n",
    latency:percentile(50)/1000, latency:percentile(99)/1000, latency:percentile(99.9)/1000, summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout))
end
