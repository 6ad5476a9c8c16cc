#!/usr/bin/env python3
"""Writes the illustrative budget plans in this folder from the bundled datasets.

The plans are ILLUSTRATIVE: no city office made them. They follow the planning rule that
`civicast-train risk` backtests (training/src/risk.rs), applied at the end of each dataset:

- chicago_ridership (15 years of daily data): the same period one year earlier (364 days back, so
  weekdays match) x recent growth, where growth = the last 28 days / the same 28 days a year
  earlier;
- bikeshare_hourly and elecdemand_halfhourly (one year of data each): the same period one week
  earlier (whole weeks further back when the period is not yet observed a week back) x recent
  growth, where growth = the last 7 days / the 7 days before.

Unit costs are round illustrative figures in KRW (the service's default currency), not prices.
Standard library only, so it runs anywhere: `python3 datasets/budget/make_plans.py`.
"""

import csv
import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent
HEADER = ["id", "dataset", "series", "start", "end", "planned", "unit_cost",
          "tolerance", "waste_cost", "shortage_cost"]


def read(name, time_format):
    """Series id -> list of (datetime, y), sorted."""
    series = defaultdict(list)
    with open(DATASETS / name / f"{name}.csv", newline="") as f:
        for row in csv.DictReader(f):
            series[row["unique_id"]].append((dt.datetime.strptime(row["ds"], time_format),
                                             float(row["y"])))
    for values in series.values():
        values.sort()
    return series


def total(values, start, end):
    """Sum of values whose date is in [start, end] (dates, inclusive)."""
    return sum(y for t, y in values if start <= t.date() <= end)


def plan(values, start, end, lag_days, window_days):
    """The planning rule for the period start..end (dates), made after the last observation."""
    last = values[-1][0].date()
    lags = 1
    while end - dt.timedelta(days=lags * lag_days) > last:
        lags += 1
    back = dt.timedelta(days=lags * lag_days)
    same = total(values, start - back, end - back)
    window = dt.timedelta(days=window_days)
    recent = total(values, last - window + dt.timedelta(days=1), last)
    lag = dt.timedelta(days=lag_days)
    before = total(values, last - window - lag + dt.timedelta(days=1), last - lag)
    return same * recent / before


def rounded(x):
    """Three significant figures, as a planner would write a budget figure."""
    if x == 0:
        return 0.0
    digits = 3 - int(math.floor(math.log10(abs(x)))) - 1
    return round(x, digits)


def write(name, rows):
    with open(HERE / name, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(HEADER)
        for row in rows:
            out.writerow(row)


def chicago():
    series = read("chicago_ridership", "%Y-%m-%d")
    weeks = [(dt.date(2016, 8, 15), dt.date(2016, 8, 21)), (dt.date(2016, 8, 22), dt.date(2016, 8, 28))]
    month = (dt.date(2016, 9, 1), dt.date(2016, 9, 30))
    rows = []
    # 1,200 KRW per rider (a city bus fare), i.e. 1,200,000 per thousand riders.
    for sid, values in sorted(series.items()):
        for k, (start, end) in enumerate(weeks, 1):
            planned = rounded(plan(values, start, end, 364, 28))
            rows.append([f"{sid}-W{k}", "chicago_ridership", sid, start, end, planned, 1200000, "", "", ""])
        planned = rounded(plan(values, *month, 364, 28))
        rows.append([f"{sid}-2016-09", "chicago_ridership", sid, *month, planned, 1200000, "", "", ""])
    write("chicago_ridership.csv", rows)


def sub_daily(name, time_format, unit_cost, days):
    series = read(name, time_format)
    rows = []
    for sid, values in sorted(series.items()):
        last = values[-1][0].date()
        for d in range(1, days + 1):
            day = last + dt.timedelta(days=d)
            planned = rounded(plan(values, day, day, 7, 7))
            rows.append([f"{sid}-{day}", name, sid, day, day, planned, unit_cost, "", "", ""])
        week = (last + dt.timedelta(days=1), last + dt.timedelta(days=7))
        planned = rounded(plan(values, *week, 7, 7))
        rows.append([f"{sid}-week", name, sid, *week, planned, unit_cost, "", "", ""])
    write(f"{name}.csv", rows)


if __name__ == "__main__":
    chicago()
    # 2,000 KRW per rental (a bike-share day pass is of that order).
    sub_daily("bikeshare_hourly", "%Y-%m-%dT%H:%M:%S", 2000, 7)
    # Demand is in GW per half hour, so a day's total is in GW-half-hours (0.5 GWh each);
    # 50,000,000 KRW per GW-half-hour is 100,000 KRW per MWh.
    sub_daily("elecdemand_halfhourly", "%Y-%m-%dT%H:%M:%S", 50000000, 7)
