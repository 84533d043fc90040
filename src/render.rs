//! Renders diagnostics like rustc: `file:line:col`, the source line, a caret under the span,
//! the hint. Monochrome ASCII when stderr is not a terminal, so golden tests are stable.

use std::io::IsTerminal;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource, Report};
use sluice_dsl::diagnostic::Diagnostic;

/// All diagnostics, in order, as one text.
pub fn render_all(diags: &[Diagnostic], path: &str, source: &str) -> String {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::ascii()
    } else {
        GraphicalTheme::none()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(100);
    let mut out = String::new();
    for diag in diags {
        let report = Report::new(caret_friendly(diag, source))
            .with_source_code(NamedSource::new(path, source.to_string()));
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out.push_str(&format!("error[{}]: {}\n", diag.code, diag.message));
        }
        out.push('\n');
    }
    out
}

/// Shapes a diagnostic so miette draws a caret: a span over several lines renders as a bracket,
/// so it is cut to its first line; a labelled one-character span renders as a bare `|`, so its
/// label is dropped (the message already names the thing).
fn caret_friendly(diag: &Diagnostic, source: &str) -> Diagnostic {
    let mut diag = diag.clone();
    if diag.span.len() <= 1 {
        diag.label.clear();
    }
    let start = diag.span.start.min(source.len());
    if let Some(newline) = source[start..diag.span.end.min(source.len())].find('\n') {
        diag.span.end = start + newline;
    }
    diag
}
