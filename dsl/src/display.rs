//! Printing the logical plan (`sluice explain`): one node a line, DataFusion explain-style.
//!
//! ```text
//! pipeline flight_delays
//! source flights: file("data/flights.csv") as csv schema=[carrier: string, dep_delay: float?] event_time=event_time max_out_of_order=1d
//! stream late <- flights
//!   Filter: dep_delay > 60.0
//!   Aggregate: window=tumbling(1h) keys=[carrier] aggs=[n = count()]
//!   => [carrier: string, window_start: timestamp, window_end: timestamp, n: int]
//! sink out <- late: file("out.jsonl") as jsonl mode=append
//! ```
//! Expressions print as they would be written, with the fewest parentheses that keep their
//! meaning; widening casts inserted by the checker show as `float(x)`.

use std::fmt::{self, Display, Formatter};

use crate::ast::{BinaryOp, UnaryOp};
use crate::plan::{
    AggCall, AggFunc, ConnectorSpec, Format, GeneratorKind, InputRef, LogicalPlan, OpKind,
    Operator, Placement, RouteKind, ScalarFunc, Schema, SinkMode, SourceNode, TExpr, TimeUnit,
    TypedExpr, Value, WindowKind,
};

/// `250ms`, `10s`, `5m`, `1h`, `2d`: the largest unit that divides exactly.
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return format!("-{}", duration(-ms));
    }
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    if ms == 0 {
        return "0s".into();
    }
    for (size, unit) in UNITS {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `@2013-01-01T05:00:00Z` (milliseconds shown only when not zero).
pub fn timestamp(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => format!(
            "@{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
        None => format!("timestamp({ms})"),
    }
}

/// A date as its literal `@YYYY-MM-DD`.
pub fn date(days: i32) -> String {
    match crate::time_format::iso_date(days) {
        Some(d) => format!("@{d}"),
        None => format!("date({days})"),
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v:?}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Timestamp(t) => f.write_str(&timestamp(*t)),
            Value::Duration(d) => f.write_str(&duration(*d)),
            Value::Date(d) => f.write_str(&date(*d)),
        }
    }
}

/// Binding strength used to decide parentheses (higher binds tighter).
fn precedence(e: &TypedExpr) -> u8 {
    match &e.kind {
        TExpr::Binary(op, _, _) => op.precedence() * 10,
        TExpr::Unary(UnaryOp::Not, _) => 30,
        // `is null` and `in` chain with comparisons in the grammar.
        TExpr::IsNull(..) | TExpr::InList(..) => BinaryOp::Eq.precedence() * 10,
        TExpr::Unary(UnaryOp::Neg, _) => 70,
        TExpr::Literal(Value::Int(v)) if *v < 0 => 65,
        TExpr::Literal(Value::Float(v)) if *v < 0.0 => 65,
        TExpr::Literal(Value::Duration(v)) if *v < 0 => 65,
        _ => 100,
    }
}

struct Child<'a>(&'a TypedExpr, u8);

impl Display for Child<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if precedence(self.0) < self.1 {
            write!(f, "({})", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn list(f: &mut Formatter<'_>, items: &[TypedExpr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl Display for TypedExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TExpr::Literal(v) => write!(f, "{v}"),
            TExpr::Column(_, name) => f.write_str(name),
            TExpr::Unary(UnaryOp::Neg, x) => write!(f, "-{}", Child(x, 60)),
            TExpr::Unary(UnaryOp::Not, x) => write!(f, "not {}", Child(x, 25)),
            TExpr::Binary(op, l, r) => {
                let p = op.precedence() * 10;
                // Comparisons do not chain: `(a == b) == c` keeps its parentheses.
                let left_min = if op.precedence() == BinaryOp::Eq.precedence() {
                    p + 1
                } else {
                    p
                };
                write!(
                    f,
                    "{} {} {}",
                    Child(l, left_min),
                    op.symbol(),
                    Child(r, p + 1)
                )
            }
            TExpr::Cast(x) => write!(f, "{}({x})", self.ty.name()),
            TExpr::IsNull(x, negated) => {
                write!(
                    f,
                    "{} is {}null",
                    Child(x, 40),
                    if *negated { "not " } else { "" }
                )
            }
            TExpr::InList(x, items, negated) => {
                write!(
                    f,
                    "{} {}in (",
                    Child(x, 40),
                    if *negated { "not " } else { "" }
                )?;
                list(f, items)?;
                f.write_str(")")
            }
            TExpr::If(c, a, b) => write!(f, "if({c}, {a}, {b})"),
            TExpr::Coalesce(items) => {
                f.write_str("coalesce(")?;
                list(f, items)?;
                f.write_str(")")
            }
            TExpr::Func(ScalarFunc::DateTrunc(unit), args) => {
                write!(f, "date_trunc(\"{}\", ", time_unit(*unit))?;
                list(f, args)?;
                f.write_str(")")
            }
            TExpr::Func(func, args) => {
                write!(f, "{}(", func.name())?;
                list(f, args)?;
                f.write_str(")")
            }
        }
    }
}

fn time_unit(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "second",
        TimeUnit::Minute => "minute",
        TimeUnit::Hour => "hour",
        TimeUnit::Day => "day",
        TimeUnit::Month => "month",
        TimeUnit::Year => "year",
    }
}

impl Display for Schema {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{}: {}{}",
                field.name,
                field.ty.name(),
                if field.nullable { "?" } else { "" }
            )?;
        }
        f.write_str("]")
    }
}

impl Display for ConnectorSpec {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ConnectorSpec::File { path } => write!(f, "file({path:?})"),
            ConnectorSpec::Stdin => f.write_str("stdin"),
            ConnectorSpec::Stdout => f.write_str("stdout"),
            ConnectorSpec::Generator {
                kind,
                events,
                rate,
                seed,
            } => {
                let kind = match kind {
                    GeneratorKind::GeoPoints => "geo_points".to_string(),
                    GeneratorKind::Nexmark(of) => format!("nexmark, events_of={:?}", of.name()),
                };
                write!(
                    f,
                    "generator({kind}, events={events}, rate={rate}, seed={seed})"
                )
            }
            ConnectorSpec::Kafka {
                topic,
                brokers,
                group,
            } => {
                write!(f, "kafka(topic={topic:?}, brokers={brokers:?}")?;
                if let Some(g) = group {
                    write!(f, ", group={g:?}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// ` as csv`; kafka calls json lines `json`.
fn format_suffix(conn: &ConnectorSpec, format: Format) -> &'static str {
    match (format, conn) {
        (Format::Csv, _) => " as csv",
        (Format::Jsonl, ConnectorSpec::Kafka { .. }) => " as json",
        (Format::Jsonl, _) => " as jsonl",
    }
}

fn window(w: &WindowKind) -> String {
    match w {
        WindowKind::Tumbling { size } => format!("tumbling({})", duration(*size)),
        WindowKind::Sliding { size, every } => {
            format!("sliding({}, every {})", duration(*size), duration(*every))
        }
        WindowKind::Session { gap } => format!("session(gap {})", duration(*gap)),
    }
}

impl Display for AggCall {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let func = self.func.name();
        write!(f, "{} = {func}(", self.name)?;
        if let Some(a) = &self.arg {
            write!(f, "{a}")?;
        }
        if let AggFunc::Percentile(q) = self.func {
            write!(f, ", {q:?}")?;
        }
        f.write_str(")")
    }
}

/// `name` when the expression is the column of that name, else `name = expr`.
fn named(name: &str, e: &TypedExpr) -> String {
    match &e.kind {
        TExpr::Column(_, c) if c == name => name.to_string(),
        _ => format!("{name} = {e}"),
    }
}

fn joined<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    items.iter().map(show).collect::<Vec<_>>().join(", ")
}

impl LogicalPlan {
    fn fmt_source(&self, f: &mut Formatter<'_>, word: &str, s: &SourceNode) -> fmt::Result {
        write!(f, "{word} {}: {}", s.name, s.connector)?;
        if let Some(format) = s.format {
            f.write_str(format_suffix(&s.connector, format))?;
        }
        write!(f, " schema={}", s.schema)?;
        if s.format == Some(Format::Csv) && !s.header {
            f.write_str(" header=false")?;
        }
        if s.quoted_newlines {
            f.write_str(" quoted_newlines=true")?;
        }
        let formats: Vec<String> = (s.schema.fields.iter().zip(&s.formats))
            .filter_map(|(c, t)| Some(format!("{}: {:?}", c.name, t.as_ref()?.text())))
            .collect();
        if !formats.is_empty() {
            write!(f, " formats=[{}]", formats.join(", "))?;
        }
        if word == "table" {
            let key: Vec<&str> = s
                .key
                .iter()
                .filter_map(|i| s.schema.fields.get(*i))
                .map(|f| f.name.as_str())
                .collect();
            write!(f, " key=[{}]", key.join(", "))?;
        }
        if let Some(col) = s.event_time.and_then(|i| s.schema.fields.get(i)) {
            write!(
                f,
                " event_time={} max_out_of_order={}",
                col.name,
                duration(s.max_out_of_order)
            )?;
        }
        if let Some((conn, format)) = &s.dead_letter {
            write!(f, " dead_letter={conn}{}", format_suffix(conn, *format))?;
        }
        writeln!(f)
    }

    fn fmt_op(&self, f: &mut Formatter<'_>, op: &Operator) -> fmt::Result {
        f.write_str("  ")?;
        match &op.kind {
            OpKind::Filter(e) => write!(f, "Filter: {e}")?,
            OpKind::Project(items) => {
                write!(f, "Project: {}", joined(items, |(n, e)| named(n, e)))?
            }
            OpKind::Aggregate {
                window: w,
                keys,
                aggs,
            } => {
                f.write_str("Aggregate: ")?;
                if let Some(w) = w {
                    write!(f, "window={} ", window(w))?;
                }
                write!(
                    f,
                    "keys=[{}] aggs=[{}]",
                    joined(keys, |(n, e)| named(n, e)),
                    joined(aggs, |a| a.to_string())
                )?;
            }
            OpKind::Join {
                left_outer,
                right_name,
                keys,
                within,
                right,
                ..
            } => {
                let right_schema = self.input_schema(*right);
                let on = joined(keys, |(l, ri)| {
                    let col = right_schema
                        .and_then(|s| s.fields.get(*ri))
                        .map_or("?", |c| c.name.as_str());
                    format!("{l} == {right_name}.{col}")
                });
                let how = if *left_outer { "left" } else { "inner" };
                write!(f, "Join: {how} {right_name} on {on}")?;
                if let Some(w) = within {
                    write!(f, " within={}", duration(*w))?;
                }
            }
            OpKind::Top { k, by, per } => {
                let by = joined(by, |(e, desc)| {
                    format!("{e} {}", if *desc { "desc" } else { "asc" })
                });
                write!(f, "Top: k={k} by=[{by}]")?;
                if !per.is_empty() {
                    write!(f, " per=[{}]", joined(per, |e| e.to_string()))?;
                }
            }
            OpKind::Distinct { keys, within } => write!(
                f,
                "Distinct: on=[{}] within={}",
                joined(keys, |e| e.to_string()),
                duration(*within)
            )?,
            OpKind::Route(r) => match r {
                RouteKind::Geo { lat, lon } => write!(f, "Route: geo({lat}, {lon})")?,
                RouteKind::Hash(keys) => {
                    write!(f, "Route: hash({})", joined(keys, |e| e.to_string()))?
                }
                RouteKind::RoundRobin => f.write_str("Route: round_robin")?,
            },
        }
        match op.placement {
            Placement::Auto => {}
            Placement::Gpu => f.write_str(" @gpu")?,
            Placement::Cpu => f.write_str(" @cpu")?,
        }
        writeln!(f)
    }
}

impl Display for LogicalPlan {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "pipeline {}", self.name)?;
        for s in &self.sources {
            self.fmt_source(f, "source", s)?;
        }
        for t in &self.tables {
            self.fmt_source(f, "table", t)?;
        }
        for s in &self.streams {
            let inputs: Vec<&str> = s.inputs.iter().map(|i| self.input_name(*i)).collect();
            if inputs.len() == 1 {
                writeln!(f, "stream {} <- {}", s.name, inputs[0])?;
            } else {
                writeln!(f, "stream {} <- union({})", s.name, inputs.join(", "))?;
            }
            for op in &s.ops {
                self.fmt_op(f, op)?;
            }
            writeln!(f, "  => {}", s.schema)?;
        }
        for s in &self.sinks {
            write!(
                f,
                "sink {} <- {}: {}",
                s.name,
                self.input_name(s.input),
                s.connector
            )?;
            f.write_str(format_suffix(&s.connector, s.format))?;
            let mode = match s.mode {
                SinkMode::Append => "append".to_string(),
                SinkMode::Changelog => "changelog".to_string(),
                SinkMode::SnapshotEvery(ms) => format!("snapshot_every({})", duration(ms)),
            };
            write!(f, " mode={mode}")?;
            if matches!(s.connector, ConnectorSpec::File { .. }) && !s.overwrite {
                f.write_str(" overwrite=false")?;
            }
            writeln!(f)?;
        }
        for t in &self.tests {
            let rows = |n: usize| {
                if n == 1 {
                    "1 row".to_string()
                } else {
                    format!("{n} rows")
                }
            };
            let given = joined(&t.given, |(i, r)| {
                format!(
                    "{}: {}",
                    self.input_name(InputRef::Source(*i)),
                    rows(r.len())
                )
            });
            let expect = joined(&t.expect, |(i, r)| {
                format!("{}: {}", self.input_name(*i), rows(r.len()))
            });
            writeln!(
                f,
                "test {:?}: given=[{given}] expect=[{expect}]",
                t.description
            )?;
        }
        Ok(())
    }
}
