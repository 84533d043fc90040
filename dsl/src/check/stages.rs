//! The stages of a stream: `where`, `select`, `[window] [group by] aggregate`, `top`,
//! `distinct`, `route` (joins are in `join.rs`).
//!
//! Each stage maps the scope flowing into it to the scope flowing out. A stage that fails still
//! produces the best scope it can (known names, unknown types), so later stages are checked
//! without repeating the first error.

use super::expr::widen;
use super::scope::{Col, EventTime, Scope};
use super::{Checker, suggest};
use crate::ast::{
    Expr, ExprKind, Ident, RouteSpec, SelectItem, Span, Stage, StageKind, WindowSpec,
};
use crate::diagnostic::Diagnostic;
use crate::plan::{
    AggCall, DataType, OpKind, Operator, Placement, RouteKind, TypedExpr, WindowKind,
};

impl Checker<'_> {
    /// Checks the stages of a stream reading `scope`. Returns the operators (`None` after an
    /// error) and the output scope.
    pub fn stages(&mut self, mut scope: Scope, stages: &[Stage]) -> (Option<Vec<Operator>>, Scope) {
        let mut ops = Vec::new();
        let mut ok = true;
        let mut i = 0;
        while i < stages.len() {
            let st = &stages[i];
            let mut advance = 1;
            let (kind, next, span, placement) = match &st.kind {
                StageKind::Window(_) | StageKind::GroupBy(_) | StageKind::Aggregate(_) => {
                    let mut j = i;
                    let window = match &stages[j].kind {
                        StageKind::Window(w) => {
                            j += 1;
                            Some((w, stages[i].span))
                        }
                        _ => None,
                    };
                    let group = match stages.get(j).map(|s| &s.kind) {
                        Some(StageKind::GroupBy(keys)) => {
                            j += 1;
                            Some(keys)
                        }
                        _ => None,
                    };
                    let Some(Stage {
                        kind: StageKind::Aggregate(items),
                        span: agg_span,
                        ..
                    }) = stages.get(j)
                    else {
                        self.missing_aggregate(&stages[i], stages.get(j));
                        ok = false;
                        i = j.max(i + 1);
                        continue;
                    };
                    advance = j - i + 1;
                    let placement = self.placement(&stages[i..=j]);
                    let (kind, out) =
                        self.aggregate(&scope, window, group.map(Vec::as_slice), items);
                    (kind, out, st.span.to(*agg_span), placement)
                }
                _ => {
                    let placement = self.placement(std::slice::from_ref(st));
                    let (kind, out) = self.stage(&scope, st);
                    (kind, out, st.span, placement)
                }
            };
            i += advance;
            scope = next;
            match (kind, placement) {
                (Some(kind), Some(placement)) => ops.push(Operator {
                    kind,
                    schema: scope.schema_lossy(),
                    placement,
                    span,
                }),
                _ => ok = false,
            }
        }
        (ok.then_some(ops), scope)
    }

    fn missing_aggregate(&mut self, first: &Stage, found: Option<&Stage>) {
        let after = match found {
            Some(s) => format!("found `{}` instead", s.kind.keyword()),
            None => "the stream ends here".to_string(),
        };
        let (code, msg, label) = match first.kind {
            StageKind::Window(_) => (
                "E0221",
                "a window needs `aggregate` after it",
                "window without aggregate",
            ),
            _ => (
                "E0222",
                "`group by` needs `aggregate` after it",
                "group by without aggregate",
            ),
        };
        self.report(
            Diagnostic::error(code, msg, first.span)
                .with_label(label)
                .with_hint(format!(
                    "{after}; add e.g. `| aggregate n = count()` right after it"
                )),
        );
    }

    /// `@gpu` / `@cpu` on any of the stages (the last one written wins).
    fn placement(&mut self, stages: &[Stage]) -> Option<Placement> {
        let mut placement = Some(Placement::Auto);
        for hint in stages.iter().filter_map(|s| s.hint.as_ref()) {
            placement = match hint.name.as_str() {
                "gpu" => placement.map(|_| Placement::Gpu),
                "cpu" => placement.map(|_| Placement::Cpu),
                other => {
                    self.report(
                        Diagnostic::error(
                            "E0232",
                            format!("unknown placement hint `@{other}`"),
                            hint.span,
                        )
                        .with_label("unknown hint")
                        .with_hint(suggest(
                            other,
                            &["gpu", "cpu"],
                            "hints",
                        )),
                    );
                    None
                }
            };
        }
        placement
    }

    /// Every stage but the aggregate family.
    fn stage(&mut self, scope: &Scope, st: &Stage) -> (Option<OpKind>, Scope) {
        match &st.kind {
            StageKind::Where(e) => {
                let p = self.predicate(scope, e, "where");
                (p.map(OpKind::Filter), scope.clone())
            }
            StageKind::Select(items) => self.select(scope, items),
            StageKind::Join(spec) => self.join(scope, spec),
            StageKind::Top(spec) => {
                let mut ok = true;
                if spec.k <= 0 {
                    self.report(
                        Diagnostic::error(
                            "E0233",
                            format!("`top` needs a positive count, found {}", spec.k),
                            spec.k_span,
                        )
                        .with_label("not positive")
                        .with_hint("e.g. `top 3 by n desc`"),
                    );
                    ok = false;
                }
                let by: Vec<Option<(TypedExpr, bool)>> = spec
                    .by
                    .iter()
                    .map(|k| self.value(scope, &k.expr, "top").map(|e| (e, k.descending)))
                    .collect();
                let per = self.values(scope, &spec.per, "top");
                let mut cols = scope.cols.clone();
                let out = self.add_col(
                    &mut cols,
                    "rank",
                    DataType::Int,
                    st.span,
                    "`top` adds a `rank` column",
                );
                let kind = match (by.into_iter().collect::<Option<Vec<_>>>(), per) {
                    (Some(by), Some(per)) if ok && out => Some(OpKind::Top { k: spec.k, by, per }),
                    _ => None,
                };
                (kind, scope.with_cols(cols))
            }
            StageKind::Distinct { on, within } => {
                let keys = self.values(scope, on, "distinct");
                let within = self.positive(within.millis, within.span, "`within`");
                let kind = match (keys, within) {
                    (Some(keys), Some(within)) => Some(OpKind::Distinct { keys, within }),
                    _ => None,
                };
                (kind, scope.clone())
            }
            StageKind::Route(r) => {
                let kind = match r {
                    RouteSpec::RoundRobin => Some(RouteKind::RoundRobin),
                    RouteSpec::Hash(keys) => self.values(scope, keys, "route").map(RouteKind::Hash),
                    RouteSpec::Geo { lat, lon } => {
                        let lat = self.coordinate(scope, lat);
                        let lon = self.coordinate(scope, lon);
                        lat.zip(lon).map(|(lat, lon)| RouteKind::Geo { lat, lon })
                    }
                };
                (kind.map(OpKind::Route), scope.clone())
            }
            // Handled by `stages`.
            StageKind::Window(_) | StageKind::GroupBy(_) | StageKind::Aggregate(_) => {
                (None, scope.clone())
            }
        }
    }

    fn values(
        &mut self,
        scope: &Scope,
        es: &[Expr],
        keyword: &'static str,
    ) -> Option<Vec<TypedExpr>> {
        let out: Vec<Option<TypedExpr>> =
            es.iter().map(|e| self.value(scope, e, keyword)).collect();
        out.into_iter().collect()
    }

    fn coordinate(&mut self, scope: &Scope, e: &Expr) -> Option<TypedExpr> {
        let t = self.value(scope, e, "route")?;
        match t.ty {
            DataType::Float => Some(t),
            DataType::Int => Some(widen(t)),
            other => {
                self.report(
                    Diagnostic::error(
                        "E0234",
                        format!(
                            "`route by geo` needs numeric coordinates, found `{}`",
                            other.name()
                        ),
                        e.span,
                    )
                    .with_label(format!("this is `{}`", other.name()))
                    .with_hint("pass latitude and longitude in degrees: `route by geo(lat, lon)`"),
                );
                None
            }
        }
    }

    /// A duration that must be positive (window sizes, `within`).
    pub fn positive(&mut self, ms: i64, span: Span, what: &str) -> Option<i64> {
        if ms > 0 {
            return Some(ms);
        }
        self.report(
            Diagnostic::error("E0226", format!("{what} must be a positive duration"), span)
                .with_label("not positive")
                .with_hint("e.g. `1h`, `10m` or `500ms`"),
        );
        None
    }

    /// Appends an output column, reporting a clash with an existing one.
    fn add_col(
        &mut self,
        cols: &mut Vec<Col>,
        name: &str,
        ty: DataType,
        span: Span,
        why: &str,
    ) -> bool {
        if cols.iter().any(|c| c.name == name) {
            self.report(
                Diagnostic::error("E0220", format!("duplicate output column `{name}`"), span)
                    .with_label(format!("a second `{name}`"))
                    .with_hint(format!(
                        "{why}; rename the existing `{name}` with `select` first"
                    )),
            );
            return false;
        }
        cols.push(Col {
            name: name.to_string(),
            ty: Some((ty, false)),
            quals: Vec::new(),
        });
        true
    }

    fn select(&mut self, scope: &Scope, items: &[SelectItem]) -> (Option<OpKind>, Scope) {
        let mut cols: Vec<Col> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let (name, span, quals) = match (&item.alias, &item.expr.kind) {
                (Some(a), _) => (a.name.clone(), a.span, Vec::new()),
                (None, ExprKind::Column { qualifier, name }) => {
                    let quals = match scope
                        .lookup(qualifier.as_ref().map(|q| q.name.as_str()), &name.name)
                    {
                        super::scope::Lookup::Found(i) => scope.cols[i].quals.clone(),
                        _ => Vec::new(),
                    };
                    (name.name.clone(), item.expr.span, quals)
                }
                (None, _) => {
                    self.report(
                        Diagnostic::error(
                            "E0225",
                            "a computed `select` item needs a name",
                            item.expr.span,
                        )
                        .with_label("unnamed expression")
                        .with_hint(format!("write `NAME = {}`", super::expr::show(&item.expr))),
                    );
                    self.value(scope, &item.expr, "select");
                    ok = false;
                    continue;
                }
            };
            let e = self.value(scope, &item.expr, "select");
            if let Some(i) = cols.iter().position(|c| c.name == name) {
                self.report(
                    Diagnostic::error("E0220", format!("duplicate output column `{name}`"), span)
                        .with_label("selected again")
                        .with_related(spans[i], "first selected here")
                        .with_hint(format!(
                            "give one of them another name: `other_{name} = ...`"
                        )),
                );
                ok = false;
                continue;
            }
            cols.push(Col {
                name: name.clone(),
                ty: e.as_ref().map(|e| (e.ty, e.nullable)),
                quals,
            });
            spans.push(span);
            match e {
                Some(e) => out.push((name, e)),
                None => ok = false,
            }
        }
        (ok.then_some(OpKind::Project(out)), scope.with_cols(cols))
    }

    /// `[window W] [group by K] aggregate A`, folded into one operator.
    fn aggregate(
        &mut self,
        scope: &Scope,
        window: Option<(&WindowSpec, Span)>,
        group: Option<&[Expr]>,
        items: &[crate::ast::AggItem],
    ) -> (Option<OpKind>, Scope) {
        let mut ok = true;
        let window_kind = window.and_then(|(w, span)| {
            let kind = self.window(w);
            if let EventTime::Missing { reason, hint } = &scope.event_time {
                self.report(
                    Diagnostic::error(
                        "E0223",
                        format!("`window` needs event time, but {reason}"),
                        span,
                    )
                    .with_label("no event time")
                    .with_hint(hint.clone()),
                );
                return None;
            }
            kind
        });
        ok &= window.is_none() || window_kind.is_some();

        let mut cols: Vec<Col> = Vec::new();
        let mut spans: Vec<Span> = Vec::new();
        let mut keys = Vec::new();
        for k in group.unwrap_or_default() {
            let mut e = k;
            while let ExprKind::Paren(inner) = &e.kind {
                e = inner;
            }
            let ExprKind::Column { qualifier, name } = &e.kind else {
                self.report(
                    Diagnostic::error("E0224", "a `group by` key must be a column", k.span)
                        .with_label("not a column")
                        .with_hint(format!(
                            "name it in a `select` first: `| select k = {}, ... | group by k`",
                            super::expr::show(k)
                        )),
                );
                self.value(scope, k, "group by");
                ok = false;
                continue;
            };
            let t = self.column(scope, qualifier.as_ref(), name);
            ok &= self.push_out(
                &mut cols,
                &mut spans,
                name,
                t.as_ref().map(|t| (t.ty(), t.e.nullable)),
            );
            match t {
                Some(t) => keys.push((name.name.clone(), t.e)),
                None => ok = false,
            }
        }
        if window.is_some() {
            for n in ["window_start", "window_end"] {
                let id = Ident {
                    name: n.to_string(),
                    span: window.map_or(Span::default(), |w| w.1),
                };
                ok &= self.push_out(
                    &mut cols,
                    &mut spans,
                    &id,
                    Some((DataType::Timestamp, false)),
                );
            }
        }
        let mut aggs: Vec<AggCall> = Vec::new();
        for item in items {
            let call = self.agg_item(scope, item);
            ok &= self.push_out(
                &mut cols,
                &mut spans,
                &item.alias,
                call.as_ref().map(|c| (c.ty, c.nullable)),
            );
            match call {
                Some(c) => aggs.push(c),
                None => ok = false,
            }
        }
        let mut out = scope.with_cols(cols);
        out.updating = window.is_none();
        if !matches!(scope.event_time, EventTime::Unknown) {
            out.event_time = EventTime::Missing {
                reason: "rows after `aggregate` carry no event time".into(),
                hint:
                    "window the stream before it is aggregated, in the same `window ... aggregate`"
                        .into(),
            };
        }
        let kind = ok.then_some(OpKind::Aggregate {
            window: window_kind,
            keys,
            aggs,
        });
        (kind, out)
    }

    /// Adds an output column of an aggregate, reporting duplicates.
    fn push_out(
        &mut self,
        cols: &mut Vec<Col>,
        spans: &mut Vec<Span>,
        id: &Ident,
        ty: Option<(DataType, bool)>,
    ) -> bool {
        if let Some(i) = cols.iter().position(|c| c.name == id.name) {
            let mut d = Diagnostic::error(
                "E0220",
                format!("duplicate output column `{}`", id.name),
                id.span,
            )
            .with_label("named again")
            .with_related(spans[i], "first named here");
            d = d.with_hint(if matches!(id.name.as_str(), "window_start" | "window_end") {
                "a windowed aggregate adds `window_start` and `window_end`; rename the other one".to_string()
            } else {
                format!("give one of them another name, e.g. `{}_2`", id.name)
            });
            self.report(d);
            return false;
        }
        cols.push(Col {
            name: id.name.clone(),
            ty,
            quals: Vec::new(),
        });
        spans.push(id.span);
        true
    }

    fn window(&mut self, w: &WindowSpec) -> Option<WindowKind> {
        match w {
            WindowSpec::Tumbling { size } => {
                let size = self.positive(size.millis, size.span, "the window size")?;
                Some(WindowKind::Tumbling { size })
            }
            WindowSpec::Sliding { size, every } => {
                let s = self.positive(size.millis, size.span, "the window size");
                let e = self.positive(every.millis, every.span, "`every`");
                let (size_ms, every_ms) = (s?, e?);
                if every_ms > size_ms {
                    self.report(
                        Diagnostic::error("E0226", "`every` is longer than the window", every.span)
                            .with_label("longer than the window")
                            .with_hint("rows between windows would be dropped; use `every` <= size, or a tumbling window"),
                    );
                    return None;
                }
                Some(WindowKind::Sliding {
                    size: size_ms,
                    every: every_ms,
                })
            }
            WindowSpec::Session { gap } => {
                let gap = self.positive(gap.millis, gap.span, "the session gap")?;
                Some(WindowKind::Session { gap })
            }
        }
    }
}
