"""Print civicast's learned models beside the best reference per metric, with the targets.

Usage: python3 bench/learned_compare.py <results dir> <anchor_results.json> <dataset>... [--cpu <dir>]
Reads <results dir>/<dataset>/metrics.json written by `civicast-train backtest`. With --cpu, also
reads <dir>/<dataset>.log written by eval/run_anchors.py in the same benchmark run and prints our
seconds (one thread) beside the reference LightGBM's (LightGBM_exog where the dataset has
exogenous columns), with the ratio and the issue's target (auto at most 3x).
"""
import json
import os
import sys

from compare import reference_from_log


def cpu_table(results, reference_dir, datasets):
    print("\n## CPU, one thread, measured in this run\n")
    print("| dataset | model | seconds | reference | reference seconds | ratio |")
    print("|---|---|---:|---|---:|---:|")
    for d in datasets:
        log = os.path.join(reference_dir, f"{d}.log")
        if not os.path.exists(log):
            print(f"{d}: no reference log at {log}", file=sys.stderr)
            continue
        ref = reference_from_log(log)
        name = "LightGBM_exog" if "LightGBM_exog" in ref else "LightGBM"
        ref_seconds = ref.get(name, {}).get("seconds")
        ours = json.load(open(f"{results}/{d}/metrics.json"))["models"]
        for m in ours:
            ratio = m["seconds"] / ref_seconds if ref_seconds else float("nan")
            print(f"| {d} | {m['model']} | {m['seconds']:.1f} | {name} | "
                  f"{ref_seconds if ref_seconds is not None else float('nan'):.1f} | {ratio:.2f}x |")
    print("\nTarget (issue #21): auto at most 3x LightGBM_exog on chicago_ridership.")


def main():
    args = sys.argv[1:]
    reference_dir = None
    if "--cpu" in args:
        at = args.index("--cpu")
        reference_dir = args[at + 1]
        del args[at:at + 2]
    results, anchors_path, datasets = args[0], args[1], args[2:]
    anchors = json.load(open(anchors_path))["datasets"]
    for d in datasets:
        ours = json.load(open(f"{results}/{d}/metrics.json"))["models"]
        refs = anchors[d]["models"]

        def best(metric):
            scored = [(m[metric], name) for name, m in refs.items() if m.get(metric) is not None]
            return min(scored)

        print(f"\n## {d}\n")
        print("| model | MASE | sMAPE | RMSE | cov80 | cov95 | sCRPS | seconds |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for m in ours:
            print(
                f"| {m['model']} | {m['MASE']:.4f} | {m['sMAPE']:.3f} | {m['RMSE']:.4f} "
                f"| {m['cov80']:.3f} | {m['cov95']:.3f} | {m['sCRPS']:.5f} | {m['seconds']:.1f} |"
            )
        (mase_value, mase_name), (crps_value, crps_name) = best("MASE"), best("sCRPS")
        print(f"\nBest anchors: MASE {mase_value:.4f} ({mase_name}), sCRPS {crps_value:.5f} ({crps_name})")
        auto = next((m for m in ours if m["model"] == "auto"), None)
        if auto is None:
            continue
        mase_best, mase_name = best("MASE")
        crps_best, crps_name = best("sCRPS")
        checks = [
            (f"MASE {auto['MASE']:.4f} <= 0.95 x {mase_best:.4f} ({mase_name}) = {0.95 * mase_best:.4f}",
             auto["MASE"] <= 0.95 * mase_best),
            (f"sCRPS {auto['sCRPS']:.5f} <= 0.95 x {crps_best:.5f} ({crps_name}) = {0.95 * crps_best:.5f}",
             auto["sCRPS"] <= 0.95 * crps_best),
            (f"cov80 {auto['cov80']:.3f} within 0.03 of 0.80", abs(auto["cov80"] - 0.80) <= 0.03),
            (f"cov95 {auto['cov95']:.3f} within 0.03 of 0.95", abs(auto["cov95"] - 0.95) <= 0.03),
        ]
        print()
        for text, ok in checks:
            print(f"- auto {text}: {'met' if ok else 'NOT met'}")
    if reference_dir:
        cpu_table(results, reference_dir, datasets)


if __name__ == "__main__":
    main()
