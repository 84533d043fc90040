"""The operator-facing metrics (rows in per operator, watermark lag, per-worker load and queue
depth, end-to-end latency, Kafka consumer lag) in a real scrape of a paced event-time run, and
the Grafana dashboard (deploy/grafana/sluice.json) querying only metrics that a scrape has."""
import json
import re
import time
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from test_metrics import free_port, scrape, start, total

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sluice.json"

# About 5 s: the Nexmark generator paces itself at `rate` events per second. The window stream
# goes through an exchange (key_by), so queue depths are real.
PIPELINE = """pipeline metrics_dashboard

source bids = generator(nexmark, events = 50000, rate = 10000, seed = 0, events_of = "bid")

stream cheap = bids
  | where price < 5000000
  | select auction, price, event_time

stream per_second = cheap
  | window tumbling(1s)
  | group by auction
  | aggregate bids = count()

sink cheap_out = file("{out}/cheap.jsonl") as jsonl <- cheap
sink windows_out = file("{out}/windows.jsonl") as jsonl <- per_second
"""

# A sample name that belongs to a family of another name (OpenMetrics suffixes).
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def family_of(name, families):
    """The family a sample or family name refers to: itself when it is one, else the name
    without its suffix (a family named `x_count` is itself, not `x`'s count)."""
    if name in families:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in families:
            return name[: -len(suffix)]
    return None


def samples_of(samples, name):
    return {ls: v for (n, ls), v in samples.items() if n == name}


def test_operator_metrics_while_running(tmp_path):
    pipeline = tmp_path / "dash.sluice"
    pipeline.write_text(PIPELINE.format(out=tmp_path))
    port = free_port()
    proc = start(["run", pipeline, "--workers", 2, "--metrics-listen", f"127.0.0.1:{port}", "--quiet"])
    try:
        # Wait until windows have closed and reached their sink, so every family has samples.
        deadline = time.monotonic() + 30
        while True:
            families, samples = scrape(port, proc)
            if total(samples, "sluice_sink_latency_seconds_count", sink="windows_out") > 0:
                break
            assert proc.poll() is None and time.monotonic() < deadline, samples
            time.sleep(0.2)
        assert proc.poll() is None, "the run should outlast the scrape"
    finally:
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    for name, kind in [
        ("sluice_operator_rows_in", "counter"), ("sluice_source_watermark_ms", "gauge"),
        ("sluice_source_watermark_lag_seconds", "gauge"), ("sluice_worker_rows_processed", "counter"),
        ("sluice_worker_queue_depth_rows", "gauge"), ("sluice_exchange_rows_in_flight", "gauge"),
        ("sluice_sink_latency_seconds", "gauge"), ("sluice_sink_latency_seconds_count", "gauge"),
        ("sluice_kafka_consumer_lag_messages", "gauge"),
    ]:
        assert families[name].type == kind, name

    # Rows in per operator: the `where` gets the source's records and keeps some of them; each
    # later stage gets what the one before it sent.
    rows_in = {dict(ls)["stage"]: v for ls, v in samples_of(samples, "sluice_operator_rows_in_total").items()
               if dict(ls)["stream"] == "cheap"}
    rows_out = {dict(ls)["stage"]: v for ls, v in samples_of(samples, "sluice_operator_rows_out_total").items()
                if dict(ls)["stream"] == "cheap"}
    assert rows_in["where"] >= rows_out["where"] > 0
    assert rows_in["where"] <= total(samples, "sluice_source_records_total", source="bids")
    assert rows_in["select"] == rows_out["where"]
    window_in = total(samples, "sluice_operator_rows_in_total", stream="per_second", stage="window")
    assert window_in == rows_out["select"]

    # Watermark: event time starts at 2026-01-01, so it is behind the wall clock.
    watermark_ms = samples[("sluice_source_watermark_ms", (("source", "bids"),))]
    assert watermark_ms >= 1767225600000
    lag = samples[("sluice_source_watermark_lag_seconds", (("source", "bids"),))]
    assert lag >= 0
    assert abs((time.time() * 1000 - watermark_ms) / 1000 - lag) < 60

    # Per-worker load and queue depth.
    load = samples_of(samples, "sluice_worker_rows_processed_total")
    assert {dict(ls)["worker"] for ls in load} == {"0", "1"}
    assert sum(load.values()) > 0
    depth = samples_of(samples, "sluice_worker_queue_depth_rows")
    assert {dict(ls)["worker"] for ls in depth} == {"0", "1"}
    assert all(v >= 0 for v in depth.values())
    assert samples[("sluice_exchange_rows_in_flight", ())] >= 0

    # Latency quantiles per sink: ordered, non-negative, at most the run's age.
    uptime = samples[("sluice_uptime_seconds", ())]
    for sink in ("cheap_out", "windows_out"):
        q = {dict(ls)["quantile"]: v for ls, v in samples_of(samples, "sluice_sink_latency_seconds").items()
             if dict(ls)["sink"] == sink}
        assert set(q) == {"0.5", "0.9", "0.99", "0.999"}, q
        assert 0 <= q["0.5"] <= q["0.9"] <= q["0.99"] <= q["0.999"] <= uptime + 1, q
        assert total(samples, "sluice_sink_latency_seconds_count", sink=sink) > 0

    # No Kafka source: the family is there, empty.
    assert families["sluice_kafka_consumer_lag_messages"].samples == []


def test_dashboard_queries_only_metrics_that_a_scrape_has(tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"DS_PROMETHEUS"}
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for p in dashboard["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
    names = {n for e in exprs for n in re.findall(r"sluice_[a-z0-9_]+", e)}
    assert len(names) >= 15, names

    pipeline = tmp_path / "dash.sluice"
    pipeline.write_text(PIPELINE.format(out=tmp_path))
    port = free_port()
    proc = start(["run", pipeline, "--workers", 2, "--metrics-listen", f"127.0.0.1:{port}", "--quiet"])
    try:
        families, _ = scrape(port, proc)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    missing = sorted(n for n in names if family_of(n, families) is None)
    assert not missing, f"the dashboard queries metrics no scrape has: {missing}"
    # A counter is queried by its sample name (`_total`), as PromQL sees it.
    for name in names:
        family = families[family_of(name, families)]
        if family.type == "counter":
            assert name == family.name + "_total", name


def test_the_parser_accepts_the_whole_scrape_text():
    # `scrape` already parses with the OpenMetrics parser; this guards the family-name helper.
    families = {f.name: f for f in text_string_to_metric_families(
        "# TYPE a counter\na_total 1\n# TYPE b_count gauge\nb_count 2\n# EOF\n")}
    assert family_of("a_total", families) == "a"
    assert family_of("b_count", families) == "b_count"
    assert family_of("c_total", families) is None
