//! `hour`/`day`/`month`/`year` and `date_trunc`.

use sluice_dsl::plan::{DataType, ScalarFunc, TimeUnit, Value};

use super::*;
use crate::expr::time::{civil_from_days, days_from_civil};

const TS: DataType = DataType::Timestamp;
const I: DataType = DataType::Int;

fn ts_batch() -> RecordBatch {
    batch(vec![ts_col(&[
        Some(1_357_016_400_000), // 2013-01-01T05:00:00Z
        Some(-1),                // 1969-12-31T23:59:59.999Z
        Some(951_825_600_000),   // 2000-02-29T12:00:00Z
        None,
        Some(1_363_355_245_123), // 2013-03-15T13:47:25.123Z
    ])])
}

#[test]
fn date_parts_in_utc() {
    let b = ts_batch();
    let part = |f| ints(&call(f, vec![col(0, TS)], I), &b);
    assert_eq!(
        part(ScalarFunc::Hour),
        vec![Some(5), Some(23), Some(12), None, Some(13)]
    );
    assert_eq!(
        part(ScalarFunc::Day),
        vec![Some(1), Some(31), Some(29), None, Some(15)]
    );
    assert_eq!(
        part(ScalarFunc::Month),
        vec![Some(1), Some(12), Some(2), None, Some(3)]
    );
    assert_eq!(
        part(ScalarFunc::Year),
        vec![Some(2013), Some(1969), Some(2000), None, Some(2013)]
    );
    let e = call(ScalarFunc::Year, vec![lit(Value::Timestamp(0), TS)], I);
    assert_eq!(ints(&e, &rows(2)), vec![Some(1970); 2]);
}

#[test]
fn date_trunc_every_unit() {
    let b = ts_batch();
    let trunc = |unit| {
        let e = call(
            ScalarFunc::DateTrunc(unit),
            vec![string("unit"), col(0, TS)],
            TS,
        );
        timestamps(&e, &b)
    };
    assert_eq!(
        trunc(TimeUnit::Second),
        vec![
            Some(1_357_016_400_000),
            Some(-1_000),
            Some(951_825_600_000),
            None,
            Some(1_363_355_245_000)
        ]
    );
    assert_eq!(
        trunc(TimeUnit::Minute),
        vec![
            Some(1_357_016_400_000),
            Some(-60_000),
            Some(951_825_600_000),
            None,
            Some(1_363_355_220_000)
        ]
    );
    assert_eq!(
        trunc(TimeUnit::Hour),
        vec![
            Some(1_357_016_400_000),
            Some(-3_600_000),
            Some(951_825_600_000),
            None,
            Some(1_363_352_400_000)
        ]
    );
    assert_eq!(
        trunc(TimeUnit::Day),
        vec![
            Some(1_356_998_400_000),
            Some(-86_400_000),
            Some(951_782_400_000),
            None,
            Some(1_363_305_600_000)
        ]
    );
    assert_eq!(
        trunc(TimeUnit::Month),
        // 2013-01-01, 1969-12-01, 2000-02-01, -, 2013-03-01
        vec![
            Some(1_356_998_400_000),
            Some(-2_678_400_000),
            Some(949_363_200_000),
            None,
            Some(1_362_096_000_000)
        ]
    );
    assert_eq!(
        trunc(TimeUnit::Year),
        // 2013-01-01, 1969-01-01, 2000-01-01, -, 2013-01-01
        vec![
            Some(1_356_998_400_000),
            Some(-31_536_000_000),
            Some(946_684_800_000),
            None,
            Some(1_356_998_400_000)
        ]
    );
    // The timestamp alone as the only argument also works; out-of-range results are null.
    let e = call(
        ScalarFunc::DateTrunc(TimeUnit::Second),
        vec![lit(Value::Timestamp(i64::MIN), TS)],
        TS,
    );
    assert_eq!(timestamps(&e, &rows(1)), vec![None]);
}

#[test]
fn civil_calendar_agrees_with_chrono() {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let mut days = -800_000_i64; // about 220 BCE
    while days < 3_000_000 {
        let date = epoch + chrono::Duration::days(days);
        let (y, m, d) = civil_from_days(days);
        use chrono::Datelike;
        assert_eq!(
            (y, m, d),
            (i64::from(date.year()), date.month(), date.day()),
            "{days}"
        );
        assert_eq!(days_from_civil(y, m, d), days);
        days += 97;
    }
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}
