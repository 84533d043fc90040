"""Tables fed from Kafka (tansu on loopback, see kafka_broker.py), updated in place: upsert
by key, a row whose value columns are all null deletes its key. Expectations are computed
here by replaying the produced upserts in Python:

- temporal join (the table has `event_time`): each stream row sees the table as of its own
  event time, on 1, 2 and 4 workers and 2 processes x 2 workers, `join` and `left join` in one pipeline (both share one
  arrangement); the rows the workers hold sum to the table's size, spread over workers; a
  malformed table message goes to the dead letters; offsets are committed and a second run
  of the same group still reads the whole table;
- processing-time table (no `event_time`) with a Kafka stream: rows see the table as it is
  when they arrive, and an update produced mid-run changes what later rows see;
- processing-time, unbounded table with a bounded file stream: the table's initial load is
  in before any row is joined, and the run ends by itself when the stream ends.
"""
import json
import signal
import subprocess
import time
import urllib.request
import zlib

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import read_jsonl, sluice_bin
from kafka_broker import Broker, free_port, require_broker
from test_kafka import finish, start_sluice, write_pipeline

BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
PARTITIONS = 3


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    require_broker()
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


def partition_of_key(key: str) -> int:
    # A key's updates stay in one partition (what a keyed producer does): their order holds.
    return zlib.crc32(key.encode()) % PARTITIONS


def iso(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}Z"


def produce_rows(broker, topic, rows):
    """rows: dicts with a `sku`; each is one message in the key's partition, in order."""
    by_index = [r["sku"] for r in rows]
    broker.produce(topic, [(r["sku"].encode(), json.dumps(r).encode()) for r in rows],
                   partition_of=lambda i: partition_of_key(by_index[i]))


def replay(updates):
    """Table state after `updates` in order: upsert by sku, all-null price and name deletes."""
    state = {}
    for u in updates:
        if u["price"] is None and u["name"] is None:
            state.pop(u["sku"], None)
        else:
            state[u["sku"]] = (u["price"], u["name"])
    return state


def expected(orders, state_for, left):
    """(id, sku, qty, price, name) per order joined with state_for(order)."""
    out = []
    for o in orders:
        hit = state_for(o).get(o["sku"])
        if hit is not None:
            out.append((o["id"], o["sku"], o["qty"], hit[0], hit[1]))
        elif left:
            out.append((o["id"], o["sku"], o["qty"], None, None))
    return sorted(out, key=repr)


def got_rows(path):
    return sorted(((r["id"], r["sku"], r["qty"], r["price"], r["name"]) for r in read_jsonl(path)),
                  key=repr)


# Versioned price list: inserts, updates of existing keys, deletions (all value columns
# null), a key deleted and inserted again, and an update with the same time as an order.
def temporal_updates():
    u = []
    for k in range(12):
        u.append({"sku": f"s{k}", "price": 100 + k, "name": f"item {k}", "at": BASE_MS + k * 1000})
    for k in range(0, 12, 3):   # updates at 100 s
        u.append({"sku": f"s{k}", "price": 200 + k, "name": f"item {k} v2", "at": BASE_MS + 100_000})
    for k in (1, 4, 7):         # deletions at 200 s
        u.append({"sku": f"s{k}", "price": None, "name": None, "at": BASE_MS + 200_000})
    u.append({"sku": "s4", "price": 404, "name": "back", "at": BASE_MS + 300_000})
    u.append({"sku": "s2", "price": 302, "name": "same time", "at": BASE_MS + 250_000})
    return u


def temporal_orders():
    # Every 5 s from -10 s to 400 s, cycling over 13 skus (s12 is never in the table).
    return [{"id": i, "sku": f"s{i % 13}", "qty": i % 5 + 1, "ts": BASE_MS - 10_000 + i * 5_000}
            for i in range(83)]


TEMPORAL = """\
pipeline kafka_table_temporal

source orders = file("orders.jsonl") as jsonl {{
  schema {{ id: int  sku: string  qty: int  ts: timestamp }}
  event_time = ts
}}

table prices = kafka(topic = "{topic}", brokers = "{brokers}", group = "{group}") as json {{
  schema {{ sku: string  price: int?  name: string?  at: timestamp }}
  key = sku
  event_time = at
  bounded = true
  dead_letter = file("bad_prices.jsonl") as jsonl
}}

stream inner = orders | join prices on sku == prices.sku | select id, sku, qty, price, name
stream outer = orders | left join prices on sku == prices.sku | select id, sku, qty, price, name

sink a = file("inner.jsonl") as jsonl <- inner
sink b = file("outer.jsonl") as jsonl <- outer
"""


def test_temporal_join_sees_the_table_as_of_each_row(broker, tmp_path):
    topic = broker.create_topic("prices-temporal", PARTITIONS)
    updates = temporal_updates()
    produce_rows(broker, topic, updates)
    # One malformed message (not JSON) in partition 0.
    broker.produce(topic, [(b"s0", b"{not json")], partition_of=lambda i: 0)
    orders = temporal_orders()
    with open(tmp_path / "orders.jsonl", "w") as f:
        for o in orders:
            f.write(json.dumps({**o, "ts": iso(o["ts"])}) + "\n")

    def as_of(order):
        return replay(u for u in updates if u["at"] <= order["ts"])

    want_inner = expected(orders, as_of, left=False)
    want_outer = expected(orders, as_of, left=True)
    # The cases the data is built to show are there.
    assert any(r[4] == "back" for r in want_inner) and any(r[3] is None for r in want_outer)
    assert any(r[4] == "item 0 v2" for r in want_inner) and any(r[4] == "item 0" for r in want_inner)
    final = replay(updates)
    # Versions matter here: joining every order with the final table gives other rows.
    assert expected(orders, lambda o: final, left=True) != want_outer
    group = "g-temporal"
    pipeline = write_pipeline(tmp_path / "p.sluice", TEMPORAL.format(
        topic=topic, brokers=broker.bootstrap, group=group))
    runs = [(1, []), (2, []), (4, []), (4, ["--local-cluster", "2"])]  # last: 2 processes x 2
    for workers, extra in runs:
        summary = tmp_path / f"summary-{workers}.json"
        threads = workers // 2 if extra else workers
        proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--workers", str(threads),
                               *extra, "--quiet", "--summary-json", str(summary)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert got_rows(tmp_path / "inner.jsonl") == want_inner, f"{workers} workers"
        assert got_rows(tmp_path / "outer.jsonl") == want_outer, f"{workers} workers"
        table = next(s for s in json.loads(summary.read_text())["sources"] if s["name"] == "prices")
        # Every run reads the whole topic, though the group committed its offsets before.
        assert table["records"] == len(updates)
        assert table["dead_letters"] == 1
        # Held once: each key on one worker, the shares sum to the live keys.
        assert len(table["table_rows"]) == workers
        assert sum(table["table_rows"]) == len(final)
        if workers > 1:
            assert sum(1 for n in table["table_rows"] if n > 0) > 1, table["table_rows"]
    bad = read_jsonl(tmp_path / "bad_prices.jsonl")
    assert len(bad) == 1 and bad[0]["position"].startswith(f"{topic}/0/")
    # Offsets committed behind the sinks, at the end of every partition.
    counts = [0] * PARTITIONS
    for u in updates:
        counts[partition_of_key(u["sku"])] += 1
    counts[0] += 1
    assert broker.committed(topic, group) == dict(enumerate(counts))


PROCESSING = """\
pipeline kafka_table_live

source orders = kafka(topic = "{orders}", brokers = "{brokers}", group = "g-orders-{n}") as json {{
  schema {{ id: int  sku: string  qty: int }}
}}

table prices = kafka(topic = "{topic}", brokers = "{brokers}", group = "g-prices-{n}") as json {{
  schema {{ sku: string  price: int?  name: string? }}
  key = sku
}}

stream inner = orders | join prices on sku == prices.sku | select id, sku, qty, price, name
stream outer = orders | left join prices on sku == prices.sku | select id, sku, qty, price, name

sink a = file("inner.jsonl") as jsonl <- inner
sink b = file("outer.jsonl") as jsonl <- outer
"""


def metric(port, name, label):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels.get("source") == label:
                return s.value
    return None


def wait_for(check, timeout_s=60, what=""):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def lines(path):
    try:
        return sum(1 for line in open(path) if line.strip())
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_processing_time_table_is_updated_in_place(broker, tmp_path, workers):
    topic = broker.create_topic(f"prices-live-{workers}", PARTITIONS)
    orders_topic = broker.create_topic(f"orders-live-{workers}", 2)
    v1 = ([{"sku": f"s{k}", "price": 10 + k, "name": f"n{k}"} for k in range(8)]
          + [{"sku": "s1", "price": 111, "name": "n1 v2"},          # update
             {"sku": "s2", "price": None, "name": None}])           # delete
    produce_rows(broker, topic, v1)
    port = free_port()
    pipeline = write_pipeline(tmp_path / "p.sluice", PROCESSING.format(
        topic=topic, orders=orders_topic, brokers=broker.bootstrap, n=workers))
    proc = start_sluice(pipeline, "--workers", str(workers), "--metrics-listen", f"127.0.0.1:{port}",
                        cwd=tmp_path)
    try:
        batch_a = [{"id": i, "sku": f"s{i % 10}", "qty": 1} for i in range(40)]
        broker.produce(orders_topic, [(None, json.dumps(o).encode()) for o in batch_a],
                       partition_of=lambda i: i % 2)
        state_a = replay(v1)
        want_a_outer = expected(batch_a, lambda o: state_a, left=True)
        wait_for(lambda: lines(tmp_path / "outer.jsonl") >= len(want_a_outer), what="batch A")
        v2 = [{"sku": "s3", "price": 333, "name": "n3 v2"},         # update
              {"sku": "s0", "price": None, "name": None},           # delete
              {"sku": "s9", "price": 99, "name": "new"}]            # insert
        produce_rows(broker, topic, v2)
        wait_for(lambda: (metric(port, "sluice_source_records_total", "prices") or 0) >= len(v1) + len(v2),
                 what="the table update to be read")
        time.sleep(1.0)  # read, then applied at its wall-clock time a few ms later
        batch_b = [{"id": 100 + i, "sku": f"s{i % 10}", "qty": 2} for i in range(40)]
        broker.produce(orders_topic, [(None, json.dumps(o).encode()) for o in batch_b],
                       partition_of=lambda i: i % 2)
        state_b = replay(v1 + v2)
        want_outer = want_a_outer + expected(batch_b, lambda o: state_b, left=True)
        wait_for(lambda: lines(tmp_path / "outer.jsonl") >= len(want_outer), what="batch B")
    finally:
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc, timeout=60)
    assert code == 0, err[-3000:]
    want_inner = (expected(batch_a, lambda o: state_a, left=False)
                  + expected(batch_b, lambda o: state_b, left=False))
    assert got_rows(tmp_path / "outer.jsonl") == sorted(want_outer, key=repr)
    assert got_rows(tmp_path / "inner.jsonl") == sorted(want_inner, key=repr)


BOUNDED_STREAM = """\
pipeline kafka_table_load

source orders = file("orders.jsonl") as jsonl {{
  schema {{ id: int  sku: string  qty: int }}
}}

table prices = kafka(topic = "{topic}", brokers = "{brokers}", group = "g-load") as json {{
  schema {{ sku: string  price: int?  name: string? }}
  key = sku
}}

stream outer = orders | left join prices on sku == prices.sku | select id, sku, qty, price, name
sink b = file("outer.jsonl") as jsonl <- outer
"""


@pytest.mark.parametrize("workers", [1, 4])
def test_unbounded_table_is_loaded_first_and_does_not_keep_the_run_alive(broker, tmp_path, workers):
    topic = broker.create_topic(f"prices-load-{workers}", PARTITIONS)
    updates = ([{"sku": f"s{k}", "price": k, "name": f"n{k}"} for k in range(200)]
               + [{"sku": f"s{k}", "price": None, "name": None} for k in range(0, 200, 7)]
               + [{"sku": f"s{k}", "price": 1000 + k, "name": "v2"} for k in range(0, 200, 5)])
    produce_rows(broker, topic, updates)
    orders = [{"id": i, "sku": f"s{i % 210}", "qty": 1} for i in range(1000)]
    with open(tmp_path / "orders.jsonl", "w") as f:
        for o in orders:
            f.write(json.dumps(o) + "\n")
    pipeline = write_pipeline(tmp_path / "p.sluice", BOUNDED_STREAM.format(
        topic=topic, brokers=broker.bootstrap))
    proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--workers", str(workers), "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = replay(updates)
    assert got_rows(tmp_path / "outer.jsonl") == expected(orders, lambda o: state, left=True)
