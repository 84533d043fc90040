//! Function calls: scalar functions, casts, `if`, `coalesce`, and aggregate calls.
//!
//! Each function has a signature string that every message about it shows as the hint, so a
//! wrong call always tells the user how to call it.

use super::expr::{AggCtx, Typed, coerce, unify, widen};
use super::scope::Scope;
use super::{Checker, backticked};
use crate::ast::{AggItem, Expr, ExprKind, Ident, Literal, Span};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{AggCall, AggFunc, DataType, ScalarFunc, TExpr, TimeUnit, TypedExpr};

/// Aggregate functions and their signatures.
pub(crate) const AGGREGATES: &[(&str, &str)] = &[
    (
        "count",
        "count() -> int counts rows; count(x) -> int counts non-null x",
    ),
    ("count_distinct", "count_distinct(x) -> int"),
    ("sum", "sum(x: int | float) -> int | float"),
    ("min", "min(x) -> type of x (any type but bool)"),
    ("max", "max(x) -> type of x (any type but bool)"),
    ("avg", "avg(x: int | float) -> float"),
    ("first", "first(x) -> type of x"),
    ("last", "last(x) -> type of x"),
    (
        "percentile",
        "percentile(x: int | float, q: float literal in [0, 1]) -> float",
    ),
];

/// Scalar functions: name, (min, max) arity, signature.
const SCALARS: &[(&str, (usize, usize), &str)] = &[
    ("if", (3, 3), "if(cond: bool, then: T, else: T) -> T"),
    (
        "coalesce",
        (1, usize::MAX),
        "coalesce(a: T, b: T, ...) -> T",
    ),
    (
        "int",
        (1, 1),
        "int(x: float | string | bool | timestamp | duration) -> int",
    ),
    ("float", (1, 1), "float(x: int | string) -> float"),
    ("string", (1, 1), "string(x) -> string"),
    (
        "timestamp",
        (1, 1),
        "timestamp(x: string | int | date) -> timestamp",
    ),
    (
        "date",
        (1, 1),
        "date(x: string | timestamp) -> date (a timestamp's UTC day)",
    ),
    ("lower", (1, 1), "lower(s: string) -> string"),
    ("upper", (1, 1), "upper(s: string) -> string"),
    ("length", (1, 1), "length(s: string) -> int"),
    (
        "concat",
        (1, usize::MAX),
        "concat(s: string, ...) -> string",
    ),
    (
        "contains",
        (2, 2),
        "contains(s: string, part: string) -> bool",
    ),
    (
        "starts_with",
        (2, 2),
        "starts_with(s: string, prefix: string) -> bool",
    ),
    (
        "substr",
        (3, 3),
        "substr(s: string, start: int, len: int) -> string",
    ),
    ("hour", (1, 1), "hour(ts: timestamp) -> int"),
    ("day", (1, 1), "day(t: timestamp | date) -> int"),
    ("month", (1, 1), "month(t: timestamp | date) -> int"),
    ("year", (1, 1), "year(t: timestamp | date) -> int"),
    (
        "date_trunc",
        (2, 2),
        "date_trunc(unit: \"second\" | \"minute\" | \"hour\" | \"day\" | \"month\" | \"year\", ts: timestamp) -> timestamp; date_trunc(unit: \"day\" | \"month\" | \"year\", d: date) -> date",
    ),
    (
        "haversine_km",
        (4, 4),
        "haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float",
    ),
    (
        "geohash",
        (3, 3),
        "geohash(lat: float, lon: float, precision: int) -> string",
    ),
];

const UNITS: &[&str] = &["second", "minute", "hour", "day", "month", "year"];

fn signature(name: &str) -> Option<&'static str> {
    SCALARS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, s)| *s)
        .or_else(|| AGGREGATES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s))
}

fn arity_text(n: usize) -> String {
    if n == 1 {
        "1 argument".into()
    } else {
        format!("{n} arguments")
    }
}

impl Checker<'_> {
    pub fn call(
        &mut self,
        scope: &Scope,
        func: &Ident,
        args: &[Expr],
        span: Span,
        agg: AggCtx,
    ) -> Option<Typed> {
        let name = func.name.as_str();
        if AGGREGATES.iter().any(|(n, _)| *n == name) {
            if agg == AggCtx::Ignored {
                self.args(scope, args, AggCtx::Nested);
                return None;
            }
            let d = match agg {
                AggCtx::Forbidden(kw) => Diagnostic::error(
                    "E0209",
                    format!("aggregate function `{name}` is not allowed in `{kw}`"),
                    func.span,
                )
                .with_label("aggregate outside `aggregate`")
                .with_hint("aggregates are computed by an `aggregate` stage, e.g. `| group by k | aggregate n = count()`; use its result in a later stage"),
                AggCtx::Nested => Diagnostic::error(
                    "E0215",
                    format!("aggregate function `{name}` cannot be nested in another aggregate"),
                    func.span,
                )
                .with_label("nested aggregate")
                .with_hint("aggregate the column itself, e.g. `sum(x)`, and combine results in a later `select`"),
                AggCtx::Ignored => return None,
            };
            self.report(d);
            self.args(scope, args, agg);
            return None;
        }
        let Some(&(_, (min, max), sig)) = SCALARS.iter().find(|(n, _, _)| *n == name) else {
            let all = SCALARS
                .iter()
                .map(|(n, _, _)| *n)
                .chain(AGGREGATES.iter().map(|(n, _)| *n));
            let hint = match did_you_mean(name, all) {
                Some(s) => format!(
                    "did you mean `{s}`? (`{}`)",
                    signature(s).unwrap_or_default()
                ),
                None => format!(
                    "functions: {}",
                    backticked(SCALARS.iter().map(|(n, _, _)| *n))
                ),
            };
            self.report(
                Diagnostic::error("E0206", format!("unknown function `{name}`"), func.span)
                    .with_label("unknown function")
                    .with_hint(hint),
            );
            self.args(scope, args, agg);
            return None;
        };
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                arity_text(min)
            } else {
                format!("at least {}", arity_text(min))
            };
            self.report(
                Diagnostic::error(
                    "E0207",
                    format!("`{name}` takes {expected}, found {}", args.len()),
                    span,
                )
                .with_label("wrong number of arguments")
                .with_hint(sig),
            );
            self.args(scope, args, agg);
            return None;
        }
        if name == "date_trunc" {
            let unit = self.time_unit(&args[0], sig);
            let ts = self.expr(scope, &args[1], agg)?;
            if !ts.null && ts.ty() == DataType::Date {
                return self.date_trunc_date(unit?, ts.e, args[0].span);
            }
            let ts = self.want(name, 2, ts, args[1].span, DataType::Timestamp, sig)?;
            let n = ts.nullable;
            return Some(Typed::new(
                TExpr::Func(ScalarFunc::DateTrunc(unit?), vec![ts]),
                DataType::Timestamp,
                n,
            ));
        }
        let typed = self
            .args(scope, args, agg)
            .into_iter()
            .collect::<Option<Vec<Typed>>>()?;
        let spans: Vec<Span> = args.iter().map(|a| a.span).collect();
        match name {
            "if" => self.if_call(typed, &spans, sig),
            "coalesce" => self.coalesce(typed, &spans),
            "int" | "float" | "string" | "timestamp" | "date" => {
                self.cast(name, typed, spans[0], sig)
            }
            // The calendar parts of a date need no time of day.
            "day" | "month" | "year" if !typed[0].null && typed[0].ty() == DataType::Date => {
                let f = match name {
                    "day" => ScalarFunc::Day,
                    "month" => ScalarFunc::Month,
                    _ => ScalarFunc::Year,
                };
                let d = typed.into_iter().next()?.e;
                let n = d.nullable;
                Some(Typed::new(TExpr::Func(f, vec![d]), DataType::Int, n))
            }
            _ => {
                use DataType::*;
                let (f, params, ret): (ScalarFunc, &[DataType], DataType) = match name {
                    "lower" => (ScalarFunc::Lower, &[String], String),
                    "upper" => (ScalarFunc::Upper, &[String], String),
                    "length" => (ScalarFunc::Length, &[String], Int),
                    "contains" => (ScalarFunc::Contains, &[String, String], Bool),
                    "starts_with" => (ScalarFunc::StartsWith, &[String, String], Bool),
                    "substr" => (ScalarFunc::Substr, &[String, Int, Int], String),
                    "hour" => (ScalarFunc::Hour, &[Timestamp], Int),
                    "day" => (ScalarFunc::Day, &[Timestamp], Int),
                    "month" => (ScalarFunc::Month, &[Timestamp], Int),
                    "year" => (ScalarFunc::Year, &[Timestamp], Int),
                    "haversine_km" => (
                        ScalarFunc::HaversineKm,
                        &[Float, Float, Float, Float],
                        Float,
                    ),
                    "geohash" => (ScalarFunc::Geohash, &[Float, Float, Int], String),
                    _ => (ScalarFunc::Concat, &[], String),
                };
                if f == ScalarFunc::Geohash {
                    self.geohash_precision(&args[2]);
                }
                let mut out = Vec::new();
                let mut ok = true;
                for (i, t) in typed.into_iter().enumerate() {
                    let want = params.get(i).copied().unwrap_or(String);
                    match self.want(name, i + 1, t, spans[i], want, sig) {
                        Some(e) => out.push(e),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                let n = out.iter().any(|e| e.nullable);
                Some(Typed::new(TExpr::Func(f, out), ret, n))
            }
        }
    }

    /// Checks every argument (so that all their errors are reported).
    fn args(&mut self, scope: &Scope, args: &[Expr], agg: AggCtx) -> Vec<Option<Typed>> {
        args.iter().map(|a| self.expr(scope, a, agg)).collect()
    }

    /// Argument `pos` of `func` as a `ty` (bare null and int -> float allowed).
    fn want(
        &mut self,
        func: &str,
        pos: usize,
        t: Typed,
        span: Span,
        ty: DataType,
        sig: &str,
    ) -> Option<TypedExpr> {
        let found = t.ty();
        coerce(t, ty).or_else(|| {
            self.report(
                Diagnostic::error(
                    "E0208",
                    format!(
                        "argument {pos} of `{func}` must be `{}`, found `{}`",
                        ty.name(),
                        found.name()
                    ),
                    span,
                )
                .with_label(format!("this is `{}`", found.name()))
                .with_hint(sig.to_string()),
            );
            None
        })
    }

    fn if_call(&mut self, mut t: Vec<Typed>, spans: &[Span], sig: &str) -> Option<Typed> {
        let (b, a) = (t.pop()?, t.pop()?);
        let cond = self.want("if", 1, t.pop()?, spans[0], DataType::Bool, sig);
        let ty = match unify(&[&a, &b]) {
            Ok(Some(ty)) => ty,
            Ok(None) => return cond.map(|_| a),
            Err(_) => {
                self.report(
                    Diagnostic::error(
                        "E0212",
                        format!("the branches of `if` have different types: `{}` and `{}`", a.ty().name(), b.ty().name()),
                        spans[2],
                    )
                    .with_label(format!("this is `{}`", b.ty().name()))
                    .with_related(spans[1], format!("this is `{}`", a.ty().name()))
                    .with_hint("both branches must have the same type (`int` and `float` mix); convert one, e.g. `string(x)`"),
                );
                return None;
            }
        };
        let n = a.e.nullable || b.e.nullable;
        let (a, b) = (coerce(a, ty)?, coerce(b, ty)?);
        Some(Typed::new(
            TExpr::If(Box::new(cond?), Box::new(a), Box::new(b)),
            ty,
            n,
        ))
    }

    fn coalesce(&mut self, t: Vec<Typed>, spans: &[Span]) -> Option<Typed> {
        let ty = match unify(&t.iter().collect::<Vec<_>>()) {
            Ok(Some(ty)) => ty,
            Ok(None) => return t.into_iter().next(),
            Err(i) => {
                let first = unify(&t[..i].iter().collect::<Vec<_>>())
                    .ok()
                    .flatten()
                    .unwrap_or(DataType::Int);
                self.report(
                    Diagnostic::error(
                        "E0212",
                        format!("`coalesce` arguments have different types: `{}` and `{}`", first.name(), t[i].ty().name()),
                        spans[i],
                    )
                    .with_label(format!("this is `{}`", t[i].ty().name()))
                    .with_hint("every argument of `coalesce` must have the same type (`int` and `float` mix)"),
                );
                return None;
            }
        };
        // Non-null as soon as one argument can never be null.
        let n = t.iter().all(|t| t.e.nullable);
        let args = t
            .into_iter()
            .map(|a| coerce(a, ty))
            .collect::<Option<Vec<_>>>()?;
        Some(Typed::new(TExpr::Coalesce(args), ty, n))
    }

    /// `date_trunc(unit, d)` on a date: only units of a day or longer.
    fn date_trunc_date(&mut self, unit: TimeUnit, d: TypedExpr, span: Span) -> Option<Typed> {
        if !matches!(unit, TimeUnit::Day | TimeUnit::Month | TimeUnit::Year) {
            self.report(
                Diagnostic::error("E0213", "a date has no time of day to truncate", span)
                    .with_label("unit shorter than a day")
                    .with_hint("use \"day\", \"month\" or \"year\", or truncate `timestamp(d)`"),
            );
            return None;
        }
        let n = d.nullable;
        Some(Typed::new(
            TExpr::Func(ScalarFunc::DateTrunc(unit), vec![d]),
            DataType::Date,
            n,
        ))
    }

    fn time_unit(&mut self, e: &Expr, sig: &str) -> Option<TimeUnit> {
        let (unit, quoted) = match &e.kind {
            ExprKind::Literal(Literal::String(s)) => (s.as_str(), true),
            ExprKind::Column {
                qualifier: None,
                name,
            } => (name.name.as_str(), false),
            _ => ("", false),
        };
        let found = match unit {
            "second" => Some(TimeUnit::Second),
            "minute" => Some(TimeUnit::Minute),
            "hour" => Some(TimeUnit::Hour),
            "day" => Some(TimeUnit::Day),
            "month" => Some(TimeUnit::Month),
            "year" => Some(TimeUnit::Year),
            _ => None,
        };
        let d = match (found, quoted) {
            (Some(u), true) => return Some(u),
            (Some(_), false) => Diagnostic::error(
                "E0213",
                "the unit of `date_trunc` must be a string literal",
                e.span,
            )
            .with_label("not quoted")
            .with_hint(format!("quote it: `date_trunc(\"{unit}\", ts)`")),
            (None, true) => Diagnostic::error(
                "E0213",
                format!("unknown time unit \"{unit}\" for `date_trunc`"),
                e.span,
            )
            .with_label("unknown unit")
            .with_hint(super::suggest(unit, UNITS, "units")),
            (None, false) => Diagnostic::error(
                "E0213",
                "the unit of `date_trunc` must be a string literal",
                e.span,
            )
            .with_label("expected a unit")
            .with_hint(sig.to_string()),
        };
        self.report(d);
        None
    }

    fn geohash_precision(&mut self, e: &Expr) {
        if let ExprKind::Literal(Literal::Int(p)) = e.kind
            && !(1..=12).contains(&p)
        {
            self.report(
                Diagnostic::error(
                    "E0216",
                    format!("geohash precision must be between 1 and 12, found {p}"),
                    e.span,
                )
                .with_label("out of range")
                .with_hint("a precision of 6 gives cells of about 1.2 km x 0.6 km"),
            );
        }
    }

    /// One `aggregate` item: `NAME = AGG(ARGS)`.
    pub fn agg_item(&mut self, scope: &Scope, item: &AggItem) -> Option<AggCall> {
        let mut e = &item.expr;
        while let ExprKind::Paren(inner) = &e.kind {
            e = inner;
        }
        let call = match &e.kind {
            ExprKind::Call { func, args } if AGGREGATES.iter().any(|(n, _)| *n == func.name) => {
                Some((func, args))
            }
            _ => None,
        };
        let Some((func, args)) = call else {
            let shown = super::expr::show(e);
            self.report(
                Diagnostic::error("E0215", format!("`{shown}` is not an aggregate function call"), e.span)
                    .with_label("expected one aggregate call")
                    .with_hint(format!(
                        "each item is one aggregate such as `{} = sum(x)`; compute combinations in a `select` after `aggregate`",
                        item.alias.name
                    )),
            );
            // Still report what is wrong inside it.
            self.expr(scope, e, AggCtx::Ignored);
            return None;
        };
        let name = func.name.as_str();
        let sig = signature(name).unwrap_or_default();
        let (min, max) = match name {
            "count" => (0, 1),
            "percentile" => (2, 2),
            _ => (1, 1),
        };
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (0, 1) => "0 or 1 arguments".to_string(),
                _ => arity_text(max),
            };
            self.report(
                Diagnostic::error(
                    "E0207",
                    format!("`{name}` takes {expected}, found {}", args.len()),
                    e.span,
                )
                .with_label("wrong number of arguments")
                .with_hint(sig),
            );
            self.args(scope, args, AggCtx::Nested);
            return None;
        }
        let q = if name == "percentile" {
            self.quantile(&args[1])
        } else {
            Some(0.0)
        };
        let Some(arg) = args.first() else {
            return Some(AggCall {
                name: item.alias.name.clone(),
                func: AggFunc::CountRows,
                arg: None,
                ty: DataType::Int,
                nullable: false,
            });
        };
        let t = self.expr(scope, arg, AggCtx::Nested)?;
        let (from, n) = (if t.null { DataType::Int } else { t.ty() }, t.e.nullable);
        let bad = |cx: &mut Self, what: &str| {
            cx.report(
                Diagnostic::error(
                    "E0208",
                    format!("`{name}` needs {what}, found `{}`", from.name()),
                    arg.span,
                )
                .with_label(format!("this is `{}`", from.name()))
                .with_hint(sig),
            );
            None
        };
        let x = t.fix(from);
        let (func, arg, ty, nullable) = match name {
            "count" => (AggFunc::Count, x, DataType::Int, false),
            "count_distinct" => (AggFunc::CountDistinct, x, DataType::Int, false),
            "sum" if from.is_numeric() => (AggFunc::Sum, x, from, true),
            "sum" => return bad(self, "a number"),
            "avg" | "percentile" if !from.is_numeric() => return bad(self, "a number"),
            "avg" => (AggFunc::Avg, to_float(x), DataType::Float, true),
            "percentile" => (AggFunc::Percentile(q?), to_float(x), DataType::Float, true),
            "min" | "max" if from == DataType::Bool => return bad(self, "an orderable value"),
            "min" => (AggFunc::Min, x, from, n),
            "max" => (AggFunc::Max, x, from, n),
            "first" => (AggFunc::First, x, from, n),
            _ => (AggFunc::Last, x, from, n),
        };
        q?;
        Some(AggCall {
            name: item.alias.name.clone(),
            func,
            arg: Some(arg),
            ty,
            nullable,
        })
    }

    /// The `q` of `percentile(x, q)`: a literal in [0, 1].
    fn quantile(&mut self, e: &Expr) -> Option<f64> {
        let q = match e.kind {
            ExprKind::Literal(Literal::Float(q)) => q,
            ExprKind::Literal(Literal::Int(q)) => q as f64,
            _ => {
                self.report(
                    Diagnostic::error(
                        "E0214",
                        "the quantile of `percentile` must be a number literal",
                        e.span,
                    )
                    .with_label("not a literal")
                    .with_hint("e.g. `percentile(latency, 0.99)` for the 99th percentile"),
                );
                return None;
            }
        };
        if (0.0..=1.0).contains(&q) {
            return Some(q);
        }
        let shown = super::expr::show(e);
        self.report(
            Diagnostic::error(
                "E0214",
                format!("the quantile of `percentile` must be between 0 and 1, found {shown}"),
                e.span,
            )
            .with_label("out of range")
            .with_hint(format!(
                "write the quantile as a fraction, e.g. `0.99` for the 99th percentile{}",
                if q > 1.0 && q <= 100.0 {
                    format!(" (`{}` here)", q / 100.0)
                } else {
                    String::new()
                }
            )),
        );
        None
    }
}

fn to_float(e: TypedExpr) -> TypedExpr {
    if e.ty == DataType::Int { widen(e) } else { e }
}
