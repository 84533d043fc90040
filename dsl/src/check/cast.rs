//! Casts `int(x)`, `float(x)`, `string(x)`, `timestamp(x)`, `date(x)`: which conversions exist.

use super::Checker;
use super::expr::Typed;
use crate::ast::Span;
use crate::diagnostic::Diagnostic;
use crate::plan::{DataType, TExpr, Value};

impl Checker<'_> {
    pub(super) fn cast(
        &mut self,
        name: &str,
        mut t: Vec<Typed>,
        span: Span,
        sig: &str,
    ) -> Option<Typed> {
        use DataType::*;
        let x = t.pop()?;
        let target = DataType::from_name(name)?;
        if x.null {
            return Some(Typed::new(TExpr::Literal(Value::Null), target, true));
        }
        let from = x.ty();
        if from == target {
            return Some(x);
        }
        let allowed = match target {
            Int => matches!(from, Float | String | Bool | Timestamp | Duration),
            Float => matches!(from, Int | String),
            String => true,
            Timestamp => matches!(from, String | Int | Date),
            Date => matches!(from, String | Timestamp),
            _ => false,
        };
        if !allowed {
            self.report(
                Diagnostic::error(
                    "E0208",
                    format!("cannot convert `{}` to `{name}`", from.name()),
                    span,
                )
                .with_label(format!("this is `{}`", from.name()))
                .with_hint(sig.to_string()),
            );
            return None;
        }
        // Parsing a string may fail, which gives null.
        let n = x.e.nullable || (from == String && target != String);
        Some(Typed::new(TExpr::Cast(Box::new(x.e)), target, n))
    }
}
