"""Un-windowed `aggregate` as an updating table: `mode = changelog` (rows with diff +1/-1)
folds to the aggregate DuckDB computes over the same generated records, for 1 and 2 workers;
`mode = snapshot_every(D)` writes full snapshots whose last one is that aggregate."""
import collections
import json
import math

import pytest

from conftest import read_jsonl, run_pipeline

SOURCE = 'source points = generator(geo_points, events = 30000, rate = 30000, seed = 4)\n'
DUMP = SOURCE + 'sink all = file("{out}") as csv <- points\n'
AGG = SOURCE + """
stream per_cell = points
  | select cell = geohash(lat, lon, 1), value
  | group by cell
  | aggregate n = count(), total = sum(value), top = max(value)
sink out = file("{out}") as jsonl {{ mode = {mode} }} <- per_cell
"""


def oracle(db, tmp_path):
    dump = tmp_path / "points.csv"
    (tmp_path / "dump.sluice").write_text(DUMP.format(out=dump))
    run_pipeline(tmp_path / "dump.sluice", 1, tmp_path, cwd=tmp_path)
    # geohash precision 1 = the first base32 character of 5 bits (lon, lat, lon, lat, lon).
    rows = db.execute(f"SELECT lat, lon, value FROM read_csv('{dump}')").fetchall()
    base32 = "0123456789bcdefghjkmnpqrstuvwxyz"
    want = collections.defaultdict(lambda: [0, 0.0, -math.inf])
    for lat, lon, value in rows:
        bits, lat_r, lon_r = 0, [-90.0, 90.0], [-180.0, 180.0]
        for i in range(5):
            r, v = (lon_r, lon) if i % 2 == 0 else (lat_r, lat)
            mid = (r[0] + r[1]) / 2
            bits = bits * 2 + (v >= mid)
            r[0 if v >= mid else 1] = mid
        cell = want[base32[bits]]
        cell[0] += 1
        cell[1] += value
        cell[2] = max(cell[2], value)
    return want


@pytest.mark.parametrize("workers", [1, 2])
def test_changelog_folds_to_the_final_aggregate(db, tmp_path, workers):
    want = oracle(db, tmp_path)
    out = tmp_path / "changes.jsonl"
    (tmp_path / "agg.sluice").write_text(AGG.format(out=out, mode="changelog"))
    run_pipeline(tmp_path / "agg.sluice", workers, tmp_path, cwd=tmp_path)
    changes = read_jsonl(out)
    assert {c["diff"] for c in changes} <= {1, -1}
    assert any(c["diff"] == -1 for c in changes), "a paced run updates groups"
    state = collections.Counter()
    for c in changes:
        diff = c.pop("diff")
        state[json.dumps(c, sort_keys=True)] += diff
    assert set(state.values()) <= {0, 1}
    final = {r["cell"]: r for r in (json.loads(k) for k, v in state.items() if v == 1)}
    assert sorted(final) == sorted(want)
    for cell, (n, total, top) in want.items():
        assert final[cell]["n"] == n
        assert math.isclose(final[cell]["total"], total, rel_tol=1e-9)
        assert final[cell]["top"] == top


def test_snapshots_end_with_the_final_aggregate(db, tmp_path):
    want = oracle(db, tmp_path)
    out = tmp_path / "snapshots.jsonl"
    (tmp_path / "agg.sluice").write_text(AGG.format(out=out, mode="snapshot_every(200ms)"))
    run_pipeline(tmp_path / "agg.sluice", 2, tmp_path, cwd=tmp_path)
    rows = read_jsonl(out)
    assert len(rows) > len(want), "more than one snapshot of a ~1 s paced run"
    last = {}
    for r in rows:  # later snapshots overwrite earlier ones; the final one has every cell
        last[r["cell"]] = r
    assert {c: last[c]["n"] for c in last} == {c: v[0] for c, v in want.items()}
