#!/usr/bin/env python3
"""Two backtests of one model compared window by window: per (series, cutoff) pair, the relative
difference of their mean absolute errors, (first - second) / mean of the two; printed as the mean
over pairs with its standard error and how often the first was better. A difference of aggregate
MASE smaller than a couple of standard errors here is noise.

Usage: bench/paired_windows.py FIRST/predictions.csv SECOND/predictions.csv [--model auto]
(the predictions.csv of `civicast-train backtest` or bench/coverage_windows.sh, the protocol's
format). A benchmark helper: it prints figures and checks nothing.
"""
import argparse
import collections
import csv
import math
import sys


def mean_abs_errors(path, model):
    errors = collections.defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            errors[(row["unique_id"], row["cutoff"])].append(abs(float(row["y"]) - float(row[model])))
    return {key: sum(v) / len(v) for key, v in errors.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--model", default="auto")
    args = parser.parse_args()
    first = mean_abs_errors(args.first, args.model)
    second = mean_abs_errors(args.second, args.model)
    keys = sorted(set(first) & set(second))
    diffs = [
        (first[k] - second[k]) / ((first[k] + second[k]) / 2)
        for k in keys
        if first[k] + second[k] > 0
    ]
    if len(diffs) < 2:
        sys.exit(f"{len(diffs)} pairs in common: nothing to compare")
    n = len(diffs)
    mean = sum(diffs) / n
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n)
    better = sum(d < 0 for d in diffs)
    print(
        f"{n} (series, cutoff) pairs: relative MAE difference (first - second) "
        f"{mean:+.2%} ± {se:.2%} (one standard error); first better in {better} of {n}"
    )


if __name__ == "__main__":
    main()
