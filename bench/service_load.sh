#!/usr/bin/env bash
# Load benchmark of civicast-serve on loopback: requests/s and latency percentiles of
# POST /v1/forecast (one series, horizon 14) and POST /v1/risk (20 budget lines) beside
# GET /health/live on the same server.
#
# Four bounded runs of 10 s each (--seconds) on 127.0.0.1 only:
#   1. GET /health/live, closed loop (wrk, N connections, as fast as they go);
#   2. POST /v1/forecast, the same closed loop: the throughput comparison;
#   3. POST /v1/forecast at a fixed offered rate (1,000 requests/s by default): the latency a
#      client sees at that load, not under saturation;
#   4. POST /v1/risk with 20 budget lines (the 20 chicago_ridership stations, one or two weeks
#      ahead), closed loop: risk draws sample paths for every line (1,000 paths by default) and,
#      unlike forecasts, its answers are not cached, so this is the expensive route.
# wrk has no fixed-rate mode (wrk2 has, but it is not packaged), so run 3 paces wrk with its Lua
# `delay()` hook: each of C connections waits C/rate seconds after a response before its next
# request. While responses take far less than that pause (they do: tens of microseconds against
# 10 ms), the offered rate is C/pause and no request queues behind another, so the percentiles are
# service times at that rate. (If the server stalled, a paused loop would send fewer requests
# during the stall and under-count slow ones; the "requests/s" line shows the rate achieved.)
#
# Installs wrk (a Debian package) when missing. Builds civicast-train (polars: minutes) only when
# the benchmark registry does not exist yet. A benchmark, not a test: it prints figures and checks
# nothing beyond the forecast route answering 200 before the runs.
#
# Usage: bench/service_load.sh [--connections N] [--seconds S] [--rate R] [--binary PATH]
# (--binary serves with another civicast-serve build, e.g. a saved copy of an older commit, to
# compare two builds on the same machine minutes apart.)
set -euo pipefail
cd "$(dirname "$0")/.."

connections=16
seconds=10
rate=1000
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    *) echo "unknown option $1"; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "== installing wrk"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi

work=var/bench/load
registry="$work/registry"
mkdir -p "$work"
if [ ! -e "$registry/aliases/chicago_ridership/production.json" ]; then
  echo "== building civicast-train (release) and fitting chicago_ridership into $registry"
  cargo build --release --quiet -p civicast-training -p civicast-service
  target/release/civicast-train fit datasets/chicago_ridership/dataset.toml --registry "$registry" --quiet
fi
if [ -z "$binary" ]; then
  echo "== building civicast-serve (release)"
  cargo build --release --quiet -p civicast-training -p civicast-service
  binary=target/release/civicast-serve
fi

key="bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=18080
# RUST_LOG=info (the service's default) writes the access log, one line per request, to
# $work/serve.log; the default here keeps it off to measure the request path alone.
# The key's SHA-256 as hash-key prints it, computed without the binary so that --binary can run
# builds whose hash-key took the key differently.
CIVICAST_API_KEYS="bench:admin:$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)" \
  RUST_LOG="${RUST_LOG:-warn}" "$binary" --registry "$registry" --store "$work/store.db" --listen "127.0.0.1:$port" \
  > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.2
done

body='{"series":[{"dataset":"chicago_ridership","id":"Clark_Lake"}],"horizon":14}'
cat > "$work/forecast.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or socket errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
# The paced variant: each connection pauses connections/rate seconds between requests.
paced_connections=10
pause_ms=$(awk -v c="$paced_connections" -v r="$rate" 'BEGIN { printf "%d", 1000 * c / r }')
{ cat "$work/forecast.lua"; echo "delay = function() return $pause_ms end"; } > "$work/forecast-paced.lua"

# 20 budget lines: every station, alternately the first and the second forecast week (the data end
# on Sunday 2016-08-14), planned at 100 thousand riders with the default tolerance and costs.
stations="Addison Archer_35th Ashland Austin Belmont California Clark_Lake Clinton Harlem Irving_Park Jefferson_Park Kedzie Merchandise_Mart Monroe Montrose Oak_Park Polk Quincy_Wells Washington_Wells Western"
risk_body='{"lines":['
i=0
for s in $stations; do
  if [ $((i % 2)) = 0 ]; then period='"start":"2016-08-15","end":"2016-08-21"'; else period='"start":"2016-08-22","end":"2016-08-28"'; fi
  [ $i -gt 0 ] && risk_body="$risk_body,"
  risk_body="$risk_body{\"id\":\"$s\",\"dataset\":\"chicago_ridership\",\"series\":\"$s\",$period,\"planned\":100,\"unit_cost\":1000}"
  i=$((i + 1))
done
risk_body="$risk_body]}"
sed -e "s|^wrk.body = .*|wrk.body = '$risk_body'|" "$work/forecast.lua" > "$work/risk.lua"

# The status of one request, to fail loudly rather than benchmark error responses.
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/v1/forecast")
[ "$status" = 200 ] || { echo "forecast returned $status"; exit 1; }
answer=$(curl -s -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "$risk_body" "http://127.0.0.1:$port/v1/risk")
flags=$(printf '%s' "$answer" | grep -o '"flag":"[a-z]*"' | wc -l)
[ "$flags" = 20 ] || { echo "risk did not assess 20 lines: $answer" | head -c 2000; exit 1; }

# The server's CPU time (user + system, in clock ticks) from /proc: divided by the requests of a
# run it gives CPU per request, a figure that other load on a shared machine disturbs far less
# than requests/s or percentiles do.
ticks() { awk '{print $14 + $15}' "/proc/$server/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
run() {
  local name=$1; shift
  local before; before=$(ticks)
  wrk --latency -t 2 "$@" | tee "$work/$name.txt"
  echo "$(( $(ticks) - before ))" > "$work/$name.ticks"
}
url="http://127.0.0.1:$port"
echo "== GET /health/live (${seconds}s, $connections connections, closed loop)"
run health -c "$connections" -d "${seconds}s" "$url/health/live"
echo "== POST /v1/forecast, Clark_Lake, horizon 14 (${seconds}s, $connections connections, closed loop)"
run forecast -c "$connections" -d "${seconds}s" -s "$work/forecast.lua" "$url/v1/forecast"
echo "== POST /v1/forecast at $rate requests/s (${seconds}s, $paced_connections connections pausing ${pause_ms} ms)"
run forecast-paced -c "$paced_connections" -d "${seconds}s" -s "$work/forecast-paced.lua" "$url/v1/forecast"
echo "== POST /v1/risk, 20 budget lines (${seconds}s, $connections connections, closed loop)"
run risk -c "$connections" -d "${seconds}s" -s "$work/risk.lua" "$url/v1/risk"

rps() { awk '/Requests\/sec/ {print $2}' "$work/$1.txt"; }
p() { awk -v q="$2" '$1 == q {print $2}' "$work/$1.txt"; }
cpu() {
  awk -v t="$(cat "$work/$1.ticks")" -v hz="$hz" '/requests in/ { if (t > 0) printf "%.1fus", 1e6 * t / hz / $1; else print "-" }' "$work/$1.txt"
}
health=$(rps health)
forecast=$(rps forecast)
echo
echo "== summary"
printf "%-30s %11s %9s %9s %9s %13s\n" route "requests/s" p50 p90 p99 "server CPU/req"
for row in "GET /health/live:health" "POST /v1/forecast:forecast" "POST /v1/forecast @ $rate/s:forecast-paced" "POST /v1/risk (20 lines):risk"; do
  run=${row##*:}
  printf "%-30s %11s %9s %9s %9s %13s\n" "${row%:*}" "$(rps "$run")" "$(p "$run" 50%)" "$(p "$run" 90%)" "$(p "$run" 99%)" "$(cpu "$run")"
done
awk -v f="$forecast" -v h="$health" 'BEGIN { printf "forecast throughput = %.0f%% of health throughput\n", 100 * f / h }'
awk -v r="$(rps risk)" 'BEGIN { printf "risk: %.0f budget lines/s (20 per request)\n", 20 * r }'
echo "(the closed-loop rows are under saturation, wrk sharing this machine's cores with the server)"
