"""Kafka in and out against a real broker (tansu on loopback, see kafka_broker.py), checked
with an independent client (confluent-kafka) and expectations computed here in Python:

- a windowed pipeline from a 3-partition topic to a topic on 2 workers (partitions > workers),
  4 workers (partitions < workers) and 2 processes x 2 workers, and the offsets it commits;
- message keys and timestamps as columns, event time from the message timestamp;
- malformed messages to a dead-letter file and a dead-letter topic, with topic/partition/offset;
- a broker that is down at start, and one restarted mid-run: no loss;
- SIGKILL mid-stream and a restart: every committed offset was written before the kill (no
  loss), and the duplicates are exactly the written-but-uncommitted rows, counted;
- SIGTERM: drain, flush, commit, exit 0.
"""
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import read_jsonl, sluice_bin
from kafka_broker import Broker, free_port, require_broker

MINUTE = 60_000
BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    require_broker()
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


def write_pipeline(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def start_sluice(pipeline: Path, *args, cwd: Path, env=None):
    """Starts a run in the background; its stderr goes to a file (a pipe nobody reads while
    the test waits would fill up and block the run)."""
    full = dict(os.environ, NO_COLOR="1", RUST_LOG="warn")
    full.update(env or {})
    err = open(cwd / f"stderr-{time.time_ns()}.log", "w+")
    proc = subprocess.Popen([str(sluice_bin()), "run", str(pipeline), "--quiet", *map(str, args)],
                            cwd=cwd, env=full, stdout=subprocess.DEVNULL, stderr=err, text=True)
    proc.err_file = err
    return proc


def finish(proc, timeout=120):
    """Waits for the run; returns (exit code, stderr)."""
    proc.wait(timeout=timeout)
    proc.err_file.seek(0)
    return proc.returncode, proc.err_file.read()


def stderr_so_far(proc):
    proc.err_file.flush()
    return Path(proc.err_file.name).read_text()


WINDOW_PIPELINE = """\
pipeline kafka_window

source events = kafka(topic = "{topic}", brokers = "{brokers}", group = "{group}") as json {{
  schema {{
    id: int
    user: string
    cents: int
    ts: timestamp
  }}
  event_time = ts
  max_out_of_order = 30s
  bounded = true
}}

stream per_minute = events
  | window tumbling(1m)
  | group by user
  | aggregate n = count(), total = sum(cents)
  | select user, window_start, n, total

sink out = kafka(topic = "{out}", brokers = "{brokers}") as json {{ key_column = user }} <- per_minute
"""


def window_events(n):
    """(id, user, cents, ts) with ts out of order by up to 20 s."""
    rows = []
    for i in range(n):
        jitter = ((i * 7919) % 41 - 20) * 1000
        rows.append((i, f"u{i % 7}", (i * 37) % 1000, BASE_MS + i * 500 + jitter))
    return rows


def expected_windows(rows):
    agg = defaultdict(lambda: [0, 0])
    for _, user, cents, ts in rows:
        start = ts - ts % MINUTE
        agg[(user, start)][0] += 1
        agg[(user, start)][1] += cents
    return {k: tuple(v) for k, v in agg.items()}


def iso_ms(text):
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.parametrize("name, args", [
    ("w2", ["--workers", "2"]),                           # 3 partitions > 2 workers
    ("w4", ["--workers", "4"]),                           # 3 partitions < 4 workers
    ("p2w2", ["--local-cluster", "2", "--workers", "2"]),  # 2 processes x 2 workers
])
def test_windowed_round_trip_matches_python(broker, tmp_path, name, args):
    topic = broker.create_topic(f"win-in-{name}", 3)
    out = broker.create_topic(f"win-out-{name}", 2)
    rows = window_events(3000)
    broker.produce(topic, [(None, json.dumps({"id": i, "user": u, "cents": c, "ts": t}).encode())
                           for i, u, c, t in rows], partition_of=lambda i: i % 3)
    group = f"g-win-{name}"
    pipeline = write_pipeline(tmp_path / "p.sluice", WINDOW_PIPELINE.format(
        topic=topic, out=out, brokers=broker.bootstrap, group=group))
    summary = tmp_path / "summary.json"
    proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), *args, "--quiet",
                           "--summary-json", str(summary)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = {}
    messages = broker.consume_all(out)
    for m in messages:
        row = json.loads(m.value())
        assert m.key().decode() == row["user"]
        key = (row["user"], iso_ms(row["window_start"]))
        assert key not in got, f"window emitted twice: {key}"
        got[key] = (row["n"], row["total"])
    assert got == expected_windows(rows)
    assert json.loads(summary.read_text())["sources"][0]["records"] == len(rows)
    # Everything was read and written: the group's offsets are at the end of every partition.
    assert broker.committed(topic, group) == {0: 1000, 1: 1000, 2: 1000}
    # A second bounded run of the same group starts there and reads nothing.
    again = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--quiet", "--summary-json", str(summary)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(summary.read_text())["sources"][0]["records"] == 0


def test_key_and_timestamp_columns_and_message_event_time(broker, tmp_path):
    topic = broker.create_topic("meta-in", 2)
    messages = [(f"k{i % 3}".encode() if i % 5 else None, json.dumps({"v": i}).encode(), BASE_MS + i * 1000)
                for i in range(100)]
    broker.produce(topic, messages, partition_of=lambda i: i % 2)
    pipeline = write_pipeline(tmp_path / "p.sluice", f"""\
pipeline kafka_meta

source m = kafka(topic = "{topic}", brokers = "{broker.bootstrap}", group = "meta") as json {{
  schema {{
    v: int
    k: string?
    at: timestamp
  }}
  key_column = k
  timestamp_column = at
  event_time = at
  bounded = true
}}

stream per_key = m
  | window tumbling(10s)
  | group by k
  | aggregate n = count(), first_v = min(v)

sink rows = file("rows.jsonl") as jsonl <- m
sink out = file("out.jsonl") as jsonl <- per_key
""")
    proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--workers", "2", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = sorted(read_jsonl(tmp_path / "rows.jsonl"), key=lambda r: r["v"])
    assert [r["v"] for r in rows] == list(range(100))
    for r in rows:
        i = r["v"]
        assert r["k"] == (f"k{i % 3}" if i % 5 else None)
        assert iso_ms(r["at"]) == BASE_MS + i * 1000
    expect = Counter()
    for i in range(100):
        ts = BASE_MS + i * 1000
        expect[(f"k{i % 3}" if i % 5 else None, ts - ts % 10_000)] += 1
    got = Counter()
    for r in read_jsonl(tmp_path / "out.jsonl"):
        got[(r["k"], iso_ms(r["window_start"]))] += r["n"]
    assert got == expect


def test_bad_messages_go_to_dead_letters_with_their_position(broker, tmp_path):
    topic = broker.create_topic("dirty-in", 1)
    dlq = broker.create_topic("dirty-dlq", 1)
    values = []
    for i in range(60):
        if i % 10 == 3:
            values.append(b'{"id": 1, "name": "broken')          # truncated json
        elif i % 10 == 7:
            values.append(json.dumps({"id": "x", "name": "n"}).encode())  # wrong type
        elif i == 50:
            values.append(None)                                    # no payload
        else:
            values.append(json.dumps({"id": i, "name": f"n{i}"}).encode())
    broker.produce(topic, [(None, v) for v in values])
    for target, dead_letter in [("file", 'file("bad.jsonl") as jsonl'),
                                ("topic", f'kafka(topic = "{dlq}", brokers = "{broker.bootstrap}") as json')]:
        pipeline = write_pipeline(tmp_path / f"{target}.sluice", f"""\
pipeline kafka_dirty

source s = kafka(topic = "{topic}", brokers = "{broker.bootstrap}", group = "dirty-{target}") as json {{
  schema {{
    id: int
    name: string
  }}
  bounded = true
  dead_letter = {dead_letter}
}}

sink good = file("good-{target}.jsonl") as jsonl <- s
""")
        summary = tmp_path / f"summary-{target}.json"
        proc = subprocess.run([str(sluice_bin()), "run", str(pipeline), "--quiet", "--summary-json", str(summary)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        bad_offsets = [i for i, v in enumerate(values) if i % 10 in (3, 7) or v is None]
        good = read_jsonl(tmp_path / f"good-{target}.jsonl")
        assert sorted(r["id"] for r in good) == [i for i in range(60) if i not in bad_offsets]
        if target == "file":
            letters = read_jsonl(tmp_path / "bad.jsonl")
        else:
            letters = [json.loads(m.value()) for m in broker.consume_all(dlq)]
        assert sorted(int(d["position"].split("/")[2]) for d in letters) == bad_offsets
        for d in letters:
            name, partition, offset = d["position"].split("/")
            assert (name, partition) == (topic, "0")
            raw = values[int(offset)] or b""
            assert d["raw"] == raw.decode()
            assert d["reason"]
        s = json.loads(summary.read_text())["sources"][0]
        assert s["dead_letters"] == len(bad_offsets)
        assert s["records"] == 60 - len(bad_offsets)


PASSTHROUGH = """\
pipeline kafka_ids

source s = kafka(topic = "{topic}", brokers = "{brokers}", group = "{group}") as json {{
  schema {{
    id: int
  }}
  commit_interval = 200ms
}}

stream ids = s | select id

sink out = kafka(topic = "{out}", brokers = "{brokers}") as json <- ids
"""


def ids_of(messages):
    return [json.loads(m.value())["id"] for m in messages]


def read_until(broker, topic, done, timeout_s=120):
    """Reads the whole topic with a fresh consumer until done(messages); returns them."""
    deadline = time.time() + timeout_s
    while True:
        messages = broker.consume_all(topic, idle_s=2)
        if done(messages) or time.time() > deadline:
            return messages


def test_broker_down_at_start_then_restarted_mid_run_loses_nothing(tmp_path):
    require_broker()
    broker = Broker(tmp_path / "broker")
    pipeline = write_pipeline(tmp_path / "p.sluice", PASSTHROUGH.format(
        topic="ids-in", out="ids-out", brokers=broker.bootstrap, group="restart"))
    broker.start()
    broker.create_topic("ids-in", 2)
    broker.create_topic("ids-out", 1)
    broker.stop()
    # The broker is down: the run waits, naming broker and topic, and does not crash.
    proc = start_sluice(pipeline, "--workers", "2", cwd=tmp_path)
    time.sleep(3)
    assert proc.poll() is None, stderr_so_far(proc)[-2000:]
    broker.start()
    try:
        broker.produce("ids-in", [(None, json.dumps({"id": i}).encode()) for i in range(2000)])
        first = read_until(broker, "ids-out", lambda ms: set(ids_of(ms)) >= set(range(2000)), 90)
        assert set(ids_of(first)) >= set(range(2000)), "first half not delivered"
        broker.stop()
        time.sleep(2)
        broker.start()
        broker.produce("ids-in", [(None, json.dumps({"id": i}).encode()) for i in range(2000, 4000)])
        both = read_until(broker, "ids-out", lambda ms: set(ids_of(ms)) >= set(range(4000)))
        assert set(ids_of(both)) >= set(range(4000)), "ids lost"
    finally:
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
        broker.stop()
    assert code == 0, err[-3000:]
    assert f"on broker(s) {broker.bootstrap}" in err and "`ids-in`" in err, err[-3000:]
    assert "panicked" not in err


def test_sigkill_and_restart_lose_nothing_and_duplicates_are_the_uncommitted_rows(broker, tmp_path):
    partitions, total = 2, 20_000
    topic = broker.create_topic("kill-in", partitions)
    out = broker.create_topic("kill-out", 1)
    group = "kill"
    pipeline = write_pipeline(tmp_path / "p.sluice", PASSTHROUGH.format(
        topic=topic, out=out, brokers=broker.bootstrap, group=group))
    # id i goes to partition i % 2 at offset i // 2.
    produce = lambda ids: broker.produce(topic, [(None, json.dumps({"id": i}).encode()) for i in ids],
                                         partition_of=lambda k: ids[k] % partitions)
    produce(list(range(0, total // 2)))
    proc = start_sluice(pipeline, "--workers", "2", cwd=tmp_path)
    assert len(read_until(broker, out, lambda ms: len(ms) >= total // 4, 90)) >= total // 4
    proc.kill()  # SIGKILL: no flush, no commit
    proc.wait()
    written_before = set(ids_of(broker.consume_all(out, idle_s=2)))
    committed = broker.committed(topic, group)
    # No loss: every committed offset's row is in the output.
    committed_ids = {i for i in range(total // 2) if i // partitions < committed.get(i % partitions, 0)}
    assert committed_ids <= written_before, f"committed but never written: {sorted(committed_ids - written_before)[:10]}"
    assert committed_ids, f"nothing was committed before the kill: {committed}"

    produce(list(range(total // 2, total)))
    proc = start_sluice(pipeline, "--workers", "2", cwd=tmp_path)
    try:
        messages = read_until(broker, out, lambda ms: set(ids_of(ms)) >= set(range(total)))
        assert set(ids_of(messages)) >= set(range(total)), "ids lost after restart"
    finally:
        proc.send_signal(signal.SIGTERM)
        code, err = finish(proc)
    messages = broker.consume_all(out, idle_s=2)
    assert code == 0, err[-3000:]
    counts = Counter(ids_of(messages))
    duplicates = sum(c - 1 for c in counts.values())
    # Exactly the rows written before the kill whose offsets were not committed came twice.
    reread = {i for i in range(total) if i // partitions >= committed.get(i % partitions, 0)}
    assert duplicates == len(written_before & reread)
    print(f"\nSIGKILL: {len(written_before)} rows written before the kill, "
          f"{len(committed_ids)} committed, {duplicates} duplicates after restart")


def test_sigterm_drains_commits_and_exits_zero(broker, tmp_path):
    topic = broker.create_topic("term-in", 3)
    out = broker.create_topic("term-out", 1)
    broker.produce(topic, [(None, json.dumps({"id": i}).encode()) for i in range(3000)],
                   partition_of=lambda i: i % 3)
    pipeline = write_pipeline(tmp_path / "p.sluice", PASSTHROUGH.format(
        topic=topic, out=out, brokers=broker.bootstrap, group="term"))
    port = free_port()
    proc = start_sluice(pipeline, "--workers", "2", "--metrics-listen", f"127.0.0.1:{port}", cwd=tmp_path)
    assert len(read_until(broker, out, lambda ms: len(ms) >= 3000, 90)) >= 3000
    # Consumer lag per partition, from librdkafka's statistics (every second): caught up.
    lag = {}
    deadline = time.time() + 15
    while len(lag) < 3 and time.time() < deadline:
        time.sleep(1)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        for family in text_string_to_metric_families(text):
            if family.name == "sluice_kafka_consumer_lag_messages":
                lag = {s.labels["partition"]: s.value for s in family.samples if s.labels["topic"] == topic}
    assert lag == {"0": 0, "1": 0, "2": 0}
    started = time.time()
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc, timeout=60)
    assert code == 0, err[-3000:]
    assert time.time() - started < 20
    assert broker.committed(topic, "term") == {0: 1000, 1: 1000, 2: 1000}
