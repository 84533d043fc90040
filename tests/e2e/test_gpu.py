"""GPU offload end to end: every shipped pipeline with `where`/`select` stages gives the same
output with `--gpu on` (fused chains on the GPU, lavapipe in CI) as with `--gpu off` (the CPU
evaluator, itself checked against DuckDB by the other tests); `auto` with a threshold; no
adapter (`auto` falls back to the CPU, `on` and `@gpu` are exit 2); GPU metrics in a scrape.
Without an adapter the tests that need one skip loudly; under CI=true they fail."""
import os
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_sluice
from test_metrics import free_port, scrape, start, total

NO_ADAPTER = {"VK_ICD_FILENAMES": "/nonexistent/no_icd.json", "VK_DRIVER_FILES": "/nonexistent/no_icd.json"}

PIPELINES = sorted((ROOT / "pipelines").glob("*.sluice")) + sorted((ROOT / "pipelines" / "nexmark").glob("*.sluice")) + [
    ROOT / "tests" / "e2e" / "pipelines" / "dirty_flights.sluice"]


def has_adapter():
    probe = run_sluice("explain", ROOT / "pipelines" / "flights_delayed.sluice", "--gpu", "on", check=False)
    return probe.returncode == 0, probe.stderr


@pytest.fixture(scope="module")
def gpu():
    ok, why = has_adapter()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no GPU adapter (install mesa-vulkan-drivers): {why}")
        print(f"SKIPPED: no GPU adapter: {why}")
        pytest.skip(f"no GPU adapter: {why}")


def env_for(cwd: Path):
    return {
        "FLIGHTS": str(ROOT / "data" / "flights.csv"),
        "AIRPORTS": str(ROOT / "data" / "airports.csv"),
        "DIRTY": str(ROOT / "tests" / "e2e" / "data" / "dirty_flights.csv"),
        "EVENTS": "20000",
        "OUT_DIR": str(cwd / "out"),
    }


def run_in(pipeline: Path, cwd: Path, *flags, env=None):
    """Runs in its own directory; returns every output line (files under it and stdout), sorted
    per file, since rows from two workers interleave in any order."""
    cwd.mkdir(parents=True)
    proc = run_sluice("run", pipeline, "--workers", 2, "--quiet", *flags, env={**env_for(cwd), **(env or {})},
                      cwd=cwd, check=False)
    assert proc.returncode == 0, f"{pipeline.name} {flags}: {proc.stderr[-2000:]}"
    outputs = {"<stdout>": sorted(proc.stdout.splitlines())}
    for path in sorted(cwd.rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(cwd))] = sorted(path.read_text().splitlines())
    return outputs


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.stem)
def test_gpu_on_equals_gpu_off(gpu, pipeline, tmp_path):
    off = run_in(pipeline, tmp_path / "off", "--gpu", "off")
    on = run_in(pipeline, tmp_path / "on", "--gpu", "on")
    assert on.keys() == off.keys()
    for name in off:
        assert on[name] == off[name], f"{pipeline.name}: {name} differs between --gpu on and off"
    assert sum(len(v) for v in off.values()) > 0


def test_shipped_pipelines_really_use_the_gpu(gpu):
    used = []
    for pipeline in PIPELINES:
        proc = run_sluice("explain", pipeline, "--gpu", "on", env=env_for(Path("/tmp")), check=False)
        if proc.returncode == 0 and "GPU (fused chain" in proc.stdout:
            used.append(pipeline.stem)
    assert {"flights_delayed", "flights_speed", "flights_by_origin", "q1", "q2"} <= set(used), used


def test_auto_with_a_threshold_offloads_large_batches_only(gpu, tmp_path):
    config = tmp_path / "engine.toml"
    config.write_text("[gpu]\nmode = \"auto\"\nmin_batch_rows = 4096\n")
    pipeline = ROOT / "pipelines" / "flights_speed.sluice"
    explain = run_sluice("explain", pipeline, "--config", config).stdout
    assert "batches of >= 4096 rows" in explain
    off = run_in(pipeline, tmp_path / "off", "--gpu", "off")
    # Batch size 5000: full batches go to the GPU, each worker's last partial one may not.
    auto = run_in(pipeline, tmp_path / "auto", "--config", config, "--batch-size", "5000")
    assert auto == off


def test_auto_leaves_a_software_adapter_unopened_unless_asked(gpu, tmp_path):
    """`auto` without a threshold or `@gpu` does not open (or calibrate on) an adapter of
    device type Cpu (lavapipe); `on` still uses it. On a real GPU, auto opens it."""
    pipeline = ROOT / "pipelines" / "flights_speed.sluice"
    on = run_sluice("explain", pipeline, "--gpu", "on").stdout
    software = ", Cpu, " in on
    auto = run_sluice("explain", pipeline).stdout
    if software:
        assert "is a software one on the CPU cores" in auto and "calibration" not in auto, auto
        assert "CPU: software adapter only" in auto, auto
        assert "GPU (fused chain" in on, on
    else:
        assert "adapter " in auto and "software" not in auto, auto
    assert run_in(pipeline, tmp_path / "auto") == run_in(pipeline, tmp_path / "off", "--gpu", "off")


def test_no_adapter_auto_runs_on_cpu_on_is_an_error(tmp_path):
    pipeline = ROOT / "pipelines" / "flights_delayed.sluice"
    proc = run_sluice("run", pipeline, "--gpu", "on", env={**env_for(tmp_path), **NO_ADAPTER}, cwd=tmp_path,
                      check=False)
    assert proc.returncode == 2, proc.stderr
    assert "E0402" in proc.stderr and "needs a GPU" in proc.stderr, proc.stderr
    hinted = tmp_path / "hinted.sluice"
    hinted.write_text(pipeline.read_text().replace("| where dep_delay > 60", "| where dep_delay > 60 @gpu"))
    assert "@gpu" in hinted.read_text()
    proc = run_sluice("run", hinted, env={**env_for(tmp_path), **NO_ADAPTER}, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "E0402" in proc.stderr, proc.stderr
    auto = run_in(pipeline, tmp_path / "auto", "--gpu", "auto", env={**NO_ADAPTER, "RUST_LOG": "info"})
    off = run_in(pipeline, tmp_path / "off", "--gpu", "off")
    assert auto == off
    explain = run_sluice("explain", pipeline, env={**env_for(tmp_path), **NO_ADAPTER}).stdout
    assert "no usable adapter" in explain


def test_gpu_metrics_while_running(gpu, tmp_path):
    pipeline = tmp_path / "gpu_metrics.sluice"
    pipeline.write_text(f"""pipeline gpu_metrics
source bids = generator(nexmark, events = 40000, rate = 10000, seed = 0, events_of = "bid")
stream cheap = bids
  | where price < 5000000
  | select auction, price, double = price * 2
sink out = file("{tmp_path}/cheap.jsonl") as jsonl <- cheap
""")
    port = free_port()
    proc = start(["run", pipeline, "--workers", 2, "--gpu", "on", "--batch-size", "256",
                  "--metrics-listen", f"127.0.0.1:{port}", "--quiet"])
    try:
        deadline = time.monotonic() + 30
        while True:
            families, samples = scrape(port, proc)
            if total(samples, "sluice_gpu_batches_total", placement="gpu") > 0:
                break
            assert proc.poll() is None and time.monotonic() < deadline, samples
            time.sleep(0.2)
    finally:
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    for name, kind in [("sluice_gpu_batches", "counter"), ("sluice_gpu_offload_share", "gauge"),
                       ("sluice_gpu_seconds", "counter"), ("sluice_gpu_transfer_bytes", "counter"),
                       ("sluice_gpu_transfer_bytes_per_second", "gauge"), ("sluice_gpu_adapter_info", "gauge")]:
        assert families[name].type == kind, name
    assert total(samples, "sluice_gpu_batches_total", placement="cpu") == 0, "mode on: every batch on the GPU"
    assert total(samples, "sluice_gpu_offload_share", stream="cheap") == 1.0
    assert total(samples, "sluice_gpu_transfer_bytes_total", direction="up") > 0
    assert total(samples, "sluice_gpu_transfer_bytes_total", direction="down") > 0
    assert total(samples, "sluice_gpu_seconds_total") > 0
    assert total(samples, "sluice_gpu_adapter_info") == 1
