//! Arithmetic: `+ - * / %` and unary `-`.
//!
//! Floats follow IEEE 754 (`1.0 / 0.0` is `inf`, `0.0 / 0.0` and `x % 0.0` are NaN) and go straight
//! to Arrow's `numeric` kernels.
//!
//! Integers never wrap. Arrow's checked kernels (`add`, `sub`, `mul`, `div`, `rem`, `neg`) run
//! first; they fail the whole batch on the first overflow or zero divisor, and only then is the
//! batch recomputed by a checked loop that makes exactly the offending rows null. The common case
//! therefore costs one vectorised kernel call, and the rare one a second pass. Division truncates
//! toward zero; `%` takes the sign of the dividend; `i64::MIN / -1` overflows (null) while
//! `i64::MIN % -1` is 0 (as in Arrow).
//!
//! Timestamps and durations are i64 milliseconds, so their arithmetic is integer arithmetic on
//! zero-copy Int64 views of them (`timestamp ± duration`, `duration + timestamp`,
//! `timestamp - timestamp`, `duration ± duration`, `duration * int`, `int * duration`,
//! `duration / int`, `duration % duration`), with the same null-on-overflow rule. Dates
//! (`date ± duration`, `date - date`) are in `date.rs`.

use arrow_arith::numeric;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer};
use arrow_schema::{ArrowError, DataType as ArrowType};
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::DataType;
use std::sync::Arc;

use super::{ExprError, Lanes, Operand, as_int64, date, from_int64, null_result, shape};

/// `l op r` where `out` is the plan's result type.
pub(super) fn binary(
    op: BinaryOp,
    (l, lt): (Operand, DataType),
    (r, rt): (Operand, DataType),
    out: DataType,
    rows: usize,
) -> Result<Operand, ExprError> {
    use BinaryOp::{Add, Div, Mod, Mul, Sub};
    use DataType::{Date, Duration as Dur, Float, Int, Timestamp as Ts};
    let scalar = l.is_scalar() && r.is_scalar();
    let expected = match (lt, op, rt) {
        (Date, Add | Sub, Dur) if out == Date => return date::add_duration(op, &l, &r, rows),
        (Dur, Add, Date) if out == Date => return date::add_duration(op, &r, &l, rows),
        (Date, Sub, Date) if out == Dur => return date::difference(&l, &r, rows),
        (Float, _, Float) => {
            let kernel = match op {
                Add => numeric::add,
                Sub => numeric::sub,
                Mul => numeric::mul,
                Div => numeric::div,
                _ => numeric::rem,
            };
            return Ok(Operand::wrap(kernel(&l, &r)?, scalar));
        }
        (Int, _, Int) => Int,
        (Ts, Add | Sub, Dur) | (Dur, Add, Ts) => Ts,
        (Ts, Sub, Ts) | (Dur, Add | Sub | Mod, Dur) | (Dur, Mul | Div, Int) | (Int, Mul, Dur) => {
            Dur
        }
        _ => {
            return Err(ExprError::mismatch(
                format!("`{}`", op.symbol()),
                "matching numeric, timestamp or duration operands",
                format!("{} {} {}", lt.name(), op.symbol(), rt.name()),
            ));
        }
    };
    if out != expected {
        return Err(ExprError::mismatch(
            format!("result of `{}`", op.symbol()),
            expected.name(),
            out.name(),
        ));
    }
    let (l, r) = (as_int64(&l)?, as_int64(&r)?);
    let ints = int_op(op, &l, &r, rows)?;
    Ok(Operand::wrap(from_int64(&ints, out)?, scalar))
}

/// Integer `l op r` with null for overflowing rows and zero divisors.
fn int_op(op: BinaryOp, l: &Operand, r: &Operand, rows: usize) -> Result<ArrayRef, ExprError> {
    let kernel = match op {
        BinaryOp::Add => numeric::add,
        BinaryOp::Sub => numeric::sub,
        BinaryOp::Mul => numeric::mul,
        BinaryOp::Div => numeric::div,
        _ => numeric::rem,
    };
    match kernel(l, r) {
        Ok(a) => Ok(a),
        Err(ArrowError::ArithmeticOverflow(_) | ArrowError::DivideByZero) => Ok(match op {
            BinaryOp::Add => checked(l, r, rows, i64::checked_add),
            BinaryOp::Sub => checked(l, r, rows, i64::checked_sub),
            BinaryOp::Mul => checked(l, r, rows, i64::checked_mul),
            BinaryOp::Div => checked(l, r, rows, i64::checked_div),
            _ => checked(l, r, rows, |a, b| (b != 0).then(|| a.wrapping_rem(b))),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The slow path of [`int_op`]: one checked operation per row, `None` making the row null.
fn checked(l: &Operand, r: &Operand, rows: usize, f: impl Fn(i64, i64) -> Option<i64>) -> ArrayRef {
    let Some((len, _, nulls)) = shape(&[l, r], rows) else {
        return null_result(&[l, r], &ArrowType::Int64, rows)
            .array()
            .clone();
    };
    let (a, b) = (Lanes::of::<Int64Type>(l), Lanes::of::<Int64Type>(r));
    let mut values = Vec::with_capacity(len);
    let mut ok = BooleanBufferBuilder::new(len);
    for i in 0..len {
        let v = f(a.get(i), b.get(i));
        ok.append(v.is_some());
        values.push(v.unwrap_or(0));
    }
    let nulls = NullBuffer::union(nulls.as_ref(), Some(&NullBuffer::new(ok.finish())));
    Arc::new(Int64Array::new(values.into(), nulls))
}

/// Unary minus on int (null on `-i64::MIN`), float, or duration.
pub(super) fn negate(v: Operand, ty: DataType) -> Result<Operand, ExprError> {
    match ty {
        DataType::Float => v.map(|a| Ok(numeric::neg(a)?)),
        DataType::Int | DataType::Duration => {
            let ints = as_int64(&v)?;
            ints.map(|a| {
                let negated = match numeric::neg(a) {
                    Ok(n) => n,
                    Err(ArrowError::ArithmeticOverflow(_)) => Arc::new(
                        a.as_primitive::<Int64Type>()
                            .unary_opt::<_, Int64Type>(i64::checked_neg),
                    ),
                    Err(e) => return Err(e.into()),
                };
                from_int64(&negated, ty)
            })
        }
        other => Err(ExprError::mismatch(
            "unary `-`",
            "int, float or duration",
            other.name(),
        )),
    }
}
