# Publishes N synthetic agents (4 skills each, client-supplied 384-d vectors in
# 50 clusters, varied policies and budgets) to a running server, then writes
# route_vector.json, the body route_vector.lua sends. Usage:
#   python3 publish_agents.py http://127.0.0.1:7980 2500 minilm-l6-v2-int8
import json, random, sys, urllib.request, math, concurrent.futures as cf
URL = sys.argv[1]; N_AGENTS = int(sys.argv[2]); SPACE = sys.argv[3]
rng = random.Random(7)
DIM = 384
centres = [[rng.gauss(0, 1) for _ in range(DIM)] for _ in range(50)]
def vec():
    c = rng.choice(centres)
    v = [x + rng.gauss(0, 0.6) for x in c]
    n = math.sqrt(sum(x * x for x in v))
    return [round(x / n, 6) for x in v]
regions = ["eu-west", "us-east", "ap-south", "eu-central"]
classes = ["public", "internal", "confidential", "pii"]
def manifest(i):
    return {
        "name": f"load{i % 50:02d}/agent-{i:05d}", "version": "1.0.0",
        "title": f"Load agent {i}", "description": "Synthetic agent for the HTTP load test.",
        "provider": {"organization": "Load Test"},
        "endpoint": {"url": f"https://agents.example.com/{i}", "protocol": "switchyard-http"},
        "skills": [{"id": f"skill-{j}", "name": f"Skill {j}", "description": f"Synthetic skill {j} of agent {i}.",
                    "tags": ["load", f"t{j}"], "examples": [], "input_modes": ["text/plain"], "output_modes": ["text/plain"],
                    "vector": {"space": SPACE, "values": vec()}} for j in range(4)],
        "policy": {"visibility": "public", "data_classes": rng.sample(classes, 2), "regions": [rng.choice(regions)], "compliance": []},
        "budget": {"cost_per_call_usd": round(rng.uniform(0.0005, 0.05), 4), "latency_ms": {"p50": 300, "p95": rng.choice([500, 1000, 3000])}},
    }
def post(i):
    body = json.dumps(manifest(i)).encode()
    req = urllib.request.Request(URL + "/v1/agents", data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.status
with cf.ThreadPoolExecutor(4) as ex:
    codes = list(ex.map(post, range(N_AGENTS)))
print({c: codes.count(c) for c in set(codes)})
q = vec()
json.dump({"vector": {"space": SPACE, "values": q}, "k": 5, "constraints": {"data_class": "internal", "max_cost_usd": 0.04}}, open("route_vector.json", "w"))
