#!/usr/bin/env python3
"""Where a model's intervals miss: 80%/95% coverage of a backtest's predictions, broken down.

Usage: bench/coverage.py <predictions.csv> [model] [--blocks N]

<predictions.csv> is what `civicast-train backtest --out <dir>` writes (the protocol's
predictions format); [model] defaults to its first model column. Prints overall coverage, the
factor by which every 80% interval would have to be widened to cover 80% (a diagnosis: a factor
chosen on the evaluation windows must never be used to make a forecast), and coverage by series,
by forecast window and by block of forecast steps (N blocks, default 6), each with the share of
actuals above the point forecast (0.5 when errors are balanced) or the mean 80% width relative
to the point. It also prints how far each tail misses, and a bootstrap range of the coverage
over forecast windows: windows are resampled with replacement (all series of a window together,
since they share its weather and events), so the range says how much the figure would move with
other windows of the same kind — with 14 one-day windows, a few points.

A diagnostic, not a test: it prints figures and checks nothing. Standard library only.
"""

import csv
import random
import sys
from collections import Counter, defaultdict


def main(argv):
    args = list(argv)
    blocks = 6
    if "--blocks" in args:
        at = args.index("--blocks")
        blocks = int(args[at + 1])
        del args[at : at + 2]
    if not args:
        sys.exit(__doc__)
    with open(args[0], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{args[0]}: no rows")
    fixed = {"unique_id", "ds", "cutoff", "y"}
    model = args[1] if len(args) > 1 else next(k for k in rows[0] if k not in fixed and "-q" not in k)
    for column in (model, f"{model}-q0.1", f"{model}-q0.9", f"{model}-q0.025", f"{model}-q0.975"):
        if column not in rows[0]:
            sys.exit(f"{args[0]}: no column {column!r}")

    horizon = max(Counter((r["unique_id"], r["cutoff"]) for r in rows).values())
    step = Counter()
    groups = {"series": defaultdict(list), "window": defaultdict(list), "steps": defaultdict(list)}
    ratios = []
    for r in rows:
        key = (r["unique_id"], r["cutoff"])
        j = step[key]
        step[key] += 1
        y, point = float(r["y"]), float(r[model])
        lo80, hi80 = float(r[f"{model}-q0.1"]), float(r[f"{model}-q0.9"])
        lo95, hi95 = float(r[f"{model}-q0.025"]), float(r[f"{model}-q0.975"])
        record = (
            lo80 <= y <= hi80,
            lo95 <= y <= hi95,
            y > point,
            (hi80 - lo80) / abs(point) if point else 0.0,
            y < lo80,
            y > hi80,
        )
        groups["series"][r["unique_id"]].append(record)
        groups["window"][r["cutoff"]].append(record)
        first = j * blocks // horizon * horizon // blocks
        last = ((j * blocks // horizon) + 1) * horizon // blocks
        groups["steps"][(first, last)].append(record)
        half = hi80 - point if y > point else point - lo80
        ratios.append(abs(y - point) / half if half > 0 else float("inf"))

    def cov(records, i):
        return sum(r[i] for r in records) / len(records)

    everything = [r for records in groups["series"].values() for r in records]
    ratios.sort()
    print(f"{model}: {len(everything)} forecasts, cov80 {cov(everything, 0):.3f}, cov95 {cov(everything, 1):.3f}")
    print(f"80% intervals would need x{ratios[int(0.8 * len(ratios))]:.2f} their width to cover 80%")
    print(f"below the 10% quantile {cov(everything, 4):.3f}, above the 90% quantile {cov(everything, 5):.3f}")
    windows = list(groups["window"].values())
    rng = random.Random(0)
    draws = {0: [], 1: []}
    for _ in range(2000):
        sample = [r for w in rng.choices(windows, k=len(windows)) for r in w]
        for i in draws:
            draws[i].append(cov(sample, i))
    for i, level in ((0, 80), (1, 95)):
        d = sorted(draws[i])
        print(f"cov{level} over resampled windows: 90% of draws within {d[100]:.3f} .. {d[1899]:.3f}")
    for name, label in (("series", "series"), ("window", "window (cutoff)"), ("steps", "steps")):
        print(f"\nby {label}:")
        items = groups[name].items()
        if name == "series":
            items = sorted(items, key=lambda kv: cov(kv[1], 0))
        else:
            items = sorted(items)
        for key, records in items:
            if name == "steps":
                key = f"{key[0] + 1}-{key[1]}"
            extra = (
                f"width80/point {sum(r[3] for r in records) / len(records):.3f}"
                if name == "steps"
                else f"above point {cov(records, 2):.2f}"
            )
            print(f"  {key:<30} cov80 {cov(records, 0):.2f}  cov95 {cov(records, 1):.2f}  {extra}")


if __name__ == "__main__":
    main(sys.argv[1:])
