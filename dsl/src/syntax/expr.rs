//! Expressions and literals: pest pairs -> [`Expr`], with the checks on literal text that the
//! grammar leaves to us (units, ranges, escapes, RFC 3339).
//!
//! A minus sign written directly before a plain number is folded into the literal (`-7` is
//! `Literal::Int(-7)`, which is also how `i64::MIN` can be written); the formatter prints it back
//! the same way, so format and parse round trip exactly.

use pest::iterators::Pair;

use super::build::{Builder, kids};
use super::parser::Rule;
use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// Duration units and their length in milliseconds, longest first for printing.
pub(crate) const UNITS: &[(&str, i64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const UNIT_HINT: &str = "duration units are ms, s, m, h, d";

/// A number token split into its numeric part and its unit (or junk) suffix.
struct NumText<'a> {
    num: &'a str,
    suffix: &'a str,
    is_float: bool,
}

fn split_number(text: &str) -> NumText<'_> {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    let mut is_float = false;
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
        is_float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(j);
            is_float = true;
        }
    }
    NumText {
        num: &text[..i],
        suffix: &text[i..],
        is_float,
    }
}

/// Suggests the unit someone meant by `sec`, `mins`, `hours`, ...
fn unit_for(suffix: &str) -> Option<&'static str> {
    Some(match suffix.to_ascii_lowercase().as_str() {
        "msec" | "msecs" | "millis" | "milliseconds" | "millisecond" => "ms",
        "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minute" | "minutes" => "m",
        "hr" | "hrs" | "hour" | "hours" => "h",
        "day" | "days" => "d",
        _ => return None,
    })
}

impl Builder {
    /// Any expression-level rule.
    pub fn expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        match p.as_rule() {
            Rule::expr | Rule::and_expr | Rule::sum_expr | Rule::prod_expr => self.chain(p),
            Rule::not_expr => {
                let span = self.span(&p);
                let k = kids(p);
                if k[0].as_rule() == Rule::kw_not {
                    let inner = self.expr(k[1].clone());
                    Expr {
                        kind: ExprKind::Unary {
                            op: UnaryOp::Not,
                            expr: Box::new(inner),
                        },
                        span,
                    }
                } else {
                    self.expr(k[0].clone())
                }
            }
            Rule::cmp_expr => self.comparison(p),
            Rule::unary => self.unary(p),
            _ => self.primary(p),
        }
    }

    /// Left-associative chains: `a or b`, `a and b`, `a + b - c`, `a * b`.
    fn chain(&mut self, p: Pair<'_, Rule>) -> Expr {
        let mut k = kids(p).into_iter();
        let mut left = self.expr(k.next().expect("operand"));
        while let Some(op) = k.next() {
            let op = match (op.as_rule(), op.as_str()) {
                (Rule::kw_or, _) => BinaryOp::Or,
                (Rule::kw_and, _) => BinaryOp::And,
                (_, "+") => BinaryOp::Add,
                (_, "-") => BinaryOp::Sub,
                (_, "*") => BinaryOp::Mul,
                (_, "/") => BinaryOp::Div,
                _ => BinaryOp::Mod,
            };
            let right = self.expr(k.next().expect("operand"));
            left = binary(op, left, right);
        }
        left
    }

    fn comparison(&mut self, p: Pair<'_, Rule>) -> Expr {
        let mut k = kids(p).into_iter();
        let mut left = self.expr(k.next().expect("operand"));
        while let Some(t) = k.next() {
            let end = self.span(&t).end;
            let span = Span::new(left.span.start, end);
            left = match t.as_rule() {
                Rule::cmp_op => {
                    let op = match t.as_str() {
                        "==" => BinaryOp::Eq,
                        "!=" => BinaryOp::NotEq,
                        "<" => BinaryOp::Lt,
                        "<=" => BinaryOp::LtEq,
                        ">" => BinaryOp::Gt,
                        _ => BinaryOp::GtEq,
                    };
                    let right = self.expr(k.next().expect("operand"));
                    binary(op, left, right)
                }
                Rule::is_null => {
                    let negated = kids(t).iter().any(|c| c.as_rule() == Rule::kw_not);
                    Expr {
                        kind: ExprKind::IsNull {
                            expr: Box::new(left),
                            negated,
                        },
                        span,
                    }
                }
                _ => {
                    let parts = kids(t);
                    let negated = parts.iter().any(|c| c.as_rule() == Rule::kw_not);
                    let list = parts
                        .into_iter()
                        .filter(|c| c.as_rule() == Rule::expr)
                        .map(|e| self.expr(e))
                        .collect();
                    Expr {
                        kind: ExprKind::InList {
                            expr: Box::new(left),
                            list,
                            negated,
                        },
                        span,
                    }
                }
            };
        }
        left
    }

    fn unary(&mut self, p: Pair<'_, Rule>) -> Expr {
        let k = kids(p);
        let (negs, prim) = k.split_at(k.len() - 1);
        let prim = prim[0].clone();
        let mut negs: Vec<Span> = negs.iter().map(|n| self.span(n)).collect();
        let mut e = match negs.last() {
            Some(&minus)
                if prim.as_rule() == Rule::number
                    && split_number(prim.as_str()).suffix.is_empty() =>
            {
                negs.pop();
                let mut lit = self.number_literal(&prim, true);
                lit.span.start = minus.start;
                lit
            }
            _ => self.primary(prim),
        };
        for minus in negs.into_iter().rev() {
            let span = Span::new(minus.start, e.span.end);
            e = Expr {
                kind: ExprKind::Unary {
                    op: UnaryOp::Neg,
                    expr: Box::new(e),
                },
                span,
            };
        }
        e
    }

    fn primary(&mut self, p: Pair<'_, Rule>) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::paren => ExprKind::Paren(Box::new(self.expr(kids(p)[0].clone()))),
            Rule::call => {
                let mut k = kids(p).into_iter();
                let func = self.ident(&k.next().expect("function name"));
                let args = k.map(|a| self.expr(a)).collect();
                ExprKind::Call { func, args }
            }
            Rule::column => {
                let k = kids(p);
                if k.len() == 2 {
                    ExprKind::Column {
                        qualifier: Some(self.ident(&k[0])),
                        name: self.ident(&k[1]),
                    }
                } else {
                    ExprKind::Column {
                        qualifier: None,
                        name: self.ident(&k[0]),
                    }
                }
            }
            Rule::number => return self.number_literal(&p, false),
            Rule::string => ExprKind::Literal(Literal::String(self.string(&p))),
            Rule::timestamp => ExprKind::Literal(self.timestamp(&p)),
            Rule::kw_true => ExprKind::Literal(Literal::Bool(true)),
            Rule::kw_false => ExprKind::Literal(Literal::Bool(false)),
            _ => ExprKind::Literal(Literal::Null),
        };
        Expr { kind, span }
    }

    /// A number token as a literal: int, float or duration. Errors leave a placeholder value.
    fn number_literal(&mut self, p: &Pair<'_, Rule>, negative: bool) -> Expr {
        let span = self.span(p);
        let text = p.as_str();
        let n = split_number(text);
        let sign = if negative { "-" } else { "" };
        let lit = if !n.suffix.is_empty() {
            Literal::Duration(self.duration_millis(text, span))
        } else if n.is_float {
            let v: f64 = format!("{sign}{}", n.num).parse().unwrap_or(f64::NAN);
            if !v.is_finite() {
                self.diags.push(
                    Diagnostic::error(
                        "E0014",
                        format!("float literal `{sign}{text}` is out of range"),
                        span,
                    )
                    .with_label("does not fit in a 64-bit float")
                    .with_hint("the largest float is about 1.8e308"),
                );
                Literal::Float(0.0)
            } else {
                Literal::Float(v)
            }
        } else {
            match format!("{sign}{}", n.num).parse::<i64>() {
                Ok(v) => Literal::Int(v),
                Err(_) => {
                    self.diags.push(
                        Diagnostic::error(
                            "E0013",
                            format!("integer literal `{sign}{text}` is too large"),
                            span,
                        )
                        .with_label("does not fit in a 64-bit int")
                        .with_hint(format!(
                            "ints range from {} to {}; write a float like `{sign}{}.0` instead",
                            i64::MIN,
                            i64::MAX,
                            n.num
                        )),
                    );
                    Literal::Int(if negative { i64::MIN } else { i64::MAX })
                }
            }
        };
        Expr {
            kind: ExprKind::Literal(lit),
            span,
        }
    }

    /// Milliseconds of a number token with a unit; reports a bad unit, a fractional or an
    /// overflowing duration (and returns 0 then).
    fn duration_millis(&mut self, text: &str, span: Span) -> i64 {
        let n = split_number(text);
        let Some(&(_, unit)) = UNITS.iter().find(|(u, _)| *u == n.suffix) else {
            let hint = match unit_for(n.suffix) {
                Some(u) => format!("write `{}{u}`; {UNIT_HINT}", n.num),
                None => UNIT_HINT.to_string(),
            };
            self.diags.push(
                Diagnostic::error(
                    "E0011",
                    format!("unknown duration unit `{}` in `{text}`", n.suffix),
                    span,
                )
                .with_label("unknown unit")
                .with_hint(hint),
            );
            return 0;
        };
        if n.is_float {
            self.diags.push(
                Diagnostic::error(
                    "E0011",
                    format!("duration `{text}` is not a whole number"),
                    span,
                )
                .with_label("fractional duration")
                .with_hint(format!(
                    "write it as a whole number of a smaller unit, like `90m`; {UNIT_HINT}"
                )),
            );
            return 0;
        }
        match n.num.parse::<i64>().ok().and_then(|v| v.checked_mul(unit)) {
            Some(ms) => ms,
            None => {
                self.diags.push(
                    Diagnostic::error("E0013", format!("duration `{text}` is too large"), span)
                        .with_label("does not fit in 64-bit milliseconds"),
                );
                0
            }
        }
    }

    /// A `duration` rule: the number must carry a unit.
    pub fn duration(&mut self, p: Pair<'_, Rule>) -> DurationLit {
        let num = kids(p).into_iter().next().expect("number");
        let span = self.span(&num);
        let text = num.as_str();
        let n = split_number(text);
        if n.suffix.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "E0019",
                    format!("expected a duration, found `{text}`"),
                    span,
                )
                .with_label("this number has no unit")
                .with_hint(format!("add a unit, like `{}s`; {UNIT_HINT}", n.num)),
            );
            return DurationLit { millis: 0, span };
        }
        DurationLit {
            millis: self.duration_millis(text, span),
            span,
        }
    }

    /// The `K` of `top K`: a whole number.
    pub fn count(&mut self, p: &Pair<'_, Rule>) -> i64 {
        let span = self.span(p);
        match self.number_literal(p, false).kind {
            ExprKind::Literal(Literal::Int(k)) => k,
            _ => {
                if !self.diags.iter().any(|d| d.span.start == span.start) {
                    self.diags.push(
                        Diagnostic::error(
                            "E0020",
                            format!("expected a row count after `top`, found `{}`", p.as_str()),
                            span,
                        )
                        .with_label("not a whole number")
                        .with_hint("write a whole number, like `top 3 by n desc`"),
                    );
                }
                0
            }
        }
    }

    /// The value of a string token, escapes decoded.
    pub fn string(&mut self, p: &Pair<'_, Rule>) -> String {
        let start = self.span(p).start;
        let text = p.as_str();
        let inner = &text[1..text.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let (_, e) = chars.next().expect("grammar: escape has a character");
            let decoded = match e {
                '"' => Some('"'),
                '\\' => Some('\\'),
                'n' => Some('\n'),
                't' => Some('\t'),
                'u' => {
                    let rest = &inner[i + 2..];
                    let close = rest.starts_with('{').then(|| rest.find('}')).flatten();
                    match close {
                        Some(close) => {
                            // Skip `{hex}`: its last byte is at `i + 2 + close`.
                            while chars.next_if(|&(j, _)| j <= i + 2 + close).is_some() {}
                            u32::from_str_radix(&rest[1..close], 16)
                                .ok()
                                .and_then(char::from_u32)
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            match decoded {
                Some(d) => out.push(d),
                None => {
                    let end = chars.peek().map_or(inner.len(), |(j, _)| *j);
                    let esc = &inner[i..end];
                    let span = Span::new(start + 1 + i, start + 1 + end);
                    self.diags.push(
                        Diagnostic::error(
                            "E0015",
                            format!("invalid escape `{esc}` in string"),
                            span,
                        )
                        .with_label("unknown escape")
                        .with_hint(
                            "escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\u{..}` \
                                 (a hex code point, like `\\u{e9}`)",
                        ),
                    );
                }
            }
        }
        out
    }

    /// Milliseconds since the epoch of an `@` RFC 3339 literal.
    /// `@1996-03-13` is a date, anything else after `@` an RFC 3339 timestamp.
    fn timestamp(&mut self, p: &Pair<'_, Rule>) -> Literal {
        let text = p.as_str();
        if !text.contains(['T', 't', ' ', ':']) {
            return match crate::time_format::parse_iso_date(&text[1..]) {
                Some(days) => Literal::Date(days),
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            "E0012",
                            format!("invalid date literal `{text}`"),
                            self.span(p),
                        )
                        .with_label("not a calendar day `YYYY-MM-DD`")
                        .with_hint("write a date like `@1996-03-13`, or a time like `@2013-01-01T05:00:00Z`"),
                    );
                    Literal::Date(0)
                }
            };
        }
        match chrono::DateTime::parse_from_rfc3339(&text[1..]) {
            Ok(t) => Literal::Timestamp(t.timestamp_millis()),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "E0012",
                        format!("invalid timestamp literal `{text}`"),
                        self.span(p),
                    )
                    .with_label(e.to_string())
                    .with_hint("write an RFC 3339 time, like `@2013-01-01T05:00:00Z`"),
                );
                Literal::Timestamp(0)
            }
        }
    }
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    let span = left.span.to(right.span);
    Expr {
        kind: ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        span,
    }
}
