//! `${NAME}` and `${NAME:-default}` expansion in connector arguments and settings.
//!
//! Expansion happens at check time so that a missing variable is a pipeline error with a
//! caret under the variable, not a runtime failure halfway through a run.

use super::Checker;
use crate::ast::Span;
use crate::diagnostic::Diagnostic;

impl Checker<'_> {
    /// Expands the value of the string literal at `lit_span`. Reports every unset variable
    /// (E0117) and malformed reference (E0118); `None` when any was reported.
    pub fn expand(&mut self, value: &str, lit_span: Span) -> Option<String> {
        // The literal's text is `"value"` when it has no escapes: then a byte offset in the
        // value maps exactly to the source; otherwise point at the whole string.
        let exact = lit_span.len() == value.len() + 2;
        let at = |start: usize, end: usize| {
            if exact {
                Span::new(lit_span.start + 1 + start, lit_span.start + 1 + end)
            } else {
                lit_span
            }
        };
        let mut out = String::new();
        let mut ok = true;
        let mut rest = 0;
        while let Some(found) = value[rest..].find("${") {
            let start = rest + found;
            out.push_str(&value[rest..start]);
            let Some(len) = value[start..].find('}') else {
                self.report(
                    Diagnostic::error(
                        "E0118",
                        "unterminated `${` in string",
                        at(start, value.len()),
                    )
                    .with_label("no closing `}`")
                    .with_hint("write `${NAME}` or `${NAME:-default}`"),
                );
                return None;
            };
            let end = start + len + 1;
            let inner = &value[start + 2..end - 1];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.report(
                    Diagnostic::error(
                        "E0118",
                        format!("`${{{inner}}}` is not a valid variable reference"),
                        at(start, end),
                    )
                    .with_label("bad variable name")
                    .with_hint("write `${NAME}` or `${NAME:-default}` with NAME made of letters, digits and `_`"),
                );
                ok = false;
            } else {
                match ((self.env)(name), default) {
                    // Like the shell's `:-`, an empty value also takes the default.
                    (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => {
                        self.report(
                            Diagnostic::error(
                                "E0117",
                                format!("environment variable `{name}` is not set"),
                                at(start, end),
                            )
                            .with_label("unset")
                            .with_hint(format!(
                                "set `{name}` before running, or give a default: `${{{name}:-VALUE}}`"
                            )),
                        );
                        ok = false;
                    }
                }
            }
            rest = end;
        }
        out.push_str(&value[rest..]);
        ok.then_some(out)
    }
}
