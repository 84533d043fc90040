//! `format`: the canonical text of a pipeline (`sluice fmt`).
//!
//! Canonical style: `pipeline NAME` first, one blank line between declarations, two-space
//! indentation inside `{ }`, one setting or schema column per line, streams as
//! `stream NAME = INPUT` followed by one `  | stage` per line (a `select`, `aggregate` or
//! `group by` longer than 100 columns gets one item per line), test rows one per line.
//!
//! Comments are never lost and keep their order. A comment that followed code on its line
//! (`header = true  # csv only`) stays at the end of the line printed last before it; any other
//! comment is printed on its own line before the first item (declaration, setting, column,
//! stage, test rows, row) that starts after it, or before the closing bracket of the block it
//! sits in. Placement depends only on the order of spans, so formatting is idempotent and
//! `parse(format(p)) == p` (spans aside) for any parsed `p`.

use super::format_expr::{SUM_PREC, duration, expr, expr_at, list_of, quote};
use crate::ast::*;

/// Prints a pipeline canonically. The output parses back to the same tree.
pub fn format(p: &Pipeline) -> String {
    let mut f = Printer {
        out: String::new(),
        indent: 0,
        comments: &p.comments,
        next: 0,
        can_trail: false,
    };
    let mut first = true;
    if let Some(name) = &p.name {
        f.comments_before(name.span.start);
        f.line(&format!("pipeline {}", name.name));
        first = false;
    }
    for d in &p.decls {
        if !first {
            f.trailing_before(d.span().start);
            f.blank();
        }
        first = false;
        f.comments_before(d.span().start);
        f.decl(d);
    }
    f.trailing_before(usize::MAX);
    if f.next < p.comments.len() && !first {
        f.blank();
    }
    f.comments_before(usize::MAX);
    f.out
}

struct Printer<'a> {
    out: String,
    indent: usize,
    comments: &'a [Comment],
    /// Index of the first comment not printed yet.
    next: usize,
    /// The last line printed is code without a comment: a trailing comment may go after it.
    can_trail: bool,
}

impl Printer<'_> {
    /// Prints one line of code.
    fn line(&mut self, s: &str) {
        self.raw_line(s);
        self.can_trail = true;
    }

    fn raw_line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn blank(&mut self) {
        self.out.push('\n');
        self.can_trail = false;
    }

    /// Prints the pending comments that start before `pos`: a trailing one at the end of the
    /// last line when that line is code without a comment yet, any other on its own line.
    fn comments_before(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos {
                break;
            }
            self.next += 1;
            if c.trailing && self.can_trail {
                self.out.pop();
                self.out.push_str("  ");
                self.out.push_str(&c.text);
                self.out.push('\n');
            } else {
                let text = c.text.clone();
                self.raw_line(&text);
            }
            self.can_trail = false;
        }
    }

    /// Like `comments_before`, but stops at the first comment that cannot trail the last line
    /// (used before a blank line, which would separate a trailing comment from its code).
    fn trailing_before(&mut self, pos: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= pos || !c.trailing || !self.can_trail {
                break;
            }
            self.comments_before(c.span.start + 1);
        }
    }

    /// Prints `{`-delimited items after `header`: `header {`, the items, `}` + `footer`.
    /// Comments inside the block but after its last item go before the `}`.
    fn block<T>(
        &mut self,
        header: &str,
        items: &[T],
        end: usize,
        footer: &str,
        mut item: impl FnMut(&mut Self, &T),
    ) {
        self.line(&format!("{header} {{"));
        self.indent += 1;
        for it in items {
            item(self, it);
        }
        self.comments_before(end);
        self.indent -= 1;
        self.line(&format!("}}{footer}"));
    }

    fn decl(&mut self, d: &Decl) {
        match d {
            Decl::Source(s) => self.source("source", s),
            Decl::Table(s) => self.source("table", s),
            Decl::Stream(s) => self.stream(s),
            Decl::Sink(s) => self.sink(s),
            Decl::Test(t) => self.test(t),
        }
    }

    fn source(&mut self, kw: &str, s: &SourceDecl) {
        let header = format!(
            "{kw} {} = {}",
            s.name.name,
            connector_as(&s.connector, s.format.as_ref())
        );
        if s.settings.is_empty() {
            self.line(&header);
        } else {
            self.block(&header, &s.settings, s.span.end, "", Self::setting);
        }
    }

    fn sink(&mut self, s: &SinkDecl) {
        let header = format!(
            "sink {} = {}",
            s.name.name,
            connector_as(&s.connector, s.format.as_ref())
        );
        let footer = format!(" <- {}", s.input.name);
        if s.settings.is_empty() {
            self.line(&format!("{header}{footer}"));
        } else {
            self.block(&header, &s.settings, s.span.end, &footer, Self::setting);
        }
    }

    fn setting(&mut self, s: &Setting) {
        self.comments_before(s.span.start);
        let key = &s.key.name;
        match &s.value {
            SettingValue::Schema(cols) if cols.is_empty() => self.line(&format!("{key} {{}}")),
            SettingValue::Schema(cols) => self.block(key, cols, s.span.end, "", |f, c| {
                f.comments_before(c.span.start);
                let q = if c.ty.nullable { "?" } else { "" };
                let fmt = match &c.format {
                    Some((pattern, _)) => format!(" format {}", quote(pattern)),
                    None => String::new(),
                };
                f.line(&format!("{}: {}{q}{fmt}", c.name.name, c.ty.name.name));
            }),
            SettingValue::Connector { connector, format } => {
                self.line(&format!(
                    "{key} = {}",
                    connector_as(connector, format.as_ref())
                ));
            }
            SettingValue::List(names) => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                self.line(&format!("{key} = ({})", names.join(", ")));
            }
            SettingValue::Expr(e) => self.line(&format!("{key} = {}", expr(e))),
        }
    }

    fn stream(&mut self, s: &StreamDecl) {
        let input = match &s.input {
            Input::Name(n) => n.name.clone(),
            Input::Union(names, _) => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                format!("union({})", names.join(", "))
            }
        };
        self.line(&format!("stream {} = {input}", s.name.name));
        self.indent += 1;
        for st in &s.stages {
            self.comments_before(st.span.start);
            let hint = st
                .hint
                .as_ref()
                .map_or(String::new(), |h| format!(" @{}", h.name));
            let one_line = format!("| {}{hint}", stage(&st.kind));
            match stage_list(&st.kind) {
                // Too long for one line: one item per line, continuation indented by 4.
                Some((kw, items))
                    if self.indent * 2 + one_line.len() > WIDTH && items.len() > 1 =>
                {
                    let last = items.len() - 1;
                    for (i, item) in items.iter().enumerate() {
                        let text = match i {
                            0 => format!("| {kw} {item},"),
                            i if i == last => format!("    {item}{hint}"),
                            _ => format!("    {item},"),
                        };
                        self.line(&text);
                    }
                }
                _ => self.line(&one_line),
            }
        }
        self.indent -= 1;
    }

    fn test(&mut self, t: &TestDecl) {
        let mut rows: Vec<(&str, &TestRows)> = t.given.iter().map(|r| ("given", r)).collect();
        rows.extend(t.expect.iter().map(|r| ("expect", r)));
        rows.sort_by_key(|(_, r)| r.span.start);
        let header = format!("test {}", quote(&t.description));
        self.block(&header, &rows, t.span.end, "", |f, (kw, r)| {
            f.comments_before(r.span.start);
            let head = format!("{kw} {} =", r.name.name);
            if r.rows.is_empty() {
                f.line(&format!("{head} []"));
                return;
            }
            f.line(&format!("{head} ["));
            f.indent += 1;
            for row in &r.rows {
                f.comments_before(row.span.start);
                let fields: Vec<String> = row
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.name, expr(v)))
                    .collect();
                if fields.is_empty() {
                    f.line("{},");
                } else {
                    f.line(&format!("{{ {} }},", fields.join(", ")));
                }
            }
            f.comments_before(r.span.end);
            f.indent -= 1;
            f.line("]");
        });
    }
}

/// `file("x") as csv`, `stdin`, `generator(nexmark, events = 10)`.
fn connector_as(c: &Connector, format: Option<&Ident>) -> String {
    let mut s = c.name.name.clone();
    if let Some(args) = &c.args {
        let args: Vec<String> = args
            .iter()
            .map(|a| match &a.name {
                Some(n) => format!("{} = {}", n.name, expr(&a.value)),
                None => expr(&a.value),
            })
            .collect();
        s.push_str(&format!("({})", args.join(", ")));
    }
    if let Some(f) = format {
        s.push_str(&format!(" as {}", f.name));
    }
    s
}

/// Lines longer than this are wrapped where a stage has a list (`select`, `aggregate`,
/// `group by`).
const WIDTH: usize = 100;

/// The keyword and items of a stage that is a comma-separated list.
fn stage_list(k: &StageKind) -> Option<(&'static str, Vec<String>)> {
    match k {
        StageKind::Select(items) => Some(("select", select_items(items))),
        StageKind::Aggregate(items) => Some(("aggregate", agg_items(items))),
        StageKind::GroupBy(keys) => Some(("group by", keys.iter().map(expr).collect())),
        _ => None,
    }
}

fn select_items(items: &[SelectItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.alias {
            Some(a) => format!("{} = {}", a.name, expr(&i.expr)),
            None => expr(&i.expr),
        })
        .collect()
}

fn agg_items(items: &[AggItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{} = {}", i.alias.name, expr(&i.expr)))
        .collect()
}

/// One stage on one line, without its `| ` and hint.
fn stage(k: &StageKind) -> String {
    match k {
        StageKind::Where(e) => format!("where {}", expr(e)),
        StageKind::Window(w) => match w {
            WindowSpec::Tumbling { size } => format!("window tumbling({})", duration(size.millis)),
            WindowSpec::Sliding { size, every } => format!(
                "window sliding({}, every {})",
                duration(size.millis),
                duration(every.millis)
            ),
            WindowSpec::Session { gap } => format!("window session(gap {})", duration(gap.millis)),
        },
        StageKind::Join(j) => {
            let conds: Vec<String> =
                j.on.iter()
                    .map(|c| {
                        format!(
                            "{} == {}",
                            expr_at(&c.left, SUM_PREC),
                            expr_at(&c.right, SUM_PREC)
                        )
                    })
                    .collect();
            let left = if j.left { "left " } else { "" };
            let within = j
                .within
                .map_or(String::new(), |d| format!(" within {}", duration(d.millis)));
            format!(
                "{left}join {} on {}{within}",
                j.right.name,
                conds.join(" and ")
            )
        }
        StageKind::Top(t) => {
            let by: Vec<String> =
                t.by.iter()
                    .map(|k| {
                        let dir = match (k.descending, k.explicit) {
                            (true, _) => " desc",
                            (false, true) => " asc",
                            (false, false) => "",
                        };
                        format!("{}{dir}", expr(&k.expr))
                    })
                    .collect();
            let per = if t.per.is_empty() {
                String::new()
            } else {
                format!(" per {}", list_of(&t.per))
            };
            format!("top {} by {}{per}", t.k, by.join(", "))
        }
        StageKind::Distinct { on, within } => {
            format!(
                "distinct on {} within {}",
                list_of(on),
                duration(within.millis)
            )
        }
        StageKind::Route(r) => match r {
            RouteSpec::Geo { lat, lon } => format!("route by geo({}, {})", expr(lat), expr(lon)),
            RouteSpec::Hash(keys) => format!("route by hash({})", list_of(keys)),
            RouteSpec::RoundRobin => "route round_robin".to_string(),
        },
        StageKind::Select(items) => format!("select {}", select_items(items).join(", ")),
        StageKind::Aggregate(items) => format!("aggregate {}", agg_items(items).join(", ")),
        StageKind::GroupBy(keys) => format!("group by {}", list_of(keys)),
    }
}
