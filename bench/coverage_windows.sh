#!/usr/bin/env bash
# Coverage of a model's intervals over more backtest windows than the protocol's: the protocol
# scores the single-series datasets on 14 one-day windows, in which a coverage figure moves by
# several points with the days drawn (bench/coverage.py prints that range). This reruns the
# backtest with the manifest's window count replaced, reaching further back through the year,
# and prints the coverage breakdown of bench/coverage.py.
#
# Usage: bench/coverage_windows.sh <dataset> <windows> [--step n] [--model m] [--threads n]
#   <dataset>   a folder of datasets/ (e.g. elecdemand_halfhourly), or the path of a folder
#               holding a dataset.toml (e.g. var/heldout/heldout_monthly, see heldout_panels.py)
#   <windows>   number of backtest windows (the protocol's count is in the manifest)
#   --step      steps between window cutoffs (default: the manifest's)
#   --model     the one model to check (default: auto)
#   --threads   worker threads (default: all cores)
#
# A benchmark, not a test: it prints figures and checks nothing. Each window is a fresh fit, so
# time grows with the window count (auto on two cores, code of 2026-11-28: 264 s for 40 windows
# of the electricity data, 124 s for 40 of bikeshare, 862 s for 24 of Chicago). Results are kept in
# var/bench/coverage/<dataset>-<windows>[-step<n>][-<model>]/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,19p' "$0"
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
    --model) model="$2"; shift 2 ;;
    --threads) threads="--threads $2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
  esac
done
manifest="datasets/$dataset/dataset.toml"
case "$dataset" in
  */*) manifest="$dataset/dataset.toml"; dataset="$(basename "$dataset")" ;;
esac
if [ ! -f "$manifest" ]; then
  echo "no manifest $manifest"
  exit 2
fi

case "$model" in
  *,*) echo "--model takes one model, not a list"; exit 2 ;;
esac
out="var/bench/coverage/$dataset-$windows"
[ -n "$step" ] && out="$out-step$step"
[ "$model" != auto ] && out="$out-$model"
mkdir -p "$out"
# The copy lives elsewhere, so its data and calendar paths become absolute. The manifest is read
# with tomllib and only `key = value` lines of [data], [calendar] and [backtest] are rewritten; the
# copy is read back and checked, so a manifest written another way fails here, not silently.
python3 - "$manifest" "$out/dataset.toml" "$windows" "$step" <<'EOF'
import json
import os
import re
import sys
import tomllib

source, target, windows, step = sys.argv[1:5]
with open(source, "rb") as f:
    original = tomllib.load(f)
folder = os.path.dirname(os.path.abspath(source))
wanted = {("data", "path"): os.path.normpath(os.path.join(folder, original["data"]["path"]))}
if "holidays" in original.get("calendar", {}):
    wanted[("calendar", "holidays")] = os.path.normpath(
        os.path.join(folder, original["calendar"]["holidays"])
    )
wanted[("backtest", "windows")] = int(windows)
if step:
    wanted[("backtest", "step")] = int(step)
section, lines, done, backtest_end = None, [], set(), None
for line in open(source, encoding="utf-8"):
    header = re.match(r"\s*\[([A-Za-z_]+)\]\s*(#.*)?$", line)
    if header:
        section = header.group(1)
    key = re.match(r"\s*([A-Za-z_]+)\s*=", line)
    if key and (section, key.group(1)) in wanted:
        name = (section, key.group(1))
        line = f"{key.group(1)} = {json.dumps(wanted[name])}\n"
        done.add(name)
    lines.append(line)
    if section == "backtest":
        backtest_end = len(lines)
# A [backtest] key the manifest leaves out (step is optional) goes at the end of that section.
if backtest_end is not None:
    missing = [f"{k} = {json.dumps(v)}\n" for (sec, k), v in wanted.items() if sec == "backtest" and (sec, k) not in done]
    lines[backtest_end:backtest_end] = missing
copy = tomllib.loads("".join(lines))
for (sec, name), value in wanted.items():
    if copy.get(sec, {}).get(name) != value:
        sys.exit(f"{source}: could not set [{sec}] {name} = {value!r} in the copy")
open(target, "w", encoding="utf-8").writelines(lines)
EOF

echo "== building civicast (release)"
# The same packages as scripts/start: a different set unifies features differently and rebuilds
# polars.
cargo build --release --quiet -p civicast-training -p civicast-service
echo "== $dataset: $model over $windows windows"
start=$(date +%s)
# shellcheck disable=SC2086
./target/release/civicast-train backtest "$out/dataset.toml" --models "$model" $threads --quiet --out "$out"
echo "   wall time: $(($(date +%s) - start)) s"
python3 bench/coverage.py "$out/predictions.csv" "$model" --blocks 4
