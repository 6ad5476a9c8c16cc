# Sourced by the benchmark scripts: runs the reference implementations (eval/run_anchors.py:
# StatsForecast, MLForecast + LightGBM) on this machine, single-threaded, in a virtualenv created
# from the pinned eval/requirements.txt (var/bench/venv, created once).
#
#   reference_run <dataset> <models, comma-separated> <log> <rerun: 0|1> <label>
#
# Prints run_anchors.py's output (per-model seconds and metrics) and keeps it in <log>; an
# existing log is reused unless <rerun> is 1.

reference_venv=var/bench/venv

reference_run() {
  local dataset="$1" models="$2" log="$3" rerun="$4" label="$5"
  if [ "$rerun" != 1 ] && [ -s "$log" ]; then
    echo "== reference ($label): $dataset — reusing $log (--rerun-reference to run again)"
    return
  fi
  if [ ! -x "$reference_venv/bin/python" ] || [ ! -f "$reference_venv/.installed" ]; then
    echo "== creating the reference virtualenv ($reference_venv) from eval/requirements.txt"
    python3 -m venv "$reference_venv"
    "$reference_venv/bin/pip" install --quiet --upgrade pip
    "$reference_venv/bin/pip" install --quiet -r eval/requirements.txt
    touch "$reference_venv/.installed"
  fi
  # run_anchors.py reads ../datasets/<name>.csv beside its own folder: lay that out.
  local work=var/bench/reference/layout
  mkdir -p "$work/eval" "$work/datasets" "$(dirname "$log")"
  cp eval/run_anchors.py eval/score.py eval/protocol.json "$work/eval/"
  cp "datasets/$dataset/$dataset.csv" "$work/datasets/"
  echo "== reference ($label): $dataset — minutes"
  "$reference_venv/bin/python" "$work/eval/run_anchors.py" --datasets "$dataset" \
    --models "$models" --no-save | tee "$log.tmp"
  mv "$log.tmp" "$log"
}
