#!/usr/bin/env bash
# The per-series figures docs/scale.md's capacity plan rests on (a benchmark, not a test):
#   - training CPU of `fit` (backtest for the series' figures, then the fit on all data), per
#     series and per stored value, for the statistical selection (snaive, ets, theta; one thread)
#     and for `auto` (all cores), on Chicago (daily) and bike share (hourly);
#   - the published models' size per series, and the resident memory of a civicast-serve that
#     serves them (read from /proc once it is ready), beside one serving the statistical models.
# The request costs and the store's bytes per row come from bench/service_load.sh and
# bench/live.py.
#
# Usage: bench/capacity.sh [datasets...]   (default: chicago_ridership bikeshare_hourly)
set -euo pipefail
cd "$(dirname "$0")/.."

datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(chicago_ridership bikeshare_hourly)
cargo build --release --quiet -p civicast-training -p civicast-service
work=$(mktemp -d /tmp/civicast-capacity.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== training CPU and model size ($(nproc) cores)"
printf '%-24s %-16s %8s %10s %12s %14s %14s\n' dataset models series values "CPU s" "CPU ms/value" "model B/series"
for models in snaive,ets,theta auto; do
  threads=(); [ "$models" = auto ] || threads=(--threads 1)
  for d in "${datasets[@]}"; do
    manifest=datasets/$d/dataset.toml
    out=$( { /usr/bin/time -f '%U %S' target/release/civicast-train fit "$manifest" --models "$models" \
               --registry "$work/$models" --quiet "${threads[@]}" >/dev/null; } 2>&1 | tail -1)
    cpu=$(echo "$out" | awk '{print $1 + $2}')
    version=$(ls -t "$work/$models/versions" | grep "^$d-" | head -1)
    series=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['series']))" \
             "$work/$models/versions/$version/manifest.json")
    values=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dataset']['rows'])" \
             "$work/$models/versions/$version/manifest.json")
    bytes=$(stat -c %s "$work/$models/versions/$version/models.json")
    printf '%-24s %-16s %8d %10d %12.1f %14.2f %14d\n' "$d" "$models" "$series" "$values" "$cpu" \
      "$(awk -v c="$cpu" -v n="$values" 'BEGIN {print c * 1000 / n}')" "$((bytes / series))"
  done
done

echo "== resident memory of civicast-serve serving them"
key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
digest=$(echo "$key" | target/release/civicast-serve hash-key)
for models in snaive,ets,theta auto; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  CIVICAST_API_KEYS="bench:admin:$digest" RUST_LOG=warn target/release/civicast-serve \
    --registry "$work/$models" --store "$work/store-${models//,/-}.db" --listen "127.0.0.1:$port" \
    >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    python3 - "$port" "$key" <<'PY' && break || sleep 0.2
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/health/ready", headers={"Authorization": f"Bearer {sys.argv[2]}"})
try:
    sys.exit(0 if b'"ready"' in urllib.request.urlopen(req, timeout=2).read() else 1)
except Exception:
    sys.exit(1)
PY
  done
  sleep 2
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  total=$(cat "$work/$models"/versions/*/models.json | wc -c)
  printf '%-16s RSS %8d kB   models.json in all %10d B\n' "$models" "$rss" "$total"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
