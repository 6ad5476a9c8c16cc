#!/usr/bin/env python3
"""Live data end to end, on the real binaries: replay the last weeks of bundled datasets into a
service whose versions were fitted on the data before them, then check that the service's live
accuracy equals eval/score.py's on the same stored forecasts and actuals.

For each dataset: fit (snaive by default: seconds) with --until the replay's start; import the
file up to the same time into a fresh SQLite store; start civicast-serve; replay the rest with
bench/replay.py --check (after every batch, every series of the batch is forecast from it);
export the issued forecasts with `civicast-train issued`; score them with eval/score.py; and
compare with GET /v1/series/{dataset}/{id}/accuracy pooled over series (pair-weighted). Needs
numpy and pandas (CI runs it in notebooks/.venv).

    CIVICAST_BIN=target/debug notebooks/.venv/bin/python e2e/live_accuracy.py
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("CIVICAST_BIN", "target/release"))
MODELS = os.environ.get("LIVE_MODELS", "snaive")

# (dataset, replay after this time, MASE season): Chicago's last 8 weeks, bike share's last 4.
CASES = [
    ("chicago_ridership", "2016-06-19", 7),
    ("bikeshare_hourly", "2011-12-03T23:00:00", 24),
]
METRICS = ["MASE", "sMAPE", "RMSE", "cov80", "cov95", "sCRPS"]


def run(*args: str) -> str:
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return done.stdout


def get(url: str, key: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(dataset: str, start: str, season: int, work: str) -> None:
    manifest = os.path.join(ROOT, "datasets", dataset, "dataset.toml")
    registry, store = os.path.join(work, "registry"), os.path.join(work, "store.db")
    train = os.path.join(BIN, "civicast-train")
    t0 = time.perf_counter()
    run(train, "fit", manifest, "--registry", registry, "--models", MODELS, "--until", start, "--quiet")
    run(train, "import", manifest, "--store", store, "--until", start)
    fitted = time.perf_counter() - t0
    key = secrets.token_hex(24)
    digest = subprocess.run(
        [os.path.join(BIN, "civicast-serve"), "hash-key"], input=key + "\n", check=True,
        capture_output=True, text=True).stdout.strip()
    port = free_port()
    env = dict(os.environ, CIVICAST_API_KEYS=f"feed:admin:{digest}", NO_COLOR="1", RUST_LOG="warn")
    env.pop("CIVICAST_CONFIG", None)
    server = subprocess.Popen([os.path.join(BIN, "civicast-serve"), "--registry", registry, "--store", store,
                               "--listen", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if get(f"{base}/health/ready", key).get("status") == "ready":
                    break
            except Exception:
                pass
            if server.poll() is not None:
                sys.exit(f"{dataset}: civicast-serve exited with {server.returncode}")
            time.sleep(0.1)
        replay = json.loads(run(sys.executable, os.path.join(ROOT, "bench", "replay.py"), manifest,
                                "--from", start, "--url", base, "--key", key, "--check"))
        series = get(f"{base}/v1/series?dataset={dataset}&limit=1000", key)["series"]
        judged = [s for s in series if s["live_pairs"] > 0]
        drifted = [s["id"] for s in series if s["drifted"]]
        pooled = {m: 0.0 for m in METRICS}
        weights = {m: 0 for m in METRICS}
        for s in series:
            live = get(f"{base}/v1/series/{dataset}/{s['id']}/accuracy?origins=10000", key)["live"]
            scores = live["scores"]
            for m in METRICS:
                n = live["pairs"] - (scores["pairs_excluded_S0"] if m == "MASE" else 0)
                if n > 0 and scores[m] is not None:
                    pooled[m] += scores[m] * n
                    weights[m] += n
        ours = {m: pooled[m] / weights[m] for m in METRICS if weights[m] > 0}
    finally:
        server.terminate()
        server.wait(timeout=60)
    preds = os.path.join(work, "issued.csv")
    run(train, "issued", dataset, "--store", store, "--out", preds)
    data = os.path.join(ROOT, "datasets", dataset, f"{dataset}.csv")
    scored_json = os.path.join(work, "scored.json")
    run(sys.executable, os.path.join(ROOT, "eval", "score.py"), "--data", data, "--preds", preds,
        "--season", str(season), "--json", scored_json)
    with open(scored_json) as f:
        reference = json.load(f)["live"]
    print(f"== {dataset}: fit and import {fitted:.1f} s; replay {replay['rows']} rows in {replay['batches']} batches, "
          f"{replay['wall_seconds']} s ({replay['rows_per_second']} rows/s), checked after each batch")
    print(f"   drift flags ({MODELS}): {len(drifted)} of {len(judged)} series {drifted}")
    print(f"   {'metric':6} {'service':>12} {'score.py':>12}")
    worst = 0.0
    for m in METRICS:
        a, b = ours.get(m, float("nan")), reference[m]
        worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
        print(f"   {m:6} {a:12.6f} {b:12.6f}")
    if not worst < 1e-9:
        sys.exit(f"{dataset}: the service's live accuracy differs from score.py's (relative {worst:.2e})")


def main() -> None:
    for name in ("civicast-serve", "civicast-train"):
        if not os.access(os.path.join(BIN, name), os.X_OK):
            sys.exit(f"live_accuracy: no {name} in {BIN}; build it first")
    for dataset, start, season in CASES:
        with tempfile.TemporaryDirectory() as work:
            check(dataset, start, season, work)
    print("live accuracy: the service's figures equal eval/score.py's")


if __name__ == "__main__":
    main()
