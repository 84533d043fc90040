//! The type checker: [`ast::Pipeline`] -> [`plan::LogicalPlan`], with every error reported.
//!
//! The checker never stops at the first mistake. Each declaration is checked on its own; a
//! declaration that fails leaves behind an "unknown" scope (see [`scope`]) so that streams and
//! sinks reading it are still checked, but nothing about the unknown part is reported twice.
//! The plan is returned only when there is no error at all.
//!
//! # Error codes (the complete list, every layer: `docs/diagnostics.md`)
//!
//! | code  | meaning |
//! |-------|---------|
//! | E0100 | a name is declared twice |
//! | E0101 | unknown input (source, table or stream), with "did you mean" |
//! | E0102 | the streams form a cycle |
//! | E0103 | `union(...)` of inputs whose schemas differ |
//! | E0104 | a sink read as if it were a stream |
//! | E0110 | unknown connector |
//! | E0111 | connector not allowed here (`stdout` as a source, `stdin` as a sink, ...) |
//! | E0112 | bad connector arguments (missing, unknown, duplicated, wrong type) |
//! | E0113 | unknown format, or a format the connector cannot use |
//! | E0114 | missing `as FORMAT` |
//! | E0115 | `as FORMAT` on a generator, which has a fixed format |
//! | E0117 | `${VAR}` names an unset environment variable and has no default |
//! | E0118 | malformed `${...}` in a string |
//! | E0120 | unknown setting |
//! | E0121 | a setting given twice |
//! | E0122 | a setting has a value of the wrong kind |
//! | E0123 | a setting that does not apply here (`header` on jsonl, `overwrite` on stdout) |
//! | E0124 | missing `schema { ... }` |
//! | E0125 | unknown type name in a schema |
//! | E0126 | a column declared twice in a schema |
//! | E0127 | `event_time` column is not a non-null timestamp |
//! | E0128 | table `key` missing or naming unknown columns |
//! | E0129 | `schema` given for a generator, whose schema is fixed |
//! | E0130 | bad sink `mode` |
//! | E0131 | a Kafka `key_column` / `timestamp_column` naming an unknown column or one of the wrong type |
//! | E0132 | `format` on a schema column that is not a timestamp or date |
//! | E0133 | a schema column `format` that is not a usable strftime pattern or epoch unit |
//! | E0200 | unknown column, with "did you mean" |
//! | E0201 | unknown qualifier in `x.col` |
//! | E0202 | arithmetic on types that do not support it (`string + int`) |
//! | E0203 | comparison of types that cannot be compared |
//! | E0204 | `and` / `or` / `not` on a non-bool |
//! | E0205 | `where` with a non-bool predicate |
//! | E0206 | unknown function |
//! | E0207 | wrong number of arguments |
//! | E0208 | argument of the wrong type |
//! | E0209 | aggregate function outside `aggregate` |
//! | E0210 | a `null` whose type cannot be inferred |
//! | E0211 | `in (...)` list item of another type |
//! | E0212 | `if` branches / `coalesce` arguments of different types |
//! | E0213 | bad `date_trunc` unit |
//! | E0214 | bad `percentile` quantile |
//! | E0215 | an `aggregate` item that is not one aggregate call, or nested aggregates |
//! | E0216 | a number outside its allowed range (`geohash` precision not in 1..=12) |
//! | E0220 | duplicate output column |
//! | E0221 | `window` not followed by `aggregate` |
//! | E0222 | `group by` not followed by `aggregate` |
//! | E0223 | `window` on a stream without event time |
//! | E0224 | `group by` key that is not a column |
//! | E0225 | a `select` expression without a name |
//! | E0226 | a duration that must be positive is not (window size, gap, `within`), or `every` exceeds the window |
//! | E0227 | stream-stream join without `within` |
//! | E0228 | table join with `within` |
//! | E0229 | join condition that does not compare with a column of the right side |
//! | E0230 | join key types that cannot be compared |
//! | E0231 | table join not on exactly the table's key |
//! | E0232 | unknown placement hint |
//! | E0233 | bad `top` count |
//! | E0234 | `route by geo` on non-numeric coordinates |
//! | E0250 | `given` names something other than a source |
//! | E0251 | `expect` names something other than a stream or sink |
//! | E0252 | test row misses a column |
//! | E0253 | test row names an unknown column |
//! | E0254 | test value of the wrong type (or `null` for a non-null column) |
//! | E0255 | test value that is not a literal |
//! | E0256 | test row gives a column twice |

mod cast;
mod column_format;
mod connector;
mod decls;
mod env;
mod expr;
mod funcs;
mod graph;
mod join;
mod scope;
mod show;
mod sink;
mod stages;
mod testblock;

use std::collections::{HashMap, HashSet};

use crate::ast::{self, Decl, Ident, Span};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{InputRef, LogicalPlan, SinkNode, SourceNode, StreamNode, TestCase};

pub use decls::generator_schema;
use scope::Scope;

/// Type-checks `p`. `default_name` names the pipeline when the file has no `pipeline NAME`;
/// `env` answers `${NAME}` in connector arguments and settings. Returns every diagnostic,
/// sorted by position; the plan only when none of them is an error.
pub fn check(
    p: &ast::Pipeline,
    default_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Option<LogicalPlan>, Vec<Diagnostic>) {
    check_partial(p, default_name, env, &HashSet::new())
}

/// [`check`] for a tree the parser built around syntax errors: `broken` holds the names of
/// declarations that failed to parse, so that reading them is not reported again as
/// "unknown" (their readers are checked against an unknown scope instead).
pub fn check_partial(
    p: &ast::Pipeline,
    default_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    broken: &HashSet<String>,
) -> (Option<LogicalPlan>, Vec<Diagnostic>) {
    let mut cx = Checker::new(env);
    cx.broken = broken.clone();
    let plan = cx.pipeline(p, default_name);
    let mut diags = cx.diags;
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    let plan = plan.filter(|_| !diags.iter().any(Diagnostic::is_error));
    (plan, diags)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Source,
    Table,
    Stream,
    Sink,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Table => "table",
            Kind::Stream => "stream",
            Kind::Sink => "sink",
        }
    }
}

/// A declared name: the first declaration of it (later ones are E0100 errors).
#[derive(Clone, Debug)]
pub(crate) struct NameInfo {
    pub kind: Kind,
    pub span: Span,
    /// Index into `Pipeline::decls`.
    pub decl: usize,
    /// For sinks: the name they read (for hints).
    pub sink_input: Option<String>,
}

/// A checked readable thing: how the plan refers to it and what its rows look like.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// `None` when it failed to check (its plan index is meaningless then).
    pub input: Option<InputRef>,
    pub scope: Scope,
}

pub(crate) struct Checker<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub diags: Vec<Diagnostic>,
    pub names: HashMap<String, NameInfo>,
    /// Declared names in file order, for "did you mean".
    pub order: Vec<(String, Kind)>,
    /// Sources, tables and streams checked so far; sinks map to what they write.
    pub resolved: HashMap<String, Resolved>,
    /// Plan index of every stream, by name (dependency order).
    pub stream_index: HashMap<String, usize>,
    /// Key column names of every table whose `key` setting is valid.
    pub table_keys: HashMap<String, Vec<String>>,
    /// Declarations that failed to parse: their names exist, their contents are unknown.
    pub broken: HashSet<String>,
}

impl<'a> Checker<'a> {
    fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Checker<'a> {
        Checker {
            env,
            diags: Vec::new(),
            names: HashMap::new(),
            order: Vec::new(),
            resolved: HashMap::new(),
            stream_index: HashMap::new(),
            table_keys: HashMap::new(),
            broken: HashSet::new(),
        }
    }

    pub fn report(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn pipeline(&mut self, p: &ast::Pipeline, default_name: &str) -> Option<LogicalPlan> {
        let name = p
            .name
            .as_ref()
            .map_or_else(|| default_name.to_string(), |i| i.name.clone());
        self.declare_names(p);

        let mut sources = Vec::new();
        let mut tables = Vec::new();
        for (i, decl) in p.decls.iter().enumerate() {
            let (d, is_table) = match decl {
                Decl::Source(d) => (d, false),
                Decl::Table(d) => (d, true),
                _ => continue,
            };
            let index = if is_table {
                tables.len()
            } else {
                sources.len()
            };
            let (node, scope) = self.source_decl(d, is_table);
            if self.names[&d.name.name].decl == i {
                let input = Some(if is_table {
                    InputRef::Table(index)
                } else {
                    InputRef::Source(index)
                });
                self.resolved
                    .insert(d.name.name.clone(), Resolved { input, scope });
            }
            if is_table {
                tables.push(node);
            } else {
                sources.push(node);
            }
        }

        let streams = self.streams(p);

        let mut sinks = Vec::new();
        for (i, decl) in p.decls.iter().enumerate() {
            if let Decl::Sink(d) = decl {
                let (node, resolved) = self.sink_decl(d);
                if self.names[&d.name.name].decl == i {
                    self.resolved.insert(d.name.name.clone(), resolved);
                }
                sinks.push(node);
            }
        }

        let tests: Vec<Option<TestCase>> = p
            .decls
            .iter()
            .filter_map(|d| match d {
                Decl::Test(t) => Some(self.test_decl(t)),
                _ => None,
            })
            .collect();

        Some(LogicalPlan {
            name,
            sources: sources.into_iter().collect::<Option<Vec<SourceNode>>>()?,
            tables: tables.into_iter().collect::<Option<Vec<SourceNode>>>()?,
            streams: streams.into_iter().collect::<Option<Vec<StreamNode>>>()?,
            sinks: sinks.into_iter().collect::<Option<Vec<SinkNode>>>()?,
            tests: tests.into_iter().collect::<Option<Vec<TestCase>>>()?,
        })
    }

    /// Records every declared name; a second declaration of a name is an error showing both.
    fn declare_names(&mut self, p: &ast::Pipeline) {
        for (i, decl) in p.decls.iter().enumerate() {
            let kind = match decl {
                Decl::Source(_) => Kind::Source,
                Decl::Table(_) => Kind::Table,
                Decl::Stream(_) => Kind::Stream,
                Decl::Sink(_) => Kind::Sink,
                Decl::Test(_) => continue,
            };
            let Some(id) = decl.name() else { continue };
            if let Some(first) = self.names.get(&id.name) {
                let d = Diagnostic::error(
                    "E0100",
                    format!("`{}` is declared twice", id.name),
                    id.span,
                )
                .with_label("declared again here")
                .with_related(
                    first.span,
                    format!("first declared here as a {}", first.kind.word()),
                )
                .with_hint(
                    "names of sources, tables, streams and sinks must be unique; rename one",
                );
                self.report(d);
                continue;
            }
            self.names.insert(
                id.name.clone(),
                NameInfo {
                    kind,
                    span: id.span,
                    decl: i,
                    sink_input: match decl {
                        Decl::Sink(s) => Some(s.input.name.clone()),
                        _ => None,
                    },
                },
            );
            self.order.push((id.name.clone(), kind));
        }
    }

    /// Resolves a name read as an input (`stream x = NAME`, `union(...)`, `<- NAME`,
    /// `join NAME`). Reports unknown names and sinks; an input that failed to check (or is part
    /// of a cycle) resolves silently to an unknown scope.
    pub fn resolve_input(&mut self, id: &Ident) -> (Option<InputRef>, Scope, Option<Kind>) {
        let Some(info) = self.names.get(&id.name).cloned() else {
            self.unknown_name(id, "input", &[Kind::Source, Kind::Table, Kind::Stream]);
            return (None, Scope::unknown(), None);
        };
        if info.kind == Kind::Sink {
            let d = Diagnostic::error(
                "E0104",
                format!("`{}` is a sink; it cannot be read", id.name),
                id.span,
            )
            .with_label("a sink")
            .with_related(info.span, "declared as a sink here");
            let hint = match &info.sink_input {
                Some(s) => format!("read `{s}`, the input of the sink, instead"),
                None => "read the stream that the sink writes instead".to_string(),
            };
            self.report(d.with_hint(hint));
            return (None, Scope::unknown(), Some(Kind::Sink));
        }
        match self.resolved.get(&id.name) {
            Some(r) => (r.input, r.scope.requalified(&id.name), Some(info.kind)),
            None => (None, Scope::unknown(), Some(info.kind)),
        }
    }

    /// E0101 for `id`, suggesting the closest declared name of the given kinds.
    pub fn unknown_name(&mut self, id: &Ident, what: &str, kinds: &[Kind]) {
        if self.broken.contains(&id.name) {
            return;
        }
        let candidates: Vec<&str> = self
            .order
            .iter()
            .filter(|(_, k)| kinds.contains(k))
            .map(|(n, _)| n.as_str())
            .collect();
        let hint = match did_you_mean(&id.name, candidates.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if candidates.is_empty() => format!("no {what} named `{}` is declared", id.name),
            None => format!("declared: {}", backticked(candidates.iter().copied())),
        };
        self.report(
            Diagnostic::error("E0101", format!("unknown {what} `{}`", id.name), id.span)
                .with_label("not declared")
                .with_hint(hint),
        );
    }
}

/// "`a`, `b`, `c`" for hints.
pub(crate) fn backticked<'s>(items: impl IntoIterator<Item = &'s str>) -> String {
    items
        .into_iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hint text for an unknown name: "did you mean `x`?" when one is close, else the valid list.
pub(crate) fn suggest(name: &str, valid: &[&str], what: &str) -> String {
    match did_you_mean(name, valid.iter().copied()) {
        Some(s) => format!(
            "did you mean `{s}`? valid {what}: {}",
            backticked(valid.iter().copied())
        ),
        None => format!("valid {what}: {}", backticked(valid.iter().copied())),
    }
}
