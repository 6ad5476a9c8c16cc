#!/usr/bin/env bash
# Schema-driven fuzzing of the HTTP API: schemathesis (pinned in bench/fuzz/requirements.txt, in a
# venv this script creates) generates requests from /openapi.json, valid and invalid, and checks
# every answer: no 5xx, only documented status codes and content types, bodies that match the
# documented schemas. Loopback only; the service is started here and stopped at the end.
#
#   bench/fuzz_api.sh                      # the full run: 200 examples per operation (~2,000 cases)
#   bench/fuzz_api.sh --examples 25        # the short run CI does
#   CIVICAST_BIN=target/debug bench/fuzz_api.sh --examples 25
#
# Fits snaive on chicago_ridership into var/bench/fuzz/registry once (seconds). Exit status is
# schemathesis's: 0 only when no check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=200
while [ $# -gt 0 ]; do
  case "$1" in
    --examples) examples="$2"; shift 2 ;;
    *) echo "unknown option $1"; exit 2 ;;
  esac
done
bin="${CIVICAST_BIN:-target/release}"
if [ "$bin" = target/release ] && [ -z "${CIVICAST_BIN:-}" ]; then
  cargo build --release --quiet -p civicast-training -p civicast-service
fi

venv=bench/fuzz/.venv
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s bench/fuzz/requirements.txt "$venv/requirements.installed"; then
  echo "== fuzz: installing bench/fuzz/requirements.txt into $venv"
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check --quiet -r bench/fuzz/requirements.txt
  cp bench/fuzz/requirements.txt "$venv/requirements.installed"
fi

work=var/bench/fuzz
registry="$work/registry"
mkdir -p "$work"
if [ ! -e "$registry/aliases/chicago_ridership/production.json" ]; then
  "$bin/civicast-train" fit datasets/chicago_ridership/dataset.toml --registry "$registry" \
    --models snaive --quiet
fi

key="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash="$(printf '%s\n' "$key" | "$bin/civicast-serve" hash-key)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CIVICAST_API_KEYS="fuzz:admin:$hash" RUST_LOG=warn \
  "$bin/civicast-serve" --registry "$registry" --store "$work/store.db" --listen "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health/ready", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("fuzz: the service did not become ready")
PY

echo "== schemathesis $(cat bench/fuzz/requirements.txt | cut -d= -f3): $examples examples per operation"
status=0
# Run from the work folder: schemathesis keeps a cache folder where it runs.
venv_abs="$PWD/$venv"
cd "$work"
"$venv_abs/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "$examples" \
  --seed 20261205 \
  --workers 1 \
  --no-color || status=$?
if ! kill -0 $server 2>/dev/null; then
  echo "fuzz: the service died during the run; its log:"
  tail -50 serve.log
  exit 1
fi
exit $status
