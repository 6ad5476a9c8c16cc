#!/usr/bin/env python3
"""Past one machine, end to end (a test, not a benchmark): three civicast-serve replicas behind
nginx, sharing one PostgreSQL store and one registry in S3-compatible object storage, on loopback.

  1. ingest a day through replica 1 and forecast through replica 2: the forecast starts after it;
  2. promote a version while clients forecast through nginx: every replica serves it within
     seconds, and no request fails at the client;
  3. kill -9 a replica while clients forecast through nginx: no request fails at the client;
  4. 50 concurrent promotions (separate civicast-train processes): the alias names the last
     entry of a history in which every change starts from the version the previous one set;
  5. a fit sharded two ways by scripts/fit-sharded (shared stage, two shard processes, assembly)
     publishes the models an unsharded fit published, byte for byte, and every replica serves it.

PostgreSQL and the S3 server are those CIVICAST_TEST_POSTGRES and CIVICAST_TEST_S3 name (as .ci/run
starts them), or else started here by scripts/postgres and scripts/s3 and stopped at the end. nginx
is Debian's nginx-light, installed when missing, running deploy/nginx.conf with the upstream ports
rewritten to the replicas'. Every wait is bounded; the whole run takes about a minute.

    CIVICAST_BIN=target/debug e2e/scale.py
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("CIVICAST_BIN", "target/debug"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from replay import steps_of  # noqa: E402

MANIFEST = os.path.join(ROOT, "datasets", "chicago_ridership", "dataset.toml")
DATASET = "chicago_ridership"
FITTED_UNTIL = "2016-06-01"
REPLICAS = 3
CLIENTS = 4
PROMOTIONS = 50


def run(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"scale: {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, key: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def forecast(port: int, key: str, station: str) -> dict:
    status, answer = call(port, key, "POST", "/v1/forecast",
                          {"series": [{"dataset": DATASET, "id": station}], "horizon": 3})
    if status != 200:
        sys.exit(f"scale: forecast through port {port} answered {status}: {answer}")
    return answer["forecasts"][0]


class Load:
    """Clients forecasting through nginx over keep-alive connections until stopped; every
    answer that is not 200 and every broken connection is a failure."""

    def __init__(self, port: int, key: str, stations: list[str]):
        self.port, self.key, self.stations = port, key, stations
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]

    def client(self, index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        n = index
        while not self.stop.is_set():
            station = self.stations[n % len(self.stations)]
            n += 1
            body = json.dumps({"series": [{"dataset": DATASET, "id": station}], "horizon": 7})
            try:
                conn.request("POST", "/v1/forecast", body=body,
                             headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
                response = conn.getresponse()
                text = response.read()
                with self.lock:
                    if response.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{response.status}: {text[:200]!r}")
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append(f"{type(e).__name__}: {e}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.close()

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)

    def check(self, what: str) -> None:
        if self.failures:
            sys.exit(f"scale: {what}: {len(self.failures)} failed requests of {self.ok + len(self.failures)}; "
                     f"first: {self.failures[:3]}")
        if self.ok == 0:
            sys.exit(f"scale: {what}: no request was answered")
        print(f"  {what}: {self.ok} forecasts through nginx, 0 failed")


def start_nginx(work: str, port: int, upstreams: list[int]) -> subprocess.Popen:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        print("== installing nginx (Debian's nginx-light)", file=sys.stderr)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "nginx-light"], check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        nginx = "/usr/sbin/nginx"
    with open(os.path.join(ROOT, "deploy", "nginx.conf")) as f:
        conf = f.read()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;" for p in upstreams)
    conf, count = re.subn(r"(        server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers + "\n", conf)
    assert count == 1, "deploy/nginx.conf: the upstream's server lines were not found"
    conf = conf.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")
    conf = conf.replace("worker_processes auto;", "worker_processes 2;\ndaemon off;\n"
                        f"pid {work}/nginx.pid;\nerror_log {work}/nginx-error.log;")
    conf = conf.replace("http {", f"http {{\n    access_log {work}/nginx-access.log;", 1)
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    os.makedirs(os.path.join(work, "nginx"), exist_ok=True)
    process = subprocess.Popen([nginx, "-c", path, "-p", os.path.join(work, "nginx"), "-e",
                                os.path.join(work, "nginx-error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None:
                sys.exit(f"scale: nginx exited: {process.stderr.read().decode()}")
            time.sleep(0.1)
    sys.exit("scale: nginx did not start listening")


def main() -> None:
    work = tempfile.mkdtemp(prefix="civicast-scale-")
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user and must reach its folder inside
    started: list[list[str]] = []
    processes: list[subprocess.Popen] = []
    try:
        env = dict(os.environ)
        # Servers of its own listen on ports free now: a fixed port in the ephemeral range can be
        # held by a client connection's TIME_WAIT.
        if not env.get("CIVICAST_TEST_POSTGRES"):
            env["CIVICAST_TEST_POSTGRES"] = run(os.path.join(ROOT, "scripts", "postgres"), "start",
                                                os.path.join(work, "pg"),
                                                env=dict(env, CIVICAST_PG_PORT=str(free_port()))).strip()
            started.append(["postgres", os.path.join(work, "pg")])
        if not env.get("CIVICAST_TEST_S3"):
            exports = run(os.path.join(ROOT, "scripts", "s3"), "start", os.path.join(work, "s3"),
                          env=dict(env, CIVICAST_S3_PORT=str(free_port())))
            started.append(["s3", os.path.join(work, "s3")])
            for name, value in re.findall(r"(\w+)=(\S+)", exports):
                env[name] = value
        # A database of its own on the shared server, so nothing another test stored is seen.
        server = env["CIVICAST_TEST_POSTGRES"]
        database = f"civicast_scale_{os.getpid()}"
        run("psql", server, "-qc", f"CREATE DATABASE {database}")
        store = urllib.parse.urlunparse(urllib.parse.urlparse(server)._replace(path=f"/{database}"))
        registry = f"{env['CIVICAST_TEST_S3'].rstrip('/')}/scale-{os.getpid()}-{time.time_ns()}"
        train = os.path.join(BIN, "civicast-train")

        run(train, "fit", MANIFEST, "--registry", registry, "--models", "snaive", "--until", FITTED_UNTIL,
            "--quiet", env=env)
        first_version = re.findall(rf"^({DATASET}-\S+)", run(train, "registry", "--registry", registry,
                                                              "list", env=env), re.M)[0]
        run(train, "fit", MANIFEST, "--registry", registry, "--models", "ets", "--until", FITTED_UNTIL,
            "--quiet", env=env)
        versions = re.findall(rf"^({DATASET}-\S+)", run(train, "registry", "--registry", registry, "list",
                                                         env=env), re.M)
        second_version = next(v for v in versions if v != first_version)
        run(train, "import", MANIFEST, "--store", store, "--until", FITTED_UNTIL, env=env)

        key = secrets.token_hex(24)
        digest = subprocess.run([os.path.join(BIN, "civicast-serve"), "hash-key"], input=key + "\n",
                                check=True, capture_output=True, text=True).stdout.strip()
        config = os.path.join(work, "civicast.toml")
        with open(config, "w") as f:
            f.write("reload_poll_seconds = 1\n")
        serve_env = dict(env, CIVICAST_API_KEYS=f"feed:admin:{digest}", CIVICAST_CONFIG=config,
                         NO_COLOR="1", RUST_LOG="warn")
        ports = [free_port() for _ in range(REPLICAS)]
        for i, port in enumerate(ports):
            log = open(os.path.join(work, f"replica-{i + 1}.log"), "w")
            processes.append(subprocess.Popen(
                [os.path.join(BIN, "civicast-serve"), "--registry", registry, "--store", store,
                 "--listen", f"127.0.0.1:{port}"], env=serve_env, stdout=log, stderr=log))
        for port, process in zip(ports, processes):
            for _ in range(1200):
                try:
                    if call(port, key, "GET", "/health/ready")[1].get("status") == "ready":
                        break
                except OSError:
                    pass
                if process.poll() is not None:
                    sys.exit(f"scale: a replica exited with {process.returncode}; logs in {work}")
                time.sleep(0.1)
            else:
                sys.exit(f"scale: replica on port {port} not ready in 120 s; logs in {work}")
        proxy = free_port()
        processes.append(start_nginx(work, proxy, ports))

        # 1. Ingest through replica 1, forecast through replica 2.
        _, steps = steps_of(MANIFEST, FITTED_UNTIL, None)
        day, rows = steps[0]
        station = rows[0]["id"]
        before = forecast(ports[1], key, station)["steps"][0]["time"]
        status, answer = call(ports[0], key, "POST", "/v1/observations",
                              {"dataset": DATASET, "observations": rows})
        if status != 200:
            sys.exit(f"scale: ingest through replica 1 answered {status}: {answer}")
        after = forecast(ports[1], key, station)["steps"][0]["time"]
        if not (before <= day < after):
            sys.exit(f"scale: replica 2 forecast from {after} after replica 1 took in {day} (before: {before})")
        print(f"1. ingested {len(rows)} rows of {day} through replica 1; replica 2's forecast of {station} "
              f"now starts at {after} (was {before})")

        stations = sorted({r["id"] for r in rows})
        # 2. Promote under load.
        with Load(proxy, key, stations) as load:
            time.sleep(1)
            t0 = time.perf_counter()
            run(train, "registry", "--registry", registry, "promote", second_version, env=env)
            switched = {}
            deadline = time.monotonic() + 30
            while len(switched) < REPLICAS and time.monotonic() < deadline:
                for i, port in enumerate(ports):
                    if i not in switched and forecast(port, key, station)["version"] == second_version:
                        switched[i] = time.perf_counter() - t0
                time.sleep(0.05)
            time.sleep(1)
        if len(switched) < REPLICAS:
            sys.exit(f"scale: only replicas {sorted(switched)} serve {second_version} 30 s after the promotion")
        print(f"2. promoted {second_version} under load; every replica served it within "
              f"{max(switched.values()):.1f} s")
        load.check("during the promotion")

        # 3. kill -9 a replica under load.
        with Load(proxy, key, stations) as load:
            time.sleep(1)
            processes[REPLICAS - 1].send_signal(signal.SIGKILL)
            processes[REPLICAS - 1].wait(timeout=10)
            time.sleep(3)
        print(f"3. killed replica {REPLICAS} (kill -9) under load")
        load.check("across the kill")

        # 4. Concurrent promotions from separate processes.
        t0 = time.perf_counter()
        promotions = [subprocess.Popen([train, "registry", "--registry", registry, "promote",
                                        (first_version, second_version)[i % 2]], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                      for i in range(PROMOTIONS)]
        failed = [p.stderr.read().decode() for p in promotions if p.wait(timeout=300) != 0]
        if failed:
            sys.exit(f"scale: {len(failed)} of {PROMOTIONS} promotions failed; first: {failed[0]}")
        history = [json.loads(line) for line in
                   run(train, "registry", "--registry", registry, "history", env=env).splitlines()]
        chain = [h for h in history if h["dataset"] == DATASET and h["alias"] == "production"]
        production = forecast(ports[0], key, station)["version"]  # may lag the alias by a poll
        for a, b in zip(chain, chain[1:]):
            if b["from"] != a["to"]:
                sys.exit(f"scale: history entry {b} does not start from the version {a} set")
        promotes = [h for h in chain if h["action"] == "promote"]
        if len(promotes) != PROMOTIONS + 1:
            sys.exit(f"scale: {len(promotes)} promotions in the history, expected {PROMOTIONS + 1}")
        listed = run(train, "registry", "--registry", registry, "list", env=env)
        alias = re.findall(rf"^({DATASET}-\S+) .*\[production\]", listed, re.M)[0]
        if chain[-1]["to"] != alias:
            sys.exit(f"scale: the alias names {alias}, the history's last entry {chain[-1]['to']}")
        print(f"4. {PROMOTIONS} concurrent promotions in {time.perf_counter() - t0:.1f} s: "
              f"{len(chain)} history entries, each from the version the previous one set; "
              f"the alias names the last ({alias}; replica 1 serves {production})")
        # 5. A sharded fit through the object-store registry, a learned model (whose regressors
        # the shards share) beside a statistical one, against the same fit unsharded.
        fit_args = ["--models", "linear,ets", "--until", FITTED_UNTIL, "--quiet"]
        unsharded = run(train, "fit", MANIFEST, "--registry", registry, *fit_args[:-1], env=env)
        unsharded_version = re.findall(rf"published ({DATASET}-\S+)", unsharded)[0]
        t0 = time.perf_counter()
        sharded = run(os.path.join(ROOT, "scripts", "fit-sharded"), "2", MANIFEST, "--registry", registry,
                      *fit_args, "--promote", env=dict(env, CIVICAST_BIN=BIN))
        sharded_version = re.findall(rf"published ({DATASET}-\S+)", sharded)[0]
        files = {v: json.loads(run(train, "registry", "--registry", registry, "show", v, env=env))["files"]
                 for v in (unsharded_version, sharded_version)}
        if files[sharded_version]["models.json"] != files[unsharded_version]["models.json"]:
            sys.exit(f"scale: the sharded fit's models differ from the unsharded fit's: {files}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(forecast(port, key, station)["version"] == sharded_version for port in ports[:-1]):
                break
            time.sleep(0.1)
        else:
            sys.exit(f"scale: the replicas do not serve the sharded version {sharded_version} after 30 s")
        print(f"5. a fit of linear and ets sharded two ways published {sharded_version} in "
              f"{time.perf_counter() - t0:.1f} s; its models.json has the SHA-256 of the unsharded "
              f"fit's, and the live replicas serve it")
        print("scale: passed")
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        for name, folder in reversed(started):
            subprocess.run([os.path.join(ROOT, "scripts", name), "stop", folder], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
