"""The Nexmark generator and the Nexmark queries of pipelines/nexmark/.

Every query runs on the same seeded events with 1 and 3 workers: the
outputs must be the same multiset, and equal to the query computed by DuckDB (or Python) over a
dump of the generated bids, auctions and persons (a pass-through pipeline to JSON lines). The
dump itself is checked against the Nexmark event layout (1 person, 3 auctions and 46 bids per 50
events, ids, event times). Every shipped query must run: one that planning rejects fails."""
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, read_jsonl, run_sluice

QUERIES = ROOT / "pipelines" / "nexmark"
EVENTS = 100_000
EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the generator's base time

DUMP = """
pipeline nexmark_dump

source bids = generator(nexmark, events = "${EVENTS}", seed = "${SEED:-0}", events_of = "bid")
source auctions = generator(nexmark, events = "${EVENTS}", seed = "${SEED:-0}", events_of = "auction")
source persons = generator(nexmark, events = "${EVENTS}", seed = "${SEED:-0}", events_of = "person")

sink b = file("${OUT_DIR}/bids.jsonl") as jsonl <- bids
sink a = file("${OUT_DIR}/auctions.jsonl") as jsonl <- auctions
sink p = file("${OUT_DIR}/persons.jsonl") as jsonl <- persons
"""


def canonical(rows):
    """A multiset of rows, comparable across runs."""
    return Counter(json.dumps(r, sort_keys=True) for r in rows)


def run_query(q, workers, out, events=EVENTS, seed=0, check=True):
    return run_sluice("run", QUERIES / f"q{q}.sluice", "--workers", workers, "--quiet",
                      env={"EVENTS": str(events), "SEED": str(seed), "OUT": str(out)}, check=check)


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """The generated events of seed 0 (one worker, so in event order)."""
    d = tmp_path_factory.mktemp("nexmark_dump")
    pipeline = d / "dump.sluice"
    pipeline.write_text(DUMP)
    run_sluice("run", pipeline, "--workers", 1, "--quiet", env={"EVENTS": str(EVENTS), "OUT_DIR": str(d)},
               cwd=d)
    return d


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Runs each query with 1 and 3 workers; {q: {workers: rows}}. A shipped query that
    planning rejects is a failure, not a skip."""
    d = tmp_path_factory.mktemp("nexmark_queries")
    result = {}
    for q in range(9):
        per_workers = {}
        for workers in (1, 3):
            out = d / f"q{q}-{workers}.jsonl"
            proc = run_query(q, workers, out, check=False)
            assert proc.returncode == 0, f"q{q} with {workers} workers:\n{proc.stderr[-3000:]}"
            per_workers[workers] = read_jsonl(out)
        result[q] = per_workers
    return result


def ms(ts: str) -> int:
    """Epoch milliseconds of an RFC 3339 UTC timestamp as written by the jsonl sink."""
    from datetime import datetime
    return round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def event_ms(g: int) -> int:
    """Event time of global event number g at the default 10,000 events/s: base + round(g / 10) ms."""
    return EPOCH_MS + (g * 100 + 500) // 1000


def ran(outputs, q):
    rows = outputs[q]
    assert canonical(rows[1]) == canonical(rows[3]), f"q{q}: 1 and 3 workers differ"
    return rows[1]


# --- the generator -----------------------------------------------------------------------


def test_dump_has_the_nexmark_layout(dump):
    bids = read_jsonl(dump / "bids.jsonl")
    auctions = read_jsonl(dump / "auctions.jsonl")
    persons = read_jsonl(dump / "persons.jsonl")
    # 1 : 3 : 46 of every 50 events; the three sources partition the events.
    assert (len(persons), len(auctions), len(bids)) == (EVENTS // 50, EVENTS // 50 * 3, EVENTS // 50 * 46)
    # Ids are consecutive from 1000; event k of a kind is global event g(k), stamped g / 10 ms.
    assert [p["id"] for p in persons] == list(range(1000, 1000 + len(persons)))
    assert [a["id"] for a in auctions] == list(range(1000, 1000 + len(auctions)))
    assert all(ms(p["event_time"]) == event_ms(50 * k) for k, p in enumerate(persons))
    assert all(ms(a["event_time"]) == event_ms(50 * (k // 3) + 1 + k % 3) for k, a in enumerate(auctions))
    assert all(ms(b["event_time"]) == event_ms(50 * (k // 46) + 4 + k % 46) for k, b in enumerate(bids))
    # Auctions expire after they open; categories 10..14; states of the crate (lower case).
    assert all(ms(a["expires"]) > ms(a["event_time"]) for a in auctions)
    assert {a["category"] for a in auctions} == {10, 11, 12, 13, 14}
    assert {p["state"] for p in persons} == {"az", "ca", "id", "or", "wa", "wy"}
    # Bids refer to auctions and persons that exist (almost always: ids may lead by a few).
    auction_ids = {a["id"] for a in auctions}
    person_ids = {p["id"] for p in persons}
    assert sum(b["auction"] in auction_ids for b in bids) > 0.99 * len(bids)
    assert sum(b["bidder"] in person_ids for b in bids) > 0.99 * len(bids)
    assert sum(a["seller"] in person_ids for a in auctions) > 0.99 * len(auctions)
    # Hot auctions: half the bids go to an auction id that is a multiple of 100 ... roughly.
    hot = sum(b["auction"] % 100 == 0 for b in bids) / len(bids)
    assert 0.45 < hot < 0.6, hot


def test_same_seed_same_events_other_seed_other_events(tmp_path):
    runs = {}
    for seed, workers in ((5, 1), (5, 1), (5, 3), (6, 1)):
        out = tmp_path / f"q0-{seed}-{workers}-{len(runs)}.jsonl"
        run_query(0, workers, out, events=20_000, seed=seed)
        runs[(seed, workers, len(runs))] = read_jsonl(out)
    a, b, c, d = runs.values()
    assert len(a) == 20_000 // 50 * 46
    assert a == b, "same seed, same worker count: the same rows in the same order"
    assert canonical(a) == canonical(c), "same seed: the same multiset on 3 workers"
    assert not set(canonical(a)) & set(canonical(d)), "another seed: other bids"
    seed0 = tmp_path / "q0-seed0.jsonl"
    run_query(0, 1, seed0, events=20_000, seed=0)
    assert read_jsonl(seed0)[0]["auction"] == 1000 and a[0]["auction"] != 1000


def test_events_of_partitions_the_events_in_the_summary(tmp_path):
    pipeline = tmp_path / "dump.sluice"
    pipeline.write_text(DUMP)
    summary = tmp_path / "summary.json"
    run_sluice("run", pipeline, "--workers", 2, "--quiet", "--summary-json", summary,
               env={"EVENTS": "12345", "SEED": "3", "OUT_DIR": str(tmp_path)}, cwd=tmp_path)
    sources = {s["name"]: s for s in json.loads(summary.read_text())["sources"]}
    counts = {name: sources[name]["records"] for name in ("bids", "auctions", "persons")}
    # 12345 = 246 * 50 + 45: 246 + 1 persons, 246 * 3 + 3 auctions, 246 * 46 + 41 bids.
    assert counts == {"persons": 247, "auctions": 741, "bids": 11357}
    assert sum(counts.values()) == 12345


# --- the queries ---------------------------------------------------------------------------


def test_every_query_checks_and_is_canonical():
    files = sorted(QUERIES.glob("q*.sluice"))
    assert [f.stem for f in files] == [f"q{i}" for i in range(9)]
    for path in files:
        run_sluice("check", path)
        run_sluice("fmt", "--check", path)


def test_q0_passes_every_bid_through(dump, outputs):
    got = ran(outputs, 0)
    assert canonical(got) == canonical(read_jsonl(dump / "bids.jsonl"))


def test_q1_converts_prices(dump, outputs):
    got = ran(outputs, 1)
    want = [{"auction": b["auction"], "bidder": b["bidder"], "price": 0.908 * b["price"],
             "event_time": b["event_time"], "extra": b["extra"]} for b in read_jsonl(dump / "bids.jsonl")]
    assert canonical(got) == canonical(want)


def test_q2_selects_auctions(dump, outputs):
    got = ran(outputs, 2)
    want = [{"auction": b["auction"], "price": b["price"]}
            for b in read_jsonl(dump / "bids.jsonl") if b["auction"] % 123 == 0]
    assert len(want) > 100
    assert canonical(got) == canonical(want)


def test_q3_local_item_suggestion(dump, outputs, db):
    got = ran(outputs, 3)
    want = db.execute(f"""
        SELECT P.name, P.city, P.state, A.id
        FROM read_json('{dump}/auctions.jsonl') A JOIN read_json('{dump}/persons.jsonl') P ON A.seller = P.id
        WHERE A.category = 10 AND P.state IN ('or', 'id', 'ca')""").fetchall()
    assert len(want) > 100
    assert Counter(tuple(r.values()) for r in got) == Counter(want)


WINNING_BIDS = """
    SELECT A.id, A.category, A.seller, max(B.price) AS final
    FROM read_json('{dump}/auctions.jsonl') A JOIN read_json('{dump}/bids.jsonl') B ON A.id = B.auction
    WHERE B.event_time BETWEEN A.event_time AND A.expires
    GROUP BY A.id, A.category, A.seller"""


def test_q4_average_closing_price_per_category(dump, outputs, db):
    got = {r["category"]: r["avg_final"] for r in ran(outputs, 4)}
    want = dict(db.execute(f"SELECT category, avg(final) FROM ({WINNING_BIDS.format(dump=dump)}) GROUP BY category")
                .fetchall())
    assert got.keys() == want.keys() == {10, 11, 12, 13, 14}
    for category, avg in want.items():
        assert math.isclose(got[category], avg, rel_tol=1e-12), category


def test_q5_hot_items(dump, outputs):
    got = ran(outputs, 5)
    counts = Counter()
    for b in read_jsonl(dump / "bids.jsonl"):
        t = ms(b["event_time"])
        last = t - t % 2000
        for start in range(last - 8000, last + 1, 2000):
            counts[(start, b["auction"])] += 1
    best = {}
    for (start, auction), n in counts.items():
        if start not in best or (-n, auction) < (-best[start][1], best[start][0]):
            best[start] = (auction, n)
    assert {(ms(r["window_start"]), r["auction"], r["num"]) for r in got} == \
        {(start, auction, n) for start, (auction, n) in best.items()}


def test_q6_average_selling_price_by_seller(dump, outputs, db):
    got = {r["seller"]: r["avg_final"] for r in ran(outputs, 6)}
    want = dict(db.execute(f"SELECT seller, avg(final) FROM ({WINNING_BIDS.format(dump=dump)}) GROUP BY seller")
                .fetchall())
    assert len(want) > 100 and got.keys() == want.keys()
    for seller, avg in want.items():
        assert math.isclose(got[seller], avg, rel_tol=1e-12), seller


def test_q7_highest_bid(dump, outputs, db):
    got = ran(outputs, 7)
    want = db.execute(f"""
        WITH B AS (SELECT *, epoch_ms(event_time) // 10000 AS w FROM read_json('{dump}/bids.jsonl'))
        SELECT B.auction, B.price, B.bidder, epoch_ms(B.event_time), B.extra
        FROM B JOIN (SELECT w, max(price) AS maxprice FROM B GROUP BY w) M
          ON B.w = M.w AND B.price = M.maxprice""").fetchall()
    assert len(want) >= 2
    assert Counter((r["auction"], r["price"], r["bidder"], ms(r["event_time"]), r["extra"]) for r in got) == \
        Counter(want)


def test_q8_monitor_new_users(dump, outputs, db):
    got = ran(outputs, 8)
    want = db.execute(f"""
        WITH P AS (SELECT DISTINCT id, name, epoch_ms(event_time) // 10000 AS w
                   FROM read_json('{dump}/persons.jsonl')),
             A AS (SELECT DISTINCT seller, epoch_ms(event_time) // 10000 AS w
                   FROM read_json('{dump}/auctions.jsonl'))
        SELECT P.id, P.name, P.w * 10000 FROM P JOIN A ON P.id = A.seller AND P.w = A.w""").fetchall()
    assert len(want) > 100
    assert Counter((r["id"], r["name"], ms(r["starttime"])) for r in got) == Counter(want)
