#!/usr/bin/env bash
# Benchmark civicast's learned models (linear, gbm, neural, auto) under the evaluation protocol and
# print them beside the best reference model of eval/anchor_results.json (StatsForecast,
# MLForecast + LightGBM, Prophet), with the issue's targets: auto at least 5% better than the best
# anchor on MASE and on sCRPS, and 80%/95% coverage within 3 points of nominal.
#
# Usage: bench/learned.sh [--datasets a,b] [--models m1,m2] [--threads n] [--cpu] [--rerun-reference]
#   --datasets  comma-separated subset (default: every bundled dataset)
#   --models    learned models to run (default: linear,gbm,neural,auto)
#   --threads   worker threads for the backtest (default: all cores); seconds are wall time
#   --cpu       one thread, and the reference MLForecast + LightGBM run on this machine in the
#               same run (eval/run_anchors.py, single-threaded): prints both CPU times and
#               their ratio (the reference log is reused unless --rerun-reference)
#
# This is a benchmark, not a test: it prints figures and checks nothing. Results are kept in
# var/bench/learned/<dataset>/ (predictions.csv is readable by eval/score.py).
set -euo pipefail
cd "$(dirname "$0")/.."

datasets="chicago_ridership,bikeshare_hourly,elecdemand_halfhourly,fpp_monthly,fpp_quarterly"
models="linear,gbm,neural,auto"
threads=""
cpu=0
rerun=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) cpu=1; threads="--threads 1"; shift ;;
    --rerun-reference) rerun=1; shift ;;
    --datasets) datasets="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --threads) threads="--threads $2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
  esac
done

out=var/bench/learned
mkdir -p "$out"
echo "== building civicast (release)"
# The same packages as scripts/start: a different set unifies features differently and rebuilds
# polars.
cargo build --release --quiet -p civicast-training -p civicast-service

IFS=',' read -r -a names <<< "$datasets"
for d in "${names[@]}"; do
  echo "== civicast: $d ($models)"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  ./target/release/civicast-train backtest "datasets/$d/dataset.toml" \
    --models "$models" $threads --quiet --out "$out/$d"
  end=$(date +%s.%N)
  echo "   wall time: $(python3 -c "print(f'{$end - $start:.1f}')") s"
done

if [ "$cpu" = 1 ]; then
  # shellcheck source=bench/reference.sh
  . bench/reference.sh
  for d in "${names[@]}"; do
    reference_run "$d" LightGBM_exog,LightGBM "$out/reference/$d.log" "$rerun" "MLForecast + LightGBM"
  done
  python3 bench/learned_compare.py "$out" eval/anchor_results.json "${names[@]}" --cpu "$out/reference"
else
  python3 bench/learned_compare.py "$out" eval/anchor_results.json "${names[@]}"
fi
