use crate::connectors::scalar::*;

#[test]
fn timestamps_parse_from_rfc3339_and_epoch_ms() {
    let t = 1_357_016_400_000;
    for (text, want) in [
        ("2013-01-01T05:00:00Z", Some(t)),
        ("2013-01-01t05:00:00z", Some(t)),
        ("2013-01-01 05:00:00", Some(t)),
        ("2013-01-01T05:00:00.1Z", Some(t + 100)),
        ("2013-01-01T05:00:00.123456Z", Some(t + 123)),
        ("2013-01-01T06:30:00+01:30", Some(t)),
        ("2013-01-01T03:00:00-02:00", Some(t)),
        ("2013-01-01", Some(t - 5 * 3_600_000)),
        ("1357016400000", Some(t)),
        ("-1", Some(-1)),
        ("2012-02-29T00:00:00Z", Some(1_330_473_600_000)),
        ("2013-02-29T00:00:00Z", None),
        ("2013-13-01T05:00:00Z", None),
        ("2013-01-01T24:00:00Z", None),
        ("2013-01-01T05:00Z", None),
        ("2013-01-01T05:00:00.Z", None),
        ("2013-01-01T05:00:00+0100", None),
        ("2013-01-01T05:00:00Zjunk", None),
        ("yesterday", None),
        ("", None),
        ("99999999999999999999", None),
    ] {
        assert_eq!(parse_timestamp(text), want, "{text}");
    }
}

#[test]
fn timestamps_format_as_rfc3339_utc() {
    let mut out = Vec::new();
    for (ms, want) in [
        (1_357_016_400_000, "2013-01-01T05:00:00Z"),
        (1_357_016_400_120, "2013-01-01T05:00:00.120Z"),
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00Z"),
        (253_402_300_800_000, "+10000-01-01T00:00:00Z"),
    ] {
        out.clear();
        write_timestamp(&mut out, ms);
        assert_eq!(std::str::from_utf8(&out).unwrap(), want);
        if !want.starts_with('+') {
            assert_eq!(parse_timestamp(want), Some(ms));
        }
    }
}

#[test]
fn civil_day_conversion_round_trips() {
    for days in (-800_000..800_000).step_by(997) {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
    }
}

#[test]
fn ints_bools_and_durations() {
    assert_eq!(parse_int("-9223372036854775808"), Ok(i64::MIN));
    assert_eq!(parse_int("+42"), Ok(42));
    assert_eq!(parse_int("9223372036854775808"), Err(IntError::OutOfRange));
    assert_eq!(parse_int("99999999999999999999x"), Err(IntError::Invalid));
    assert_eq!(parse_int("1 "), Err(IntError::Invalid));
    assert_eq!(parse_int("-"), Err(IntError::Invalid));
    assert_eq!(parse_bool("TRUE"), Some(true));
    assert_eq!(parse_bool("0"), Some(false));
    assert_eq!(parse_bool("yes"), None);
    assert_eq!(parse_duration("250ms"), Some(250));
    assert_eq!(parse_duration("2d"), Some(172_800_000));
    assert_eq!(parse_duration("-5"), Some(-5));
    assert_eq!(parse_duration("5x"), None);
    assert_eq!(shown(&"é".repeat(40)).chars().count(), 32 + 3);
}

#[test]
fn float_fast_path_agrees_with_the_standard_parser() {
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "1.5",
        "-2.25",
        ".5",
        "5.",
        "123456789012345",
        "1234567890.12345",
        "0.1",
        "0.3",
        "4076.5",
        "-0.000000000000001",
        "+7",
        "1e3",
        "inf",
        "NaN",
        "1234567890123456",
        "1.2.3",
        "",
        "-",
        ".",
        "1_0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let int = x % 1_000_000_000;
        let frac = (x >> 32) % 1_000_000;
        let width = (x >> 60) as usize % 7;
        texts.push(format!("{int}.{frac:0width$}"));
    }
    for t in &texts {
        let want = t.parse::<f64>().ok();
        let got = parse_float(t);
        assert_eq!(
            got.map(f64::to_bits),
            want.map(f64::to_bits),
            "{t}: {got:?} vs {want:?}"
        );
    }
}
