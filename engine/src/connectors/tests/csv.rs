use std::io::Cursor;

use sluice_dsl::plan::{DataType, Format};

use super::*;
use crate::connectors::ConnectorError;
use crate::connectors::stdio::open_stream;

fn flights_schema() -> Vec<Field> {
    vec![
        field("year", DataType::Int, false),
        field("carrier", DataType::String, false),
        field("distance", DataType::Float, false),
        field("dep_delay", DataType::Float, true),
        field("event_time", DataType::Timestamp, false),
        field("note", DataType::String, true),
    ]
}

/// Lines of a dirty CSV (CRLF ends), each good or with the dead letter it must produce.
const DIRTY: &[&[u8]] = &[
    b"year,carrier,distance,dep_delay,event_time,note",
    b"2013,AA,1000.5,3,2013-01-01T05:00:00Z,plain",
    b"2013,\"B,B\",200,,1357016400000,\"say \"\"hi\"\"\"",
    b"2013,\"CC,300,1,2013-01-01T05:00:00Z,x",
    b"2014,DD,400,2,2013-01-01T06:00:00.250Z,",
    b"2013,EE,500,1",
    b"2013,FF,600,1,2013-01-01T05:00:00Z,x,extra",
    b"2013,G\xffG,700,1,2013-01-01T05:00:00Z,x",
    b"12x,HH,800,1,2013-01-01T05:00:00Z,x",
    b"1180591620717411303424,II,900,1,2013-01-01T05:00:00Z,x",
    b"",
    b"2013,JJ,,1,2013-01-01T05:00:00Z,x",
    b"2013,KK,100,1,2013-13-01T05:00:00Z,x",
    b"2013,LL,abc,1,2013-01-01T05:00:00Z,x",
    b"2013,\"\",5,-1e2,2013-01-01T00:00:00+01:00,\"\"",
    b"2015,MM,1,-2.5,2013-01-01T05:00:00Z,last",
];

fn dirty_file(dir: &std::path::Path) -> (String, Vec<u8>) {
    let mut bytes = DIRTY.join(&b"\r\n"[..]);
    bytes.extend_from_slice(b"\r\n\r\n"); // an empty line at the end too (line 17)
    bytes.extend_from_slice(b"2016,NN,2,,0,\"multi\r\n"); // line 18: broken quote
    bytes.extend_from_slice(b"2017,OO,3,,1,tail"); // line 19, no terminator
    (write_file(dir, "dirty.csv", &bytes), bytes)
}

fn expected_dirty_rows() -> Vec<String> {
    let mut rows: Vec<String> = [
        "2013|\"AA\"|1000.5|3.0|@1357016400000|\"plain\"",
        "2013|\"B,B\"|200.0|null|@1357016400000|\"say \\\"hi\\\"\"",
        "2014|\"DD\"|400.0|2.0|@1357020000250|null",
        "2013|\"\"|5.0|-100.0|@1356994800000|\"\"",
        "2015|\"MM\"|1.0|-2.5|@1357016400000|\"last\"",
        "2017|\"OO\"|3.0|null|@1|\"tail\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    rows.sort();
    rows
}

fn expected_dirty_dead(path: &str) -> Vec<Dead> {
    let at = |line: usize| format!("{path}:{line}");
    vec![
        dead(&at(4), "unterminated quote", DIRTY[3]),
        dead(&at(6), "expected 6 fields, found 4", DIRTY[5]),
        dead(&at(7), "expected 6 fields, found 7", DIRTY[6]),
        dead(&at(8), "invalid utf-8", DIRTY[7]),
        dead(&at(9), "invalid int `12x` in column `year`", DIRTY[8]),
        dead(
            &at(10),
            "int out of range `1180591620717411303424` in column `year`",
            DIRTY[9],
        ),
        dead(
            &at(12),
            "empty value for non-nullable column `distance`",
            DIRTY[11],
        ),
        dead(
            &at(13),
            "invalid timestamp `2013-13-01T05:00:00Z` in column `event_time`",
            DIRTY[12],
        ),
        dead(
            &at(14),
            "invalid float `abc` in column `distance`",
            DIRTY[13],
        ),
        dead(&at(18), "unterminated quote", b"2016,NN,2,,0,\"multi"),
    ]
}

#[test]
fn dirty_csv_rows_and_dead_letters() {
    let dir = temp_dir("dirty_csv");
    let (path, bytes) = dirty_file(&dir);
    let node = file_source(&path, Format::Csv, flights_schema());
    let out = read_all(&node, 1, 1 << 20, 1024);
    assert_eq!(out.sorted_rows(), expected_dirty_rows());
    assert_eq!(out.dead, expected_dirty_dead(&path));
    assert_eq!(out.records, 6);
    assert_eq!(out.empty_lines, 2);
    assert_eq!(out.bytes, bytes.len() as u64);
}

#[test]
fn dirty_csv_same_for_any_worker_count_and_chunk_size() {
    let dir = temp_dir("dirty_csv_workers");
    let (path, bytes) = dirty_file(&dir);
    let node = file_source(&path, Format::Csv, flights_schema());
    for workers in 1..=4 {
        for chunk in [16, 29, 64, 1 << 20] {
            for batch in [1, 2, 1024] {
                let out = read_all(&node, workers, chunk, batch);
                let ctx = format!("workers={workers} chunk={chunk} batch={batch}");
                assert_eq!(out.sorted_rows(), expected_dirty_rows(), "{ctx}");
                assert_eq!(out.dead, expected_dirty_dead(&path), "{ctx}");
                assert_eq!(out.empty_lines, 2, "{ctx}");
                // Every byte is consumed by exactly one worker (the header by its owner).
                assert_eq!(out.bytes, bytes.len() as u64, "{ctx}");
            }
        }
    }
}

#[test]
fn header_maps_by_name_ignoring_extra_and_reordered_columns() {
    let dir = temp_dir("csv_header_map");
    let path = write_file(
        &dir,
        "reordered.csv",
        b"\xEF\xBB\xBFextra1,note,\"year\",unused,carrier\n\"x,y\",n1,2013,zz,AA\nq,,2014,,BB\n",
    );
    let node = file_source(
        &path,
        Format::Csv,
        vec![
            field("carrier", DataType::String, false),
            field("year", DataType::Int, false),
            field("note", DataType::String, true),
        ],
    );
    let out = read_all(&node, 1, 1024, 16);
    assert_eq!(out.rows, vec!["\"AA\"|2013|\"n1\"", "\"BB\"|2014|null"]);
    assert!(out.dead.is_empty());
    assert_eq!(out.batches[0].schema().field(0).name(), "carrier");
}

#[test]
fn schema_column_missing_from_header_is_a_configuration_error() {
    let dir = temp_dir("csv_header_missing");
    let path = write_file(&dir, "h.csv", b"a,b,c\n1,2,3\n");
    let node = file_source(
        &path,
        Format::Csv,
        vec![
            field("a", DataType::Int, false),
            field("d", DataType::Int, false),
        ],
    );
    let h = Harness::new();
    for w in 0..2 {
        let err = open_source_with(&node, h.ctx(w, 2, 8), ReadOptions::default())
            .err()
            .expect("a missing column fails at open");
        let ConnectorError::Other(msg) = err else {
            panic!("unexpected error {err:?}")
        };
        assert!(msg.contains("column `d`"), "{msg}");
        assert!(msg.contains("header columns: a, b, c"), "{msg}");
    }
}

#[test]
fn headerless_maps_by_position() {
    let dir = temp_dir("csv_headerless");
    let path = write_file(&dir, "nh.csv", b"1,one,true,250\n2,two,FALSE,1h\n3,three\n");
    let mut node = file_source(
        &path,
        Format::Csv,
        vec![
            field("id", DataType::Int, false),
            field("name", DataType::String, false),
            field("flag", DataType::Bool, false),
            field("wait", DataType::Duration, false),
        ],
    );
    node.header = false;
    let out = read_all(&node, 1, 1024, 16);
    assert_eq!(
        out.rows,
        vec!["1|\"one\"|true|250ms", "2|\"two\"|false|3600000ms"]
    );
    assert_eq!(
        out.dead,
        vec![dead(
            &format!("{path}:3"),
            "expected 4 fields, found 2",
            b"3,three"
        )]
    );
}

#[test]
fn missing_file_is_an_open_error() {
    let node = file_source("/nonexistent/sluice/x.csv", Format::Csv, flights_schema());
    let h = Harness::new();
    let err = open_source_with(&node, h.ctx(0, 1, 8), ReadOptions::default()).err();
    assert!(matches!(err, Some(ConnectorError::Open { .. })), "{err:?}");
}

#[test]
fn empty_file_has_no_rows() {
    let dir = temp_dir("csv_empty");
    let path = write_file(&dir, "e.csv", b"");
    let node = file_source(&path, Format::Csv, flights_schema());
    let out = read_all(&node, 3, 1024, 16);
    assert!(out.rows.is_empty() && out.dead.is_empty());
}

#[test]
fn quoted_newlines_joins_lines_on_worker_zero() {
    let dir = temp_dir("csv_multiline");
    let text: &[u8] =
        b"id,text\r\n1,\"line one\r\nline two\"\r\n\r\n2,plain\r\n3,\"a \"\"q\"\"\n\nb\"\r\n4,\"open\r\n5,x\r\n";
    let path = write_file(&dir, "m.csv", text);
    let mut node = file_source(
        &path,
        Format::Csv,
        vec![
            field("id", DataType::Int, false),
            field("text", DataType::String, true),
        ],
    );
    node.quoted_newlines = true;
    for workers in 1..=3 {
        let out = read_all(&node, workers, 8, 2);
        assert_eq!(
            out.rows,
            vec![
                "1|\"line one\\r\\nline two\"",
                "2|\"plain\"",
                "3|\"a \\\"q\\\"\\n\\nb\"",
            ]
        );
        // A broken quote swallows the rest of the file in this mode; it is one dead letter.
        assert_eq!(
            out.dead,
            vec![dead(
                &format!("{path}:9"),
                "unterminated quote",
                b"4,\"open\r\n5,x"
            )]
        );
        assert_eq!(out.empty_lines, 1);
    }
    // Without the setting, each line is its own record.
    node.quoted_newlines = false;
    let out = read_all(&node, 2, 8, 2);
    assert_eq!(out.dead_lines(), vec![2, 3, 6, 8, 9]);
}

#[test]
fn stdin_like_stream_reads_on_one_worker() {
    let node = source(
        sluice_dsl::plan::ConnectorSpec::Stdin,
        Some(Format::Csv),
        vec![
            field("a", DataType::Int, false),
            field("b", DataType::Float, true),
        ],
    );
    let h = Harness::new();
    let input = Cursor::new(b"b,a\n1.5,1\nx,2\n,3".to_vec());
    let reader = open_stream(
        &node,
        h.ctx(0, 1, 2),
        ReadOptions { chunk_size: 4 },
        input,
        "stdin",
    )
    .unwrap();
    let out = h.drain(vec![reader], 2);
    assert_eq!(out.rows, vec!["1|1.5", "3|null"]);
    assert_eq!(
        out.dead,
        vec![dead("stdin:3", "invalid float `x` in column `b`", b"x,2")]
    );
}

#[test]
fn quoted_splitting_edge_cases() {
    use crate::connectors::file::csv_reader::split_quoted;
    let mut fields = Vec::new();
    let mut scratch = String::new();
    let mut split = |text: &str| -> Result<Vec<(String, bool)>, String> {
        split_quoted(text, &mut fields, &mut scratch)?;
        Ok(fields
            .iter()
            .map(|f| (scratch[f.start..f.end].to_string(), f.quoted))
            .collect())
    };
    let s = |v: &str, q: bool| (v.to_string(), q);
    assert_eq!(
        split("a\"b,\"c\"\"d\",,\"\"").unwrap(),
        vec![s("a\"b", false), s("c\"d", true), s("", false), s("", true)]
    );
    assert_eq!(
        split("\"x\"y,z").unwrap(),
        vec![s("xy", true), s("z", false)]
    );
    assert_eq!(split("a,").unwrap(), vec![s("a", false), s("", false)]);
    assert_eq!(
        split("\"é,\",ü").unwrap(),
        vec![s("é,", true), s("ü", false)]
    );
    assert_eq!(split("a,\"b").unwrap_err(), "unterminated quote");
    assert_eq!(split("\"a\"\"").unwrap_err(), "unterminated quote");
}

#[test]
fn byte_order_mark_is_ignored_without_header() {
    let dir = temp_dir("csv_bom");
    let path = write_file(&dir, "bom.csv", b"\xEF\xBB\xBF1,x\n2,y\n");
    let mut node = file_source(
        &path,
        Format::Csv,
        vec![
            field("a", DataType::Int, false),
            field("b", DataType::String, false),
        ],
    );
    node.header = false;
    assert_eq!(
        read_all(&node, 2, 4, 8).sorted_rows(),
        vec!["1|\"x\"", "2|\"y\""]
    );
}

#[test]
fn stdin_is_read_by_worker_zero_only() {
    let node = source(
        sluice_dsl::plan::ConnectorSpec::Stdin,
        Some(Format::Jsonl),
        vec![field("a", DataType::Int, false)],
    );
    let h = Harness::new();
    let mut reader = open_source_with(&node, h.ctx(1, 2, 8), ReadOptions::default()).unwrap();
    assert!(reader.next_batch().unwrap().is_none());
}

#[test]
fn explicit_dead_letter_file_is_created_and_truncated() {
    let dir = temp_dir("dead_letter_file");
    let target = dir.join("bad/nested/dl.jsonl");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, b"old contents\n").unwrap();
    let mut node = file_source("unused.csv", Format::Csv, flights_schema());
    node.dead_letter = Some((
        sluice_dsl::plan::ConnectorSpec::File {
            path: target.display().to_string(),
        },
        Format::Jsonl,
    ));
    let sink = crate::connectors::open_dead_letters("p", &node, 0).unwrap();
    sink.send("why", "f.csv:3", b"a,\xffb").unwrap();
    sink.flush().unwrap();
    let text = std::fs::read_to_string(&target).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert_eq!(v["source"], "src");
    assert_eq!(v["reason"], "why");
    assert_eq!(v["position"], "f.csv:3");
    assert_eq!(v["raw_base64"], "YSz/Yg==");
    node.dead_letter = Some((sluice_dsl::plan::ConnectorSpec::Stdout, Format::Csv));
    assert!(matches!(
        crate::connectors::open_dead_letters("p", &node, 0),
        Err(ConnectorError::Unsupported(_))
    ));
}
