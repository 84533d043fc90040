"""A hand-made dirty CSV: every bad line reaches the dead-letter file with its line number,
reason and exact raw bytes; the good rows' aggregate equals DuckDB's over the good lines."""
import base64
import csv
from pathlib import Path

import pytest

from conftest import read_jsonl, run_pipeline

HERE = Path(__file__).resolve().parent
DIRTY = HERE / "data" / "dirty_flights.csv"
PIPELINE = HERE / "pipelines" / "dirty_flights.sluice"

# Hand-checked: line number -> a word the reason must contain.
BAD_LINES = {
    4: "12x",            # not an int
    5: "field",          # 5 fields, header has 6
    8: "distance",       # empty value for a non-nullable float
    9: "quote",          # unterminated quote, must not swallow the following lines
    10: "99999999999999999999999",  # int overflow
    11: "not-a-time",    # bad timestamp
    12: "utf-8",         # invalid UTF-8
    15: "field",         # 7 fields
}
GOOD_LINES = [2, 3, 7, 13, 14, 16, 17]


def raw_lines():
    data = DIRTY.read_bytes().split(b"\n")
    return {i + 1: line for i, line in enumerate(data)}


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_dead_letters_and_good_rows(tmp_path, db, workers):
    summary = run_pipeline(PIPELINE, workers, tmp_path, env={"DIRTY": str(DIRTY), "OUT_DIR": str(tmp_path)},
                           cwd=tmp_path)
    src = summary["sources"][0]
    assert (src["records"], src["dead_letters"], src["empty_lines"]) == (len(GOOD_LINES), len(BAD_LINES), 1)

    # Default dead-letter output: dead_letters/<pipeline>/<source>.jsonl under the working dir.
    letters = read_jsonl(tmp_path / "dead_letters" / "dirty_flights" / "flights.jsonl")
    by_line = {}
    for letter in letters:
        assert set(letter) == {"source", "reason", "position", "raw", "raw_base64"}
        assert letter["source"] == "flights"
        path, line = letter["position"].rsplit(":", 1)
        assert path.endswith("dirty_flights.csv")
        by_line[int(line)] = letter
    assert sorted(by_line) == sorted(BAD_LINES)
    raw = raw_lines()
    for line, word in BAD_LINES.items():
        letter = by_line[line]
        assert base64.b64decode(letter["raw_base64"]) == raw[line].rstrip(b"\r")
        assert word.lower() in letter["reason"].lower(), (line, letter["reason"])

    rows = read_jsonl(tmp_path / "rows.jsonl")
    assert sorted(((r["carrier"], r["dep_delay"], r["distance"], r["time_hour"]) for r in rows), key=repr) == sorted([
        ("AA", 10, 1000.5, "2013-01-01T05:00:00Z"),
        ("UA", -3, 200.0, "2013-01-01T06:00:00Z"),
        ("AA", None, 500.0, "2013-01-01T09:00:00Z"),
        ("UA", 20, 900.0, "2013-01-01T11:00:00Z"),
        ("DL", 30, 1000.0, "2013-01-01T12:00:00Z"),
        ("DL", 50, 1200.0, "2013-01-01T13:00:00Z"),
        ("UA", 60, 1300.25, "2013-01-01T14:00:00Z"),
    ], key=repr)

    # Oracle: DuckDB over only the good lines (the header plus GOOD_LINES), written out clean.
    clean = tmp_path / "clean.csv"
    clean.write_bytes(b"\n".join(raw[i].rstrip(b"\r") for i in [1] + GOOD_LINES) + b"\n")
    want = db.execute(f"""
        SELECT carrier, count(*), count(dep_delay), sum(dep_delay), sum(distance), max(dep_delay)
        FROM read_csv('{clean}', header=true, types={{'time_hour': 'VARCHAR', 'dep_delay': 'BIGINT',
                      'distance': 'DOUBLE'}})
        GROUP BY carrier ORDER BY carrier
    """).fetchall()
    with open(tmp_path / "per_carrier.csv", newline="") as f:
        got = sorted(csv.DictReader(f), key=lambda r: r["carrier"])
    assert [(r["carrier"], int(r["n"]), int(r["delays"]),
             int(r["total_delay"]) if r["total_delay"] else None,
             float(r["total_distance"]), int(r["max_delay"]) if r["max_delay"] else None) for r in got] == want
    first = {r["carrier"]: r["first_hour"] for r in got}
    assert first == {"AA": "2013-01-01T05:00:00Z", "DL": "2013-01-01T12:00:00Z", "UA": "2013-01-01T06:00:00Z"}
