"""The generator pipeline (README command (a)) against DuckDB over the generated points, and
the CLI's contract: exit codes, explain, fmt, rejected stages."""
import csv
import io
import math

import pytest

from conftest import ROOT, run_pipeline, run_sluice

ZONES = [("new_york", 40.71, -74.01), ("london", 51.51, -0.13), ("tokyo", 35.68, 139.69),
         ("sydney", -33.87, 151.21)]


def haversine_sql(lat, lon):
    # Independent formula (mean Earth radius 6371.0088 km), written in SQL.
    return (f"2 * 6371.0088 * asin(sqrt(pow(sin(radians(lat - {lat}) / 2), 2) + "
            f"cos(radians({lat})) * cos(radians(lat)) * pow(sin(radians(lon - ({lon})) / 2), 2)))")


def test_geo_zones_equal_duckdb_over_the_same_points(tmp_path, db):
    run_pipeline(ROOT / "tests" / "e2e" / "pipelines" / "geo_dump.sluice", 2, tmp_path,
                 env={"OUT_DIR": str(tmp_path)})
    points = tmp_path / "points.csv"
    zones = (ROOT / "pipelines" / "geo_zones.sluice").read_text().replace("events = 1000000", "events = 200000")
    pipeline = tmp_path / "geo_zones.sluice"
    pipeline.write_text(zones)
    outputs = {}
    for workers in (1, 3):
        proc = run_sluice("run", pipeline, "--workers", workers, "--quiet")
        outputs[workers] = sorted(proc.stdout.splitlines()[1:])
        header = proc.stdout.splitlines()[0]
    assert outputs[1] == outputs[3]
    assert header == "zone,points,total_value,avg_value,max_id"
    case = "CASE " + " ".join(f"WHEN {haversine_sql(lat, lon)} < 300.0 THEN '{name}'" for name, lat, lon in ZONES)
    want = db.execute(f"""
        SELECT {case} ELSE 'elsewhere' END AS zone, count(*), sum(value), avg(value), max(id)
        FROM read_csv('{points}') GROUP BY zone ORDER BY zone""").fetchall()
    assert db.execute(f"SELECT count(*), count(DISTINCT id) FROM read_csv('{points}')").fetchone() == (200000, 200000)
    got = sorted(csv.reader(io.StringIO("\n".join(outputs[1]))))
    assert len(got) == len(want) == 5
    for (zone, n, total, avg, max_id), (wz, wn, wtotal, wavg, wmax) in zip(got, want):
        assert (zone, int(n), int(max_id)) == (wz, wn, wmax)
        assert math.isclose(float(total), wtotal, rel_tol=1e-9)
        assert math.isclose(float(avg), wavg, rel_tol=1e-9)


def test_check_explain_and_fmt_on_shipped_pipelines(tmp_path):
    for path in sorted((ROOT / "pipelines").glob("*.sluice")):
        assert run_sluice("check", path).returncode == 0
        run_sluice("fmt", "--check", path)
    explain = run_sluice("explain", ROOT / "pipelines" / "flights_by_origin.sluice", "--workers", "2").stdout
    assert "stream by_origin" in explain
    assert "PartialAggregate" in explain and "Exchange: hash(keys) % 2" in explain


def test_fmt_rewrites_to_canonical_form_and_is_idempotent(tmp_path):
    messy = tmp_path / "messy.sluice"
    messy.write_text('source s = stdin as csv { schema { a: int  b: string? } }\n'
                     'stream t = s|where a>1   # keep big ones\n|select a, c = b\n'
                     'sink o = stdout as jsonl <- t\n')
    assert run_sluice("fmt", "--check", messy, check=False).returncode == 1
    run_sluice("fmt", messy)
    once = messy.read_text()
    assert "# keep big ones" in once
    run_sluice("fmt", "--check", messy)
    run_sluice("fmt", messy)
    assert messy.read_text() == once


def test_stdin_to_stdout(tmp_path):
    pipeline = tmp_path / "p.sluice"
    pipeline.write_text('source s = stdin as csv { schema { a: int  b: string? } }\n'
                        'stream t = s | where a > 1 | select a, twice = a * 2, b\n'
                        'sink o = stdout as jsonl <- t\n')
    import subprocess
    from conftest import sluice_bin
    proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--quiet"], input="a,b\n1,x\n2,\n3,z\n",
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    assert proc.stdout.splitlines() == ['{"a":2,"twice":4,"b":null}', '{"a":3,"twice":6,"b":"z"}']


def test_what_cannot_run_yet_is_rejected_with_a_diagnostic(tmp_path):
    pipeline = tmp_path / "later.sluice"
    pipeline.write_text('source s = file("x.csv") as csv {\n  schema { a: int  t: timestamp }\n'
                        '  event_time = t\n}\n'
                        'stream out = s\n  | where contains(string(a), "1") @gpu\n'
                        'sink o = stdout as jsonl <- out\n')
    assert run_sluice("check", pipeline).returncode == 0
    proc = run_sluice("run", pipeline, check=False)
    assert proc.returncode == 2
    # A string function cannot run exactly on the GPU (E0409); without an adapter the hint
    # itself cannot be honoured (E0402). Either way: a diagnostic on the stage, nothing run.
    assert ("E0409" in proc.stderr and "cannot run on the GPU" in proc.stderr) or "E0402" in proc.stderr
    assert "later.sluice:6:" in proc.stderr and "^" in proc.stderr


def test_exit_codes(tmp_path):
    missing = tmp_path / "missing.sluice"
    missing.write_text('source s = file("does/not/exist.csv") as csv { schema { a: int } }\n'
                       'sink o = stdout as csv <- s\n')
    proc = run_sluice("run", missing, check=False, cwd=tmp_path)
    assert proc.returncode == 1 and "does/not/exist.csv" in proc.stderr
    bad_config = tmp_path / "engine.toml"
    bad_config.write_text("workers = 0\n")
    proc = run_sluice("run", ROOT / "pipelines" / "geo_zones.sluice", "--config", bad_config, check=False)
    assert proc.returncode == 2 and "workers" in proc.stderr
    assert run_sluice("check", tmp_path / "nope.sluice", check=False).returncode == 2
