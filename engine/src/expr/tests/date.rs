//! Dates: arithmetic with durations, differences, parts, `date_trunc` and casts, on leap days,
//! days before 1970, the year 9999 and nulls. Expected day numbers are computed by hand
//! (1970-01-01 is day 0; 2000-03-01 is 30 * 365 + 7 leap days + 31 + 29 = 11_017).

use arrow_array::Date32Array;
use arrow_array::types::Date32Type;
use sluice_dsl::plan::{DataType, ScalarFunc, TimeUnit, Value};

use super::*;

const D: DataType = DataType::Date;
const DUR: DataType = DataType::Duration;
const MS_DAY: i64 = 86_400_000;
/// 2000-02-29, 1969-12-31, 9999-12-31, 1900-03-01, null.
const DAYS: [Option<i32>; 5] = [Some(11_016), Some(-1), Some(2_932_896), Some(-25_508), None];

fn date_col(v: &[Option<i32>]) -> ArrayRef {
    Arc::new(Date32Array::from(v.to_vec()))
}

fn dates(e: &TypedExpr, b: &RecordBatch) -> Vec<Option<i32>> {
    let out = evaluate(e, b).unwrap_or_else(|err| panic!("evaluate failed: {err}"));
    assert_eq!(out.data_type(), &ArrowType::Date32);
    assert_eq!(out.len(), b.num_rows());
    out.as_primitive::<Date32Type>().iter().collect()
}

fn day_lit(d: i32) -> TypedExpr {
    lit(Value::Date(d), D)
}

fn dur(ms: i64) -> TypedExpr {
    lit(Value::Duration(ms), DUR)
}

#[test]
fn plus_and_minus_whole_days() {
    let b = batch(vec![date_col(&DAYS)]);
    let plus = bin(BinaryOp::Add, col(0, D), dur(MS_DAY), D);
    // 2000-02-29 + 1d = 2000-03-01; 9999-12-31 + 1d = 10000-01-01 (still a Date32).
    assert_eq!(
        dates(&plus, &b),
        [Some(11_017), Some(0), Some(2_932_897), Some(-25_507), None]
    );
    let minus = bin(BinaryOp::Sub, col(0, D), dur(366 * MS_DAY), D);
    assert_eq!(
        dates(&minus, &b),
        [
            Some(10_650),
            Some(-367),
            Some(2_932_530),
            Some(-25_874),
            None
        ]
    );
    let flipped = bin(BinaryOp::Add, dur(-MS_DAY), col(0, D), D);
    assert_eq!(dates(&flipped, &b)[1], Some(-2));
}

#[test]
fn part_days_round_toward_the_earlier_day() {
    let b = batch(vec![
        date_col(&[Some(0), Some(0), Some(0), Some(0), Some(5)]),
        dur_col(&[Some(1), Some(-1), Some(MS_DAY - 1), Some(-MS_DAY - 1), None]),
    ]);
    let plus = bin(BinaryOp::Add, col(0, D), col(1, DUR), D);
    assert_eq!(
        dates(&plus, &b),
        [Some(0), Some(-1), Some(0), Some(-2), None]
    );
    let minus = bin(BinaryOp::Sub, col(0, D), col(1, DUR), D);
    assert_eq!(
        dates(&minus, &b),
        [Some(-1), Some(0), Some(-1), Some(1), None]
    );
}

#[test]
fn out_of_range_results_are_null() {
    let b = batch(vec![date_col(&[Some(i32::MAX), Some(0)])]);
    let plus = bin(BinaryOp::Add, col(0, D), dur(MS_DAY), D);
    assert_eq!(dates(&plus, &b), [None, Some(1)]);
    let far = bin(BinaryOp::Sub, col(0, D), dur(i64::MIN), D);
    assert_eq!(dates(&far, &b), [None, None]);
}

#[test]
fn difference_is_whole_days() {
    let b = batch(vec![date_col(&DAYS)]);
    let diff = bin(BinaryOp::Sub, col(0, D), day_lit(0), DUR);
    assert_eq!(
        durations(&diff, &b),
        [
            Some(11_016 * MS_DAY),
            Some(-MS_DAY),
            Some(2_932_896 * MS_DAY),
            Some(-25_508 * MS_DAY),
            None
        ]
    );
}

#[test]
fn comparisons() {
    let b = batch(vec![date_col(&DAYS)]);
    let lt = bin(BinaryOp::Lt, col(0, D), day_lit(0), DataType::Bool);
    assert_eq!(
        bools(&lt, &b),
        [Some(false), Some(true), Some(false), Some(true), None]
    );
}

#[test]
fn parts_and_trunc() {
    let b = batch(vec![date_col(&DAYS)]);
    let part = |f| ints(&call(f, vec![col(0, D)], DataType::Int), &b);
    assert_eq!(
        part(ScalarFunc::Year),
        [Some(2000), Some(1969), Some(9999), Some(1900), None]
    );
    assert_eq!(
        part(ScalarFunc::Month),
        [Some(2), Some(12), Some(12), Some(3), None]
    );
    assert_eq!(
        part(ScalarFunc::Day),
        [Some(29), Some(31), Some(31), Some(1), None]
    );
    let trunc = |u| {
        dates(
            &call(ScalarFunc::DateTrunc(u), vec![string("x"), col(0, D)], D),
            &b,
        )
    };
    // 2000-02-01 = 11_016 - 28; 1969-12-01 = -31; 9999-12-01; 1900-03-01 stays.
    assert_eq!(
        trunc(TimeUnit::Month),
        [
            Some(10_988),
            Some(-31),
            Some(2_932_866),
            Some(-25_508),
            None
        ]
    );
    // 2000-01-01 = 10_957; 1969-01-01 = -365; 9999-01-01 = 2_932_896 - 364; 1900-01-01.
    assert_eq!(
        trunc(TimeUnit::Year),
        [
            Some(10_957),
            Some(-365),
            Some(2_932_532),
            Some(-25_567),
            None
        ]
    );
    assert_eq!(trunc(TimeUnit::Day), DAYS);
}

#[test]
fn casts_to_and_from_dates() {
    let b = batch(vec![date_col(&DAYS)]);
    let ts = cast_to(col(0, D), DataType::Timestamp);
    let got = timestamps(&ts, &b);
    assert_eq!(got[0], Some(951_782_400_000)); // 2000-02-29T00:00:00Z
    assert_eq!(got[1], Some(-MS_DAY));
    assert_eq!(got[4], None);
    let text = strs(&cast_to(col(0, D), DataType::String), &b);
    assert_eq!(
        text,
        [
            Some("2000-02-29".to_string()),
            Some("1969-12-31".to_string()),
            Some("9999-12-31".to_string()),
            Some("1900-03-01".to_string()),
            None
        ]
    );
    // The UTC day of a timestamp: the earlier day before 1970.
    let t = batch(vec![ts_col(&[
        Some(-1),
        Some(0),
        Some(951_868_799_999),
        None,
    ])]);
    assert_eq!(
        dates(&cast_to(col(0, DataType::Timestamp), D), &t),
        [Some(-1), Some(0), Some(11_016), None]
    );
    let s = batch(vec![strs_col(&[
        Some("2000-02-29"),
        Some(" 1969-12-31 "),
        Some("2001-02-29"),
        Some("2000-2-29"),
        Some("2013-01-01T05:00:00Z"),
        None,
    ])]);
    assert_eq!(
        dates(&cast_to(col(0, DataType::String), D), &s),
        [Some(11_016), Some(-1), None, None, None, None]
    );
}

#[test]
fn date_literals_broadcast() {
    let e = day_lit(-1);
    assert_eq!(dates(&e, &rows(3)), [Some(-1); 3]);
    assert_eq!(dates(&null(D), &rows(2)), [None, None]);
}
