//! Turns a pest error into one rustc-style [`Diagnostic`].
//!
//! pest reports the farthest position it reached and the named rules it tried there. We look at
//! the token found at that position, the token before it and those rules, recognise the common
//! mistakes (unknown stage, `=` for `==`, missing `<- INPUT`, ...) and otherwise say
//! "expected X, found Y" in words. Rule names never reach the user.

use pest::error::{Error, ErrorVariant, InputLocation};

use super::parser::Rule;
use super::scan::{self, Chunk, KEYWORDS, Tok, TokKind};
use crate::ast::Span;
use crate::diagnostic::{Diagnostic, did_you_mean};

/// The stage keywords, for "did you mean" and for listing them.
const STAGES: &[&str] = &[
    "where",
    "select",
    "window",
    "group",
    "aggregate",
    "join",
    "left",
    "top",
    "distinct",
    "route",
];

const STAGE_LIST: &str = "stages are `where`, `select`, `window`, `group by`, `aggregate`, \
                          `join`, `left join`, `top`, `distinct` and `route`";

/// Words people bring from other languages, mapped to the Sluice stage that does that job.
fn stage_synonym(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_lowercase().as_str() {
        "filter" | "having" | "when" | "if" => "where",
        "map" | "project" | "projection" | "extend" | "let" => "select",
        "groupby" | "group_by" | "grouping" | "partition" | "key_by" | "keyby" => "group by",
        "agg" | "aggregation" | "aggr" | "reduce" | "fold" | "summarize" => "aggregate",
        "lookup" | "inner" | "enrich" => "join",
        "limit" | "order" | "sort" | "order_by" | "orderby" | "rank" => "top",
        "dedup" | "dedupe" | "deduplicate" | "unique" | "uniq" => "distinct",
        "shuffle" | "exchange" | "repartition" | "rebalance" | "partition_by" => "route",
        "tumble" | "windowed" | "slide" => "window",
        _ => return None,
    })
}

/// What the user would call a rule pest expected, or `None` to leave it out of the list.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "the end of the declaration",
        Rule::ident | Rule::name | Rule::col_name => "a name",
        Rule::connector => "a connector",
        Rule::format => "`as FORMAT`",
        Rule::settings | Rule::lbrace => "`{`",
        Rule::plain_setting | Rule::schema_setting => "a setting",
        Rule::column_def => "a column `name: type`",
        Rule::type_name => "a type",
        Rule::column_format => "`format \"...\"`",
        Rule::union_input => "an input",
        Rule::test_rows => "`given` or `expect`",
        Rule::row => "a row `{ .. }`",
        Rule::field => "a field `name: value`",
        Rule::stage => "a stage",
        Rule::hint => return None,
        Rule::tumbling | Rule::sliding | Rule::session => "a window",
        Rule::geo_route | Rule::hash_route => "`geo(..)` or `hash(..)`",
        Rule::join_cond => "a join condition `a == T.b`",
        Rule::duration => "a duration",
        Rule::arg | Rule::arg_name => "an argument",
        Rule::expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::sum_expr
        | Rule::prod_expr
        | Rule::unary
        | Rule::paren
        | Rule::call
        | Rule::column
        | Rule::select_item
        | Rule::alias
        | Rule::sort_key
        | Rule::agg_item => "an expression",
        Rule::cmp_op
        | Rule::sum_op
        | Rule::prod_op
        | Rule::is_null
        | Rule::in_list
        | Rule::kw_and
        | Rule::kw_or
        | Rule::kw_is
        | Rule::kw_in => "an operator",
        Rule::number => "a number",
        Rule::string => "a string",
        Rule::timestamp => "a timestamp",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comma => "`,`",
        Rule::colon => "`:`",
        Rule::dot => "`.`",
        Rule::pipe => "`|`",
        Rule::question => "`?`",
        Rule::sink_arrow => "`<-`",
        Rule::decl_eq | Rule::assign | Rule::agg_assign => "`=`",
        Rule::join_eq => "`==`",
        // Keywords are named by `keyword_of`; anything else is not worth listing.
        _ => return None,
    })
}

/// The word a keyword rule matches (`kw_by` -> `by`).
fn keyword_of(r: Rule) -> Option<&'static str> {
    let name: &'static str = match r {
        Rule::kw_pipeline => "pipeline",
        Rule::kw_source => "source",
        Rule::kw_table => "table",
        Rule::kw_stream => "stream",
        Rule::kw_sink => "sink",
        Rule::kw_test => "test",
        Rule::kw_as => "as",
        Rule::kw_where => "where",
        Rule::kw_select => "select",
        Rule::kw_window => "window",
        Rule::kw_group => "group",
        Rule::kw_by => "by",
        Rule::kw_aggregate => "aggregate",
        Rule::kw_join => "join",
        Rule::kw_left => "left",
        Rule::kw_on => "on",
        Rule::kw_not => "not",
        Rule::kw_null => "null",
        Rule::kw_true => "true",
        Rule::kw_false => "false",
        Rule::kw_within => "within",
        Rule::kw_top => "top",
        Rule::kw_per => "per",
        Rule::kw_distinct => "distinct",
        Rule::kw_route => "route",
        Rule::kw_schema => "schema",
        Rule::kw_format => "format",
        Rule::kw_union => "union",
        Rule::kw_given => "given",
        Rule::kw_expect => "expect",
        Rule::kw_tumbling => "tumbling",
        Rule::kw_sliding => "sliding",
        Rule::kw_session => "session",
        Rule::kw_every => "every",
        Rule::kw_gap => "gap",
        Rule::kw_asc => "asc",
        Rule::kw_desc => "desc",
        Rule::kw_round_robin => "round_robin",
        Rule::kw_geo => "geo",
        Rule::kw_hash => "hash",
        _ => return None,
    };
    Some(name)
}

fn is_operator(r: Rule) -> bool {
    describe(r) == Some("an operator")
}

fn is_expression(r: Rule) -> bool {
    describe(r) == Some("an expression")
}

/// One diagnostic for a chunk that pest rejected.
pub(crate) fn translate(
    source: &str,
    toks: &[Tok],
    chunk: &Chunk,
    err: &Error<Rule>,
) -> Diagnostic {
    let rel = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let pos = chunk.start + rel;
    let positives = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let ctoks = &toks[chunk.first..chunk.last];
    let found = scan::token_at(ctoks, pos);
    let prev = scan::token_before(ctoks, pos);
    let ctx = Ctx {
        source,
        found,
        prev,
        chunk_kind: toks[chunk.first].text(source),
        at_eof: chunk.end == source.len(),
    };
    let has = |r: Rule| positives.contains(&r);

    if has(Rule::sink_arrow) {
        let name = ctoks.get(1).map_or("", |t| t.text(source));
        return ctx
            .error("E0007", format!("sink `{name}` does not name its input"))
            .with_label(match found {
                Some(_) => format!("expected `<- STREAM`, found {}", ctx.found_desc()),
                None => "expected `<- STREAM` here".to_string(),
            })
            .with_hint("a sink names its input with `<- STREAM`, e.g. `sink out = stdout as jsonl <- late`");
    }
    if let Some(word) = ctx.found_word().filter(|w| KEYWORDS.contains(w))
        && has(Rule::ident)
    {
        return ctx
            .error(
                "E0016",
                format!("expected {}, found keyword `{word}`", ctx.ident_role()),
            )
            .with_label("reserved word")
            .with_hint(format!(
                "`{word}` is a reserved word and cannot be used as a name"
            ));
    }
    if has(Rule::decl_eq) {
        let kind = ctx.chunk_kind;
        let name = prev.map_or("", |t| t.text(source));
        return ctx
            .error("E0003", format!("expected `=` after `{kind} {name}`"))
            .with_label(format!("expected `=`, found {}", ctx.found_desc()))
            .with_hint(format!("a declaration reads `{kind} NAME = ...`"));
    }
    if ctx.found_text() == Some("=") && (has(Rule::cmp_op) || has(Rule::join_eq)) {
        let hint = if has(Rule::join_eq) {
            "use `==` to compare: join conditions read `col == TABLE.col`"
        } else {
            "use `==` to compare"
        };
        return ctx
            .error("E0006", "found `=` where a comparison was expected")
            .with_label("`=` only names things")
            .with_hint(hint);
    }
    if has(Rule::stage) {
        return match ctx.found_word() {
            Some(word) => {
                let guess =
                    stage_synonym(word).or_else(|| did_you_mean(word, STAGES.iter().copied()));
                let guess = guess.map(|g| match g {
                    "group" => "group by",
                    "left" => "left join",
                    g => g,
                });
                ctx.error("E0004", format!("unknown stage `{word}`"))
                    .with_label("not a stage")
                    .with_hint(match guess {
                        Some(g) => format!("did you mean `{g}`?"),
                        None => STAGE_LIST.to_string(),
                    })
            }
            None => ctx
                .error("E0021", "expected a stage after `|`")
                .with_label(match found {
                    Some(_) => format!("found {}", ctx.found_desc()),
                    None => "expected a stage here".to_string(),
                })
                .with_hint(STAGE_LIST),
        };
    }
    if positives.iter().any(|&r| is_expression(r)) && !ctx.found_starts_expression() {
        let after = prev.map_or(String::new(), |p| format!(" after `{}`", p.text(source)));
        return ctx
            .error("E0005", format!("expected an expression{after}"))
            .with_label(match found {
                Some(_) => format!("found {}", ctx.found_desc()),
                None => "expected an expression here".to_string(),
            });
    }
    generic(&ctx, &positives)
}

/// "expected X, Y or Z after `prev`, found `tok`", with a "did you mean" among keywords.
fn generic(ctx: &Ctx<'_>, positives: &[Rule]) -> Diagnostic {
    let operators = positives.iter().any(|&r| is_operator(r));
    let mut words: Vec<String> = Vec::new();
    let mut keywords: Vec<&str> = Vec::new();
    for &r in positives {
        // After a complete operand, `(` and `.` would only continue a call or a column name.
        if operators && matches!(r, Rule::lparen | Rule::dot) {
            continue;
        }
        let word = match (keyword_of(r), describe(r)) {
            (Some(k), _) => {
                keywords.push(k);
                format!("`{k}`")
            }
            (None, Some("a name")) => ctx.ident_role().to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => continue,
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    // "the end of the declaration" reads best last.
    words.sort_by_key(|w| w.starts_with("the end"));
    let expected = match words.len() {
        0 => "something else".to_string(),
        1 => words[0].clone(),
        n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
    };
    let after = match ctx.prev {
        Some(p) if words.len() <= 2 => format!(" after `{}`", p.text(ctx.source)),
        _ => String::new(),
    };
    let mut d = ctx
        .error(
            "E0001",
            format!("expected {expected}{after}, found {}", ctx.found_desc()),
        )
        .with_label(format!("expected {expected}"));
    if let Some(word) = ctx.found_word()
        && let Some(k) = did_you_mean(word, keywords.iter().copied()).or_else(|| {
            // `tumbel` is too far from `tumbling` for edit distance, but shares its start.
            keywords
                .iter()
                .copied()
                .find(|k| word.len() >= 4 && k.len() >= 4 && k[..4] == word[..4])
        })
    {
        d = d.with_hint(format!("did you mean `{k}`?"));
    } else if positives.contains(&Rule::agg_assign) {
        d = d.with_hint("an aggregate names its result column: `n = count()`");
    } else if positives.contains(&Rule::format) && ctx.found_text() == Some("<-") {
        d = d.with_hint(
            "a sink names its input last: `sink NAME = CONNECTOR as FORMAT { .. } <- STREAM`",
        );
    }
    d
}

struct Ctx<'s> {
    source: &'s str,
    found: Option<Tok>,
    prev: Option<Tok>,
    /// The declaration keyword that starts the chunk.
    chunk_kind: &'s str,
    at_eof: bool,
}

impl<'s> Ctx<'s> {
    /// An error pointing at the found token, or just after the previous one when the
    /// declaration simply ends too early.
    fn error(&self, code: &'static str, message: impl Into<String>) -> Diagnostic {
        let span = match (self.found, self.prev) {
            (Some(f), _) => f.span(),
            (None, Some(p)) => Span::new(p.end, p.end),
            (None, None) => Span::default(),
        };
        Diagnostic::error(code, message, span)
    }

    fn found_text(&self) -> Option<&'s str> {
        self.found.map(|t| t.text(self.source))
    }

    fn found_word(&self) -> Option<&'s str> {
        self.found
            .filter(|t| t.kind == TokKind::Word)
            .map(|t| t.text(self.source))
    }

    fn found_desc(&self) -> String {
        match self.found {
            Some(t) => {
                let text = t.text(self.source);
                let short: String = text.chars().take(24).collect();
                let dots = if short.len() < text.len() { ".." } else { "" };
                match t.kind {
                    TokKind::Word if KEYWORDS.contains(&text) => format!("keyword `{short}`"),
                    _ => format!("`{short}{dots}`"),
                }
            }
            None if self.at_eof => "the end of the file".to_string(),
            None => "the next declaration".to_string(),
        }
    }

    /// Whether the found token could begin an expression (then the error lies further in).
    fn found_starts_expression(&self) -> bool {
        match self.found {
            Some(t) => match t.kind {
                TokKind::Word => {
                    !KEYWORDS.contains(&t.text(self.source))
                        || matches!(t.text(self.source), "not" | "true" | "false" | "null")
                }
                TokKind::Number | TokKind::Str { .. } => true,
                TokKind::Punct => matches!(t.text(self.source), "(" | "-"),
                TokKind::Comment => false,
            },
            None => false,
        }
    }

    /// What a bare name means at this point, from the token before it.
    fn ident_role(&self) -> &'static str {
        let prev = self.prev.map_or("", |t| t.text(self.source));
        match prev {
            "=" if self.chunk_kind == "stream" => "an input stream",
            "=" if matches!(self.chunk_kind, "source" | "table" | "sink") => "a connector",
            "as" => "a format",
            "<-" => "the sink's input stream",
            "join" => "a table or stream to join",
            _ => "a name",
        }
    }
}
