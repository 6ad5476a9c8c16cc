#!/usr/bin/env bash
# What a sharded fit costs beside an unsharded one (a benchmark, not a test; docs/scale.md):
# `fit` of one dataset, then the same fit as scripts/fit-sharded runs it — the shared stage's N
# pieces and the N shards, one after the other (so each one's CPU and memory are its own), and
# the assembly — with each
# step's CPU seconds, wall seconds, peak memory and the size of what it wrote; then whether the two
# versions' models.json are the same bytes.
#
# Usage: bench/sharded.sh [N] [dataset] [models]   (default: 4 chicago_ridership auto)
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-4} dataset=${2:-chicago_ridership} models=${3:-auto}
manifest=datasets/$dataset/dataset.toml
cargo build --release --quiet -p civicast-training
train=target/release/civicast-train
work=$(mktemp -d /tmp/civicast-sharded.XXXXXX)
trap 'rm -rf "$work"' EXIT

row() { # label, then the command
  local label=$1; shift
  local out
  out=$( { /usr/bin/time -f '%U %S %e %M' "$@" >/dev/null; } 2>&1 | tail -1)
  read -r user sys wall rss <<<"$out"
  printf '%-26s %10.1f %10.1f %12d' "$label" "$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')" \
    "$wall" "$((rss / 1024))"
}
size() { [ -f "$1" ] && printf ' %12d\n' "$(( $(stat -c %s "$1") / 1024 ))" || printf ' %12s\n' -; }

echo "== $dataset, $models, $(nproc) cores, N = $count"
printf '%-26s %10s %10s %12s %12s\n' step "CPU s" "wall s" "peak MiB" "wrote KiB"
row "fit (unsharded)" "$train" fit "$manifest" --registry "$work/whole" --models "$models" --quiet
size "$(ls -d "$work"/whole/versions/*/models.json)"
shards=$work/sharded/shards/$dataset
for ((i = 0; i < count; i++)); do
  row "shared stage $i/$count" "$train" fit "$manifest" --registry "$work/sharded" --models "$models" --stage shared --shard "$i/$count" --quiet
  size "$shards/shared-$i-of-$count.json"
done
for ((i = 0; i < count; i++)); do
  row "shard $i/$count" "$train" fit "$manifest" --registry "$work/sharded" --models "$models" --shard "$i/$count" --quiet
  size "$shards/part-$i-of-$count.json"
done
row "assemble" "$train" registry --registry "$work/sharded" assemble "$manifest" --quiet
size "$(ls -d "$work"/sharded/versions/*/models.json)"
if cmp -s "$work"/whole/versions/*/models.json "$work"/sharded/versions/*/models.json; then
  echo "models.json: the same bytes sharded and unsharded"
else
  echo "models.json: DIFFERENT sharded and unsharded"; exit 1
fi
