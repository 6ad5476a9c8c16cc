#!/usr/bin/env python3
"""Benchmark of living data (not a test): ingest rows/s, forecast latency right after an ingest
and on a cached answer, and a replay's wall time, on SQLite and on PostgreSQL, side by side.

For each engine: fit Chicago (default snaive, --models to change) on data up to two years before
its end, import the file up to the same time, start civicast-serve (release) on that store, then
  1. ingest: replay the two years through POST /v1/observations in batches of 1,000 rows
     (50 days x 20 stations), each batch moving the 20 forecasts on before it is acknowledged;
  2. latency: 50 rounds of one day's ingest for one station, then the same forecast request
     twice: the first after the ingest (the answer cache was dropped for that series), the
     second from the cache;
  3. replay: the last 8 weeks of a fresh store one day per batch (bench/replay.py);
  4. size: rows and bytes per row (with indexes) of the replayed store's observations and issued
     forecasts.
PostgreSQL is Debian's package started by scripts/postgres on port 55433.

    bench/live.py [--models ets] [--engines sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
MANIFEST = os.path.join(ROOT, "datasets", "chicago_ridership", "dataset.toml")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from replay import steps_of  # noqa: E402


def run(*args: str, **kw) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def call(url: str, key: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {key}",
                                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as response:
        return json.loads(response.read())


class Service:
    def __init__(self, work: str, registry: str, store: str):
        self.key = secrets.token_hex(24)
        digest = subprocess.run([os.path.join(BIN, "civicast-serve"), "hash-key"], input=self.key + "\n",
                                check=True, capture_output=True, text=True).stdout.strip()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, CIVICAST_API_KEYS=f"bench:admin:{digest}", RUST_LOG="warn", NO_COLOR="1")
        self.process = subprocess.Popen([os.path.join(BIN, "civicast-serve"), "--registry", registry, "--store", store,
                                         "--listen", f"127.0.0.1:{port}"], env=env,
                                        stdout=open(os.path.join(work, "serve.log"), "w"), stderr=subprocess.STDOUT)
        for _ in range(1200):
            try:
                if call(f"{self.base}/health/ready", self.key).get("status") == "ready":
                    return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("civicast-serve did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def fresh_store(engine: str, work: str, url: str | None, name: str) -> str:
    if engine == "sqlite":
        return os.path.join(work, f"{name}.db")
    database = f"civicast_bench_{name}"
    psql = [shutil.which("psql") or "psql", url.rsplit("/", 1)[0] + "/postgres", "-qc"]
    run(*psql, f"DROP DATABASE IF EXISTS {database}")
    run(*psql, f"CREATE DATABASE {database}")
    return url.rsplit("/", 1)[0] + "/" + database


TABLES = ("observations", "issued_forecasts", "revisions", "future_values")


def store_sizes(engine: str, store: str) -> dict:
    """Rows and bytes (tables with their indexes) of the store's big tables."""
    if engine == "sqlite":
        import sqlite3
        with sqlite3.connect(store) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes = dict(db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
            indexes = db.execute("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'").fetchall()
            rows = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
        total = {t: sizes.get(t, 0) + sum(sizes.get(i, 0) for i, table in indexes if table == t) for t in TABLES}
    else:
        psql = [shutil.which("psql") or "psql", store, "-tAc"]
        total, rows = {}, {}
        for t in TABLES:
            total[t] = int(run(*psql, f"SELECT pg_total_relation_size('{t}')").strip())
            rows[t] = int(run(*psql, f"SELECT COUNT(*) FROM {t}").strip())
    out = {}
    for t in ("observations", "issued_forecasts"):
        out[f"{t}_rows"] = rows[t]
        out[f"{t}_bytes_per_row"] = round(total[t] / rows[t], 1) if rows[t] else None
    return out


def bench(engine: str, models: str, url: str | None) -> dict:
    work = tempfile.mkdtemp(prefix=f"civicast-live-{engine}-")
    train = os.path.join(BIN, "civicast-train")
    result: dict = {"engine": engine}
    # 1. Ingest two years in batches of 1,000 rows.
    start = "2014-08-14"
    registry = os.path.join(work, "registry")
    run(train, "fit", MANIFEST, "--registry", registry, "--models", models, "--until", start, "--quiet")
    store = fresh_store(engine, work, url, "ingest")
    run(train, "import", MANIFEST, "--store", store, "--until", start)
    service = Service(work, registry, store)
    try:
        _, steps = steps_of(MANIFEST, start, None)
        rows = 0
        began = time.perf_counter()
        for first in range(0, len(steps), 50):
            observations = [o for _, step in steps[first:first + 50] for o in step]
            call(f"{service.base}/v1/observations", service.key, {"dataset": "chicago_ridership", "observations": observations})
            rows += len(observations)
        wall = time.perf_counter() - began
        result["ingest_rows"] = rows
        result["ingest_rows_per_s"] = round(rows / wall, 1)
        # 2. Latency after an ingest and from the cache: one more day at a time for one station
        # (re-sending a day with a changed value is a revision that moves the series).
        body = {"series": [{"dataset": "chicago_ridership", "id": "Clark_Lake"}], "horizon": 14}
        after, cached = [], []
        last_day = steps[-1][0]
        for i in range(50):
            value = 20.0 + i * 0.01
            call(f"{service.base}/v1/observations", service.key, {"dataset": "chicago_ridership", "observations": [
                {"id": "Clark_Lake", "time": last_day, "value": value}]})
            for sink in (after, cached):
                t = time.perf_counter()
                call(f"{service.base}/v1/forecast", service.key, body)
                sink.append((time.perf_counter() - t) * 1e3)
        q = lambda xs, p: sorted(xs)[int(p * (len(xs) - 1))]  # noqa: E731
        result["forecast_after_ingest_ms"] = {"p50": round(q(after, 0.5), 2), "p90": round(q(after, 0.9), 2)}
        result["forecast_cached_ms"] = {"p50": round(q(cached, 0.5), 2), "p90": round(q(cached, 0.9), 2)}
    finally:
        service.stop()
    # 3. The 8-week replay, one day per batch, on a fresh store.
    start = "2016-06-19"
    registry = os.path.join(work, "registry8")
    run(train, "fit", MANIFEST, "--registry", registry, "--models", models, "--until", start, "--quiet")
    store = fresh_store(engine, work, url, "replay")
    run(train, "import", MANIFEST, "--store", store, "--until", start)
    service = Service(work, registry, store)
    try:
        replay = json.loads(run(sys.executable, os.path.join(ROOT, "bench", "replay.py"), MANIFEST, "--from", start,
                                "--url", service.base, "--key", service.key))
        result["replay_8_weeks_s"] = replay["wall_seconds"]
        result["replay_rows"] = replay["rows"]
    finally:
        service.stop()
    # 4. What the store holds after it: the whole file (113,960 rows of 20 stations and the
    # shared weather) and the replay's issued forecasts, bytes per row with indexes.
    result.update(store_sizes(engine, store))
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="snaive")
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    print("== building civicast (release)", flush=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "civicast-training", "-p", "civicast-service"],
                   cwd=ROOT, check=True)
    url = None
    pg_dir = None
    if "postgres" in args.engines:
        pg_dir = tempfile.mkdtemp(prefix="civicast-bench-pg-")
        url = run(os.path.join(ROOT, "scripts", "postgres"), "start", pg_dir,
                  env=dict(os.environ, CIVICAST_PG_PORT="55433")).strip()
    try:
        results = [bench(engine, args.models, url) for engine in args.engines.split(",")]
    finally:
        if pg_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "postgres"), "stop", pg_dir],
                           env=dict(os.environ, CIVICAST_PG_PORT="55433"))
    print(f"== living data, Chicago ({args.models}), {os.cpu_count()} cores")
    keys = ["ingest_rows", "ingest_rows_per_s", "forecast_after_ingest_ms", "forecast_cached_ms", "replay_rows",
            "replay_8_weeks_s", "observations_rows", "observations_bytes_per_row", "issued_forecasts_rows",
            "issued_forecasts_bytes_per_row"]
    print(f"{'':28}" + "".join(f"{r['engine']:>30}" for r in results))
    for k in keys:
        print(f"{k:28}" + "".join(f"{json.dumps(r.get(k)):>30}" for r in results))


if __name__ == "__main__":
    main()
