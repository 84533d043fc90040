//! Boolean logic and conditionals: `not`, `and`/`or` (SQL three-valued, Kleene), `is [not] null`,
//! `[not] in (...)`, `if`, `coalesce`.
//!
//! All on Arrow kernels (`and_kleene`, `or_kleene`, `not`, `is_null`, `is_not_null`, `zip`).
//! Constants short-circuit: `false and x` and `true or x` never evaluate `x`, a constant `if`
//! condition evaluates one branch, and `coalesce` stops evaluating arguments once no row is null.

use std::sync::Arc;

use arrow_arith::boolean;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow_select::zip::zip;
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::{DataType, TypedExpr};

use super::{ExprError, Operand, broadcast, compare, eval};
use crate::arrow_schema_map::arrow_type;

fn bools<'a>(a: &'a ArrayRef, context: &str) -> Result<&'a BooleanArray, ExprError> {
    a.as_boolean_opt()
        .ok_or_else(|| ExprError::mismatch(context, "bool", a.data_type()))
}

fn expect_bool(e: &TypedExpr, context: &str) -> Result<(), ExprError> {
    if e.ty == DataType::Bool {
        Ok(())
    } else {
        Err(ExprError::mismatch(context, "bool", e.ty.name()))
    }
}

pub(super) fn not(v: Operand) -> Result<Operand, ExprError> {
    v.map(|a| Ok(Arc::new(boolean::not(bools(a, "`not`")?)?)))
}

pub(super) fn is_null(v: Operand, negated: bool) -> Result<Operand, ExprError> {
    v.map(|a| {
        let out = if negated {
            boolean::is_not_null(a.as_ref())?
        } else {
            boolean::is_null(a.as_ref())?
        };
        Ok(Arc::new(out))
    })
}

/// `l and r` / `l or r`.
pub(super) fn and_or(
    op: BinaryOp,
    l: &TypedExpr,
    r: &TypedExpr,
    batch: &RecordBatch,
) -> Result<Operand, ExprError> {
    let is_and = op == BinaryOp::And;
    expect_bool(l, op.symbol())?;
    expect_bool(r, op.symbol())?;
    let left = eval(l, batch)?;
    // `false and x` is false and `true or x` is true whatever x is, null included.
    if left.scalar_bool() == Some(!is_and) {
        return Ok(left);
    }
    let right = eval(r, batch)?;
    kleene(is_and, left, right, batch.num_rows())
}

/// Kleene `and` (`is_and`) or `or` of two bool operands.
fn kleene(is_and: bool, l: Operand, r: Operand, rows: usize) -> Result<Operand, ExprError> {
    let kernel = if is_and {
        boolean::and_kleene
    } else {
        boolean::or_kleene
    };
    let context = if is_and { "`and`" } else { "`or`" };
    Ok(match (l, r) {
        (Operand::Scalar(a), Operand::Scalar(b)) => {
            Operand::Scalar(Arc::new(kernel(bools(&a, context)?, bools(&b, context)?)?))
        }
        (Operand::Scalar(s), Operand::Array(x)) | (Operand::Array(x), Operand::Scalar(s)) => {
            let constant = Operand::Scalar(s);
            match constant.scalar_bool() {
                // `true and x` and `false or x` are x.
                Some(v) if v == is_and => Operand::Array(x),
                // `false and x` and `true or x` are the constant.
                Some(_) => constant,
                None => {
                    let nulls = broadcast(constant.array(), rows);
                    Operand::Array(Arc::new(kernel(
                        bools(&nulls, context)?,
                        bools(&x, context)?,
                    )?))
                }
            }
        }
        (Operand::Array(a), Operand::Array(b)) => {
            Operand::Array(Arc::new(kernel(bools(&a, context)?, bools(&b, context)?)?))
        }
    })
}

/// `e [not] in (items)`: true on a match; otherwise null if `e` or any item is null, else false
/// (SQL). Built as `e == i1 or e == i2 or ...` with Kleene `or`, which yields exactly that.
pub(super) fn in_list(
    e: &TypedExpr,
    items: &[TypedExpr],
    negated: bool,
    batch: &RecordBatch,
) -> Result<Operand, ExprError> {
    let rows = batch.num_rows();
    if let Some(bad) = items.iter().find(|i| i.ty != e.ty) {
        return Err(ExprError::mismatch(
            "an `in` list item",
            e.ty.name(),
            bad.ty.name(),
        ));
    }
    let x = eval(e, batch)?;
    let mut acc: Option<Operand> = None;
    for item in items {
        if acc.as_ref().and_then(Operand::scalar_bool) == Some(true) {
            break;
        }
        let eq = compare::compare(BinaryOp::Eq, &x, &eval(item, batch)?, e.ty, rows)?;
        acc = Some(match acc {
            None => eq,
            Some(a) => kleene(false, a, eq, rows)?,
        });
    }
    // `x in ()` matches nothing.
    let found = acc.unwrap_or_else(|| Operand::Scalar(Arc::new(BooleanArray::from(vec![false]))));
    if negated { not(found) } else { Ok(found) }
}

/// `if(cond, then, otherwise)`: a null condition takes `otherwise`.
pub(super) fn if_then_else(
    cond: &TypedExpr,
    then: &TypedExpr,
    otherwise: &TypedExpr,
    batch: &RecordBatch,
) -> Result<Operand, ExprError> {
    expect_bool(cond, "the condition of `if`")?;
    if then.ty != otherwise.ty {
        return Err(ExprError::mismatch(
            "the branches of `if`",
            then.ty.name(),
            otherwise.ty.name(),
        ));
    }
    let c = eval(cond, batch)?;
    let mask = match &c {
        Operand::Scalar(_) => {
            return if c.scalar_bool() == Some(true) {
                eval(then, batch)
            } else {
                eval(otherwise, batch)
            };
        }
        Operand::Array(m) => bools(m, "the condition of `if`")?,
    };
    match mask.true_count() {
        n if n == batch.num_rows() => eval(then, batch),
        0 => eval(otherwise, batch),
        _ => {
            let (t, f) = (eval(then, batch)?, eval(otherwise, batch)?);
            Ok(Operand::Array(zip(mask, &t, &f)?))
        }
    }
}

/// `coalesce(a, b, ...)`: per row, the first non-null argument (null if all are null).
pub(super) fn coalesce(
    args: &[TypedExpr],
    ty: DataType,
    batch: &RecordBatch,
) -> Result<Operand, ExprError> {
    if let Some(bad) = args.iter().find(|a| a.ty != ty) {
        return Err(ExprError::mismatch(
            "a `coalesce` argument",
            ty.name(),
            bad.ty.name(),
        ));
    }
    let mut acc: Option<Operand> = None;
    for arg in args {
        if acc
            .as_ref()
            .is_some_and(|a| a.array().logical_null_count() == 0)
        {
            break;
        }
        let next = eval(arg, batch)?;
        acc = Some(match acc {
            None | Some(Operand::Scalar(_)) => next, // a constant in `acc` here is null
            Some(Operand::Array(a)) => {
                let present = boolean::is_not_null(a.as_ref())?;
                Operand::Array(zip(&present, &a, &next)?)
            }
        });
    }
    Ok(acc.unwrap_or_else(|| Operand::Scalar(new_null_array(&arrow_type(ty), 1))))
}
