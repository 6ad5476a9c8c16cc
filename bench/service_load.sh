#!/usr/bin/env bash
# Load benchmark of civicast-serve on loopback: requests/s and latency percentiles of
# POST /v1/forecast (one series, horizon 14) beside GET /health/live on the same server.
# Bounded: two closed-loop runs of 10 seconds each (wrk), on 127.0.0.1 only. Installs wrk (a
# Debian package) when missing. A benchmark, not a test: it prints figures and checks nothing
# beyond the forecast route answering 200 before the run.
#
# Usage: bench/service_load.sh [--connections N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."

connections=16
seconds=10
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "unknown option $1"; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi

echo "== building civicast (release)"
cargo build --release --quiet -p civicast-training -p civicast-service

work=var/bench/load
registry="$work/registry"
mkdir -p "$work"
if ! target/release/civicast-train registry --registry "$registry" list | grep -q chicago_ridership; then
  echo "== fitting chicago_ridership into $registry"
  target/release/civicast-train fit datasets/chicago_ridership/dataset.toml --registry "$registry" --quiet
fi

key="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=18080
CIVICAST_API_KEYS="bench:admin:$(target/release/civicast-serve hash-key "$key")" \
  RUST_LOG=warn target/release/civicast-serve --registry "$registry" --listen "127.0.0.1:$port" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.2
done

cat > "$work/forecast.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"horizon":14}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# The status of one request, to fail loudly rather than benchmark error responses.
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' \
  -d '{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"horizon":14}' \
  "http://127.0.0.1:$port/v1/forecast")
[ "$status" = 200 ] || { echo "forecast returned $status"; exit 1; }

run() { wrk --latency -t 2 -c "$connections" -d "${seconds}s" "$@"; }
echo "== GET /health/live (${seconds}s, $connections connections)"
run "http://127.0.0.1:$port/health/live" | tee "$work/health.txt"
echo "== POST /v1/forecast, Clark_Lake, horizon 14 (${seconds}s, $connections connections)"
run -s "$work/forecast.lua" "http://127.0.0.1:$port/v1/forecast" | tee "$work/forecast.txt"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
p() { awk -v q="$2" '$1 == q {print $2}' "$1"; }
health=$(rps "$work/health.txt")
forecast=$(rps "$work/forecast.txt")
echo
echo "== summary"
printf "%-22s %12s %10s %10s %10s\n" route "requests/s" p50 p90 p99
printf "%-22s %12s %10s %10s %10s\n" "GET /health/live" "$health" "$(p "$work/health.txt" 50%)" "$(p "$work/health.txt" 90%)" "$(p "$work/health.txt" 99%)"
printf "%-22s %12s %10s %10s %10s\n" "POST /v1/forecast" "$forecast" "$(p "$work/forecast.txt" 50%)" "$(p "$work/forecast.txt" 90%)" "$(p "$work/forecast.txt" 99%)"
awk -v f="$forecast" -v h="$health" 'BEGIN { printf "forecast throughput = %.0f%% of health throughput\n", 100 * f / h }'
echo "(closed-loop wrk: latencies are under saturation, an upper bound for a 1,000 requests/s load)"
