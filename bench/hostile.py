#!/usr/bin/env python3
"""The hostile-input campaign behind bench/hostile.sh (which builds and fits first).

Starts civicast-serve (release) on 127.0.0.1 with a copy of a small registry, plays each scenario
as a hostile or buggy client would, and prints one line per scenario: PASS or FAIL, what was
expected and what happened. Loopback only; every loop is bounded in count and time.
"""

import argparse
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
import threading
import time

CHICAGO = ("Addison Archer_35th Ashland Austin Belmont California Clark_Lake Clinton Harlem "
           "Irving_Park Jefferson_Park Kedzie Merchandise_Mart Monroe Montrose Oak_Park Polk "
           "Quincy_Wells Washington_Wells Western").split()
RESULTS = []


def report(name, expected, ok, got):
    RESULTS.append(ok)
    print(f"{'PASS' if ok else 'FAIL'}  {name:<44} expected: {expected}; got: {got}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One civicast-serve process with its own registry copy and configuration."""

    def __init__(self, args, name, **settings):
        self.bin, self.name = args.bin, name
        self.dir = os.path.join(args.work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.registry = os.path.join(self.dir, "registry")
        shutil.copytree(args.template, self.registry, symlinks=True)
        self.port = free_port()
        self.read_key, self.admin_key = secrets.token_hex(24), secrets.token_hex(24)
        keys = []
        for key_name, role, key in (("reader", "read", self.read_key), ("ops", "admin", self.admin_key)):
            digest = subprocess.run([os.path.join(self.bin, "civicast-serve"), "hash-key"],
                                    input=key + "\n", text=True, capture_output=True, check=True).stdout.strip()
            keys.append(f'[[api_keys]]\nname = "{key_name}"\nrole = "{role}"\nsha256 = "{digest}"\n')
        lines = [f'listen = "127.0.0.1:{self.port}"', f'registry = "{self.registry}"',
                 f'store = "{os.path.join(self.dir, "store.db")}"', "reload_poll_seconds = 0"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        self.config = os.path.join(self.dir, "serve.toml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n" + "\n".join(keys))
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        env = dict(os.environ, RUST_LOG="info,civicast::access=warn", NO_COLOR="1")
        self.process = subprocess.Popen([os.path.join(self.bin, "civicast-serve"), "--config", self.config],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if self.request("GET", "/health/ready", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become ready; see {self.log.name}")

    def request(self, method, path, body=None, key=None, content_type="application/json",
                accept=None, timeout=30):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if body is not None:
            headers["Content-Type"] = content_type
            if isinstance(body, str):
                body = body.encode()
        if accept:
            headers["Accept"] = accept
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def declared_body(self, path, length, first_part, timeout=10):
        """POSTs headers declaring `length` bytes, sends only `first_part`, returns the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.read_key}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
                      + first_part)
            received = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
                head, _, body = received.partition(b"\r\n\r\n")
                match = re.search(rb"content-length: *(\d+)", head, re.I)
                if match and len(body) >= int(match.group(1)):
                    break
        head, _, body = received.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def forecast(self, body, timeout=30):
        return self.request("POST", "/v1/forecast", json.dumps(body), key=self.read_key, timeout=timeout)

    def reload(self):
        status, body = self.request("POST", "/v1/admin/reload", key=self.admin_key)
        return json.loads(body)

    def peak_rss(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def rss(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def memory_bound(self):
        with open(self.log.name) as f:
            match = re.search(r"request_memory_bound_mib=(\d+)", f.read())
        return int(match.group(1)) << 20 if match else None

    def stop(self, guard=120):
        """SIGTERM; returns (seconds to exit, exit code)."""
        started = time.time()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=guard)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return time.time() - started, code


def series(ids, dataset="chicago_ridership"):
    return [{"dataset": dataset, "id": i} for i in ids]


def problem_limit(body):
    try:
        return json.loads(body).get("limit")
    except ValueError:
        return None


def oversized_answers(svc):
    cases = [
        ("the reported attack: 20 x 1000 x 20,000 quantiles",
         {"series": series(CHICAGO), "horizon": 1000, "quantiles": [i / 20001 for i in range(1, 20001)]},
         "max_quantiles"),
        ("100 series x 1000 steps x 40 quantiles",
         {"series": series(CHICAGO * 5), "horizon": 1000, "quantiles": [i / 41 for i in range(1, 41)]},
         "max_answer_values"),
        ("roll-up of 30 series x 1000 steps x 1000 paths",
         {"series": series(CHICAGO + CHICAGO[:10]), "horizon": 1000, "rollup": "month", "quantiles": [0.5]},
         "max_sampled_values"),
    ]
    for name, body, limit in cases:
        started = time.time()
        status, answer = svc.forecast(body)
        took = time.time() - started
        got = problem_limit(answer)
        report(f"oversized: {name}", f"422 naming {limit}", status == 422 and got == limit,
               f"{status} naming {got} in {took * 1e3:.0f} ms, {len(answer)} bytes")


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def starvation(svc, seconds=15, clients=12):
    """Heavy uncached forecasts from many clients while a prober times /health/live."""
    stop = time.time() + seconds
    statuses, lock = {}, threading.Lock()

    def heavy(n):
        k = 0
        while time.time() < stop:
            k += 1
            horizon = 300 + (n * 97 + k * 31) % 700
            body = {"series": series(CHICAGO[n % 10:n % 10 + 10]), "horizon": horizon, "rollup": "month", "levels": [80]}
            try:
                status, _ = svc.forecast(body, timeout=60)
            except OSError as e:
                status = type(e).__name__
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=heavy, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1)
    latencies, failures = [], 0
    connection = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    while time.time() < stop - 0.5:
        started = time.perf_counter()
        try:
            connection.request("GET", "/health/live")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
        except OSError:
            failures += 1
            connection = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.01)
    for t in threads:
        t.join()
    p50, p99, worst = (percentile(latencies, q) * 1e3 for q in (0.5, 0.99, 1.0))
    bad = {s: n for s, n in statuses.items() if s not in (200, 503)}
    report("starvation: health p99 under saturation", "p99 < 100 ms, all 200",
           p99 < 100 and failures == 0,
           f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms over {len(latencies)} probes, {failures} failed")
    report("starvation: heavy requests", "200 or 503, nothing else", not bad,
           f"{dict(sorted(statuses.items(), key=str))}")
    return p99


def risk_fanout(svc, concurrent=4):
    def lines(spread):
        out = []
        for i in range(500):
            days = (i // 20 + 1) * spread
            end = time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2016, 8, 15, 12, 0, 0, 0, 0, 0)) + (days - 1) * 86400))
            out.append({"dataset": "chicago_ridership", "series": CHICAGO[i % 20], "start": "2016-08-15",
                        "end": end, "planned": 100000, "unit_cost": 1000})
        return {"lines": out}

    status, body = svc.request("POST", "/v1/risk", json.dumps(lines(40)), key=svc.read_key)
    report("risk: 500 lines, distinct periods to 1000 days", "422 naming max_sampled_values",
           status == 422 and problem_limit(body) == "max_sampled_values", f"{status} naming {problem_limit(body)}")
    outcomes, lock = [], threading.Lock()

    def one():
        started = time.time()
        try:
            status, body = svc.request("POST", "/v1/risk", json.dumps(lines(2)), key=svc.read_key, timeout=60)
            n = len(json.loads(body)["results"]) if status == 200 else 0
        except OSError as e:
            status, n = type(e).__name__, 0
        with lock:
            outcomes.append((status, n, time.time() - started))

    threads = [threading.Thread(target=one) for _ in range(concurrent)]
    for t in threads:
        t.start()
    live = svc.request("GET", "/health/live", timeout=5)[0]
    for t in threads:
        t.join()
    ok = all(s == 200 and n == 500 or s == 503 for s, n, _ in outcomes) and live == 200
    report(f"risk: {concurrent} x 500 lines, 500 distinct draws", "200 with 500 results (or 503), live 200",
           ok, ", ".join(f"{s}/{n} lines in {t:.1f} s" for s, n, t in outcomes) + f"; live {live}")


def slowloris(svc, connections=400, seconds=25):
    sockets = []
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        s.sendall(b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\n")
        sockets.append(s)
    started = time.time()
    normal = []
    closed = set()
    header = b"X-Slow: " + b"a" * 1000
    k = 0
    while time.time() - started < seconds and len(closed) < connections:
        for i, s in enumerate(sockets):
            if i in closed:
                continue
            try:
                s.sendall(header[k % len(header):k % len(header) + 1])
                s.setblocking(False)
                try:
                    if s.recv(4096) == b"":
                        closed.add(i)
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except OSError:
                closed.add(i)
        k += 1
        if len(normal) < 5:
            t = time.time()
            status, _ = svc.forecast({"series": series(["Clark_Lake"])}, timeout=10)
            normal.append((status, time.time() - t))
        time.sleep(1)
    took = time.time() - started
    for s in sockets:
        s.close()
    report(f"slowloris: {connections} trickling headers", "all closed by the server after the header timeout",
           len(closed) == connections, f"{len(closed)} closed within {took:.1f} s")
    report("slowloris: a normal client meanwhile", "answered 200 each time",
           all(s == 200 for s, _ in normal), ", ".join(f"{s} in {t * 1e3:.0f} ms" for s, t in normal))


def json_edges(svc):
    big = "x" * (900 << 10)
    cases = [
        ("deep nesting (100k brackets)", '{"series":' + "[" * 100000 + "]" * 100000 + "}", 422),
        ("horizon 1e400", '{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"horizon":1e400}', 422),
        ("horizon of 30 digits", '{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"horizon":123456789012345678901234567890}', 422),
        ("quantile 1e-400", '{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"quantiles":[1e-400]}', 422),
        ("a 900 KB series id", '{"series":[{"dataset":"chicago_ridership","id":"' + big + '"}]}', 404),
        ("a 900 KB key", '{"' + big + '":1,"series":[]}', 422),
        ("not JSON", "\x00\xff{{", 422),
    ]
    for name, body, want in cases:
        try:
            status, answer = svc.request("POST", "/v1/forecast", body.encode("utf-8", "surrogateescape"), key=svc.read_key)
        except OSError as e:
            status, answer = type(e).__name__, b""
        report(f"json: {name}", f"{want}, a short problem", status == want and len(answer) < 2000,
               f"{status}, {len(answer)} bytes")
    # Over the body limit: the client declares 2 MiB and sends the first 64 KiB. Sending all of it
    # would race the server's close (its unread bytes turn the close into a reset), so this case
    # checks what matters: the verdict comes from the declared length, before the body is read.
    try:
        status, answer = svc.declared_body("/v1/forecast", 2 << 20, b'{"series":"' + b"y" * (64 << 10))
    except OSError as e:
        status, answer = type(e).__name__, b""
    report("json: a body declared over 1 MB", "413, a short problem", status == 413 and len(answer) < 2000,
           f"{status}, {len(answer)} bytes")


def csv_edges(svc):
    header = "id,dataset,series,start,end,planned,unit_cost"
    row = "chicago_ridership,Clark_Lake,2016-08-15,2016-08-21,100,1000"
    cases = [
        ("BOM and CRLF", ("\ufeff" + header + "\r\n" + "a," + row + "\r\n").encode(), 200, None),
        ("quoted newline in an id", (header + '\n"two\nlines",' + row + "\n").encode(), 200, None),
        ("unterminated quote", (header + '\n"open,' + row + "\n").encode(), 422, None),
        ("not UTF-8", (header + "\n\xff\xfe," + row + "\n").encode("latin-1"), 422, None),
        ("formula injection", (header + '\n"=HYPERLINK(""http://x"")",' + row + "\n").encode(), 200, "'=HYPERLINK"),
    ]
    for name, body, want, contains in cases:
        status, answer = svc.request("POST", "/v1/risk", body, key=svc.read_key, content_type="text/csv",
                                     accept="text/csv")
        ok = status == want and (contains is None or contains in answer.decode("utf-8", "replace"))
        report(f"csv: {name}", f"{want}" + (f" with {contains} defused" if contains else ""), ok,
               f"{status}: {answer[:90]!r}")


def set_alias(registry, dataset, version):
    path = os.path.join(registry, "aliases", dataset, "production.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump({"version": version, "changed": "2026-01-01T00:00:00Z"}, f)
    os.replace(path + ".tmp", path)


def production(registry, dataset):
    with open(os.path.join(registry, "aliases", dataset, "production.json")) as f:
        return json.load(f)["version"]


def sha256(path):
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bad_versions(svc, cap):
    registry = svc.registry
    good = production(registry, "chicago_ridership")
    versions = os.path.join(registry, "versions")

    def copy(suffix, change):
        name = f"{good}-{suffix}"
        target = os.path.join(versions, name)
        shutil.copytree(os.path.join(versions, good), target)
        manifest_path = os.path.join(target, "manifest.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        manifest["version"] = name
        change(target, manifest)
        with open(manifest_path, "w") as f:
            json.dump(manifest, f)
        return name

    def corrupt(target, manifest):
        with open(os.path.join(target, "models.json"), "r+b") as f:
            f.seek(10)
            f.write(b"#")

    def oversized(target, manifest):
        path = os.path.join(target, "models.json")
        with open(path) as f:
            models = json.load(f)
        models["padding"] = "p" * cap
        with open(path, "w") as f:
            json.dump(models, f)
        manifest["files"]["models.json"] = sha256(path)

    corrupt_v = copy("corrupt", corrupt)
    oversized_v = copy("oversized", oversized)
    linked_v = f"{good}-linked"
    outside = os.path.join(svc.dir, "outside-version")
    shutil.copytree(os.path.join(versions, good), outside)
    os.symlink(outside, os.path.join(versions, linked_v))
    with open(os.path.join(outside, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["version"] = linked_v
    with open(os.path.join(outside, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    cases = [("corrupt (a byte changed)", "chicago_ridership", corrupt_v, "SHA-256"),
             ("symlinked version folder", "chicago_ridership", linked_v, "link"),
             ("models.json over the size cap", "chicago_ridership", oversized_v, "limit"),
             ("another dataset's version", "bikeshare_hourly", good, "dataset")]
    for name, dataset, version, says in cases:
        before = production(registry, dataset)
        set_alias(registry, dataset, version)
        answer = svc.reload()
        why = answer.get("failures", {}).get(dataset, "")
        serving = answer.get("serving", {}).get(dataset)
        status, _ = svc.forecast({"series": series(["Clark_Lake"])})
        ok = bool(why) and says.lower() in why.lower() and serving == before and status == 200
        report(f"reload: {name}", f"refused ({says}), old version serving", ok,
               f"refused: {why[:100]!r}; serving {serving == before and 'the old version' or serving}; forecast {status}")
        set_alias(registry, dataset, before)
        svc.reload()


def concurrent_promotes(svc, args, n=100):
    registry = svc.registry
    first = production(registry, "chicago_ridership")
    others = sorted(v for v in os.listdir(os.path.join(registry, "versions"))
                    if v.startswith("chicago_ridership-") and v != first and not v.endswith(("corrupt", "linked", "oversized")))
    if not others:
        report("promotes: 100 concurrent", "two chicago versions", False, "the template has one")
        return
    targets = [first, others[0]]
    train = os.path.join(args.bin, "civicast-train")
    processes = [subprocess.Popen([train, "registry", "--registry", registry, "promote", targets[i % 2]],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(n)]
    codes = [p.wait(timeout=300) for p in processes]
    entries = []
    with open(os.path.join(registry, "history.jsonl")) as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("dataset") == "chicago_ridership":
                entries.append(entry)
    chained = all(b["from"] == a["to"] for a, b in zip(entries, entries[1:]))
    alias = production(registry, "chicago_ridership")
    answer = svc.reload()
    served = answer.get("serving", {}).get("chicago_ridership")
    ok = all(c == 0 for c in codes) and chained and alias == entries[-1]["to"] and served == alias
    report(f"promotes: {n} concurrent", "all succeed; history chained; alias = last entry = served", ok,
           f"{codes.count(0)}/{n} ok, chained {chained}, alias {'=' if alias == entries[-1]['to'] else '!='} last, served {'=' if served == alias else '!='} alias")


def shutdown_stalled(args, deadline_ms=3000):
    svc = Service(args, "shutdown-stalled", shutdown_deadline_ms=deadline_ms, header_read_timeout_ms=600000)
    stalled = socket.create_connection(("127.0.0.1", svc.port))
    stalled.sendall(b"POST /v1/forecast HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    took, code = svc.stop()
    stalled.close()
    report("sigterm: a stalled connection", f"exit 0 by the {deadline_ms / 1000:.0f} s deadline (+1 s)",
           code == 0 and took < deadline_ms / 1000 + 1, f"exit {code} after {took:.2f} s")
    return took


def cancelled(svc):
    status, body = svc.request("GET", "/metrics")
    match = re.search(rb"civicast_cancelled_work_total (\d+)", body)
    return int(match.group(1)) if match else 0


def shutdown_after_timeout(args):
    svc = Service(args, "shutdown-timeout", request_timeout_ms=50, compute_slots=1, shutdown_deadline_ms=5000)
    lines = [{"dataset": "chicago_ridership", "series": CHICAGO[i % 20], "start": "2016-08-15",
              "end": time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2016, 8, 15, 12, 0, 0, 0, 0, 0)) + (i // 20 + 1) * 2 * 86400)),
              "planned": 100000, "unit_cost": 1000} for i in range(500)]
    status, _ = svc.request("POST", "/v1/risk", json.dumps({"lines": lines}), key=svc.read_key)
    deadline = time.time() + 10
    while cancelled(svc) == 0 and time.time() < deadline:
        time.sleep(0.01)
    stopped_jobs = cancelled(svc)
    took, code = svc.stop()
    report("timeout: a 500-line risk request at 50 ms", "503, and its work stopped (counted)",
           status == 503 and stopped_jobs >= 1, f"{status}, civicast_cancelled_work_total {stopped_jobs}")
    report("sigterm: right after a timed-out request", "exit 0 well before the 5 s deadline",
           code == 0 and took < 5, f"exit {code} after {took:.2f} s")
    return took


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--template", required=True)
    args = parser.parse_args()
    cap = 64 << 20
    svc = Service(args, "main", max_model_file_bytes=cap)
    base = svc.rss()
    print(f"== civicast-serve pid {svc.process.pid} on 127.0.0.1:{svc.port}, {base >> 20} MiB at start", flush=True)
    try:
        oversized_answers(svc)
        json_edges(svc)
        csv_edges(svc)
        p99 = starvation(svc)
        risk_fanout(svc)
        slowloris(svc)
        bad_versions(svc, cap)
        concurrent_promotes(svc, args)
        peak, bound = svc.peak_rss(), svc.memory_bound()
        report("memory: peak over the campaign", "under the start size + the logged request bound",
               bound is not None and peak < base + bound,
               f"peak {peak >> 20} MiB; start {base >> 20} MiB + bound {(bound or 0) >> 20} MiB")
    finally:
        took, code = svc.stop()
    stalled = shutdown_stalled(args)
    after = shutdown_after_timeout(args)
    passed = sum(RESULTS)
    print(f"== health p99 under saturation {p99:.1f} ms; shutdown with a stalled client {stalled:.2f} s, "
          f"after a timed-out request {after:.2f} s; main service stopped in {took:.2f} s (exit {code})")
    print(f"hostile: {passed} passed, {len(RESULTS) - passed} failed")
    return 0 if passed == len(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
