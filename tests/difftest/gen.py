"""Seeded generator of random valid pipelines over random typed data.

A `Case` is: sources `a` (JSONL) and `b` (CSV) with the same schema, a table `d` (CSV), and a
list of `Query`s. A query is a chain of streams (`Chain`: an input and a list of stages) ending
in one sink; from the same tree `Case.pipeline()` renders the Sluice file and `Query.sql()`
renders DuckDB SQL over the tables `a`, `b`, `d` (loaded from the same Python rows).
"""
from __future__ import annotations

import copy
import csv
import io
import json
import random

from . import expr as X
from .expr import (Bin, Cast, Coalesce, Col, DateTrunc, Func, If, In, IsNull, Lit, Neg, Not,
                   TsAdd)

BASE_MS = 1_772_323_200_000  # 2026-03-01T00:00:00Z

# Columns of the sources: name -> (type, nullable). `t` is the event time.
SCHEMA = {
    "k": ("string", False),
    "g": ("int", True),
    "i": ("int", False),
    "j": ("int", True),
    "f": ("float", False),
    "x": ("float", True),
    "b": ("bool", True),
    "s": ("string", True),
    "lat": ("float", False),
    "lon": ("float", False),
    "u": ("timestamp", True),
    "t": ("timestamp", False),
}
TABLE_SCHEMA = {"dk": ("string", False), "dv": ("int", True), "dn": ("string", True)}

WORDS = ["alpha", "Beta", "gamma", "ÉCOLE", "école", "naïve", "x", "", "42", "-7", "007",
         "3.25", "a,b", 'quo"te', "back\\slash", "2026-03-01T01:02:03Z", "1772323200000",
         "Zeta", "zeta", "ab", "abc"]

OPTIONS = {
    "top_no_per": True,     # `top K by ...` without `per` (panicked on main before the fix)
    "interval_join": True,
    "distinct": True,
    "session": True,
}


# --- data --------------------------------------------------------------------------------------

def gen_int(r: random.Random):
    c = r.random()
    if c < 0.6:
        return r.randint(-20, 20)
    if c < 0.8:
        return r.randint(-10**6, 10**6)
    if c < 0.9:
        return r.choice([X.I64_MAX, X.I64_MIN, X.I64_MAX - 1, X.I64_MIN + 1, 2**62, -(2**62),
                         3037000500, -3037000500])
    return r.randint(-(2**40), 2**40)


def gen_float(r: random.Random, wild: bool):
    c = r.random()
    if c < 0.15:
        return r.choice([0.0, 1.0, -1.0, 0.5, 2.5])
    if wild and c < 0.25:
        return r.choice([1e300, -1e300, 1e-300, 1e15 + 0.5, 123456789.125])
    return round(r.uniform(-1000, 1000), r.choice([0, 1, 2, 3]))


def gen_rows(r: random.Random, n: int, span_ms: int, hot: int):
    keys = [f"k{i}" for i in range(hot + 6)]
    rows = []
    for _ in range(n):
        row = {}
        row["k"] = keys[0] if r.random() < 0.35 else (r.choice(keys[:hot]) if r.random() < 0.6
                                                       else r.choice(keys))
        row["g"] = None if r.random() < 0.2 else r.randint(-2, 4)
        row["i"] = gen_int(r)
        row["j"] = None if r.random() < 0.25 else gen_int(r)
        row["f"] = gen_float(r, False)
        row["x"] = None if r.random() < 0.25 else gen_float(r, True)
        row["b"] = None if r.random() < 0.2 else r.random() < 0.5
        row["s"] = None if r.random() < 0.2 else r.choice(WORDS)
        row["lat"] = round(r.uniform(-90, 90), r.choice([1, 4, 6]))
        row["lon"] = round(r.uniform(-180, 180), r.choice([1, 4, 6]))
        # Event times: seconds, sometimes milliseconds; duplicates come from the coarse grid.
        t = BASE_MS + r.randrange(0, span_ms // 1000) * 1000
        if r.random() < 0.2:
            t += r.randrange(1000)
        row["t"] = t
        row["u"] = None if r.random() < 0.3 else BASE_MS + r.randrange(-10**9, 10**10)
        rows.append(row)
        if r.random() < 0.08:  # exact duplicate rows
            rows.append(dict(row))
    # Mostly ordered in time, with local disorder (out-of-order event times).
    rows.sort(key=lambda x: x["t"] + r.randrange(0, span_ms // 4 + 1))
    return rows


def gen_table(r: random.Random):
    rows = []
    for i in range(r.randint(0, 12)):
        rows.append({"dk": f"k{r.randint(0, 10)}", "dv": None if r.random() < 0.2 else r.randint(-5, 50),
                     "dn": None if r.random() < 0.2 else r.choice(WORDS)})
    return rows


def write_jsonl(rows, schema, path):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            obj = {}
            for c, (ty, _) in schema.items():
                v = row[c]
                if ty == "timestamp" and v is not None:
                    v = X.ts_text(v)
                obj[c] = v
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def csv_field(v, ty, epoch_ms_ts):
    if v is None:
        return ""
    if ty == "bool":
        return "true" if v else "false"
    if ty == "timestamp":
        return str(v) if epoch_ms_ts else X.ts_text(v)
    if ty == "float":
        return repr(float(v))
    if ty == "string":
        return '"' + v.replace('"', '""') + '"'
    return str(v)


def write_csv(rows, schema, path, epoch_ms_ts=False):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(schema) + "\n")
        for row in rows:
            f.write(",".join(csv_field(row[c], ty, epoch_ms_ts) for c, (ty, _) in schema.items()) + "\n")


# --- expressions ------------------------------------------------------------------------------

class ExprGen:
    def __init__(self, r: random.Random, scope: dict):
        self.r, self.scope = r, scope

    def cols(self, ty):
        return [c for c, t in self.scope.items() if t == ty]

    def lit(self, ty, allow_null=True):
        r = self.r
        if allow_null and r.random() < 0.05:
            return Lit(None, ty)
        if ty == "int":
            return Lit(r.choice([0, 1, 2, 3, -1, 7, 10, -13, 100, 2**31, 4611686018427387904]), ty)
        if ty == "float":
            return Lit(r.choice([0.0, 0.5, 1.5, -2.25, 100.0, 1e-3, 1e308]), ty)
        if ty == "bool":
            return Lit(r.random() < 0.5, ty)
        if ty == "string":
            return Lit(r.choice(WORDS), ty)
        if ty == "timestamp":
            return Lit(BASE_MS + r.randrange(0, 6 * 3600) * 1000, ty)
        raise ValueError(ty)

    def leaf(self, ty):
        cs = self.cols(ty)
        if cs and self.r.random() < 0.8:
            return Col(self.r.choice(cs), ty)
        return self.lit(ty)

    def gen(self, ty, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.25:
            return self.leaf(ty)
        d = depth - 1
        opts = ["if", "coalesce"]
        if ty == "int":
            opts += ["arith"] * 4 + ["neg", "len", "timepart", "cast_f", "cast_s", "cast_b", "cast_t"]
        elif ty == "float":
            opts += ["arith"] * 4 + ["neg", "cast_i", "cast_s", "hav"]
        elif ty == "bool":
            opts += ["cmp"] * 4 + ["logic"] * 2 + ["not", "isnull", "in", "strpred"]
        elif ty == "string":
            opts += ["case", "concat", "substr", "cast_s", "geohash"]
        elif ty == "timestamp":
            opts += ["trunc", "add", "cast_i", "cast_s"]
        op = r.choice(opts)
        if op == "if":
            return If(self.gen("bool", d), self.gen(ty, d), self.gen(ty, d))
        if op == "coalesce":
            return Coalesce([self.gen(ty, d) for _ in range(r.randint(1, 3))])
        if op == "arith":
            sym = r.choice(Bin.ARITH)
            if ty == "int":
                return Bin(sym, self.gen("int", d), self.gen("int", d))
            tys = r.choice([("float", "float"), ("int", "float"), ("float", "int")])
            return Bin(sym, self.gen(tys[0], d), self.gen(tys[1], d))
        if op == "neg":
            return Neg(self.gen(ty, d))
        if op == "len":
            return Func("length", [self.gen("string", d)])
        if op == "timepart":
            return Func(r.choice(["hour", "day", "month", "year"]), [self.gen("timestamp", d)])
        if op == "cast_f":
            return Cast("int", self.gen("float", d))
        if op == "cast_s":
            if ty == "timestamp":  # a string leaf: its integers stay in DuckDB's timestamp range
                return Cast(ty, self.leaf("string"))
            return Cast(ty, self.gen("string", d) if ty != "string" else
                        self.gen(r.choice(["int", "bool", "timestamp"]), d))
        if op == "cast_b":
            return Cast("int", self.gen("bool", d))
        if op == "cast_t":
            return Cast("int", self.gen("timestamp", d))
        if op == "cast_i":
            if ty == "timestamp":  # epoch ms: keep it in DuckDB's timestamp range
                return Cast("timestamp", Bin("+", Lit(BASE_MS, "int"),
                                             Bin("*", Col("g", "int") if "g" in self.scope else Lit(3, "int"),
                                                 Lit(60_000, "int"))))
            return Cast("float", self.gen("int", d))
        if op == "hav":
            ll = [c for c in ("lat", "lon") if c in self.scope]
            if len(ll) < 2:
                return self.leaf(ty)
            return Func("haversine_km", [Col("lat", "float"), Col("lon", "float"),
                                         Lit(round(r.uniform(-90, 90), 3), "float"),
                                         Lit(round(r.uniform(-180, 180), 3), "float")])
        if op == "cmp":
            t = r.choice(["int", "float", "string", "timestamp", "bool", "num"])
            if t == "num":
                return Bin(r.choice(Bin.CMP), self.gen("int", d), self.gen("float", d))
            return Bin(r.choice(Bin.CMP), self.gen(t, d), self.gen(t, d))
        if op == "logic":
            return Bin(r.choice(Bin.LOGIC), self.gen("bool", d), self.gen("bool", d))
        if op == "not":
            return Not(self.gen("bool", d))
        if op == "isnull":
            return IsNull(self.gen(r.choice(["int", "float", "string", "bool", "timestamp"]), d),
                          r.random() < 0.5)
        if op == "in":
            t = r.choice(["int", "string", "float"])
            return In(self.gen(t, d), [self.lit(t) for _ in range(r.randint(1, 4))], r.random() < 0.3)
        if op == "strpred":
            return Func(r.choice(["contains", "starts_with"]),
                        [self.gen("string", d), self.gen("string", d) if r.random() < 0.3
                         else Lit(r.choice(["a", "", "k", "é", "Be", "k1"]), "string")])
        if op == "case":
            return Func(r.choice(["lower", "upper"]), [self.gen("string", d)])
        if op == "concat":
            return Func("concat", [self.gen("string", d) for _ in range(r.randint(1, 3))])
        if op == "substr":
            return Func("substr", [self.gen("string", d), Lit(r.randint(-2, 5), "int"),
                                   Lit(r.randint(-1, 6), "int")])
        if op == "geohash":
            if "lat" not in self.scope or "lon" not in self.scope:
                return self.leaf(ty)
            return Func("geohash", [Col("lat", "float"), Col("lon", "float"), Lit(r.randint(1, 12), "int")])
        if op == "trunc":
            return DateTrunc(r.choice(["second", "minute", "hour", "day", "month", "year"]),
                             self.gen("timestamp", d))
        if op == "add":
            return TsAdd(self.gen("timestamp", d), r.choice([1000, 90_000, 3_600_000, 86_400_000, 250]),
                         r.choice("+-"))
        raise ValueError(op)


# --- stages -----------------------------------------------------------------------------------

def q(name):
    return '"' + name + '"'


class Where:
    def __init__(self, e):
        self.e = e

    def sluice(self):
        return f"where {self.e.sluice()}"

    def out_scope(self, scope):
        return dict(scope)

    def sql(self, prev, scope, ctx):
        return f"SELECT * FROM ({prev}) WHERE {self.e.sql()}"

    def exprs(self):
        return [self.e]

    def set_exprs(self, es):
        return Where(es[0])


class Select:
    def __init__(self, items):
        self.items = items  # list of (name, expr)

    def sluice(self):
        parts = []
        for n, e in self.items:
            parts.append(n if isinstance(e, Col) and e.name == n else f"{n} = {e.sluice()}")
        return "select " + ", ".join(parts)

    def out_scope(self, scope):
        return {n: e.ty for n, e in self.items}

    def sql(self, prev, scope, ctx):
        return "SELECT " + ", ".join(f"{e.sql()} AS {q(n)}" for n, e in self.items) + f" FROM ({prev})"

    def exprs(self):
        return [e for _, e in self.items]

    def set_exprs(self, es):
        return Select([(n, e) for (n, _), e in zip(self.items, es)])


AGG_FUNCS = ["count()", "count", "count_distinct", "sum", "min", "max", "avg", "first", "last",
             "percentile"]


class Aggregate:
    """`[window W |] [group by KEYS |] aggregate ITEMS`; items are (name, func, col, q)."""

    def __init__(self, keys, items, window=None):
        self.keys, self.items, self.window = keys, items, window

    def sluice(self):
        parts = []
        if self.window:
            w = self.window
            if w[0] == "tumbling":
                parts.append(f"window tumbling({X.dur_text(w[1])})")
            elif w[0] == "sliding":
                parts.append(f"window sliding({X.dur_text(w[1])}, every {X.dur_text(w[2])})")
            else:
                parts.append(f"window session(gap {X.dur_text(w[1])})")
        if self.keys:
            parts.append("group by " + ", ".join(self.keys))
        items = []
        for n, fn, col, qq in self.items:
            if fn == "count()":
                items.append(f"{n} = count()")
            elif fn == "percentile":
                items.append(f"{n} = percentile({col}, {qq})")
            else:
                items.append(f"{n} = {fn}({col})")
        parts.append("aggregate " + ", ".join(items))
        return "\n  | ".join(parts)

    def out_scope(self, scope):
        out = {k: scope[k] for k in self.keys}
        if self.window:
            out["window_start"] = "timestamp"
            out["window_end"] = "timestamp"
        for n, fn, col, _ in self.items:
            if fn in ("count()", "count", "count_distinct"):
                out[n] = "int"
            elif fn in ("avg", "percentile"):
                out[n] = "float"
            else:
                out[n] = scope[col]
        return out

    def agg_sql(self, n, fn, col, qq, scope):
        c = q(col) if col else None
        if fn == "count()":
            return "count(*)"
        if fn == "count":
            return f"count({c})"
        if fn == "count_distinct":
            return f"count(DISTINCT {c})"
        if fn == "sum":
            if scope[col] == "int":
                return f"ck(sum(CAST({c} AS HUGEINT)))"
            return f"xsum(list({c}) FILTER (WHERE {c} IS NOT NULL))"
        if fn in ("min", "max"):
            return f"{fn}({c})"
        if fn == "avg":
            # Sluice widens ints to float, sums exactly, rounds once, divides by the count.
            return (f"(CASE WHEN count({c}) > 0 THEN xsum(list(CAST({c} AS DOUBLE)) FILTER "
                    f"(WHERE {c} IS NOT NULL)) / count({c}) END)")
        if fn == "first":
            return f"first({c} ORDER BY \"__tm\", {c}) FILTER (WHERE {c} IS NOT NULL)"
        if fn == "last":
            return f"first({c} ORDER BY \"__tm\" DESC, {c} DESC) FILTER (WHERE {c} IS NOT NULL)"
        if fn == "percentile":
            return (f"list_sort(list(CAST({c} AS DOUBLE)) FILTER (WHERE {c} IS NOT NULL))"
                    f"[CAST(floor({qq} * (count({c}) - 1)) AS BIGINT) + 1]")
        raise ValueError(fn)

    def sql(self, prev, scope, ctx):
        keys = [q(k) for k in self.keys]
        aggs = [f"{self.agg_sql(n, fn, col, qq, scope)} AS {q(n)}" for n, fn, col, qq in self.items]
        base = f"SELECT *, epoch_ms(\"t\") AS \"__tm\" FROM ({prev})"
        if not self.window:
            sel = ", ".join(keys + aggs)
            gb = (" GROUP BY " + ", ".join(keys)) if keys else ""
            return f"SELECT {sel} FROM ({base}){gb}"
        w = self.window
        if w[0] == "tumbling":
            size = w[1]
            inner = f"SELECT *, \"__tm\" - (\"__tm\" % {size}) AS \"__ws\" FROM ({base})"
            ws, we = '"__ws"', f'"__ws" + {size}'
        elif w[0] == "sliding":
            size, every = w[1], w[2]
            inner = (f"SELECT *, unnest(generate_series(((\"__tm\" - {size}) // {every}) + 1, "
                     f"\"__tm\" // {every})) * {every} AS \"__ws\" FROM ({base})")
            ws, we = '"__ws"', f'"__ws" + {size}'
        else:
            gap = w[1]
            part = ("PARTITION BY " + ", ".join(keys)) if keys else ""
            s1 = (f"SELECT *, CASE WHEN lag(\"__tm\") OVER ({part} ORDER BY \"__tm\") IS NULL OR "
                  f"\"__tm\" - lag(\"__tm\") OVER ({part} ORDER BY \"__tm\") >= {gap} THEN 1 ELSE 0 END "
                  f"AS \"__new\" FROM ({base})")
            inner = (f"SELECT *, sum(\"__new\") OVER ({part} ORDER BY \"__tm\", \"__new\" DESC "
                     f"ROWS UNBOUNDED PRECEDING) AS \"__sid\" FROM ({s1})")
            sel = ", ".join(keys + ['epoch_ms(min("__tm")) AS "window_start"',
                                    f'epoch_ms(max("__tm") + {gap}) AS "window_end"'] + aggs)
            return f"SELECT {sel} FROM ({inner}) GROUP BY " + ", ".join(keys + ['"__sid"'])
        sel = ", ".join(keys + [f"epoch_ms({ws}) AS \"window_start\"", f"epoch_ms({we}) AS \"window_end\""]
                        + aggs)
        return f"SELECT {sel} FROM ({inner}) GROUP BY " + ", ".join(keys + ['"__ws"'])

    def exprs(self):
        return []


class Join:
    """`[left] join d on COL == d.dk` against the table."""

    def __init__(self, col, left):
        self.col, self.left = col, left

    def sluice(self):
        return f"{'left ' if self.left else ''}join d on {self.col} == d.dk"

    def out_scope(self, scope):
        out = dict(scope)
        out.update({c: t for c, (t, _) in TABLE_SCHEMA.items()})
        return out

    def sql(self, prev, scope, ctx):
        kind = "LEFT JOIN" if self.left else "JOIN"
        cols = ", ".join(f"l.{q(c)}" for c in scope) + ", r.dk, r.dv, r.dn"
        return (f"SELECT {cols} FROM ({prev}) l {kind} (SELECT * FROM d QUALIFY row_number() OVER "
                f"(PARTITION BY dk ORDER BY \"__pos\" DESC) = 1) r ON l.{q(self.col)} = r.dk")

    def exprs(self):
        return []


class IntervalJoin:
    """`[left] join R on k == R.k within D`; R is a stream declared by the query."""

    def __init__(self, right, right_scope, within, left):
        self.right, self.right_scope, self.within, self.left = right, right_scope, within, left

    def sluice(self):
        return (f"{'left ' if self.left else ''}join {self.right} on k == {self.right}.k "
                f"within {X.dur_text(self.within)}")

    def out_scope(self, scope):
        out = dict(scope)
        for c, t in self.right_scope.items():
            if c == "k":
                continue
            out[f"{self.right}_{c}" if c in scope else c] = t
        return out

    def sql(self, prev, scope, ctx):
        kind = "LEFT JOIN" if self.left else "JOIN"
        cols = [f"l.{q(c)}" for c in scope]
        for c in self.right_scope:
            if c == "k":
                continue
            cols.append(f"r.{q(c)} AS {q(self.right + '_' + c if c in scope else c)}")
        return (f"SELECT {', '.join(cols)} FROM ({prev}) l {kind} ({ctx[self.right]}) r ON l.k = r.k "
                f"AND abs(epoch_ms(l.t) - epoch_ms(r.t)) <= {self.within}")

    def exprs(self):
        return []


class Top:
    def __init__(self, k, by, per):
        self.k, self.by, self.per = k, by, per  # by: list of (col, desc)

    def sluice(self):
        by = ", ".join(f"{c} {'desc' if d else 'asc'}" for c, d in self.by)
        per = (" per " + ", ".join(self.per)) if self.per else ""
        return f"top {self.k} by {by}{per}"

    def out_scope(self, scope):
        out = dict(scope)
        out["rank"] = "int"
        return out

    def sql(self, prev, scope, ctx):
        part = ("PARTITION BY " + ", ".join(q(p) for p in self.per)) if self.per else ""
        order = ", ".join(f"{q(c)} {'DESC' if d else 'ASC'}" for c, d in self.by)
        return (f"SELECT * FROM (SELECT *, row_number() OVER ({part} ORDER BY {order}) AS \"rank\" "
                f"FROM ({prev})) WHERE \"rank\" <= {self.k}")

    def exprs(self):
        return []


class Distinct:
    """`distinct on KEYS within D | select KEYS, t`: which of two rows with one key and time
    passes is arrival order, so only the keys and the time are kept (deterministic)."""

    def __init__(self, keys, within):
        self.keys, self.within = keys, within

    def sluice(self):
        return (f"distinct on {', '.join(self.keys)} within {X.dur_text(self.within)}\n"
                f"  | select {', '.join(self.keys + ['t'])}")

    def out_scope(self, scope):
        return {c: scope[c] for c in self.keys + ["t"]}

    def sql(self, prev, scope, ctx):
        # Computed in Python (a sequential rule): ctx["con"] runs the input, ctx registers
        # the result as a table.
        con = ctx["con"]
        cols = self.keys + ["t"]
        rows = con.execute(f"SELECT {', '.join(q(c) for c in self.keys)}, epoch_ms(t) FROM ({prev}) "
                           f"ORDER BY epoch_ms(t)").fetchall()
        last, keep = {}, []
        for row in rows:
            # Keys compare as `==` does: NaN equals NaN (and -0.0 == 0.0, as in Python).
            key, tm = tuple("NaN" if isinstance(v, float) and v != v else v for v in row[:-1]), row[-1]
            if key in last and tm - last[key] <= self.within:
                continue
            last[key] = tm
            keep.append(row)
        name = f"__distinct{len(ctx['tables'])}"
        ctx["tables"].append(name)
        types = {"int": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "float": "DOUBLE",
                 "bool": "BOOLEAN"}
        con.execute(f"CREATE OR REPLACE TABLE {name} ("
                    + ", ".join(f"{q(c)} {types[scope[c]]}" for c in self.keys) + ", \"__tm\" BIGINT)")
        if keep:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})", keep)
        return (f"SELECT {', '.join(q(c) for c in self.keys)}, epoch_ms(\"__tm\") AS \"t\" FROM {name}")

    def exprs(self):
        return []


# --- queries ----------------------------------------------------------------------------------

class Chain:
    def __init__(self, name, inputs, stages):
        self.name, self.inputs, self.stages = name, inputs, stages  # inputs: list of names

    def sluice(self):
        inp = self.inputs[0] if len(self.inputs) == 1 else "union(" + ", ".join(self.inputs) + ")"
        return f"stream {self.name} = {inp}" + "".join("\n  | " + s.sluice() for s in self.stages)


class Query:
    def __init__(self, qid, chains, kind):
        self.qid, self.chains, self.kind = qid, chains, kind

    @property
    def sink(self):
        return f"q{self.qid}"

    def sluice(self, out_dir):
        text = "\n".join(c.sluice() for c in self.chains)
        return text + f'\nsink {self.sink} = file("{out_dir}/{self.sink}.jsonl") as jsonl <- {self.chains[-1].name}\n'

    def scopes(self):
        """Output scope of every chain (name -> {col: type})."""
        scopes = {"a": {c: t for c, (t, _) in SCHEMA.items()}, "b": {c: t for c, (t, _) in SCHEMA.items()}}
        for c in self.chains:
            scope = scopes[c.inputs[0]]
            for s in c.stages:
                scope = s.out_scope(scope)
            scopes[c.name] = scope
        return scopes

    def out_scope(self):
        return self.scopes()[self.chains[-1].name]

    def sql(self, con):
        ctx = {"con": con, "tables": []}
        scopes = {"a": {c: t for c, (t, _) in SCHEMA.items()}, "b": {c: t for c, (t, _) in SCHEMA.items()}}
        sqls = {"a": "SELECT * EXCLUDE (\"__pos\") FROM a", "b": "SELECT * EXCLUDE (\"__pos\") FROM b"}
        for c in self.chains:
            prev = " UNION ALL ".join(f"SELECT * FROM ({sqls[i]})" for i in c.inputs)
            scope = scopes[c.inputs[0]]
            for s in c.stages:
                ctx.update(sqls)
                prev = s.sql(prev, scope, ctx)
                scope = s.out_scope(scope)
            sqls[c.name], scopes[c.name] = prev, scope
        return sqls[self.chains[-1].name]


class QueryGen:
    def __init__(self, r: random.Random, options=None):
        self.r = r
        self.opts = dict(OPTIONS, **(options or {}))

    def where(self, scope, depth=3):
        return Where(ExprGen(self.r, scope).gen("bool", depth))

    def select(self, scope, n=None, keep_t=False):
        r = self.r
        eg = ExprGen(r, scope)
        items = []
        if keep_t:
            items.append(("t", Col("t", "timestamp")))
        for idx in range(n or r.randint(1, 5)):
            ty = r.choice(["int", "float", "bool", "string", "timestamp"])
            if r.random() < 0.2:
                cs = [c for c, t in scope.items() if c not in dict(items)]
                if cs:
                    c = r.choice(cs)
                    items.append((c, Col(c, scope[c])))
                    continue
            items.append((f"e{idx}", eg.gen(ty, r.randint(1, 4))))
        return Select(items)

    def agg_items(self, scope, n=None):
        r = self.r
        items = []
        numeric = [c for c, t in scope.items() if t in ("int", "float") and c != "x"]
        for idx in range(n or r.randint(1, 5)):
            fn = r.choice(AGG_FUNCS)
            if fn in ("sum", "avg"):
                cols = numeric
            elif fn == "percentile":
                # Only columns whose values span less than DDSketch's documented 10^17 range
                # (beyond it the lowest bins collapse and the 1% bound does not hold).
                cols = [c for c in ("f", "g") if c in scope]
            elif fn in ("min", "max"):
                cols = [c for c, t in scope.items() if t != "bool"]
            else:
                cols = list(scope)
            if fn == "count()" or not cols:
                items.append((f"a{idx}", "count()", None, None))
                continue
            col = r.choice(cols)
            qq = r.choice([0.0, 0.5, 0.9, 0.99, 1.0]) if fn == "percentile" else None
            items.append((f"a{idx}", fn, col, qq))
        return items

    def pre_select(self, scope):
        """A `select` before an aggregate: keeps k, g, t (event time), adds computed columns."""
        sel = self.select(scope)
        keep = [("k", Col("k", "string")), ("g", Col("g", "int")), ("t", Col("t", "timestamp"))]
        names = {n for n, _ in keep}
        return Select(keep + [(n, e) for n, e in sel.items if n not in names])

    def post(self, scope, aggregate):
        """Optional `where`/`select` after an aggregate, not reading approximate columns."""
        pct = {n for n, fn, _, _ in aggregate.items if fn == "percentile"}
        exact = {c: t for c, t in scope.items() if c not in pct}
        r = self.r
        out = []
        if r.random() < 0.3:
            out.append(self.where(exact, 2))
        if r.random() < 0.3:
            sel = self.select(exact)
            sel.items = [(c, Col(c, t)) for c, t in scope.items() if r.random() < 0.5] + \
                [(n, e) for n, e in sel.items if n not in scope]
            if not sel.items:
                c0 = next(iter(scope))
                sel.items = [(c0, Col(c0, scope[c0]))]
            out.append(sel)
        return out

    def keys(self, scope):
        r = self.r
        opts = [ks for ks in ([], ["k"], ["g"], ["k", "g"], ["b"], ["s"], ["k", "b"]) if all(k in scope for k in ks)]
        extra = [c for c in scope if c.startswith("e")]
        if extra and r.random() < 0.5:
            return r.sample(extra, 1) + r.choice([[], ["k"]])
        return r.choice(opts)

    def gen(self, qid):
        r = self.r
        src = r.choice(["a", "a", "b"])
        scope = {c: t for c, (t, _) in SCHEMA.items()}
        name = f"s{qid}"
        kinds = ["select", "select", "agg", "window", "join", "top", "union"]
        if self.opts["distinct"]:
            kinds.append("distinct")
        if self.opts["interval_join"]:
            kinds.append("ijoin")
        kind = r.choice(kinds)
        stages = []
        chains = []
        if r.random() < 0.6:
            stages.append(self.where(scope))
        if kind == "select":
            stages.append(self.select(scope))
            if r.random() < 0.3:
                sc = stages[-1].out_scope(scope)
                stages.append(self.where(sc, 2))
        elif kind == "agg":
            if r.random() < 0.5:
                stages.append(self.pre_select(scope))
                scope = stages[-1].out_scope(scope)
            stages.append(Aggregate(self.keys(scope), self.agg_items(scope)))
            stages += self.post(stages[-1].out_scope(scope), stages[-1])
        elif kind == "window":
            if r.random() < 0.5:
                stages.append(self.pre_select(scope))
                scope = stages[-1].out_scope(scope)
            w = r.choice(["tumbling", "sliding"] + (["session"] if self.opts["session"] else []))
            if w == "tumbling":
                win = ("tumbling", r.choice([60_000, 600_000, 3_600_000, 7_200_000, 1500]))
            elif w == "sliding":
                every = r.choice([60_000, 600_000, 1_800_000])
                win = ("sliding", every * r.randint(1, 4), every)
            else:
                win = ("session", r.choice([1000, 60_000, 300_000, 1_800_000]))
            stages.append(Aggregate(self.keys(scope), self.agg_items(scope), win))
            stages += self.post(stages[-1].out_scope(scope), stages[-1])
        elif kind == "join":
            stages.append(Join(r.choice(["k", "k", "s"]), r.random() < 0.5))
            sc = stages[-1].out_scope(scope)
            c = r.random()
            if c < 0.4:
                stages.append(self.select(sc))
            elif c < 0.6:  # join, then aggregate on table columns
                stages.append(Aggregate(r.choice([["dn"], ["dv", "k"], []]), self.agg_items(sc)))
        elif kind == "top":
            per = r.random() < 0.5 or not self.opts["top_no_per"]
            keys = ["k", "g"] if per else ["k"]
            win = None
            if r.random() < 0.3:
                win = ("tumbling", r.choice([600_000, 3_600_000]))
            stages.append(Aggregate(keys, [("n", "count()", None, None)] + self.agg_items(scope, 2), win))
            part = (["g"] if per else []) + (["window_start"] if win and r.random() < 0.7 else [])
            stages.append(Top(r.randint(1, 4), [("n", True), ("k", False)]
                              + ([("window_start", False)] if win else []), part))
        elif kind == "distinct":
            if r.random() < 0.4:
                stages.append(self.pre_select(scope))
                scope = stages[-1].out_scope(scope)
                extra = [c for c in scope if c.startswith("e")]
                keys = r.sample(extra, 1) if extra else ["k"]
            else:
                keys = r.choice([["k"], ["k", "g"], ["s"]])
            stages.append(Distinct(keys, r.choice([1000, 60_000, 600_000, 3_600_000])))
        elif kind == "union":
            other = "b" if src == "a" else "a"
            sel = self.select(scope)
            right = Chain(f"s{qid}r", [other], ([self.where(scope)] if r.random() < 0.5 else []) + [sel])
            chains.append(right)
            stages.append(copy.deepcopy(sel))
            left = Chain(f"s{qid}l", [src], stages)
            chains.append(left)
            tail = []
            if r.random() < 0.5:
                tail.append(self.where(sel.out_scope(scope), 2))
            if r.random() < 0.4:  # union, then a (windowed) aggregate on event time
                for s_ in (sel, stages[-1]):
                    s_.items = [(n, e) for n, e in s_.items if n not in ("k", "g", "t")] + [
                        ("k", Col("k", "string")), ("g", Col("g", "int")), ("t", Col("t", "timestamp"))]
                usc = sel.out_scope(scope)
                win = r.choice([None, ("tumbling", 600_000), ("session", 60_000), ("sliding", 1_200_000, 600_000)])
                tail = [Aggregate(r.choice([["k"], ["g"], []]), self.agg_items(usc), win)]
            chains.append(Chain(name, [left.name, right.name], tail))
            return Query(qid, chains, kind)
        elif kind == "ijoin":
            other = "b" if src == "a" else "a"
            rsel = Select([("k", Col("k", "string")), ("t", Col("t", "timestamp"))]
                          + [(c, Col(c, scope[c])) for c in r.sample(["g", "i", "s", "f"], 2)])
            right = Chain(f"s{qid}r", [other], ([self.where(scope, 2)] if r.random() < 0.5 else []) + [rsel])
            chains.append(right)
            stages.append(IntervalJoin(right.name, rsel.out_scope(scope),
                                       r.choice([1, 1000, 60_000, 600_000]), r.random() < 0.5))
        chains.append(Chain(name, [src], stages))
        return Query(qid, chains, kind)


class Case:
    def __init__(self, seed, n_queries=20, options=None):
        r = random.Random(seed)
        self.seed = seed
        span = r.choice([600_000, 3_600_000, 6 * 3_600_000])
        hot = r.randint(1, 4)
        self.data = {
            "a": [] if r.random() < 0.05 else gen_rows(r, r.randint(1, 200), span, hot),
            "b": [] if r.random() < 0.15 else gen_rows(r, r.randint(1, 80), span, hot),
            "d": gen_table(r),
        }
        self.b_epoch_ms = r.random() < 0.5
        # Watermark lag larger than the whole span: no row is ever late.
        self.max_ooo = span + 3_600_000
        # Rows per batch for each run (1, 2, 4 workers): small batches exercise merging state
        # across batches; None is the default (8192, one batch here).
        self.batch_sizes = [r.choice([None, 1, 3, 16, 64]) for _ in range(3)]
        qg = QueryGen(r, options)
        self.queries = [qg.gen(i) for i in range(n_queries)]

    def pipeline(self, data_dir, out_dir):
        def schema(s):
            return "\n".join(f"    {c}: {t}{'?' if n else ''}" for c, (t, n) in s.items())

        parts = [f"pipeline difftest\n"]
        for name, fmt in (("a", "jsonl"), ("b", "csv")):
            parts.append(f'source {name} = file("{data_dir}/{name}.{fmt}") as {fmt} {{\n  schema {{\n'
                         f"{schema(SCHEMA)}\n  }}\n  event_time = t\n"
                         f"  max_out_of_order = {X.dur_text(self.max_ooo)}\n"
                         f'  dead_letter = file("{out_dir}/dead_{name}.jsonl") as jsonl\n}}\n')
        parts.append(f'table d = file("{data_dir}/d.csv") as csv {{\n  schema {{\n{schema(TABLE_SCHEMA)}\n'
                     f'  }}\n  key = dk\n  dead_letter = file("{out_dir}/dead_d.jsonl") as jsonl\n}}\n')
        for qq in self.queries:
            parts.append(qq.sluice(out_dir))
        return "\n".join(parts)

    def write_data(self, data_dir):
        write_jsonl(self.data["a"], SCHEMA, f"{data_dir}/a.jsonl")
        write_csv(self.data["b"], SCHEMA, f"{data_dir}/b.csv", self.b_epoch_ms)
        write_csv(self.data["d"], TABLE_SCHEMA, f"{data_dir}/d.csv")
