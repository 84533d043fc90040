"""Differential testing against DuckDB (tests/difftest/README.md).

CI mode: a fixed budget of generated pipelines (CI_SEEDS x QUERIES queries, each pipeline run
on 1, 2 and 4 workers); a mismatch or crash fails with the seed and the minimized case.
Regression mode: every kept case under tests/difftest/regressions/ is replayed on 1, 2 and 4
workers against its stored expected rows."""
import sys
from pathlib import Path

import pytest

from conftest import ROOT, sluice_bin

sys.path.insert(0, str(ROOT))
from tests.difftest import core as C  # noqa: E402
from tests.difftest.__main__ import run_seed  # noqa: E402

CI_SEEDS = range(1, 17)
QUERIES = 25
WORKERS = [1, 2, 4]
REGRESSIONS = sorted(p for p in (ROOT / "tests" / "difftest" / "regressions").iterdir() if p.is_dir())


@pytest.fixture(scope="module", autouse=True)
def _binary():
    import os

    os.environ.setdefault("SLUICE_BIN", str(sluice_bin()))  # fails when it is not built


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_generated_pipelines_equal_duckdb(seed, tmp_path):
    lines = []
    report = run_seed(seed, WORKERS, QUERIES, {}, tmp_path / "kept", shrink_s=90, log=lines.append)
    assert report is None, "\n".join(lines)


@pytest.mark.parametrize("case", REGRESSIONS, ids=[p.name for p in REGRESSIONS])
@pytest.mark.parametrize("workers", WORKERS)
def test_regression_case(case, workers, tmp_path):
    problem = C.replay(case, workers, tmp_path / "work")
    assert problem is None, f"{case.name} ({workers} workers): {problem}"


def test_there_are_regression_cases():
    assert REGRESSIONS, "tests/difftest/regressions/ holds the minimized cases of bugs found"
