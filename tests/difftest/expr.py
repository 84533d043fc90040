"""Typed expression trees: one tree renders both Sluice text and DuckDB SQL.

Types are the strings "int", "float", "bool", "string", "timestamp". Every node has `ty`,
`sluice()`, `sql()` and `children()` / `with_children()` (the shrinker rewrites trees).

DuckDB emulation of the Sluice semantics (README "What runs today", engine/src/expr/*):
- int `+ - * / %` are computed in HUGEINT and nulled outside i64 (`ck`), division truncates
  toward zero, `%` takes the dividend's sign, x / 0 and x % 0 are null
  (`error_on_division_by_zero = false`); floats are IEEE (x / 0.0 = inf, x % 0.0 = NaN);
- comparisons: NaN == NaN and NaN largest, -0.0 == 0.0 (DuckDB does the same);
- `int(float)` truncates, NaN/inf/out of range -> null; `int(string)` accepts `-?[0-9]+` only;
- `substr(s, start, len)` is PostgreSQL's; `concat` is null if any argument is null (`||`);
- `date_trunc` returns a timestamp; `timestamp + duration` is millisecond arithmetic.
"""
from __future__ import annotations

import math

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

NUMERIC = ("int", "float")


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def sluice_str(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def ts_text(ms: int) -> str:
    """RFC 3339 UTC, `.mmm` only when not zero (Sluice's own form)."""
    import datetime as dt

    d = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    base = d.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        base += ".%03d" % (ms % 1000)
    return base + "Z"


def dur_text(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def float_lit(v: float) -> str:
    r = repr(float(v))
    if "e" in r or "." in r:
        return r.replace("e+", "e")
    return r + ".0"


class Node:
    ty: str

    def children(self):
        return []

    def with_children(self, kids):
        return self


class Col(Node):
    def __init__(self, name, ty):
        self.name, self.ty = name, ty

    def sluice(self):
        return self.name

    def sql(self):
        return '"' + self.name + '"'


class Lit(Node):
    def __init__(self, value, ty):
        self.value, self.ty = value, ty

    def sluice(self):
        v = self.value
        if v is None:
            # A typed null: a bare `null` cannot always be typed (E0210).
            return "(int(null) == 0)" if self.ty == "bool" else f"{self.ty}(null)"
        if self.ty == "bool":
            return "true" if v else "false"
        if self.ty == "int":
            return str(v) if v >= 0 else f"({v})"
        if self.ty == "float":
            t = float_lit(v)
            return t if v >= 0 else f"({t})"
        if self.ty == "string":
            return sluice_str(v)
        if self.ty == "timestamp":
            return "@" + ts_text(v)
        raise ValueError(self.ty)

    def sql(self):
        v = self.value
        if v is None:
            return {"int": "CAST(NULL AS BIGINT)", "float": "CAST(NULL AS DOUBLE)",
                    "bool": "CAST(NULL AS BOOLEAN)", "string": "CAST(NULL AS VARCHAR)",
                    "timestamp": "CAST(NULL AS TIMESTAMP)"}[self.ty]
        if self.ty == "bool":
            return "TRUE" if v else "FALSE"
        if self.ty == "int":
            return f"CAST({v} AS BIGINT)"
        if self.ty == "float":
            return f"CAST({float_lit(v)} AS DOUBLE)"
        if self.ty == "string":
            return sql_str(v)
        if self.ty == "timestamp":
            return f"epoch_ms(CAST({v} AS BIGINT))"
        raise ValueError(self.ty)


def as_float_sql(e: Node) -> str:
    return f"CAST({e.sql()} AS DOUBLE)" if e.ty == "int" else e.sql()


class Bin(Node):
    ARITH = ("+", "-", "*", "/", "%")
    CMP = ("==", "!=", "<", "<=", ">", ">=")
    LOGIC = ("and", "or")

    def __init__(self, op, l, r):
        self.op, self.l, self.r = op, l, r
        if op in self.ARITH:
            self.ty = "int" if (l.ty, r.ty) == ("int", "int") else "float"
        else:
            self.ty = "bool"

    def children(self):
        return [self.l, self.r]

    def with_children(self, kids):
        return Bin(self.op, kids[0], kids[1])

    def sluice(self):
        return f"({self.l.sluice()} {self.op} {self.r.sluice()})"

    def sql(self):
        op = self.op
        if op in self.LOGIC:
            return f"({self.l.sql()} {op.upper()} {self.r.sql()})"
        if op in self.CMP:
            sop = {"==": "=", "!=": "<>"}.get(op, op)
            if self.l.ty in NUMERIC and self.l.ty != self.r.ty:
                return f"({as_float_sql(self.l)} {sop} {as_float_sql(self.r)})"
            return f"({self.l.sql()} {sop} {self.r.sql()})"
        if self.ty == "int":
            sop = "//" if op == "/" else op
            return f"ck(CAST({self.l.sql()} AS HUGEINT) {sop} CAST({self.r.sql()} AS HUGEINT))"
        if op == "%":
            return f"({as_float_sql(self.l)} % {as_float_sql(self.r)})"
        return f"({as_float_sql(self.l)} {op} {as_float_sql(self.r)})"


class Neg(Node):
    def __init__(self, e):
        self.e, self.ty = e, e.ty

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return Neg(kids[0])

    def sluice(self):
        return f"(-{self.e.sluice()})"

    def sql(self):
        if self.ty == "int":
            return f"ck(-CAST({self.e.sql()} AS HUGEINT))"
        return f"(-{self.e.sql()})"


class Not(Node):
    ty = "bool"

    def __init__(self, e):
        self.e = e

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return Not(kids[0])

    def sluice(self):
        return f"(not {self.e.sluice()})"

    def sql(self):
        return f"(NOT {self.e.sql()})"


class IsNull(Node):
    ty = "bool"

    def __init__(self, e, neg):
        self.e, self.neg = e, neg

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return IsNull(kids[0], self.neg)

    def sluice(self):
        return f"({self.e.sluice()} is {'not ' if self.neg else ''}null)"

    def sql(self):
        return f"({self.e.sql()} IS {'NOT ' if self.neg else ''}NULL)"


def unify(tys):
    tys = set(tys)
    if len(tys) == 1:
        return tys.pop()
    assert tys == {"int", "float"}, tys
    return "float"


def coerced_sql(e: Node, ty: str) -> str:
    return as_float_sql(e) if ty == "float" else e.sql()


class If(Node):
    def __init__(self, c, a, b):
        self.c, self.a, self.b = c, a, b
        self.ty = unify([a.ty, b.ty])

    def children(self):
        return [self.c, self.a, self.b]

    def with_children(self, kids):
        return If(*kids)

    def sluice(self):
        return f"if({self.c.sluice()}, {self.a.sluice()}, {self.b.sluice()})"

    def sql(self):
        return (f"(CASE WHEN {self.c.sql()} THEN {coerced_sql(self.a, self.ty)} "
                f"ELSE {coerced_sql(self.b, self.ty)} END)")


class Coalesce(Node):
    def __init__(self, args):
        self.args = args
        self.ty = unify([a.ty for a in args])

    def children(self):
        return list(self.args)

    def with_children(self, kids):
        return Coalesce(kids)

    def sluice(self):
        return "coalesce(" + ", ".join(a.sluice() for a in self.args) + ")"

    def sql(self):
        return "coalesce(" + ", ".join(coerced_sql(a, self.ty) for a in self.args) + ")"


class In(Node):
    ty = "bool"

    def __init__(self, e, items, neg):
        self.e, self.items, self.neg = e, items, neg

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return In(kids[0], self.items, self.neg)

    def sluice(self):
        return (f"({self.e.sluice()} {'not ' if self.neg else ''}in ("
                + ", ".join(i.sluice() for i in self.items) + "))")

    def sql(self):
        ty = unify([self.e.ty] + [i.ty for i in self.items])
        return (f"({coerced_sql(self.e, ty)} {'NOT ' if self.neg else ''}IN ("
                + ", ".join(coerced_sql(i, ty) for i in self.items) + "))")


INT_RE = "'-?[0-9]+'"


class Cast(Node):
    def __init__(self, target, e):
        self.ty, self.e = target, e

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return Cast(self.ty, kids[0])

    def sluice(self):
        return f"{self.ty}({self.e.sluice()})"

    def sql(self):
        src, x = self.e.ty, self.e.sql()
        t = self.ty
        if src == t:
            return x
        if t == "int":
            if src == "float":
                return (f"(CASE WHEN isfinite({x}) AND trunc({x}) >= -9223372036854775808.0 "
                        f"AND trunc({x}) < 9223372036854775808.0 THEN CAST(trunc({x}) AS BIGINT) END)")
            if src == "bool":
                return f"CAST({x} AS BIGINT)"
            if src == "timestamp":
                return f"epoch_ms({x})"
            if src == "string":
                return f"(CASE WHEN regexp_full_match({x}, {INT_RE}) THEN ck(TRY_CAST({x} AS HUGEINT)) END)"
        if t == "float":
            if src == "int":
                return f"CAST({x} AS DOUBLE)"
            if src == "string":
                return f"(CASE WHEN regexp_full_match({x}, '[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?') THEN TRY_CAST({x} AS DOUBLE) END)"  # Arrow's parser
        if t == "string":
            if src in ("int", "bool"):
                return f"CAST({x} AS VARCHAR)"
            if src == "timestamp":
                return (f"(CASE WHEN epoch_ms({x}) % 1000 = 0 THEN strftime({x}, '%Y-%m-%dT%H:%M:%SZ') "
                        f"ELSE strftime({x}, '%Y-%m-%dT%H:%M:%S.%gZ') END)")
        if t == "timestamp":
            if src == "int":
                return f"epoch_ms({x})"
            if src == "string":
                return (f"(CASE WHEN regexp_full_match({x}, {INT_RE}) THEN epoch_ms(TRY_CAST({x} AS BIGINT)) "
                        f"ELSE CAST(TRY_CAST({x} AS TIMESTAMPTZ) AS TIMESTAMP) END)")
        raise ValueError(f"cast {src} -> {t}")


FUNCS = {
    # name: (arg types, result type)
    "lower": (["string"], "string"),
    "upper": (["string"], "string"),
    "length": (["string"], "int"),
    "contains": (["string", "string"], "bool"),
    "starts_with": (["string", "string"], "bool"),
    "hour": (["timestamp"], "int"),
    "day": (["timestamp"], "int"),
    "month": (["timestamp"], "int"),
    "year": (["timestamp"], "int"),
    "haversine_km": (["float"] * 4, "float"),
    "geohash": (["float", "float", "int"], "string"),
}


class Func(Node):
    def __init__(self, name, args):
        self.name, self.args = name, args
        self.ty = {"concat": "string", "substr": "string"}.get(name) or FUNCS[name][1]

    def children(self):
        return list(self.args)

    def with_children(self, kids):
        return Func(self.name, kids)

    def sluice(self):
        return f"{self.name}(" + ", ".join(a.sluice() for a in self.args) + ")"

    def sql(self):
        a = [x.sql() for x in self.args]
        n = self.name
        if n in ("lower", "upper", "length", "contains", "starts_with"):
            return f"{n}({', '.join(a)})"
        if n in ("hour", "day", "month", "year"):
            return f"CAST({n}({a[0]}) AS BIGINT)"
        if n == "concat":
            return "(" + " || ".join(a) + ")"
        if n == "substr":
            s, st, ln = a
            # PostgreSQL: characters at [start, start + len); len < 0 -> null (Sluice).
            return (f"(CASE WHEN {ln} < 0 THEN NULL ELSE substring({s}, greatest({st}, 1), "
                    f"greatest(0, {st} + {ln} - greatest({st}, 1))) END)")
        if n == "haversine_km":
            f = [as_float_sql(x) for x in self.args]
            return f"hav({', '.join(f)})"
        if n == "geohash":
            f = [as_float_sql(x) for x in self.args[:2]]
            return f"geohash_udf({f[0]}, {f[1]}, {a[2]})"
        raise ValueError(n)


class DateTrunc(Node):
    ty = "timestamp"

    def __init__(self, unit, e):
        self.unit, self.e = unit, e

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return DateTrunc(self.unit, kids[0])

    def sluice(self):
        return f'date_trunc("{self.unit}", {self.e.sluice()})'

    def sql(self):
        return f"CAST(date_trunc('{self.unit}', {self.e.sql()}) AS TIMESTAMP)"


class TsAdd(Node):
    ty = "timestamp"

    def __init__(self, e, ms, sign):
        self.e, self.ms, self.sign = e, ms, sign

    def children(self):
        return [self.e]

    def with_children(self, kids):
        return TsAdd(kids[0], self.ms, self.sign)

    def sluice(self):
        return f"({self.e.sluice()} {self.sign} {dur_text(self.ms)})"

    def sql(self):
        return f"({self.e.sql()} {self.sign} to_milliseconds({self.ms}))"


# --- DuckDB helpers --------------------------------------------------------------------------

def geohash(lat, lon, precision):
    """engine/src/expr/geo.rs `encode_geohash`, cells half-open."""
    if lat is None or lon is None or precision is None:
        return None
    if not (1 <= precision <= 12) or not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        return None
    base32 = "0123456789bcdefghjkmnpqrstuvwxyz"
    lat_lo, lat_hi, lon_lo, lon_hi = -90.0, 90.0, -180.0, 180.0
    lon_bit, out = True, []
    for _ in range(precision):
        idx = 0
        for _ in range(5):
            if lon_bit:
                mid = (lon_lo + lon_hi) * 0.5
                bit = lon >= mid
                if bit:
                    lon_lo = mid
                else:
                    lon_hi = mid
            else:
                mid = (lat_lo + lat_hi) * 0.5
                bit = lat >= mid
                if bit:
                    lat_lo = mid
                else:
                    lat_hi = mid
            idx = (idx << 1) | int(bit)
            lon_bit = not lon_bit
        out.append(base32[idx])
    return "".join(out)


def setup_duckdb(con):
    con.execute("SET TimeZone='UTC'")
    con.execute("SET error_on_division_by_zero=false")
    con.execute("CREATE OR REPLACE MACRO ck(x) AS CASE WHEN x BETWEEN -9223372036854775808 AND "
                "9223372036854775807 THEN CAST(x AS BIGINT) ELSE NULL END")
    con.execute(
        "CREATE OR REPLACE MACRO hav(lat1, lon1, lat2, lon2) AS "
        "2.0 * 6371.0088 * asin(least(1.0, sqrt(pow(sin((radians(lat2) - radians(lat1)) * 0.5), 2) "
        "+ cos(radians(lat1)) * cos(radians(lat2)) * pow(sin(radians(lon2 - lon1) * 0.5), 2))))")
    from duckdb.sqltypes import BIGINT, DOUBLE, VARCHAR

    try:
        con.remove_function("geohash_udf")
    except Exception:
        pass
    try:
        con.remove_function("xsum")
    except Exception:
        pass
    from duckdb.sqltypes import DuckDBPyType

    con.create_function("xsum", exact_sum, [DuckDBPyType(list[float])], DOUBLE)
    con.create_function("geohash_udf", geohash, [DOUBLE, DOUBLE, BIGINT], VARCHAR,
                        null_handling="special")


def exact_sum(xs):
    """Sluice's `sum`/`avg` of floats: the exact sum rounded once (engine/src/aggregate/exact_sum.rs)."""
    if xs is None:
        return None
    from fractions import Fraction

    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    if any(math.isnan(x) for x in xs):
        return math.nan
    pos, neg = any(x == math.inf for x in xs), any(x == -math.inf for x in xs)
    if pos and neg:
        return math.nan
    if pos or neg:
        return math.inf if pos else -math.inf
    total = sum((Fraction(x) for x in xs), Fraction(0))
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def is_finite(v):
    return not (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))
