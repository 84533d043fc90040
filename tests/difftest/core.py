"""Runs a generated case on sluice (1, 2, 4 workers) and on DuckDB, compares, minimizes."""
from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb

from . import expr as X
from . import gen as G

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


def sluice_bin() -> Path:
    return Path(os.environ.get("SLUICE_BIN", ROOT / "target" / "debug" / "sluice"))


def sluice_env():
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    if not env.get("XDG_RUNTIME_DIR"):
        d = Path(tempfile.gettempdir()) / f"sluice-xdg-{os.getuid()}"
        d.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(d)
    return env


# --- oracle -----------------------------------------------------------------------------------

DUCK_TYPES = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR",
              "timestamp": "TIMESTAMP"}


def load(con, name, rows, schema):
    cols = ", ".join(f'"{c}" {DUCK_TYPES[t]}' for c, (t, _) in schema.items())
    con.execute(f'CREATE OR REPLACE TABLE {name} ({cols}, "__pos" BIGINT)')
    if not rows:
        return
    values = []
    for pos, row in enumerate(rows):
        vals = []
        for c, (t, _) in schema.items():
            v = row[c]
            if t == "timestamp" and v is not None:
                v = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=v)
            vals.append(v)
        vals.append(pos)
        values.append(vals)
    con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * (len(schema) + 1))})", values)


def oracle_con(case):
    con = duckdb.connect()
    X.setup_duckdb(con)
    load(con, "a", case.data["a"], G.SCHEMA)
    load(con, "b", case.data["b"], G.SCHEMA)
    load(con, "d", case.data["d"], G.TABLE_SCHEMA)
    return con


def expected(con, query):
    scope = query.out_scope()
    inner = query.sql(con)
    cols = ", ".join((f'epoch_ms("{c}") AS "{c}"' if t == "timestamp" else f'"{c}"') for c, t in scope.items())
    rows = con.execute(f"SELECT {cols} FROM ({inner})").fetchall()
    return [norm_duck(r, scope) for r in rows]


def norm_duck(row, scope):
    out = []
    for v, (c, t) in zip(row, scope.items()):
        if isinstance(v, Decimal):
            v = float(v)
        if t == "float" and v is not None:
            v = float(v)
            if math.isnan(v) or math.isinf(v):
                v = None  # Sluice writes NaN and infinities as null
        out.append(v)
    return tuple(out)


TS_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{3}))?Z$")


def parse_ts(s):
    m = TS_RE.match(s)
    if not m:
        raise ValueError(f"bad timestamp text {s!r}")
    y, mo, d, h, mi, se, ms = m.groups()
    base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(se))
    return (base - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1) + int(ms or 0)


def read_sink(path, scope):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            if list(obj) != list(scope):
                raise ValueError(f"columns {list(obj)} != expected {list(scope)}")
            row = []
            for c, t in scope.items():
                v = obj[c]
                if v is not None:
                    if t == "timestamp":
                        v = parse_ts(v)
                    elif t == "float":
                        v = float(v)
                row.append(v)
            rows.append(tuple(row))
    return rows


# --- comparison -------------------------------------------------------------------------------

def column_kinds(query):
    """Per output column: 'exact', 'float' (rel 1e-9), 'sum' (order-dependent oracle sum),
    'pct' (DDSketch: 1% of the exact lower quantile)."""
    scope = query.out_scope()
    special = {}
    for c in query.chains:
        for s in c.stages:
            if isinstance(s, G.Aggregate):
                for n, fn, _, _ in s.items:
                    special[n] = {"percentile": "pct"}.get(fn, "float")
    return [("float" if t != "float" else special.get(c, "float")) if t == "float" else "exact"
            for c, t in scope.items()]


def close(a, b, kind):
    if a is None or b is None:
        return a is None and b is None
    if kind == "pct":
        return abs(a - b) <= 0.01 * abs(b) + 1e-9
    if kind == "sum":
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-6
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)) + 1e-12


def sort_key(v):
    return (v is not None, v if v is not None else 0)


def compare(got, want, kinds):
    """Multiset comparison; returns None when equal, else a description."""
    ex = [i for i, k in enumerate(kinds) if k == "exact"]
    ap = [i for i, k in enumerate(kinds) if k != "exact"]

    def split(rows):
        groups = {}
        for r in rows:
            groups.setdefault(tuple(r[i] for i in ex), []).append(tuple(r[i] for i in ap))
        return groups

    g, w = split(got), split(want)
    problems = []
    for key in set(g) | set(w):
        a = sorted(g.get(key, []), key=lambda t: [sort_key(v) for v in t])
        b = sorted(w.get(key, []), key=lambda t: [sort_key(v) for v in t])
        if len(a) != len(b):
            problems.append(f"rows with exact columns {key}: got {len(a)} {a[:3]}, want {len(b)} {b[:3]}")
            continue
        for x, y in zip(a, b):
            if not all(close(p, q, kinds[ap[i]]) for i, (p, q) in enumerate(zip(x, y))):
                problems.append(f"rows with exact columns {key}: got {x}, want {y}")
                break
    if not problems:
        return None
    return f"{len(got)} rows vs {len(want)} expected; " + "; ".join(sorted(problems, key=repr)[:5])


# --- running ----------------------------------------------------------------------------------

class Result:
    def __init__(self, crash=None, mismatches=None, batch=None):
        self.batch = batch  # --batch-size of the failing run (None: default)
        self.crash = crash  # text or None
        self.mismatches = mismatches or {}  # sink -> description

    @property
    def ok(self):
        return self.crash is None and not self.mismatches


def batch_size(case, workers):
    sizes = getattr(case, "batch_sizes", None) or [None]
    return sizes[{1: 0, 2: 1, 4: 2}.get(workers, 0) % len(sizes)]


def run_sluice(pipeline_path, workers, cwd, timeout=TIMEOUT_S, batch=None):
    summary = Path(cwd) / f"summary-{workers}.json"
    cmd = [str(sluice_bin()), "run", str(pipeline_path), "--workers", str(workers), "--gpu", "off",
           "-q", "--summary-json", str(summary)] + (["--batch-size", str(batch)] if batch else [])
    proc = subprocess.Popen(cmd, cwd=cwd, env=sluice_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return f"timeout after {timeout}s (killed)\n{err[-2000:]}", None
    if proc.returncode != 0 or "panicked" in err:
        return f"exit {proc.returncode}\n{err[-3000:]}", None
    try:
        return None, json.loads(summary.read_text())
    except Exception as e:  # noqa: BLE001
        return f"no summary: {e}\n{err[-2000:]}", None


def check(case, workers_list, work_dir, expect=None):
    """Runs `case` on every worker count; returns (workers, Result) of the first failure, or None."""
    work = Path(work_dir)
    data, out = work / "data", work / "out"
    for p in (data, out):
        if p.exists():
            shutil.rmtree(p)
        p.mkdir(parents=True)
    case.write_data(data)
    pipeline = work / "case.sluice"
    pipeline.write_text(case.pipeline("data", "out"))
    if expect is None:
        con = oracle_con(case)
        try:
            expect = {qq.sink: expected(con, qq) for qq in case.queries}
        finally:
            con.close()
    for w in workers_list:
        for f in out.iterdir():
            f.unlink()
        bs = batch_size(case, w)
        crash, summary = run_sluice(pipeline, w, work, batch=bs)
        if crash:
            return w, Result(crash=crash, batch=bs)
        dead = sum(s.get("dead_letters", 0) for s in summary.get("sources", []))
        if dead:
            return w, Result(batch=bs, crash=f"{dead} dead letters (none expected): "
                             + "; ".join(p.read_text()[:500] for p in out.glob("dead_*.jsonl")))
        mism = {}
        for qq in case.queries:
            path = out / f"{qq.sink}.jsonl"
            if not path.exists():
                mism[qq.sink] = "sink file not written"
                continue
            try:
                got = read_sink(path, qq.out_scope())
            except Exception as e:  # noqa: BLE001
                mism[qq.sink] = f"unreadable output: {e}"
                continue
            d = compare(got, expect[qq.sink], column_kinds(qq))
            if d:
                mism[qq.sink] = d
        if mism:
            return w, Result(mismatches=mism, batch=bs)
    return None


# --- minimizing -------------------------------------------------------------------------------

def signature(res):
    if res.crash:
        first = res.crash.splitlines()[0]
        return ("crash", "timeout" if first.startswith("timeout") else "panic" if "panicked" in res.crash else first[:20])
    return ("mismatch", tuple(sorted(res.mismatches)))


class Shrinker:
    def __init__(self, case, workers, sig, work_dir, budget_s=120, log=print):
        self.case, self.workers, self.sig = case, workers, sig
        self.work = Path(work_dir)
        self.deadline = time.monotonic() + budget_s
        self.tries = 0
        self.log = log

    def fails(self, case):
        if time.monotonic() > self.deadline:
            return False
        self.tries += 1
        try:
            r = check(case, [self.workers], self.work)
        except Exception:  # noqa: BLE001  oracle rejects an invalid reduction
            return False
        if r is None:
            return False
        res = r[1]
        if res.crash and res.crash.startswith("exit 2"):
            return False  # the reduction made the pipeline invalid
        s = signature(res)
        if any(v.startswith("unreadable output") for v in res.mismatches.values()):
            return False  # a reduction changed a schema the oracle holds
        if self.sig[0] == "mismatch":
            return s[0] == "mismatch" and set(self.sig[1]) <= set(s[1]) or \
                (s[0] == "mismatch" and bool(set(s[1]) & set(self.sig[1])))
        return s == self.sig

    def run(self):
        case = self.case
        # 1. other queries
        if self.sig[0] == "mismatch":
            target = [qq for qq in case.queries if qq.sink in self.sig[1]][:1]
            self.sig = ("mismatch", tuple(qq.sink for qq in target))
            c = copy.deepcopy(case)
            c.queries = copy.deepcopy(target)
            if self.fails(c):
                case = c
        case = self.ddmin_list(case, lambda c: c.queries, lambda c, v: setattr(c, "queries", v))
        # 2. stages, 3. expressions (repeat while progress)
        progress = True
        while progress and time.monotonic() < self.deadline:
            progress = False
            for qi in range(len(case.queries)):
                for ci in range(len(case.queries[qi].chains)):
                    if case.queries[qi].kind == "ijoin" and ci < len(case.queries[qi].chains) - 1:
                        continue  # the join stage holds the right side's schema
                    si = 0
                    while si < len(case.queries[qi].chains[ci].stages):
                        c = copy.deepcopy(case)
                        del c.queries[qi].chains[ci].stages[si]
                        if self.fails(c):
                            case, progress = c, True
                        else:
                            si += 1
            r = self.simplify_exprs(case)
            if r is not None:
                case, progress = r, True
        # 4. data rows
        for src in ("a", "b", "d"):
            case = self.ddmin_list(case, lambda c, s=src: c.data[s],
                                   lambda c, v, s=src: c.data.__setitem__(s, v))
        self.log(f"  minimized in {self.tries} runs")
        return case

    def ddmin_list(self, case, get, put):
        items = list(get(case))
        n = 2
        while len(items) >= 1 and time.monotonic() < self.deadline:
            chunk = max(1, len(items) // n)
            reduced = False
            for start in range(0, len(items), chunk):
                rest = items[:start] + items[start + chunk:]
                c = copy.deepcopy(case)
                put(c, rest)
                if self.fails(c):
                    items, case, reduced = rest, c, True
                    n = max(n - 1, 2)
                    break
            if not reduced:
                if chunk == 1:
                    break
                n = min(len(items), n * 2)
        return case

    def simplify_exprs(self, case):
        """One successful expression simplification, or None."""
        for qi, qq in enumerate(case.queries):
            for ci, ch in enumerate(qq.chains):
                for si, st in enumerate(ch.stages):
                    if isinstance(st, G.Select) and len(st.items) > 1:
                        for k in range(len(st.items)):
                            c = copy.deepcopy(case)
                            sel = c.queries[qi].chains[ci].stages[si]
                            del sel.items[k]
                            if self.fails(c):
                                return c
                    if isinstance(st, G.Aggregate):
                        for k in range(len(st.items) + len(st.keys)):
                            c = copy.deepcopy(case)
                            agg = c.queries[qi].chains[ci].stages[si]
                            if k < len(st.items):
                                if len(st.items) == 1 or st.items[k][0] == "n":
                                    continue
                                del agg.items[k]
                            else:
                                del agg.keys[k - len(st.items)]
                            if self.fails(c):
                                return c
                        if st.window:
                            c = copy.deepcopy(case)
                            c.queries[qi].chains[ci].stages[si].window = None
                            if self.fails(c):
                                return c
                    if not isinstance(st, (G.Where, G.Select)):
                        continue
                    for ei, e in enumerate(st.exprs()):
                        for cand in candidates(e):
                            c = copy.deepcopy(case)
                            s2 = c.queries[qi].chains[ci].stages[si]
                            es = s2.exprs()
                            es[ei] = cand
                            c.queries[qi].chains[ci].stages[si] = s2.set_exprs(es)
                            if self.fails(c):
                                return c
        return None


def candidates(e):
    """Simpler trees than `e`: a same-typed child in place of a node, or a literal."""
    out = []
    for kid in e.children():
        if kid.ty == e.ty:
            out.append(kid)
    if not isinstance(e, (X.Lit, X.Col)):
        for i, kid in enumerate(e.children()):
            for sub in candidates(kid):
                kids = list(e.children())
                kids[i] = sub
                try:
                    out.append(e.with_children(kids))
                except Exception:  # noqa: BLE001
                    pass
    return out


def dump_case(case, workers, res, dest, note=""):
    """Writes a kept case that replays without the generator: `case.sluice`, `data/`, and
    `expected.json` (per sink: columns, comparison kinds, expected rows; the failure seen)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "data").mkdir(exist_ok=True)
    case.write_data(dest / "data")
    (dest / "case.sluice").write_text(case.pipeline("data", "out"))
    con = oracle_con(case)
    try:
        sinks = {qq.sink: {"columns": qq.out_scope(), "kinds": column_kinds(qq),
                           "rows": [list(r) for r in expected(con, qq)]} for qq in case.queries}
    finally:
        con.close()
    (dest / "expected.json").write_text(json.dumps(
        {"seed": case.seed, "workers": workers, "batch_size": res.batch, "note": note,
         "failure": res.crash or res.mismatches, "sinks": sinks}, indent=1, default=str,
        ensure_ascii=False) + "\n")
    return dest


def replay(case_dir, workers, work_dir):
    """Runs a kept case; returns None when every sink matches, else a description."""
    case_dir, work = Path(case_dir), Path(work_dir)
    spec = json.loads((case_dir / "expected.json").read_text())
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(case_dir / "data", work / "data")
    (work / "out").mkdir()
    shutil.copy(case_dir / "case.sluice", work / "case.sluice")
    crash, summary = run_sluice(work / "case.sluice", workers, work, batch=spec.get("batch_size"))
    if crash:
        return crash
    dead = sum(s.get("dead_letters", 0) for s in summary.get("sources", []))
    if dead:
        return f"{dead} dead letters"
    problems = []
    for sink, s in spec["sinks"].items():
        got = read_sink(work / "out" / f"{sink}.jsonl", s["columns"])
        d = compare(got, [tuple(r) for r in s["rows"]], s["kinds"])
        if d:
            problems.append(f"{sink}: {d}")
    return "; ".join(problems) or None
