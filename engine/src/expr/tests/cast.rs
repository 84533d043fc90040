//! Casts between the language's types.

use sluice_dsl::plan::{DataType, Value};

use super::*;
use crate::expr::ExprError;

const I: DataType = DataType::Int;
const F: DataType = DataType::Float;
const S: DataType = DataType::String;
const B: DataType = DataType::Bool;
const TS: DataType = DataType::Timestamp;
const DUR: DataType = DataType::Duration;

#[test]
fn int_to_float_and_back() {
    let b = batch(vec![ints_col(&[
        Some(1),
        Some(-3),
        None,
        Some((1 << 53) + 1),
    ])]);
    assert_eq!(
        floats(&cast_to(col(0, I), F), &b),
        vec![Some(1.0), Some(-3.0), None, Some(9_007_199_254_740_992.0)]
    );
    // float -> int truncates toward zero; NaN, infinities and out-of-range values are null.
    let b = batch(vec![floats_col(&[
        Some(1.9),
        Some(-1.9),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(1e19),
        Some(-9.3e18),
        Some(9.2e18),
        None,
        Some(-0.0),
    ])]);
    assert_eq!(
        ints(&cast_to(col(0, F), I), &b),
        vec![
            Some(1),
            Some(-1),
            None,
            None,
            None,
            None,
            None,
            Some(9_200_000_000_000_000_000),
            None,
            Some(0)
        ]
    );
}

#[test]
fn bools_to_numbers_and_back() {
    let b = batch(vec![bools_col(&[Some(true), Some(false), None])]);
    assert_eq!(
        ints(&cast_to(col(0, B), I), &b),
        vec![Some(1), Some(0), None]
    );
    assert_eq!(
        floats(&cast_to(col(0, B), F), &b),
        vec![Some(1.0), Some(0.0), None]
    );
    let b = batch(vec![ints_col(&[Some(0), Some(-2), None])]);
    assert_eq!(
        bools(&cast_to(col(0, I), B), &b),
        vec![Some(false), Some(true), None]
    );
}

#[test]
fn to_string() {
    let b = batch(vec![
        ints_col(&[Some(42), Some(-7), None, Some(i64::MIN)]),
        bools_col(&[Some(true), Some(false), None, Some(true)]),
    ]);
    assert_eq!(
        strs(&cast_to(col(0, I), S), &b),
        owned(&[Some("42"), Some("-7"), None, Some("-9223372036854775808")])
    );
    assert_eq!(
        strs(&cast_to(col(1, B), S), &b),
        owned(&[Some("true"), Some("false"), None, Some("true")])
    );
    // Floats: shortest text that parses back to the same f64.
    let b = batch(vec![floats_col(&[
        Some(1.0),
        Some(0.1),
        Some(0.1 + 0.2),
        Some(1e300),
        Some(-2.5e-8),
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(-0.0),
        None,
    ])]);
    assert_eq!(
        strs(&cast_to(col(0, F), S), &b),
        owned(&[
            Some("1.0"),
            Some("0.1"),
            Some("0.30000000000000004"),
            Some("1e300"),
            Some("-2.5e-8"),
            Some("NaN"),
            Some("inf"),
            Some("-inf"),
            Some("-0.0"),
            None,
        ])
    );
}

#[test]
fn timestamps_to_rfc3339() {
    let b = batch(vec![ts_col(&[
        Some(0),
        Some(1_357_016_400_000),   // 2013-01-01T05:00:00Z
        Some(1_357_016_400_123),   // with milliseconds
        Some(-1),                  // just before the epoch
        Some(951_825_600_000),     // 2000-02-29T12:00:00Z (leap day)
        Some(253_402_300_799_999), // last ms of year 9999
        Some(253_402_300_800_000), // year 10000: expanded form
        None,
    ])]);
    assert_eq!(
        strs(&cast_to(col(0, TS), S), &b),
        owned(&[
            Some("1970-01-01T00:00:00Z"),
            Some("2013-01-01T05:00:00Z"),
            Some("2013-01-01T05:00:00.123Z"),
            Some("1969-12-31T23:59:59.999Z"),
            Some("2000-02-29T12:00:00Z"),
            Some("9999-12-31T23:59:59.999Z"),
            Some("+10000-01-01T00:00:00Z"),
            None,
        ])
    );
}

#[test]
fn rfc3339_agrees_with_chrono_over_a_wide_range() {
    let mut ms = -62_135_596_800_000_i64; // 0001-01-01T00:00:00Z
    let mut text = String::new();
    while ms < 253_402_300_800_000 {
        text.clear();
        crate::expr::time::write_rfc3339(ms, &mut text).unwrap();
        let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(
            text,
            t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "{ms}"
        );
        ms += 7_777_777_777; // ~90 days and an odd number of ms
    }
}

#[test]
fn durations_to_and_from_text() {
    let b = batch(vec![dur_col(&[
        Some(90_000),
        Some(3_600_000),
        Some(1_500),
        Some(0),
        Some(-300_000),
        Some(172_800_000),
        None,
    ])]);
    let text = cast_to(col(0, DUR), S);
    assert_eq!(
        strs(&text, &b),
        owned(&[
            Some("90s"),
            Some("1h"),
            Some("1500ms"),
            Some("0ms"),
            Some("-5m"),
            Some("2d"),
            None
        ])
    );
    // Round trip.
    assert_eq!(
        durations(&cast_to(text, DUR), &b),
        vec![
            Some(90_000),
            Some(3_600_000),
            Some(1_500),
            Some(0),
            Some(-300_000),
            Some(172_800_000),
            None
        ]
    );
    let b = batch(vec![strs_col(&[
        Some("250ms"),
        Some("10s"),
        Some("5m"),
        Some("1h"),
        Some("2d"),
        Some("1500"),
        Some("-3s"),
        Some("x"),
        Some("1y"),
        Some("9223372036854775807d"),
        None,
    ])]);
    assert_eq!(
        durations(&cast_to(col(0, S), DUR), &b),
        vec![
            Some(250),
            Some(10_000),
            Some(300_000),
            Some(3_600_000),
            Some(172_800_000),
            Some(1_500),
            Some(-3_000),
            None,
            None,
            None,
            None
        ]
    );
}

#[test]
fn strings_to_numbers_and_bools() {
    let b = batch(vec![strs_col(&[
        Some("42"),
        Some("-7"),
        Some("abc"),
        Some("1.5"),
        Some(""),
        None,
    ])]);
    assert_eq!(
        ints(&cast_to(col(0, S), I), &b),
        vec![Some(42), Some(-7), None, None, None, None]
    );
    let b = batch(vec![strs_col(&[
        Some("1e-3"),
        Some("3.5"),
        Some("-2"),
        Some("abc"),
        Some(""),
        None,
    ])]);
    assert_eq!(
        floats(&cast_to(col(0, S), F), &b),
        vec![Some(0.001), Some(3.5), Some(-2.0), None, None, None]
    );
    let b = batch(vec![strs_col(&[Some("NaN"), Some("inf"), Some("-inf")])]);
    let special = floats(&cast_to(col(0, S), F), &b);
    assert!(special[0].unwrap().is_nan());
    assert_eq!(special[1..], [Some(f64::INFINITY), Some(f64::NEG_INFINITY)]);
    let b = batch(vec![strs_col(&[
        Some("true"),
        Some("false"),
        Some("TRUE"),
        Some("maybe"),
        None,
    ])]);
    assert_eq!(
        bools(&cast_to(col(0, S), B), &b),
        vec![Some(true), Some(false), Some(true), None, None]
    );
}

#[test]
fn strings_to_timestamps() {
    let b = batch(vec![strs_col(&[
        Some("2013-01-01T05:00:00Z"),
        Some("1357016400000"),
        Some("2013-01-01T07:00:00+02:00"),
        Some("2013-01-01"),
        Some("2013-01-01T05:00:00.123456Z"),
        Some(" 2013-01-01T05:00:00Z "),
        Some("1969-12-31T23:59:59.999Z"),
        Some("garbage"),
        Some(""),
        None,
    ])]);
    assert_eq!(
        timestamps(&cast_to(col(0, S), TS), &b),
        vec![
            Some(1_357_016_400_000),
            Some(1_357_016_400_000),
            Some(1_357_016_400_000),
            Some(1_356_998_400_000),
            Some(1_357_016_400_123),
            Some(1_357_016_400_000),
            Some(-1),
            None,
            None,
            None,
        ]
    );
}

#[test]
fn ints_and_timestamps_reinterpret() {
    let b = batch(vec![ints_col(&[Some(0), Some(1_357_016_400_000), None])]);
    assert_eq!(
        timestamps(&cast_to(col(0, I), TS), &b),
        vec![Some(0), Some(1_357_016_400_000), None]
    );
    assert_eq!(
        durations(&cast_to(col(0, I), DUR), &b),
        vec![Some(0), Some(1_357_016_400_000), None]
    );
    let b = batch(vec![
        ts_col(&[Some(-5), None]),
        dur_col(&[Some(7), Some(8)]),
    ]);
    assert_eq!(ints(&cast_to(col(0, TS), I), &b), vec![Some(-5), None]);
    assert_eq!(ints(&cast_to(col(1, DUR), I), &b), vec![Some(7), Some(8)]);
    assert_eq!(
        floats(&cast_to(col(1, DUR), F), &b),
        vec![Some(7.0), Some(8.0)]
    );
    let b = batch(vec![floats_col(&[Some(1.9), Some(f64::NAN)])]);
    assert_eq!(timestamps(&cast_to(col(0, F), TS), &b), vec![Some(1), None]);
    // Same type: no-op; constant: folded.
    assert_eq!(ints(&cast_to(int(3), I), &rows(2)), vec![Some(3); 2]);
    assert_eq!(
        strs(&cast_to(lit(Value::Timestamp(0), TS), S), &rows(1)),
        owned(&[Some("1970-01-01T00:00:00Z")])
    );
}

#[test]
fn unsupported_casts_are_errors() {
    let e = cast_to(boolean(true), TS);
    assert!(matches!(
        evaluate(&e, &rows(1)),
        Err(ExprError::UnsupportedCast {
            from: "bool",
            to: "timestamp"
        })
    ));
    let e = cast_to(lit(Value::Timestamp(0), TS), DUR);
    assert!(matches!(
        evaluate(&e, &rows(1)),
        Err(ExprError::UnsupportedCast { .. })
    ));
}
