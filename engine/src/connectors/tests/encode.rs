use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, DurationMillisecondArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray,
};
use sluice_dsl::ast::Span;
use sluice_dsl::plan::{ConnectorSpec, DataType, Format, InputRef, Schema, SinkMode, SinkNode};

use super::*;
use crate::arrow_schema_map::arrow_schema;
use crate::connectors::{Encoder, SinkTarget};

fn schema() -> Schema {
    Schema::new(vec![
        field("id", DataType::Int, false),
        field("x", DataType::Float, true),
        field("s", DataType::String, true),
        field("ok", DataType::Bool, true),
        field("at", DataType::Timestamp, true),
        field("d", DataType::Duration, true),
    ])
}

fn batch() -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![
            1,
            -9_223_372_036_854_775_808,
            3,
            4,
            5,
        ])),
        Arc::new(Float64Array::from(vec![
            Some(0.1),
            Some(1.0),
            Some(f64::NAN),
            Some(1e21),
            None,
        ])),
        Arc::new(StringArray::from(vec![
            Some("plain"),
            Some("a,b \"q\""),
            Some("line\r\nbreak\t\u{1}é😀\\"),
            Some(""),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
            None,
        ])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_357_016_400_000),
            Some(1_357_016_400_123),
            Some(-1),
            Some(0),
            None,
        ])),
        Arc::new(DurationMillisecondArray::from(vec![
            Some(250),
            Some(-3),
            None,
            Some(0),
            None,
        ])),
    ];
    RecordBatch::try_new(arrow_schema(&schema()), columns).unwrap()
}

#[test]
fn csv_encoding_quotes_and_formats_values() {
    let enc = Encoder::new(Format::Csv, &schema());
    assert_eq!(enc.csv_header(), b"id,x,s,ok,at,d\n");
    let mut out = Vec::new();
    enc.encode(&batch(), &mut out).unwrap();
    let expected = "1,0.1,plain,true,2013-01-01T05:00:00Z,250\n\
        -9223372036854775808,1.0,\"a,b \"\"q\"\"\",false,2013-01-01T05:00:00.123Z,-3\n\
        3,,\"line\r\nbreak\t\u{1}é😀\\\",,1969-12-31T23:59:59.999Z,\n\
        4,1e21,\"\",true,1970-01-01T00:00:00Z,0\n\
        5,,,,,\n";
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn jsonl_encoding_escapes_and_formats_values() {
    let enc = Encoder::new(Format::Jsonl, &schema());
    let mut out = Vec::new();
    enc.encode(&batch(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let expected = [
        r#"{"id":1,"x":0.1,"s":"plain","ok":true,"at":"2013-01-01T05:00:00Z","d":250}"#,
        r#"{"id":-9223372036854775808,"x":1.0,"s":"a,b \"q\"","ok":false,"at":"2013-01-01T05:00:00.123Z","d":-3}"#,
        "{\"id\":3,\"x\":null,\"s\":\"line\\r\\nbreak\\t\\u0001é😀\\\\\",\"ok\":null,\"at\":\"1969-12-31T23:59:59.999Z\",\"d\":null}",
        r#"{"id":4,"x":1e21,"s":"","ok":true,"at":"1970-01-01T00:00:00Z","d":0}"#,
        r#"{"id":5,"x":null,"s":null,"ok":null,"at":null,"d":null}"#,
    ];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, expected);
    // Every line is valid JSON that serde_json reads back to the same strings.
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.is_object());
    }
    let v: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(v["s"], "line\r\nbreak\t\u{1}é😀\\");
}

#[test]
fn encoder_casts_compatible_arrays_and_rejects_wrong_width() {
    let schema = Schema::new(vec![field("n", DataType::Int, false)]);
    let enc = Encoder::new(Format::Csv, &schema);
    let b = RecordBatch::try_from_iter([("n", Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef)])
        .unwrap();
    let mut out = Vec::new();
    enc.encode(&b, &mut out).unwrap();
    assert_eq!(out, b"7\n8\n");
    let two = RecordBatch::try_from_iter([
        ("n", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("m", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
    ])
    .unwrap();
    assert!(enc.encode(&two, &mut out).is_err());
}

fn sink_node(path: &str, format: Format, overwrite: bool) -> SinkNode {
    SinkNode {
        name: "out".into(),
        connector: ConnectorSpec::File { path: path.into() },
        format,
        input: InputRef::Stream(0),
        schema: Schema::new(vec![
            field("id", DataType::Int, false),
            field("s", DataType::String, true),
        ]),
        mode: SinkMode::Append,
        overwrite,
        kafka: Default::default(),
        span: Span::default(),
    }
}

fn small_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let node = sink_node("x", Format::Csv, true);
    let strings: Vec<String> = ids.clone().map(|i| format!("s{i}")).collect();
    RecordBatch::try_new(
        arrow_schema(&node.schema),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from_iter_values(strings)),
        ],
    )
    .unwrap()
}

#[test]
fn csv_sink_writes_the_header_once_across_writers() {
    let dir = temp_dir("sink_header");
    let path = dir.join("nested/deeper/out.csv").display().to_string();
    let target = SinkTarget::open(&sink_node(&path, Format::Csv, true)).unwrap();
    let mut writers: Vec<_> = (0..3).map(|_| target.writer().unwrap()).collect();
    for (w, writer) in writers.iter_mut().enumerate() {
        let base = w as i64 * 100;
        writer.write_batch(&small_batch(base..base + 3)).unwrap();
        writer
            .write_batch(&small_batch(base + 3..base + 5))
            .unwrap();
    }
    for writer in &mut writers {
        writer.flush().unwrap();
    }
    target.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,s");
    assert_eq!(lines.iter().filter(|l| **l == "id,s").count(), 1);
    let mut rows: Vec<&str> = lines[1..].to_vec();
    rows.sort();
    let mut expected: Vec<String> = [0, 100, 200]
        .iter()
        .flat_map(|b| (*b..*b + 5).map(|i| format!("{i},s{i}")))
        .collect();
    expected.sort();
    assert_eq!(rows, expected);
    assert_eq!(target.rows(), 15);
    assert_eq!(target.bytes(), text.len() as u64);

    // Appending to the non-empty file: no second header.
    let again = SinkTarget::open(&sink_node(&path, Format::Csv, false)).unwrap();
    let mut w = again.writer().unwrap();
    w.write_batch(&small_batch(7..8)).unwrap();
    drop(w); // a dropped writer still hands its rows over
    again.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("204,s204\n7,s7\n") || text.ends_with("\n7,s7\n"));
    assert_eq!(text.matches("id,s").count(), 1);
    assert_eq!(again.rows(), 1);

    // Overwriting: the header again, first; an empty result still gets it.
    let fresh = SinkTarget::open(&sink_node(&path, Format::Csv, true)).unwrap();
    fresh.finish().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "id,s\n");
}

#[test]
fn jsonl_sink_appends_to_an_empty_file_without_header() {
    let dir = temp_dir("sink_jsonl");
    let path = dir.join("out.jsonl").display().to_string();
    let target = SinkTarget::open(&sink_node(&path, Format::Jsonl, false)).unwrap();
    let mut w = target.writer().unwrap();
    w.write_batch(&small_batch(1..3)).unwrap();
    w.flush().unwrap();
    target.finish().unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"id\":1,\"s\":\"s1\"}\n{\"id\":2,\"s\":\"s2\"}\n"
    );
}

#[test]
fn a_writer_hands_over_large_buffers_before_flush() {
    let dir = temp_dir("sink_large");
    let path = dir.join("big.csv").display().to_string();
    let target = SinkTarget::open(&sink_node(&path, Format::Csv, true)).unwrap();
    let mut w = target.writer().unwrap();
    for k in 0..30 {
        w.write_batch(&small_batch(k * 10_000..(k + 1) * 10_000))
            .unwrap();
    }
    assert!(target.rows() > 0, "handed over before flush");
    w.flush().unwrap();
    target.finish().unwrap();
    assert_eq!(target.rows(), 300_000);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 300_001);
}

#[test]
fn csv_sink_output_reads_back_through_the_csv_source() {
    let dir = temp_dir("sink_roundtrip");
    let path = dir.join("rt.csv").display().to_string();
    let mut node = sink_node(&path, Format::Csv, true);
    node.schema = schema();
    let target = SinkTarget::open(&node).unwrap();
    let mut w = target.writer().unwrap();
    w.write_batch(&batch()).unwrap();
    w.flush().unwrap();
    target.finish().unwrap();
    let mut source = file_source(&path, Format::Csv, schema().fields);
    source.quoted_newlines = true; // one string holds a CRLF
    let out = read_all(&source, 2, 32, 8);
    let mut expected = rows_text(&batch());
    expected[2] = expected[2].replace("NaN", "null"); // NaN is written as null
    expected.sort();
    assert_eq!(out.sorted_rows(), expected);
    assert!(out.dead.is_empty(), "{:?}", out.dead);
}
