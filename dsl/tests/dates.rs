//! The `date` type and per-column `format`: typing, errors, literals and the formatter.

use sluice_dsl::diagnostic::Diagnostic;
use sluice_dsl::plan::{DataType, LogicalPlan, OpKind, TExpr, TimeFormat, Value};
use sluice_dsl::syntax::{format, parse};

const PRELUDE: &str = r#"
source s = file("f.csv") as csv {
  schema {
    d: date
    dn: date?
    ts: timestamp
    dur: duration
    txt: string
  }
}
"#;

fn compile(body: &str) -> Result<LogicalPlan, Vec<Diagnostic>> {
    sluice_dsl::compile(&format!("{PRELUDE}{body}"), "t", &|_| None)
}

fn schema_of(body: &str) -> String {
    let p = compile(body).unwrap_or_else(|ds| panic!("{:?}", messages_of(&ds)));
    p.streams[0].schema.to_string()
}

fn messages_of(ds: &[Diagnostic]) -> Vec<String> {
    ds.iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

fn messages(body: &str) -> Vec<String> {
    match compile(body) {
        Ok(p) => panic!("expected errors, got a plan:\n{p}"),
        Err(ds) => messages_of(&ds),
    }
}

#[test]
fn date_operators_and_functions_have_their_types() {
    assert_eq!(
        schema_of(
            "stream x = s | select a = d + 1d, b = 2d + d, c = d - 30d, e = d - @1970-01-01, \
             f = dn + 1d, g = d < @2000-01-01, h = year(d), i = month(dn), j = day(d), \
             k = date_trunc(\"month\", d), l = date_trunc(\"year\", dn), m = d + (ts - ts)"
        ),
        "[a: date, b: date, c: date, e: duration, f: date?, g: bool, h: int, i: int?, j: int, \
         k: date, l: date?, m: date]"
    );
}

#[test]
fn date_casts() {
    assert_eq!(
        schema_of(
            "stream x = s | select a = date(ts), b = date(txt), c = timestamp(d), \
             e = string(d), f = date(null), g = date(d)"
        ),
        "[a: date, b: date?, c: timestamp, e: string, f: date?, g: date]"
    );
    let m = messages("stream x = s | select a = date(1), b = int(d), c = date(dur)");
    assert_eq!(
        m,
        [
            "E0208 cannot convert `int` to `date`",
            "E0208 cannot convert `date` to `int`",
            "E0208 cannot convert `duration` to `date`",
        ]
    );
}

#[test]
fn date_literals_are_days_since_1970() {
    let p =
        compile("stream x = s | where d == @1969-12-31 or d == @2000-02-29 or d == @9999-12-31")
            .unwrap();
    let text = p.to_string();
    assert!(
        text.contains("@1969-12-31") && text.contains("@9999-12-31"),
        "{text}"
    );
    let OpKind::Filter(e) = &p.streams[0].ops[0].kind else {
        panic!()
    };
    let mut days = Vec::new();
    collect_dates(e, &mut days);
    // 2000-02-29: 30 years of 365 days plus 7 leap days, then 31 + 28 days.
    assert_eq!(days, [-1, 30 * 365 + 7 + 59, 2_932_896]);
}

fn collect_dates(e: &sluice_dsl::plan::TypedExpr, out: &mut Vec<i32>) {
    match &e.kind {
        TExpr::Literal(Value::Date(d)) => out.push(*d),
        TExpr::Binary(_, l, r) => {
            collect_dates(l, out);
            collect_dates(r, out);
        }
        _ => {}
    }
}

#[test]
fn date_type_errors() {
    let m = messages(
        "stream x = s | select a = d + 12h, b = d < ts, c = d * 2, e = d + d, \
         f = date_trunc(\"hour\", d), g = hour(d), h = @2021-02-29",
    );
    assert_eq!(
        m,
        [
            "E0202 a date moves by whole days only",
            "E0203 cannot compare `date` with `timestamp`",
            "E0202 cannot apply `*` to `date` and `int`",
            "E0202 cannot apply `+` to `date` and `date`",
            "E0213 a date has no time of day to truncate",
            "E0208 argument 1 of `hour` must be `timestamp`, found `date`",
            "E0012 invalid date literal `@2021-02-29`",
        ]
    );
    assert!(messages("stream x = s | aggregate t = sum(d)")[0].starts_with("E0208"));
}

#[test]
fn aggregates_keys_and_joins_take_dates() {
    assert_eq!(
        schema_of(
            "stream x = s | group by d | aggregate n = count(), lo = min(dn), hi = max(dn), \
             f = first(dn), l = last(d), c = count_distinct(dn)"
        ),
        "[d: date, n: int, lo: date?, hi: date?, f: date?, l: date, c: int]"
    );
    let p = compile(
        "table days = file(\"t.csv\") as csv { schema { day: date  name: string }  key = day }\n\
         stream x = s | join days on d == days.day | top 1 by dn desc per d \
         | distinct on d within 1h",
    );
    assert!(p.is_ok(), "{:?}", p.err().map(|d| messages_of(&d)));
}

#[test]
fn column_formats_reach_the_plan() {
    let p = sluice_dsl::compile(
        r#"source s = file("f.csv") as csv {
  schema { a: int  t: timestamp format "%d/%m/%Y %H:%M"  e: timestamp? format "epoch_s"  d: date format "%Y%m%d" }
}
stream x = s
sink o = stdout as csv <- x
"#,
        "t",
        &|_| None,
    )
    .unwrap();
    assert_eq!(
        p.sources[0].formats,
        [
            None,
            Some(TimeFormat::Pattern("%d/%m/%Y %H:%M".into())),
            Some(TimeFormat::EpochS),
            Some(TimeFormat::Pattern("%Y%m%d".into())),
        ]
    );
    assert!(
        p.to_string()
            .contains(r#"formats=[t: "%d/%m/%Y %H:%M", e: "epoch_s", d: "%Y%m%d"]"#)
    );
}

#[test]
fn bad_column_formats_are_diagnostics() {
    let ds = sluice_dsl::compile(
        r#"source s = file("f.csv") as csv {
  schema { a: int format "%Y"  t: timestamp format "%Y-%m-%d %Q"  u: timestamp format "%H:%M" }
}
"#,
        "t",
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(
        messages_of(&ds),
        [
            "E0132 `format` on int column `a`",
            "E0133 bad time format `%Y-%m-%d %Q`",
            "E0133 bad time format `%H:%M`",
        ]
    );
}

#[test]
fn time_format_parsing() {
    let f = TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap();
    assert_eq!(f.millis("2013-01-01 05:00:00"), Some(1_357_016_400_000));
    assert_eq!(f.millis("2013-01-01T05:00:00"), None);
    let zoned = TimeFormat::parse("%Y-%m-%d %H:%M %z").unwrap();
    assert_eq!(
        zoned.millis("2013-01-01 07:00 +0200"),
        Some(1_357_016_400_000)
    );
    let day = TimeFormat::parse("%d.%m.%Y").unwrap();
    assert_eq!(day.millis("31.12.1969"), Some(-86_400_000));
    assert_eq!(day.millis("29.02.2001"), None);
    assert_eq!(
        TimeFormat::parse("epoch_s").unwrap().millis("-1"),
        Some(-1000)
    );
    assert_eq!(TimeFormat::EpochUs.millis_of_int(-1), Some(-1));
    assert_eq!(TimeFormat::EpochS.millis_of_int(i64::MAX), None);
    assert!(TimeFormat::parse("%Y-%m").is_err());
}

#[test]
fn formatter_keeps_formats_and_date_literals() {
    let src = "source s = file(\"f.csv\") as csv {\n  schema {\n    t: timestamp format \"%d/%m/%Y \\\"x\\\"\"  # why\n    d: date\n  }\n}\n\nstream x = s\n  | where d > @1996-03-13\n";
    let (p, diags) = parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(format(&p), src);
    let DataType::Date = DataType::from_name("date").unwrap() else {
        panic!()
    };
}
