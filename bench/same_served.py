"""Checks that a change altered no served forecast: starts two builds of civicast-serve on one
registry (a version published before the change, say) and compares their answers for every
series — quantiles over 14 steps and weekly roll-ups over 28 (from sample paths) — as JSON.

    python3 bench/same_served.py REGISTRY OLD_CIVICAST_SERVE NEW_CIVICAST_SERVE

Exit status 0 only when every answer is the same.
"""
import json, os, subprocess, sys, time, urllib.request, hashlib, socket
reg = sys.argv[1]; bins = sys.argv[2:]
key = "k" * 32
h = hashlib.sha256(key.encode()).hexdigest()
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def call(p, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{p}{path}", data=json.dumps(body).encode() if body else None,
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=60).read())
answers = []
for b in bins:
    p = port()
    env = dict(os.environ, CIVICAST_API_KEYS=f"cmp:admin:{h}", RUST_LOG="warn")
    proc = subprocess.Popen([b, "--registry", reg, "--store", reg + ".store.db", "--listen", f"127.0.0.1:{p}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            call(p, "/health/live"); break
        except Exception: time.sleep(0.1)
    out = {}
    series = call(p, "/v1/series?limit=1000")
    items = series.get("series", series.get("items", []))
    for s in items:
        ref = {"dataset": s["dataset"], "id": s["id"]}
        out[(s["dataset"], s["id"], "q")] = call(p, "/v1/forecast", {"series": [ref], "horizon": 14, "quantiles": [0.05, 0.5, 0.95]})
        out[(s["dataset"], s["id"], "w")] = call(p, "/v1/forecast", {"series": [ref], "horizon": 28, "rollup": "week"})
    proc.terminate(); proc.wait()
    answers.append(out)
    print(b, len(out), "answers", sorted({k[0] for k in out}))
a, b = answers
same = [k for k in a if a[k] == b.get(k)]
diff = [k for k in a if a[k] != b.get(k)]
print("same", len(same), "different", len(diff))
for k in diff[:3]:
    print(k, json.dumps(a[k])[:300], "\n   vs", json.dumps(b[k])[:300])
sys.exit(1 if diff or not same else 0)
