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
cargo build --release --quiet -p civicast-training

IFS=',' read -r -a names <<< "$datasets"
for d in "${names[@]}"; do
  echo "== civicast: $d (1 thread)"
  ./target/release/civicast-train backtest "datasets/$d/dataset.toml" \
    --models snaive,ets,theta,mstl --threads 1 --quiet --out "$out/ours/$d"
done

if [ "$published" = 0 ]; then
  venv="$out/venv"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.installed" ]; then
    echo "== creating the reference virtualenv ($venv) from eval/requirements.txt"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r eval/requirements.txt
    touch "$venv/.installed"
  fi
  # run_anchors.py reads ../datasets/<name>.csv beside its own folder: lay that out.
  work="$out/reference/layout"
  mkdir -p "$work/eval" "$work/datasets"
  cp eval/run_anchors.py eval/score.py eval/protocol.json "$work/eval/"
  for d in "${names[@]}"; do
    log="$out/reference/$d.log"
    if [ "$rerun" = 1 ] || [ ! -s "$log" ]; then
      cp "datasets/$d/$d.csv" "$work/datasets/"
      echo "== reference (StatsForecast): $d — several minutes"
      "$venv/bin/python" "$work/eval/run_anchors.py" --datasets "$d" \
        --models SeasonalNaive,AutoETS,AutoTheta,MSTL --no-save | tee "$log.tmp"
      mv "$log.tmp" "$log"
    else
      echo "== reference (StatsForecast): $d — reusing $log (--rerun-reference to run again)"
    fi
  done
fi

python3 bench/compare.py --ours "$out/ours" --reference "$out/reference" \
  --datasets "$datasets" $([ "$published" = 1 ] && echo --published)
