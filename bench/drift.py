#!/usr/bin/env python3
"""False alarms of the drift test (not a test): replay the held-out end of bundled datasets into
a service fitted before it, one step per batch, and count the series the drift test flags.

The replayed weeks come from the same process the backtest saw, so a flag is a false alarm in
the sense the test's size speaks of, unless the data changed for real in those weeks (summer
against the spring the backtest windows covered, say); the count bounds the false-alarm rate
from above.

    bench/drift.py [--models ets] [--bin target/release]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from live import ROOT, Service, call, run  # noqa: E402

CASES = [
    ("chicago_ridership", "2016-06-19"),          # 8 weeks of 20 daily series, h = 14
    ("bikeshare_hourly", "2011-12-03T23:00:00"),  # 4 weeks of 1 hourly series, h = 24
    ("elecdemand_halfhourly", "2014-12-03T23:30:00"),  # 4 weeks, half-hourly, h = 48
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="ets")
    parser.add_argument("--future-steps", type=int, default=0,
                        help="send the next N steps' future-known columns after each batch (bench/replay.py)")
    parser.add_argument("--datasets", default=",".join(c[0] for c in CASES))
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "civicast-training", "-p", "civicast-service"],
                   cwd=ROOT, check=True)
    train = os.path.join(ROOT, "target", "release", "civicast-train")
    total_judged = total_flagged = 0
    for dataset, start in [c for c in CASES if c[0] in args.datasets.split(",")]:
        manifest = os.path.join(ROOT, "datasets", dataset, "dataset.toml")
        with tempfile.TemporaryDirectory() as work:
            registry, store = os.path.join(work, "registry"), os.path.join(work, "store.db")
            run(train, "fit", manifest, "--registry", registry, "--models", args.models, "--until", start, "--quiet")
            run(train, "import", manifest, "--store", store, "--until", start)
            service = Service(work, registry, store)
            try:
                run(sys.executable, os.path.join(ROOT, "bench", "replay.py"), manifest, "--from", start,
                    "--url", service.base, "--key", service.key, "--future-steps", str(args.future_steps))
                rows = []
                for s in call(f"{service.base}/v1/series?dataset={dataset}&limit=1000", service.key)["series"]:
                    live = call(f"{service.base}/v1/series/{dataset}/{s['id']}/accuracy", service.key)["live"]
                    drift = live["drift"]
                    rows.append({"id": s["id"], "pairs": live["pairs"], "judged": live["pairs"] >= drift["min_pairs"],
                                 "drifted": drift["drifted"], "p": drift["p_value"],
                                 "live_mase": drift["live_mase"], "promised": drift["promised_mase"]})
            finally:
                service.stop()
        judged = [r for r in rows if r["judged"]]
        flagged = [r for r in judged if r["drifted"]]
        total_judged += len(judged)
        total_flagged += len(flagged)
        print(json.dumps({"dataset": dataset, "models": args.models, "future_steps": args.future_steps, "series": len(rows), "judged": len(judged),
                          "flagged": len(flagged), "flagged_ids": [r["id"] for r in flagged],
                          "live_mase": [round(r["live_mase"], 4) for r in judged if r["live_mase"]][:3],
                          "promised_mase": [round(r["promised"], 4) for r in judged if r["promised"]][:3],
                          "median_live_over_promised": sorted(r["live_mase"] / r["promised"] for r in judged
                                                              if r["live_mase"] and r["promised"])[len(judged) // 2]
                          if judged else None}), flush=True)
    print(json.dumps({"models": args.models, "judged": total_judged, "flagged": total_flagged,
                      "rate": round(total_flagged / total_judged, 4) if total_judged else None}))


if __name__ == "__main__":
    main()
