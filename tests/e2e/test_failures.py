"""A panic never hangs a run, and a stop always ends one (#12).

`[debug] panic_at_row` makes the operator in front of one stage panic (or, with `hang`, never
return) at the N-th row. Every run here must end with exit 1 within 10 s, name the stage and
the panic text, write no summary (nothing committed) and leave no process behind."""
import os
import signal
import subprocess
import time

import pytest

from conftest import sluice_bin

PIPELINE = """
source points = generator(geo_points, events = {events}, seed = 3)
stream north = points
  | where lat > 0.0
  | select id, zone = geohash(lat, lon, 2), lat
  | group by zone
  | aggregate n = count(), top_lat = max(lat)
sink out = file("{out}") as csv <- north
"""


def processes_running(marker: str) -> list[str]:
    """Command lines of live processes that mention `marker` (the test's own temp dir)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if marker in cmd and not zombie:
            found.append(cmd)
    return found


def start(tmp_path, args, hook, events=2_000_000, stop_timeout_ms=None):
    out = tmp_path / "out.csv"
    pipeline = tmp_path / "p.sluice"
    pipeline.write_text(PIPELINE.format(events=events, out=out))
    config = tmp_path / "engine.toml"
    head = f"stop_timeout_ms = {stop_timeout_ms}\n" if stop_timeout_ms else ""
    config.write_text(f"{head}[debug]\npanic_at_row = {hook}\n")
    env = dict(os.environ, NO_COLOR="1")
    env.pop("RUST_BACKTRACE", None)
    cmd = [str(sluice_bin()), "run", str(pipeline), "--gpu", "off", "-q", "--config", str(config),
           "--summary-json", str(tmp_path / "summary.json"), *map(str, args)]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc, tmp_path, limit_s):
    """Waits at most `limit_s`; kills the whole group and fails when the run did not end."""
    started = time.monotonic()
    try:
        _, stderr = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the run did not end within {limit_s} s")
    took = time.monotonic() - started
    time.sleep(0.2)
    left = processes_running(str(tmp_path))
    assert not left, f"processes left running: {left}"
    assert not (tmp_path / "summary.json").exists(), "a failed run must not report success"
    return proc.returncode, stderr, took


CASES = [
    # (workers, extra args, which worker panics)
    (1, [], None),
    (2, [], None),
    (2, [], 1),
    (4, [], None),
    (4, [], 3),
    (2, ["--local-cluster", 2], None),
    (2, ["--local-cluster", 2], 3),  # a worker of process 1 only: process 0 must stop too
]


@pytest.mark.parametrize("workers,extra,worker", CASES)
@pytest.mark.parametrize("stage,keyword", [(1, "where"), (3, "aggregate")])
def test_a_panic_in_an_operator_fails_the_run_within_10s(tmp_path, workers, extra, worker, stage, keyword):
    only = f", worker = {worker}" if worker is not None else ""
    proc = start(tmp_path, ["--workers", workers, *extra],
                 f'{{ stream = "north", stage = {stage}, row = 3000{only} }}')
    code, stderr, took = finish(proc, tmp_path, 10)
    assert code == 1, stderr
    assert took < 10
    assert "[debug] panic_at_row: row 3000 reached" in stderr, stderr
    # The failing process names the stage; a peer process says its peer went away.
    assert f"stream `north`, stage `{keyword}" in stderr, stderr


@pytest.mark.parametrize("extra", [[], ["--local-cluster", 2]])
def test_sigterm_ends_a_run_with_a_stuck_worker_within_the_stop_timeout(tmp_path, extra):
    proc = start(tmp_path, ["--workers", 2, *extra],
                 '{ stream = "north", stage = 2, row = 1000, worker = 1, hang = true }',
                 events=200_000_000, stop_timeout_ms=2000)
    time.sleep(2.0)
    assert proc.poll() is None, "the run should still be going"
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    code, stderr, _ = finish(proc, tmp_path, 10)
    took = time.monotonic() - sent
    assert code == 1, stderr
    # stop_timeout_ms (2 s) + the 2 s that stopped workers get to leave, with slack.
    assert took < 8, took
    assert "the graceful stop did not finish within 2 s" in stderr, stderr
    if not extra:  # on a cluster the first process to time out may be one that is not stuck
        assert "still running: worker 1 in stream `north`, stage `select`" in stderr, stderr


def test_sigterm_without_a_stuck_worker_still_drains_and_exits_0(tmp_path):
    proc = start(tmp_path, ["--workers", 2],
                 '{ stream = "north", stage = 1, row = 999999999999 }', events=200_000_000)
    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("a graceful stop did not end")
    assert proc.returncode == 0, stderr
    assert (tmp_path / "summary.json").exists()
    assert (tmp_path / "out.csv").read_text().startswith("zone,n,top_lat")


def test_a_process_killed_mid_run_stops_the_rest_of_its_cluster(tmp_path):
    """Explicit `--processes` (no parent to clean up): SIGKILL one, the other ends by itself."""
    import socket
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    hostfile = tmp_path / "hosts"
    hostfile.write_text("".join(f"127.0.0.1:{p}\n" for p in ports))
    pipeline = tmp_path / "p.sluice"
    pipeline.write_text(PIPELINE.format(events=200_000_000, out=tmp_path / "out.csv"))
    env = dict(os.environ, NO_COLOR="1")
    procs = [subprocess.Popen(
        [str(sluice_bin()), "run", str(pipeline), "--gpu", "off", "-q", "--workers", "2",
         "--processes", "2", "--process", str(i), "--hostfile", str(hostfile)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True) for i in range(2)]
    time.sleep(3.0)
    assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
    procs[1].kill()
    procs[1].communicate()
    survivor = procs[0]
    code, stderr, took = finish(survivor, tmp_path, 10)
    assert code == 1, stderr
    assert "a process of the cluster went away or failed" in stderr, stderr
