//! Scalar functions (`TExpr::Func`): argument checking and dispatch to the modules that
//! implement them. Every argument is evaluated once, as a column or a constant.

use arrow_array::RecordBatch;
use sluice_dsl::plan::{DataType, ScalarFunc, TypedExpr};

use super::{ExprError, Operand, date, eval, geo, strings, time};

/// Checks that `args` have the types `want` and evaluates them.
fn eval_args<const N: usize>(
    f: ScalarFunc,
    args: &[TypedExpr],
    want: [DataType; N],
    batch: &RecordBatch,
) -> Result<[Operand; N], ExprError> {
    if args.len() != N {
        return Err(ExprError::Arity {
            func: f.name(),
            expected: N,
            found: args.len(),
        });
    }
    let mut out = Vec::with_capacity(N);
    for (i, (arg, ty)) in args.iter().zip(want).enumerate() {
        if arg.ty != ty {
            return Err(ExprError::mismatch(
                format!("argument {} of `{}`", i + 1, f.name()),
                ty.name(),
                arg.ty.name(),
            ));
        }
        out.push(eval(arg, batch)?);
    }
    // `out` has exactly N items by the length check above.
    out.try_into().map_err(|v: Vec<Operand>| ExprError::Arity {
        func: f.name(),
        expected: N,
        found: v.len(),
    })
}

/// Evaluates `f(args)`.
pub(super) fn call(
    f: ScalarFunc,
    args: &[TypedExpr],
    batch: &RecordBatch,
) -> Result<Operand, ExprError> {
    use DataType::{Date, Float, Int, String as Str, Timestamp};
    let rows = batch.num_rows();
    match f {
        ScalarFunc::Lower | ScalarFunc::Upper => {
            let [s] = eval_args(f, args, [Str], batch)?;
            s.map(|a| strings::change_case(a, f == ScalarFunc::Upper))
        }
        ScalarFunc::Length => {
            let [s] = eval_args(f, args, [Str], batch)?;
            s.map(strings::char_length)
        }
        ScalarFunc::Concat => {
            let mut parts = Vec::with_capacity(args.len());
            for (i, arg) in args.iter().enumerate() {
                if arg.ty != Str {
                    return Err(ExprError::mismatch(
                        format!("argument {} of `concat`", i + 1),
                        "string",
                        arg.ty.name(),
                    ));
                }
                parts.push(eval(arg, batch)?);
            }
            strings::concat(parts, rows)
        }
        ScalarFunc::Contains | ScalarFunc::StartsWith => {
            let [s, p] = eval_args(f, args, [Str, Str], batch)?;
            strings::predicate(f == ScalarFunc::StartsWith, &s, &p)
        }
        ScalarFunc::Substr => {
            let [s, start, len] = eval_args(f, args, [Str, Int, Int], batch)?;
            strings::substr(&s, &start, &len, rows)
        }
        ScalarFunc::Hour | ScalarFunc::Day | ScalarFunc::Month | ScalarFunc::Year => {
            // `day`/`month`/`year` also take a date; Arrow's `date_part` reads both.
            let want = match args.first() {
                Some(a) if a.ty == Date && f != ScalarFunc::Hour => Date,
                _ => Timestamp,
            };
            let [ts] = eval_args(f, args, [want], batch)?;
            time::date_part(ts, f)
        }
        ScalarFunc::DateTrunc(unit) => {
            // The checker keeps the unit literal as the first argument; the unit itself is
            // carried by `DateTrunc`, so only the timestamp is evaluated.
            let ts = match args {
                [_, ts] | [ts] => ts,
                _ => {
                    return Err(ExprError::Arity {
                        func: f.name(),
                        expected: 2,
                        found: args.len(),
                    });
                }
            };
            if ts.ty == Date {
                let [d] = eval_args(f, std::slice::from_ref(ts), [Date], batch)?;
                return date::trunc(d, unit);
            }
            let [ts] = eval_args(f, std::slice::from_ref(ts), [Timestamp], batch)?;
            time::date_trunc(ts, unit)
        }
        ScalarFunc::HaversineKm => {
            let [a, b, c, d] = eval_args(f, args, [Float; 4], batch)?;
            Ok(geo::haversine_km([&a, &b, &c, &d], rows))
        }
        ScalarFunc::Geohash => {
            let [lat, lon, precision] = eval_args(f, args, [Float, Float, Int], batch)?;
            Ok(geo::geohash(&lat, &lon, &precision, rows))
        }
    }
}
