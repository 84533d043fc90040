//! Connectors (`file("x")`, `stdin`, `stdout`, `generator(...)`, `kafka(...)`) and formats.
//!
//! Arguments are validated per connector and `${VAR}` references expanded, so that the engine
//! receives a [`ConnectorSpec`] it can open without further checks.

use super::{Checker, suggest};
use crate::ast::{Arg, Connector, Expr, ExprKind, Ident, Literal, UnaryOp};
use crate::diagnostic::Diagnostic;
use crate::plan::{ConnectorSpec, Format, GeneratorKind, NEXMARK_SEEDS, NexmarkEvents};

pub(crate) const CONNECTORS: &[&str] = &["file", "stdin", "stdout", "generator", "kafka"];
const GENERATORS: &[&str] = &["geo_points", "nexmark"];
const GENERATOR_ARGS: &[&str] = &["events", "rate", "seed", "events_of"];
const KAFKA_ARGS: &[&str] = &["topic", "brokers", "group"];

/// Where a connector is used; decides which connectors are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Source,
    Table,
    Sink,
    DeadLetter,
}

impl Role {
    fn reads(self) -> bool {
        matches!(self, Role::Source | Role::Table)
    }
    fn word(self) -> &'static str {
        match self {
            Role::Source => "a source",
            Role::Table => "a table",
            Role::Sink => "a sink",
            Role::DeadLetter => "a dead-letter output",
        }
    }
}

impl Checker<'_> {
    /// Checks a connector for `role`; `None` when it is unusable (errors were reported).
    pub fn connector(&mut self, c: &Connector, role: Role) -> Option<ConnectorSpec> {
        let name = c.name.name.as_str();
        if !CONNECTORS.contains(&name) {
            self.report(
                Diagnostic::error("E0110", format!("unknown connector `{name}`"), c.name.span)
                    .with_label("unknown connector")
                    .with_hint(suggest(name, CONNECTORS, "connectors")),
            );
            return None;
        }
        let misuse = match name {
            "stdin" if !role.reads() => {
                Some("`stdin` can only be read; write to `stdout` or `file(...)`")
            }
            "stdout" if role.reads() => {
                Some("`stdout` can only be written; read from `stdin` or `file(...)`")
            }
            "generator" if role != Role::Source => Some("a `generator` can only feed a `source`"),
            _ => None,
        };
        if let Some(hint) = misuse {
            self.report(
                Diagnostic::error(
                    "E0111",
                    format!("`{name}` cannot be used as {}", role.word()),
                    c.name.span,
                )
                .with_label("not allowed here")
                .with_hint(hint),
            );
            return None;
        }
        let args: &[Arg] = c.args.as_deref().unwrap_or(&[]);
        match name {
            "file" => self.file_args(c, args),
            "stdin" | "stdout" => {
                if let Some(a) = args.first() {
                    self.report(
                        Diagnostic::error(
                            "E0112",
                            format!("`{name}` takes no arguments"),
                            arg_span(a),
                        )
                        .with_label("unexpected argument")
                        .with_hint(format!("write just `{name}`")),
                    );
                    return None;
                }
                Some(if name == "stdin" {
                    ConnectorSpec::Stdin
                } else {
                    ConnectorSpec::Stdout
                })
            }
            "generator" => self.generator_args(c, args),
            _ => self.kafka_args(c, args),
        }
    }

    fn file_args(&mut self, c: &Connector, args: &[Arg]) -> Option<ConnectorSpec> {
        let hint = "`file` takes one path string: `file(\"data/input.csv\")`";
        let Some(first) = args.first() else {
            self.report(
                Diagnostic::error("E0112", "`file` needs a path", c.span)
                    .with_label("no path")
                    .with_hint(hint),
            );
            return None;
        };
        if let Some(n) = &first.name {
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("unknown argument `{}` for `file`", n.name),
                    n.span,
                )
                .with_label("unknown argument")
                .with_hint(hint),
            );
            return None;
        }
        if let Some(extra) = args.get(1) {
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("`file` takes one argument, found {}", args.len()),
                    arg_span(extra),
                )
                .with_label("unexpected argument")
                .with_hint(hint),
            );
            return None;
        }
        let path = self.string_arg(&first.value, "the path of `file`")?;
        if path.is_empty() {
            self.report(
                Diagnostic::error("E0112", "the path of `file` is empty", first.value.span)
                    .with_label("empty path")
                    .with_hint(hint),
            );
            return None;
        }
        Some(ConnectorSpec::File { path })
    }

    fn generator_args(&mut self, c: &Connector, args: &[Arg]) -> Option<ConnectorSpec> {
        let hint =
            "write `generator(geo_points, events = 1000)` or `generator(nexmark, rate = 100)`";
        let kind_arg = args.first().filter(|a| a.name.is_none());
        let kind = match kind_arg.map(|a| &a.value.kind) {
            Some(ExprKind::Column {
                qualifier: None,
                name,
            }) => match name.name.as_str() {
                "geo_points" => Some(GeneratorKind::GeoPoints),
                "nexmark" => Some(GeneratorKind::Nexmark(NexmarkEvents::Bid)),
                other => {
                    self.report(
                        Diagnostic::error(
                            "E0112",
                            format!("unknown generator `{other}`"),
                            name.span,
                        )
                        .with_label("unknown generator")
                        .with_hint(suggest(
                            other,
                            GENERATORS,
                            "generators",
                        )),
                    );
                    None
                }
            },
            Some(_) => {
                let span = kind_arg.map_or(c.span, |a| a.value.span);
                self.report(
                    Diagnostic::error("E0112", "the generator kind must be a name", span)
                        .with_label("expected `geo_points` or `nexmark`")
                        .with_hint(hint),
                );
                None
            }
            None => {
                self.report(
                    Diagnostic::error("E0112", "`generator` needs a kind", c.span)
                        .with_label("no kind")
                        .with_hint(hint),
                );
                None
            }
        };
        let mut values = [1_000_000u64, 0, 0];
        let mut ok = kind.is_some();
        let mut kind = kind;
        let rest = if kind_arg.is_some() { &args[1..] } else { args };
        let mut seen: Vec<&Ident> = Vec::new();
        let mut seed_span = None;
        for a in rest {
            let Some(n) = &a.name else {
                self.report(
                    Diagnostic::error(
                        "E0112",
                        "unexpected positional argument to `generator`",
                        a.value.span,
                    )
                    .with_label("expected `NAME = VALUE`")
                    .with_hint(hint),
                );
                ok = false;
                continue;
            };
            if !self.named_arg_ok(n, &seen, GENERATOR_ARGS, "generator") {
                ok = false;
                continue;
            }
            seen.push(n);
            if n.name == "events_of" {
                match self.nexmark_events_of(kind, n, &a.value) {
                    Some(of) => kind = Some(GeneratorKind::Nexmark(of)),
                    None => ok = false,
                }
                continue;
            }
            let slot = GENERATOR_ARGS
                .iter()
                .position(|x| *x == n.name)
                .unwrap_or(0);
            if n.name == "seed" {
                seed_span = Some(a.value.span);
            }
            match self.count_arg(&a.value, &n.name) {
                Some(v) => values[slot] = v,
                None => ok = false,
            }
        }
        let [events, rate, seed] = values;
        if let (Some(GeneratorKind::Nexmark(_)), Some(span)) = (kind, seed_span)
            && seed >= NEXMARK_SEEDS
        {
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("`seed` of `generator(nexmark, ...)` must be below {NEXMARK_SEEDS}"),
                    span,
                )
                .with_label("seed too large")
                .with_hint("each seed selects its own window of the Nexmark event sequence; use a smaller seed"),
            );
            ok = false;
        }
        Some(ConnectorSpec::Generator {
            kind: kind?,
            events,
            rate,
            seed,
        })
        .filter(|_| ok)
    }

    /// `events_of = "bid" | "auction" | "person"` of `generator(nexmark, ...)`. `kind` is the
    /// generator kind as far as known (`None` after an error on it).
    fn nexmark_events_of(
        &mut self,
        kind: Option<GeneratorKind>,
        n: &Ident,
        value: &Expr,
    ) -> Option<NexmarkEvents> {
        if kind == Some(GeneratorKind::GeoPoints) {
            self.report(
                Diagnostic::error(
                    "E0112",
                    "`events_of` only applies to `generator(nexmark, ...)`",
                    n.span,
                )
                .with_label("not a nexmark generator")
                .with_hint("remove `events_of`; `geo_points` has one kind of record"),
            );
            return None;
        }
        let name = self.string_arg(value, "`events_of`")?;
        let of = NexmarkEvents::from_name(&name);
        if of.is_none() {
            let valid = NexmarkEvents::ALL.map(NexmarkEvents::name);
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("unknown Nexmark event kind \"{name}\" for `events_of`"),
                    value.span,
                )
                .with_label("expected \"bid\", \"auction\" or \"person\"")
                .with_hint(suggest(&name, &valid, "kinds")),
            );
        }
        of
    }

    fn kafka_args(&mut self, c: &Connector, args: &[Arg]) -> Option<ConnectorSpec> {
        let hint =
            "write `kafka(topic = \"bids\", brokers = \"127.0.0.1:9092\", group = \"sluice\")`";
        let mut values: [Option<String>; 3] = [None, None, None];
        let mut ok = true;
        let mut seen: Vec<&Ident> = Vec::new();
        for a in args {
            let Some(n) = &a.name else {
                self.report(
                    Diagnostic::error("E0112", "`kafka` takes named arguments only", a.value.span)
                        .with_label("expected `NAME = VALUE`")
                        .with_hint(hint),
                );
                ok = false;
                continue;
            };
            if !self.named_arg_ok(n, &seen, KAFKA_ARGS, "kafka") {
                ok = false;
                continue;
            }
            seen.push(n);
            let slot = KAFKA_ARGS.iter().position(|x| *x == n.name).unwrap_or(0);
            match self.string_arg(&a.value, &format!("`{}`", n.name)) {
                Some(v) => values[slot] = Some(v),
                None => ok = false,
            }
        }
        let [topic, brokers, group] = values;
        for (v, what) in [(&topic, "topic"), (&brokers, "brokers")] {
            if v.is_none() && ok {
                self.report(
                    Diagnostic::error("E0112", format!("`kafka` needs `{what}`"), c.span)
                        .with_label(format!("no `{what}`"))
                        .with_hint(hint),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        Some(ConnectorSpec::Kafka {
            topic: topic?,
            brokers: brokers?,
            group,
        })
    }

    /// Reports unknown and repeated named arguments.
    fn named_arg_ok(&mut self, n: &Ident, seen: &[&Ident], valid: &[&str], conn: &str) -> bool {
        if !valid.contains(&n.name.as_str()) {
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("unknown argument `{}` for `{conn}`", n.name),
                    n.span,
                )
                .with_label("unknown argument")
                .with_hint(suggest(&n.name, valid, "arguments")),
            );
            return false;
        }
        if let Some(first) = seen.iter().find(|s| s.name == n.name) {
            self.report(
                Diagnostic::error(
                    "E0112",
                    format!("argument `{}` is given twice", n.name),
                    n.span,
                )
                .with_label("given again")
                .with_related(first.span, "first given here"),
            );
            return false;
        }
        true
    }

    /// A string literal, `${VAR}`-expanded.
    pub fn string_arg(&mut self, e: &Expr, what: &str) -> Option<String> {
        match &e.kind {
            ExprKind::Literal(Literal::String(s)) => self.expand(s, e.span),
            _ => {
                self.report(
                    Diagnostic::error("E0112", format!("{what} must be a string"), e.span)
                        .with_label("expected a string"),
                );
                None
            }
        }
    }

    /// A non-negative integer: a literal, or a string that expands to one (`"${EVENTS:-10}"`).
    fn count_arg(&mut self, e: &Expr, what: &str) -> Option<u64> {
        let bad = |cx: &mut Self, msg: String| {
            cx.report(
                Diagnostic::error("E0112", msg, e.span)
                    .with_label("expected a non-negative integer")
                    .with_hint(format!("e.g. `{what} = 1000`")),
            );
            None
        };
        match &e.kind {
            ExprKind::Literal(Literal::Int(v)) if *v >= 0 => Some(*v as u64),
            ExprKind::Literal(Literal::Int(_)) => {
                bad(self, format!("`{what}` must not be negative"))
            }
            ExprKind::Unary {
                op: UnaryOp::Neg, ..
            } => bad(self, format!("`{what}` must not be negative")),
            ExprKind::Literal(Literal::String(s)) => {
                let v = self.expand(s, e.span)?;
                match v.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => bad(self, format!("`{what}` must be an integer, found \"{v}\"")),
                }
            }
            _ => bad(self, format!("`{what}` must be an integer")),
        }
    }

    /// Checks `as FORMAT` for the connector named `conn_name` (by name, so that a connector
    /// with bad arguments still gets its format checked). `Some(None)` for generators, which
    /// have no format; `None` after an error.
    pub fn format(&mut self, conn_name: &Ident, format: Option<&Ident>) -> Option<Option<Format>> {
        if conn_name.name == "generator" {
            if let Some(f) = format {
                self.report(
                    Diagnostic::error("E0115", "a `generator` has a fixed format", f.span)
                        .with_label("not allowed for generators")
                        .with_hint(format!("remove `as {}`", f.name)),
                );
                return None;
            }
            return Some(None);
        }
        let valid: &[&str] = match conn_name.name.as_str() {
            "kafka" => &["json", "csv"],
            "file" | "stdin" | "stdout" => &["csv", "jsonl"],
            _ => &["csv", "jsonl", "json"],
        };
        let known = CONNECTORS.contains(&conn_name.name.as_str());
        let Some(f) = format else {
            if known {
                self.report(
                    Diagnostic::error(
                        "E0114",
                        format!("`{}` needs a format", conn_name.name),
                        conn_name.span,
                    )
                    .with_label("no `as FORMAT`")
                    .with_hint(format!(
                        "add {} after the connector",
                        valid
                            .iter()
                            .map(|v| format!("`as {v}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )),
                );
            }
            return None;
        };
        if !valid.contains(&f.name.as_str()) {
            let msg = if known {
                format!("unknown format `{}` for `{}`", f.name, conn_name.name)
            } else {
                format!("unknown format `{}`", f.name)
            };
            self.report(
                Diagnostic::error("E0113", msg, f.span)
                    .with_label("unknown format")
                    .with_hint(suggest(&f.name, valid, "formats")),
            );
            return None;
        }
        Some(Some(if f.name == "csv" {
            Format::Csv
        } else {
            Format::Jsonl
        }))
    }
}

fn arg_span(a: &Arg) -> crate::ast::Span {
    match &a.name {
        Some(n) => n.span.to(a.value.span),
        None => a.value.span,
    }
}
