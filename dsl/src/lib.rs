//! The Sluice pipeline language: text -> AST -> typed logical plan.
//!
//! ```text
//! text --parse--> ast::Pipeline --check--> plan::LogicalPlan
//! ```
//! Both steps collect every diagnostic they can instead of stopping at the first one.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod display;
pub mod plan;
pub mod plan_inputs;
pub mod syntax;
pub mod time_format;

use diagnostic::Diagnostic;

/// Parses and checks a pipeline: the plan, or every diagnostic of both steps sorted by
/// position. `default_name` names the pipeline when it has no `pipeline NAME` (the CLI passes
/// the file stem); `env` answers `${NAME}` references.
pub fn compile(
    source: &str,
    default_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<plan::LogicalPlan, Vec<Diagnostic>> {
    let (ast, mut diags) = syntax::parse(source);
    let broken = if diags.iter().any(Diagnostic::is_error) {
        declared_names(source)
            .into_iter()
            .filter(|n| {
                !ast.decls
                    .iter()
                    .any(|d| d.name().is_some_and(|i| i.name == *n))
            })
            .collect()
    } else {
        Default::default()
    };
    let (plan, check_diags) = check::check_partial(&ast, default_name, env, &broken);
    // One message per token: where the parser already reported a token (and built a
    // placeholder for it, e.g. a bad duration), the checker's view of it is noise.
    let parse_starts: Vec<usize> = diags.iter().map(|d| d.span.start).collect();
    diags.extend(
        check_diags
            .into_iter()
            .filter(|d| !parse_starts.contains(&d.span.start)),
    );
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    match plan {
        Some(plan) if !diags.iter().any(Diagnostic::is_error) => Ok(plan),
        _ => Err(diags),
    }
}

/// Names that the text declares (`source NAME`, `stream NAME`, ... at the start of a line),
/// whether or not the declaration parsed: a declaration lost to a syntax error still exists
/// for its readers.
fn declared_names(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let mut words = line.split_whitespace();
        if let (Some("source" | "table" | "stream" | "sink"), Some(rest)) =
            (words.next(), words.next())
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}
