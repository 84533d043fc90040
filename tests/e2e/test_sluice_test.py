"""`sluice test`: test blocks run on the engine with in-memory sources and captured streams;
per-test `ok`/`FAILED` lines, a row diff on failure, a closing `N passed, N failed` line, exit
codes 0 (all pass), 1 (a test failed), 2 (the file has errors)."""
import re

import pytest

from conftest import ROOT, run_sluice

SOURCE = """
source flights = file("data/never_read.csv") as csv {
  schema {
    carrier: string
    origin: string
    dep_delay: float?
    distance: float
    event_time: timestamp
  }
  event_time = event_time
}

stream per_carrier = flights
  | where dep_delay > 60.0
  | group by carrier
  | aggregate n = count(), total = sum(dep_delay), longest = max(distance)

stream hourly = flights
  | window tumbling(1h)
  | group by origin
  | aggregate flights = count(), avg_delay = avg(dep_delay)

sink out = file("out/per_carrier.csv") as csv <- per_carrier
"""

ROWS = """
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: 75.0, distance: 1000.0, event_time: @2013-01-01T05:00:00Z },
    { carrier: "AA", origin: "JFK", dep_delay: 3.0, distance: 1000.0, event_time: @2013-01-01T05:10:00Z },
    { carrier: "UA", origin: "EWR", dep_delay: 120.5, distance: 2500.0, event_time: @2013-01-01T05:40:00Z },
    { carrier: "AA", origin: "LGA", dep_delay: 61.0, distance: 733.0, event_time: @2013-01-01T06:05:00Z },
    { carrier: "DL", origin: "JFK", dep_delay: null, distance: 500.0, event_time: @2013-01-01T06:15:00Z },
  ]
"""

PASSING = SOURCE + f"""
test "late flights are counted per carrier" {{{ROWS}
  expect per_carrier = [
    {{ carrier: "AA", n: 2, total: 136.0, longest: 1000.0 }},
    {{ carrier: "UA", n: 1, total: 120.5, longest: 2500.0 }},
  ]
}}

test "flights per origin and hour" {{{ROWS}
  expect hourly = [
    {{ origin: "JFK", window_start: @2013-01-01T05:00:00Z, flights: 2, avg_delay: 39.0 }},
    {{ origin: "EWR", window_start: @2013-01-01T05:00:00Z, flights: 1, avg_delay: 120.5 }},
    {{ origin: "LGA", window_start: @2013-01-01T06:00:00Z, flights: 1, avg_delay: 61.0 }},
    {{ origin: "JFK", window_start: @2013-01-01T06:00:00Z, flights: 1, avg_delay: null }},
  ]
}}
"""

FAILING = SOURCE + f"""
test "right" {{{ROWS}
  expect out = [ {{ carrier: "UA", n: 1 }}, {{ carrier: "AA", n: 2 }} ]
}}

test "wrong count" {{{ROWS}
  expect per_carrier = [
    {{ carrier: "AA", n: 3, total: 136.0 }},
    {{ carrier: "UA", n: 1, total: 120.5 }},
  ]
}}
"""

TYPE_ERROR = SOURCE + """
test "bad value" {
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: "late", distance: 1000.0, event_time: @2013-01-01T05:00:00Z },
  ]
  expect per_carrier = []
}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("workers", [1, 3])
def test_passing_tests_exit_0_and_write_nothing(tmp_path, workers):
    path = write(tmp_path, "pass.sluice", PASSING)
    proc = run_sluice("test", path, "--workers", workers, cwd=tmp_path)
    assert proc.stdout.splitlines() == [
        'test "late flights are counted per carrier" ... ok',
        'test "flights per origin and hour" ... ok',
        "2 passed, 0 failed",
    ]
    # No sink output, no dead-letter files: a test runs on memory only.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pass.sluice"]


def test_a_failing_test_prints_a_row_diff_and_exits_1(tmp_path):
    path = write(tmp_path, "fail.sluice", FAILING)
    proc = run_sluice("test", path, cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == 'test "right" ... ok'
    assert lines[1] == 'test "wrong count" ... FAILED'
    assert lines[-1] == "1 passed, 1 failed"
    assert re.search(r"^1 passed, 1 failed$", proc.stdout, re.M)
    diff = [line.strip() for line in lines[2:-1]]
    assert '- { carrier: "AA", n: 3, total: 136.0 }' in diff
    assert '+ { carrier: "AA", n: 2, total: 136.0 }' in diff
    assert '{ carrier: "UA", n: 1, total: 120.5 }' in diff  # matched rows are context
    assert "--- expected `per_carrier`" in diff and "+++ produced `per_carrier`" in diff


def test_late_rows_of_a_failing_test_are_shown(tmp_path):
    text = SOURCE + """
test "a late row" {
  given flights = [
    { carrier: "AA", origin: "JFK", dep_delay: 1.0, distance: 1.0, event_time: @2013-01-01T07:10:00Z },
    { carrier: "AA", origin: "JFK", dep_delay: 2.0, distance: 1.0, event_time: @2013-01-01T05:10:00Z },
  ]
  expect hourly = [ { origin: "JFK", flights: 2 } ]
}
"""
    proc = run_sluice("test", write(tmp_path, "late.sluice", text), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "- { origin: \"JFK\", flights: 2 }" in proc.stdout
    assert "+ { origin: \"JFK\", flights: 1 }" in proc.stdout
    assert "source `flights` dead-lettered 1 row(s)" in proc.stdout
    assert 'late: {"carrier":"AA"' in proc.stdout
    assert proc.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_a_type_error_in_a_test_row_exits_2_with_the_check_diagnostics(tmp_path):
    path = write(tmp_path, "bad.sluice", TYPE_ERROR)
    proc = run_sluice("test", path, cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "column `dep_delay` is `float`, found `string`" in proc.stderr
    checked = run_sluice("check", path, cwd=tmp_path, check=False)
    assert checked.returncode == 2
    assert proc.stderr == checked.stderr


def test_shipped_pipelines_with_tests_pass_and_stay_formatted():
    with_tests = [p for p in sorted((ROOT / "pipelines").glob("*.sluice")) if "\ntest " in p.read_text()]
    assert with_tests, "a shipped pipeline has a test block"
    for path in with_tests:
        proc = run_sluice("test", path)
        assert proc.stdout.splitlines()[-1].endswith(" passed, 0 failed"), proc.stdout
        run_sluice("fmt", "--check", path)
