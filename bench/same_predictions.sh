#!/usr/bin/env bash
# Checks that a change altered no forecast: runs the protocol backtest of every model on the
# bundled datasets with two builds of civicast-train and compares their predictions.csv byte for
# byte. The reference build is a binary you kept from before the change (or build one with
# `git worktree add /tmp/before <commit> && cargo build --release --manifest-path /tmp/before/Cargo.toml`).
#
#   bench/same_predictions.sh /tmp/civicast-train-before                  # every model
#   bench/same_predictions.sh /tmp/civicast-train-before snaive,ets,gbm   # some models
#   DATASETS="bikeshare_hourly" bench/same_predictions.sh /tmp/before ... # some datasets
#
# The learned models take most of the time (auto on Chicago about ten minutes on two cores).
# Exit status 0 only when every file is identical.
set -euo pipefail
cd "$(dirname "$0")/.."

before="$1"
models="${2:-snaive,ets,mstl,theta,linear,gbm,neural,auto}"
datasets="${DATASETS:-chicago_ridership bikeshare_hourly elecdemand_halfhourly fpp_monthly fpp_quarterly}"
# The same packages as scripts/start: a different set unifies features differently and rebuilds
# polars.
cargo build --release --quiet -p civicast-training -p civicast-service
after=target/release/civicast-train
work=var/bench/same_predictions
rm -rf "$work"
status=0
for dataset in $datasets; do
  for side in before after; do
    bin=$before
    [ "$side" = after ] && bin=$after
    start=$(date +%s)
    "$bin" backtest "datasets/$dataset/dataset.toml" --models "$models" \
      --out "$work/$side/$dataset" --quiet
    echo "== $dataset ($side): $(( $(date +%s) - start )) s"
  done
  if cmp -s "$work/before/$dataset/predictions.csv" "$work/after/$dataset/predictions.csv"; then
    echo "SAME     $dataset: predictions.csv identical ($(wc -l < "$work/after/$dataset/predictions.csv") lines, models $models)"
  else
    echo "DIFFERENT $dataset: predictions.csv differs (models $models)"
    status=1
  fi
done
exit $status
