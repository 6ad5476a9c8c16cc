#!/usr/bin/env python3
"""Print civicast's backtest results beside the reference implementation's.

Reads civicast's metrics.json (var/bench/ours/<dataset>/) and either the logs of a reference run
on this machine (var/bench/reference/<dataset>.log, written by bench/statistical.sh) or, with
--published, eval/anchor_results.json. Standard library only.
"""
import argparse
import json
import os
import re
import sys

PAIRS = [("snaive", "SeasonalNaive"), ("ets", "AutoETS"), ("theta", "AutoTheta"), ("mstl", "MSTL")]
METRICS = ["MASE", "sMAPE", "RMSE", "cov80", "cov95", "sCRPS"]


def reference_from_log(path):
    """{model: {metric: value, 'seconds': s}} from run_anchors.py's printed output."""
    out = {}
    with open(path) as fh:
        text = fh.read()
    for name, secs in re.findall(r"^\s+(\w+)\s+([\d.]+) s\s+\(", text, re.M):
        out.setdefault(name, {})["seconds"] = float(secs)
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and cells[0] in dict((r, o) for o, r in PAIRS):
            for metric, cell in zip(METRICS, cells[1:7]):
                try:
                    out.setdefault(cells[0], {})[metric] = float(cell)
                except ValueError:
                    pass
    return out


def reference_published(dataset):
    with open(os.path.join(os.path.dirname(__file__), "..", "eval", "anchor_results.json")) as fh:
        return json.load(fh)["datasets"][dataset]["models"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--published", action="store_true")
    a = ap.parse_args()
    source = "published anchor_results.json" if a.published else "reference run on this machine"
    print(f"\ncivicast vs StatsForecast 2.1.1 ({source}); both single-threaded\n")
    header = f"{'dataset':<22} {'model':<7} {'MASE':>7} {'ref':>7} {'Δ%':>6}  {'sCRPS':>8} {'ref':>8}  {'cov80':>5} {'cov95':>5}  {'seconds':>8} {'ref s':>8} {'speed-up':>8}"
    print(header)
    print("-" * len(header))
    for d in a.datasets.split(","):
        with open(os.path.join(a.ours, d, "metrics.json")) as fh:
            ours = {m["model"]: m for m in json.load(fh)["models"]}
        if a.published:
            ref = reference_published(d)
        else:
            log = os.path.join(a.reference, f"{d}.log")
            if not os.path.exists(log):
                print(f"{d}: no reference log at {log}", file=sys.stderr)
                continue
            ref = reference_from_log(log)
        for our_name, ref_name in PAIRS:
            o, r = ours.get(our_name), ref.get(ref_name, {})
            if o is None:
                continue
            def f(v, fmt):
                return format(v, fmt) if isinstance(v, (int, float)) and v == v else "–"
            rm, rs = r.get("MASE"), r.get("seconds")
            delta = 100 * (o["MASE"] / rm - 1) if rm else float("nan")
            speed = rs / o["seconds"] if rs and o["seconds"] > 0 else float("nan")
            print(f"{d:<22} {our_name:<7} {f(o['MASE'], '.4f'):>7} {f(rm, '.4f'):>7} {f(delta, '+.1f'):>6}  "
                  f"{f(o['sCRPS'], '.5f'):>8} {f(r.get('sCRPS'), '.5f'):>8}  {f(o['cov80'], '.3f'):>5} {f(o['cov95'], '.3f'):>5}  "
                  f"{f(o['seconds'], '.2f'):>8} {f(rs, '.1f'):>8} {f(speed, '.1f'):>7}x")
    print("\nΔ% = our MASE relative to the reference (negative = more accurate). Reference settings"
          "\n(input-size caps per model) are in eval/run_anchors.py; ours come from each dataset.toml.")


if __name__ == "__main__":
    main()
