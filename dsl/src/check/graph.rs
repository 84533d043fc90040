//! The stream graph: dependency order, cycles, inputs and `union`.

use std::collections::HashSet;

use super::scope::{EventTime, Scope};
use super::{Checker, Resolved};
use crate::ast::{Decl, Ident, Input, Pipeline, Span, StageKind, StreamDecl};
use crate::diagnostic::Diagnostic;
use crate::plan::{InputRef, StreamNode};

impl Checker<'_> {
    /// Checks every stream, inputs before readers; returns the plan nodes in that order.
    pub fn streams(&mut self, p: &Pipeline) -> Vec<Option<StreamNode>> {
        // Streams owning their name take part in the graph; re-declarations are checked after.
        let mut owners: Vec<&StreamDecl> = Vec::new();
        let mut extra: Vec<&StreamDecl> = Vec::new();
        for (i, d) in p.decls.iter().enumerate() {
            if let Decl::Stream(s) = d {
                if self.names.get(&s.name.name).is_some_and(|n| n.decl == i) {
                    owners.push(s);
                } else {
                    extra.push(s);
                }
            }
        }
        let order = self.order_streams(&owners);
        for (pos, &i) in order.iter().enumerate() {
            self.stream_index.insert(owners[i].name.name.clone(), pos);
        }
        let mut nodes = Vec::new();
        for &i in &order {
            let d = owners[i];
            let (node, scope) = self.stream_decl(d);
            let input = Some(InputRef::Stream(self.stream_index[&d.name.name]));
            self.resolved
                .insert(d.name.name.clone(), Resolved { input, scope });
            nodes.push(node);
        }
        for d in extra {
            nodes.push(self.stream_decl(d).0);
        }
        nodes
    }

    /// Depth-first post-order over the "reads" edges, in file order where free; reports
    /// each cycle once.
    fn order_streams(&mut self, streams: &[&StreamDecl]) -> Vec<usize> {
        let index = |name: &str| streams.iter().position(|s| s.name.name == name);
        let deps: Vec<Vec<(usize, Span)>> = streams
            .iter()
            .map(|s| {
                stream_reads(s)
                    .into_iter()
                    .filter_map(|id| index(&id.name).map(|i| (i, id.span)))
                    .collect()
            })
            .collect();
        let mut state = vec![0u8; streams.len()]; // 0 new, 1 on the stack, 2 done
        let mut order = Vec::new();
        let mut cycles: Vec<Vec<usize>> = Vec::new();
        fn visit(
            v: usize,
            deps: &[Vec<(usize, Span)>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            state[v] = 1;
            stack.push(v);
            for &(w, _) in &deps[v] {
                match state[w] {
                    0 => visit(w, deps, state, stack, order, cycles),
                    1 => {
                        let from = stack.iter().position(|&x| x == w).unwrap_or(0);
                        cycles.push(stack[from..].to_vec());
                    }
                    _ => {}
                }
            }
            stack.pop();
            state[v] = 2;
            order.push(v);
        }
        for v in 0..streams.len() {
            if state[v] == 0 {
                visit(
                    v,
                    &deps,
                    &mut state,
                    &mut Vec::new(),
                    &mut order,
                    &mut cycles,
                );
            }
        }
        // One report per tangle: a cycle sharing a stream with one already reported is the
        // same mistake seen from another edge.
        let mut seen: HashSet<usize> = HashSet::new();
        for mut cycle in cycles {
            if cycle.iter().any(|v| seen.contains(v)) {
                continue;
            }
            seen.extend(cycle.iter().copied());
            // Start at the stream declared first, so the message is stable.
            let min = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, v)| **v)
                .map_or(0, |(i, _)| i);
            cycle.rotate_left(min);
            let next = cycle.get(1).copied().unwrap_or(cycle[0]);
            let span = deps[cycle[0]]
                .iter()
                .find(|(w, _)| *w == next)
                .map_or(Span::default(), |d| d.1);
            let path: Vec<&str> = cycle
                .iter()
                .chain(std::iter::once(&cycle[0]))
                .map(|&i| streams[i].name.name.as_str())
                .collect();
            self.report(
                Diagnostic::error(
                    "E0102",
                    format!("cycle between streams: `{}`", path.join(" -> ")),
                    span,
                )
                .with_label(format!("`{}` reads `{}`", path[0], path[1]))
                .with_hint(
                    "streams must form an acyclic graph; a stream cannot read its own output",
                ),
            );
        }
        order
    }

    fn stream_decl(&mut self, d: &StreamDecl) -> (Option<StreamNode>, Scope) {
        let (inputs, scope) = match &d.input {
            Input::Name(id) => {
                let (input, scope, _) = self.resolve_input(id);
                (input.map(|i| vec![i]), scope)
            }
            Input::Union(ids, _) => self.union(ids),
        };
        let (ops, scope) = self.stages(scope, &d.stages);
        let node = match (inputs, ops, scope.schema()) {
            (Some(inputs), Some(ops), Some(schema)) => Some(StreamNode {
                name: d.name.name.clone(),
                inputs,
                ops,
                schema,
                span: d.span,
            }),
            _ => None,
        };
        (node, scope)
    }

    /// `union(a, b, ...)`: all inputs must have the same schema (names, types, nullability).
    fn union(&mut self, ids: &[Ident]) -> (Option<Vec<InputRef>>, Scope) {
        let resolved: Vec<_> = ids.iter().map(|id| self.resolve_input(id)).collect();
        let mut ok = resolved.iter().all(|r| r.0.is_some());
        let Some(first) = resolved.first() else {
            return (None, Scope::unknown());
        };
        let mut scope = first.1.requalified("");
        for c in &mut scope.cols {
            c.quals.clear();
        }
        for (k, (_, other, _)) in resolved.iter().enumerate().skip(1) {
            scope.open |= other.open;
            scope.updating |= other.updating;
            scope.unbounded |= other.unbounded;
            scope.event_time = match (&scope.event_time, &other.event_time) {
                (EventTime::Unknown, _) | (_, EventTime::Unknown) => EventTime::Unknown,
                (EventTime::Missing { .. }, _) => scope.event_time.clone(),
                (_, m) => m.clone(),
            };
            if first.1.open || other.open {
                continue;
            }
            if let Some((col, here, there)) = schema_difference(&first.1, other) {
                self.report(
                    Diagnostic::error(
                        "E0103",
                        format!("`union` inputs differ in column `{col}`"),
                        ids[k].span,
                    )
                    .with_label(format!("{here} in `{}`", ids[k].name))
                    .with_related(ids[0].span, format!("{there} in `{}`", ids[0].name))
                    .with_hint(
                        "make the schemas equal with a `select` in a stream before the union",
                    ),
                );
                ok = false;
            }
        }
        let inputs = resolved
            .into_iter()
            .map(|r| r.0)
            .collect::<Option<Vec<_>>>();
        (inputs.filter(|_| ok), scope)
    }
}

/// The first column where two schemas differ: its name, what it is in `b`, what in `a`.
fn schema_difference(a: &Scope, b: &Scope) -> Option<(String, String, String)> {
    let show = |c: Option<&super::scope::Col>| match c {
        None => "missing".to_string(),
        Some(c) => match c.ty {
            Some((t, true)) => format!("`{}: {}?`", c.name, t.name()),
            Some((t, false)) => format!("`{}: {}`", c.name, t.name()),
            None => format!("`{}`", c.name),
        },
    };
    let n = a.cols.len().max(b.cols.len());
    (0..n).find_map(|i| {
        let (ca, cb) = (a.cols.get(i), b.cols.get(i));
        let same = match (ca, cb) {
            (Some(x), Some(y)) => {
                x.name == y.name && (x.ty == y.ty || x.ty.is_none() || y.ty.is_none())
            }
            _ => false,
        };
        let name = ca.or(cb).map(|c| c.name.clone()).unwrap_or_default();
        (!same).then(|| (name, show(cb), show(ca)))
    })
}

/// Every name a stream reads: its inputs and the right sides of its joins.
fn stream_reads(s: &StreamDecl) -> Vec<&Ident> {
    let mut out: Vec<&Ident> = match &s.input {
        Input::Name(id) => vec![id],
        Input::Union(ids, _) => ids.iter().collect(),
    };
    for st in &s.stages {
        if let StageKind::Join(j) = &st.kind {
            out.push(&j.right);
        }
    }
    out
}
