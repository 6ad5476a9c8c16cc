#!/usr/bin/env bash
# Benchmark civicast's statistical models against the reference implementation (StatsForecast,
# via eval/run_anchors.py) on this machine: the same datasets, protocol and models, one after the
# other, single-threaded, and print accuracy and wall times side by side.
#
# Usage: bench/statistical.sh [--datasets a,b] [--rerun-reference] [--published]
#   --datasets         comma-separated subset (default: every bundled dataset)
#   --rerun-reference  run the reference again even if var/bench/reference/<dataset>.log exists
#   --published        skip the reference run; compare with eval/anchor_results.json instead
#
# The reference runs in a virtualenv this script creates (var/bench/venv) from the pinned
# eval/requirements.txt. It takes several minutes per dataset; its logs are kept and reused.
# This is a benchmark, not a test: it prints figures and checks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

datasets="chicago_ridership,bikeshare_hourly,elecdemand_halfhourly,fpp_monthly,fpp_quarterly"
rerun=0
published=0
while [ $# -gt 0 ]; do
  case "$1" in
    --datasets) datasets="$2"; shift 2 ;;
    --rerun-reference) rerun=1; shift ;;
    --published) published=1; shift ;;
    *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
  esac
done

out=var/bench
mkdir -p "$out/ours" "$out/reference"

echo "== building civicast (release)"
# The same packages as scripts/start: a different set unifies features differently and rebuilds
# polars.
cargo build --release --quiet -p civicast-training -p civicast-service

IFS=',' read -r -a names <<< "$datasets"
for d in "${names[@]}"; do
  echo "== civicast: $d (1 thread)"
  ./target/release/civicast-train backtest "datasets/$d/dataset.toml" \
    --models snaive,ets,theta,mstl --threads 1 --quiet --out "$out/ours/$d"
done

if [ "$published" = 0 ]; then
  # shellcheck source=bench/reference.sh
  . bench/reference.sh
  for d in "${names[@]}"; do
    reference_run "$d" SeasonalNaive,AutoETS,AutoTheta,MSTL "$out/reference/$d.log" "$rerun" StatsForecast
  done
fi

python3 bench/compare.py --ours "$out/ours" --reference "$out/reference" \
  --datasets "$datasets" $([ "$published" = 1 ] && echo --published)
