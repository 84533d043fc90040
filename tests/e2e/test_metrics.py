"""The Prometheus endpoint (`sluice run --metrics-listen ADDR`): scraped while a run lasts, parsed
with prometheus_client's OpenMetrics parser; counters only grow, routed records never exceed
records read; a taken port fails the run naming the address; dead letters are counted by reason."""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import run_sluice, sluice_bin

HERE = Path(__file__).resolve().parent
DIRTY = HERE / "data" / "dirty_flights.csv"
DIRTY_PIPELINE = HERE / "pipelines" / "dirty_flights.sluice"

COUNTERS = [
    "sluice_source_records", "sluice_source_bytes", "sluice_source_empty_lines",
    "sluice_source_dead_letters", "sluice_source_dead_letters_by_reason", "sluice_operator_rows_out",
    "sluice_sink_records", "sluice_sink_bytes", "sluice_route_records",
]
GAUGES = [
    "sluice_route_nearest_share", "sluice_route_max_over_mean_load", "sluice_route_mean_distance_km",
    "sluice_route_worker_load_rows", "sluice_uptime_seconds", "sluice_workers",
]

# About 3 s: the generator paces itself at `rate` records per second.
GEO_PIPELINE = """pipeline metrics_geo

source points = generator(geo_points, events = 300000, rate = 100000, seed = 1)

stream kept = points
  | route by geo(lat, lon)
  | where value >= 0.0

sink out = file("{out}") as csv <- kept
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, proc, deadline_s=10.0):
    """GET /metrics, retrying until the server answers (bounded); returns (families, samples)
    where samples maps (name, sorted labels) to the value."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                text = resp.read().decode()
                break
        except (urllib.error.URLError, ConnectionError) as e:
            if proc.poll() is not None:
                pytest.fail(f"sluice exited ({proc.returncode}) before /metrics answered: "
                            f"{proc.communicate()[1][-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"/metrics did not answer within {deadline_s} s: {e}")
            time.sleep(0.05)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    return families, samples


def start(args, env=None, cwd=None):
    return subprocess.Popen([str(sluice_bin()), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def total(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def test_metrics_while_running(tmp_path):
    pipeline = tmp_path / "geo.sluice"
    pipeline.write_text(GEO_PIPELINE.format(out=tmp_path / "out.csv"))
    port = free_port()
    summary_path = tmp_path / "summary.json"
    proc = start(["run", pipeline, "--workers", 2, "--metrics-listen", f"127.0.0.1:{port}",
                  "--summary-json", summary_path, "--quiet"])
    try:
        families, first = scrape(port, proc)
        time.sleep(0.5)
        _, second = scrape(port, proc)
        assert proc.poll() is None, "the run should outlast both scrapes"
    finally:
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    for name in COUNTERS:
        assert families[name].type == "counter", name
    for name in GAUGES:
        assert families[name].type == "gauge", name
    assert first[("sluice_workers", ())] == 2
    assert first[("sluice_uptime_seconds", ())] < second[("sluice_uptime_seconds", ())]
    for name in COUNTERS:
        if name != "sluice_source_dead_letters_by_reason":
            assert any(n == name + "_total" for n, _ in second), name
    for name in GAUGES:
        assert any(n == name for n, _ in second), name
    stages = {dict(ls)["stage"] for n, ls in second if n == "sluice_operator_rows_out_total"}
    assert stages == {"route", "where"}

    # Counters never go down between scrapes.
    for key, value in first.items():
        if key[0].endswith("_total"):
            assert second[key] >= value, key

    summary = json.loads(summary_path.read_text())
    read_final = summary["sources"][0]["records"]
    for samples in (first, second):
        read = total(samples, "sluice_source_records_total", source="points")
        routed = total(samples, "sluice_route_records_total", stream="kept")
        workers = {dict(ls)["worker"] for n, ls in samples if n == "sluice_route_records_total"}
        assert workers == {"0", "1"}
        assert routed <= read <= read_final
        assert total(samples, "sluice_sink_records_total", sink="out") <= routed
    # Geo gauges exist once records are routed (the first scrape may come before any).
    route = (("index", "0"), ("stream", "kept"))
    assert 0.0 <= second[("sluice_route_nearest_share", route)] <= 1.0
    assert second[("sluice_route_max_over_mean_load", route)] >= 1.0
    assert second[("sluice_route_mean_distance_km", route)] > 0.0
    assert total(second, "sluice_route_records_total") > 0, "the second scrape comes 0.5 s into the run"
    assert read_final == 300000
    assert summary["sinks"][0]["records"] == 300000


def test_taken_port_fails_naming_the_address(tmp_path):
    pipeline = tmp_path / "geo.sluice"
    pipeline.write_text(GEO_PIPELINE.format(out=tmp_path / "out.csv"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        proc = run_sluice("run", pipeline, "--metrics-listen", addr, "--quiet", check=False)
    assert proc.returncode == 1, proc.stderr
    assert addr in proc.stderr and "metrics" in proc.stderr, proc.stderr
    # Failed before the run opened its outputs.
    assert not (tmp_path / "out.csv").exists()


def test_invalid_address_is_a_usage_error(tmp_path):
    pipeline = tmp_path / "geo.sluice"
    pipeline.write_text(GEO_PIPELINE.format(out=tmp_path / "out.csv"))
    proc = run_sluice("run", pipeline, "--metrics-listen", "localhost", check=False)
    assert proc.returncode == 2 and "metrics.listen" in proc.stderr, proc.stderr


def test_dead_letters_by_reason(tmp_path):
    # The dirty-CSV pipeline plus a paced generator, so that the run lasts long enough to scrape.
    pipeline = tmp_path / "dirty_flights.sluice"
    pipeline.write_text(DIRTY_PIPELINE.read_text() + """
source keepalive = generator(geo_points, events = 200000, rate = 100000, seed = 2)

sink keepalive_out = file("${OUT_DIR}/keepalive.csv") as csv <- keepalive
""")
    port = free_port()
    env = {**os.environ, "DIRTY": str(DIRTY), "OUT_DIR": str(tmp_path), "NO_COLOR": "1"}
    proc = start(["run", pipeline, "--workers", 2, "--metrics-listen", f"127.0.0.1:{port}", "--quiet"],
                 env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while True:
            families, samples = scrape(port, proc)
            if total(samples, "sluice_source_dead_letters_total", source="flights") == 8:
                break
            assert time.monotonic() < deadline, samples
            time.sleep(0.05)
        assert proc.poll() is None, "the run should outlast the scrape"
    finally:
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr

    reasons = {dict(ls)["reason"]: v for (n, ls), v in samples.items()
               if n == "sluice_source_dead_letters_by_reason_total" and dict(ls)["source"] == "flights"}
    assert sum(reasons.values()) == 8, reasons
    assert reasons == {
        "invalid int": 1,
        "expected N fields, found N": 2,
        "empty value for non-nullable column": 1,
        "unterminated quote": 1,
        "int out of range": 1,
        "invalid timestamp": 1,
        "invalid utf-8": 1,
    }
    assert total(samples, "sluice_source_records_total", source="flights") == 7
    assert total(samples, "sluice_source_empty_lines_total", source="flights") == 1
    assert total(samples, "sluice_source_dead_letters_total", source="keepalive") == 0
