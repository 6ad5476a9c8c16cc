#!/usr/bin/env python3
"""The reference models on a longer backtest than the protocol's, beside one of ours: MASE per
model, and per window the relative difference of ours against each reference.

The protocol scores the monthly and quarterly panels on four windows, too few to tell a few per
cent from noise; bench/coverage_windows.sh backtests ours over more. This runs the references
over the same windows, exactly as eval/run_anchors.py defines them (its models, LightGBM lags
and target transforms; no intervals), and prints them beside ours.

Usage (the reference virtualenv of bench/reference.sh, var/bench/venv):
  var/bench/venv/bin/python bench/reference_windows.py MANIFEST OURS/predictions.csv... \
      [--like DATASET] [--models AutoARIMA,MSTL,LightGBM] [--model auto]

MANIFEST is a dataset.toml with the backtest's windows and step (bench/coverage_windows.sh writes
them under var/bench/coverage/); each OURS the predictions.csv of `civicast-train backtest` on it
(several: two builds side by side, each against the same reference run).
--like names the protocol dataset whose reference settings apply (default: the manifest's
name), so a panel the protocol does not have can borrow those of one of its kind. A benchmark
helper: it prints figures and checks nothing.
"""
import argparse
import json
import math
import os
import sys
import tomllib

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "eval"))
import run_anchors as A  # noqa: E402


def reference_forecasts(df, P, cfg, name, models):
    """Each reference model's point forecasts over P's windows, merged on the protocol's keys."""
    keys = ["unique_id", "ds", "cutoff"]
    merged = None
    for mname, kind, kw in A.model_plan(name, P, cfg, set(models)):
        if kind == "sf":
            out, secs = A.run_statsforecast(df, P, mname, kw["model"], kw["exog"],
                                            kw["input_size"], P["n_windows"])
        elif kind == "lgb":
            out, secs = A.run_lightgbm(df, P, mname, cfg["lgb"], kw["exog"], P["n_windows"],
                                       intervals=False)
        else:
            continue
        print(f"  {mname:16s} {secs:8.1f} s", flush=True)
        out = out[keys + [mname]].copy()
        out["ds"] = A.fmt_ds(out["ds"], P["ds_format"])
        out["cutoff"] = A.fmt_ds(out["cutoff"], P["ds_format"])
        out["unique_id"] = out["unique_id"].astype(str)
        merged = out if merged is None else merged.merge(out, on=keys)
    return merged


def mase_per_window(df, predictions, column, m):
    """MASE of `column` per (series, cutoff): its MAE over the in-sample seasonal naive MAE of the
    series up to the cutoff."""
    history = {u: g.set_index("ds")["y"] for u, g in df.groupby("unique_id")}
    out = {}
    for (u, cutoff), g in predictions.groupby(["unique_id", "cutoff"]):
        y = history[u][history[u].index <= pd.Timestamp(cutoff)].to_numpy()
        scale = np.mean(np.abs(y[m:] - y[:-m]))
        out[(u, cutoff)] = np.mean(np.abs(g["y"] - g[column])) / scale
    return pd.Series(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("ours", nargs="+")
    ap.add_argument("--like", help="the protocol dataset whose reference settings apply")
    ap.add_argument("--models", default="AutoARIMA,MSTL,LightGBM")
    ap.add_argument("--model", default="auto", help="our model's column in OURS")
    args = ap.parse_args()

    with open(args.manifest, "rb") as f:
        manifest = tomllib.load(f)
    name = args.like or manifest["name"]
    with open(os.path.join(ROOT, "eval", "protocol.json")) as f:
        P = dict(json.load(f)["datasets"][name])
    P["h"] = manifest["forecast"]["horizon"]
    P["n_windows"] = manifest["backtest"]["windows"]
    P["step_size"] = manifest["backtest"]["step"]
    cfg = A.CONFIG[name]
    path = os.path.join(os.path.dirname(os.path.abspath(args.manifest)), manifest["data"]["path"])
    data = manifest["data"]
    df = pd.read_csv(path).rename(columns={data["id"]: "unique_id", data["time"]: "ds",
                                           data["target"]: "y"})
    df["unique_id"] = df["unique_id"].astype(str)
    df["ds"] = pd.to_datetime(df["ds"])
    df = df.sort_values(["unique_id", "ds"]).reset_index(drop=True)

    print(f"== references on {args.manifest}: {P['n_windows']} windows of {P['h']} steps, "
          f"every {P['step_size']}; settings of {name}", flush=True)
    refs = reference_forecasts(df, P, cfg, name, args.models.split(","))
    references = [c for c in refs.columns if c not in ("unique_id", "ds", "cutoff")]
    m = P["mase_season"]
    scores = {}
    for path in args.ours:
        ours = pd.read_csv(path, dtype={"unique_id": str, "ds": str, "cutoff": str})
        joined = ours[["unique_id", "ds", "cutoff", "y", args.model]].merge(
            refs, on=["unique_id", "ds", "cutoff"])
        if len(joined) != len(ours):
            sys.exit(f"{path}: {len(ours)} rows, {len(joined)} matched the references' "
                     "windows; were both run on the same manifest?")
        scores[path] = mase_per_window(df, joined, args.model, m)
        for c in references:
            scores.setdefault(c, mase_per_window(df, joined, c, m))
    print(f"\n| model | MASE over {P['n_windows']} windows |\n|---|---:|")
    for c, s in scores.items():
        print(f"| {c if c in references else f'{args.model} ({c})'} | {s.mean():.4f} |")
    print(f"\n| {args.model} | against | per window: MASE ratio − 1 | ± one standard error | "
          "windows where ours is better |\n|---|---|---:|---:|---:|")
    for path in args.ours:
        ours_by_window = scores[path].groupby(level=1).mean()
        for c in references:
            rel = ours_by_window / scores[c].groupby(level=1).mean() - 1
            se = rel.std() / math.sqrt(len(rel))
            print(f"| {path} | {c} | {100 * rel.mean():+.1f}% | {100 * se:.1f}% | "
                  f"{int((rel < 0).sum())} of {len(rel)} |")


if __name__ == "__main__":
    main()
