"""A real Kafka-protocol broker for the tests: tansu (built into .tools/ by
`scripts/broker.sh install`), started on a free loopback port in a scratch directory, and
confluent-kafka (PyPI, bundles its own librdkafka) as the independent client.

Without the broker binary the Kafka tests skip with a loud reason, except under CI=true,
where they fail: CI must run them."""
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TANSU = Path(os.environ.get("SLUICE_TANSU", ROOT / ".tools" / "bin" / "tansu"))


def require_broker():
    if TANSU.exists():
        return
    reason = f"Kafka broker binary missing ({TANSU}); run `bash scripts/broker.sh install`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    print(f"\n*** SKIPPING Kafka tests: {reason} ***\n")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One tansu broker process on 127.0.0.1:port, storing in `workdir` (survives restarts)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = workdir
        self.port = port or free_port()
        self.proc = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self):
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.workdir / "broker.log", "ab")
        self.proc = subprocess.Popen(
            [str(TANSU), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "sqlite://tansu.db"],
            cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited {self.proc.returncode}: "
                                   + (self.workdir / "broker.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("broker did not open its port within 20 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def create_topic(self, name: str, partitions: int):
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        for f in futures.values():
            f.result(timeout=30)
        return name

    def produce(self, topic: str, messages, partition_of=None):
        """messages: iterable of (key bytes|None, value bytes|None[, timestamp ms])."""
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for i, m in enumerate(messages):
            key, value = m[0], m[1]
            kwargs = {}
            if len(m) > 2 and m[2] is not None:
                kwargs["timestamp"] = m[2]
            if partition_of is not None:
                kwargs["partition"] = partition_of(i)
            while True:
                try:
                    p.produce(topic, value=value, key=key, **kwargs)
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        left = p.flush(60)
        assert left == 0, f"{left} messages not delivered to {topic}"

    def consumer(self, group: str):
        """An independent client consumer. Small per-partition fetches: tansu answers a fetch
        with one sqlite query per stored batch, so a fetch of a whole topic from offset 0 can
        take many seconds on a loaded machine; small ones come back sooner."""
        from confluent_kafka import Consumer
        return Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "max.partition.fetch.bytes": 65536})

    def consume_all(self, topic: str, idle_s: float = 3.0, timeout_s: float = 60.0):
        """Every message of the topic from the start: at least up to the end offsets the topic
        had when called, then whatever else comes until nothing new came for idle_s. Read by
        a Collector, so a quiet consumer is replaced and a slow first fetch is waited for."""
        from confluent_kafka import TopicPartition
        deadline = time.time() + timeout_s
        collector = Collector(self, topic)
        ends = {p: collector.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in collector.partitions}
        collector.poll_until(lambda _: all(collector.next.get(p, 0) >= end for p, end in ends.items()),
                             max(0.0, deadline - time.time()))
        while time.time() < deadline:
            seen = len(collector.messages)
            collector.poll_until(lambda ms: len(ms) > seen, min(idle_s, max(0.0, deadline - time.time())))
            if len(collector.messages) == seen:
                break
        collector.close()
        return collector.messages

    def committed(self, topic: str, group: str):
        """The group's committed offset per partition (-1001 when none)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        md = c.list_topics(topic, timeout=10)
        parts = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
        got = c.committed(parts, timeout=10)
        c.close()
        return {tp.partition: tp.offset for tp in got}


class Collector:
    """Reads a topic from its beginning with the independent client, as messages arrive.

    A consumer that sat at the end of a tansu partition sometimes stops seeing new messages
    (a fresh consumer sees them): after 2 s without a message it is replaced by a new one that
    skips what was already read. The patience doubles with every replacement in a row, so a
    first fetch slower than 2 s (a long topic on a loaded machine) still completes."""

    def __init__(self, broker: Broker, topic: str):
        self.broker, self.topic = broker, topic
        self.messages = []
        self.next = {}
        self.patience = 2.0
        self.consumer = None
        self._connect()

    def _connect(self):
        from confluent_kafka import TopicPartition
        if self.consumer is not None:
            self.consumer.close()
        self.consumer = self.broker.consumer(f"collect-{time.time_ns()}")
        md = self.consumer.list_topics(self.topic, timeout=10)
        self.partitions = sorted(md.topics[self.topic].partitions)
        # From the start (resuming at an offset was not reliable either); seen ones are skipped.
        self.consumer.assign([TopicPartition(self.topic, p, 0) for p in self.partitions])

    def poll_until(self, done, timeout_s: float = 60.0):
        """Collects until done(messages) or the timeout; returns done(messages)."""
        deadline = time.time() + timeout_s
        last = time.time()
        while not done(self.messages) and time.time() < deadline:
            m = self.consumer.poll(0.1)
            if m is not None and not m.error():
                if m.offset() < self.next.get(m.partition(), 0):
                    continue
                self.messages.append(m)
                self.next[m.partition()] = m.offset() + 1
                last, self.patience = time.time(), 2.0
            elif time.time() - last > self.patience:
                self._connect()
                last, self.patience = time.time(), self.patience * 2
        return done(self.messages)

    def close(self):
        self.consumer.close()
