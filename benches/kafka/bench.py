"""Kafka -> where/window -> Kafka on loopback: sustained events/s and end-to-end latency at
fixed offered rates, for Sluice with 1 and 2 processes, and the broker alone (produce + consume
with confluent-kafka) as the floor. Prints markdown tables.

Sustained throughput: N messages are produced first, then a bounded run drains them; events/s
= N / wall time of the run (process start to exit, including connecting and the last commit).
Latency: a producer offers messages at a fixed rate, each carrying its send time (`sent`, ms);
an independent consumer reads the output topic and records receive time - `sent`, so the
figure includes both broker hops. p50/p99/p999 over the messages of the measuring window (the
first 2 s are warm-up). Rates are 50% and 90% of the measured maximum of each configuration.

Usage: python bench.py SLUICE_BIN TANSU_BIN [N] [SECONDS]
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "e2e"))
from kafka_broker import Broker, Collector  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

SLUICE, TANSU = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
SECONDS = float(sys.argv[4]) if len(sys.argv) > 4 else 15
PARTITIONS = 4

PIPELINES = {
    "where": """\
pipeline bench_where
source s = kafka(topic = "{inp}", brokers = "{brokers}", group = "{group}") as json {{
  schema {{ id: int  user: string  amount: float  sent: int }}
  bounded = {bounded}
}}
stream big = s | where amount > 10.0
sink out = kafka(topic = "{out}", brokers = "{brokers}") as json <- big
""",
    "window": """\
pipeline bench_window
source s = kafka(topic = "{inp}", brokers = "{brokers}", group = "{group}") as json {{
  schema {{ id: int  user: string  amount: float  sent: int  at: timestamp }}
  timestamp_column = at
  event_time = at
  bounded = {bounded}
}}
stream per_second = s
  | window tumbling(1s)
  | group by user
  | aggregate n = count(), total = sum(amount), sent = max(sent)
sink out = kafka(topic = "{out}", brokers = "{brokers}") as json <- per_second
""",
}


def message(i, sent_ms):
    return json.dumps({"id": i, "user": f"u{i % 100}", "amount": float(i % 50), "sent": sent_ms}).encode()


def produce_backlog(broker, topic, n):
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    now = int(time.time() * 1000)
    for i in range(n):
        while True:
            try:
                p.produce(topic, message(i, now), partition=i % PARTITIONS)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(120) == 0


def sluice_cmd(pipeline, processes, workers):
    cmd = [SLUICE, "run", str(pipeline), "--quiet", "--workers", str(workers)]
    if processes > 1:
        cmd += ["--local-cluster", str(processes)]
    return cmd


def write_pipeline(tmp, kind, inp, out, broker, group, bounded):
    path = Path(tmp) / f"{kind}-{group}.sluice"
    path.write_text(PIPELINES[kind].format(inp=inp, out=out, brokers=broker.bootstrap, group=group,
                                           bounded="true" if bounded else "false"))
    return path


def sustained(broker, tmp, kind, processes, workers, tag):
    inp = broker.create_topic(f"in-{tag}", PARTITIONS)
    out = broker.create_topic(f"out-{tag}", PARTITIONS)
    produce_backlog(broker, inp, N)
    pipeline = write_pipeline(tmp, kind, inp, out, broker, f"g-{tag}", True)
    started = time.time()
    subprocess.run(sluice_cmd(pipeline, processes, workers), check=True, cwd=tmp)
    return N / (time.time() - started)


def floor_sustained(broker, tag):
    topic = broker.create_topic(f"floor-{tag}", PARTITIONS)
    started = time.time()
    produce_backlog(broker, topic, N)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"floor-{tag}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = 0
    while got < N:
        got += len(c.consume(10000, 1.0))
    c.close()
    return N / (time.time() - started)


def offered(broker, topic, rate, seconds, stop):
    """Produces at `rate` msg/s for `seconds`, each message stamped with its send time."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
    started = time.time()
    i = 0
    while not stop.is_set():
        elapsed = time.time() - started
        if elapsed > seconds:
            break
        due = int(elapsed * rate)
        while i < due:
            try:
                p.produce(topic, message(i, int(time.time() * 1000)), partition=i % PARTITIONS)
                i += 1
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        time.sleep(0.001)
    p.flush(30)


def latencies(broker, topic, seconds, warmup=2.0):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"lat-{time.time_ns()}",
                  "auto.offset.reset": "latest", "enable.auto.commit": False, "fetch.wait.max.ms": 1})
    md = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, p, -1) for p in md.topics[topic].partitions])  # -1: end
    out = []
    started = time.time()
    while time.time() - started < seconds:
        for m in c.consume(1000, 0.05):
            if m.error():
                continue
            now = time.time() * 1000
            if time.time() - started > warmup:
                out.append(now - json.loads(m.value())["sent"])
    c.close()
    return np.array(out)


def latency_run(broker, tmp, kind, processes, workers, rate, tag):
    inp = broker.create_topic(f"lin-{tag}", PARTITIONS)
    out = broker.create_topic(f"lout-{tag}", PARTITIONS)
    stop = threading.Event()
    proc = None
    if kind == "floor":
        read = out = inp
    else:
        pipeline = write_pipeline(tmp, kind, inp, out, broker, f"lg-{tag}", False)
        proc = subprocess.Popen(sluice_cmd(pipeline, processes, workers), cwd=tmp)
        time.sleep(2)
    producer = threading.Thread(target=offered, args=(broker, inp, rate, SECONDS + 1, stop))
    producer.start()
    lat = latencies(broker, out, SECONDS)
    stop.set()
    producer.join()
    if proc:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    if len(lat) == 0:
        return None
    return np.percentile(lat, [50, 99, 99.9]), len(lat)


def main():
    tmp = tempfile.mkdtemp(prefix="sluice-kafka-bench-")
    broker = Broker(Path(tmp) / "broker")
    os.environ["SLUICE_TANSU"] = TANSU
    broker.start()
    try:
        rows = []
        floor = floor_sustained(broker, "f")
        rows.append(("broker alone (produce + consume, confluent-kafka)", "-", floor))
        configs = [("where", 1), ("where", 2), ("window", 1), ("window", 2)]
        maxima = {}
        for kind, processes in configs:
            eps = sustained(broker, tmp, kind, processes, 1, f"{kind}{processes}")
            maxima[(kind, processes)] = eps
            rows.append((f"Sluice {kind}", f"{processes} x 1 worker", eps))
        print(f"\nSustained ({N:,} messages of ~70 bytes, {PARTITIONS} partitions, drained by a bounded run)\n")
        print("| pipeline | processes | events/s | vs broker alone |")
        print("|---|---|---|---|")
        for name, procs, eps in rows:
            print(f"| {name} | {procs} | {eps:,.0f} | {eps / floor:.2f} |")
        print(f"\nEnd-to-end latency at fixed offered rates ({SECONDS:.0f} s each, first 2 s warm-up)\n")
        print("| pipeline | processes | offered rate | p50 ms | p99 ms | p999 ms | messages |")
        print("|---|---|---|---|---|---|---|")
        for kind, processes in [("floor", 1)] + configs:
            top = floor if kind == "floor" else maxima[(kind, processes)]
            for share in (0.5, 0.9):
                rate = int(top * share)
                got = latency_run(broker, tmp, kind, processes, 1, rate, f"{kind}{processes}{int(share * 100)}")
                label = "broker alone" if kind == "floor" else f"Sluice {kind}"
                procs = "-" if kind == "floor" else str(processes)
                if got is None:
                    print(f"| {label} | {procs} | {rate:,}/s ({share:.0%}) | - | - | - | 0 |")
                else:
                    (p50, p99, p999), n = got
                    print(f"| {label} | {procs} | {rate:,}/s ({share:.0%}) | {p50:.1f} | {p99:.1f} | {p999:.1f} | {n:,} |")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
