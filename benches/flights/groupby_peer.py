#!/usr/bin/env python3
"""The group-by workload of pipelines/flights_by_origin.sluice in DuckDB or Polars.

Usage: groupby_peer.py duckdb|polars FLIGHTS_CSV OUT_CSV
Columns: origin, carrier, flights, delayed, avg_dep_delay, worst_arr_delay, best_arr_delay,
total_km, total_air_time (same meaning as the Sluice pipeline).
"""
import sys

engine, src, out = sys.argv[1:4]
if engine == "duckdb":
    import duckdb

    con = duckdb.connect()
    con.execute(f"""COPY (
        SELECT origin, carrier, count(*) AS flights, count(arr_delay) AS delayed,
               avg(dep_delay) AS avg_dep_delay, max(arr_delay) AS worst_arr_delay,
               min(arr_delay) AS best_arr_delay, sum(distance * 1.609344) AS total_km,
               sum(air_time) AS total_air_time
        FROM read_csv('{src}', header=true) WHERE distance > 0 GROUP BY ALL
    ) TO '{out}' (FORMAT CSV, HEADER)""")
elif engine == "polars":
    import polars as pl

    (
        pl.scan_csv(src)
        .filter(pl.col("distance") > 0)
        .group_by("origin", "carrier")
        .agg(
            pl.len().alias("flights"),
            pl.col("arr_delay").count().alias("delayed"),
            pl.col("dep_delay").mean().alias("avg_dep_delay"),
            pl.col("arr_delay").max().alias("worst_arr_delay"),
            pl.col("arr_delay").min().alias("best_arr_delay"),
            (pl.col("distance") * 1.609344).sum().alias("total_km"),
            pl.col("air_time").sum().alias("total_air_time"),
        )
        .sink_csv(out, engine="streaming")
    )
else:
    sys.exit(f"unknown engine {engine}")
