//! Comparisons `== != < <= > >=` on operands of one type; null on either side gives null.
//!
//! Ints, strings (byte-wise, which for UTF-8 is code-point order), bools (`false < true`),
//! timestamps and durations use Arrow's `arrow_ord::cmp` kernels, constants passed as scalars.
//!
//! Floats are compared by a loop here because Arrow's float kernels use IEEE totalOrder, under
//! which `-0.0 < 0.0` and NaNs with different payloads differ. The language instead follows
//! SQL engines such as PostgreSQL: `-0.0 == 0.0`, every NaN equals every NaN, and NaN is greater
//! than any other float (so comparisons stay a total order, consistent with sorting).

use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, BooleanArray};
use arrow_buffer::BooleanBuffer;
use arrow_ord::cmp;
use arrow_schema::DataType as ArrowType;
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::DataType;
use std::sync::Arc;

use super::{ExprError, Lanes, Operand, null_result, shape};

/// `l op r` for a comparison `op`; `ty` is the type of both operands.
pub(super) fn compare(
    op: BinaryOp,
    l: &Operand,
    r: &Operand,
    ty: DataType,
    rows: usize,
) -> Result<Operand, ExprError> {
    let kernel = match op {
        BinaryOp::Eq => cmp::eq,
        BinaryOp::NotEq => cmp::neq,
        BinaryOp::Lt => cmp::lt,
        BinaryOp::LtEq => cmp::lt_eq,
        BinaryOp::Gt => cmp::gt,
        BinaryOp::GtEq => cmp::gt_eq,
        other => {
            return Err(ExprError::mismatch(
                "a comparison",
                "a comparison operator",
                other.symbol(),
            ));
        }
    };
    if ty == DataType::Float {
        return Ok(compare_floats(op, l, r, rows));
    }
    let result: ArrayRef = Arc::new(kernel(l, r)?);
    Ok(Operand::wrap(result, l.is_scalar() && r.is_scalar()))
}

#[inline(always)]
fn f_eq(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[inline(always)]
fn f_lt(a: f64, b: f64) -> bool {
    a < b || (b.is_nan() && !a.is_nan())
}

#[inline(always)]
fn f_le(a: f64, b: f64) -> bool {
    a <= b || b.is_nan()
}

fn compare_floats(op: BinaryOp, l: &Operand, r: &Operand, rows: usize) -> Operand {
    let Some((len, scalar, nulls)) = shape(&[l, r], rows) else {
        return null_result(&[l, r], &ArrowType::Boolean, rows);
    };
    let (a, b) = (Lanes::of::<Float64Type>(l), Lanes::of::<Float64Type>(r));
    let values = match op {
        BinaryOp::Eq => BooleanBuffer::collect_bool(len, |i| f_eq(a.get(i), b.get(i))),
        BinaryOp::NotEq => BooleanBuffer::collect_bool(len, |i| !f_eq(a.get(i), b.get(i))),
        BinaryOp::Lt => BooleanBuffer::collect_bool(len, |i| f_lt(a.get(i), b.get(i))),
        BinaryOp::LtEq => BooleanBuffer::collect_bool(len, |i| f_le(a.get(i), b.get(i))),
        BinaryOp::Gt => BooleanBuffer::collect_bool(len, |i| f_lt(b.get(i), a.get(i))),
        _ => BooleanBuffer::collect_bool(len, |i| f_le(b.get(i), a.get(i))),
    };
    Operand::wrap(Arc::new(BooleanArray::new(values, nulls)), scalar)
}
