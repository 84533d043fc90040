//! A coarse lexer that runs before pest, for error recovery and error messages.
//!
//! It knows just enough (strings, comments, brackets, words) to split a file into top-level
//! declaration chunks that pest then parses one at a time, to collect every comment, to catch
//! unterminated strings and unbalanced brackets with precise spans (pest would only say
//! "expected ..." somewhere far away), and to name the token an error points at.

use crate::ast::{Comment, Span};
use crate::diagnostic::Diagnostic;

/// Words that start a top-level declaration.
pub(crate) const DECL_KEYWORDS: &[&str] =
    &["pipeline", "source", "table", "stream", "sink", "test"];

/// Reserved words: never identifiers (see the grammar's `reserved` rule).
pub(crate) const KEYWORDS: &[&str] = &[
    "source",
    "table",
    "stream",
    "sink",
    "test",
    "pipeline",
    "where",
    "select",
    "window",
    "group",
    "by",
    "aggregate",
    "join",
    "left",
    "on",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "within",
    "top",
    "per",
    "distinct",
    "route",
    "as",
    "true",
    "false",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// Identifier or keyword.
    Word,
    /// Number, duration or timestamp (anything starting with a digit or `@digit`).
    Number,
    Str {
        terminated: bool,
    },
    Punct,
    Comment,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Tok {
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
}

impl Tok {
    pub fn span(&self) -> Span {
        Span::new(self.start, self.end)
    }
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        &source[self.start..self.end]
    }
}

/// Splits `source` into coarse tokens. Never fails: unknown characters become `Punct`.
pub(crate) fn tokenize(source: &str) -> Vec<Tok> {
    let bytes = source.as_bytes();
    let mut toks = Vec::new();
    // A byte-order mark some editors write is not part of the text.
    let mut i = if source.starts_with('\u{feff}') { 3 } else { 0 };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                // Trailing blanks (and a `\r`) are not part of the comment.
                let line_end = memchr_newline(bytes, i);
                i = start + source[start..line_end].trim_end().len();
                toks.push(Tok {
                    kind: TokKind::Comment,
                    start,
                    end: i,
                });
                i = line_end;
                continue;
            }
            b'"' => {
                i += 1;
                let mut terminated = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if i + 1 < bytes.len() && bytes[i + 1] != b'\n' => i += 2,
                        b'"' => {
                            i += 1;
                            terminated = true;
                            break;
                        }
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
                i = i.min(bytes.len());
                TokKind::Str { terminated }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                TokKind::Word
            }
            c if c.is_ascii_digit()
                || (c == b'@' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < bytes.len()
                    && (is_word_byte(bytes[i]) || matches!(bytes[i], b'.' | b':' | b'-' | b'+'))
                {
                    // `-` and `+` only belong to timestamps (`@2013-01-01T00:00:00+02:00`).
                    if matches!(bytes[i], b'-' | b'+' | b':') && c != b'@' {
                        break;
                    }
                    i += 1;
                }
                TokKind::Number
            }
            _ => {
                let two = source.get(i..i + 2).unwrap_or("");
                if matches!(two, "==" | "!=" | "<=" | ">=" | "<-") {
                    i += 2;
                } else {
                    i += source[i..].chars().next().map_or(1, char::len_utf8);
                }
                TokKind::Punct
            }
        };
        toks.push(Tok {
            kind,
            start,
            end: i,
        });
    }
    toks
}

fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every comment, in source order, as the AST wants them.
pub(crate) fn comments(source: &str, toks: &[Tok]) -> Vec<Comment> {
    toks.iter()
        .filter(|t| t.kind == TokKind::Comment)
        .map(|t| Comment {
            text: t.text(source).to_string(),
            span: t.span(),
            trailing: !at_line_start(source, t.start),
        })
        .collect()
}

/// Whether only whitespace stands between the start of the line and `pos`.
fn at_line_start(source: &str, pos: usize) -> bool {
    source[..pos].rsplit('\n').next().is_some_and(|l| {
        l.chars()
            .all(|c| matches!(c, ' ' | '\t' | '\r' | '\u{feff}'))
    })
}

fn at_column_zero(source: &str, pos: usize) -> bool {
    pos == 0 || source.as_bytes()[pos - 1] == b'\n'
}

fn same_line(source: &str, a: usize, b: usize) -> bool {
    !source[a.min(b)..a.max(b)].contains('\n')
}

/// A top-level declaration's text range: `tokens[first..last]` lie inside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    pub first: usize,
    pub last: usize,
}

/// Splits the file into declaration chunks. A chunk starts at a declaration keyword that begins
/// a line and is followed by a name (whatever the bracket depth, so an unclosed `{` cannot
/// swallow the next declaration),
/// or at a line that begins at column 1 outside brackets with two words (`soruce x = ...`), so a
/// misspelt keyword is reported on its own instead of breaking the declaration before it.
pub(crate) fn chunks(source: &str, toks: &[Tok]) -> Vec<Chunk> {
    let code: Vec<usize> = (0..toks.len())
        .filter(|&i| toks[i].kind != TokKind::Comment)
        .collect();
    let mut starts: Vec<usize> = Vec::new();
    let mut depth: i64 = 0;
    for (n, &i) in code.iter().enumerate() {
        let t = toks[i];
        let text = t.text(source);
        let line_start = at_line_start(source, t.start);
        let next = code.get(n + 1).map(|&j| toks[j]);
        // `source = x` (a setting or alias named like a keyword) does not start a declaration.
        let is_decl_kw = t.kind == TokKind::Word
            && DECL_KEYWORDS.contains(&text)
            && next.is_some_and(|nx| match nx.kind {
                TokKind::Word => true,
                TokKind::Str { .. } => text == "test",
                _ => false,
            });
        let prev = n.checked_sub(1).map(|m| toks[code[m]]);
        let stray_decl = t.kind == TokKind::Word
            && at_column_zero(source, t.start)
            && depth == 0
            && !KEYWORDS.contains(&text)
            && next.is_some_and(|nx| {
                matches!(nx.kind, TokKind::Word | TokKind::Str { .. })
                    && same_line(source, t.end, nx.start)
                    && !(nx.kind == TokKind::Word && KEYWORDS.contains(&nx.text(source)))
            })
            && prev.is_none_or(|p| !continues(p.text(source)));
        if n == 0 || (line_start && is_decl_kw) || stray_decl {
            starts.push(n);
            depth = 0;
        }
        match text {
            "(" | "{" | "[" => depth += 1,
            ")" | "}" | "]" => depth -= 1,
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (k, &n) in starts.iter().enumerate() {
        let first = code[n];
        let (end, last) = match starts.get(k + 1) {
            Some(&m) => (toks[code[m]].start, code[m]),
            None => (source.len(), toks.len()),
        };
        out.push(Chunk {
            start: toks[first].start,
            end,
            first,
            last,
        });
    }
    out
}

/// Tokens after which a line is a continuation of the same declaration.
fn continues(prev: &str) -> bool {
    matches!(
        prev,
        "|" | ","
            | "="
            | "+"
            | "-"
            | "*"
            | "/"
            | "%"
            | "=="
            | "!="
            | "<"
            | "<="
            | ">"
            | ">="
            | "<-"
            | "."
            | "and"
            | "or"
            | "not"
            | "on"
            | "by"
            | "as"
            | "in"
            | "is"
            | "per"
            | "within"
    )
}

/// Lexical errors in one chunk: unterminated strings and unbalanced brackets. A chunk with any
/// of these is not handed to pest, whose message would only be confusing.
pub(crate) fn lexical_errors(source: &str, toks: &[Tok]) -> Vec<Diagnostic> {
    let mut errs = Vec::new();
    for t in toks {
        if t.kind == (TokKind::Str { terminated: false }) {
            errs.push(
                Diagnostic::error(
                    "E0008",
                    "unterminated string",
                    Span::new(t.start, t.start + 1),
                )
                .with_label("this string is never closed")
                .with_hint("a string ends on the line it starts on; write `\\n` for a newline"),
            );
        }
    }
    if !errs.is_empty() {
        // An unterminated string swallows the rest of its line, brackets included.
        return errs;
    }
    let mut stack: Vec<Tok> = Vec::new();
    for t in toks.iter().filter(|t| t.kind == TokKind::Punct) {
        let text = t.text(source);
        match text {
            "(" | "{" | "[" => stack.push(*t),
            ")" | "}" | "]" => {
                let want = match text {
                    ")" => "(",
                    "}" => "{",
                    _ => "[",
                };
                match stack.pop() {
                    Some(open) if open.text(source) == want => {}
                    Some(open) => {
                        let open_text = open.text(source);
                        errs.push(
                            Diagnostic::error(
                                "E0010",
                                format!("mismatched closing delimiter `{text}`"),
                                t.span(),
                            )
                            .with_label(format!("expected `{}`", closer(open_text)))
                            .with_related(open.span(), format!("this `{open_text}` is unclosed")),
                        );
                        return errs;
                    }
                    None => {
                        errs.push(
                            Diagnostic::error(
                                "E0010",
                                format!("unexpected closing delimiter `{text}`"),
                                t.span(),
                            )
                            .with_label("nothing opened here is waiting for it")
                            .with_hint(format!("remove it, or add the opening `{want}`")),
                        );
                        return errs;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        let open_text = open.text(source);
        errs.push(
            Diagnostic::error("E0009", format!("unclosed `{open_text}`"), open.span())
                .with_label(format!("this `{open_text}` is never closed"))
                .with_hint(format!("add a matching `{}`", closer(open_text))),
        );
    }
    errs
}

fn closer(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "{" => "}",
        _ => "]",
    }
}

/// The first non-comment token that starts at or after `pos`, if any.
pub(crate) fn token_at(toks: &[Tok], pos: usize) -> Option<Tok> {
    toks.iter()
        .find(|t| t.kind != TokKind::Comment && t.end > pos)
        .copied()
}

/// The last non-comment token that ends at or before `pos`, if any.
pub(crate) fn token_before(toks: &[Tok], pos: usize) -> Option<Tok> {
    toks.iter()
        .rev()
        .find(|t| t.kind != TokKind::Comment && t.end <= pos)
        .copied()
}
