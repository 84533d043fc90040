//! Turns pest's parse tree of one declaration chunk into AST nodes.
//!
//! The grammar already guarantees the shape, so this code only reads children in order. It
//! still reports errors that the grammar deliberately lets through (a bad duration unit, an
//! integer that does not fit, an invalid timestamp) so they get precise messages; the node then
//! keeps a placeholder value and the declaration stays in the AST.

use pest::iterators::Pair;

use super::parser::Rule;
use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// What one chunk turned into.
pub(crate) enum Built {
    Name(Ident),
    Decl(Decl),
}

/// Builds AST nodes, shifting pest's chunk-relative positions by `base`.
pub(crate) struct Builder {
    pub base: usize,
    pub diags: Vec<Diagnostic>,
}

/// Punctuation rules exist only so that errors can name them; the AST has no use for them.
fn is_punct(r: Rule) -> bool {
    matches!(
        r,
        Rule::lparen
            | Rule::rparen
            | Rule::lbrace
            | Rule::rbrace
            | Rule::lbracket
            | Rule::rbracket
            | Rule::comma
            | Rule::colon
            | Rule::dot
            | Rule::pipe
            | Rule::sink_arrow
            | Rule::decl_eq
            | Rule::assign
            | Rule::agg_assign
            | Rule::join_eq
            | Rule::EOI
    )
}

/// Children of `p` without punctuation.
pub(crate) fn kids(p: Pair<'_, Rule>) -> Vec<Pair<'_, Rule>> {
    p.into_inner().filter(|c| !is_punct(c.as_rule())).collect()
}

/// Children of `p` without punctuation or any of the given keyword rules.
fn kids_without<'i>(p: Pair<'i, Rule>, skip: &[Rule]) -> Vec<Pair<'i, Rule>> {
    kids(p)
        .into_iter()
        .filter(|c| !skip.contains(&c.as_rule()))
        .collect()
}

impl Builder {
    pub fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    pub fn ident(&self, p: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    /// `chunk` -> the declaration inside it.
    pub fn chunk(&mut self, chunk: Pair<'_, Rule>) -> Option<Built> {
        let decl = kids(chunk).into_iter().next()?;
        let span = self.span(&decl);
        let rule = decl.as_rule();
        Some(match rule {
            Rule::pipeline_decl => {
                let k = kids_without(decl, &[Rule::kw_pipeline]);
                Built::Name(self.ident(&k[0]))
            }
            Rule::source_decl | Rule::table_decl => {
                let mut k = kids_without(decl, &[Rule::kw_source, Rule::kw_table]).into_iter();
                let name = self.ident(&k.next()?);
                let connector = self.connector(k.next()?);
                let mut format = None;
                let mut settings = Vec::new();
                for p in k {
                    match p.as_rule() {
                        Rule::format => format = Some(self.format(p)),
                        _ => settings = self.settings(p),
                    }
                }
                let d = SourceDecl {
                    name,
                    connector,
                    format,
                    settings,
                    span,
                };
                Built::Decl(if rule == Rule::source_decl {
                    Decl::Source(d)
                } else {
                    Decl::Table(d)
                })
            }
            Rule::sink_decl => {
                let mut k = kids_without(decl, &[Rule::kw_sink]).into_iter();
                let name = self.ident(&k.next()?);
                let connector = self.connector(k.next()?);
                let mut format = None;
                let mut settings = Vec::new();
                let mut input = None;
                for p in k {
                    match p.as_rule() {
                        Rule::format => format = Some(self.format(p)),
                        Rule::settings => settings = self.settings(p),
                        _ => input = Some(self.ident(&p)),
                    }
                }
                Built::Decl(Decl::Sink(SinkDecl {
                    name,
                    connector,
                    format,
                    settings,
                    input: input?,
                    span,
                }))
            }
            Rule::stream_decl => {
                let mut k = kids_without(decl, &[Rule::kw_stream]).into_iter();
                let name = self.ident(&k.next()?);
                let input = k.next()?;
                let input = if input.as_rule() == Rule::union_input {
                    let s = self.span(&input);
                    let names = kids_without(input, &[Rule::kw_union]);
                    Input::Union(names.iter().map(|n| self.ident(n)).collect(), s)
                } else {
                    Input::Name(self.ident(&input))
                };
                let stages = k.map(|p| self.stage(p)).collect();
                Built::Decl(Decl::Stream(StreamDecl {
                    name,
                    input,
                    stages,
                    span,
                }))
            }
            _ => {
                let mut k = kids_without(decl, &[Rule::kw_test]).into_iter();
                let description = self.string(&k.next()?);
                let mut given = Vec::new();
                let mut expect = Vec::new();
                for rows in k {
                    let s = self.span(&rows);
                    let mut r = kids(rows).into_iter();
                    let which = r.next()?.as_rule();
                    let name = self.ident(&r.next()?);
                    let rows = r.map(|row| self.row(row)).collect();
                    let t = TestRows {
                        name,
                        rows,
                        span: s,
                    };
                    if which == Rule::kw_given {
                        given.push(t);
                    } else {
                        expect.push(t);
                    }
                }
                Built::Decl(Decl::Test(TestDecl {
                    description,
                    given,
                    expect,
                    span,
                }))
            }
        })
    }

    fn row(&mut self, row: Pair<'_, Rule>) -> RowLit {
        let span = self.span(&row);
        let fields = kids(row)
            .into_iter()
            .map(|f| {
                let mut k = kids(f).into_iter();
                let name = k.next().map(|n| self.ident(&n));
                let value = k.next().map(|e| self.expr(e));
                (name, value)
            })
            .filter_map(|(n, v)| Some((n?, v?)))
            .collect();
        RowLit { fields, span }
    }

    pub fn connector(&mut self, p: Pair<'_, Rule>) -> Connector {
        let span = self.span(&p);
        let has_parens = p.clone().into_inner().any(|c| c.as_rule() == Rule::lparen);
        let mut k = kids(p).into_iter();
        let name = k.next().map(|n| self.ident(&n)).unwrap_or_else(|| Ident {
            name: String::new(),
            span,
        });
        let args: Vec<Arg> = k
            .map(|arg| {
                let mut a = kids(arg).into_iter().peekable();
                let name = match a.peek() {
                    Some(n) if n.as_rule() == Rule::arg_name => {
                        let n = a.next().expect("peeked");
                        kids(n).first().map(|i| self.ident(i))
                    }
                    _ => None,
                };
                let value = a.next().map(|e| self.expr(e)).unwrap_or_else(|| Expr {
                    kind: ExprKind::Literal(Literal::Null),
                    span,
                });
                Arg { name, value }
            })
            .collect();
        Connector {
            name,
            args: has_parens.then_some(args),
            span,
        }
    }

    fn format(&self, p: Pair<'_, Rule>) -> Ident {
        let k = kids_without(p, &[Rule::kw_as]);
        self.ident(&k[0])
    }

    fn settings(&mut self, p: Pair<'_, Rule>) -> Vec<Setting> {
        kids(p).into_iter().map(|s| self.setting(s)).collect()
    }

    fn setting(&mut self, p: Pair<'_, Rule>) -> Setting {
        let span = self.span(&p);
        if p.as_rule() == Rule::schema_setting {
            let mut k = kids(p).into_iter();
            let key = k.next().map(|kw| self.ident(&kw)).expect("schema keyword");
            let cols = k
                .map(|col| {
                    let cspan = self.span(&col);
                    let mut c = kids(col).into_iter();
                    let name = self.ident(&c.next().expect("column name"));
                    let ty = c.next().expect("column type");
                    let tspan = self.span(&ty);
                    let t = kids(ty);
                    let ty = TypeName {
                        name: self.ident(&t[0]),
                        nullable: t.len() > 1,
                        span: tspan,
                    };
                    let format = c.next().and_then(|f| kids(f).into_iter().nth(1)).map(|s| {
                        let span = self.span(&s);
                        (self.string(&s), span)
                    });
                    ColumnDef {
                        name,
                        ty,
                        format,
                        span: cspan,
                    }
                })
                .collect();
            return Setting {
                key,
                value: SettingValue::Schema(cols),
                span,
            };
        }
        let mut k = kids(p).into_iter();
        let key = self.ident(&k.next().expect("setting key"));
        let v = k.next().expect("setting value");
        let value = match v.as_rule() {
            Rule::connector_value => {
                let mut c = kids(v).into_iter();
                let connector = self.connector(c.next().expect("connector"));
                let format = c.next().map(|f| self.format(f));
                SettingValue::Connector { connector, format }
            }
            Rule::ident_list => SettingValue::List(kids(v).iter().map(|i| self.ident(i)).collect()),
            _ => SettingValue::Expr(self.expr(v)),
        };
        Setting { key, value, span }
    }

    fn stage(&mut self, p: Pair<'_, Rule>) -> Stage {
        let span = self.span(&p);
        let mut k = kids(p).into_iter();
        let body = k.next().expect("stage body");
        let hint = k.next().map(|h| {
            let id = self.ident(&kids(h)[0]);
            if id.name != "gpu" && id.name != "cpu" {
                self.diags.push(
                    Diagnostic::error(
                        "E0018",
                        format!("unknown placement hint `@{}`", id.name),
                        id.span,
                    )
                    .with_label("not a placement hint")
                    .with_hint("placement hints are `@gpu` and `@cpu`"),
                );
            }
            id
        });
        let kind = self.stage_kind(body);
        Stage { kind, hint, span }
    }

    fn stage_kind(&mut self, body: Pair<'_, Rule>) -> StageKind {
        let rule = body.as_rule();
        let k = kids(body);
        match rule {
            Rule::where_stage => StageKind::Where(self.expr(k[1].clone())),
            Rule::select_stage => StageKind::Select(
                k.into_iter()
                    .skip(1)
                    .map(|item| {
                        let span = self.span(&item);
                        let mut it = kids(item).into_iter().peekable();
                        let alias = match it.peek() {
                            Some(a) if a.as_rule() == Rule::alias => {
                                let a = it.next().expect("peeked");
                                Some(self.ident(&kids(a)[0]))
                            }
                            _ => None,
                        };
                        let expr = self.expr(it.next().expect("select expression"));
                        SelectItem { alias, expr, span }
                    })
                    .collect(),
            ),
            Rule::window_stage => {
                let spec = k[1].clone();
                let srule = spec.as_rule();
                let d = kids(spec)
                    .into_iter()
                    .filter(|c| c.as_rule() == Rule::duration)
                    .map(|c| self.duration(c))
                    .collect::<Vec<_>>();
                StageKind::Window(match srule {
                    Rule::tumbling => WindowSpec::Tumbling { size: d[0] },
                    Rule::sliding => WindowSpec::Sliding {
                        size: d[0],
                        every: d[1],
                    },
                    _ => WindowSpec::Session { gap: d[0] },
                })
            }
            Rule::group_stage => {
                StageKind::GroupBy(k.into_iter().skip(2).map(|e| self.expr(e)).collect())
            }
            Rule::aggregate_stage => StageKind::Aggregate(
                k.into_iter()
                    .skip(1)
                    .map(|item| {
                        let span = self.span(&item);
                        let mut it = kids(item).into_iter();
                        let alias = self.ident(&it.next().expect("aggregate alias"));
                        let expr = self.expr(it.next().expect("aggregate expression"));
                        AggItem { alias, expr, span }
                    })
                    .collect(),
            ),
            Rule::join_stage => self.join(k),
            Rule::top_stage => self.top(k),
            Rule::distinct_stage => {
                let mut on = Vec::new();
                let mut within = None;
                for c in k {
                    match c.as_rule() {
                        Rule::expr => on.push(self.expr(c)),
                        Rule::duration => within = Some(self.duration(c)),
                        _ => {}
                    }
                }
                StageKind::Distinct {
                    on,
                    within: within.expect("distinct needs within"),
                }
            }
            _ => {
                let last = k.last().expect("route spec").clone();
                StageKind::Route(match last.as_rule() {
                    Rule::geo_route => {
                        let e = kids_without(last, &[Rule::kw_geo]);
                        RouteSpec::Geo {
                            lat: self.expr(e[0].clone()),
                            lon: self.expr(e[1].clone()),
                        }
                    }
                    Rule::hash_route => RouteSpec::Hash(
                        kids_without(last, &[Rule::kw_hash])
                            .into_iter()
                            .map(|e| self.expr(e))
                            .collect(),
                    ),
                    _ => RouteSpec::RoundRobin,
                })
            }
        }
    }

    fn join(&mut self, k: Vec<Pair<'_, Rule>>) -> StageKind {
        let mut left = false;
        let mut right = None;
        let mut on = Vec::new();
        let mut within = None;
        for c in k {
            match c.as_rule() {
                Rule::kw_left => left = true,
                Rule::ident => right = Some(self.ident(&c)),
                Rule::join_cond => {
                    let span = self.span(&c);
                    let e = kids(c);
                    on.push(JoinCondition {
                        left: self.expr(e[0].clone()),
                        right: self.expr(e[1].clone()),
                        span,
                    });
                }
                Rule::duration => within = Some(self.duration(c)),
                _ => {}
            }
        }
        StageKind::Join(JoinSpec {
            left,
            right: right.expect("join names its right side"),
            on,
            within,
        })
    }

    fn top(&mut self, k: Vec<Pair<'_, Rule>>) -> StageKind {
        let mut spec = TopSpec {
            k: 0,
            k_span: Span::default(),
            by: Vec::new(),
            per: Vec::new(),
        };
        for c in k {
            match c.as_rule() {
                Rule::number => {
                    spec.k_span = self.span(&c);
                    spec.k = self.count(&c);
                }
                Rule::sort_key => {
                    let mut s = kids(c).into_iter();
                    let expr = self.expr(s.next().expect("sort expression"));
                    let dir = s.next().map(|d| d.as_rule());
                    spec.by.push(SortKey {
                        expr,
                        descending: dir == Some(Rule::kw_desc),
                        explicit: dir.is_some(),
                    });
                }
                Rule::expr => spec.per.push(self.expr(c)),
                _ => {}
            }
        }
        StageKind::Top(spec)
    }
}
