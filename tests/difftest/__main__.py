"""Long mode: `python -m tests.difftest --seconds 3600 [--seed S] [--workers 1,2,4]`.

Runs generated cases (one pipeline of `--queries` queries each, once per worker count) until the
time is up; on a failure prints the seed, the worker count and the minimized case, and writes it
under `--keep` (default `difftest-failures/`)."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from . import core as C
from . import gen as G


def run_seed(seed, workers, queries, options, keep_dir, shrink_s=120, log=print):
    """Checks one seed; on failure minimizes and keeps it. Returns a report string or None."""
    case = G.Case(seed, queries, options)
    with tempfile.TemporaryDirectory(prefix=f"difftest-{seed}-") as work:
        r = C.check(case, workers, work)
        if r is None:
            return None
        w, res = r
        sig = C.signature(res)
        log(f"seed {seed}: FAILED with {w} workers: {sig}")
        small = C.Shrinker(case, w, sig, work, budget_s=shrink_s, log=log).run()
        r2 = C.check(small, [w], work)
        res2 = r2[1] if r2 else res
        dest = C.dump_case(small, w, res2, Path(keep_dir) / f"seed{seed}-w{w}")
    text = small.pipeline("data", "out")
    report = (f"seed {seed}, workers {w}, batch size {res2.batch or 'default'}: "
              f"{res2.crash or res2.mismatches}\n"
              f"minimized pipeline ({dest}):\n{text}\n"
              f"data: a={len(small.data['a'])} rows, b={len(small.data['b'])} rows, d={len(small.data['d'])} rows")
    log(report)
    return report


def parse_options(without):
    opts = {}
    for name in filter(None, (without or "").split(",")):
        if name not in G.OPTIONS:
            raise SystemExit(f"--without: unknown feature {name!r} (known: {', '.join(G.OPTIONS)})")
        opts[name] = False
    return opts


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tests.difftest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--seed", type=int, default=None, help="first seed (default: from the clock)")
    p.add_argument("--cases", type=int, default=None, help="stop after this many cases")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--queries", type=int, default=25, help="queries per pipeline")
    p.add_argument("--without", default="", help=f"comma-separated features to leave out: {', '.join(G.OPTIONS)}")
    p.add_argument("--keep", default="difftest-failures")
    p.add_argument("--shrink-seconds", type=float, default=180)
    a = p.parse_args(argv)
    workers = [int(w) for w in a.workers.split(",")]
    opts = parse_options(a.without)
    seed = a.seed if a.seed is not None else int(time.time()) % 1_000_000
    end = time.monotonic() + a.seconds
    cases = failures = 0
    while time.monotonic() < end and (a.cases is None or cases < a.cases):
        rep = run_seed(seed, workers, a.queries, opts, a.keep, a.shrink_seconds)
        cases += 1
        if rep:
            failures += 1
        if cases % 10 == 0:
            print(f"{cases} cases ({cases * a.queries} queries), {failures} failures", flush=True)
        seed += 1
    print(f"done: {cases} cases ({cases * a.queries} queries x {len(workers)} worker counts), "
          f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
