#!/usr/bin/env bash
# A hostile-input campaign against the release civicast-serve, on loopback only: one line per
# scenario with its expected outcome and PASS or FAIL, then the service's peak memory against the
# documented bound, /health/live's p99 while the compute slots are saturated, and the shutdown
# times with stalled clients. Every loop is bounded in count and time, and every service it starts
# it stops. See docs/hardening.md for what each scenario guards against.
#
# It builds civicast (release) when needed, fits snaive and ets on chicago_ridership (twice) and
# bikeshare_hourly into var/bench/hostile/registry-template once (seconds), and runs bench/hostile.py
# (Python 3 standard library only). Exit status 0 only when every scenario passes.
#
# Usage: bench/hostile.sh [--binary DIR]   (DIR holds civicast-serve and civicast-train)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/release
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) bin="$2"; shift 2 ;;
    *) echo "unknown option $1"; exit 2 ;;
  esac
done
if [ "$bin" = target/release ]; then
  echo "== building civicast (release)"
  cargo build --release --quiet -p civicast-training -p civicast-service
fi
work=var/bench/hostile
mkdir -p "$work"
template="$work/registry-template"
if [ ! -e "$template/aliases/chicago_ridership/production.json" ]; then
  rm -rf "$template"
  # Two versions of chicago_ridership (the promote scenario alternates them), one of bike-share
  # (the wrong-dataset scenario points its alias at chicago's).
  for models in snaive,ets snaive; do
    "$bin/civicast-train" fit datasets/chicago_ridership/dataset.toml --registry "$template" \
      --models "$models" --quiet
  done
  "$bin/civicast-train" fit datasets/bikeshare_hourly/dataset.toml --registry "$template" \
    --models snaive,ets --quiet
fi
exec python3 bench/hostile.py --bin "$bin" --work "$work" --template "$template"
