//! Source-like text of an expression, for hints and messages.

use crate::ast::{Expr, ExprKind, Literal, UnaryOp};

/// Source-like text of an expression, for hints.
pub(crate) fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(l) => match l {
            Literal::Int(v) => v.to_string(),
            Literal::Float(v) => format!("{v:?}"),
            Literal::String(s) => format!("{s:?}"),
            Literal::Bool(b) => b.to_string(),
            Literal::Null => "null".into(),
            Literal::Duration(d) => crate::display::duration(*d),
            Literal::Timestamp(t) => crate::display::timestamp(*t),
            Literal::Date(d) => crate::display::date(*d),
        },
        ExprKind::Column { qualifier, name } => match qualifier {
            Some(q) => format!("{}.{}", q.name, name.name),
            None => name.name.clone(),
        },
        ExprKind::Unary {
            op: UnaryOp::Neg,
            expr,
        } => format!("-{}", show(expr)),
        ExprKind::Unary {
            op: UnaryOp::Not,
            expr,
        } => format!("not {}", show(expr)),
        ExprKind::Binary { op, left, right } => {
            format!("{} {} {}", show(left), op.symbol(), show(right))
        }
        ExprKind::IsNull { expr, negated } => {
            format!(
                "{} is {}null",
                show(expr),
                if *negated { "not " } else { "" }
            )
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => format!(
            "{} {}in ({})",
            show(expr),
            if *negated { "not " } else { "" },
            list.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Call { func, args } => {
            format!(
                "{}({})",
                func.name,
                args.iter().map(show).collect::<Vec<_>>().join(", ")
            )
        }
        ExprKind::Paren(inner) => format!("({})", show(inner)),
    }
}
