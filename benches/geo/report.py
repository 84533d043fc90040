#!/usr/bin/env python3
"""Markdown tables of the geo routing benchmark from the run summaries run.sh collected.

Usage: report.py DIR   (DIR holds the workloads, the engine configs and res/W__C__R.json)

Per run it checks the counts (records read, routed, written against the expected number of
output rows computed here) and computes what the summary does not give:
- for `route by hash(id)`, the worker of every record, by re-implementing the engine's hash
  (SipHash-1-3 with zero keys, Rust's DefaultHasher, over the arrow-row encoding of `id`); the
  per-worker counts are checked against the summary's `routed`, so nearest share and mean
  distance for hash are exact, not estimates;
- the capacity-normalised max/mean load: max_j (routed_j / c_j) / (N / sum c);
- the best nearest share any assignment can reach under the configured bound (1 + slack):
  sum_j min(n_j, (1 + slack) N c_j / sum c) / N, with n_j the records whose nearest worker is j;
- for the slow-worker runs, the rebalance time from the timeline (defined in
  benches/README.md and in `rebalance` below).
"""
import glob
import json
import math
import os
import statistics
import sys
import tomllib

import numpy as np
import pandas as pd

R_KM = 6371.0088  # the engine's haversine radius
CENTRE = (39.83, -98.58)  # route.sluice's filter point
FILTER_KM = 1500.0
BIN_MS = 100  # = epoch_ms
PRE_FROM_MS = 300  # pre-slow-down rate measured over [PRE_FROM_MS, after_ms)
RECOVERED = 0.90  # of the rate the cluster can still reach after the slow-down
DONE_SHARE = 0.95  # the recovery must hold until this share of records is processed

LABELS = {
    "bounded": "geo bounded (defaults: slack 0.05)",
    "static": "geo bounded, adaptive = false",
    "slack010": "geo bounded, slack = 0.10",
    "slack050": "geo bounded, slack = 0.5",
    "nycap2": "geo bounded, New York capacity 2.0",
    "nearest": "geo nearest only",
    "hash": "hash(id)",
    "slow-bounded": "geo bounded (defaults)",
    "slow-nearest": "geo nearest only",
    "slow-hash": "hash(id)",
}


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    sp = np.sin((p2 - p1) * 0.5)
    sl = np.sin(np.radians(lon2 - lon1) * 0.5)
    h = sp * sp + np.cos(p1) * np.cos(p2) * sl * sl
    return 2.0 * R_KM * np.arcsin(np.minimum(np.sqrt(h), 1.0))


# --- the engine's `route by hash(id)` for an int64 id ------------------------------------------
def _rotl(x, b):
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


def _sipround(v0, v1, v2, v3):
    v0 = v0 + v1; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)  # noqa: E702
    v2 = v2 + v3; v3 = _rotl(v3, 16); v3 ^= v2  # noqa: E702
    v0 = v0 + v3; v3 = _rotl(v3, 21); v3 ^= v0  # noqa: E702
    v2 = v2 + v1; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)  # noqa: E702
    return v0, v1, v2, v3


def hash_targets(ids, workers):
    """DefaultHasher (SipHash-1-3, keys 0) of `&[u8]` = usize length prefix + bytes, where the
    bytes are arrow-row's encoding of a non-null int64: 0x01, then big-endian with the sign bit
    flipped. Message: 8 + 9 = 17 bytes."""
    n = len(ids)
    enc = (ids.astype(np.int64).view(np.uint64) ^ np.uint64(1 << 63)).byteswap()
    msg = np.zeros((n, 24), np.uint8)
    msg[:, 0] = 9
    msg[:, 8] = 1
    msg[:, 9:17] = enc.view(np.uint8).reshape(n, 8)
    words = msg.view("<u8")
    v0 = np.full(n, 0x736F6D6570736575, np.uint64)
    v1 = np.full(n, 0x646F72616E646F6D, np.uint64)
    v2 = np.full(n, 0x6C7967656E657261, np.uint64)
    v3 = np.full(n, 0x7465646279746573, np.uint64)
    with np.errstate(over="ignore"):
        for k in (0, 1):
            m = words[:, k].copy()
            v3 ^= m
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
            v0 ^= m
        b = (np.uint64(17) << np.uint64(56)) | words[:, 2]
        v3 ^= b
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= b
        v2 ^= np.uint64(0xFF)
        for _ in range(3):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return ((v0 ^ v1 ^ v2 ^ v3) % np.uint64(workers)).astype(np.int64)


# --- workloads and configs ----------------------------------------------------------------------
class Workload:
    def __init__(self, path, sites):
        frame = pd.read_csv(path, dtype={"id": np.int64, "lat": np.float64, "lon": np.float64})
        self.n = len(frame)
        lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
        self.dist = np.stack([haversine(lat, lon, s[0], s[1]) for s in sites], axis=1)
        self.nearest = np.argmin(self.dist, axis=1)
        self.nearest_counts = np.bincount(self.nearest, minlength=len(sites))
        self.expected_out = int(np.sum(haversine(lat, lon, *CENTRE) < FILTER_KM))
        self.hash = hash_targets(frame["id"].to_numpy(), len(sites))
        rows = np.arange(self.n)
        self.hash_km = float(self.dist[rows, self.hash].mean())
        self.hash_nearest = float(np.mean(self.hash == self.nearest))

    def best_nearest(self, bound, caps):
        limit = bound * self.n * np.asarray(caps) / sum(caps)
        return float(np.minimum(self.nearest_counts, limit).sum() / self.n)


def load_config(path):
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    geo = cfg.get("route", {}).get("geo", {})
    workers = sorted(geo.get("workers", []), key=lambda w: w["index"])
    return {
        "sites": [(w["lat"], w["lon"]) for w in workers],
        "caps": [w.get("capacity", 1.0) for w in workers],
        "policy": geo.get("policy", "bounded"),
        "slack": geo.get("slack", 0.05),
        "slow": cfg.get("debug", {}).get("slow_worker"),
    }


# --- the rebalance time --------------------------------------------------------------------------
def rates(timeline, workers):
    """Rows processed per BIN_MS bin, each report's rows spread evenly over the interval since
    the same worker's previous report (a worker that slept a second reports a second's rows)."""
    end = max(t for t, _, _ in timeline) + BIN_MS
    bins = np.zeros(end // BIN_MS + 1)
    last = [0] * workers
    for t, w, rows in sorted(timeline):
        start, stop = last[w], max(t, last[w] + 1)
        last[w] = t
        if rows == 0:
            continue
        edges = np.arange(start // BIN_MS * BIN_MS, stop + BIN_MS, BIN_MS)
        for b0 in edges:
            overlap = min(stop, b0 + BIN_MS) - max(start, b0)
            if overlap > 0:
                bins[b0 // BIN_MS] += rows * overlap / (stop - start)
    return bins  # rows per bin


def rebalance(timeline, caps, slow, total):
    """Seconds from the slow-down until the cluster's processing rate (rows/s, 3-bin moving
    average) is back to >= RECOVERED x the rate it can still reach (pre-slow-down rate x the
    capacity left: sum of capacities with the slowed one divided by its factor, over the sum) and
    stays there until DONE_SHARE of the records are processed; None = never. Also returns the
    slowed worker's share of the rows processed after the slow-down and the worst 3-bin rate
    after the slow-down relative to the pre-slow-down rate."""
    t0 = slow["after_ms"]
    if max(t for t, _, _ in timeline) <= t0 + 3 * BIN_MS:
        return "n/a", float("nan"), float("nan"), float("nan")  # over before the slow-down
    bins = rates(timeline, len(caps))
    b_t0 = t0 // BIN_MS
    pre = bins[PRE_FROM_MS // BIN_MS:b_t0]
    r0 = pre.mean() * 1000 / BIN_MS
    left = (sum(caps) - caps[slow["index"]] * (1 - 1 / slow["factor"])) / sum(caps)
    target = RECOVERED * r0 * left
    smooth = np.convolve(bins, np.ones(3) / 3, mode="full")[: len(bins)] * 1000 / BIN_MS
    cum = np.cumsum(bins)
    b_done = int(np.searchsorted(cum, DONE_SHARE * total))
    after = [t for t in sorted(timeline) if t[0] > t0]
    slowed = sum(r for _, w, r in after if w == slow["index"])
    share = slowed / max(1, sum(r for _, _, r in after))
    worst = smooth[b_t0 + 1:max(b_done, b_t0 + 2)].min() / r0 if b_done > b_t0 + 1 else float("nan")
    if b_done <= b_t0:
        return 0.0, share, worst, r0
    b = b_done
    if smooth[b] < target:
        return None, share, worst, r0
    while b - 1 > b_t0 and smooth[b - 1] >= target:
        b -= 1
    return max(0.0, (b * BIN_MS - t0) / 1000), share, worst, r0


def main():
    d = sys.argv[1]
    kinds = dict(line.split() for line in open(os.path.join(d, "configs.txt")))
    runs = {}
    for path in sorted(glob.glob(os.path.join(d, "res", "*.json"))):
        workload, config, _rep = os.path.basename(path)[:-5].split("__")
        runs.setdefault((workload, config), []).append(json.load(open(path)))
    cfgs = {c: load_config(os.path.join(d, f"{c}.toml")) for c in kinds}
    sites = cfgs["bounded"]["sites"]
    workloads = {w: Workload(os.path.join(d, f"{w}.csv"), sites) for w in sorted({w for w, _ in runs})}

    problems, rows = [], {}
    for (w, c), summaries in runs.items():
        wl, cfg = workloads[w], cfgs[c]
        caps = cfg["caps"]
        per = []
        for s in summaries:
            route = s["routes"][0]
            routed = route["routed"]
            n_in, n_out = s["sources"][0]["records"], s["sinks"][0]["records"]
            if n_in != wl.n or sum(routed) != wl.n or n_out != wl.expected_out:
                problems.append(f"{w}/{c}: read {n_in}, routed {sum(routed)}, wrote {n_out}; "
                                f"expected {wl.n} read and routed, {wl.expected_out} written")
            if kinds[c] == "hash":
                counts = np.bincount(wl.hash, minlength=len(routed)).tolist()
                if counts != routed:
                    problems.append(f"{w}/{c}: hash re-implementation {counts} != routed {routed}")
                near, km = wl.hash_nearest, wl.hash_km
            else:
                near, km = route["nearest_share"], route["mean_distance_km"]
            norm = [r / cap for r, cap in zip(routed, caps)]
            row = {
                "mm": max(norm) / (sum(routed) / sum(caps)),
                "near": near,
                "km": km,
                "wall": s["wall"],
                "rps": wl.n / s["wall"],
                "ny": routed[0] / sum(routed),
            }
            if cfg["slow"]:
                rb, share, worst, r0 = rebalance(route["timeline"], caps, cfg["slow"], wl.n)
                row.update(rb=rb, slow_share=share, worst=worst, r0=r0)
            per.append(row)
        rows[(w, c)] = per

    med = lambda per, k: statistics.median(r[k] for r in per)  # noqa: E731
    reps = max(len(p) for p in rows.values())
    print(f"{reps} run(s) per configuration; each cell is the median over them.\n")

    for w, wl in workloads.items():
        share = wl.nearest_counts / wl.n
        print(f"**{w}**: {wl.n:,} records; nearest worker NY/CHI/LA/HOU = "
              + " / ".join(f"{x:.1%}" for x in share)
              + f"; best possible share at the nearest worker with max/mean <= 1.10 and equal "
              f"capacities: {wl.best_nearest(1.10, [1] * 4):.1%}\n")
        print("| routing | max/mean load | at nearest worker | best possible at this bound "
              "| mean km to worker | wall s | records/s |")
        print("|---|---|---|---|---|---|---|")
        for c in kinds:
            if (w, c) not in rows or cfgs[c]["slow"]:
                continue
            per, cfg = rows[(w, c)], cfgs[c]
            best = ("-" if kinds[c] == "hash" or cfg["policy"] == "nearest"
                    else f"{wl.best_nearest(1 + cfg['slack'], cfg['caps']):.1%}")
            print(f"| {LABELS[c]} | {med(per, 'mm'):.3f} | {med(per, 'near'):.1%} | {best} "
                  f"| {med(per, 'km'):,.0f} | {med(per, 'wall'):.2f} | {med(per, 'rps'):,.0f} |")
        print()

    slow_runs = [(w, c) for (w, c) in rows if cfgs[c]["slow"]]
    if slow_runs:
        slow = cfgs[slow_runs[0][1]]["slow"]
        caps = cfgs[slow_runs[0][1]]["caps"]
        fair = (caps[slow["index"]] / slow["factor"]) / (
            sum(caps) - caps[slow["index"]] * (1 - 1 / slow["factor"]))
        print(f"**slow worker**: worker {slow['index']} (New York) {slow['factor']}x slower from "
              f"{slow['after_ms']} ms; its capacity-fair share afterwards: {fair:.1%}\n")
        print("| workload | routing | wall s | records/s | NY share of all records "
              "| NY share of rows processed after the slow-down | worst rate after / before "
              "| rebalanced after (each run) |")
        print("|---|---|---|---|---|---|---|---|")
        for w, c in sorted(slow_runs, key=lambda k: (k[0], list(kinds).index(k[1]))):
            per = rows[(w, c)]
            fmt = lambda rb: ("never" if rb is None or rb == math.inf  # noqa: E731
                              else rb if isinstance(rb, str) else f"{rb:.1f} s")
            each = ", ".join(fmt(r["rb"]) for r in per)
            if any(isinstance(r["rb"], str) for r in per):
                m = "n/a"
            else:
                m = fmt(statistics.median(math.inf if r["rb"] is None else r["rb"] for r in per))
            print(f"| {w} | {LABELS[c]} | {med(per, 'wall'):.2f} | {med(per, 'rps'):,.0f} "
                  f"| {med(per, 'ny'):.1%} | {med(per, 'slow_share'):.1%} "
                  f"| {med(per, 'worst'):.2f} | {m} ({each}) |")
        print()

    print("checks: " + ("counts OK (every run read and routed every record and wrote the "
                        "expected rows; hash re-implementation matches `routed`)"
                        if not problems else "PROBLEMS: " + "; ".join(problems)))


if __name__ == "__main__":
    main()
