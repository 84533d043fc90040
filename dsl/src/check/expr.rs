//! Expression typing with SQL null semantics.
//!
//! Every operand is checked even when another one failed, so independent mistakes in one
//! expression are all reported; a failed operand makes the whole expression unknown (`None`)
//! without further messages. A bare `null` literal stays untyped ([`Typed::null`]) until the
//! context gives it a type.

use super::Checker;
use super::scope::{Lookup, Scope};
pub(crate) use super::show::show;
use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, Span, UnaryOp};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::plan::{DataType, TExpr, TypedExpr, Value};

/// A checked expression.
#[derive(Clone, Debug)]
pub(crate) struct Typed {
    pub e: TypedExpr,
    /// A bare `null` (or an operation on nulls only): its type is whatever the context needs.
    pub null: bool,
}

impl Typed {
    pub fn new(kind: TExpr, ty: DataType, nullable: bool) -> Typed {
        Typed {
            e: TypedExpr { kind, ty, nullable },
            null: false,
        }
    }
    fn bare_null() -> Typed {
        Typed {
            e: TypedExpr {
                kind: TExpr::Literal(Value::Null),
                ty: DataType::Int,
                nullable: true,
            },
            null: true,
        }
    }
    pub fn ty(&self) -> DataType {
        self.e.ty
    }
    /// The expression, a bare `null` taking type `ty`.
    pub fn fix(mut self, ty: DataType) -> TypedExpr {
        if self.null {
            self.e.ty = ty;
        }
        self.e
    }
}

/// Where aggregate functions may appear while checking an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggCtx {
    /// Not allowed; the stage keyword, for the message.
    Forbidden(&'static str),
    /// Inside the argument of an aggregate: another aggregate would nest.
    Nested,
    /// Re-checking an expression already reported as a whole: aggregate calls are silently
    /// unknown (their arguments are still checked).
    Ignored,
}

/// Int -> float, folding literals so plans read `60.0` rather than `float(60)`.
pub(crate) fn widen(e: TypedExpr) -> TypedExpr {
    match e.kind {
        TExpr::Literal(Value::Int(v)) => TypedExpr {
            kind: TExpr::Literal(Value::Float(v as f64)),
            ty: DataType::Float,
            nullable: false,
        },
        _ => TypedExpr {
            nullable: e.nullable,
            ty: DataType::Float,
            kind: TExpr::Cast(Box::new(e)),
        },
    }
}

/// `t` as a `target`: a bare null takes the type, an int widens to float; `None` otherwise.
pub(crate) fn coerce(t: Typed, target: DataType) -> Option<TypedExpr> {
    if t.null || t.ty() == target {
        Some(t.fix(target))
    } else if t.ty() == DataType::Int && target == DataType::Float {
        Some(widen(t.e))
    } else {
        None
    }
}

/// The common type of several operands (int and float mix to float; bare nulls fit anything).
/// `Ok(None)` when all are bare nulls; `Err(i)` names the first operand that does not fit.
pub(crate) fn unify(items: &[&Typed]) -> Result<Option<DataType>, usize> {
    let mut common: Option<DataType> = None;
    for (i, t) in items.iter().enumerate() {
        if t.null {
            continue;
        }
        common = Some(match common {
            None => t.ty(),
            Some(c) if c == t.ty() => c,
            Some(c) if c.is_numeric() && t.ty().is_numeric() => DataType::Float,
            Some(_) => return Err(i),
        });
    }
    Ok(common)
}

impl Checker<'_> {
    pub fn expr(&mut self, scope: &Scope, e: &Expr, agg: AggCtx) -> Option<Typed> {
        match &e.kind {
            ExprKind::Literal(l) => Some(literal(l)),
            ExprKind::Column { qualifier, name } => self.column(scope, qualifier.as_ref(), name),
            ExprKind::Paren(inner) => self.expr(scope, inner, agg),
            ExprKind::Unary { op, expr } => {
                let t = self.expr(scope, expr, agg)?;
                self.unary(*op, t, expr.span)
            }
            ExprKind::Binary { op, left, right } => {
                let l = self.expr(scope, left, agg);
                let r = self.expr(scope, right, agg);
                let (l, r) = (l?, r?);
                match op {
                    BinaryOp::And | BinaryOp::Or => self.logic(*op, l, r, left.span, right.span),
                    BinaryOp::Eq
                    | BinaryOp::NotEq
                    | BinaryOp::Lt
                    | BinaryOp::LtEq
                    | BinaryOp::Gt
                    | BinaryOp::GtEq => self.compare(*op, l, r, left.span, right.span),
                    _ => self.arith(*op, l, r, left.span, right.span),
                }
            }
            ExprKind::IsNull { expr, negated } => {
                let t = self.expr(scope, expr, agg)?;
                let inner = t.fix(DataType::Bool);
                Some(Typed::new(
                    TExpr::IsNull(Box::new(inner), *negated),
                    DataType::Bool,
                    false,
                ))
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => self.in_list(scope, expr, list, *negated, agg),
            ExprKind::Call { func, args } => self.call(scope, func, args, e.span, agg),
        }
    }

    /// Resolves a column reference; reports unknown names with a suggestion.
    pub fn column(
        &mut self,
        scope: &Scope,
        qualifier: Option<&Ident>,
        name: &Ident,
    ) -> Option<Typed> {
        match scope.lookup(qualifier.map(|q| q.name.as_str()), &name.name) {
            Lookup::Found(i) => {
                let c = &scope.cols[i];
                let (ty, nullable) = c.ty?;
                Some(Typed::new(TExpr::Column(i, c.name.clone()), ty, nullable))
            }
            Lookup::Unknown => None,
            Lookup::NoQualifier => {
                let q = qualifier?;
                let quals: Vec<&str> = scope.qualifiers().collect();
                let hint = match did_you_mean(&q.name, quals.iter().copied()) {
                    Some(s) => format!("did you mean `{s}.{}`?", name.name),
                    None if quals.is_empty() => {
                        "columns here have no qualifier; write just the column name".into()
                    }
                    None => format!(
                        "qualifiers here: {}",
                        super::backticked(quals.iter().copied())
                    ),
                };
                self.report(
                    Diagnostic::error(
                        "E0201",
                        format!(
                            "unknown qualifier `{}` in `{}.{}`",
                            q.name, q.name, name.name
                        ),
                        q.span,
                    )
                    .with_label("not an input of this stage")
                    .with_hint(hint),
                );
                None
            }
            Lookup::NoColumn => {
                let (shown, candidates): (String, Vec<&str>) = match qualifier {
                    Some(q) => (
                        format!("{}.{}", q.name, name.name),
                        scope.names_under(&q.name).collect(),
                    ),
                    None => (name.name.clone(), scope.names().collect()),
                };
                let hint = match did_you_mean(&name.name, candidates.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "available columns: {}",
                        super::backticked(candidates.iter().copied())
                    ),
                };
                let span = qualifier.map_or(name.span, |q| q.span.to(name.span));
                self.report(
                    Diagnostic::error("E0200", format!("unknown column `{shown}`"), span)
                        .with_label("no such column")
                        .with_hint(hint),
                );
                None
            }
        }
    }

    fn unary(&mut self, op: UnaryOp, t: Typed, span: Span) -> Option<Typed> {
        if t.null {
            return Some(t);
        }
        let ty = t.ty();
        match op {
            UnaryOp::Not if ty == DataType::Bool => {
                let n = t.e.nullable;
                Some(Typed::new(TExpr::Unary(op, Box::new(t.e)), ty, n))
            }
            UnaryOp::Neg if matches!(ty, DataType::Int | DataType::Float | DataType::Duration) => {
                let n = t.e.nullable;
                Some(match t.e.kind {
                    TExpr::Literal(Value::Int(v)) => {
                        Typed::new(TExpr::Literal(Value::Int(-v)), ty, false)
                    }
                    TExpr::Literal(Value::Float(v)) => {
                        Typed::new(TExpr::Literal(Value::Float(-v)), ty, false)
                    }
                    TExpr::Literal(Value::Duration(v)) => {
                        Typed::new(TExpr::Literal(Value::Duration(-v)), ty, false)
                    }
                    _ => Typed::new(TExpr::Unary(op, Box::new(t.e)), ty, n),
                })
            }
            UnaryOp::Not => {
                self.report(
                    Diagnostic::error(
                        "E0204",
                        format!("`not` needs a `bool`, found `{}`", ty.name()),
                        span,
                    )
                    .with_label(format!("this is `{}`", ty.name()))
                    .with_hint("compare it first, e.g. `not (x == 0)`"),
                );
                None
            }
            UnaryOp::Neg => {
                self.report(
                    Diagnostic::error("E0202", format!("cannot negate a `{}`", ty.name()), span)
                        .with_label(format!("this is `{}`", ty.name()))
                        .with_hint("only `int`, `float` and `duration` values can be negated"),
                );
                None
            }
        }
    }

    fn logic(&mut self, op: BinaryOp, l: Typed, r: Typed, ls: Span, rs: Span) -> Option<Typed> {
        let mut ok = true;
        for (t, s) in [(&l, ls), (&r, rs)] {
            if !t.null && t.ty() != DataType::Bool {
                self.report(
                    Diagnostic::error(
                        "E0204",
                        format!(
                            "`{}` needs `bool` operands, found `{}`",
                            op.symbol(),
                            t.ty().name()
                        ),
                        s,
                    )
                    .with_label(format!("this is `{}`", t.ty().name()))
                    .with_hint("compare it to get a bool, e.g. `x != 0`"),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let n = l.e.nullable || r.e.nullable;
        let (l, r) = (l.fix(DataType::Bool), r.fix(DataType::Bool));
        Some(Typed::new(
            TExpr::Binary(op, Box::new(l), Box::new(r)),
            DataType::Bool,
            n,
        ))
    }

    fn compare(&mut self, op: BinaryOp, l: Typed, r: Typed, ls: Span, rs: Span) -> Option<Typed> {
        let ty = match unify(&[&l, &r]) {
            Ok(ty) => ty.unwrap_or(DataType::Int),
            Err(_) => {
                let (a, b) = (l.ty(), r.ty());
                self.report(
                    Diagnostic::error(
                        "E0203",
                        format!("cannot compare `{}` with `{}`", a.name(), b.name()),
                        rs,
                    )
                    .with_label(format!("this is `{}`", b.name()))
                    .with_related(ls, format!("this is `{}`", a.name()))
                    .with_hint(mismatch_hint(a, b)),
                );
                return None;
            }
        };
        let n = l.e.nullable || r.e.nullable;
        let (l, r) = (coerce(l, ty)?, coerce(r, ty)?);
        Some(Typed::new(
            TExpr::Binary(op, Box::new(l), Box::new(r)),
            DataType::Bool,
            n,
        ))
    }

    fn arith(&mut self, op: BinaryOp, l: Typed, r: Typed, ls: Span, rs: Span) -> Option<Typed> {
        use DataType::*;
        if l.null && r.null {
            return Some(l);
        }
        // A bare null takes the type that makes the operation valid with the other side.
        let partner = |other: DataType, null_on_left: bool| match (other, op) {
            (t @ (Timestamp | Date), BinaryOp::Sub) if null_on_left => t,
            (Timestamp | Date, BinaryOp::Add | BinaryOp::Sub) => Duration,
            (Duration, BinaryOp::Mul) => Int,
            (t, _) => t,
        };
        let l_ty = if l.null {
            partner(r.ty(), true)
        } else {
            l.ty()
        };
        let r_ty = if r.null {
            partner(l.ty(), false)
        } else {
            r.ty()
        };
        let n = l.e.nullable || r.e.nullable;
        let (l, r) = (l.fix(l_ty), r.fix(r_ty));
        let bin = |op, a: TypedExpr, b: TypedExpr, ty, n| {
            Some(Typed::new(
                TExpr::Binary(op, Box::new(a), Box::new(b)),
                ty,
                n,
            ))
        };
        let add_sub = matches!(op, BinaryOp::Add | BinaryOp::Sub);
        match (l_ty, r_ty) {
            (a, b) if a.is_numeric() && b.is_numeric() => {
                let ty = if a == Float || b == Float { Float } else { Int };
                let l = if a == ty { l } else { widen(l) };
                let r = if b == ty { r } else { widen(r) };
                // Integer division and remainder by zero give null.
                let n = n || (ty == Int && matches!(op, BinaryOp::Div | BinaryOp::Mod));
                bin(op, l, r, ty, n)
            }
            (Timestamp, Duration) if add_sub => bin(op, l, r, Timestamp, n),
            (Duration, Timestamp) if op == BinaryOp::Add => bin(op, r, l, Timestamp, n),
            (Timestamp, Timestamp) if op == BinaryOp::Sub => bin(op, l, r, Duration, n),
            (Date, Duration) | (Duration, Date) if add_sub && not_whole_days(&l, &r) => {
                self.report(
                    Diagnostic::error("E0202", "a date moves by whole days only", ls.to(rs))
                        .with_label("this duration is not a whole number of days")
                        .with_hint("add days such as `1d`, or convert first: `timestamp(d) + 12h`"),
                );
                None
            }
            (Date, Duration) if add_sub => bin(op, l, r, Date, n),
            (Duration, Date) if op == BinaryOp::Add => bin(op, r, l, Date, n),
            (Date, Date) if op == BinaryOp::Sub => bin(op, l, r, Duration, n),
            (Duration, Duration) if add_sub => bin(op, l, r, Duration, n),
            (Duration, Int) if op == BinaryOp::Mul => bin(op, l, r, Duration, n),
            (Int, Duration) if op == BinaryOp::Mul => bin(op, r, l, Duration, n),
            (a, b) => {
                let hint = match (a, b) {
                    (String, String) if op == BinaryOp::Add => "join strings with `concat(a, b)`".to_string(),
                    (String, _) | (_, String) if op == BinaryOp::Add => {
                        "to join text use `concat(a, string(b))`; to add numbers convert the string with `float(s)`".to_string()
                    }
                    (String, _) | (_, String) => "arithmetic needs numbers; convert the string with `float(s)` or `int(s)`".to_string(),
                    (Timestamp, _) | (_, Timestamp) => {
                        "add or subtract a duration such as `1h`; subtracting two timestamps gives a duration".to_string()
                    }
                    (Date, _) | (_, Date) => {
                        "add or subtract whole days such as `1d`; subtracting two dates gives a duration".to_string()
                    }
                    _ => "arithmetic works on `int` and `float`, `timestamp` +/- `duration`, and `duration` +/- `duration`"
                        .to_string(),
                };
                self.report(
                    Diagnostic::error(
                        "E0202",
                        format!(
                            "cannot apply `{}` to `{}` and `{}`",
                            op.symbol(),
                            a.name(),
                            b.name()
                        ),
                        rs,
                    )
                    .with_label(format!("this is `{}`", b.name()))
                    .with_related(ls, format!("this is `{}`", a.name()))
                    .with_hint(hint),
                );
                None
            }
        }
    }

    fn in_list(
        &mut self,
        scope: &Scope,
        expr: &Expr,
        list: &[Expr],
        negated: bool,
        agg: AggCtx,
    ) -> Option<Typed> {
        let t = self.expr(scope, expr, agg);
        let items: Vec<Option<Typed>> = list.iter().map(|i| self.expr(scope, i, agg)).collect();
        let t = t?;
        let mut ok = true;
        let mut all: Vec<Typed> = vec![t.clone()];
        for (item, e) in items.into_iter().zip(list) {
            let Some(item) = item else {
                ok = false;
                continue;
            };
            let refs: Vec<&Typed> = all.iter().chain(std::iter::once(&item)).collect();
            if unify(&refs).is_err() {
                let expected = unify(&all.iter().collect::<Vec<_>>())
                    .ok()
                    .flatten()
                    .unwrap_or(t.ty());
                self.report(
                    Diagnostic::error(
                        "E0211",
                        format!(
                            "`in` list item is `{}`, but the value is `{}`",
                            item.ty().name(),
                            expected.name()
                        ),
                        e.span,
                    )
                    .with_label(format!("this is `{}`", item.ty().name()))
                    .with_related(expr.span, format!("this is `{}`", t.ty().name()))
                    .with_hint("every item of the list must have the type of the value tested"),
                );
                ok = false;
                continue;
            }
            all.push(item);
        }
        if !ok {
            return None;
        }
        let ty = unify(&all.iter().collect::<Vec<_>>())
            .ok()
            .flatten()
            .unwrap_or(DataType::Int);
        let n = all.iter().any(|t| t.e.nullable);
        let mut typed = all
            .into_iter()
            .map(|t| coerce(t, ty))
            .collect::<Option<Vec<_>>>()?;
        let head = typed.remove(0);
        Some(Typed::new(
            TExpr::InList(Box::new(head), typed, negated),
            DataType::Bool,
            n,
        ))
    }

    /// Checks a predicate (`where`, join residue): must be a bool.
    pub fn predicate(
        &mut self,
        scope: &Scope,
        e: &Expr,
        keyword: &'static str,
    ) -> Option<TypedExpr> {
        let t = self.expr(scope, e, AggCtx::Forbidden(keyword))?;
        if t.null || t.ty() == DataType::Bool {
            return Some(t.fix(DataType::Bool));
        }
        let shown = show(e);
        let hint = match t.ty() {
            DataType::Int | DataType::Float => format!("did you mean `{shown} != 0`?"),
            DataType::String => format!("did you mean `{shown} != \"\"`?"),
            _ => format!("compare it to get a bool, e.g. `{shown} is not null`"),
        };
        self.report(
            Diagnostic::error(
                "E0205",
                format!("`{keyword}` needs a `bool`, found `{}`", t.ty().name()),
                e.span,
            )
            .with_label(format!("this is `{}`", t.ty().name()))
            .with_hint(hint),
        );
        None
    }

    /// A value expression whose type must be known (a `select` item, a key): a bare `null`
    /// cannot be typed there.
    pub fn value(&mut self, scope: &Scope, e: &Expr, keyword: &'static str) -> Option<TypedExpr> {
        let t = self.expr(scope, e, AggCtx::Forbidden(keyword))?;
        if t.null {
            self.report(
                Diagnostic::error("E0210", "cannot infer the type of `null` here", e.span)
                    .with_label("type unknown")
                    .with_hint("give it a type with a cast, e.g. `string(null)` or `float(null)`"),
            );
            return None;
        }
        Some(t.e)
    }
}

fn literal(l: &Literal) -> Typed {
    let (v, ty) = match l {
        Literal::Int(v) => (Value::Int(*v), DataType::Int),
        Literal::Float(v) => (Value::Float(*v), DataType::Float),
        Literal::String(s) => (Value::String(s.clone()), DataType::String),
        Literal::Bool(b) => (Value::Bool(*b), DataType::Bool),
        Literal::Duration(d) => (Value::Duration(*d), DataType::Duration),
        Literal::Timestamp(t) => (Value::Timestamp(*t), DataType::Timestamp),
        Literal::Date(d) => (Value::Date(*d), DataType::Date),
        Literal::Null => return Typed::bare_null(),
    };
    Typed::new(TExpr::Literal(v), ty, false)
}

/// A duration literal beside a date that is not whole days (`d + 12h`); a computed duration
/// is rounded toward the earlier day at run time instead.
fn not_whole_days(l: &TypedExpr, r: &TypedExpr) -> bool {
    [l, r]
        .iter()
        .any(|e| matches!(e.kind, TExpr::Literal(Value::Duration(ms)) if ms % 86_400_000 != 0))
}

fn mismatch_hint(a: DataType, b: DataType) -> String {
    use DataType::*;
    match (a, b) {
        (String, Int | Float) | (Int | Float, String) => {
            "convert one side: `float(s)` parses a string, `string(x)` formats a number".into()
        }
        (Date, Timestamp) | (Timestamp, Date) => {
            "convert one side: `date(ts)` is the UTC day of a timestamp, `timestamp(d)` its midnight".into()
        }
        (Date, _) | (_, Date) => {
            "compare with a date literal such as `@1996-03-13`, or convert with `date(x)`".into()
        }
        (Timestamp, _) | (_, Timestamp) => {
            "compare with a timestamp literal such as `@2013-01-01T00:00:00Z`, or convert with `timestamp(x)`".into()
        }
        (Duration, _) | (_, Duration) => "compare with a duration literal such as `10s` or `5m`".into(),
        _ => "both sides must have the same type (`int` and `float` mix)".into(),
    }
}
