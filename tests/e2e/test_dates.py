"""`date` columns and per-column timestamp formats: a generated orders CSV with a `date`
column (leap days, days before 1970, the year 9999, empty = null) and a timestamp written
`YYYY-MM-DD HH:MM:SS` (`format "%Y-%m-%d %H:%M:%S"`), filtered and grouped by year and month
with date arithmetic, against DuckDB over the same file, for 1 and 2 workers."""
import csv
import datetime as dt
import random

import pytest

from conftest import read_jsonl, run_pipeline, run_sluice

PIPELINE = """
source orders = file("{data}") as csv {{
  schema {{
    id: int
    order_date: date?
    ship_date: date
    placed: timestamp format "%Y-%m-%d %H:%M:%S"   # no zone: UTC
    amount: int
  }}
}}

stream monthly = orders
  | where order_date is not null and ship_date - order_date <= 5d
  | select y = year(order_date), m = month(order_date), month_start = date_trunc("month", order_date),
      due = order_date + 7d, placed_day = date(placed), amount
  | group by y, m, month_start
  | aggregate n = count(), total = sum(amount), first_due = min(due), last_placed = max(placed_day),
      days = count_distinct(placed_day)
sink by_month = file("{out}/monthly.csv") as csv <- monthly

stream shifted = orders
  | where placed >= @2000-01-01T00:00:00Z and ship_date < @9999-01-01
  | select id, back = ship_date - 30d, gap = ship_date - order_date, midnight = timestamp(ship_date),
      text = string(ship_date), placed, placed_year = year(placed)
sink rows = file("{out}/shifted.jsonl") as jsonl <- shifted
"""

EDGE_DAYS = [
    dt.date(2000, 2, 29), dt.date(1969, 12, 31), dt.date(1900, 3, 1), dt.date(1970, 1, 1),
    dt.date(2024, 2, 29), dt.date(9999, 12, 25),
]


def write_orders(path, rows=4000, seed=11):
    rng = random.Random(seed)
    base = dt.date(1960, 1, 1)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "order_date", "ship_date", "placed", "amount"])
        for i in range(rows):
            order = EDGE_DAYS[i] if i < len(EDGE_DAYS) else base + dt.timedelta(days=rng.randrange(80 * 365))
            gap = 1 if i < len(EDGE_DAYS) else rng.randrange(10)
            ship = min(order + dt.timedelta(days=gap), dt.date(9999, 12, 31))
            placed = dt.datetime(order.year, order.month, order.day) - dt.timedelta(seconds=rng.randrange(3 * 86400))
            w.writerow([i, "" if i % 17 == 16 else order.isoformat(), ship.isoformat(),
                        placed.strftime("%Y-%m-%d %H:%M:%S"), rng.randrange(-50, 1000)])


@pytest.mark.parametrize("workers", [1, 2])
def test_dates_and_formatted_timestamps_equal_duckdb(db, tmp_path, workers):
    data = tmp_path / "orders.csv"
    write_orders(data)
    pipeline = tmp_path / "dates.sluice"
    pipeline.write_text(PIPELINE.format(data=data, out=tmp_path))
    summary = run_pipeline(pipeline, workers, tmp_path, cwd=tmp_path)
    assert summary["sources"][0]["dead_letters"] == 0
    F = f"read_csv('{data}', types={{'order_date': 'DATE', 'ship_date': 'DATE', 'placed': 'TIMESTAMP'}})"

    with open(tmp_path / "monthly.csv", newline="") as f:
        got = sorted(
            (int(r["y"]), int(r["m"]), r["month_start"], int(r["n"]), int(r["total"]),
             r["first_due"], r["last_placed"], int(r["days"]))
            for r in csv.DictReader(f)
        )
    want = sorted(db.execute(f"""
        SELECT year(order_date), month(order_date), strftime(date_trunc('month', order_date), '%Y-%m-%d'),
               count(*), sum(amount), strftime(min(order_date + 7), '%Y-%m-%d'),
               strftime(max(CAST(placed AS DATE)), '%Y-%m-%d'), count(DISTINCT CAST(placed AS DATE))
        FROM {F} WHERE order_date IS NOT NULL AND ship_date - order_date <= 5
        GROUP BY ALL""").fetchall())
    assert len(got) == len(want) > 500
    # Sluice writes years past 9999 in ISO 8601's expanded form (`+10000-01-01`), DuckDB without
    # the sign.
    iso = lambda v: "+" + v if isinstance(v, str) and v[:5].isdigit() else v
    assert got == [tuple(map(iso, w)) for w in want]
    # The edge days are there: the leap day, before 1970, and a year-10000 due date.
    months = {(y, m) for y, m, *_ in got}
    assert {(2000, 2), (1969, 12), (1900, 3), (9999, 12)} <= months
    assert any(r[5] == "+10000-01-01" for r in got)

    rows = {r["id"]: r for r in read_jsonl(tmp_path / "shifted.jsonl")}
    want_rows = db.execute(f"""
        SELECT id, strftime(ship_date - 30, '%Y-%m-%d'),
               CASE WHEN order_date IS NULL THEN NULL ELSE (ship_date - order_date) * 86400000 END,
               strftime(CAST(ship_date AS TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ'), strftime(ship_date, '%Y-%m-%d'),
               strftime(placed, '%Y-%m-%dT%H:%M:%SZ'), year(placed)
        FROM {F} WHERE placed >= TIMESTAMP '2000-01-01' AND ship_date < DATE '9999-01-01'""").fetchall()
    assert len(rows) == len(want_rows) > 500
    for id_, back, gap, midnight, text, placed, year in want_rows:
        r = rows[id_]
        assert (r["back"], r["gap"], r["midnight"], r["text"], r["placed"], r["placed_year"]) == (
            back, gap, midnight, text, placed, year), id_


def test_bad_dates_and_formatted_timestamps_are_dead_letters(tmp_path):
    data = tmp_path / "orders.csv"
    data.write_text(
        "id,order_date,ship_date,placed,amount\n"
        "1,1996-03-13,1996-03-14,1996-03-12 23:00:00,5\n"
        "2,2001-02-29,2001-03-01,2001-02-28 10:00:00,5\n"
        "3,1996-03-13,1996-03-14,1996-03-12T23:00:00Z,5\n"
        "4,1996-03-13,,1996-03-12 23:00:00,5\n"
    )
    pipeline = tmp_path / "dates.sluice"
    pipeline.write_text(PIPELINE.format(data=data, out=tmp_path))
    summary = run_pipeline(pipeline, 1, tmp_path, cwd=tmp_path)
    assert summary["sources"][0]["dead_letters"] == 3
    dead = read_jsonl(tmp_path / "dead_letters" / "dates" / "orders.jsonl")
    assert [(d["position"].rsplit(":", 1)[1], d["reason"]) for d in dead] == [
        ("3", "invalid date `2001-02-29` in column `order_date`"),
        ("4", "invalid timestamp `1996-03-12T23:00:00Z` in column `placed`"),
        ("5", "empty value for non-nullable column `ship_date`"),
    ]
    with open(tmp_path / "monthly.csv", newline="") as f:
        assert [r["month_start"] for r in csv.DictReader(f)] == ["1996-03-01"]


TEST_BLOCKS = """
source orders = file("orders.csv") as csv {
  schema { id: int  order_date: date?  amount: int }
}
stream next_day = orders
  | where order_date is not null
  | select id, due = order_date + 1d, y = year(order_date)
sink out = stdout as jsonl <- next_day

test "dates in given and expect rows" {
  given orders = [
    { id: 1, order_date: @2000-02-28, amount: 5 },
    { id: 2, order_date: "1969-12-31", amount: 5 },
    { id: 3, order_date: null, amount: 5 },
  ]
  expect next_day = [ { id: 1, due: @2000-02-29, y: 2000 }, { id: 2, due: @1970-01-01, y: 1969 } ]
}

test "a wrong date fails with a row diff" {
  given orders = [ { id: 1, order_date: @9999-12-31, amount: 5 } ]
  expect next_day = [ { id: 1, due: @9999-12-31, y: 9999 } ]
}
"""


def test_sluice_test_blocks_take_date_literals(tmp_path):
    path = tmp_path / "dates.sluice"
    path.write_text(TEST_BLOCKS)
    proc = run_sluice("test", path, check=False, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert 'test "dates in given and expect rows" ... ok' in out
    assert "1 passed, 1 failed" in out
    # The diff shows dates as literals: the expected day and the real next day.
    assert "- { id: 1, due: @9999-12-31, y: 9999 }" in out, out
    assert "+ { id: 1, due: @+10000-01-01, y: 9999 }" in out, out
