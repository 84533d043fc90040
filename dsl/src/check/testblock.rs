//! `test "..." { given SOURCE = [rows] expect STREAM = [rows] }`: rows typed against schemas.
//!
//! `given` rows must be complete (every column, in any order): they stand in for a source.
//! `expect` rows may leave columns out (LANGUAGE.md's own example omits the window bounds), as
//! long as every row of one `expect` gives the same columns; only those are compared. Values
//! are literals of the column's type (ints widen to float, an RFC 3339 string is accepted for a
//! timestamp).

use super::scope::Scope;
use super::{Checker, Kind, backticked};
use crate::ast::{Expr, ExprKind, Literal, RowLit, TestDecl, TestRows, UnaryOp};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{DataType, InputRef, TestCase, Value};

impl Checker<'_> {
    pub fn test_decl(&mut self, t: &TestDecl) -> Option<TestCase> {
        let mut ok = true;
        let mut given = Vec::new();
        for g in &t.given {
            match self.test_target(g, true) {
                Some((Some(InputRef::Source(i)), scope)) => {
                    match self.rows(&scope, &g.rows, true) {
                        Some((rows, _)) => given.push((i, rows)),
                        None => ok = false,
                    }
                }
                _ => ok = false,
            }
        }
        let mut expect = Vec::new();
        let mut expect_columns = Vec::new();
        for e in &t.expect {
            match self.test_target(e, false) {
                Some((Some(input), scope)) => match self.rows(&scope, &e.rows, false) {
                    Some((rows, cols)) => {
                        expect.push((input, rows));
                        expect_columns.push(cols);
                    }
                    None => ok = false,
                },
                _ => ok = false,
            }
        }
        ok.then(|| TestCase {
            description: t.description.clone(),
            given,
            expect,
            expect_columns,
            span: t.span,
        })
    }

    /// What `given` (a source) or `expect` (a stream, or a sink: what it writes) names.
    fn test_target(&mut self, r: &TestRows, given: bool) -> Option<(Option<InputRef>, Scope)> {
        let id = &r.name;
        let (what, kinds): (&str, &[Kind]) = if given {
            ("source", &[Kind::Source])
        } else {
            ("stream or sink", &[Kind::Stream, Kind::Sink])
        };
        let Some(info) = self.names.get(&id.name).cloned() else {
            self.unknown_name(id, what, kinds);
            return None;
        };
        if !kinds.contains(&info.kind) {
            let (code, msg, hint) = if given {
                (
                    "E0250",
                    format!(
                        "`given` needs a source, but `{}` is a {}",
                        id.name,
                        info.kind.word()
                    ),
                    "`given` replaces the rows a source reads; give rows for the source that feeds it",
                )
            } else {
                (
                    "E0251",
                    format!(
                        "`expect` needs a stream or sink, but `{}` is a {}",
                        id.name,
                        info.kind.word()
                    ),
                    "`expect` checks the rows a stream produces or a sink writes",
                )
            };
            self.report(
                Diagnostic::error(code, msg, id.span)
                    .with_label(format!("a {}", info.kind.word()))
                    .with_related(info.span, "declared here")
                    .with_hint(hint),
            );
            return None;
        }
        let r = self.resolved.get(&id.name)?;
        Some((r.input, r.scope.clone()))
    }

    /// Rows in schema order and the columns they give; every problem reported. `complete`
    /// rows must give every column; others must all give the same columns as the first row.
    fn rows(
        &mut self,
        scope: &Scope,
        rows: &[RowLit],
        complete: bool,
    ) -> Option<(Vec<Vec<Value>>, Vec<usize>)> {
        if scope.open {
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        // The column set of the first row, and that row's span (partial rows only).
        let mut shape: Option<(Vec<bool>, crate::ast::Span)> = None;
        for row in rows {
            let mut values: Vec<Option<Value>> = vec![None; scope.cols.len()];
            let mut given: Vec<Option<crate::ast::Span>> = vec![None; scope.cols.len()];
            for (name, e) in &row.fields {
                let Some(i) = scope.cols.iter().position(|c| c.name == name.name) else {
                    let hint = match did_you_mean(&name.name, scope.names()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the columns are {}", backticked(scope.names())),
                    };
                    self.report(
                        Diagnostic::error(
                            "E0253",
                            format!("unknown column `{}` in test row", name.name),
                            name.span,
                        )
                        .with_label("no such column")
                        .with_hint(hint),
                    );
                    ok = false;
                    continue;
                };
                if let Some(first) = given[i] {
                    self.report(
                        Diagnostic::error(
                            "E0256",
                            format!("column `{}` is given twice", name.name),
                            name.span,
                        )
                        .with_label("given again")
                        .with_related(first, "first given here"),
                    );
                    ok = false;
                    continue;
                }
                given[i] = Some(name.span);
                match self.row_value(e, &name.name, scope.cols[i].ty) {
                    Some(v) => values[i] = Some(v),
                    None => ok = false,
                }
            }
            let gives: Vec<bool> = given.iter().map(Option::is_some).collect();
            let missing: Vec<&str> = match &shape {
                _ if complete => names_where(scope, &gives, false),
                // Partial rows: compare with the first row's columns.
                Some((first, _)) => names_where(scope, first, true)
                    .into_iter()
                    .filter(|n| !names_where(scope, &gives, true).contains(n))
                    .collect(),
                None => Vec::new(),
            };
            let extra: Vec<&str> = match &shape {
                Some((first, _)) if !complete => names_where(scope, &gives, true)
                    .into_iter()
                    .filter(|n| !names_where(scope, first, true).contains(n))
                    .collect(),
                _ => Vec::new(),
            };
            if !missing.is_empty() {
                let (noun, list) = if missing.len() == 1 {
                    ("column", "it")
                } else {
                    ("columns", "them")
                };
                let mut d = Diagnostic::error(
                    "E0252",
                    format!(
                        "test row misses {noun} {}",
                        backticked(missing.iter().copied())
                    ),
                    row.span,
                )
                .with_label("incomplete row");
                d = match &shape {
                    Some((_, first)) if !complete => d
                        .with_related(*first, "the first row gives them")
                        .with_hint(format!("every expected row gives the same columns; add {list}")),
                    _ => d.with_hint(format!(
                        "`given` rows stand in for the source and give every column; add {list} (`null` where the column is nullable)"
                    )),
                };
                self.report(d);
                ok = false;
            }
            if !extra.is_empty() {
                let mut d = Diagnostic::error(
                    "E0252",
                    format!("test row gives {}, which the first row does not", backticked(extra.iter().copied())),
                    row.span,
                )
                .with_label("different columns")
                .with_hint("every expected row gives the same columns; add them to every row or drop them here");
                if let Some((_, first)) = &shape {
                    d = d.with_related(*first, "the first row");
                }
                self.report(d);
                ok = false;
            }
            if shape.is_none() {
                shape = Some((gives, row.span));
            }
            if ok {
                out.push(
                    values
                        .into_iter()
                        .map(|v| v.unwrap_or(Value::Null))
                        .collect(),
                );
            }
        }
        let cols = match shape {
            Some((gives, _)) => (0..gives.len()).filter(|i| gives[*i]).collect(),
            None => (0..scope.cols.len()).collect(),
        };
        ok.then_some((out, cols))
    }

    /// A literal value for a column of type `ty` (`None` when the type is unknown).
    fn row_value(&mut self, e: &Expr, col: &str, ty: Option<(DataType, bool)>) -> Option<Value> {
        let Some(v) = constant(e) else {
            self.report(
                Diagnostic::error("E0255", "test values must be literals", e.span)
                    .with_label("not a literal")
                    .with_hint("write the value itself, e.g. `42`, `3.5`, `\"AA\"`, `@2013-01-01T05:00:00Z`"),
            );
            return None;
        };
        let (ty, nullable) = ty?;
        let converted = match (&v, ty) {
            (Value::Null, _) if nullable => Some(Value::Null),
            (Value::Int(i), DataType::Float) => Some(Value::Float(*i as f64)),
            (Value::String(s), DataType::Timestamp) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| Value::Timestamp(t.timestamp_millis())),
            (Value::String(s), DataType::Date) => {
                crate::time_format::parse_iso_date(s).map(Value::Date)
            }
            (Value::Int(_), DataType::Int)
            | (Value::Float(_), DataType::Float)
            | (Value::String(_), DataType::String)
            | (Value::Bool(_), DataType::Bool)
            | (Value::Timestamp(_), DataType::Timestamp)
            | (Value::Duration(_), DataType::Duration)
            | (Value::Date(_), DataType::Date) => Some(v.clone()),
            _ => None,
        };
        if converted.is_none() {
            let msg = match &v {
                Value::Null => format!("column `{col}` is not nullable; it cannot be `null`"),
                Value::String(_) if ty == DataType::Timestamp => {
                    format!(
                        "`{}` is not an rfc 3339 timestamp",
                        crate::check::expr::show(e)
                    )
                }
                Value::String(_) if ty == DataType::Date => {
                    format!(
                        "`{}` is not a date `YYYY-MM-DD`",
                        crate::check::expr::show(e)
                    )
                }
                _ => format!(
                    "column `{col}` is `{}`, found `{}`",
                    ty.name(),
                    value_type(&v)
                ),
            };
            self.report(
                Diagnostic::error("E0254", msg, e.span)
                    .with_label("wrong value")
                    .with_hint(format!(
                        "column `{col}` is declared `{}{}`",
                        ty.name(),
                        if nullable { "?" } else { "" }
                    )),
            );
        }
        converted
    }
}

/// Names of the columns whose flag equals `given`.
fn names_where<'s>(scope: &'s Scope, flags: &[bool], given: bool) -> Vec<&'s str> {
    scope
        .cols
        .iter()
        .zip(flags)
        .filter(|(_, f)| **f == given)
        .map(|(c, _)| c.name.as_str())
        .collect()
}

fn constant(e: &Expr) -> Option<Value> {
    Some(match &e.kind {
        ExprKind::Literal(l) => match l {
            Literal::Int(v) => Value::Int(*v),
            Literal::Float(v) => Value::Float(*v),
            Literal::String(s) => Value::String(s.clone()),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
            Literal::Duration(d) => Value::Duration(*d),
            Literal::Timestamp(t) => Value::Timestamp(*t),
            Literal::Date(d) => Value::Date(*d),
        },
        ExprKind::Paren(inner) => constant(inner)?,
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
        } => match constant(expr)? {
            Value::Int(v) => Value::Int(-v),
            Value::Float(v) => Value::Float(-v),
            Value::Duration(v) => Value::Duration(-v),
            _ => return None,
        },
        _ => return None,
    })
}

fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::String(_) => "string",
        Value::Timestamp(_) => "timestamp",
        Value::Duration(_) => "duration",
        Value::Date(_) => "date",
    }
}
