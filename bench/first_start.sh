#!/usr/bin/env bash
# How long a newcomer waits: from `git clone` to the first forecast served by README's main-job
# command (scripts/start), build included, and until every series serves the default model.
#
# Usage: bench/first_start.sh [--limit-minutes N] [--source <repo>]
#   --source         what to clone (default: this checkout's committed HEAD)
#   --limit-minutes  give up after this long (default 45)
#
# Clones into a temporary folder with an empty target folder (no shared cargo target; the cargo
# registry's downloaded sources are reused, as on a machine that has fetched crates before, so
# the figure is build and training time, not download time), runs scripts/start on a free
# loopback port, and polls the API. Prints the elapsed time at each milestone beside the issue's
# targets (first forecast within 10 minutes, every default model live within 20). This is a
# benchmark, not a test: it prints figures and checks nothing. The clone is removed at the end.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
source_repo="$here"
limit_minutes=45
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_repo="$2"; shift 2 ;;
    --limit-minutes) limit_minutes="$2"; shift 2 ;;
    *) echo "unknown option $1 (see the header of $0)"; exit 2 ;;
  esac
done

work="$(mktemp -d /tmp/civicast-first-start.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  if [ -s "$work/repo/var/first-training.pid" ]; then
    kill -- "-$(cat "$work/repo/var/first-training.pid")" 2>/dev/null || true
  fi
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
mmss() { printf '%d:%02d' $(( $1 / 60 )) $(( $1 % 60 )); }

git clone --quiet "$source_repo" "$work/repo"
cd "$work/repo"
echo "== $(git log -1 --format='%h %s' | cut -c1-80)"
echo "== scripts/start on 127.0.0.1:$port (output in $work/start.log)"
CIVICAST_LISTEN="127.0.0.1:$port" CARGO_TARGET_DIR="$work/repo/target" \
  setsid scripts/start > "$work/start.log" 2>&1 &
server=$!

built="" first="" every_dataset="" all_auto=""
key=""
deadline=$(( start + limit_minutes * 60 ))
datasets=$(ls datasets/*/dataset.toml | wc -l)
while [ "$(date +%s)" -lt "$deadline" ]; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "scripts/start stopped:"; tail -20 "$work/start.log"; exit 1
  fi
  if [ -z "$built" ] && grep -q "^== no models\|^== serving" "$work/start.log"; then
    built=$(elapsed); echo "   build done at $(mmss "$built")"
  fi
  if [ -z "$key" ] && [ -s var/local-api-key ]; then key="$(cat var/local-api-key)"; fi
  if [ -n "$key" ]; then
    status=$(python3 - "$port" "$key" <<'EOF' || true
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
def call(path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
series = []
offset = 0
while True:
    page = call(f"/v1/series?limit=1000&offset={offset}")
    series += page["series"]
    offset += len(page["series"])
    if offset >= page["total"] or not page["series"]:
        break
by_dataset = {}
for s in series:
    by_dataset.setdefault(s["dataset"], s)
answered = 0
for d, s in by_dataset.items():
    out = call("/v1/forecast", {"series": [{"dataset": d, "id": s["id"]}]})
    answered += len(out["forecasts"][0]["steps"]) > 0
auto = sum(s["model"] == "auto" for s in series)
coming = sum("coming" in s for s in series)
print(answered, len(series), auto, coming)
EOF
)
    read -r answered total auto coming <<< "${status:-0 0 0 0}"
    if [ -z "$first" ] && [ "${answered:-0}" -gt 0 ]; then
      first=$(elapsed); echo "   first forecast served at $(mmss "$first")"
    fi
    if [ -z "$every_dataset" ] && [ "${answered:-0}" -ge "$datasets" ]; then
      every_dataset=$(elapsed); echo "   every dataset forecast at $(mmss "$every_dataset")"
    fi
    # The background fit has published every dataset and the service no longer reports one
    # coming (it has polled the registry since).
    if [ -n "$first" ] && [ ! -e var/first-training.pending ] && [ "${coming:-1}" = 0 ]; then
      all_auto=$(elapsed); echo "   every default model live at $(mmss "$all_auto") ($auto of $total series on auto)"
      break
    fi
  fi
  sleep 5
done

echo
echo "| milestone | elapsed | target |"
echo "|---|---|---|"
echo "| release build (from an empty target) | ${built:+$(mmss "$built")} | |"
echo "| first forecast served | ${first:+$(mmss "$first")} | 10:00 |"
echo "| every dataset forecast | ${every_dataset:+$(mmss "$every_dataset")} | |"
echo "| every default model live (auto: ${auto:-?} of ${total:-?} series) | ${all_auto:+$(mmss "$all_auto")} | 20:00 |"
echo
echo "(clone of $(git rev-parse --short HEAD), $(nproc) cores; training log:)"
cat var/log/first-training.log 2>/dev/null | grep -v '^$' | tail -10 || true
