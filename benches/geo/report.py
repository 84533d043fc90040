#!/usr/bin/env python3
"""Markdown tables of the geo routing benchmark from the run summaries run.sh collected.

Usage: report.py DIR RATE   (DIR holds the workloads, the engine configs and res/W__C__R.json;
RATE is the pace in rows/s at which feed.py wrote the stdin runs' input)

Per run it checks the counts (records read, routed, written against the expected number of
output rows computed here) and computes what the summary does not give:
- for `route by hash(id)`, the worker of every record, by re-implementing the engine's hash
  (SipHash-1-3 with zero keys, Rust's DefaultHasher, over the arrow-row encoding of `id`); the
  per-worker counts are checked against the summary's `routed`, so nearest share and mean
  distance for hash are exact, not estimates;
- the capacity-normalised max/mean load: max_j (routed_j / c_j) / (N / sum c);
- the best nearest share any assignment can reach under the configured bound (1 + slack):
  sum_j min(n_j, (1 + slack) N c_j / sum c) / N, with n_j the records whose nearest worker is j;
- for the slow-worker runs (paced input), the processing lag over time and from it the
  rebalance time (defined in benches/README.md and in `rebalance` below).
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
BIN_MS = 100  # = epoch_ms: the lag is sampled at the end of every such bin
PRE_FROM_MS = 300  # the baseline lag is the median over [PRE_FROM_MS, after_ms)
LAG_SLACK_S = 0.1  # caught up: lag back within one epoch of the baseline (and staying there)
GROWTH_WINDOW_MS = 1000  # rebalanced: the lag grows by at most GROWTH_MAX_S over every window
GROWTH_MAX_S = 0.02  # of this length from then until the input ends (2% of the input rate)

LABELS = {
    "bounded": "geo bounded (defaults: slack 0.05)",
    "static": "geo bounded, adaptive = false",
    "slack010": "geo bounded, slack = 0.10",
    "slack050": "geo bounded, slack = 0.5",
    "slack050-static": "geo bounded, slack = 0.5, adaptive = false",
    "nycap2": "geo bounded, New York capacity 2.0",
    "nycap2-static": "geo bounded, New York capacity 2.0, adaptive = false",
    "nearest": "geo nearest only",
    "hash": "hash(id)",
    "paced-bounded": "geo bounded (defaults: slack 0.05)",
    "paced-nearest": "geo nearest only",
    "paced-hash": "hash(id)",
    "paced-static": "geo bounded, adaptive = false",
    "paced-slack050": "geo bounded, slack = 0.5",
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
class Geometry:
    """A workload against one placement of the workers (index -> (lat, lon))."""

    def __init__(self, lat, lon, ids, sites):
        self.n = len(lat)
        self.dist = np.stack([haversine(lat, lon, s[0], s[1]) for s in sites], axis=1)
        self.nearest = np.argmin(self.dist, axis=1)
        self.nearest_counts = np.bincount(self.nearest, minlength=len(sites))
        self.hash = hash_targets(ids, len(sites))
        self.hash_km = float(self.dist[np.arange(self.n), self.hash].mean())
        self.hash_nearest = float(np.mean(self.hash == self.nearest))

    def best_nearest(self, bound, caps):
        limit = bound * self.n * np.asarray(caps) / sum(caps)
        return float(np.minimum(self.nearest_counts, limit).sum() / self.n)


class Workload:
    def __init__(self, path):
        frame = pd.read_csv(path, dtype={"id": np.int64, "lat": np.float64, "lon": np.float64})
        self.n = len(frame)
        self.lat, self.lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
        self.ids = frame["id"].to_numpy()
        self.expected_out = int(np.sum(haversine(self.lat, self.lon, *CENTRE) < FILTER_KM))
        self._geometry = {}

    def geometry(self, sites):
        key = tuple(sites)
        if key not in self._geometry:
            self._geometry[key] = Geometry(self.lat, self.lon, self.ids, sites)
        return self._geometry[key]


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
        "batch_size": cfg.get("batch_size"),
        "row_cost_ns": cfg.get("debug", {}).get("row_cost_ns", 0),
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


def rebalance(timeline, slow, total, rate):
    """The processing lag of a paced run, and when it stopped growing and when it recovered.

    Records arrive at `rate` rows/s (feed.py), so by time t, A(t) = min(total, rate x t) have
    arrived; P(t) have been processed after the route (the timeline, each report's rows spread
    over its epoch). The lag L(t) = (A(t) - P(t)) / rate is how many seconds of input the cluster
    is behind; sampled at the end of every BIN_MS bin. Baseline L0: the median lag over
    [PRE_FROM_MS, after_ms). Only samples up to the end of the input count (t_end = total / rate).
    - rebalanced: the first sample t >= after_ms from which the lag grows by at most
      GROWTH_MAX_S over every GROWTH_WINDOW_MS window inside [t, t_end]: the slowed worker no
      longer gets more than it processes. None (never) if no window starting at or after t is
      left, i.e. it did not happen by t_end - GROWTH_WINDOW_MS.
    - caught up: the first sample t >= after_ms from which L <= L0 + LAG_SLACK_S until t_end:
      the backlog of the slowed worker is gone too. None (never) if L(t_end) is above that.
    Both are reported in seconds after the slow-down (0: never disturbed beyond the bound)."""
    t0 = slow["after_ms"]
    bins = rates(timeline, 4)
    t_end = total / rate * 1000
    n_bins = max(len(bins), int(t_end // BIN_MS) + 1)
    bins = np.concatenate([bins, np.zeros(n_bins - len(bins))])
    edges = (np.arange(n_bins) + 1) * BIN_MS  # end of each bin, ms
    lag = (np.minimum(total, rate * edges / 1000) - np.cumsum(bins)) / rate
    before = lag[(edges > PRE_FROM_MS) & (edges <= t0)]
    base = float(np.median(before)) if len(before) else 0.0
    idx = np.nonzero((edges >= t0) & (edges <= t_end))[0]
    after = [t for t in timeline if t[0] > t0]
    slowed = sum(r for _, w, r in after if w == slow["index"])
    share = slowed / max(1, sum(r for _, _, r in after))
    if len(idx) < 2:
        return "n/a", "n/a", base, float("nan"), float("nan"), share
    first, last = idx[0], idx[-1]
    end_lag = float(lag[last])
    w = GROWTH_WINDOW_MS // BIN_MS
    # grows[i]: the window starting at sample i grows by more than the bound
    starts = list(range(first, last - w + 1))
    grows = {i: lag[i + w] - lag[i] > GROWTH_MAX_S for i in starts}
    rebalanced = None
    for i in starts:
        if not any(grows[j] for j in starts if j >= i):
            rebalanced = (edges[i] - t0) / 1000
            break
    ok = lag <= base + LAG_SLACK_S
    caught_up = None
    if ok[last]:
        b = last
        while b - 1 >= first and ok[b - 1]:
            b -= 1
        caught_up = (edges[b] - t0) / 1000 if b > first else 0.0
    peak = float(lag[first:last + 1].max())
    return rebalanced, caught_up, base, peak, end_lag, share


def ny_index(sites):
    return min(range(len(sites)), key=lambda j: abs(sites[j][0] - 40.71) + abs(sites[j][1] + 74.01))


def feed_pace(path):
    """(achieved, target) rows/s from feed.py's last line, or None."""
    try:
        line = open(path).read().strip().splitlines()[-1]
        achieved = float(line.split("= ")[1].split(" rows/s")[0].replace(",", ""))
        target = float(line.split("(target ")[1].rstrip(")").replace(",", ""))
        return achieved, target
    except (OSError, IndexError, ValueError):
        return None


def fmt_rb(rb):
    if isinstance(rb, str):
        return rb
    return "never" if rb is None or rb == math.inf else f"{rb:.1f} s"


def main():
    d, rate = sys.argv[1], float(sys.argv[2])
    kinds, sources = {}, {}
    for line in open(os.path.join(d, "configs.txt")):
        name, kind, source = line.split()
        kinds[name], sources[name] = kind, source
    runs = {}
    for path in sorted(glob.glob(os.path.join(d, "res", "*.json"))):
        workload, config, _rep = os.path.basename(path)[:-5].split("__")
        runs.setdefault((workload, config), []).append((json.load(open(path)), path[:-5] + ".feed"))
    cfgs = {c: load_config(os.path.join(d, f"{c}.toml")) for c in kinds}
    workloads = {w: Workload(os.path.join(d, f"{w}.csv")) for w in sorted({w for w, _ in runs})}

    problems, rows = [], {}
    for (w, c), summaries in runs.items():
        wl, cfg = workloads[w], cfgs[c]
        geo = wl.geometry(cfg["sites"])
        caps, ny = cfg["caps"], ny_index(cfg["sites"])
        per = []
        for s, feed in summaries:
            route = s["routes"][0]
            routed = route["routed"]
            n_in, n_out = s["sources"][0]["records"], s["sinks"][0]["records"]
            if n_in != wl.n or sum(routed) != wl.n or n_out != wl.expected_out:
                problems.append(f"{w}/{c}: read {n_in}, routed {sum(routed)}, wrote {n_out}; "
                                f"expected {wl.n} read and routed, {wl.expected_out} written")
            if kinds[c] == "hash":
                counts = np.bincount(geo.hash, minlength=len(routed)).tolist()
                if counts != routed:
                    problems.append(f"{w}/{c}: hash re-implementation {counts} != routed {routed}")
                near, km = geo.hash_nearest, geo.hash_km
            else:
                near, km = route["nearest_share"], route["mean_distance_km"]
            norm = [r / cap for r, cap in zip(routed, caps)]
            row = {
                "mm": max(norm) / (sum(routed) / sum(caps)),
                "near": near,
                "km": km,
                "wall": s["wall"],
                "rps": wl.n / s["wall"],
                "ny": routed[ny] / sum(routed),
            }
            if cfg["slow"]:
                pace = feed_pace(feed)
                if pace is None or abs(pace[0] / rate - 1) > 0.02:
                    problems.append(f"{w}/{c}: feed.py did not keep its pace: {pace}")
                rb, cu, base, peak, end_lag, share = rebalance(
                    route["timeline"], cfg["slow"], wl.n, rate)
                row.update(rb=rb, cu=cu, base=base, peak=peak, end_lag=end_lag, slow_share=share,
                           tail=s["wall"] - wl.n / rate)
            per.append(row)
        rows[(w, c)] = per

    med = lambda per, k: statistics.median(r[k] for r in per)  # noqa: E731
    reps = max(len(p) for p in rows.values())
    print(f"{reps} run(s) per configuration; each cell is the median over them.\n")

    for source in ("file", "stdin"):
        group = [c for c in kinds if sources[c] == source and not cfgs[c]["slow"]]
        for w, wl in workloads.items():
            present = [c for c in group if (w, c) in rows]
            if not present:
                continue
            geo = wl.geometry(cfgs[present[0]]["sites"])
            share = geo.nearest_counts / wl.n
            ny = ny_index(cfgs[present[0]]["sites"])
            order = [ny] + [j for j in range(len(share)) if j != ny]
            how = ("file, every worker reads its part" if source == "file" else
                   f"stdin paced at {rate:,.0f} records/s, no slow-down")
            print(f"**{w}** ({how}; {wl.n:,} records): nearest worker NY / CHI / LA / HOU = "
                  + " / ".join(f"{share[j]:.1%}" for j in order)
                  + "; best possible share at the nearest worker with max/mean <= 1.10 and "
                  f"equal capacities: {geo.best_nearest(1.10, [1] * 4):.1%}\n")
            print("| routing | max/mean load | at nearest worker | best possible at this bound "
                  "| mean km to worker | wall s | records/s |")
            print("|---|---|---|---|---|---|---|")
            for c in present:
                per, cfg = rows[(w, c)], cfgs[c]
                best = ("-" if kinds[c] == "hash" or cfg["policy"] == "nearest"
                        else f"{geo.best_nearest(1 + cfg['slack'], cfg['caps']):.1%}")
                print(f"| {LABELS[c]} | {med(per, 'mm'):.3f} | {med(per, 'near'):.1%} | {best} "
                      f"| {med(per, 'km'):,.0f} | {med(per, 'wall'):.2f} "
                      f"| {med(per, 'rps'):,.0f} |")
            print()

    slow_runs = sorted(((w, c) for (w, c) in rows if cfgs[c]["slow"]),
                       key=lambda k: (k[0], list(kinds).index(k[1])))
    if slow_runs:
        cfg = cfgs[slow_runs[0][1]]
        slow, caps = cfg["slow"], cfg["caps"]
        k = slow["index"]
        fair = (caps[k] / slow["factor"]) / (sum(caps) - caps[k] * (1 - 1 / slow["factor"]))
        print(f"**slow worker** (stdin paced at {rate:,.0f} records/s, input ends at "
              f"{workloads[slow_runs[0][0]].n / rate:.1f} s): New York (worker {k}) "
              f"{slow['factor']:g}x slower from {slow['after_ms']} ms; its capacity-fair share "
              f"afterwards: {fair:.1%}; the most it can keep up with: "
              f"{1e9 / (cfg['row_cost_ns'] * slow['factor']) / rate:.1%} of the input\n")
        print("| routing | wall s | after input end (s) | NY share of all records "
              "| NY share of rows processed after the slow-down "
              "| lag s: before / peak after / at input end "
              "| lag stops growing after | lag back to baseline after |")
        print("|---|---|---|---|---|---|---|---|")

        def timing(per, key):
            each = [r[key] for r in per]
            if any(isinstance(x, str) for x in each):
                return "n/a"
            m = fmt_rb(statistics.median(math.inf if x is None else x for x in each))
            return m if len(each) == 1 else f"{m} ({', '.join(fmt_rb(x) for x in each)})"

        for w, c in slow_runs:
            per = rows[(w, c)]
            print(f"| {LABELS[c]} | {med(per, 'wall'):.2f} | {med(per, 'tail'):.2f} "
                  f"| {med(per, 'ny'):.1%} | {med(per, 'slow_share'):.1%} "
                  f"| {med(per, 'base'):.2f} / {med(per, 'peak'):.2f} / {med(per, 'end_lag'):.2f} "
                  f"| {timing(per, 'rb')} | {timing(per, 'cu')} |")
        print()

    print("checks: " + ("counts OK (every run read and routed every record and wrote the "
                        "expected rows; hash re-implementation matches `routed`; feed.py kept "
                        "its pace within 2%)"
                        if not problems else "PROBLEMS: " + "; ".join(problems)))


if __name__ == "__main__":
    main()
