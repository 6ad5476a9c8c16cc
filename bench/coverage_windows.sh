#!/usr/bin/env bash
# Coverage of a model's intervals over more backtest windows than the protocol's: the protocol
# scores the single-series datasets on 14 one-day windows, in which a coverage figure moves by
# several points with the days drawn (bench/coverage.py prints that range). This reruns the
# backtest with the manifest's window count replaced, reaching further back through the year,
# and prints the coverage breakdown of bench/coverage.py.
#
# Usage: bench/coverage_windows.sh <dataset> <windows> [--step n] [--models m] [--threads n]
#   <dataset>   a folder of datasets/ (e.g. elecdemand_halfhourly)
#   <windows>   number of backtest windows (the protocol's count is in the manifest)
#   --step      steps between window cutoffs (default: the manifest's)
#   --models    the model to check (default: auto)
#   --threads   worker threads (default: all cores)
#
# A benchmark, not a test: it prints figures and checks nothing. Each window is a fresh fit, so
# time grows with the window count (auto: about 13 s a window on the electricity data on two
# cores). Results are kept in var/bench/coverage/<dataset>-<windows>/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,17p' "$0"
  exit 2
fi
dataset="$1"
windows="$2"
shift 2
step=""
model="auto"
threads=""
while [ $# -gt 0 ]; do
  case "$1" in
    --step) step="$2"; shift 2 ;;
    --models) model="$2"; shift 2 ;;
    --threads) threads="--threads $2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
  esac
done
manifest="datasets/$dataset/dataset.toml"
if [ ! -f "$manifest" ]; then
  echo "no manifest $manifest"
  exit 2
fi

out="var/bench/coverage/$dataset-$windows"
mkdir -p "$out"
# The copy lives elsewhere, so its data and calendar paths become absolute.
python3 - "$manifest" "$out/dataset.toml" "$windows" "$step" <<'EOF'
import os
import re
import sys

source, target, windows, step = sys.argv[1:5]
folder = os.path.dirname(os.path.abspath(source))
lines = []
for line in open(source, encoding="utf-8"):
    key = re.match(r"\s*(path|holidays|windows|step)\s*=", line)
    if key and key.group(1) in ("path", "holidays"):
        value = re.search(r'"([^"]*)"', line).group(1)
        line = f'{key.group(1)} = "{os.path.normpath(os.path.join(folder, value))}"\n'
    elif key and key.group(1) == "windows":
        line = f"windows = {int(windows)}\n"
    elif key and key.group(1) == "step" and step:
        line = f"step = {int(step)}\n"
    lines.append(line)
open(target, "w", encoding="utf-8").writelines(lines)
EOF

echo "== building civicast (release)"
cargo build --release --quiet -p civicast-training
echo "== $dataset: $model over $windows windows"
start=$(date +%s)
# shellcheck disable=SC2086
./target/release/civicast-train backtest "$out/dataset.toml" --models "$model" $threads --quiet --out "$out"
echo "   wall time: $(($(date +%s) - start)) s"
python3 bench/coverage.py "$out/predictions.csv" "$model" --blocks 4
