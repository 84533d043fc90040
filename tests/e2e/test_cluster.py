"""Multi-process runs: every pipeline of pipelines/ gives the same rows (as a multiset) on one
process with one worker as on a local cluster of 2 processes x 2 workers; the explicit
`--processes/--process/--hostfile` form started as two subprocesses; hostfile errors."""
import json
import os
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import ROOT, run_sluice, sluice_bin

PIPELINES = ROOT / "pipelines"
NEXMARK_EVENTS = 100_000  # as test_nexmark.py: a few seconds per query in a debug build
GEO_EVENTS = 200_000  # as test_geo_and_cli.py shrinks geo_zones


def flights_env(flights_csv, out_dir: Path):
    return {
        "FLIGHTS": str(flights_csv),
        "AIRPORTS": str(flights_csv.parent / "airports.csv"),
        "OUT": str(out_dir / "out"),
        "OUT_DIR": str(out_dir),
        "EVENTS": str(NEXMARK_EVENTS),
    }


def sorted_rows(path: Path):
    """The header (csv) and the lines as a multiset; comparable across runs (a csv without
    the suffix keeps its header among the lines, which compares just as well)."""
    lines = path.read_text().splitlines()
    if path.suffix == ".csv":
        return lines[:1], Counter(lines[1:])
    return [], Counter(lines)


def pipeline_file(name: str, tmp_path: Path) -> Path:
    path = PIPELINES / name
    if name == "geo_zones.sluice":
        shrunk = tmp_path / name
        shrunk.write_text(path.read_text().replace("events = 1000000", f"events = {GEO_EVENTS}"))
        return shrunk
    return path


def run_to(pipeline: Path, out_dir: Path, env, *args):
    """Runs `pipeline` with its outputs under `out_dir` (sinks via OUT/OUT_DIR, dead letters
    in the working directory); returns {output name: rows}, stdout included."""
    out_dir.mkdir()
    proc = run_sluice("run", pipeline, "--quiet", *args, env=env(out_dir), cwd=out_dir)
    outputs = {p.name: sorted_rows(p) for p in out_dir.iterdir() if p.is_file()}
    outputs["stdout"] = ([], Counter(proc.stdout.splitlines()))
    return outputs


ALL_PIPELINES = sorted(str(p.relative_to(PIPELINES)) for p in PIPELINES.rglob("*.sluice"))


@pytest.mark.parametrize("name", ALL_PIPELINES)
def test_local_cluster_gives_the_rows_of_one_process(name, flights_csv, tmp_path):
    pipeline = pipeline_file(name, tmp_path)
    env = lambda d: flights_env(flights_csv, d)  # noqa: E731
    single = run_to(pipeline, tmp_path / "single", env, "--workers", 1)
    cluster = run_to(pipeline, tmp_path / "cluster", env, "--workers", 2, "--local-cluster", 2)
    assert single.keys() == cluster.keys()
    assert sum(len(rows) for _, rows in single.values()) > 0, f"{name} wrote nothing"
    for output in single:
        assert single[output] == cluster[output], f"{name}: {output} differs"


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_explicit_processes_with_a_hostfile(flights_csv, tmp_path):
    pipeline = PIPELINES / "flights_by_origin.sluice"
    single = tmp_path / "single.csv"
    run_sluice("run", pipeline, "--workers", 1, "--quiet",
               env={"FLIGHTS": str(flights_csv), "OUT": str(single)}, cwd=tmp_path)

    hostfile = tmp_path / "hosts"
    hostfile.write_text("".join(f"127.0.0.1:{p}\n" for p in free_ports(2)))
    out = tmp_path / "cluster.csv"
    # Process 1 is told another sink path: it must not open it (only process 0 writes files).
    not_opened = tmp_path / "process1.csv"
    procs = []
    for process, sink in enumerate([out, not_opened]):
        env = dict(os.environ, NO_COLOR="1", FLIGHTS=str(flights_csv), OUT=str(sink))
        procs.append(subprocess.Popen(
            [str(sluice_bin()), "run", pipeline, "--workers", "2", "--processes", "2",
             "--process", str(process), "--hostfile", str(hostfile)],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    for process, (p, (_, stderr)) in enumerate(zip(procs, results)):
        assert p.returncode == 0, stderr
        assert f"process {process} of 2: pipeline `flights_by_origin`" in stderr
        assert "on 4 workers in 2 processes" in stderr
    assert sorted_rows(out) == sorted_rows(single)
    assert not not_opened.exists()
    # Each process writes its own dead-letter file; process 0 keeps the configured path.
    dead = tmp_path / "dead_letters" / "flights_by_origin"
    assert (dead / "flights.jsonl").exists() and (dead / "flights.p1.jsonl").exists()


@pytest.mark.parametrize("hosts, message", [
    (None, "cannot read hostfile `{path}`"),
    ("127.0.0.1:2101\n", "hostfile `{path}` lists 1 address(es), expected 2 (one per process)"),
    ("127.0.0.1:2101\nlocalhost\n", "hostfile `{path}`, line 2: `localhost` is not host:port"),
    ("127.0.0.1:2101\nhost:http\n", "hostfile `{path}`, line 2: `host:http` is not host:port"),
])
def test_bad_hostfile_is_invalid_input(tmp_path, hosts, message):
    hostfile = tmp_path / "hosts"
    if hosts is not None:
        hostfile.write_text(hosts)
    proc = run_sluice("run", PIPELINES / "geo_zones.sluice", "--processes", 2, "--process", 0,
                      "--hostfile", hostfile, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message.format(path=hostfile) in proc.stderr


def test_processes_without_a_hostfile_is_a_usage_error():
    proc = run_sluice("run", PIPELINES / "geo_zones.sluice", "--processes", 2, check=False)
    assert proc.returncode == 2
    assert "--processes 2 needs --process I and --hostfile FILE" in proc.stderr


def test_local_cluster_fails_when_a_process_fails(flights_csv, tmp_path):
    # Process 0 cannot open its sink (a directory) and exits before connecting; process 1
    # would wait for it forever, so the parent stops it and reports the failure.
    proc = run_sluice("run", PIPELINES / "flights_delayed.sluice", "--local-cluster", 2,
                      env={"FLIGHTS": str(flights_csv), "OUT": str(tmp_path)}, cwd=tmp_path,
                      check=False)
    assert proc.returncode == 1, proc.stderr
    assert "process 0 of the local cluster failed" in proc.stderr
    assert f"cannot open `{tmp_path}`" in proc.stderr


@pytest.mark.parametrize("route", ["route by geo(lat, lon)", "route by hash(id)", "route round_robin"])
def test_routes_across_processes_lose_nothing(tmp_path, route):
    # Worker indices are global: 2 processes x 2 threads route over 4 workers, and the merged
    # summary counts every record once.
    pipeline = tmp_path / "route.sluice"
    out = tmp_path / "out.jsonl"
    pipeline.write_text(
        "pipeline routed\n"
        "source points = generator(geo_points, events = 20000, seed = 3)\n"
        f"stream routed = points\n  | {route}\n  | select id, lat, lon\n"
        f'sink out = file("{out}") as jsonl <- routed\n')
    summary = tmp_path / "summary.json"
    run_sluice("run", pipeline, "--workers", 2, "--local-cluster", 2, "--quiet",
               "--summary-json", summary, cwd=tmp_path)
    (stats,) = json.loads(summary.read_text())["routes"]
    assert len(stats["routed"]) == 4 and sum(stats["routed"]) == 20000
    assert all(n > 0 for n in stats["routed"]), stats["routed"]
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(set(ids)) == len(ids) == 20000
