//! Diagnostics: what the parser and checker report. Plain data; the CLI renders them with
//! miette (file:line:col, the source line, a caret under the span, the hint).

use crate::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable code, e.g. `E0101`; listed in docs/diagnostics.md.
    pub code: &'static str,
    /// One line, lower case, names the offending thing in backticks.
    pub message: String,
    /// Where the caret goes.
    pub span: Span,
    /// False for a finding about the engine's settings rather than the file (no caret).
    pub located: bool,
    /// Text under the caret (may be empty).
    pub label: String,
    /// "did you mean `dep_delay`?", "a stream-stream join needs `within`", ...
    pub hint: Option<String>,
    /// Secondary places, e.g. the first declaration of a duplicated name.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            located: true,
            label: String::new(),
            hint: None,
            related: Vec::new(),
        }
    }
    /// A finding about a setting outside the pipeline file (config TOML, a CLI flag): it
    /// renders without a source line or caret.
    pub fn setting(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            located: false,
            ..Diagnostic::error(code, message, Span::default())
        }
    }
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.related.push((span, label.into()));
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.hint
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if !self.located {
            return None;
        }
        let primary = miette::LabeledSpan::new_primary_with_span(
            (!self.label.is_empty()).then(|| self.label.clone()),
            (self.span.start, self.span.len()),
        );
        let related = self.related.iter().map(|(span, label)| {
            miette::LabeledSpan::new_with_span(Some(label.clone()), (span.start, span.len()))
        });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Closest candidate by edit distance, for "did you mean" hints; `None` when nothing is close.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1) + usize::from(name.len() > 6))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}
