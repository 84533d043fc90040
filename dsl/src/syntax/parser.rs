//! `parse`: pipeline text -> [`Pipeline`] plus every syntax error found.
//!
//! The parser never gives up. [`scan`](super::scan) first cuts the file into top-level
//! declaration chunks; each chunk is checked for lexical errors and then parsed by pest on its
//! own. A chunk that fails yields exactly one diagnostic and is left out of the AST; every other
//! declaration is still returned, so the checker and the editor see as much as possible.
//!
//! # Error codes
//!
//! | code  | meaning                                                                        |
//! |-------|--------------------------------------------------------------------------------|
//! | E0001 | unexpected token: the generic "expected X, found Y"                            |
//! | E0002 | unknown declaration keyword (`soruce`), or text outside any declaration       |
//! | E0003 | missing `=` after a declaration's name (`source flights file(..)`)            |
//! | E0004 | unknown stage after `|` (`filter` -> did you mean `where`?)                    |
//! | E0005 | missing expression (`| where` with nothing after it)                           |
//! | E0006 | `=` written where a comparison `==` was meant (`where a = 1`)                  |
//! | E0007 | sink without its input (`<- STREAM` missing)                                   |
//! | E0008 | unterminated string (strings end on the line they start on)                    |
//! | E0009 | unclosed `(`, `{` or `[`                                                       |
//! | E0010 | closing `)`, `}` or `]` that matches nothing, or the wrong opener              |
//! | E0011 | bad duration: unknown unit (`5x`) or a fractional one (`1.5h`)                 |
//! | E0012 | invalid timestamp or date literal (not RFC 3339, not a real day)              |
//! | E0013 | integer or duration literal too large for 64 bits                              |
//! | E0014 | float literal out of range (`1e999`)                                           |
//! | E0015 | invalid escape in a string (`\q`, `\u{zz}`)                                    |
//! | E0016 | reserved word used as a name (`source table = ..`)                             |
//! | E0017 | a second `pipeline NAME` declaration                                           |
//! | E0018 | unknown placement hint (only `@gpu` and `@cpu` exist)                          |
//! | E0019 | a number without a unit where a duration is required (`tumbling(5)`)          |
//! | E0020 | the row count of `top` is not a whole number                                   |
//! | E0021 | nothing after `|` where a stage was expected                                   |

use pest::Parser;

use super::build::{Builder, Built};
use super::scan::{self, DECL_KEYWORDS, TokKind};
use crate::ast::{Pipeline, Span};
use crate::diagnostic::{Diagnostic, did_you_mean};

/// The pest parser generated from `grammar.pest`; it parses one declaration chunk at a time.
#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
pub(crate) struct SluiceParser;

/// Parses a whole pipeline file.
///
/// Returns the declarations that parsed (in source order), every comment, and the diagnostics
/// sorted by position. The tree is usable even when there are errors: only the declarations
/// that contain a syntax error are missing from it. Spans are byte offsets into `source`.
pub fn parse(source: &str) -> (Pipeline, Vec<Diagnostic>) {
    let toks = scan::tokenize(source);
    let mut pipeline = Pipeline {
        name: None,
        decls: Vec::new(),
        comments: scan::comments(source, &toks),
    };
    let mut diags = Vec::new();
    for chunk in scan::chunks(source, &toks) {
        let ctoks = &toks[chunk.first..chunk.last];
        let lexical = scan::lexical_errors(source, ctoks);
        if !lexical.is_empty() {
            diags.extend(lexical);
            continue;
        }
        let first = toks[chunk.first];
        let word = first.text(source);
        if first.kind != TokKind::Word || !DECL_KEYWORDS.contains(&word) {
            diags.push(unknown_declaration(first.kind, word, first.span()));
            continue;
        }
        match SluiceParser::parse(Rule::chunk, &source[chunk.start..chunk.end]) {
            Ok(mut pairs) => {
                let mut b = Builder {
                    base: chunk.start,
                    diags: Vec::new(),
                };
                match pairs.next().and_then(|p| b.chunk(p)) {
                    Some(Built::Name(name)) => match &pipeline.name {
                        Some(old) => b.diags.push(
                            Diagnostic::error(
                                "E0017",
                                format!("the pipeline is already named `{}`", old.name),
                                name.span,
                            )
                            .with_label("second `pipeline` declaration")
                            .with_related(old.span, "first named here")
                            .with_hint("a file declares `pipeline NAME` at most once"),
                        ),
                        None => pipeline.name = Some(name),
                    },
                    Some(Built::Decl(d)) => pipeline.decls.push(d),
                    None => {}
                }
                diags.extend(b.diags);
            }
            Err(e) => diags.push(super::errors::translate(source, &toks, &chunk, &e)),
        }
    }
    diags.sort_by_key(|d| d.span.start);
    (pipeline, diags)
}

fn unknown_declaration(kind: TokKind, word: &str, span: Span) -> Diagnostic {
    let shown: String = word.chars().take(24).collect();
    if kind != TokKind::Word {
        return Diagnostic::error(
            "E0002",
            format!("expected a declaration, found `{shown}`"),
            span,
        )
        .with_label("not the start of a declaration")
        .with_hint(DECL_HINT);
    }
    let d = Diagnostic::error("E0002", format!("unknown declaration `{shown}`"), span)
        .with_label("not a declaration keyword");
    match did_you_mean(word, DECL_KEYWORDS.iter().copied()) {
        Some(k) => d.with_hint(format!("did you mean `{k}`?")),
        None => d.with_hint(DECL_HINT),
    }
}

const DECL_HINT: &str =
    "a declaration starts with `source`, `table`, `stream`, `sink`, `test` or `pipeline`";
