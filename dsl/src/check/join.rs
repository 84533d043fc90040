//! `[left] join RIGHT on a == RIGHT.b [and ...] [within D]`.
//!
//! A table on the right is a lookup join and must be matched on its whole key; a stream on the
//! right is an interval join and needs `within`. Output naming follows LANGUAGE.md: left
//! columns, then right columns, a right column whose name collides renamed `RIGHT_col`, an
//! equality key of the same name kept once.

use super::expr::widen;
use super::scope::{Col, Lookup, Scope};
use super::{Checker, Kind, backticked};
use crate::ast::{Expr, ExprKind, Ident, JoinSpec};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{DataType, OpKind, TExpr, TypedExpr};

impl Checker<'_> {
    pub fn join(&mut self, scope: &Scope, spec: &JoinSpec) -> (Option<OpKind>, Scope) {
        let right = &spec.right;
        let (input, rscope, kind) = self.resolve_input(right);
        let mut ok = input.is_some();
        match (kind, spec.within) {
            (Some(Kind::Table), Some(w)) => {
                self.report(
                    Diagnostic::error("E0228", format!("a join with table `{}` cannot have `within`", right.name), w.span)
                        .with_label("not for tables")
                        .with_hint("a table join looks up the current row for each key; remove `within`, or join a stream"),
                );
                ok = false;
            }
            (Some(Kind::Source | Kind::Stream), None) => {
                self.report(
                    Diagnostic::error("E0227", format!("a stream-stream join with `{}` needs `within`", right.name), right.span)
                        .with_label("unbounded join")
                        .with_hint(format!(
                            "a stream-stream join needs `within`, e.g. `... within 10m`; to look rows up by key, declare `{}` as a `table`",
                            right.name
                        )),
                );
                ok = false;
            }
            _ => {}
        }
        let within = match spec.within {
            Some(w) => self.positive(w.millis, w.span, "`within`"),
            None => None,
        };
        ok &= spec.within.is_none() || within.is_some();

        let table_key = match kind {
            Some(Kind::Table) => self.table_keys.get(&right.name).cloned(),
            _ => None,
        };
        // (left expression, right column index), per condition.
        let mut keys: Vec<(TypedExpr, usize)> = Vec::new();
        for cond in &spec.on {
            let (l, r) = match (
                as_right_col(&cond.right, right),
                as_right_col(&cond.left, right),
            ) {
                (Some(r), _) => (&cond.left, r),
                (None, Some(r)) => (&cond.right, r),
                (None, None) => {
                    self.report(
                        Diagnostic::error(
                            "E0229",
                            format!(
                                "a join condition must compare with a column of `{}`",
                                right.name
                            ),
                            cond.span,
                        )
                        .with_label(format!("no `{}.` column here", right.name))
                        .with_hint(format!("write `left_column == {}.column`", right.name)),
                    );
                    self.value(scope, &cond.left, "join");
                    ok = false;
                    continue;
                }
            };
            let lt = self.value(scope, l, "join");
            let ri = match rscope.lookup(Some(&right.name), &r.name) {
                Lookup::Found(i) => Some(i),
                Lookup::Unknown | Lookup::NoQualifier => None,
                Lookup::NoColumn => {
                    let names: Vec<&str> = rscope.names().collect();
                    let hint = match did_you_mean(&r.name, names.iter().copied()) {
                        Some(s) => format!("did you mean `{}.{s}`?", right.name),
                        None => {
                            format!("`{}` has {}", right.name, backticked(names.iter().copied()))
                        }
                    };
                    self.report(
                        Diagnostic::error(
                            "E0200",
                            format!("unknown column `{}.{}`", right.name, r.name),
                            r.span,
                        )
                        .with_label("no such column")
                        .with_hint(hint),
                    );
                    None
                }
            };
            let (Some(lt), Some(ri)) = (lt, ri) else {
                ok = false;
                continue;
            };
            if let Some(key) = &table_key
                && !key.contains(&r.name)
            {
                self.report(
                    Diagnostic::error(
                        "E0231",
                        format!(
                            "`{}.{}` is not the key of table `{}`",
                            right.name, r.name, right.name
                        ),
                        r.span,
                    )
                    .with_label("not a key column")
                    .with_hint(format!(
                        "a table join looks rows up by key; table `{}` is keyed by {}",
                        right.name,
                        backticked(key.iter().map(String::as_str))
                    )),
                );
                ok = false;
                continue;
            }
            let Some((rty, _)) = rscope.cols[ri].ty else {
                ok = false;
                continue;
            };
            let lt = match (lt.ty, rty) {
                (a, b) if a == b => lt,
                (DataType::Int, DataType::Float) => widen(lt),
                (a, b) => {
                    self.report(
                        Diagnostic::error("E0230", format!("cannot join `{}` with `{}`", a.name(), b.name()), l.span)
                            .with_label(format!("this is `{}`", a.name()))
                            .with_related(r.span, format!("this is `{}`", b.name()))
                            .with_hint(format!(
                                "join keys must have the same type; convert the left side, e.g. `{}({})`",
                                b.name(),
                                super::expr::show(l)
                            )),
                    );
                    ok = false;
                    continue;
                }
            };
            keys.push((lt, ri));
        }
        if let Some(key) = &table_key
            && ok
        {
            let matched: Vec<&str> = keys
                .iter()
                .map(|(_, i)| rscope.cols[*i].name.as_str())
                .collect();
            let missing: Vec<&str> = key
                .iter()
                .map(String::as_str)
                .filter(|k| !matched.contains(k))
                .collect();
            if !missing.is_empty() {
                self.report(
                    Diagnostic::error(
                        "E0231",
                        format!(
                            "the join with table `{}` does not match its key {}",
                            right.name,
                            backticked(missing.iter().copied())
                        ),
                        right.span,
                    )
                    .with_label("partial key")
                    .with_hint(format!(
                        "a table join matches the whole key; add `and ... == {}.{}`",
                        right.name, missing[0]
                    )),
                );
                ok = false;
            }
        }

        // Output: left columns, then the kept right columns.
        let mut cols: Vec<Col> = scope.cols.clone();
        let mut right_columns = Vec::new();
        for (ri, rc) in rscope.cols.iter().enumerate() {
            let same_name_key = keys.iter().any(|(lt, ki)| {
                *ki == ri && matches!(&lt.kind, TExpr::Column(_, n) if *n == rc.name)
            });
            if same_name_key {
                if let Some(c) = cols.iter_mut().find(|c| c.name == rc.name) {
                    c.quals.push((right.name.clone(), rc.name.clone()));
                }
                continue;
            }
            let mut name = rc.name.clone();
            if cols.iter().any(|c| c.name == name) {
                name = format!("{}_{}", right.name, rc.name);
                if cols.iter().any(|c| c.name == name) {
                    self.report(
                        Diagnostic::error(
                            "E0220",
                            format!("duplicate output column `{name}`"),
                            right.span,
                        )
                        .with_label(format!(
                            "`{}.{}` would be renamed `{name}`",
                            right.name, rc.name
                        ))
                        .with_hint(format!(
                            "rename the left column `{name}` with `select` before the join"
                        )),
                    );
                    ok = false;
                    continue;
                }
            }
            cols.push(Col {
                name,
                ty: rc.ty.map(|(t, n)| (t, n || spec.left)),
                quals: vec![(right.name.clone(), rc.name.clone())],
            });
            right_columns.push(ri);
        }
        let mut out = scope.with_cols(cols);
        out.open |= rscope.open;
        out.unbounded |= rscope.unbounded;
        let kind = ok.then(|| OpKind::Join {
            left_outer: spec.left,
            right: input.unwrap_or(crate::plan::InputRef::Source(0)),
            right_name: right.name.clone(),
            keys,
            right_columns,
            within,
        });
        (kind, out)
    }
}

/// `RIGHT.col` in a condition: the column name.
fn as_right_col<'e>(e: &'e Expr, right: &Ident) -> Option<&'e Ident> {
    match &e.kind {
        ExprKind::Column {
            qualifier: Some(q),
            name,
        } if q.name == right.name => Some(name),
        ExprKind::Paren(inner) => as_right_col(inner, right),
        _ => None,
    }
}
