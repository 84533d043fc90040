//! Date columns and per-column time formats in the CSV and JSONL readers, and dates in the
//! encoders. Expected values are computed by hand: 1996-03-13 is day 9568
//! (26 years of 365 days + 6 leap days + 31 + 29 + 12), 2013-01-01T05:00:00Z is
//! 1_357_016_400_000 ms.

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, RecordBatch};
use sluice_dsl::plan::{DataType, Format, Schema, TimeFormat};

use super::*;
use crate::arrow_schema_map::arrow_schema;
use crate::connectors::Encoder;
use crate::connectors::scalar::{parse_date, write_date};

fn pattern(p: &str) -> Option<TimeFormat> {
    Some(TimeFormat::parse(p).unwrap())
}

#[test]
fn iso_dates_parse_and_write_back() {
    for (text, days) in [
        ("1970-01-01", 0),
        ("1969-12-31", -1),
        ("1996-03-13", 9568),
        ("2000-02-29", 11_016),
        ("1900-03-01", -25_508),
        ("0000-01-01", -719_528),
        ("9999-12-31", 2_932_896),
    ] {
        assert_eq!(parse_date(text), Some(days), "{text}");
        let mut out = Vec::new();
        write_date(&mut out, i64::from(days));
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
    for bad in [
        "1900-02-29",
        "2001-02-29",
        "1996-13-01",
        "1996-3-13",
        "1996-03-13T00:00:00Z",
        "19960313",
        " 1996-03-13",
        "",
    ] {
        assert_eq!(parse_date(bad), None, "{bad}");
    }
    let mut out = Vec::new();
    write_date(&mut out, 2_932_897);
    assert_eq!(out, b"+10000-01-01");
}

fn schema() -> Vec<Field> {
    vec![
        field("id", DataType::Int, false),
        field("day", DataType::Date, true),
        field("dep", DataType::Timestamp, false),
        field("secs", DataType::Timestamp, true),
        field("eu", DataType::Date, true),
    ]
}

fn formats() -> Vec<Option<TimeFormat>> {
    vec![
        None,
        None,
        pattern("%Y-%m-%d %H:%M:%S"),
        Some(TimeFormat::EpochS),
        pattern("%d/%m/%Y"),
    ]
}

#[test]
fn csv_dates_and_formatted_timestamps() {
    let dir = temp_dir("csv_dates");
    let text = "id,day,dep,secs,eu\n\
        1,1996-03-13,2013-01-01 05:00:00,1357016400,13/03/1996\n\
        2,,2013-01-01 05:00:00,,\n\
        3,1969-12-31,1969-12-31 23:59:59,-1,31/12/1969\n\
        4,2001-02-29,2013-01-01 05:00:00,0,01/01/1970\n\
        5,1996-03-13,2013-01-01T05:00:00Z,0,01/01/1970\n\
        6,1996-03-13,2013-01-01 05:00:00,1.5,01/01/1970\n\
        7,1996-03-13,2013-01-01 05:00:00,0,1970-01-01\n";
    let path = write_file(&dir, "d.csv", text.as_bytes());
    let mut node = file_source(&path, Format::Csv, schema());
    node.formats = formats();
    let out = read_all(&node, 1, 1 << 20, 8);
    assert_eq!(
        out.sorted_rows(),
        [
            "1|d9568|@1357016400000|@1357016400000|d9568",
            "2|null|@1357016400000|null|null",
            "3|d-1|@-1000|@-1000|d-1",
        ]
    );
    let reasons: Vec<&str> = out.dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "invalid date `2001-02-29` in column `day`",
            "invalid timestamp `2013-01-01T05:00:00Z` in column `dep`",
            "invalid timestamp `1.5` in column `secs`",
            "invalid date `1970-01-01` in column `eu`",
        ]
    );
}

#[test]
fn jsonl_dates_and_epoch_formats() {
    let dir = temp_dir("jsonl_dates");
    let text = r#"{"id":1,"day":"1996-03-13","dep":"2013-01-01 05:00:00","secs":1357016400,"eu":"13/03/1996"}
{"id":2,"day":null,"dep":"2013-01-01 05:00:00","secs":"-1"}
{"id":3,"day":9568,"dep":"2013-01-01 05:00:00"}
{"id":4,"day":"1996-03-13","dep":1357016400000}
{"id":5,"day":"1996-03-13","dep":"2013-01-01 05:00:00","secs":"x"}
"#;
    let path = write_file(&dir, "d.jsonl", text.as_bytes());
    let mut node = file_source(&path, Format::Jsonl, schema());
    node.formats = formats();
    let out = read_all(&node, 1, 1 << 20, 8);
    assert_eq!(
        out.sorted_rows(),
        [
            "1|d9568|@1357016400000|@1357016400000|d9568",
            "2|null|@1357016400000|@-1000|null",
        ]
    );
    let reasons: Vec<&str> = out.dead.iter().map(|d| d.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "invalid date `9568` in column `day`",
            "invalid timestamp `1357016400000` in column `dep`",
            "invalid timestamp `\"x\"` in column `secs`",
        ]
    );
}

#[test]
fn epoch_formats_on_dates_take_the_utc_day() {
    let dir = temp_dir("epoch_dates");
    let path = write_file(
        &dir,
        "e.jsonl",
        b"{\"d\":-1}\n{\"d\":86400000}\n{\"d\":\"86399999\"}\n",
    );
    let mut node = file_source(
        &path,
        Format::Jsonl,
        vec![field("d", DataType::Date, false)],
    );
    node.formats = vec![Some(TimeFormat::EpochMs)];
    assert_eq!(
        read_all(&node, 1, 1 << 20, 8).sorted_rows(),
        ["d-1", "d0", "d1"]
    );
}

#[test]
fn encoders_write_dates_as_iso_days() {
    let schema = Schema::new(vec![field("d", DataType::Date, true)]);
    let column: ArrayRef = Arc::new(Date32Array::from(vec![Some(9568), None, Some(-1)]));
    let batch = RecordBatch::try_new(arrow_schema(&schema), vec![column]).unwrap();
    let mut csv = Vec::new();
    Encoder::new(Format::Csv, &schema)
        .encode(&batch, &mut csv)
        .unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "1996-03-13\n\n1969-12-31\n"
    );
    let mut json = Vec::new();
    Encoder::new(Format::Jsonl, &schema)
        .encode(&batch, &mut json)
        .unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        "{\"d\":\"1996-03-13\"}\n{\"d\":null}\n{\"d\":\"1969-12-31\"}\n"
    );
}
