#!/usr/bin/env python3
"""Replay a stretch of a dataset's file into a running civicast-serve, as the city's feed would.

Reads the dataset's manifest and data file, takes the rows after --from (up to --to), and posts
them to POST /v1/observations in batches of --batch-steps time steps (every series of a step in
the same batch, with their exogenous columns), waiting --pace seconds between batches. With
--check, after each batch it asks GET /v1/series that every series of the batch is now forecast
from the batch's last time, and stops with an error if one is not.

    bench/replay.py datasets/chicago_ridership/dataset.toml --from 2016-06-19 \\
        --url http://127.0.0.1:8080 --key "$(cat var/local-api-key)" --check

Prints batches, rows, wall time and rows/s. Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import tomllib
import urllib.error
import urllib.request


def request(url: str, key: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        sys.exit(f"replay: {method} {url}: {e.code} {e.read().decode(errors='replace')[:2000]}")


def future_known(manifest_path: str) -> list[str]:
    """The manifest's future-known columns."""
    with open(manifest_path, "rb") as f:
        return list(tomllib.load(f).get("exogenous", {}).get("future_known", []))


def steps_of(manifest_path: str, start: str, end: str | None) -> tuple[str, list[tuple[str, list[dict]]]]:
    """The dataset's name and its rows after `start` (up to `end`), grouped by time step."""
    with open(manifest_path, "rb") as f:
        manifest = tomllib.load(f)
    data = manifest["data"]
    exogenous = manifest.get("exogenous", {})
    columns = list(exogenous.get("future_known", [])) + list(exogenous.get("historic", []))
    path = os.path.join(os.path.dirname(manifest_path), data["path"])
    by_time: dict[str, list[dict]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ds = row[data["time"]].replace(" ", "T")
            if ds <= start or (end is not None and ds > end):
                continue
            observation = {"id": row[data["id"]], "time": ds, "value": float(row[data["target"]])}
            values = {c: float(row[c]) for c in columns if row.get(c, "") != ""}
            if values:
                observation["exogenous"] = values
            by_time.setdefault(ds, []).append(observation)
    return manifest["name"], sorted(by_time.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--from", dest="start", required=True, help="replay rows after this time")
    parser.add_argument("--to", dest="end", help="and up to this time (default: the file's end)")
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default=os.environ.get("CIVICAST_KEY"), help="a write or admin key (default: $CIVICAST_KEY)")
    parser.add_argument("--batch-steps", type=int, default=1, help="time steps per batch")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between batches")
    parser.add_argument("--check", action="store_true", help="check after each batch that its series are forecast from it")
    parser.add_argument("--future-steps", type=int, default=0,
                        help="after each batch, also send the file's future-known columns of the next N steps to "
                             "POST /v1/future, as a perfect weather forecast and the known calendar would be "
                             "(the protocol's oracle setting)")
    args = parser.parse_args()
    if not args.key:
        sys.exit("replay: give --key or set CIVICAST_KEY")
    dataset, steps = steps_of(args.manifest, args.start.replace(" ", "T"), args.end)
    columns = future_known(args.manifest) if args.future_steps > 0 else []
    if not steps:
        sys.exit(f"replay: no rows of {args.manifest} after {args.start}")
    started = time.perf_counter()
    rows = batches = 0
    for first in range(0, len(steps), args.batch_steps):
        chunk = steps[first:first + args.batch_steps]
        observations = [o for _, step in chunk for o in step]
        request(f"{args.url}/v1/observations", args.key, "POST", {"dataset": dataset, "observations": observations})
        rows += len(observations)
        batches += 1
        ahead = steps[first + len(chunk):first + len(chunk) + args.future_steps]
        values = [{"id": o["id"], "time": o["time"], "exogenous": {c: o["exogenous"][c] for c in columns if c in o.get("exogenous", {})}}
                  for _, step in ahead for o in step]
        values = [v for v in values if v["exogenous"]]
        if values:
            request(f"{args.url}/v1/future", args.key, "POST", {"dataset": dataset, "values": values})
        if args.check:
            last = chunk[-1][0]
            ids = {o["id"] for o in chunk[-1][1]}
            page = request(f"{args.url}/v1/series?dataset={dataset}&limit=1000", args.key)
            behind = [s["id"] for s in page["series"] if s["id"] in ids and s["last_observation"] != last]
            if behind:
                sys.exit(f"replay: after the batch ending {last}, {len(behind)} series are not forecast from it: {behind[:5]}")
        if args.pace > 0:
            time.sleep(args.pace)
    wall = time.perf_counter() - started
    print(json.dumps({"dataset": dataset, "batches": batches, "rows": rows, "steps": len(steps),
                      "first": steps[0][0], "last": steps[-1][0], "wall_seconds": round(wall, 3),
                      "rows_per_second": round(rows / wall, 1) if wall > 0 else None, "checked": args.check}))


if __name__ == "__main__":
    main()
