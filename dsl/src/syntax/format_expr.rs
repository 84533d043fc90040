//! Printing expressions and literals canonically: minimal parentheses by precedence (a
//! parenthesis the user wrote is an `ExprKind::Paren` and is kept), floats that re-parse to the
//! same `f64` and still look like floats, durations in their largest exact unit, strings
//! re-escaped, timestamps as RFC 3339 UTC.

use crate::ast::*;

use super::expr::UNITS;

/// Binding strength as the grammar sees it: or < and < not < comparison < + - < * / % < unary -.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => 3,
        ExprKind::IsNull { .. } | ExprKind::InList { .. } => 4,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => 7,
        // A negative literal prints with a leading `-`, so it binds like unary minus.
        ExprKind::Literal(Literal::Int(v) | Literal::Duration(v)) if *v < 0 => 7,
        ExprKind::Literal(Literal::Float(v)) if v.is_sign_negative() => 7,
        _ => 8,
    }
}

/// Precedence of a `+`/`-` operand: what a join condition's sides must bind at least as tightly as.
pub(crate) const SUM_PREC: u8 = 5;

/// The expression as source text.
pub(crate) fn expr(e: &Expr) -> String {
    expr_at(e, 0)
}

/// The expression, parenthesised when it binds more loosely than `min`.
pub(crate) fn expr_at(e: &Expr, min: u8) -> String {
    let s = raw(e);
    if prec(e) < min { format!("({s})") } else { s }
}

fn raw(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => literal(l),
        ExprKind::Column { qualifier, name } => match qualifier {
            Some(q) => format!("{}.{}", q.name, name.name),
            None => name.name.clone(),
        },
        ExprKind::Unary { op, expr } => match op {
            UnaryOp::Not => format!("not {}", expr_at(expr, 3)),
            UnaryOp::Neg => format!("-{}", expr_at(expr, 7)),
        },
        ExprKind::Binary { op, left, right } => {
            let p = op.precedence();
            format!(
                "{} {} {}",
                expr_at(left, p),
                op.symbol(),
                expr_at(right, p + 1)
            )
        }
        ExprKind::IsNull { expr, negated } => {
            let not = if *negated { " not" } else { "" };
            format!("{} is{not} null", expr_at(expr, 4))
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            let not = if *negated { "not " } else { "" };
            format!("{} {not}in ({})", expr_at(expr, 4), list_of(list))
        }
        ExprKind::Call { func, args } => format!("{}({})", func.name, list_of(args)),
        ExprKind::Paren(inner) => format!("({})", expr(inner)),
    }
}

/// Comma-separated expressions.
pub(crate) fn list_of(es: &[Expr]) -> String {
    es.iter().map(expr).collect::<Vec<_>>().join(", ")
}

pub(crate) fn literal(l: &Literal) -> String {
    match l {
        Literal::Int(v) => v.to_string(),
        Literal::Float(v) => float(*v),
        Literal::String(s) => quote(s),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".to_string(),
        Literal::Duration(ms) => duration(*ms),
        Literal::Timestamp(ms) => timestamp(*ms),
        Literal::Date(days) => crate::display::date(*days),
    }
}

/// Rust's `Debug` for `f64` is the shortest text that reads back to the same value, and always
/// has a `.` or an exponent (`3.0`, `1e-7`), so it re-parses as a float.
fn float(v: f64) -> String {
    format!("{v:?}")
}

/// Milliseconds in the largest unit that divides them exactly (`90000` -> `90s`, `0` -> `0s`).
pub(crate) fn duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    for &(unit, len) in UNITS {
        let len = len.unsigned_abs();
        if abs.is_multiple_of(len) {
            return format!("{sign}{}{unit}", abs / len);
        }
    }
    format!("{sign}{abs}ms")
}

fn timestamp(ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms) {
        Some(t) => format!(
            "@{}",
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
        // Out of chrono's range: cannot come from the parser; keep the value visible.
        None => format!("timestamp({ms})"),
    }
}

/// A string literal with `"`, `\`, newlines, tabs and other control characters escaped.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
