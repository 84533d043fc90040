//! Dates (Arrow `Date32`, days since 1970-01-01): arithmetic, `date_trunc`, and the casts from
//! and to timestamps and strings.
//!
//! `date ± duration` is the UTC day that contains `timestamp(date) ± duration`: whole days move
//! the date exactly, and a computed duration that is not whole days rounds toward the earlier
//! day (`d - 1ms` is the day before; the checker rejects non-whole-day literals). `date - date`
//! is a duration of whole days. A result outside Date32's range is null.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, DurationMillisecondType, TimestampMillisecondType};
use arrow_array::{
    ArrayRef, Date32Array, DurationMillisecondArray, StringArray, TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer};
use arrow_schema::DataType as ArrowType;
use sluice_dsl::ast::BinaryOp;
use sluice_dsl::plan::TimeUnit;
use sluice_dsl::time_format::{day_of_millis, parse_iso_date};

use super::time::{MS_PER_DAY, civil_from_days, days_from_civil};
use super::{ExprError, Lanes, Operand, null_result, shape};

/// `date + duration`, `date - duration` (`days` on the left, milliseconds on the right).
pub(super) fn add_duration(
    op: BinaryOp,
    d: &Operand,
    ms: &Operand,
    rows: usize,
) -> Result<Operand, ExprError> {
    let sub = op == BinaryOp::Sub;
    let Some((len, scalar, nulls)) = shape(&[d, ms], rows) else {
        return Ok(null_result(&[d, ms], &ArrowType::Date32, rows));
    };
    let (a, b) = (
        Lanes::of::<Date32Type>(d),
        Lanes::of::<DurationMillisecondType>(ms),
    );
    let (values, ok) = checked(len, |i| {
        let delta = if sub {
            b.get(i).checked_neg()?
        } else {
            b.get(i)
        };
        let days = i64::from(a.get(i)).checked_add(delta.div_euclid(MS_PER_DAY))?;
        i32::try_from(days).ok()
    });
    let nulls = NullBuffer::union(nulls.as_ref(), Some(&ok));
    let out: ArrayRef = Arc::new(Date32Array::new(values.into(), nulls));
    Ok(Operand::wrap(out, scalar))
}

/// `date - date`: whole days as a duration.
pub(super) fn difference(l: &Operand, r: &Operand, rows: usize) -> Result<Operand, ExprError> {
    let Some((len, scalar, nulls)) = shape(&[l, r], rows) else {
        return Ok(null_result(
            &[l, r],
            &ArrowType::Duration(arrow_schema::TimeUnit::Millisecond),
            rows,
        ));
    };
    let (a, b) = (Lanes::of::<Date32Type>(l), Lanes::of::<Date32Type>(r));
    // i32 days times ms per day always fits in i64.
    let values: Vec<i64> = (0..len)
        .map(|i| (i64::from(a.get(i)) - i64::from(b.get(i))) * MS_PER_DAY)
        .collect();
    let out: ArrayRef = Arc::new(DurationMillisecondArray::new(values.into(), nulls));
    Ok(Operand::wrap(out, scalar))
}

/// One value per row from `f`, `None` giving a null (the returned validity).
fn checked(len: usize, f: impl Fn(usize) -> Option<i32>) -> (Vec<i32>, NullBuffer) {
    let mut values = Vec::with_capacity(len);
    let mut ok = BooleanBufferBuilder::new(len);
    for i in 0..len {
        let v = f(i);
        ok.append(v.is_some());
        values.push(v.unwrap_or(0));
    }
    (values, NullBuffer::new(ok.finish()))
}

/// `date_trunc("day" | "month" | "year", d)`: the first day of its month or year.
pub(super) fn trunc(d: Operand, unit: TimeUnit) -> Result<Operand, ExprError> {
    d.map(|a| {
        let a = a.as_primitive::<Date32Type>();
        let out: Date32Array = match unit {
            TimeUnit::Month => a.unary(|v| {
                let (y, m, _) = civil_from_days(i64::from(v));
                days_from_civil(y, m, 1) as i32
            }),
            TimeUnit::Year => a.unary(|v| {
                let (y, _, _) = civil_from_days(i64::from(v));
                days_from_civil(y, 1, 1) as i32
            }),
            _ => a.clone(),
        };
        Ok(Arc::new(out) as ArrayRef)
    })
}

/// `timestamp(d)`: midnight UTC.
pub(super) fn to_timestamp(a: &ArrayRef) -> Result<ArrayRef, ExprError> {
    let out: TimestampMillisecondArray = a
        .as_primitive::<Date32Type>()
        .unary(|d| i64::from(d) * MS_PER_DAY);
    Ok(Arc::new(out))
}

/// `date(ts)`: the UTC day (toward the earlier day before 1970).
pub(super) fn of_timestamp(a: &ArrayRef) -> Result<ArrayRef, ExprError> {
    let out: Date32Array = a
        .as_primitive::<TimestampMillisecondType>()
        .unary_opt(day_of_millis);
    Ok(Arc::new(out))
}

/// `date(s)`: `YYYY-MM-DD` (surrounding spaces ignored); anything else is null.
pub(super) fn parse(a: &ArrayRef) -> Result<ArrayRef, ExprError> {
    let strings: &StringArray = a.as_string::<i32>();
    let out: Date32Array = strings
        .iter()
        .map(|s| s.and_then(|s| parse_iso_date(s.trim())))
        .collect();
    Ok(Arc::new(out))
}
