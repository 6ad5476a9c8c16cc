"""Print civicast's learned models beside the best reference per metric, with the targets.

Usage: python3 bench/learned_compare.py <results dir> <anchor_results.json> <dataset>...
Reads <results dir>/<dataset>/metrics.json written by `civicast-train backtest`.
"""
import json
import sys


def main():
    results, anchors_path, datasets = sys.argv[1], sys.argv[2], sys.argv[3:]
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


if __name__ == "__main__":
    main()
