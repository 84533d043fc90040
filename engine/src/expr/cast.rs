//! Casts: the checker's int -> float widening and the explicit `int()`, `float()`, `string()`,
//! `timestamp()` (and, symmetrically, to duration and bool). Bad data never fails a cast; it
//! gives null.
//!
//! | from -> to | rule | how |
//! |---|---|---|
//! | int -> float | nearest f64 | `arrow_cast` |
//! | float -> int | truncate toward zero; NaN, ±inf, out of i64 range -> null | `arrow_cast` (safe) |
//! | bool -> int/float | 1 / 0 | `arrow_cast` |
//! | int/float -> bool | non-zero is true | `arrow_cast` |
//! | int/float/bool -> string | decimal; floats shortest round-trip (ryu: `1.0`, `0.1`, `1e300`, `NaN`, `inf`); `true`/`false` | `arrow_cast` |
//! | string -> int/float/bool | Arrow's parsers; unparsable -> null | `arrow_cast` (safe) |
//! | timestamp -> string | RFC 3339 UTC with `Z` (`.mmm` only if non-zero) | loop, `time.rs` |
//! | duration -> string | literal form (`90s`, `1h`, `1500ms`) | loop, `time.rs` |
//! | string -> timestamp | integer epoch ms or RFC 3339/ISO 8601; else null | loop, `time.rs` |
//! | string -> duration | integer ms or a literal (`250ms`, `10s`); else null | loop, `time.rs` |
//! | int <-> timestamp/duration | epoch / plain milliseconds | zero-copy reinterpretation |
//! | float -> timestamp/duration | via int (truncate) | `arrow_cast` + reinterpretation |
//! | timestamp/duration -> float | milliseconds | reinterpretation + `arrow_cast` |
//! | date -> timestamp | midnight UTC | loop, `date.rs` |
//! | timestamp -> date | the UTC day (earlier day before 1970) | loop, `date.rs` |
//! | string -> date | `YYYY-MM-DD`; else null | loop, `date.rs` |
//! | date -> string | `YYYY-MM-DD` | `arrow_cast` |

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{DurationMillisecondType, TimestampMillisecondType};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, DurationMillisecondArray, StringArray, TimestampMillisecondArray,
    builder::StringBuilder,
};
use arrow_schema::ArrowError;
use sluice_dsl::plan::DataType;

use super::time::{parse_duration, parse_timestamp, write_duration, write_rfc3339};
use super::{ExprError, Operand, as_int64, date, from_int64};
use crate::arrow_schema_map::arrow_type;

/// Casts `v` of plan type `from` to plan type `to`.
pub(super) fn cast(v: Operand, from: DataType, to: DataType) -> Result<Operand, ExprError> {
    use DataType::{Bool, Date, Duration as Dur, Float, Int, String as Str, Timestamp as Ts};
    if from == to {
        return Ok(v);
    }
    match (from, to) {
        (Int | Float | Bool, Int | Float | Bool | Str) | (Str, Int | Float | Bool) => {
            v.map(|a| kernel(a, to))
        }
        (Int, Ts | Dur) | (Ts | Dur, Int) => as_int64(&v)?.map(|a| from_int64(a, to)),
        (Float, Ts | Dur) => v.map(|a| from_int64(&kernel(a, Int)?, to)),
        (Ts | Dur, Float) => as_int64(&v)?.map(|a| kernel(a, Float)),
        (Ts, Str) => v.map(|a| Ok(format::<TimestampMillisecondType>(a, 24, write_rfc3339)?)),
        (Dur, Str) => v.map(|a| Ok(format::<DurationMillisecondType>(a, 8, write_duration)?)),
        (Str, Ts) => v.map(|a| {
            let out: TimestampMillisecondArray = parse(a, parse_timestamp);
            Ok(Arc::new(out) as ArrayRef)
        }),
        (Date, Ts) => v.map(date::to_timestamp),
        (Ts, Date) => v.map(date::of_timestamp),
        (Str, Date) => v.map(date::parse),
        (Date, Str) => v.map(|a| kernel(a, Str)),
        (Str, Dur) => v.map(|a| {
            let out: DurationMillisecondArray = parse(a, parse_duration);
            Ok(Arc::new(out) as ArrayRef)
        }),
        _ => Err(ExprError::UnsupportedCast {
            from: from.name(),
            to: to.name(),
        }),
    }
}

/// Arrow's cast kernel in safe mode (a value that does not convert becomes null).
fn kernel(a: &ArrayRef, to: DataType) -> Result<ArrayRef, ExprError> {
    Ok(arrow_cast::cast(a.as_ref(), &arrow_type(to))?)
}

/// Formats each non-null i64 of `a` into a string column with `write`.
fn format<T: ArrowPrimitiveType<Native = i64>>(
    a: &ArrayRef,
    bytes_per_row: usize,
    write: impl Fn(i64, &mut StringBuilder) -> fmt::Result,
) -> Result<ArrayRef, ArrowError> {
    let values = a.as_primitive::<T>();
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * bytes_per_row);
    for v in values.iter() {
        match v {
            Some(v) => {
                write(v, &mut out).map_err(|e| ArrowError::ComputeError(e.to_string()))?;
                out.append_value("");
            }
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()) as ArrayRef)
}

/// Parses each string of `a` with `parse`; `None` (unparsable) becomes null.
fn parse<T>(a: &ArrayRef, parse: impl Fn(&str) -> Option<i64>) -> arrow_array::PrimitiveArray<T>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    let strings: &StringArray = a.as_string::<i32>();
    strings.iter().map(|s| s.and_then(&parse)).collect()
}
